//! The edge layer: where connections arrive. It binds the listener, tags
//! every request with the client's address ([`ClientAddr`]) before the gate
//! sees it, and shuts down gracefully: on the signal it stops accepting,
//! lets requests in flight finish within a grace period, then returns.
//!
//! TLS, connection caps and rate limits belong here as they arrive.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::gate::ClientAddr;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EdgeError {
    #[error(
        "cannot listen on {addr}: {source}. Is another program (or another porch) using that port? Pick another with --listen"
    )]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, EdgeError> {
    TcpListener::bind(addr).await.map_err(|source| EdgeError::Bind { addr, source })
}

/// Serves `app` on `listener` until `shutdown` completes, then drains for at
/// most `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), EdgeError> {
    let app = app.layer(middleware::from_fn(tag_client));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut drain_rx = stop_rx.clone();
    let mut stop_rx = stop_rx;
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        })
        .into_future();
    tokio::select! {
        result = server => result.map_err(EdgeError::Serve),
        () = async {
            let _ = drain_rx.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace = ?grace, "requests still running after the shutdown grace period; stopping anyway");
            Ok(())
        }
    }
}

async fn tag_client(mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        request.extensions_mut().insert(ClientAddr(addr));
    }
    next.run(request).await
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
