//! Email digests of what's new: several times per quiet period (at least
//! every 30 s), the people who are due
//! one (they set an address and did not choose "never", are not disabled,
//! had no digest within their period, and their news has been quiet for
//! `activity.quiet_for`) each get one email listing it, with links, never
//! one email per photo. Access is checked when the email is made: news from
//! an app they lost, about a thing they lost or muted, or already seen is
//! not in it. A send that fails is tried again later (after a minute, or
//! `activity.quiet_for` if shorter, doubling, at most an hour apart) and
//! nothing is marked sent until it went.

use std::time::Duration;

use minijinja::context;

use super::Gate;
use super::mail::{Email, Mailer};
use super::routes::activity::ago;
use super::secret::Secret;
use crate::common::clock::now;
use crate::store::DigestClock;

/// porch looks for digests that are due four times per `quiet_for`, but
/// no more often than every second and no less often than every 30 s.
fn look_every(quiet_for: Duration) -> Duration {
    (quiet_for / 4).clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// The most lines one digest lists (the rest: "and N more" on the start page).
pub const DIGEST_LINES: u32 = 50;

/// How long a weekly digest waits.
const WEEK: i64 = 7 * 86_400;

/// The longest wait between tries of a failing send.
const MAX_BACKOFF: i64 = 3600;

/// Unsubscribe links keep working this long after their email went.
pub const UNSUBSCRIBE_KEEP: i64 = 365 * 86_400;

/// Sends digests while porch runs (only when `[mail]` is set).
pub async fn run(gate: Gate, mailer: Mailer) {
    let mut every = tokio::time::interval(look_every(gate.settings.activity.quiet_for));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = send_due(&gate, &mailer).await {
            tracing::warn!(error = %e, "could not look for digests to send");
        }
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Sends every digest that is due now; how many went.
pub async fn send_due(gate: &Gate, mailer: &Mailer) -> Result<usize, super::GateError> {
    let at = now();
    let activity = &gate.settings.activity;
    let clock = DigestClock {
        now: at,
        quiet_since: at.saturating_sub(secs(activity.quiet_for)),
        digest_since: at.saturating_sub(secs(activity.digest_every)),
        weekly_since: at.saturating_sub(WEEK.max(secs(activity.digest_every))),
    };
    let mut sent = 0;
    for prefs in gate.store.digests_due(clock).await? {
        let lines = gate.store.digest_lines(prefs.person_id, DIGEST_LINES + 1).await?;
        if lines.is_empty() {
            continue;
        }
        let more = lines.len() > DIGEST_LINES as usize;
        let lines = &lines[..lines.len().min(DIGEST_LINES as usize)];
        let token = Secret::generate();
        let unsubscribe = format!("{}/mail/unsubscribe/{}", gate.base_url, token.text());
        let items: Vec<_> = lines
            .iter()
            .map(|item| {
                context! {
                    who => item.actor.clone().unwrap_or_else(|| "Someone".into()),
                    line => item.line(),
                    app => item.app_name,
                    when => ago(at, item.updated_at),
                    url => format!("{}/activity/{}", gate.base_url, item.id),
                }
            })
            .collect();
        let ctx = context! {
            items,
            more,
            home => format!("{}/", gate.base_url),
            account => format!("{}/account#mail", gate.base_url),
            unsubscribe,
        };
        let text = gate.pages.render("mail_digest.txt", ctx.clone())?.0;
        let html = gate.pages.render("mail_digest.html", ctx)?.0;
        let subject = subject(lines, &gate.settings.domain);
        let email = Email { to: &prefs.address, subject: &subject, text, html, unsubscribe: Some(unsubscribe) };
        match mailer.send(email).await {
            Ok(()) => {
                let ids: Vec<i64> = lines.iter().map(|l| l.id).collect();
                gate.store.digest_sent(prefs.person_id, &ids, token.hash(), at).await?;
                sent += 1;
            }
            Err(e) => {
                let first = secs(activity.quiet_for).clamp(1, 60);
                let wait = (first << prefs.failures.clamp(0, 6)).min(MAX_BACKOFF);
                tracing::warn!(person = prefs.person_id, error = %e, retry_in_s = wait, "a digest was not sent; trying again later");
                gate.store.digest_failed(prefs.person_id, at + wait).await?;
            }
        }
    }
    Ok(sent)
}

/// "Ann added 12 photos to Beach day", or "5 new things on family.example".
fn subject(lines: &[crate::store::FeedItem], domain: &str) -> String {
    match lines {
        [one] => {
            let who = one.actor.as_deref().unwrap_or("Someone");
            let subject = format!("{who} {}", one.line());
            if subject.chars().count() > 120 { subject.chars().take(119).collect::<String>() + "…" } else { subject }
        }
        many => format!("{} new things on {domain}", many.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_looked_for_four_times_a_quiet_period_within_one_to_thirty_seconds() {
        assert_eq!(look_every(Duration::from_secs(30 * 60)), Duration::from_secs(30));
        assert_eq!(look_every(Duration::from_secs(60)), Duration::from_secs(15));
        assert_eq!(look_every(Duration::from_secs(4)), Duration::from_secs(1));
        assert_eq!(look_every(Duration::from_secs(1)), Duration::from_secs(1));
    }
}
