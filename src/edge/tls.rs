//! TLS for porch's listeners: the rustls configuration (TLS 1.2 and 1.3
//! only, the provider's modern AEAD suites in the order [`super::suites`]
//! picks per handshake, HTTP/2 and HTTP/1.1 by ALPN),
//! and [`Tls`], which keeps the SNI resolver stocked with certificates from
//! the configured source and reports on them:
//!
//! - `self-signed`: issued by the local CA ([`super::local_ca`]) at start-up
//!   and again two thirds into each certificate's life;
//! - `files`: read from the owner's PEM files, re-read when they change (a
//!   bad new file is logged and the old certificate stays);
//! - `acme`: from the CA ([`super::acme`]), renewed two thirds in (or in the
//!   CA's ARI window), retried with capped exponential backoff, every
//!   issuance and failure audited.
//!
//! A new certificate goes into the resolver, never into a listener, so it
//! serves the next handshake without a restart or a dropped connection.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::SeedableRng;
use rustls::ServerConfig;
use tokio::sync::Notify;

use super::acme::{AcmeClient, schedule};
use super::certs::{ACME_TLS_ALPN, CertResolver, Served};
use super::challenges::Challenges;
use super::dns::Zone;
use super::local_ca::LocalCa;
use super::suites::ServerTls;
use crate::common::clock::now;
use crate::common::status::{CertificateLine, CertificateReport};
use crate::config::{CertFiles, Settings, TlsMode};
use crate::store::Store;
use crate::store::audit::{self, Action, Actor};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("{0}")]
    BadPem(String),
    #[error("cannot make a certificate: {0}")]
    Generate(String),
    #[error("cannot read or write {path}: {source}")]
    Files { path: PathBuf, source: std::io::Error },
    #[error(
        "{path}: {message}. Fix the file (certificates.cert / certificates.key in porch.toml); a running porch picks up the fixed file by itself"
    )]
    OwnerFiles { path: PathBuf, message: String },
    #[error("the TLS configuration cannot be built: {0}")]
    Config(String),
}

/// How often the loop looks again at the names it should cover.
const NAMES_EVERY: Duration = Duration::from_secs(60);

/// porch's certificates and the task that keeps them fresh.
pub struct Tls {
    mode: TlsMode,
    source: String,
    pub resolver: Arc<CertResolver>,
    pub challenges: Arc<Challenges>,
    report: Mutex<CertificateReport>,
    renew: Notify,
    store: Store,
}

impl Tls {
    /// Loads or makes the first certificates and starts keeping them fresh.
    /// `files` and `self-signed` fail here if they cannot serve at all; ACME
    /// starts without a certificate and gets one in the background.
    pub async fn start(settings: &Settings, store: &Store, zone: Option<Arc<Zone>>) -> Result<Arc<Tls>, TlsError> {
        let resolver = Arc::new(CertResolver::default());
        let challenges = Arc::new(Challenges::new(resolver.clone(), zone));
        let source = match (settings.tls, &settings.cert_files) {
            (TlsMode::SelfSigned, _) => LocalCa::new(&settings.data_dir).cert_path().display().to_string(),
            (TlsMode::Files, Some(files)) => format!("{} and {}", files.cert.display(), files.key.display()),
            (TlsMode::Acme, _) => settings.acme.directory.clone(),
            _ => String::new(),
        };
        let tls = Arc::new(Tls {
            mode: settings.tls,
            source,
            resolver,
            challenges,
            report: Mutex::new(CertificateReport::default()),
            renew: Notify::new(),
            store: store.clone(),
        });
        match (settings.tls, &settings.cert_files) {
            (TlsMode::SelfSigned, _) => {
                let local = Renewer::Local {
                    ca: LocalCa::new(&settings.data_dir),
                    domain: settings.domain.clone(),
                    store: store.clone(),
                };
                let names = local.wanted().await;
                let served = local.obtain(&names).await.map_err(TlsError::Generate)?;
                tls.install(served.0);
                tokio::spawn(renewal_loop(tls.clone(), local));
            }
            (TlsMode::Files, Some(files)) => {
                let served = read_owner_files(files)?;
                tls.install(served);
                tokio::spawn(watch_files(tls.clone(), files.clone()));
            }
            (TlsMode::Acme, _) => {
                let client = AcmeClient::new(
                    settings.acme.clone(),
                    settings.domain.clone(),
                    &settings.data_dir,
                    store.clone(),
                    tls.challenges.clone(),
                    settings.http_listen.is_some(),
                );
                if let Some(saved) = client.saved() {
                    tracing::info!(names = ?saved.info.names, "serving the saved certificate");
                    tls.install(saved);
                }
                tokio::spawn(renewal_loop(tls.clone(), Renewer::Acme(Box::new(client))));
            }
            _ => {}
        }
        Ok(tls)
    }

    /// The rustls server configurations around this resolver, one per
    /// cipher-suite preference ([`ServerTls`]).
    pub fn server_tls(&self) -> Result<Arc<ServerTls>, TlsError> {
        let server = ServerTls::new(|provider| {
            let mut config = ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(|e| TlsError::Config(e.to_string()))?
                .with_no_client_auth()
                .with_cert_resolver(self.resolver.clone());
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
            config.ticketer =
                rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| TlsError::Config(e.to_string()))?;
            Ok(config)
        })?;
        Ok(Arc::new(server))
    }

    fn install(&self, served: Served) {
        let line = CertificateLine {
            names: served.info.names.clone(),
            issuer: served.info.issuer.clone(),
            not_after: served.info.not_after,
        };
        self.resolver.install(vec![served]);
        self.update(|r| r.certificates = vec![line]);
    }

    fn update(&self, change: impl FnOnce(&mut CertificateReport)) {
        change(&mut self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    fn current(&self) -> Option<Served> {
        self.resolver.current().first().cloned()
    }
}

impl Tls {
    /// What the admin page shows: the certificates served, the next and the
    /// last renewal.
    pub fn report(&self) -> CertificateReport {
        let mut report = self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        report.mode = self.mode.as_str().to_owned();
        report.source = self.source.clone();
        report
    }

    /// Asks the renewal loop to renew now.
    pub fn renew_now(&self) {
        self.renew.notify_one();
    }
}

/// Where renewed certificates come from.
enum Renewer {
    Local { ca: LocalCa, domain: String, store: Store },
    Acme(Box<AcmeClient>),
}

impl Renewer {
    async fn wanted(&self) -> Vec<String> {
        match self {
            Renewer::Local { domain, store, .. } => {
                let mut names = vec![domain.clone(), format!("*.{domain}")];
                names.extend(app_hosts(store, domain).await);
                names
            }
            Renewer::Acme(client) => client.wanted().await,
        }
    }

    async fn obtain(&self, names: &[String]) -> Result<(Served, &'static str), String> {
        match self {
            Renewer::Local { ca, domain, .. } => {
                ca.issue(domain, names).map(|s| (s, "local CA")).map_err(|e| e.to_string())
            }
            Renewer::Acme(client) => client.obtain(names).await.map(|(s, m)| (s, m.as_str())),
        }
    }

    /// When `served` should be renewed.
    async fn due(&self, served: &Served, rng: &mut impl rand::Rng) -> i64 {
        let by_age = schedule::renew_at(served.info.not_before, served.info.not_after, rng);
        if let Renewer::Acme(client) = self
            && let Some((start, end)) = client.suggested_window(served).await
        {
            return schedule::in_window(start, end, rng);
        }
        by_age
    }

    fn audited(&self) -> bool {
        matches!(self, Renewer::Acme(_))
    }
}

/// `<app>.<domain>` for every installed app: names a certificate without a
/// wildcard must list.
pub async fn app_hosts(store: &Store, domain: &str) -> Vec<String> {
    match store.apps().await {
        Ok(apps) => apps.into_iter().map(|a| format!("{}.{domain}", a.id)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list apps for the certificate's names");
            Vec::new()
        }
    }
}

/// Renews certificates when they are due, when the names they must cover
/// change, or when the owner asks; backs off after failures.
async fn renewal_loop(tls: Arc<Tls>, renewer: Renewer) {
    let mut rng = rand::rngs::StdRng::from_entropy();
    let (retry_min, retry_max) = match &renewer {
        Renewer::Acme(client) => client.retry(),
        Renewer::Local { .. } => (Duration::from_secs(60), Duration::from_secs(3600)),
    };
    let mut failures = 0u32;
    let mut retry_at = 0i64;
    let mut forced = false;
    let mut planned: Option<(i64, i64)> = None; // (for certificate not_after, due)
    loop {
        let wanted = renewer.wanted().await;
        let current = tls.current();
        let due = match &current {
            _ if forced => now(),
            Some(served) if wanted.iter().all(|n| served.info.covers(n)) => match planned {
                Some((for_cert, due)) if for_cert == served.info.not_after => due,
                _ => {
                    let due = renewer.due(served, &mut rng).await;
                    planned = Some((served.info.not_after, due));
                    due
                }
            },
            _ => now(),
        };
        let due = due.max(retry_at);
        tls.update(|r| r.next_renewal = Some(due));
        let wait = Duration::from_secs(u64::try_from(due - now()).unwrap_or(0));
        if !wait.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(wait.min(NAMES_EVERY)) => continue,
                () = tls.renew.notified() => {
                    // The owner asked: try at once, then back off as usual.
                    forced = true;
                    retry_at = 0;
                    continue;
                }
            }
        }
        let started = now();
        match renewer.obtain(&wanted).await {
            Ok((served, how)) => {
                // A renewal the owner asked for stays asked for (retried with
                // backoff) until one succeeds.
                forced = false;
                failures = 0;
                retry_at = 0;
                let names = served.info.names.join(", ");
                let expires = humantime::format_rfc3339_seconds(
                    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(served.info.not_after).unwrap_or(0)),
                );
                tracing::info!(names = %names, expires = %expires, via = how, "new certificate in service");
                tls.install(served);
                tls.update(|r| {
                    r.last_error = None;
                    r.failures = 0;
                    r.challenge = Some(how.to_owned());
                });
                if renewer.audited() {
                    audit::record(
                        &tls.store,
                        Actor::System,
                        Action::TlsIssued,
                        &names,
                        &format!("expires {expires}; checked with {how}"),
                    )
                    .await;
                }
            }
            Err(error) => {
                failures += 1;
                let wait = schedule::backoff(failures, retry_min, retry_max, &mut rng);
                retry_at = now() + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX / 2).max(1);
                tracing::warn!(%error, failures, retry_in = ?wait, "could not get a certificate; still serving the current one");
                tls.update(|r| {
                    r.last_error = Some((started, error.clone()));
                    r.failures = failures;
                });
                if renewer.audited() {
                    audit::record(
                        &tls.store,
                        Actor::System,
                        Action::TlsFailed,
                        &wanted.join(", "),
                        &format!("attempt {failures}; next try in {}s: {error}", wait.as_secs()),
                    )
                    .await;
                }
            }
        }
    }
}

/// Reads the owner's certificate and key files.
fn read_owner_files(files: &CertFiles) -> Result<Served, TlsError> {
    let read = |path: &PathBuf| {
        std::fs::read(path)
            .map_err(|e| TlsError::OwnerFiles { path: path.clone(), message: format!("cannot be read ({e})") })
    };
    let chain = read(&files.cert)?;
    let key = read(&files.key)?;
    super::certs::parse_pem(&chain, &key)
        .map_err(|e| TlsError::OwnerFiles { path: files.cert.clone(), message: e.to_string() })
}

/// A cheap fingerprint of both files: size and modification time.
fn stamp(files: &CertFiles) -> Option<(u64, SystemTime, u64, SystemTime)> {
    let a = std::fs::metadata(&files.cert).ok()?;
    let b = std::fs::metadata(&files.key).ok()?;
    Some((a.len(), a.modified().ok()?, b.len(), b.modified().ok()?))
}

/// Re-reads the owner's files when they change (or when asked to renew).
async fn watch_files(tls: Arc<Tls>, files: CertFiles) {
    let mut seen = stamp(&files);
    loop {
        let forced = tokio::select! {
            () = tokio::time::sleep(files.check_every) => false,
            () = tls.renew.notified() => true,
        };
        let now_stamp = stamp(&files);
        if now_stamp == seen && !forced {
            continue;
        }
        seen = now_stamp;
        match read_owner_files(&files) {
            Ok(served) => {
                let names = served.info.names.join(", ");
                tracing::info!(names = %names, "certificate files changed; serving the new certificate");
                tls.install(served);
                tls.update(|r| r.last_error = None);
                audit::record(
                    &tls.store,
                    Actor::System,
                    Action::TlsReloaded,
                    &names,
                    &files.cert.display().to_string(),
                )
                .await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the changed certificate files cannot be used; still serving the old certificate");
                tls.update(|r| r.last_error = Some((now(), e.to_string())));
            }
        }
    }
}
