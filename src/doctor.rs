//! `porch doctor`: checks what usually goes wrong when a box meets the
//! internet and says, in plain words, what to do about each problem: the
//! clock, the data folder and database, whether porch answers on its ports,
//! whether the domain resolves to this box (and is delegated to it when
//! porch serves DNS), and the certificates' expiry and renewal.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;

use crate::common::clock::now;
use crate::config::{Settings, TlsMode};
use crate::edge::acme::schedule;
use crate::edge::certs::{self, CertInfo};
use crate::store::Store;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Warn,
    Fail,
    Skipped,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub outcome: Outcome,
    pub what: String,
    /// What was found, and for problems what to do.
    pub detail: String,
}

impl Check {
    fn new(outcome: Outcome, what: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { outcome, what: what.into(), detail: detail.into() }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = match self.outcome {
            Outcome::Ok => "ok  ",
            Outcome::Warn => "WARN",
            Outcome::Fail => "FAIL",
            Outcome::Skipped => "skip",
        };
        write!(f, "{mark} {}: {}", self.what, self.detail)
    }
}

/// Runs every check.
pub async fn run(settings: &Settings) -> Vec<Check> {
    let mut checks = vec![clock(), data_folder(settings)];
    checks.push(database(settings).await);
    checks.extend(ports(settings).await);
    checks.extend(names(settings).await);
    checks.push(certificate(settings));
    checks.extend(media(settings));
    checks
}

/// The media jail works here, and which decoders it has: without them
/// HEIC/AVIF pictures are refused and videos get no poster.
fn media(settings: &Settings) -> Vec<Check> {
    use crate::media::jail;
    let limits = &settings.media;
    let mut checks = vec![match jail::self_test(limits) {
        Ok(()) => Check::new(Outcome::Ok, "media jail", "decoders run limited, with no network"),
        Err(e) => Check::new(Outcome::Fail, "media jail", format!("{e}; HEIC pictures and video posters will fail")),
    }];
    let decoders = [
        (&limits.heif_decoder, "HEIC and AVIF pictures are refused"),
        (&limits.ffprobe, "videos are kept without their length or poster"),
        (&limits.ffmpeg, "videos are kept without a poster"),
    ];
    for (program, without) in decoders {
        let what = format!("decoder {}", program.display());
        checks.push(match jail::resolve(program) {
            Ok(path) => Check::new(Outcome::Ok, what, format!("found at {}", path.display())),
            Err(_) => {
                Check::new(Outcome::Warn, what, format!("not installed, so {without}: {}", jail::install_hint(program)))
            }
        });
    }
    checks
}

fn clock() -> Check {
    // 2025-01-01: porch did not exist before, so an earlier clock is wrong.
    let t = now();
    if !(1_735_689_600..4_102_444_800).contains(&t) {
        return Check::new(
            Outcome::Fail,
            "clock",
            format!(
                "the system clock says {t} (unix seconds), which cannot be right. Certificates look invalid with a wrong clock: turn on time sync (`timedatectl set-ntp true`)"
            ),
        );
    }
    Check::new(Outcome::Ok, "clock", format!("{}", humantime::format_rfc3339_seconds(std::time::SystemTime::now())))
}

fn data_folder(settings: &Settings) -> Check {
    let dir = &settings.data_dir;
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    let result = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b"probe"))
        .and_then(|()| std::fs::remove_file(&probe));
    match result {
        Ok(()) => Check::new(Outcome::Ok, "data folder", format!("{} is writable", dir.display())),
        Err(e) => Check::new(
            Outcome::Fail,
            "data folder",
            format!(
                "cannot write in {}: {e}. Check its owner (porch's user must own it) and that the disk is not full or read-only",
                dir.display()
            ),
        ),
    }
}

async fn database(settings: &Settings) -> Check {
    let store = match Store::open(&settings.data_dir).await {
        Ok(store) => store,
        Err(e) => return Check::new(Outcome::Fail, "database", e.to_string()),
    };
    let result = store.integrity_check().await;
    store.close().await;
    match result {
        Ok(answer) if answer == "ok" => Check::new(Outcome::Ok, "database", "SQLite integrity check passed"),
        Ok(answer) => Check::new(
            Outcome::Fail,
            "database",
            format!("SQLite reports damage: {answer}. Stop porch and restore the latest backup"),
        ),
        Err(e) => Check::new(Outcome::Fail, "database", e.to_string()),
    }
}

/// Where to knock to reach a listener on this box.
fn local(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(v6) if v6.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        _ => addr,
    }
}

async fn ports(settings: &Settings) -> Vec<Check> {
    let mut wanted = vec![(settings.listen, if settings.tls == TlsMode::Off { "HTTP" } else { "HTTPS" })];
    if settings.tls != TlsMode::Off
        && let Some(http) = settings.http_listen
    {
        wanted.push((http, "HTTP (redirects, ACME)"));
    }
    if let Some(dns) = &settings.dns {
        wanted.push((dns.listen, "DNS over TCP"));
    }
    let mut checks = Vec::new();
    for (addr, what) in wanted {
        let target = local(addr);
        let what = format!("{what} port {}", addr.port());
        match tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(target)).await {
            Ok(Ok(_)) => checks.push(Check::new(Outcome::Ok, what, format!("{target} answers"))),
            _ => checks.push(Check::new(
                Outcome::Fail,
                what,
                format!("nothing answers on {target}. Is porch running (`systemctl status porch`)? If it is, look at its log for a \"cannot listen\" message"),
            )),
        }
    }
    checks
}

/// The addresses this box believes are its public ones.
async fn expected_addresses(settings: &Settings) -> Vec<IpAddr> {
    if let Some(dns) = &settings.dns {
        if !dns.addresses.is_empty() {
            return dns.addresses.clone();
        }
        if let Some(source) = &dns.source
            && let Ok(found) = crate::edge::dns::address::discover(source).await
        {
            return found;
        }
    }
    if_addrs::get_if_addrs().map(|all| all.into_iter().map(|i| i.ip()).collect()).unwrap_or_default()
}

async fn names(settings: &Settings) -> Vec<Check> {
    let domain = &settings.domain;
    if domain == "localhost" || domain.ends_with(".localhost") {
        return vec![Check::new(
            Outcome::Skipped,
            "domain",
            format!("{domain} is local only; set domain to your own name to serve the internet"),
        )];
    }
    let resolver = match hickory_resolver::Resolver::builder_tokio().and_then(|b| b.build()) {
        Ok(r) => r,
        Err(e) => {
            return vec![Check::new(
                Outcome::Fail,
                "domain",
                format!("cannot read the system's DNS settings (/etc/resolv.conf): {e}"),
            )];
        }
    };
    let mut checks = Vec::new();
    let expected = expected_addresses(settings).await;
    let fqdn = format!("{domain}.");
    match resolver.lookup_ip(fqdn.as_str()).await {
        Ok(found) => {
            let found: Vec<IpAddr> = found.iter().collect();
            let list = found.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            if found.iter().any(|ip| expected.contains(ip)) {
                checks.push(Check::new(Outcome::Ok, "domain", format!("{domain} resolves to {list}, an address of this box")));
            } else {
                let mine = expected.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                checks.push(Check::new(
                    Outcome::Warn,
                    "domain",
                    format!("{domain} resolves to {list}, but this box's addresses are {mine}. Behind a home router that is expected: forward ports 80 and 443 (and 53 with [dns]) from the router to this box. Otherwise point the name's A/AAAA records here"),
                ));
            }
        }
        Err(e) => checks.push(Check::new(
            Outcome::Fail,
            "domain",
            format!("{domain} does not resolve ({e}). Add A/AAAA records at your DNS provider, or delegate the domain to porch ([dns])"),
        )),
    }
    if settings.dns.is_some() {
        let ns = format!("ns1.{domain}");
        match resolver.lookup(fqdn.as_str(), hickory_proto::rr::RecordType::NS).await {
            Ok(lookup) => {
                let servers: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        hickory_proto::rr::RData::NS(name) => Some(name.0.to_ascii().trim_end_matches('.').to_owned()),
                        _ => None,
                    })
                    .collect();
                if servers.iter().any(|s| s.eq_ignore_ascii_case(&ns)) {
                    checks.push(Check::new(Outcome::Ok, "delegation", format!("{domain} is delegated to {ns}")));
                } else {
                    checks.push(Check::new(
                        Outcome::Fail,
                        "delegation",
                        format!("{domain} is delegated to {} rather than {ns}. At your registrar, set the nameserver to {ns} with a glue record giving this box's public address", servers.join(", ")),
                    ));
                }
            }
            Err(e) => checks.push(Check::new(
                Outcome::Fail,
                "delegation",
                format!("cannot find who serves {domain} ({e}). At your registrar, set the nameserver to {ns} with a glue record giving this box's public address"),
            )),
        }
    }
    checks
}

/// In self-signed mode porch issues its server certificate from the local CA
/// at every start and renews it itself; what can go wrong is the CA.
fn local_ca(settings: &Settings) -> Check {
    let ca = crate::edge::local_ca::LocalCa::new(&settings.data_dir);
    let Ok(pem) = std::fs::read(ca.cert_path()) else {
        return Check::new(
            Outcome::Warn,
            "certificate",
            "no local CA yet: porch makes one when it starts (then `porch tls export-ca`)",
        );
    };
    let info = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| "the local CA file holds no certificate".to_owned())
        .and_then(|der| certs::leaf_info(&der).map_err(|e| e.to_string()));
    match info {
        Ok(info) if info.not_after > now() => Check::new(
            Outcome::Ok,
            "certificate",
            format!(
                "local CA {} valid until {}; porch issues and renews its own certificate from it",
                ca.cert_path().display(),
                when(info.not_after)
            ),
        ),
        Ok(info) => Check::new(
            Outcome::Fail,
            "certificate",
            format!(
                "the local CA expired {}. Move {} away and restart porch to make a new one, then share it again with `porch tls export-ca`",
                when(info.not_after),
                ca.cert_path().display()
            ),
        ),
        Err(e) => Check::new(
            Outcome::Fail,
            "certificate",
            format!("{e}; move {} away and restart porch", ca.cert_path().display()),
        ),
    }
}

fn when(t: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0)))
        .to_string()
}

/// The certificate porch would serve, read from disk.
fn certificate(settings: &Settings) -> Check {
    let info: Result<Option<CertInfo>, String> = match settings.tls {
        TlsMode::Off => return Check::new(Outcome::Skipped, "certificate", "tls = \"off\": porch serves plain HTTP"),
        TlsMode::SelfSigned => return local_ca(settings),
        TlsMode::Files => match &settings.cert_files {
            Some(files) => match (std::fs::read(&files.cert), std::fs::read(&files.key)) {
                (Ok(chain), Ok(key)) => certs::parse_pem(&chain, &key).map(|s| Some(s.info)).map_err(|e| e.to_string()),
                (Err(e), _) | (_, Err(e)) => Err(format!("cannot read the certificate files: {e}")),
            },
            None => Ok(None),
        },
        TlsMode::Acme => {
            let path = crate::edge::acme::saved_certificate_path(&settings.data_dir, &settings.acme.directory);
            std::fs::read(&path)
                .ok()
                .map_or(Ok(None), |pem| certs::parse_pem(&pem, &pem).map(|s| Some(s.info)).map_err(|e| e.to_string()))
        }
    };
    match info {
        Err(e) => Check::new(Outcome::Fail, "certificate", e),
        Ok(None) => Check::new(
            Outcome::Warn,
            "certificate",
            "porch has no certificate yet. Start porch; with acme it asks the CA once the domain and ports above are right",
        ),
        Ok(Some(info)) => {
            let when = |t: i64| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0)),
                )
                .to_string()
            };
            let renew = schedule::renew_at(info.not_before, info.not_after, &mut rand::thread_rng());
            let names = info.names.join(", ");
            if info.not_after <= now() {
                Check::new(
                    Outcome::Fail,
                    "certificate",
                    format!(
                        "the certificate for {names} expired {}. Look at the admin page's Certificates tab for the last error",
                        when(info.not_after)
                    ),
                )
            } else if info.not_before > now() {
                Check::new(
                    Outcome::Fail,
                    "certificate",
                    format!(
                        "the certificate for {names} is not valid until {}: this box's clock is behind",
                        when(info.not_before)
                    ),
                )
            } else {
                let renews = if settings.tls == TlsMode::Files {
                    "you renew it (porch reloads changed files)".to_owned()
                } else {
                    format!("renews around {}", when(renew))
                };
                Check::new(
                    Outcome::Ok,
                    "certificate",
                    format!("{names}, valid until {}; {renews}", when(info.not_after)),
                )
            }
        }
    }
}
