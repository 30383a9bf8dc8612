//! The audit log: an append-only list of security-relevant events that the
//! owner can read on the admin page or with `porch audit`. It lives in the
//! store, below every layer that audits: who did it ([`Actor`]), what
//! ([`Action`], the one list of every action there is), and [`record`].
//! A failed audit write is logged loudly but does not undo what was done.

use crate::common::limits::{MAX_AUDIT_DETAIL, MAX_AUDIT_IP, MAX_AUDIT_SUBJECT};
use serde::Serialize;
use sqlx::FromRow;

use super::{Result, Store};
use crate::common::clock::now;
use crate::common::net::network_of;

/// Who an audited action is attributed to.
#[derive(Debug, Clone)]
pub enum Actor {
    /// porch itself (start-up tasks, renewals, backups).
    System,
    /// Someone at the server's console, through the CLI.
    Console,
    /// A visitor who is not signed in.
    Anonymous { ip: Option<String> },
    /// A signed-in person.
    Person { id: i64, ip: Option<String> },
}

impl Actor {
    pub fn person_id(&self) -> Option<i64> {
        match self {
            Actor::Person { id, .. } => Some(*id),
            _ => None,
        }
    }

    fn ip(&self) -> Option<String> {
        match self {
            Actor::Anonymous { ip } | Actor::Person { ip, .. } => ip.clone(),
            _ => None,
        }
    }

    fn origin(&self) -> &'static str {
        match self {
            Actor::System => "porch",
            Actor::Console => "command line",
            _ => "",
        }
    }
}

/// Declares [`Action`]: each variant with the name the log, the admin page
/// and `porch audit` show. A new event is one line here.
macro_rules! actions {
    ($($variant:ident => $name:literal,)*) => {
        /// Everything the audit log can say happened.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The name stored and shown: `signin.failed`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    SigninOk => "signin.ok",
    SigninFailed => "signin.failed",
    SigninBlocked => "signin.blocked",
    SigninSlowed => "signin.slowed",
    SigninUnblocked => "signin.unblocked",
    Signout => "signout",
    SignoutEverywhere => "signout.everywhere",
    SessionEnded => "session.ended",
    PasswordChanged => "password.changed",
    PasswordChangeRefused => "password.change_refused",
    DeviceForgotten => "device.forgotten",
    MailSettingsChanged => "mail.settings_changed",
    MailTest => "mail.test",
    PasskeyAdded => "passkey.added",
    PasskeyRemoved => "passkey.removed",
    PasskeyRefused => "passkey.refused",
    InviteCreated => "invite.created",
    InviteUsed => "invite.used",
    InviteRefused => "invite.refused",
    InviteRevoked => "invite.revoked",
    RecoveryCreated => "recovery.created",
    RecoveryUsed => "recovery.used",
    RecoveryRefused => "recovery.refused",
    PairingCreated => "pairing.created",
    PairingApproved => "pairing.approved",
    PairingRefused => "pairing.refused",
    PairingUsed => "pairing.used",
    PersonChanged => "person.changed",
    PersonDisabled => "person.disabled",
    PersonEnabled => "person.enabled",
    GrantChanged => "grant.changed",
    GrantRevoked => "grant.revoked",
    CsrfRefused => "csrf.refused",
    AppInstalled => "app.installed",
    AppReplaced => "app.replaced",
    AppUpdated => "app.updated",
    AppRolledBack => "app.rolled_back",
    AppInstallRefused => "app.install_refused",
    AppTriggerFailed => "app.trigger_failed",
    AppRemoved => "app.removed",
    AppDenied => "app.denied",
    AppFailed => "app.failed",
    AppTicketRefused => "app.ticket_refused",
    TlsIssued => "tls.issued",
    TlsFailed => "tls.failed",
    TlsReloaded => "tls.reloaded",
    TlsRenewRequested => "tls.renew_requested",
    DnsAddress => "dns.address",
    BackupMade => "backup.made",
    BackupFailed => "backup.failed",
    BackupRequested => "backup.requested",
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Appends one event to the audit log. A failed write is logged, never
/// returned: the action itself already happened.
pub async fn record(store: &Store, actor: Actor, action: Action, subject: &str, detail: &str) {
    let origin = actor.origin();
    let detail = match (origin.is_empty(), detail.is_empty()) {
        (true, _) => detail.to_owned(),
        (false, true) => format!("by {origin}"),
        (false, false) => format!("{detail} (by {origin})"),
    };
    let event = NewAuditEvent {
        actor_id: actor.person_id(),
        action: action.as_str(),
        subject: subject.to_owned(),
        ip: actor.ip(),
        detail,
    };
    if let Err(e) = store.audit(event).await {
        tracing::error!(error = %e, action = action.as_str(), subject, "could not write to the audit log");
    }
}

/// Shortens the client address of every event older than `before` to its
/// network (`keep_ips`); returns how many changed.
pub async fn forget_addresses(store: &Store, before: i64) -> Result<usize> {
    let mut total = 0;
    loop {
        let batch = store.audit_full_addresses(before, 1000).await?;
        if batch.is_empty() {
            return Ok(total);
        }
        let changes: Vec<(i64, String)> = batch
            .into_iter()
            .map(|(id, ip)| {
                let short = ip.parse::<std::net::IpAddr>().map_or_else(|_| "-/0".to_owned(), network_of);
                (id, short)
            })
            .collect();
        store.set_audit_addresses(&changes).await?;
        total += changes.len();
    }
}

/// An event about to be written.
#[derive(Debug, Default)]
pub struct NewAuditEvent<'a> {
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub subject: String,
    pub ip: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub action: String,
    pub subject: String,
    pub ip: Option<String>,
    pub detail: String,
}

/// `text` with every control character written out as an escape (`\u{1b}`,
/// `\r`) and cut to `max` characters: what is stored can neither forge a line
/// nor drive a terminal (review finding L6), and has a known size (H1).
pub fn bounded_text(text: &str, max: usize) -> String {
    let escaped = escape_controls(text);
    if escaped.chars().count() <= max {
        return escaped.into_owned();
    }
    let mut out: String = escaped.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `text` with every control character written out as an escape: what the
/// `porch audit` command prints, so even rows written before the escaping
/// at [`Store::audit`] cannot drive the owner's terminal (L6).
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars().map(|c| if c.is_control() { c.escape_debug().collect() } else { c.to_string() }).collect()
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

impl Store {
    /// Appends an event, each text field bounded by [`bounded_text`].
    pub async fn audit(&self, event: NewAuditEvent<'_>) -> Result<()> {
        sqlx::query("INSERT INTO audit_events (at, actor_id, action, subject, ip, detail) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(now())
            .bind(event.actor_id)
            .bind(bounded_text(event.action, MAX_AUDIT_SUBJECT))
            .bind(bounded_text(&event.subject, MAX_AUDIT_SUBJECT))
            .bind(event.ip.map(|ip| bounded_text(&ip, MAX_AUDIT_IP)))
            .bind(bounded_text(&event.detail, MAX_AUDIT_DETAIL))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes events older than `before` (`audit.keep`), in batches so the
    /// database is never locked for long; returns how many went.
    pub async fn prune_audit(&self, before: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let done = sqlx::query(
                "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ? ORDER BY id LIMIT 5000)",
            )
            .bind(before)
            .execute(self.pool())
            .await?
            .rows_affected();
            total += done;
            if done == 0 {
                return Ok(total);
            }
        }
    }

    /// Events before `before` that still hold a full client address
    /// (shortened ones contain a `/`), at most `limit` of them.
    pub async fn audit_full_addresses(&self, before: i64, limit: i64) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, ip FROM audit_events WHERE at < ? AND ip IS NOT NULL AND instr(ip, '/') = 0 ORDER BY id LIMIT ?",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Replaces the client address of some events, in one transaction.
    pub async fn set_audit_addresses(&self, changes: &[(i64, String)]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for (id, ip) in changes {
            sqlx::query("UPDATE audit_events SET ip = ? WHERE id = ?").bind(ip).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` events, newest first.
    pub async fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>> {
        Ok(sqlx::query_as(
            "SELECT a.id, a.at, a.actor_id, p.display_name AS actor_name, a.action, a.subject, a.ip, a.detail \
             FROM audit_events a LEFT JOIN people p ON p.id = a.actor_id ORDER BY a.id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h1_l6_texts_are_bounded_and_escaped() {
        let long = "x".repeat(300_000);
        let cut = bounded_text(&long, MAX_AUDIT_DETAIL);
        assert_eq!(cut.chars().count(), MAX_AUDIT_DETAIL);
        assert!(cut.ends_with('…'));
        let forged = bounded_text("mallory\r\u{1b}[2K\u{1b}[1Aowner signed in\n", 100);
        assert!(!forged.chars().any(char::is_control), "{forged:?}");
        assert_eq!(forged, "mallory\\r\\u{1b}[2K\\u{1b}[1Aowner signed in\\n");
        assert_eq!(bounded_text("Grandma Ö", 100), "Grandma Ö");
    }

    #[test]
    fn action_names_are_unique_and_dotted_lower_case() {
        let mut seen = std::collections::HashSet::new();
        for action in Action::ALL {
            let name = action.as_str();
            assert!(seen.insert(name), "{name} twice");
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'), "{name}");
        }
    }

    #[tokio::test]
    async fn old_events_keep_only_the_network() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        let anon = |ip: &str| Actor::Anonymous { ip: Some(ip.into()) };
        record(&store, anon("203.0.113.77"), Action::SigninFailed, "x", "").await;
        record(&store, anon("2001:db8:1:2:3::9"), Action::SigninFailed, "y", "").await;
        // Nothing is old enough yet.
        let now = crate::common::clock::now();
        assert_eq!(forget_addresses(&store, now - 3600).await.expect("forget"), 0);
        assert_eq!(forget_addresses(&store, now + 1).await.expect("forget"), 2);
        let ips: Vec<String> = store.audit_events(10).await.expect("events").into_iter().filter_map(|e| e.ip).collect();
        assert_eq!(ips, ["2001:db8:1::/48", "203.0.113.0/24"]);
        assert_eq!(forget_addresses(&store, now + 1).await.expect("again"), 0, "done once");
    }

    #[tokio::test]
    async fn h1_old_events_are_pruned() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        for _ in 0..3 {
            store.audit(NewAuditEvent { action: "x", ..Default::default() }).await.expect("audit");
        }
        assert_eq!(store.prune_audit(now() - 60).await.expect("prune"), 0, "nothing is old yet");
        assert_eq!(store.prune_audit(now() + 1).await.expect("prune"), 3);
        assert!(store.audit_events(10).await.expect("events").is_empty());
    }
}
