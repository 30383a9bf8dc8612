//! The edge layer: where connections arrive. It owns the listeners (plain
//! HTTP and TLS, with HTTP/2 and HTTP/1.1), certificates ([`tls`], [`certs`],
//! [`acme`], [`local_ca`]), porch's own DNS zone ([`dns`]) and the port-80
//! redirect ([`redirect`]). It tags every request with the client's address
//! ([`ClientAddr`]) before the gate sees it, and shuts down gracefully: on
//! the signal it stops accepting, lets requests in flight finish within a
//! grace period, then returns.

pub mod acme;
pub mod certs;
pub mod challenges;
pub mod connections;
pub mod corked;
pub mod dns;
pub mod forwarded;
pub mod local_ca;
pub mod redirect;
pub mod streams;
pub mod suites;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

pub use self::connections::Connections;
use self::streams::FirstPollInline;
pub use self::tls::TlsError;
use crate::common::net::{ClientAddr, network_of};
use crate::config::Settings;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EdgeError {
    #[error(
        "cannot listen on {addr}: {error}. Is another program (or another porch) using that port? Pick another in porch.toml (listen, http_listen, dns.listen) or with --listen. Ports below 1024 need CAP_NET_BIND_SERVICE"
    )]
    Bind { addr: SocketAddr, error: std::io::Error },
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
    #[error("DNS: {0}")]
    Dns(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// `Strict-Transport-Security` on every TLS response: a year, app hosts too.
const HSTS: &str = "max-age=31536000; includeSubDomains";

pub use crate::common::crypto::install_crypto;

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, EdgeError> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        // `[::]` on a box without IPv6: fall back to all IPv4 addresses.
        Err(e)
            if addr.ip() == IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                && e.kind() != std::io::ErrorKind::AddrInUse =>
        {
            let v4 = SocketAddr::from(([0, 0, 0, 0], addr.port()));
            TcpListener::bind(v4).await.map_err(|source| EdgeError::Bind { addr: v4, error: source })
        }
        Err(error) => Err(EdgeError::Bind { addr, error }),
    }
}

/// One listener and what it serves.
pub struct Listener {
    pub tcp: TcpListener,
    /// TLS configurations for HTTPS listeners; `None` serves plain HTTP.
    pub tls: Option<Arc<suites::ServerTls>>,
    pub app: Arc<dyn App>,
}

/// What a listener answers requests with: the gate's pipeline, or a plain
/// axum router (the port-80 redirect). Called by reference, so a request
/// clones nothing and boxes one future.
pub trait App: Send + Sync + 'static {
    fn serve(&self, request: Request) -> futures::future::BoxFuture<'static, Response>;
}

impl App for Router {
    fn serve(&self, request: Request) -> futures::future::BoxFuture<'static, Response> {
        let answer = self.clone().oneshot(request);
        Box::pin(async move {
            let Ok(response) = answer.await;
            response
        })
    }
}

/// How every listener treats its connections.
#[derive(Clone)]
pub struct ServeOptions {
    /// How long requests in flight may take to finish after the signal.
    pub grace: Duration,
    /// How long a client may take to send a request's headers, or to finish
    /// a TLS handshake.
    pub header_timeout: Duration,
    /// See [`connections`].
    pub idle_timeout: Duration,
    pub connections: Arc<Connections>,
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// The one header they name it in.
    pub forwarded_header: crate::config::ForwardedHeader,
}

impl ServeOptions {
    pub fn from_settings(settings: &Settings) -> ServeOptions {
        let limits = &settings.limits;
        ServeOptions {
            grace: settings.limits.shutdown_grace,
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            connections: Connections::new(
                limits.connections_per_client,
                limits.connections,
                settings.trusted_proxies.clone(),
            ),
            trusted_proxies: settings.trusted_proxies.clone().into(),
            forwarded_header: settings.forwarded_header,
        }
    }
}

/// Lets porch hold as many sockets as the system allows it (the soft limit
/// on open files is often 1024, below `limits.connections`).
pub fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(open_files = n, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

/// Serves every listener until `shutdown` completes, then drains for at
/// most `options.grace`.
pub async fn serve(
    listeners: Vec<Listener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> Result<(), EdgeError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        tasks.spawn(accept_loop(listener, stop_rx.clone(), options.clone()));
    }
    let mut result = Ok(());
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            result = Err(e);
        }
    }
    result
}

async fn accept_loop(
    listener: Listener,
    mut stop: watch::Receiver<bool>,
    options: ServeOptions,
) -> Result<(), EdgeError> {
    let Listener { tcp, tls, app } = listener;
    // Over TLS every answer tells browsers to stay on HTTPS.
    let hsts = tls.is_some();
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait, don't spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match options.connections.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                crate::metrics::connection_refused(match refused {
                    connections::Refused::PerClient => "per_client",
                    connections::Refused::Full => "full",
                });
                tracing::debug!(network = %network_of(peer.ip()), ?refused, "connection refused by the connection caps");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let stream = connections::Tracked::new(stream, slot.activity.clone());
        let app = app.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let options = options.clone();
        tokio::spawn(async move {
            let activity = slot.activity.clone();
            let idle = options.idle_timeout;
            let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                let running = activity.request();
                let client =
                    forwarded::client_addr(peer, request.headers(), &options.trusted_proxies, options.forwarded_header);
                let mut request = request.map(|body| axum::body::Body::new(connections::StallLimited::new(body, idle)));
                request.extensions_mut().insert(ClientAddr::new(client));
                with_host_header(&mut request);
                let response = app.serve(request);
                async move {
                    let mut response = response.await;
                    drop(running);
                    if hsts {
                        response
                            .headers_mut()
                            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            let watchdog = connections::watchdog(slot.activity.clone(), idle);
            let headers = options.header_timeout;
            match tls {
                None => serve_until_idle(headers, None, stream, service, watcher, watchdog).await,
                Some(tls) => {
                    let tls = match tokio::time::timeout(options.header_timeout, handshake(&tls, stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(network = %network_of(peer.ip()), error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    // A TLS-ALPN-01 validation only needs the handshake.
                    if tls.get_ref().1.alpn_protocol() == Some(certs::ACME_TLS_ALPN) {
                        return;
                    }
                    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                        let corked = corked::Corked::new(tls);
                        let output: Box<dyn corked::SendQueued> = Box::new(corked.clone());
                        serve_until_idle(headers, Some(output), corked, service, watcher, watchdog).await;
                    } else {
                        serve_until_idle(headers, None, tls, service, watcher, watchdog).await;
                    }
                }
            }
            drop(slot);
        });
    }
    drop(tcp);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.grace) => {
            tracing::warn!(grace = ?options.grace, "requests still running after the shutdown grace period; stopping anyway");
        }
    }
    Ok(())
}

/// A TLS handshake on `stream`, with the configuration [`suites::ServerTls`]
/// picks from the ClientHello.
async fn handshake<IO>(tls: &suites::ServerTls, stream: IO) -> std::io::Result<tokio_rustls::server::TlsStream<IO>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let start = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
    let config = tls.for_hello(&start.client_hello());
    start.into_stream(config).await
}

/// Serves one connection (plain or TLS) until it ends, the server drains,
/// or its idle watchdog fires (then it is dropped, which closes it). Its
/// HTTP/2 streams start inside it ([`streams`]); `corked` is the output
/// of an HTTP/2 connection over TLS ([`corked`]), sent once per turn.
/// `header_timeout` bounds how long HTTP/1.1 request headers may take.
async fn serve_until_idle<IO, S, B>(
    header_timeout: Duration,
    corked: Option<Box<dyn corked::SendQueued>>,
    io: IO,
    service: S,
    watcher: hyper_util::server::graceful::Watcher,
    watchdog: impl Future<Output = ()>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<hyper::body::Incoming>, Response = axum::http::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Each connection has its own stream executor, so its own builder.
    let streams = FirstPollInline::default();
    let mut builder = auto::Builder::new(streams.clone());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::select! {
        _ = streams.drive(watcher.watch(conn.into_owned()), corked) => {}
        () = watchdog => {}
    }
}

/// HTTP/2 carries the host in the `:authority` pseudo-header, not `Host`;
/// the gate routes by `Host`, so the edge fills it in.
fn with_host_header<B>(request: &mut axum::http::Request<B>) {
    if request.headers().contains_key(header::HOST) {
        return;
    }
    if let Some(value) = request.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()) {
        request.headers_mut().insert(header::HOST, value);
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are registered when
/// this is called, not when the future is first polled, so a signal that
/// arrives right after porch says it is ready still shuts it down cleanly.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                tracing::warn!("cannot listen for SIGTERM; only Ctrl-C stops porch");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}
