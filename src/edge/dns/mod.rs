//! porch's own authoritative DNS (`[dns]` in porch.toml): the zone and its
//! answers ([`zone`]), the UDP/TCP listener ([`server`]) and where the public
//! address comes from ([`address`]). Starting it is [`Dns::start`].

pub mod address;
pub mod server;
pub mod zone;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{DnsSettings, Settings};
use crate::store::Store;
pub use zone::Zone;

use super::EdgeError;

/// The running DNS service.
pub struct Dns {
    pub zone: Arc<Zone>,
    server: server::DnsServer,
    watcher: Option<tokio::task::JoinHandle<()>>,
}

impl Dns {
    pub async fn start(settings: &Settings, dns: &DnsSettings, store: &Store) -> Result<Dns, EdgeError> {
        let mut addresses = dns.addresses.clone();
        if addresses.is_empty()
            && let Some(source) = &dns.source
        {
            match address::discover(source).await {
                Ok(found) => addresses = found,
                Err(e) => {
                    tracing::warn!(error = %e, "could not learn the public address yet; the zone has none until it can")
                }
            }
        }
        let ttl = u32::try_from(dns.ttl.as_secs()).unwrap_or(u32::MAX);
        let zone =
            Zone::new(&settings.domain, addresses, settings.acme.caa_issuer.clone(), ttl).map_err(EdgeError::Dns)?;
        let zone = Arc::new(zone);
        let server = server::serve(dns.listen, zone.clone(), dns.udp_rate)
            .await
            .map_err(|source| EdgeError::Bind { addr: dns.listen, error: source })?;
        let watcher = (dns.addresses.is_empty())
            .then(|| dns.source.clone())
            .flatten()
            .map(|source| tokio::spawn(address::watch(zone.clone(), source, dns.recheck, store.clone())));
        Ok(Dns { zone, server, watcher })
    }

    pub fn bound(&self) -> SocketAddr {
        self.server.bound
    }

    pub async fn stop(self) {
        if let Some(w) = self.watcher {
            w.abort();
        }
        self.server.stop().await;
    }
}
