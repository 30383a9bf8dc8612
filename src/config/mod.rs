//! Configuration: every key of `porch.toml` declared once in `keys.rs`
//! (typed, with its default, rule and doc), read from the file, then
//! `PORCH_*` environment variables, then command-line flags, and turned into
//! [`Settings`]: the typed sections, plus the few values made from several
//! keys (listeners resolved from `auto`, ACME, certificate files, DNS,
//! backups), checked against each other.
//!
//! A wrong key or value stops start-up with a message that names the key, the
//! value and what is allowed.

mod keys;
pub mod rules;
mod values;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use keys::{
    AcmeKeys, Activity, AppRuntime, Audit, BackupKeys, CertificateKeys, DnsKeys, Invites, KEYS, Keys, Limits, MailKeys,
    MediaLimits, MetricsKeys, Passwords, Recovery, Sessions, SigninLimits, StoreKeys, TopKeys, Uploads, rule_of,
};
pub use rules::{parse_duration, parse_size};
pub use values::{
    AcmeChallenge, AddressSource, Catalogue, ForwardedHeader, LETS_ENCRYPT, LETS_ENCRYPT_STAGING, LogFormat, MailTls,
    TlsMode,
};

/// One configuration key as `KEYS` lists it.
pub struct Key {
    /// Dotted name as written in porch.toml (`sessions.lifetime`).
    pub name: &'static str,
    pub default: &'static str,
    doc: &'static str,
    rule: &'static dyn rules::Rule,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("name", &self.name).field("default", &self.default).finish_non_exhaustive()
    }
}

impl Key {
    /// The environment variable that overrides this key: `PORCH_` and the
    /// name in upper case with dots as underscores.
    pub fn env_var(&self) -> String {
        format!("PORCH_{}", self.name.replace('.', "_").to_ascii_uppercase())
    }

    /// What the key does, one paragraph.
    pub fn doc(&self) -> &'static str {
        self.doc.trim()
    }

    /// What is allowed, written from the bounds the rule checks.
    pub fn allowed(&self) -> String {
        self.rule.allowed()
    }

    /// The rule, for tests that try every key at its edges.
    pub fn rule(&self) -> &'static dyn rules::Rule {
        self.rule
    }
}

/// Configuration problems, each naming the key and what is allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("unknown key `{key}` in {origin}. Known keys: {known}")]
    UnknownKey { key: String, origin: String, known: String },
    #[error("bad value {value:?} for `{key}` (from {origin}): allowed is {allowed}")]
    BadValue { key: &'static str, value: String, origin: String, allowed: String },
    #[error("{0}")]
    Conflict(String),
}

impl Limits {
    /// The per-client request budget (`limits.requests`, `requests_burst`).
    pub fn requests_rate(&self) -> Option<Rate> {
        self.requests.map(|period| Rate { period, burst: self.requests_burst })
    }

    /// The stricter budget for sign-in and invite links.
    pub fn door_rate(&self) -> Option<Rate> {
        self.door.map(|period| Rate { period, burst: self.door_burst })
    }

    /// The stricter budget for uploads.
    pub fn uploads_rate(&self) -> Option<Rate> {
        self.uploads.map(|period| Rate { period, burst: self.uploads_burst })
    }

    /// `form_body` as a length in memory (at most 10 MiB by its rule).
    pub fn form_body_bytes(&self) -> usize {
        usize::try_from(self.form_body).unwrap_or(usize::MAX)
    }
}

impl Passwords {
    /// Password checks that run at once: `parallel`, or the CPUs for `auto`.
    pub fn parallel_checks(&self) -> usize {
        self.parallel.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
    }
}

/// `[acme]` with its presets resolved and its pairs checked.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    /// The directory URL (presets already resolved).
    pub directory: String,
    pub challenge: AcmeChallenge,
    pub email: Option<String>,
    /// External account binding: key id and HMAC key.
    pub eab: Option<(String, Vec<u8>)>,
    pub ca_root: Option<PathBuf>,
    /// The CA's CAA domain for porch's zone, if known.
    pub caa_issuer: Option<String>,
    pub retry_min: Duration,
    pub retry_max: Duration,
}

/// `[certificates]` when `tls = "files"`: both paths are set.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub check_every: Duration,
}

/// `[dns]` when it is on: where it listens and what it may answer.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    pub listen: SocketAddr,
    pub addresses: Vec<std::net::IpAddr>,
    pub source: Option<AddressSource>,
    pub recheck: Duration,
    pub ttl: Duration,
    pub udp_rate: u32,
}

/// `[backup]` when `backup.to` is set.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub to: PathBuf,
    pub every: Duration,
    pub keep: u32,
}

/// A request rate: on average one per `period`, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub period: Duration,
    pub burst: u32,
}

/// Validated settings: the typed sections as declared, and the values made
/// from several keys. What the rest of porch reads.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// The config file read, if any (backups copy it).
    pub config_file: Option<PathBuf>,
    pub domain: String,
    /// `listen`, with `auto` resolved from `tls`.
    pub listen: SocketAddr,
    /// The plain-HTTP listener beside the TLS one (redirects, HTTP-01),
    /// with `auto` resolved from `tls`.
    pub http_listen: Option<SocketAddr>,
    pub tls: TlsMode,
    pub public_url: Option<url::Url>,
    pub log: String,
    pub log_format: LogFormat,
    /// How long audit events keep full client addresses.
    pub keep_ips: Duration,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header those proxies write the client into; the other is ignored.
    pub forwarded_header: ForwardedHeader,
    pub audit: Audit,
    pub sessions: Sessions,
    pub invites: Invites,
    pub recovery: Recovery,
    pub passwords: Passwords,
    pub limits: Limits,
    pub signin: SigninLimits,
    pub apps: AppRuntime,
    pub media: MediaLimits,
    pub uploads: Uploads,
    pub activity: Activity,
    /// Set when `mail.host` is (and then `mail.from` is too).
    pub mail: Option<MailKeys>,
    pub store: StoreKeys,
    pub acme: AcmeSettings,
    /// Set exactly when `tls` is `files`.
    pub cert_files: Option<CertFiles>,
    /// Set when `dns.listen` is on.
    pub dns: Option<DnsSettings>,
    /// Scheduled backups, when `backup.to` is set.
    pub backup: Option<BackupSettings>,
    /// The Prometheus listener; `None` is off.
    pub metrics_listen: Option<SocketAddr>,
}

impl Settings {
    /// The origin people reach porch at, given the address actually bound
    /// (which differs from `listen` when its port is 0).
    pub fn base_url(&self, bound: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.as_str().trim_end_matches('/').to_owned();
        }
        let scheme = if self.tls == TlsMode::Off { "http" } else { "https" };
        let default_port = if self.tls == TlsMode::Off { 80 } else { 443 };
        if bound.port() == default_port {
            format!("{scheme}://{}", self.domain)
        } else {
            format!("{scheme}://{}:{}", self.domain, bound.port())
        }
    }

    /// Whether cookies must be `Secure` (and `__Host-` named).
    pub fn secure_cookies(&self) -> bool {
        self.tls != TlsMode::Off || self.public_url.as_ref().is_some_and(|u| u.scheme() == "https")
    }

    /// Settings from the declared defaults alone (tests and tools).
    pub fn defaults() -> Result<Settings, ConfigError> {
        resolve(None, &BTreeMap::new(), &Overrides::default())
    }

    /// Checks the keys against each other and makes the derived values.
    fn from_keys(keys: Keys) -> Result<Settings, ConfigError> {
        let top = keys.top;
        let tls_on = top.tls != TlsMode::Off;
        let listen = top.listen.unwrap_or(if tls_on {
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 443))
        } else {
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let http_listen = match top.http_listen {
            None if tls_on => Some(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 80))),
            None => None,
            Some(set) => set,
        };
        let acme = acme(keys.acme)?;
        let cert_files = cert_files(keys.certificates, top.tls)?;
        let dns = dns(keys.dns)?;
        if top.tls == TlsMode::Acme && (top.domain == "localhost" || top.domain.ends_with(".localhost")) {
            return Err(ConfigError::Conflict(format!(
                "tls = \"acme\" needs the public domain name people will use, but domain is {:?}. Set domain = \"family.example\" (your name), or use tls = \"self-signed\" on a LAN",
                top.domain
            )));
        }
        if top.tls == TlsMode::Acme && acme.challenge == AcmeChallenge::Dns01 && dns.is_none() {
            return Err(ConfigError::Conflict(
                "acme.challenge = \"dns-01\" works through porch's own DNS zone, but [dns] listen is off. Set dns.listen (and delegate the domain to this box), or pick another challenge".into(),
            ));
        }
        if top.tls == TlsMode::Acme && acme.challenge == AcmeChallenge::Http01 && http_listen.is_none() {
            return Err(ConfigError::Conflict(
                "acme.challenge = \"http-01\" needs the plain-HTTP listener, but http_listen is off. Set http_listen = \"[::]:80\" or pick another challenge".into(),
            ));
        }
        let signin = keys.signin;
        if signin.block_after <= signin.free_failures {
            return Err(ConfigError::Conflict(format!(
                "signin.block_after ({}) must be larger than signin.free_failures ({}): a client is slowed down first, then blocked",
                signin.block_after, signin.free_failures
            )));
        }
        let mail = match (&keys.mail.host, &keys.mail.from) {
            (None, _) => None,
            (Some(_), Some(_)) => Some(keys.mail),
            (Some(_), None) => {
                return Err(ConfigError::Conflict(
                    "mail.host is set but mail.from is empty: set mail.from to the address digests come from, such as porch@family.example".into(),
                ));
            }
        };
        let backup = keys.backup;
        Ok(Settings {
            data_dir: top.data_dir,
            config_file: None,
            domain: top.domain,
            listen,
            http_listen,
            tls: top.tls,
            public_url: top.public_url,
            log: top.log,
            log_format: top.log_format,
            keep_ips: top.keep_ips,
            trusted_proxies: top.trusted_proxies,
            forwarded_header: top.forwarded_header,
            audit: keys.audit,
            sessions: keys.sessions,
            invites: keys.invites,
            recovery: keys.recovery,
            passwords: keys.passwords,
            limits: keys.limits,
            signin,
            apps: keys.apps,
            media: keys.media,
            uploads: keys.uploads,
            activity: keys.activity,
            mail,
            store: keys.store,
            acme,
            cert_files,
            dns,
            backup: backup.to.map(|to| BackupSettings { to, every: backup.every, keep: backup.keep }),
            metrics_listen: keys.metrics.listen,
        })
    }
}

fn acme(keys: AcmeKeys) -> Result<AcmeSettings, ConfigError> {
    let lets_encrypt = keys.directory == LETS_ENCRYPT || keys.directory == LETS_ENCRYPT_STAGING;
    let eab = match (keys.eab_kid.is_empty(), keys.eab_hmac_key.is_empty()) {
        (true, true) => None,
        (false, false) => Some((keys.eab_kid, keys.eab_hmac_key)),
        _ => {
            return Err(ConfigError::Conflict(
                "acme.eab_kid and acme.eab_hmac_key go together: set both (from your CA) or neither".into(),
            ));
        }
    };
    Ok(AcmeSettings {
        directory: keys.directory,
        challenge: keys.challenge,
        email: keys.email,
        eab,
        ca_root: keys.ca_root,
        caa_issuer: keys.caa_issuer.or_else(|| lets_encrypt.then(|| "letsencrypt.org".to_owned())),
        retry_min: keys.retry_min,
        retry_max: keys.retry_max.max(keys.retry_min),
    })
}

fn cert_files(keys: CertificateKeys, tls: TlsMode) -> Result<Option<CertFiles>, ConfigError> {
    if tls != TlsMode::Files {
        return Ok(None);
    }
    match (keys.cert, keys.key) {
        (Some(cert), Some(key)) => Ok(Some(CertFiles { cert, key, check_every: keys.check_every })),
        _ => Err(ConfigError::Conflict(
            "tls = \"files\" needs certificates.cert and certificates.key: the paths of your PEM certificate chain and private key".into(),
        )),
    }
}

fn dns(keys: DnsKeys) -> Result<Option<DnsSettings>, ConfigError> {
    let Some(listen) = keys.listen else { return Ok(None) };
    if keys.address.is_empty() && keys.address_source.is_none() {
        return Err(ConfigError::Conflict(
            "[dns] is on but porch has no address to give: set dns.address (such as \"203.0.113.7\") or dns.address_source (interface:eth0, or a URL that answers with your address)".into(),
        ));
    }
    Ok(Some(DnsSettings {
        listen,
        addresses: keys.address,
        source: keys.address_source,
        recheck: keys.recheck,
        ttl: keys.ttl,
        udp_rate: keys.udp_rate,
    }))
}

/// Values given on the command line; they win over the file and environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub domain: Option<String>,
    pub listen: Option<String>,
    pub tls: Option<String>,
}

/// A raw value and where it came from, for error messages.
struct Raw {
    value: String,
    origin: String,
}

/// The raw values by key name, read by the generated sections.
pub(crate) struct Reader {
    raw: BTreeMap<&'static str, Raw>,
}

impl Reader {
    /// A reader with nothing set: every key at its default.
    fn defaults() -> Reader {
        Reader { raw: BTreeMap::new() }
    }

    /// Parses one key with its rule; a failure names the key, value and
    /// what is allowed.
    fn read<P: rules::Parse>(
        &self,
        name: &'static str,
        default: &'static str,
        rule: &P,
    ) -> Result<P::Out, ConfigError> {
        let (value, origin) = match self.raw.get(name) {
            Some(raw) => (raw.value.as_str(), raw.origin.as_str()),
            None => (default, "the default"),
        };
        rule.parse(value.trim()).ok_or_else(|| ConfigError::BadValue {
            key: name,
            value: value.to_owned(),
            origin: origin.to_owned(),
            allowed: rule.allowed(),
        })
    }
}

/// Loads settings: defaults, then the file (if any), then environment
/// variables, then flags. `config` is the file named with `--config`; without
/// it `./porch.toml` is read when it exists.
pub fn load(config: Option<&Path>, overrides: &Overrides) -> Result<Settings, ConfigError> {
    let env: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("PORCH_")).collect();
    let path = match config {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from("porch.toml")).filter(|p| p.is_file()),
    };
    let text = match &path {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.clone(), source })?),
        None => None,
    };
    let mut settings = resolve(path.as_deref().zip(text.as_deref()), &env, overrides)?;
    settings.config_file = path.and_then(|p| std::path::absolute(p).ok());
    Ok(settings)
}

/// The pure part of [`load`]: everything comes in as arguments.
pub fn resolve(
    file: Option<(&Path, &str)>,
    env: &BTreeMap<String, String>,
    overrides: &Overrides,
) -> Result<Settings, ConfigError> {
    let mut raw: BTreeMap<&'static str, Raw> = BTreeMap::new();
    if let Some((path, text)) = file {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax { path: path.to_path_buf(), message: e.to_string() })?;
        let origin = path.display().to_string();
        flatten(&table, "", &origin, &mut raw)?;
    }
    for (var, value) in env {
        let key = KEYS.iter().find(|k| &k.env_var() == var).ok_or_else(|| ConfigError::UnknownKey {
            key: var.clone(),
            origin: "the environment".into(),
            known: KEYS.iter().map(Key::env_var).collect::<Vec<_>>().join(", "),
        })?;
        raw.insert(key.name, Raw { value: value.clone(), origin: format!("environment variable {var}") });
    }
    let flags = [
        (keys::names::top::data_dir, overrides.data_dir.as_ref().map(|p| p.display().to_string()), "--data"),
        (keys::names::top::domain, overrides.domain.clone(), "--domain"),
        (keys::names::top::listen, overrides.listen.clone(), "--listen"),
        (keys::names::top::tls, overrides.tls.clone(), "--tls"),
    ];
    for (name, value, flag) in flags {
        if let Some(value) = value {
            raw.insert(name, Raw { value, origin: format!("flag {flag}") });
        }
    }
    Settings::from_keys(Keys::read(&Reader { raw })?)
}

fn flatten(
    table: &toml::Table,
    prefix: &str,
    origin: &str,
    out: &mut BTreeMap<&'static str, Raw>,
) -> Result<(), ConfigError> {
    for (k, v) in table {
        let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        if let toml::Value::Table(inner) = v
            && KEYS.iter().any(|key| key.name.starts_with(&format!("{name}.")))
        {
            flatten(inner, &name, origin, out)?;
            continue;
        }
        let Some(key) = KEYS.iter().find(|key| key.name == name) else {
            return Err(ConfigError::UnknownKey {
                key: name,
                origin: origin.to_owned(),
                known: KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", "),
            });
        };
        let value = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => other.to_string(),
        };
        out.insert(key.name, Raw { value, origin: origin.to_owned() });
    }
    Ok(())
}

/// The commented porch.toml that `porch init` writes: every key, its doc,
/// what is allowed, and its default (commented out so defaults can evolve).
pub fn example_file() -> String {
    let mut out = String::from("# porch.toml: every key is optional; the value shown is the default.\n");
    let mut section = "";
    for key in KEYS {
        let (sect, leaf) = key.name.rsplit_once('.').unwrap_or(("", key.name));
        if sect != section {
            out.push_str(&format!("\n[{sect}]\n"));
            section = sect;
        } else {
            out.push('\n');
        }
        out.push_str(&format!("# {}\n# Allowed: {}. Environment: {}.\n", key.doc(), key.allowed(), key.env_var()));
        let value = if key.default.chars().all(|c| c.is_ascii_digit()) && !key.default.is_empty() {
            key.default.to_owned()
        } else {
            format!("{:?}", key.default)
        };
        out.push_str(&format!("# {leaf} = {value}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_file(text: &str) -> Result<Settings, ConfigError> {
        resolve(Some((Path::new("porch.toml"), text)), &BTreeMap::new(), &Overrides::default())
    }

    #[test]
    fn defaults_are_valid() {
        let s = resolve(None, &BTreeMap::new(), &Overrides::default()).expect("defaults");
        assert_eq!(s.domain, "localhost");
        assert_eq!(s.sessions.lifetime, Duration::from_secs(90 * 86400));
        // Each section's Default is the same declared defaults.
        assert_eq!(s.limits, Limits::default());
        assert_eq!(s.signin, SigninLimits::default());
        assert_eq!(s.media, MediaLimits::default());
        assert_eq!(s.base_url("127.0.0.1:8080".parse().expect("addr")), "http://localhost:8080");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = from_file("[sessions]\nlifetim = \"3d\"\n").expect_err("unknown");
        let msg = err.to_string();
        assert!(msg.contains("sessions.lifetim") && msg.contains("sessions.lifetime"), "{msg}");
    }

    #[test]
    fn bad_value_names_key_value_and_rule() {
        let msg = from_file("passwords.min_length = 4").expect_err("too short").to_string();
        assert!(msg.contains("passwords.min_length") && msg.contains("\"4\"") && msg.contains("10 to 128"), "{msg}");
        let msg = from_file("listen = \"nowhere\"").expect_err("bad addr").to_string();
        assert!(msg.contains("`listen`") && msg.contains("nowhere"), "{msg}");
    }

    #[test]
    fn env_and_flags_override_in_order() {
        let env = BTreeMap::from([("PORCH_DOMAIN".to_owned(), "env.example".to_owned())]);
        let s = resolve(Some((Path::new("f"), "domain = \"file.example\"")), &env, &Overrides::default()).expect("env");
        assert_eq!(s.domain, "env.example");
        let flags = Overrides { domain: Some("flag.example".into()), ..Overrides::default() };
        let s = resolve(Some((Path::new("f"), "domain = \"file.example\"")), &env, &flags).expect("flag");
        assert_eq!(s.domain, "flag.example");
    }

    #[test]
    fn unknown_env_var_is_refused() {
        let env = BTreeMap::from([("PORCH_DOMIAN".to_owned(), "x".to_owned())]);
        assert!(resolve(None, &env, &Overrides::default()).is_err());
    }

    #[test]
    fn example_file_parses_to_defaults_when_uncommented() {
        let uncommented: String = example_file()
            .lines()
            .map(|l| if l.starts_with("# ") && l.contains(" = ") { &l[2..] } else { l })
            .collect::<Vec<_>>()
            .join("\n");
        from_file(&uncommented).expect("example file is valid");
    }

    #[test]
    fn sizes_and_durations_at_their_edges() {
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("12XB"), None);
        assert!(from_file("limits.form_body = \"1023\"").is_err());
        assert!(from_file("limits.form_body = \"1KiB\"").is_ok());
        assert!(from_file("[sessions]\nlifetime = \"59m\"").is_err());
        assert!(from_file("[sessions]\nlifetime = \"1h\"").is_ok());
    }

    #[test]
    fn rates_limits_and_proxies_at_their_edges() {
        let s = from_file("[limits]\nrequests = \"off\"\ndoor = \"3/h\"\ndoor_burst = 2").expect("valid");
        assert_eq!(s.limits.requests_rate(), None);
        assert_eq!(s.limits.door_rate(), Some(Rate { period: Duration::from_secs(1200), burst: 2 }));
        assert!(from_file("[limits]\nconnections = 15").is_err());
        assert!(from_file("[limits]\nidle_timeout = \"0s\"").is_err());
        assert!(from_file("[signin]\nfree_failures = 5\nblock_after = 5").is_err());
        let s = from_file("trusted_proxies = \"127.0.0.1, 10.0.0.0/8, ::1\"").expect("valid");
        assert_eq!(s.trusted_proxies.len(), 3);
        assert!(s.trusted_proxies[1].contains(&"10.1.2.3".parse::<std::net::IpAddr>().expect("ip")));
        assert!(from_file("trusted_proxies = \"10.0.0.0/33\"").is_err());
    }

    /// Every key, set alone in a file, at the values just inside its bounds
    /// (accepted) and just outside (refused with a message naming it), so
    /// each limit is tested at its edge and its documented range is the
    /// one enforced.
    #[test]
    fn every_key_at_its_edges() {
        // Keys whose edges would break a rule between keys get a partner.
        let partner = |name: &str| match name {
            "signin.free_failures" => "\n[signin]\nblock_after = 100000\n",
            "signin.block_after" => "\n[signin]\nfree_failures = 1\n",
            _ => "",
        };
        let mut tried = 0;
        for key in KEYS {
            let edges = key.rule().edges();
            for (value, accept) in
                edges.accepted.iter().map(|v| (v, true)).chain(edges.refused.iter().map(|v| (v, false)))
            {
                let (sect, leaf) = key.name.rsplit_once('.').unwrap_or(("", key.name));
                let mut text = if sect.is_empty() {
                    format!("{leaf} = {value:?}\n")
                } else {
                    format!("[{sect}]\n{leaf} = {value:?}\n")
                };
                let extra = partner(key.name);
                if !extra.is_empty() {
                    text = format!("{}{}", text, extra.replace("[signin]\n", ""));
                }
                let parsed = key.rule().accepts(value);
                assert_eq!(parsed, accept, "{} = {value:?}: rule says {parsed}, edges say {accept}", key.name);
                match from_file(&text) {
                    Ok(_) => assert!(accept, "{} = {value:?} was accepted; allowed is {}", key.name, key.allowed()),
                    Err(ConfigError::BadValue { key: k, allowed, .. }) => {
                        assert!(!accept, "{} = {value:?} was refused", key.name);
                        assert_eq!(k, key.name);
                        assert_eq!(allowed, key.allowed());
                    }
                    // The value itself was read; it clashed with another
                    // key's default (tls = "files" without file paths).
                    Err(ConfigError::Conflict(_)) => assert!(accept, "{} = {value:?}", key.name),
                    Err(other) => panic!("{} = {value:?}: {other}", key.name),
                }
                tried += 1;
            }
        }
        assert!(tried > 150, "only {tried} edge values tried");
    }

    #[test]
    fn every_declared_default_is_allowed_and_documented() {
        for key in KEYS {
            assert!(key.rule().accepts(key.default), "{} default {:?} is not allowed", key.name, key.default);
            assert!(key.doc().len() > 10 && !key.doc().contains("  "), "{} has no doc: {:?}", key.name, key.doc());
            assert!(!key.allowed().is_empty());
        }
        let names: std::collections::BTreeSet<_> = KEYS.iter().map(|k| k.name).collect();
        assert_eq!(names.len(), KEYS.len(), "a key is declared twice");
        assert_eq!(keys::names::limits::in_flight, "limits.in_flight");
        assert_eq!(keys::names::top::data_dir, "data_dir");
    }
}
