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
