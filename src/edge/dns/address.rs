//! Where the zone's A/AAAA records come from when `dns.address` is not set:
//! a local network interface or an owner-chosen "what is my IP" URL, asked
//! again every `dns.recheck`. A change updates the zone (the serial moves)
//! and is written to the audit log; a failed check keeps the old address.
//!
//! Whoever controls that answer controls where the family's name points, and
//! so which certificate a CA will issue for it (review finding M7). So the
//! URL must be https (the config refuses anything else), redirects are not
//! followed, at most [`MAX_ADDRESS_ANSWER`] bytes are read, and only globally
//! routable addresses are ever published.

use crate::common::limits::MAX_ADDRESS_ANSWER;
use crate::common::net::is_public;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::zone::Zone;
use crate::config::AddressSource;
use crate::store::Store;
use crate::store::audit::{self, Action, Actor};

/// Asks `source` for this box's public addresses.
pub async fn discover(source: &AddressSource) -> Result<Vec<IpAddr>, String> {
    match source {
        AddressSource::Interface(name) => {
            let all = if_addrs::get_if_addrs().map_err(|e| format!("cannot list network interfaces: {e}"))?;
            let on_it: Vec<IpAddr> = all.into_iter().filter(|i| i.name == *name).map(|i| i.ip()).collect();
            let found: Vec<IpAddr> = on_it.iter().copied().filter(is_public).collect();
            if found.is_empty() {
                return Err(format!(
                    "the network interface {name:?} has no public address (it has {on_it:?}; private, loopback and link-local ones are never published)"
                ));
            }
            Ok(found)
        }
        AddressSource::Url(url) => {
            crate::edge::install_crypto();
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .https_only(true)
                .build()
                .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
            ask(&client, url).await
        }
    }
}

/// One question to an address URL.
async fn ask(client: &reqwest::Client, url: &url::Url) -> Result<Vec<IpAddr>, String> {
    let mut response = client.get(url.as_str()).send().await.map_err(|e| format!("cannot reach {url}: {e}"))?;
    if response.status().is_redirection() {
        return Err(format!("{url} answered with a redirect ({}); porch does not follow them", response.status()));
    }
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("cannot read the answer of {url}: {e}"))? {
        if body.len() + chunk.len() > MAX_ADDRESS_ANSWER {
            return Err(format!("{url} answered with more than {MAX_ADDRESS_ANSWER} bytes; an address is a few"));
        }
        body.extend_from_slice(&chunk);
    }
    addresses_in(&String::from_utf8_lossy(&body)).map_err(|e| format!("{url} {e}"))
}

/// The public addresses in an answer such as `203.0.113.7` or a list.
fn addresses_in(text: &str) -> Result<Vec<IpAddr>, String> {
    let all: Vec<IpAddr> =
        text.split(|c: char| c.is_whitespace() || c == ',').filter_map(|word| word.parse().ok()).collect();
    if all.is_empty() {
        let shown: String = text.trim().chars().take(80).collect();
        return Err(format!("did not answer with an IP address (it said {shown:?})"));
    }
    let public: Vec<IpAddr> = all.iter().copied().filter(is_public).collect();
    if public.is_empty() {
        return Err(format!(
            "answered with {all:?}, which is not a public address; porch never publishes private, loopback or link-local addresses"
        ));
    }
    Ok(public)
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
                        Action::DnsAddress,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m7_only_public_addresses_are_taken() {
        for private in [
            "10.0.0.1",
            "192.168.1.2",
            "172.16.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "203.0.113.7",
            "::1",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "ff02::1",
            "240.0.0.1",
        ] {
            let ip: IpAddr = private.parse().expect("ip");
            assert!(!is_public(&ip), "{private}");
            assert!(addresses_in(private).is_err(), "{private}");
        }
        assert_eq!(addresses_in("81.2.69.142\n").expect("public"), ["81.2.69.142".parse::<IpAddr>().expect("ip")]);
        let mixed = addresses_in("10.0.0.1, 2a01:4f8::1").expect("one public");
        assert_eq!(mixed, ["2a01:4f8::1".parse::<IpAddr>().expect("ip")]);
        assert!(addresses_in("<html>hello</html>").is_err());
    }

    /// A one-shot HTTPS server on loopback answering every request with
    /// `response`; returns its URL and the client that trusts it.
    async fn https_answering(response: Vec<u8>) -> (url::Url, reqwest::Client) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        crate::edge::install_crypto();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let der = cert.cert.der().clone();
        let key = rustls_pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
        let config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(vec![der.clone()], key);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config.expect("config")));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(mut tls) = acceptor.accept(tcp).await else { continue };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls.write_all(&response).await;
                let _ = tls.shutdown().await;
            }
        });
        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_der(&der).expect("root"))
            .resolve("localhost", std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .build()
            .expect("client");
        (url::Url::parse(&format!("https://localhost:{port}/ip")).expect("url"), client)
    }

    #[tokio::test]
    async fn m7_redirects_and_long_answers_are_refused() {
        let (url, client) =
            https_answering(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n81.2.69.142\n".to_vec()).await;
        assert_eq!(ask(&client, &url).await.expect("plain answer"), ["81.2.69.142".parse::<IpAddr>().expect("ip")]);

        let moved = b"HTTP/1.1 302 Found\r\nlocation: http://198.51.100.1/\r\ncontent-length: 0\r\n\r\n".to_vec();
        let (url, client) = https_answering(moved).await;
        let e = ask(&client, &url).await.expect_err("a redirect is not followed");
        assert!(e.contains("redirect"), "{e}");

        let mut long = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n81.2.69.142 ", 1 << 20).into_bytes();
        long.resize(long.len() + (1 << 20) - 12, b' ');
        let (url, client) = https_answering(long).await;
        let e = ask(&client, &url).await.expect_err("a long answer is refused");
        assert!(e.contains("more than 4096 bytes"), "{e}");

        let plain = url::Url::parse("http://localhost:1/ip").expect("url");
        assert!(ask(&client, &plain).await.is_err(), "the client speaks https only");
    }
}
