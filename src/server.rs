//! `porch serve`: opens the store, binds the listeners (main, plain HTTP,
//! DNS, metrics), prints the owner's setup link while no owner exists,
//! serves until a signal, then closes the database cleanly.
//!
//! This is where the layers are wired together, so that none of them names
//! another upward or sideways: the edge serves the gate's pipeline through
//! the edge's own `App` trait, and the gate's admin pages reach the edge's
//! certificates and the backup scheduler through traits of the gate's,
//! implemented here.

use std::time::Duration;

use std::sync::Arc;

use crate::apps::{AppError, Apps};
use crate::common::clock::now;
use crate::config::{Settings, TlsMode};
use crate::edge::dns::Dns;
use crate::edge::tls::Tls;
use crate::edge::{self, EdgeError};
use crate::gate::{self, Gate, GateError};
use crate::store::{DataLock, Store, StoreError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Edge(#[from] EdgeError),
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("{0}")]
    Metrics(String),
}

/// The gate's pipeline as the edge serves it.
struct GateService(gate::Pipeline);

impl edge::App for GateService {
    fn serve(&self, request: axum::extract::Request) -> futures::future::BoxFuture<'static, axum::response::Response> {
        self.0.serve(request)
    }
}

/// The edge's certificates as the gate's admin page sees them.
struct Certificates(Arc<Tls>);

impl gate::certificates::CertificateAdmin for Certificates {
    fn report(&self) -> gate::certificates::CertificateReport {
        self.0.report()
    }

    fn renew_now(&self) {
        self.0.renew_now();
    }
}

/// The backup scheduler as the gate's admin page sees it.
struct Backups(Arc<crate::backup::schedule::Scheduler>);

impl gate::backups::BackupAdmin for Backups {
    fn report(&self) -> gate::backups::BackupReport {
        self.0.report()
    }

    fn back_up_now(&self) {
        self.0.back_up_now();
    }
}

/// How often expired sessions are swept from the database.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Runs porch until SIGINT/SIGTERM.
pub async fn run(settings: Settings) -> Result<(), ServeError> {
    edge::install_crypto();
    edge::raise_open_files_limit();
    let _lock = DataLock::acquire(&settings.data_dir)?;
    let store = Store::open(&settings.data_dir).await?;
    let listener = edge::bind(settings.listen).await?;
    let bound = listener.local_addr().map_err(|source| EdgeError::Bind { addr: settings.listen, error: source })?;
    let tls_on = settings.tls != TlsMode::Off;
    let http_listener = match settings.http_listen {
        Some(addr) if tls_on => Some(edge::bind(addr).await?),
        _ => None,
    };
    let base_url = settings.base_url(bound);
    store.set_setting("public_url", &base_url).await?;
    if !tls_on && base_url.starts_with("https:") && settings.trusted_proxies.is_empty() {
        tracing::warn!(
            "porch serves plain HTTP behind {base_url}, but trusted_proxies is empty: every visitor will seem to come from the proxy or tunnel, so one stranger's failed sign-ins slow down everyone. Set trusted_proxies to the tunnel's address (and forwarded_header to the header it writes)"
        );
    }

    let apps = Arc::new(Apps::open(
        store.clone(),
        &settings.data_dir,
        &settings.apps,
        &settings.media,
        &settings.activity,
        settings.store.min_free,
    )?);
    let collected = apps.collect_blobs().await?;
    if collected > 0 {
        tracing::info!(collected, "removed blob files nothing referred to");
    }
    let lapsed = apps.sweep_uploads(now()).await?;
    if lapsed > 0 {
        tracing::info!(lapsed, "removed unfinished uploads older than uploads.unfinished_for");
    }
    apps.install_bundled().await?;
    let loaded = apps.load_all().await?;
    let (hits, misses) = apps.cache_stats();
    let allocator = match apps.allocator() {
        crate::apps::Allocator::Pooling => "pooling",
        crate::apps::Allocator::OnDemand => "on-demand",
    };
    println!("Apps ready: {loaded} ({hits} from the compiled-code cache, {misses} compiled; {allocator} allocator)");
    // H.264 copies and other queued media work, one at a time, in the
    // background (the queue outlives restarts).
    tokio::spawn(apps.clone().run_media_jobs());

    // The listeners are bound before certificates are requested, so the
    // CA's checks find them (connections wait in the backlog until serving).
    let dns = match &settings.dns {
        Some(dns) => {
            let started = Dns::start(&settings, dns, &store).await?;
            println!("DNS: serving the zone {} on {} (UDP and TCP)", settings.domain, started.bound());
            Some(started)
        }
        None => None,
    };
    let tls = match tls_on {
        true => {
            Some(Tls::start(&settings, &store, dns.as_ref().map(|d| d.zone.clone())).await.map_err(EdgeError::from)?)
        }
        false => None,
    };

    // Registered before announcing readiness: see edge::shutdown_signal.
    let shutdown = edge::shutdown_signal();
    if let Some(link) = gate::invites::ensure_owner_setup(&store, &settings, &base_url).await? {
        println!("Owner setup link: {link}");
        println!(
            "  Next: open it and pick your name and password; then Admin → Invites makes a link for each relative."
        );
        println!(
            "  Photos is on your home page once you are in (it lives at {}/).",
            gate::app_origin(&base_url, "photos")
        );
    }
    if let Some(http) = &http_listener
        && let Ok(addr) = http.local_addr()
    {
        println!("Plain HTTP on {addr} answers ACME checks and redirects to HTTPS");
    }

    let metrics = match settings.metrics_listen {
        Some(addr) => {
            let listener = crate::metrics::bind(addr).await.map_err(ServeError::Metrics)?;
            if let Ok(addr) = listener.local_addr() {
                println!("Metrics: http://{addr}/metrics");
            }
            Some(tokio::spawn(crate::metrics::serve(listener, settings.data_dir.clone())))
        }
        None => None,
    };
    let backups = match &settings.backup {
        Some(b) => {
            let scheduler = crate::backup::schedule::Scheduler::start(
                b.clone(),
                store.clone(),
                settings.data_dir.clone(),
                settings.config_file.clone(),
            )
            .await;
            println!("Backups: every {} to {}", humantime::format_duration(b.every), b.to.display());
            Some(Arc::new(Backups(scheduler)) as Arc<dyn gate::backups::BackupAdmin>)
        }
        None => None,
    };
    println!("porch is serving {base_url} (listening on {bound}, data in {})", settings.data_dir.display());

    let options = edge::ServeOptions::from_settings(&settings);
    let domain = settings.domain.clone();
    let certificates = tls.clone().map(|t| Arc::new(Certificates(t)) as Arc<dyn gate::certificates::CertificateAdmin>);
    let keep = Keep {
        ips: settings.keep_ips,
        audit: settings.audit.keep,
        devices: settings.signin.device_forget,
        activity: settings.activity.keep,
    };
    gate::password::configure(settings.passwords.parallel_checks(), settings.passwords.queue_wait);
    let gate = Gate::new(store.clone(), settings, base_url, apps, certificates, backups)?;
    let sweeper = tokio::spawn(sweep(gate.clone(), keep));
    let digests = match gate::mail::Mailer::from_settings(gate.settings.mail.as_ref()) {
        Ok(Some(mailer)) => Some(tokio::spawn(gate::digests::run(gate.clone(), mailer))),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "email digests are off: [mail] cannot be used");
            None
        }
    };
    let scheduler = tokio::spawn(crate::apps::schedule::Scheduler::new(gate.apps.clone(), gate.base_url.clone()).run());
    let mut listeners = vec![edge::Listener {
        tcp: listener,
        tls: tls.as_ref().map(|t| t.server_tls()).transpose().map_err(EdgeError::from)?,
        app: Arc::new(GateService(gate::pipeline(gate))),
    }];
    if let (Some(tcp), Some(tls)) = (http_listener, &tls) {
        listeners.push(edge::Listener {
            tcp,
            tls: None,
            app: Arc::new(edge::redirect::router(tls.challenges.clone(), &domain, bound.port())),
        });
    }
    let served = edge::serve(listeners, shutdown, options).await;
    // A running H.264 copy must not hold up the exit; its job is taken
    // again at the next start.
    crate::media::jail::stop_all();
    sweeper.abort();
    scheduler.abort();
    if let Some(digests) = digests {
        digests.abort();
    }
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    if let Some(dns) = dns {
        dns.stop().await;
    }
    store.close().await;
    tracing::info!("stopped; database closed");
    Ok(served?)
}

/// How long the sweep keeps what it sweeps.
struct Keep {
    /// Full client addresses in the audit log (`keep_ips`).
    ips: Duration,
    /// Audit events (`audit.keep`).
    audit: Duration,
    /// Known devices nobody used (`signin.device_forget`).
    devices: Duration,
    /// News in people's feeds (`activity.keep`).
    activity: Duration,
}

/// `now` less `age`, in Unix seconds.
fn ago(age: Duration) -> i64 {
    now().saturating_sub(i64::try_from(age.as_secs()).unwrap_or(i64::MAX))
}

/// Hourly: expired sessions and pairings, idle devices and long-ended
/// recovery links go, audit events older than `keep_ips` keep only the
/// network part of their client address, those older than `audit.keep` go
/// (and news older than `activity.keep`),
/// and refusals counted but not yet written become their summary rows.
async fn sweep(gate: Gate, keep: Keep) {
    let store = gate.store.clone();
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        gate.flush_refusals().await;
        match gate.apps.collect_blobs().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "removed blob files nothing referred to"),
            Err(e) => tracing::warn!(error = %e, "could not collect unused blob files"),
        }
        match gate.apps.sweep_uploads(now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(uploads = n, "removed unfinished uploads older than uploads.unfinished_for"),
            Err(e) => tracing::warn!(error = %e, "could not sweep unfinished uploads"),
        }
        if let Err(e) = store.purge_expired_sessions(now()).await {
            tracing::warn!(error = %e, "could not sweep expired sessions");
        }
        match store.purge_idle_devices(ago(keep.devices)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(devices = n, "forgot devices unused for signin.device_forget"),
            Err(e) => tracing::warn!(error = %e, "could not forget idle devices"),
        }
        if let Err(e) = store.purge_old_pairings(now()).await {
            tracing::warn!(error = %e, "could not sweep expired device pairings");
        }
        match store.purge_ended_recovery_links(ago(crate::common::limits::RECOVERY_LINK_KEEP)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(links = n, "removed recovery links that ended long ago"),
            Err(e) => tracing::warn!(error = %e, "could not remove old recovery links"),
        }
        match crate::store::audit::forget_addresses(&store, ago(keep.ips)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "shortened old client addresses in the audit log"),
            Err(e) => tracing::warn!(error = %e, "could not shorten old client addresses"),
        }
        match store.prune_audit(ago(keep.audit)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "deleted audit events older than audit.keep"),
            Err(e) => tracing::warn!(error = %e, "could not delete old audit events"),
        }
        if let Err(e) = store.prune_unsubscribes(now() - gate::digests::UNSUBSCRIBE_KEEP).await {
            tracing::warn!(error = %e, "could not remove old unsubscribe links");
        }
        match store.prune_activity(ago(keep.activity)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(news = n, "deleted news older than activity.keep"),
            Err(e) => tracing::warn!(error = %e, "could not delete old news"),
        }
    }
}
