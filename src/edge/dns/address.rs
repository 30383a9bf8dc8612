//! Where the zone's A/AAAA records come from when `dns.address` is not set:
//! a local network interface or an owner-chosen "what is my IP" URL, asked
//! again every `dns.recheck`. A change updates the zone (the serial moves)
//! and is written to the audit log; a failed check keeps the old address.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::zone::Zone;
use crate::config::AddressSource;
use crate::gate::audit::{self, Actor};
use crate::store::Store;

/// The most bytes porch reads from an address URL.
const MAX_ANSWER: usize = 512;

/// Asks `source` for this box's public addresses.
pub async fn discover(source: &AddressSource) -> Result<Vec<IpAddr>, String> {
    match source {
        AddressSource::Interface(name) => {
            let all = if_addrs::get_if_addrs().map_err(|e| format!("cannot list network interfaces: {e}"))?;
            let found: Vec<IpAddr> = all
                .into_iter()
                .filter(|i| i.name == *name)
                .map(|i| i.ip())
                .filter(|ip| !matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "the network interface {name:?} has no usable address (is it up? `ip addr` lists them)"
                ));
            }
            Ok(found)
        }
        AddressSource::Url(url) => {
            crate::edge::install_crypto();
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
            let response = client.get(url.as_str()).send().await.map_err(|e| format!("cannot reach {url}: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("{url} answered {}", response.status()));
            }
            let body = response.bytes().await.map_err(|e| format!("cannot read the answer of {url}: {e}"))?;
            let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ANSWER)]).into_owned();
            let found: Vec<IpAddr> =
                text.split(|c: char| c.is_whitespace() || c == ',').filter_map(|word| word.parse().ok()).collect();
            if found.is_empty() {
                return Err(format!("{url} did not answer with an IP address (it said {:?})", text.trim()));
            }
            Ok(found)
        }
    }
}

/// Re-checks `source` every `every` and updates the zone when it changes.
pub async fn watch(zone: Arc<Zone>, source: AddressSource, every: Duration, store: Store) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match discover(&source).await {
            Ok(found) => {
                let before = zone.addresses();
                if zone.set_addresses(found.clone()) {
                    let list = |ips: &[IpAddr]| ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                    tracing::info!(from = %list(&before), to = %list(&found), serial = zone.serial(), "public address changed; DNS zone updated");
                    audit::record(
                        &store,
                        Actor::System,
                        "dns.address",
                        &list(&found),
                        &format!(
                            "was {}; zone serial {}",
                            if before.is_empty() { "none".into() } else { list(&before) },
                            zone.serial()
                        ),
                    )
                    .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not check the public address; keeping the old one"),
        }
    }
}
