//! Scheduled triggers (`[schedule]` in `app.toml`): porch delivers each as
//! `POST <path>` with a `porch-trigger: <name>` header (porch strips every
//! `porch-*` header from outside requests, so no visitor can pose as the
//! scheduler) and no caller, under the same limits as any request of the
//! app. A trigger never runs twice at once; a run missed while porch was
//! down runs once when it starts; a trigger that starts failing is audited
//! once, not at every run.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;

use super::manifest::{Manifest, Trigger};
use super::registry::Apps;
use crate::common::clock::now;
use crate::common::names::app_origin;
use crate::store::audit::{Action, Actor, record};

/// The person id scheduled runs count as for an app's per-person slots.
const SCHEDULER: i64 = 0;

type Key = (String, String);

/// An app's manifest text and the triggers read from it.
type Parsed = (String, Arc<[Trigger]>);

/// The triggers of every installed app, checked each second.
pub struct Scheduler {
    apps: Arc<Apps>,
    base_url: String,
    /// When each trigger last ran (as the store has it, read once).
    last: Mutex<HashMap<Key, i64>>,
    running: Mutex<HashSet<Key>>,
    failing: Mutex<HashSet<Key>>,
    /// Each app's triggers, parsed once per manifest text (the check runs
    /// every second; parsing cron patterns every time was wasted work).
    parsed: Mutex<HashMap<String, Parsed>>,
}

impl Scheduler {
    pub fn new(apps: Arc<Apps>, base_url: String) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            apps,
            base_url,
            last: Mutex::default(),
            running: Mutex::default(),
            failing: Mutex::default(),
            parsed: Mutex::default(),
        })
    }

    /// Runs until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            self.check().await;
        }
    }

    /// Starts every trigger that is due now.
    pub async fn check(self: &Arc<Self>) {
        let store = self.apps.store();
        let Ok(rows) = store.apps().await else { return };
        let now = now();
        let mut parsed = std::mem::take(&mut *self.parsed.lock().unwrap_or_else(PoisonError::into_inner));
        parsed.retain(|id, _| rows.iter().any(|r| r.id == *id));
        for row in &rows {
            let cached = parsed.get(&row.id).filter(|(text, _)| *text == row.manifest).map(|(_, t)| t.clone());
            let triggers = match cached {
                Some(triggers) => triggers,
                None => {
                    let triggers: Arc<[Trigger]> =
                        Manifest::parse(&row.manifest).map(|m| m.schedule).unwrap_or_default().into();
                    parsed.insert(row.id.clone(), (row.manifest.clone(), triggers.clone()));
                    triggers
                }
            };
            for trigger in triggers.iter().cloned() {
                let key = (row.id.clone(), trigger.name.clone());
                if self.running.lock().unwrap_or_else(PoisonError::into_inner).contains(&key) {
                    continue;
                }
                let known = self.last.lock().unwrap_or_else(PoisonError::into_inner).get(&key).copied();
                let last = match known {
                    Some(at) => at,
                    None => match store.trigger_last_run(&row.id, &trigger.name).await {
                        Ok(Some(at)) => at,
                        // A new trigger counts from now: it first runs at
                        // its next time, not at once.
                        Ok(None) => {
                            let _ = store.set_trigger_run(&row.id, &trigger.name, now).await;
                            now
                        }
                        Err(_) => continue,
                    },
                };
                self.last.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone(), last);
                if !due(&trigger, last, now) {
                    continue;
                }
                // Recorded before it runs: a crash mid-run does not run it
                // again at start (it would be a second run, not a missed one).
                if store.set_trigger_run(&row.id, &trigger.name, now).await.is_err() {
                    continue;
                }
                self.last.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone(), now);
                self.running.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone());
                let me = self.clone();
                tokio::spawn(async move {
                    me.deliver(&key.0, &trigger).await;
                    me.running.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
                });
            }
        }
        *self.parsed.lock().unwrap_or_else(PoisonError::into_inner) = parsed;
    }

    async fn deliver(&self, app_id: &str, trigger: &Trigger) {
        let Ok(Some(app)) = self.apps.resolve(app_id).await else { return };
        let origin = app_origin(&self.base_url, app_id);
        let host = url::Url::parse(&origin).ok().and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
        });
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{origin}{}", trigger.path))
            .header("host", host.unwrap_or_default())
            .header("porch-trigger", &trigger.name)
            .header("content-length", "0")
            .body(Body::empty());
        let Ok(request) = request else { return };
        let https = self.base_url.starts_with("https:");
        let (served, failed_probation) = app.serve(request, https, SCHEDULER).await;
        if failed_probation {
            self.apps.roll_back_failed(app_id, &app.sha256).await;
        }
        let outcome = match served {
            Ok(response) => {
                let status = response.status();
                // Let the app finish what it streams; the bytes go nowhere.
                let mut body = response.into_body();
                let mut cut = false;
                while let Some(frame) = body.frame().await {
                    if frame.is_err() {
                        cut = true;
                        break;
                    }
                }
                if status.is_server_error() || cut {
                    Err(format!("it answered {status}{}", if cut { " and failed while sending" } else { "" }))
                } else {
                    Ok(status)
                }
            }
            Err(failure) => Err(failure.message()),
        };
        let key = (app_id.to_owned(), trigger.name.clone());
        match outcome {
            Ok(status) => {
                tracing::debug!(app = %app_id, trigger = %trigger.name, %status, "scheduled trigger ran");
                self.failing.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
            }
            Err(why) => {
                tracing::warn!(app = %app_id, trigger = %trigger.name, %why, "scheduled trigger failed");
                let first = self.failing.lock().unwrap_or_else(PoisonError::into_inner).insert(key);
                if first {
                    let detail = format!("the \"{}\" job ({}) failed: {why}", trigger.name, trigger.at);
                    record(self.apps.store(), Actor::System, Action::AppTriggerFailed, app_id, &detail).await;
                }
            }
        }
    }
}

/// Whether `trigger` has a time after `last` that is not after `now`.
fn due(trigger: &Trigger, last: i64, now: i64) -> bool {
    let Some(after) = chrono::DateTime::from_timestamp(last, 0) else { return false };
    trigger.cron.find_next_occurrence(&after, false).is_ok_and(|next| next.timestamp() <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(at: &str) -> Trigger {
        let text = format!(
            "id = \"x\"\nname = \"X\"\nversion = \"1.0.0\"\nroles = [\"r\"]\n[schedule]\nt = {{ at = \"{at}\", path = \"/t\" }}\n"
        );
        Manifest::parse(&text).expect("manifest").schedule.remove(0)
    }

    #[test]
    fn a_trigger_is_due_once_its_next_time_has_passed() {
        let daily = trigger("0 3 * * *");
        let day = 86_400;
        let three = 3 * 3600;
        // Last ran at 03:00 on day 10: not due again until 03:00 on day 11.
        assert!(!due(&daily, 10 * day + three, 10 * day + three + 60));
        assert!(!due(&daily, 10 * day + three, 11 * day + three - 1));
        assert!(due(&daily, 10 * day + three, 11 * day + three));
        // Down for three days: due (once; the caller records the run now).
        assert!(due(&daily, 10 * day + three, 14 * day));
        let hourly = trigger("@hourly");
        assert!(due(&hourly, 0, 3600) && !due(&hourly, 0, 3599));
        let seconds = trigger("*/2 * * * * *");
        assert!(due(&seconds, 10, 12) && !due(&seconds, 10, 11));
    }
}
