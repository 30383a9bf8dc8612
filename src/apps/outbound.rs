//! The `outbound` capability: the HTTP(S) requests an app may send, as
//! wasmtime-wasi-http's `send_request` hook. porch sends one only to a host
//! the app's manifest lists (the owner saw the list and approved it at
//! install), only to addresses that are public once the name is resolved
//! (or in a network the owner listed in `apps.outbound_lan`), and it
//! connects to the very address it checked, so a name that resolves once
//! to a public address and then to 127.0.0.1 cannot slip through (DNS
//! rebinding). The Host header and the TLS name are the checked host, never
//! one the app wrote (the class of Spin's CVE-2024-32980). One request the
//! app serves may send at most `requests` requests and `bytes` bytes of
//! bodies, both ways together. Redirects are not followed here: an app (or
//! its SDK) that follows one sends a new request, checked like the first.

use crate::common::limits::{OUTBOUND_BETWEEN_BYTES, OUTBOUND_CONNECT, OUTBOUND_FIRST_BYTE};
use crate::common::net::is_public;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::manifest::Outbound;

/// What one app may reach: its manifest's hosts and budget, and the
/// owner's `apps.outbound_lan`.
#[derive(Debug)]
pub struct Rules {
    pub app: String,
    pub outbound: Option<Outbound>,
    pub lan: Arc<Vec<IpNet>>,
}

impl Rules {
    /// Whether porch may connect to `ip` for this app.
    fn reachable(&self, ip: &IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(*ip, IpAddr::V4),
            v4 => *v4,
        };
        is_public(&ip) || self.lan.iter().any(|net| net.contains(&ip))
    }
}

/// The hooks of one app instance (so of one request it serves): counts
/// what it sent against its manifest's budget.
pub struct Hooks {
    rules: Arc<Rules>,
    sent: u32,
    /// Body bytes sent and received so far, shared with the bodies in flight.
    bytes: Arc<AtomicU64>,
}

impl Hooks {
    pub fn new(rules: Arc<Rules>) -> Hooks {
        Hooks { rules, sent: 0, bytes: Arc::new(AtomicU64::new(0)) }
    }

    /// Checks the request against the manifest before anything is resolved:
    /// declared, within the count, an allowed scheme and host.
    fn admit(&mut self, uri: &http::Uri) -> Result<Target, Error> {
        let rules = &self.rules;
        let refuse = |why: String| {
            tracing::warn!(app = %rules.app, %uri, "refused an outgoing request: {why}");
            Error::HttpRequestDenied
        };
        let Some(outbound) = &rules.outbound else {
            return Err(refuse("the app did not declare [capabilities.outbound] in its app.toml".into()));
        };
        if self.sent >= outbound.requests {
            tracing::warn!(app = %rules.app, %uri, limit = outbound.requests, "refused an outgoing request: the app already sent its capabilities.outbound.requests for this request");
            return Err(Error::ConnectionLimitReached);
        }
        let https = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return Err(refuse("only http and https requests are sent".into())),
        };
        let authority = uri.authority().ok_or_else(|| refuse("the request names no host".into()))?;
        if authority.as_str().contains('@') {
            return Err(refuse("a user name in the URL is not sent".into()));
        }
        let host = authority.host().to_ascii_lowercase();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !outbound.hosts.iter().any(|h| h.matches(&host, port, https)) {
            return Err(refuse(format!("{host}:{port} is not one of the hosts its app.toml lists")));
        }
        self.sent += 1;
        let host = host.strip_suffix('.').unwrap_or(&host).to_owned();
        let bare = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        Ok(Target {
            host_header: authority.as_str().to_ascii_lowercase(),
            literal: bare.parse().ok(),
            name: bare,
            port,
            https,
            budget: outbound.bytes,
        })
    }
}

/// A request that passed the manifest check.
struct Target {
    /// Exactly the authority the app's URL named (what was checked).
    host_header: String,
    /// The host without brackets or a final dot.
    name: String,
    /// The host when it is an IP address.
    literal: Option<IpAddr>,
    port: u16,
    https: bool,
    budget: u64,
}

type Answer = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Answer> + Send> {
        let admitted = self.admit(request.uri());
        let rules = self.rules.clone();
        let bytes = self.bytes.clone();
        Box::new(async move {
            let target = admitted?;
            let uri = request.uri().clone();
            let sent = send(&rules, target, request, options, bytes).await;
            match &sent {
                Ok((response, _)) => {
                    tracing::debug!(app = %rules.app, %uri, status = response.status().as_u16(), "outgoing request")
                }
                Err(e) => tracing::warn!(app = %rules.app, %uri, error = %e, "an outgoing request failed"),
            }
            sent
        })
    }
}

/// The tighter of what the app asked for and porch's own bound.
fn bound(asked: Option<Duration>, porch: Duration) -> Duration {
    asked.map_or(porch, |d| d.min(porch)).max(Duration::from_millis(1))
}

async fn send(
    rules: &Rules,
    target: Target,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    bytes: Arc<AtomicU64>,
) -> Answer {
    let connect_timeout = bound(options.and_then(|o| o.connect_timeout), OUTBOUND_CONNECT);
    let first_byte = bound(options.and_then(|o| o.first_byte_timeout), OUTBOUND_FIRST_BYTE);
    let between = bound(options.and_then(|o| o.between_bytes_timeout), OUTBOUND_BETWEEN_BYTES);

    let addresses = resolve(&target, connect_timeout).await?;
    let allowed: Vec<SocketAddr> = addresses.iter().copied().filter(|a| rules.reachable(&a.ip())).collect();
    if allowed.is_empty() {
        let all = addresses.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ");
        tracing::warn!(app = %rules.app, host = %target.name, addresses = %all, "refused an outgoing request: the host resolves only to private, loopback or link-local addresses (the owner may list a network in apps.outbound_lan)");
        return Err(Error::DestinationIpProhibited);
    }
    let stream = connect(&allowed, connect_timeout).await?;
    let io: Box<dyn Stream> = if target.https {
        let name = match target.literal {
            Some(ip) => rustls_pki_types::ServerName::from(ip),
            None => {
                rustls_pki_types::ServerName::try_from(target.name.clone()).map_err(|_| Error::HttpRequestUriInvalid)?
            }
        };
        let tls = tokio_rustls::TlsConnector::from(tls_config());
        match tokio::time::timeout(connect_timeout, tls.connect(name, stream)).await {
            Ok(Ok(s)) => Box::new(s),
            Ok(Err(e)) => {
                tracing::warn!(app = %rules.app, host = %target.name, error = %e, "TLS with the app's outbound host failed");
                return Err(Error::TlsCertificateError);
            }
            Err(_) => return Err(Error::ConnectionTimeout),
        }
    } else {
        Box::new(stream)
    };
    let (mut sender, conn) =
        tokio::time::timeout(connect_timeout, hyper::client::conn::http1::handshake(TokioIo::new(io)))
            .await
            .map_err(|_| Error::ConnectionTimeout)??;
    let connection = tokio::spawn(conn);

    // The request line carries only the path; Host is the checked authority.
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;
    let host = http::HeaderValue::try_from(target.host_header).map_err(|_| Error::HttpRequestUriInvalid)?;
    request.headers_mut().insert(http::header::HOST, host);
    let budget = target.budget;
    let request =
        request.map(|body| Counted { inner: body, bytes: bytes.clone(), budget, sending: true }.boxed_unsync());

    let response = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(Error::from)?;
    let response = response.map(|incoming| {
        let timed = Timed { inner: incoming, between, sleep: Box::pin(tokio::time::sleep(between)) };
        Counted { inner: timed, bytes, budget, sending: false }.boxed_unsync()
    });
    let done = async move {
        match connection.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::from(e)),
            Err(_) => Err(Error::ConnectionTerminated),
        }
    };
    Ok((response, Box::new(done)))
}

/// The addresses of the target: the literal itself, or what the system
/// resolver answers (with `/etc/hosts`, so `localhost` is loopback).
async fn resolve(target: &Target, timeout: Duration) -> Result<Vec<SocketAddr>, Error> {
    if let Some(ip) = target.literal {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    match tokio::time::timeout(timeout, tokio::net::lookup_host((target.name.as_str(), target.port))).await {
        Ok(Ok(found)) => {
            let found: Vec<SocketAddr> = found.collect();
            if found.is_empty() { Err(Error::DestinationNotFound) } else { Ok(found) }
        }
        Ok(Err(_)) => Err(Error::DestinationNotFound),
        Err(_) => Err(Error::DnsTimeout),
    }
}

/// Connects to the first of `addresses` (all checked) that answers.
async fn connect(addresses: &[SocketAddr], timeout: Duration) -> Result<tokio::net::TcpStream, Error> {
    let mut last = Error::ConnectionRefused;
    for address in addresses {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => last = Error::ConnectionRefused,
            Ok(Err(e)) => last = Error::Connect(e),
            Err(_) => last = Error::ConnectionTimeout,
        }
    }
    Err(last)
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// TLS towards the hosts apps call, verified against the system's trusted
/// certificate authorities (Debian's `ca-certificates`); made once.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "could not read some of the system's trusted certificates");
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::warn!("the system trusts no certificate authorities: apps' https requests will fail (install ca-certificates)");
            }
            let mut config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}

/// A body (sent or received) that adds its bytes to the request's outbound
/// total and fails once the total passes `capabilities.outbound.bytes`.
struct Counted<B> {
    inner: B,
    bytes: Arc<AtomicU64>,
    budget: u64,
    sending: bool,
}

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Error>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            let total = self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed) + data.len() as u64;
            if total > self.budget {
                tracing::warn!(budget = self.budget, "an app's outbound request went past capabilities.outbound.bytes");
                let budget = Some(self.budget);
                let e =
                    if self.sending { Error::HttpRequestBodySize(budget) } else { Error::HttpResponseBodySize(budget) };
                return Poll::Ready(Some(Err(e)));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that fails when the other side goes quiet for longer
/// than `between`.
struct Timed {
    inner: hyper::body::Incoming,
    between: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Body for Timed {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + self.between;
                self.sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::manifest::OutboundHost;

    fn rules(hosts: &[&str], lan: &[&str]) -> Arc<Rules> {
        Arc::new(Rules {
            app: "t".into(),
            outbound: Some(Outbound {
                hosts: hosts.iter().map(|h| OutboundHost::parse(h).expect("host")).collect(),
                requests: 2,
                bytes: 1024,
            }),
            lan: Arc::new(lan.iter().map(|n| n.parse().expect("net")).collect()),
        })
    }

    fn admit(hooks: &mut Hooks, url: &str) -> Result<Target, Error> {
        hooks.admit(&url.parse().expect("uri"))
    }

    #[test]
    fn only_listed_hosts_on_their_ports_and_schemes_are_admitted() {
        let mut h = Hooks::new(rules(&["api.example.org", "tiles.example.org:8443"], &[]));
        assert!(admit(&mut h, "https://API.example.org/x").is_ok());
        assert!(admit(&mut h, "https://tiles.example.org:8443/").is_ok());
        let mut h = Hooks::new(rules(&["api.example.org", "tiles.example.org:8443"], &[]));
        for refused in [
            "https://api.example.org:8080/",
            "https://tiles.example.org/",
            "https://evil.example.org/",
            "https://api.example.org.evil.test/",
            "https://user@api.example.org/",
            "ftp://api.example.org/",
            "/relative",
        ] {
            assert!(matches!(admit(&mut h, refused), Err(Error::HttpRequestDenied)), "{refused}");
        }
        assert!(admit(&mut h, "http://api.example.org/").is_ok(), "port 80 for http");
    }

    #[test]
    fn the_request_count_is_a_budget_per_app_request() {
        let mut h = Hooks::new(rules(&["api.example.org"], &[]));
        assert!(admit(&mut h, "https://api.example.org/1").is_ok());
        assert!(admit(&mut h, "https://api.example.org/2").is_ok());
        assert!(matches!(admit(&mut h, "https://api.example.org/3"), Err(Error::ConnectionLimitReached)));
    }

    #[test]
    fn undeclared_apps_send_nothing() {
        let rules = Arc::new(Rules { app: "t".into(), outbound: None, lan: Arc::new(vec![]) });
        assert!(matches!(admit(&mut Hooks::new(rules), "https://example.org/"), Err(Error::HttpRequestDenied)));
    }

    #[test]
    fn private_addresses_are_unreachable_unless_the_owner_lists_their_network() {
        let r = rules(&["x"], &[]);
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.20",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!r.reachable(&private.parse().expect("ip")), "{private}");
        }
        assert!(r.reachable(&"81.2.69.142".parse().expect("ip")));
        assert!(r.reachable(&"2a01:4f8::1".parse().expect("ip")));
        assert!(!r.reachable(&"2002:7f00:1::1".parse().expect("ip")), "6to4 of 127.0.0.1");
        let home = rules(&["x"], &["192.168.1.0/24"]);
        assert!(home.reachable(&"192.168.1.20".parse().expect("ip")));
        assert!(home.reachable(&"::ffff:192.168.1.20".parse().expect("ip")));
        assert!(!home.reachable(&"192.168.2.20".parse().expect("ip")));
    }
}
