//! Prometheus metrics: a few counters and gauges the layers bump, and the
//! separate listener (`metrics.listen`, localhost by default) that serves
//! them at `/metrics` in the text format. Nothing here carries a client
//! address, a name or a path: only counts an owner can graph.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels known at compile time: counting a request allocates nothing.
type Static<const N: usize> = [(&'static str, &'static str); N];
/// Labels with an app id in them (one allocation per app request).
type AppLabels = [(&'static str, String); 2];

/// Status classes, in the order of [`Metrics::answered`]'s columns.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Who answered a request, for the `host` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnsweredBy {
    /// porch's own pages and files.
    Porch,
    /// An app instance.
    App,
}

impl AnsweredBy {
    /// Every value, in discriminant order: the rows of [`Metrics::answered`].
    const ALL: [AnsweredBy; 2] = [AnsweredBy::Porch, AnsweredBy::App];

    /// The `host` label's value.
    fn label(self) -> &'static str {
        match self {
            AnsweredBy::Porch => "porch",
            AnsweredBy::App => "app",
        }
    }
}

struct Metrics {
    registry: Registry,
    /// `http_requests` by [`AnsweredBy`] and status class, each series made
    /// at start: counting a request is one atomic add, no label hashing or
    /// map lookup on the hot path, and every series is there (at zero) for
    /// a graph from the first scrape.
    answered: [[Counter; 5]; 2],
    duration: Histogram,
    connections: Gauge,
    connections_refused: Family<Static<1>, Counter>,
    budget_refusals: Family<Static<1>, Counter>,
    signin_failures: Counter,
    app_requests: Family<AppLabels, Counter>,
    backups: Family<Static<1>, Counter>,
    backup_last_ok: Gauge,
    disk_free: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("porch");
    let requests = Family::<Static<2>, Counter>::default();
    registry.register("http_requests", "HTTP requests answered, by kind of host and status class", requests.clone());
    let answered = AnsweredBy::ALL
        .map(|by| CLASSES.map(|class| requests.get_or_create(&[("host", by.label()), ("status", class)]).clone()));
    let duration = Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0]);
    registry.register("http_request_duration_seconds", "Time to the response's head", duration.clone());
    let connections = Gauge::default();
    registry.register("connections_open", "Client connections open now", connections.clone());
    let connections_refused = Family::<Static<1>, Counter>::default();
    registry.register("connections_refused", "Connections closed at accept, by reason", connections_refused.clone());
    let budget_refusals = Family::<Static<1>, Counter>::default();
    registry.register("budget_refusals", "Requests refused with 429 or 503, by budget", budget_refusals.clone());
    let signin_failures = Counter::default();
    registry.register("signin_failures", "Failed sign-ins and dead invite links", signin_failures.clone());
    let app_requests = Family::<AppLabels, Counter>::default();
    registry.register("app_requests", "Requests run by an app instance, by app and outcome", app_requests.clone());
    let backups = Family::<Static<1>, Counter>::default();
    registry.register("backups", "Scheduled backups, by result", backups.clone());
    let backup_last_ok = Gauge::default();
    registry.register(
        "backup_last_success_timestamp_seconds",
        "When the last good scheduled backup finished (unix time)",
        backup_last_ok.clone(),
    );
    let disk_free = Gauge::default();
    registry.register("data_disk_free_bytes", "Free space on the data folder's disk", disk_free.clone());
    Metrics {
        registry,
        answered,
        duration,
        connections,
        connections_refused,
        budget_refusals,
        signin_failures,
        app_requests,
        backups,
        backup_last_ok,
        disk_free,
    }
});

/// One answered request, by whom, with its status and time to its head.
pub fn request_done(by: AnsweredBy, status: u16, elapsed: Duration) {
    let class = usize::from(status / 100).clamp(1, 5) - 1;
    METRICS.answered[by as usize][class].inc();
    METRICS.duration.observe(elapsed.as_secs_f64());
}

pub fn connection_opened() {
    METRICS.connections.inc();
}

pub fn connection_closed() {
    METRICS.connections.dec();
}

pub fn connection_refused(reason: &'static str) {
    METRICS.connections_refused.get_or_create(&[("reason", reason)]).inc();
}

pub fn budget_refused(budget: &'static str) {
    METRICS.budget_refusals.get_or_create(&[("budget", budget)]).inc();
}

pub fn signin_failed() {
    METRICS.signin_failures.inc();
}

/// An app request finished: `outcome` is `ok`, `trap`, `timeout`...
pub fn app_request(app: &str, outcome: &'static str) {
    let app: String = app.chars().take(64).collect();
    METRICS.app_requests.get_or_create(&[("app", app), ("outcome", outcome.to_owned())]).inc();
}

pub fn backup_finished(ok: bool, at: i64) {
    let result = if ok { "ok" } else { "failed" };
    METRICS.backups.get_or_create(&[("result", result)]).inc();
    if ok {
        METRICS.backup_last_ok.set(at);
    }
}

/// The text exposition, with the disk's free space read now.
pub fn render(data_dir: &std::path::Path) -> String {
    if let Ok(free) = crate::common::disk::free_space(data_dir) {
        METRICS.disk_free.set(i64::try_from(free).unwrap_or(i64::MAX));
    }
    let mut out = String::new();
    if encode(&mut out, &METRICS.registry).is_err() {
        out.clear();
    }
    out
}

/// Serves `/metrics` on its own listener until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, data_dir: std::path::PathBuf) {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let data_dir = data_dir.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                    render(&data_dir),
                )
            }
        }),
    );
    // Only a Host naming a loopback address or localhost is answered: a web
    // page on this machine could otherwise read the metrics through DNS
    // rebinding (a name of its own that resolves to 127.0.0.1).
    let app = app.layer(axum::middleware::from_fn(only_local_hosts));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

/// Refuses a request whose Host is not `localhost` or an IP address, and
/// marks every answer as not to be sniffed, framed or cached.
async fn only_local_hosts(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse as _;
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let local = name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok();
    let mut response = if local {
        next.run(request).await
    } else {
        (StatusCode::MISDIRECTED_REQUEST, "The metrics listener answers to localhost or an IP address only.\n")
            .into_response()
    };
    crate::common::headers::secure(response.headers_mut(), crate::common::headers::Answer::Plain);
    response
}

/// Binds the metrics listener, saying which key to change when it cannot.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!(
            "cannot listen for metrics on {addr}: {e}. Set metrics.listen to a free port such as 127.0.0.1:9465, or off"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of one series in the text format, if it is there.
    fn value(text: &str, series: &str) -> Option<u64> {
        text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn answered_by_rows_follow_the_discriminants() {
        for (row, by) in AnsweredBy::ALL.into_iter().enumerate() {
            assert_eq!(by as usize, row, "{by:?}");
        }
    }

    #[test]
    fn counts_show_in_the_text_format() {
        // Only this test answers as an app with a 1xx, so the count is exact.
        let series = "porch_http_requests_total{host=\"app\",status=\"1xx\"}";
        let before = value(&render(std::path::Path::new(".")), series);
        assert_eq!(before, Some(0), "every series is there from the start");
        request_done(AnsweredBy::App, 101, Duration::from_millis(3));
        budget_refused("door");
        let text = render(std::path::Path::new("."));
        assert_eq!(value(&text, series), Some(1), "{text}");
        for (by, class) in [("porch", "2xx"), ("porch", "5xx"), ("app", "4xx")] {
            let other = format!("porch_http_requests_total{{host=\"{by}\",status=\"{class}\"}}");
            assert!(value(&text, &other).is_some(), "{other} missing: {text}");
        }
        assert!(text.contains("porch_budget_refusals_total{budget=\"door\"}"), "{text}");
        assert!(text.contains("porch_data_disk_free_bytes"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
