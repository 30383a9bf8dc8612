//! The gate layer: everything between a request arriving (already carrying
//! its client address from the edge) and a response. It decides who is
//! calling before anything else runs, routes by host, serves porch's own
//! pages (sign-in, join, account, admin), and enforces request budgets,
//! sign-in throttling, invites, sessions, CSRF protection and security
//! headers.

mod app_door;
mod app_invites;

pub mod backups;
pub mod budget;
pub mod certificates;
pub mod digests;
mod error;
pub mod forms;
pub mod grants;
mod home_cards;
pub mod invites;
pub mod mail;
mod pages;
pub mod pairing;
pub mod passkeys;
pub mod password;
pub mod people;
pub mod recovery;
mod refusals;
mod routes;
pub mod secret;
pub mod sessions;
pub mod throttle;
mod uploads;
mod web;

use std::ops::Deref;
use std::sync::Arc;

pub use crate::common::names::{HostKind, classify};
pub use app_door::{Identity, app_origin, rewrite_headers};
pub use error::GateError;
pub use web::{Pipeline, Visitor, safe_next};

use crate::apps::Apps;
use crate::config::Settings;
use crate::store::Store;

/// Shared state of the gate: cheap to clone, one per server.
#[derive(Clone)]
pub struct Gate(Arc<GateInner>);

pub struct GateInner {
    pub store: Store,
    pub settings: Settings,
    /// Origin people reach porch at, e.g. `http://localhost:8080`.
    pub base_url: String,
    pub apps: Arc<Apps>,
    /// The edge's certificates, when TLS is on (the admin page shows them).
    pub certificates: Option<Arc<dyn certificates::CertificateAdmin>>,
    /// Scheduled backups, when `backup.to` is set.
    pub backups: Option<Arc<dyn backups::BackupAdmin>>,
    /// Request budgets per client and the in-flight cap.
    budgets: budget::Budgets,
    /// Failed sign-ins and dead invite links, by client and by account.
    pub throttle: throttle::Throttle,
    /// Passkeys: the relying party and its ceremonies in flight.
    pub passkeys: passkeys::Passkeys,
    /// Counts of refused requests per client, so their audit rows stay few.
    refusals: refusals::Refusals,
    pages: pages::Pages,
}

impl Deref for Gate {
    type Target = GateInner;
    fn deref(&self) -> &GateInner {
        &self.0
    }
}

impl Gate {
    pub fn new(
        store: Store,
        settings: Settings,
        base_url: String,
        apps: Arc<Apps>,
        certificates: Option<Arc<dyn certificates::CertificateAdmin>>,
        backups: Option<Arc<dyn backups::BackupAdmin>>,
    ) -> Result<Gate, GateError> {
        let pages = pages::Pages::load()?;
        let budgets = budget::Budgets::new(&settings.limits);
        let throttle = throttle::Throttle::new(settings.signin.clone());
        let passkeys = passkeys::Passkeys::new(&base_url);
        apps.set_inviter(app_invites::AppInviter::new(store.clone(), settings.clone(), base_url.clone()));
        Ok(Gate(Arc::new(GateInner {
            store,
            settings,
            base_url,
            apps,
            certificates,
            backups,
            budgets,
            throttle,
            passkeys,
            refusals: refusals::Refusals::default(),
            pages,
        })))
    }

    /// Writes one audit row for each client whose window of refused
    /// requests is over and had more than were recorded one by one (the
    /// hourly sweep calls this).
    pub async fn flush_refusals(&self) {
        for (client, count) in self.refusals.drain() {
            let actor = crate::store::audit::Actor::Anonymous { ip: Some(client.to_string()) };
            web::record_untold(self, actor, count).await;
        }
    }
}

/// The gate as a service: the pipeline in front of porch's routes.
/// Requests must carry a `common::net::ClientAddr` extension (the edge adds
/// it); `server.rs` hands the pipeline to the edge.
pub fn pipeline(gate: Gate) -> web::Pipeline {
    web::Pipeline::new(routes::porch_routes(gate.clone()), gate)
}
