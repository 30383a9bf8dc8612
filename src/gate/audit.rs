//! Who did something, and writing it to the audit log. A failed audit write
//! is logged loudly but does not undo what was done.

use crate::store::{NewAuditEvent, Store};

/// Who an audited action is attributed to.
#[derive(Debug, Clone)]
pub enum Actor {
    /// porch itself (start-up tasks).
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

/// Shortens the client address of every event older than `before` to its
/// network (`keep_ips`); returns how many changed.
pub async fn forget_addresses(store: &Store, before: i64) -> Result<usize, crate::store::StoreError> {
    let mut total = 0;
    loop {
        let batch = store.audit_full_addresses(before, 1000).await?;
        if batch.is_empty() {
            return Ok(total);
        }
        let changes: Vec<(i64, String)> = batch
            .into_iter()
            .map(|(id, ip)| {
                let short = ip.parse::<std::net::IpAddr>().map_or_else(|_| "-/0".to_owned(), crate::edge::network_of);
                (id, short)
            })
            .collect();
        store.set_audit_addresses(&changes).await?;
        total += changes.len();
    }
}

/// Appends one event to the audit log.
pub async fn record(store: &Store, actor: Actor, action: &str, subject: &str, detail: &str) {
    let origin = actor.origin();
    let detail = match (origin.is_empty(), detail.is_empty()) {
        (true, _) => detail.to_owned(),
        (false, true) => format!("by {origin}"),
        (false, false) => format!("{detail} (by {origin})"),
    };
    let event =
        NewAuditEvent { actor_id: actor.person_id(), action, subject: subject.to_owned(), ip: actor.ip(), detail };
    if let Err(e) = store.audit(event).await {
        tracing::error!(error = %e, action, subject, "could not write to the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn old_events_keep_only_the_network() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        record(&store, Actor::Anonymous { ip: Some("203.0.113.77".into()) }, "signin.failed", "x", "").await;
        record(&store, Actor::Anonymous { ip: Some("2001:db8:1:2:3::9".into()) }, "signin.failed", "y", "").await;
        // Nothing is old enough yet.
        assert_eq!(forget_addresses(&store, crate::store::now() - 3600).await.expect("forget"), 0);
        assert_eq!(forget_addresses(&store, crate::store::now() + 1).await.expect("forget"), 2);
        let ips: Vec<String> = store.audit_events(10).await.expect("events").into_iter().filter_map(|e| e.ip).collect();
        assert_eq!(ips, ["2001:db8:1::/48", "203.0.113.0/24"]);
        assert_eq!(forget_addresses(&store, crate::store::now() + 1).await.expect("again"), 0, "done once");
    }
}
