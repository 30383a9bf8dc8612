//! Configuration: every key of `porch.toml` declared once (with its default,
//! what is allowed and what it does), read in two stages: raw text values
//! from the file, then `PORCH_*` environment variables, then command-line
//! flags, and finally validated into [`Settings`].
//!
//! A wrong key or value stops start-up with a message that names the key, the
//! value and what is allowed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One configuration key, declared once.
#[derive(Debug)]
pub struct Key {
    /// Dotted name as written in porch.toml (`sessions.lifetime`).
    pub name: &'static str,
    pub default: &'static str,
    pub allowed: &'static str,
    pub doc: &'static str,
}

impl Key {
    /// The environment variable that overrides this key: `PORCH_` and the
    /// name in upper case with dots as underscores.
    pub fn env_var(&self) -> String {
        format!("PORCH_{}", self.name.replace('.', "_").to_ascii_uppercase())
    }
}

/// Every key porch understands, top-level keys first (the example file
/// writes sections in this order).  README's configuration table and the file
/// `porch init` writes are both made from this list.
pub const KEYS: &[Key] = &[
    Key {
        name: "data_dir",
        default: "./porch-data",
        allowed: "a folder path",
        doc: "Where porch keeps its database and files. Created if missing.",
    },
    Key {
        name: "domain",
        default: "localhost",
        allowed: "a DNS name such as family.example",
        doc: "The name porch answers to. Its own pages live on this name, each app on <app>.<domain>.",
    },
    Key {
        name: "listen",
        default: "auto",
        allowed: "auto, or an address and port such as 0.0.0.0:443 or [::]:8080",
        doc: "Where porch listens for HTTP(S) connections. auto: 127.0.0.1:8080 with TLS off, else [::]:443 (all addresses).",
    },
    Key {
        name: "http_listen",
        default: "auto",
        allowed: "auto, off, or an address and port such as [::]:80",
        doc: "With TLS on, a plain-HTTP listener that answers ACME HTTP-01 checks and sends everyone else to HTTPS. auto: [::]:80 with TLS on, off without.",
    },
    Key {
        name: "tls",
        default: "off",
        allowed: "off, self-signed, files or acme",
        doc: "How porch gets certificates: acme (Let's Encrypt or another ACME CA, renewed by itself), self-signed (a local CA for a LAN; `porch tls export-ca`), files (your own PEM files) or off (plain HTTP: the localhost demo, or behind a tunnel that terminates TLS).",
    },
    Key {
        name: "public_url",
        default: "",
        allowed: "empty, or an http(s) URL such as https://family.example",
        doc: "The address people use to reach porch, used in invite links. Empty: made from tls, domain and the listening port.",
    },
    Key {
        name: "log",
        default: "info",
        allowed: "a tracing filter such as info, debug or porch=debug,info",
        doc: "What porch logs to standard error. RUST_LOG, when set, wins.",
    },
    Key {
        name: "log_format",
        default: "human",
        allowed: "human or json",
        doc: "How log lines look: human (one readable line each) or json (one JSON object per line, for log collectors).",
    },
    Key {
        name: "keep_ips",
        default: "7d",
        allowed: "a duration from 1h to 400d",
        doc: "How long full client addresses are kept in the audit log. Older events keep only the network (IPv4 /24, IPv6 /48). Porch's log lines never carry full addresses.",
    },
    Key {
        name: "trusted_proxies",
        default: "",
        allowed: "empty, or IP addresses and networks separated by commas, such as 127.0.0.1, 10.0.0.0/8",
        doc: "Reverse proxies in front of porch. Only a connection from one of these may name the real client with X-Forwarded-For or Forwarded; from anyone else those headers are ignored.",
    },
    Key {
        name: "forwarded_header",
        default: "x-forwarded-for",
        allowed: "x-forwarded-for or forwarded",
        doc: "The one header your trusted proxy writes the client's address into. Only that header is read (from trusted_proxies only); the other is ignored, since a proxy passes on whatever the client put there.",
    },
    Key {
        name: "audit.keep",
        default: "365d",
        allowed: "a duration from 1d to 3650d",
        doc: "How long audit events are kept. Older ones are deleted by the hourly sweep, so the log cannot grow without bound.",
    },
    Key {
        name: "sessions.lifetime",
        default: "90d",
        allowed: "a duration from 1h to 400d, such as 90d or 12h",
        doc: "How long a sign-in lasts without being used. Every visit slides it forward.",
    },
    Key {
        name: "invites.expires",
        default: "7d",
        allowed: "a duration from 1m to 365d",
        doc: "How long a new invite link works unless its creator picks otherwise.",
    },
    Key {
        name: "invites.uses",
        default: "1",
        allowed: "a whole number from 1 to 1000",
        doc: "How many people one invite link admits unless its creator picks otherwise.",
    },
    Key {
        name: "passwords.min_length",
        default: "10",
        allowed: "a whole number from 10 to 128",
        doc: "The fewest characters a password may have.",
    },
    Key {
        name: "passwords.parallel",
        default: "auto",
        allowed: "auto (the number of CPUs), or a whole number from 1 to 256",
        doc: "How many password checks (argon2, 19 MiB of memory each) run at once; others wait their turn.",
    },
    Key {
        name: "passwords.queue_wait",
        default: "5s",
        allowed: "a duration from 0s to 60s",
        doc: "How long a sign-in or join waits for a free password slot before it is answered 503 with Retry-After.",
    },
    Key {
        name: "limits.form_body",
        default: "64KiB",
        allowed: "a size from 1KiB to 10MiB, such as 64KiB",
        doc: "The largest request body porch's own pages accept; larger ones get 413.",
    },
    Key {
        name: "limits.shutdown_grace",
        default: "10s",
        allowed: "a duration from 0s to 10m",
        doc: "How long requests in flight may take to finish after SIGINT/SIGTERM.",
    },
    Key {
        name: "limits.requests",
        default: "20/s",
        allowed: "off, or a rate such as 20/s, 600/min or 5000/h",
        doc: "Requests one client (an IPv4 address, or an IPv6 /64) may make, on average; beyond it they get 429 with Retry-After.",
    },
    Key {
        name: "limits.requests_burst",
        default: "400",
        allowed: "a whole number from 1 to 1000000",
        doc: "Requests one client may make at once before limits.requests applies (a page of thumbnails is many requests).",
    },
    Key {
        name: "limits.door",
        default: "10/min",
        allowed: "off, or a rate such as 10/min",
        doc: "The stricter rate for sign-in and invite links (every POST /signin and every /join/ request), per client.",
    },
    Key {
        name: "limits.door_burst",
        default: "10",
        allowed: "a whole number from 1 to 1000000",
        doc: "Sign-in and invite requests one client may make at once before limits.door applies.",
    },
    Key {
        name: "limits.uploads",
        default: "4/s",
        allowed: "off, or a rate such as 4/s",
        doc: "The stricter rate for uploads (requests whose body is larger than limits.form_body), per client. Each app's app.toml sets how large one upload may be.",
    },
    Key {
        name: "limits.uploads_burst",
        default: "200",
        allowed: "a whole number from 1 to 1000000",
        doc: "Uploads one client may start at once before limits.uploads applies.",
    },
    Key {
        name: "limits.in_flight",
        default: "512",
        allowed: "a whole number from 1 to 100000",
        doc: "Requests porch works on at once, from everyone together; more get 503 with Retry-After.",
    },
    Key {
        name: "limits.in_flight_per_client",
        default: "128",
        allowed: "a whole number from 1 to 100000",
        doc: "Requests porch works on at once for one client (an IPv4 address or IPv6 /64), so no one client can take all of limits.in_flight; more get 503 with Retry-After.",
    },
    Key {
        name: "limits.form_time",
        default: "10s",
        allowed: "a duration from 1s to 10m",
        doc: "How long the whole body of a form sent to porch's own pages (sign-in, join, admin) may take to arrive; a slower one gets 408.",
    },
    Key {
        name: "limits.connections",
        default: "4096",
        allowed: "a whole number from 16 to 1000000",
        doc: "Open connections in total. At the cap, the connection idle the longest (with no request running) is closed to make room; if none is idle, the new one is refused.",
    },
    Key {
        name: "limits.connections_per_client",
        default: "256",
        allowed: "a whole number from 1 to 1000000",
        doc: "Open connections from one client (an IPv4 address, or an IPv6 /64); more are closed at once. Trusted proxies are not capped.",
    },
    Key {
        name: "limits.header_timeout",
        default: "30s",
        allowed: "a duration from 1s to 10m",
        doc: "How long a client may take to send a request's headers (and a TLS handshake), so slow clients cannot hold connections.",
    },
    Key {
        name: "limits.idle_timeout",
        default: "60s",
        allowed: "a duration from 1s to 1h",
        doc: "A connection with no request running and no bytes moving for this long is closed; an upload whose body stops arriving for this long fails with 408.",
    },
    Key {
        name: "signin.free_failures",
        default: "5",
        allowed: "a whole number from 1 to 1000",
        doc: "Failed sign-ins or dead invite links from one client before each further try must wait (1s, 2s, 4s... up to signin.max_wait).",
    },
    Key {
        name: "signin.block_after",
        default: "20",
        allowed: "a whole number from 2 to 100000",
        doc: "Failures from one client after which it may not try at all for signin.block_for. Blocks are audited and listed under Admin, Blocks, where owners can lift them.",
    },
    Key {
        name: "signin.block_for",
        default: "15m",
        allowed: "a duration from 1s to 7d",
        doc: "How long a blocked client must wait.",
    },
    Key {
        name: "signin.account_free_failures",
        default: "10",
        allowed: "a whole number from 1 to 100000",
        doc: "Failed sign-ins to one account, from anywhere, before each further try must wait. A device that has signed in to that account before never waits, so strangers cannot lock the family out.",
    },
    Key {
        name: "signin.max_wait",
        default: "60s",
        allowed: "a duration from 1s to 1d",
        doc: "The longest wait between sign-in tries that a slowed client or account is made to keep.",
    },
    Key {
        name: "signin.forget_after",
        default: "15m",
        allowed: "a duration from 1m to 7d",
        doc: "Failures are forgotten this long after the last one.",
    },
    Key {
        name: "signin.device_forget",
        default: "180d",
        allowed: "a duration from 1d to 400d",
        doc: "A known device (one that signed in before and so skips sign-in slow-downs) unused this long is forgotten and counts as new again.",
    },
    Key {
        name: "apps.instances",
        default: "256",
        allowed: "a whole number from 1 to 10000",
        doc: "How many app instances may run at once across all apps (the pooling allocator reserves room for this many).",
    },
    Key {
        name: "apps.pooling",
        default: "auto",
        allowed: "auto or off",
        doc: "auto: use wasmtime's pooling allocator when its address space can be reserved, else on-demand. off: always on-demand.",
    },
    Key {
        name: "media.max_input",
        default: "128MiB",
        allowed: "a size from 1MiB to 4GiB",
        doc: "The largest image file porch will probe, thumbnail or strip.",
    },
    Key {
        name: "media.max_pixels",
        default: "100000000",
        allowed: "a whole number of pixels from 1000000 to 1000000000",
        doc: "The largest image (width × height) porch will decode; larger ones are refused before decoding.",
    },
    Key {
        name: "media.max_memory",
        default: "512MiB",
        allowed: "a size from 16MiB to 16GiB",
        doc: "The most memory one image decode may allocate.",
    },
    Key {
        name: "media.timeout",
        default: "30s",
        allowed: "a duration from 1s to 10m",
        doc: "How long one piece of image work may take before the app gets an error.",
    },
    Key {
        name: "media.workers",
        default: "2",
        allowed: "a whole number from 1 to 64",
        doc: "Image jobs that may run at once (each may use up to media.max_memory); more wait their turn.",
    },
    Key {
        name: "certificates.cert",
        default: "",
        allowed: "a path to a PEM file: the certificate, then its chain",
        doc: "With tls \"files\": your certificate chain. porch notices when the file changes and serves the new one.",
    },
    Key {
        name: "certificates.key",
        default: "",
        allowed: "a path to a PEM private key file",
        doc: "With tls \"files\": the private key of certificates.cert.",
    },
    Key {
        name: "certificates.check_every",
        default: "30s",
        allowed: "a duration from 1s to 1d",
        doc: "With tls \"files\": how often porch looks for a changed certificate or key file.",
    },
    Key {
        name: "acme.directory",
        default: "letsencrypt",
        allowed: "letsencrypt, letsencrypt-staging, or the https URL of any ACME directory",
        doc: "The certificate authority porch asks for certificates with tls \"acme\".",
    },
    Key {
        name: "acme.challenge",
        default: "auto",
        allowed: "auto, http-01, tls-alpn-01 or dns-01",
        doc: "How the CA checks porch owns the name. auto: dns-01 with a wildcard *.<domain> when porch serves the zone ([dns]), else tls-alpn-01 on the HTTPS port, falling back to http-01 on port 80.",
    },
    Key {
        name: "acme.email",
        default: "",
        allowed: "empty or an email address",
        doc: "Where the CA may write about expiring certificates (optional).",
    },
    Key {
        name: "acme.eab_kid",
        default: "",
        allowed: "empty, or the key id of an external account binding from your CA",
        doc: "For CAs that require external account binding (EAB), the key id they gave you.",
    },
    Key {
        name: "acme.eab_hmac_key",
        default: "",
        allowed: "empty, or the base64url HMAC key of that binding",
        doc: "For CAs that require external account binding (EAB), the HMAC key they gave you.",
    },
    Key {
        name: "acme.ca_root",
        default: "",
        allowed: "empty, or a path to a PEM certificate",
        doc: "Trust this root (instead of the system's) for the ACME directory's own HTTPS: for a private or test CA.",
    },
    Key {
        name: "acme.caa_issuer",
        default: "",
        allowed: "empty, or a CA's CAA domain such as letsencrypt.org",
        doc: "The CA named in porch's CAA record when it serves the zone. Empty: letsencrypt.org for the Let's Encrypt presets, no CAA record otherwise.",
    },
    Key {
        name: "acme.retry_min",
        default: "1m",
        allowed: "a duration from 1s to 1d",
        doc: "The first wait after a failed certificate request; each further failure doubles it.",
    },
    Key {
        name: "acme.retry_max",
        default: "6h",
        allowed: "a duration from 1s to 7d",
        doc: "The longest wait between certificate requests after failures.",
    },
    Key {
        name: "dns.listen",
        default: "off",
        allowed: "off, or an address and port such as [::]:53",
        doc: "Serve porch's own DNS zone (UDP and TCP) here. Delegate <domain> to this box at your registrar to use it.",
    },
    Key {
        name: "dns.address",
        default: "",
        allowed: "empty, or IP addresses separated by commas",
        doc: "The public addresses the zone gives for <domain> and *.<domain>. Empty: found from dns.address_source.",
    },
    Key {
        name: "dns.address_source",
        default: "",
        allowed: "empty, interface:NAME, or an https URL that answers with your address",
        doc: "Where porch learns its public address when dns.address is empty: a local network interface, or a \"what is my IP\" https URL you choose (no redirects followed, at most 4 KiB read). Only public addresses are taken: private, loopback and link-local ones are never published.",
    },
    Key {
        name: "dns.recheck",
        default: "5m",
        allowed: "a duration from 10s to 1d",
        doc: "How often porch re-checks its public address from dns.address_source.",
    },
    Key {
        name: "dns.ttl",
        default: "5m",
        allowed: "a duration from 1s to 1d",
        doc: "How long resolvers may cache porch's answers.",
    },
    Key {
        name: "dns.udp_rate",
        default: "20",
        allowed: "a whole number of answers per second from 1 to 10000",
        doc: "Answers per second one source address (IPv6: one /64) gets over UDP; more are dropped, so porch cannot be used to amplify an attack. TCP is not limited this way.",
    },
    Key {
        name: "store.min_free",
        default: "256MiB",
        allowed: "a size such as 256MiB or 1GiB, or 0 to use the disk to the last byte",
        doc: "Free space porch keeps on the data folder's disk: uploads that would leave less are refused with a clear message, so the database always has room to finish its writes.",
    },
    Key {
        name: "backup.to",
        default: "",
        allowed: "empty (no scheduled backups), or a folder path such as /media/usb/porch-backups",
        doc: "Where scheduled backups go: a folder on another disk (a USB disk, a network share). Each backup is a snapshot folder; photos already there are not copied again.",
    },
    Key {
        name: "backup.every",
        default: "1d",
        allowed: "a duration from 1s to 30d",
        doc: "How often porch makes a scheduled backup (counted from the last good one).",
    },
    Key {
        name: "backup.keep",
        default: "7",
        allowed: "a whole number from 1 to 1000",
        doc: "How many snapshots a scheduled backup keeps; older ones, and files only they used, are removed.",
    },
    Key {
        name: "metrics.listen",
        default: "127.0.0.1:9464",
        allowed: "off, or an address and port such as 127.0.0.1:9464",
        doc: "Where porch serves Prometheus metrics at /metrics. Keep it on localhost (or a private address): the numbers are for the owner, not the internet.",
    },
];

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
    BadValue { key: &'static str, value: String, origin: String, allowed: &'static str },
    #[error("{0}")]
    Conflict(String),
}

/// The one header a trusted proxy names the client in (`forwarded_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`, which nginx, Caddy and cloudflared append to.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded` (`for=`).
    Forwarded,
}

/// `[media]`: hard limits for one piece of image work (the media layer
/// reads them; declared here so configuration names no layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLimits {
    /// Largest input accepted, in bytes.
    pub max_input: u64,
    /// Largest image accepted, in pixels (width × height).
    pub max_pixels: u64,
    /// Most memory one decode may allocate.
    pub max_memory: u64,
}

impl Default for MediaLimits {
    fn default() -> Self {
        MediaLimits { max_input: 128 << 20, max_pixels: 100_000_000, max_memory: 512 << 20 }
    }
}

/// How porch gets its certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Off,
    SelfSigned,
    Files,
    Acme,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Off => "off",
            TlsMode::SelfSigned => "self-signed",
            TlsMode::Files => "files",
            TlsMode::Acme => "acme",
        }
    }
}

/// How the ACME CA checks that porch owns its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    Auto,
    Http01,
    TlsAlpn01,
    Dns01,
}

/// `[acme]`: where and how porch asks for certificates.
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

/// `[certificates]`: owner-provided PEM files for `tls = "files"`.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub check_every: Duration,
}

/// Where porch learns its public address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressSource {
    Interface(String),
    Url(url::Url),
}

/// `[dns]`: porch's own authoritative zone.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    pub listen: SocketAddr,
    pub addresses: Vec<std::net::IpAddr>,
    pub source: Option<AddressSource>,
    pub recheck: Duration,
    pub ttl: Duration,
    pub udp_rate: u32,
}

/// A request rate: on average one per `period`, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub period: Duration,
    pub burst: u32,
}

/// `[limits]`: what one client, and everyone together, may use.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Per-client request budget; `None` is off.
    pub requests: Option<Rate>,
    /// The stricter budget for sign-in and invite links.
    pub door: Option<Rate>,
    /// The stricter budget for uploads.
    pub uploads: Option<Rate>,
    pub in_flight: u32,
    /// Requests in flight for one client (`limits.in_flight_per_client`).
    pub in_flight_per_client: u32,
    /// The longest a form body to porch's own pages may take to arrive.
    pub form_time: Duration,
    pub connections: u32,
    pub connections_per_client: u32,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// `[signin]`: how failed sign-ins slow down and block their source.
#[derive(Debug, Clone)]
pub struct SigninLimits {
    pub free_failures: u32,
    pub block_after: u32,
    pub block_for: Duration,
    pub account_free_failures: u32,
    pub max_wait: Duration,
    pub forget_after: Duration,
    /// A known device unused this long is forgotten (`signin.device_forget`).
    pub device_forget: Duration,
}

/// Validated settings with derived values; what the rest of porch reads.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// The config file read, if any (backups copy it).
    pub config_file: Option<PathBuf>,
    pub domain: String,
    pub listen: SocketAddr,
    /// The plain-HTTP listener beside the TLS one (redirects, HTTP-01).
    pub http_listen: Option<SocketAddr>,
    pub tls: TlsMode,
    pub acme: AcmeSettings,
    /// Set exactly when `tls` is `files`.
    pub cert_files: Option<CertFiles>,
    pub dns: Option<DnsSettings>,
    pub public_url: Option<url::Url>,
    pub session_lifetime: Duration,
    pub invite_expires: Duration,
    pub invite_uses: u32,
    pub password_min_length: usize,
    /// Password checks that run at once (`passwords.parallel`).
    pub password_parallel: usize,
    /// How long one waits for a slot (`passwords.queue_wait`).
    pub password_queue_wait: Duration,
    pub form_body_limit: usize,
    pub shutdown_grace: Duration,
    pub limits: Limits,
    pub signin: SigninLimits,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header those proxies write the client into; the other is ignored.
    pub forwarded_header: ForwardedHeader,
    pub log: String,
    pub app_instances: u32,
    pub app_pooling: bool,
    pub media: MediaLimits,
    pub media_timeout: Duration,
    pub media_workers: u32,
    /// `log_format = "json"`.
    pub log_json: bool,
    /// How long audit events keep full client addresses.
    pub keep_ips: Duration,
    /// How long audit events are kept at all (`audit.keep`).
    pub audit_keep: Duration,
    /// Free bytes blob writes leave on the data folder's disk.
    pub min_free: u64,
    /// Scheduled backups, when `backup.to` is set.
    pub backup: Option<BackupSettings>,
    /// The Prometheus listener; `None` is off.
    pub metrics_listen: Option<SocketAddr>,
}

/// `[backup]`: scheduled snapshots into a folder.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub to: PathBuf,
    pub every: Duration,
    pub keep: u32,
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
}

/// Values given on the command line; they win over the file and environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub domain: Option<String>,
    pub listen: Option<String>,
    pub tls: Option<String>,
}

/// Where a raw value came from, for error messages.
struct Raw {
    value: String,
    origin: String,
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
        ("data_dir", overrides.data_dir.as_ref().map(|p| p.display().to_string()), "--data"),
        ("domain", overrides.domain.clone(), "--domain"),
        ("listen", overrides.listen.clone(), "--listen"),
        ("tls", overrides.tls.clone(), "--tls"),
    ];
    for (name, value, flag) in flags {
        if let Some(value) = value {
            raw.insert(name, Raw { value, origin: format!("flag {flag}") });
        }
    }
    Validator { raw }.settings()
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

struct Validator {
    raw: BTreeMap<&'static str, Raw>,
}

impl Validator {
    /// Parses one key with `parse`; a failure names the key, value and rule.
    /// A name `KEYS` does not declare is an error, never another key's value
    /// (the defaults test reads every key, so a typo fails the tests).
    fn get<T>(&self, name: &'static str, parse: impl Fn(&str) -> Option<T>) -> Result<T, ConfigError> {
        let Some(key) = KEYS.iter().find(|k| k.name == name) else {
            return Err(ConfigError::Conflict(format!(
                "porch read the setting {name:?}, which it does not declare; this is a bug in porch, please report it"
            )));
        };
        let (value, origin) = match self.raw.get(name) {
            Some(raw) => (raw.value.as_str(), raw.origin.as_str()),
            None => (key.default, "the default"),
        };
        parse(value.trim()).ok_or_else(|| ConfigError::BadValue {
            key: key.name,
            value: value.to_owned(),
            origin: origin.to_owned(),
            allowed: key.allowed,
        })
    }

    fn settings(&self) -> Result<Settings, ConfigError> {
        let tls = self.get("tls", |v| match v {
            "off" => Some(TlsMode::Off),
            "self-signed" => Some(TlsMode::SelfSigned),
            "files" => Some(TlsMode::Files),
            "acme" => Some(TlsMode::Acme),
            _ => None,
        })?;
        let domain = self.get("domain", parse_domain)?;
        let tls_on = tls != TlsMode::Off;
        let listen = self.get("listen", |v| match v {
            "auto" if tls_on => Some(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 443))),
            "auto" => Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            _ => v.parse().ok(),
        })?;
        let http_listen = self.get("http_listen", |v| match v {
            "auto" if tls_on => Some(Some(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 80)))),
            "auto" | "off" => Some(None),
            _ => v.parse().ok().map(Some),
        })?;
        let acme = self.acme()?;
        let cert_files = self.cert_files(tls)?;
        let dns = self.dns()?;
        if tls == TlsMode::Acme && (domain == "localhost" || domain.ends_with(".localhost")) {
            return Err(ConfigError::Conflict(format!(
                "tls = \"acme\" needs the public domain name people will use, but domain is {domain:?}. Set domain = \"family.example\" (your name), or use tls = \"self-signed\" on a LAN"
            )));
        }
        if tls == TlsMode::Acme && acme.challenge == AcmeChallenge::Dns01 && dns.is_none() {
            return Err(ConfigError::Conflict(
                "acme.challenge = \"dns-01\" works through porch's own DNS zone, but [dns] listen is off. Set dns.listen (and delegate the domain to this box), or pick another challenge".into(),
            ));
        }
        if tls == TlsMode::Acme && acme.challenge == AcmeChallenge::Http01 && http_listen.is_none() {
            return Err(ConfigError::Conflict(
                "acme.challenge = \"http-01\" needs the plain-HTTP listener, but http_listen is off. Set http_listen = \"[::]:80\" or pick another challenge".into(),
            ));
        }
        if let Some(dns) = &dns
            && dns.addresses.is_empty()
            && dns.source.is_none()
        {
            return Err(ConfigError::Conflict(
                "[dns] is on but porch has no address to give: set dns.address (such as \"203.0.113.7\") or dns.address_source (interface:eth0, or a URL that answers with your address)".into(),
            ));
        }
        Ok(Settings {
            data_dir: self.get("data_dir", |v| (!v.is_empty()).then(|| PathBuf::from(v)))?,
            config_file: None,
            domain,
            listen,
            http_listen,
            tls,
            acme,
            cert_files,
            dns,
            public_url: self.get("public_url", |v| {
                if v.is_empty() {
                    return Some(None);
                }
                let url = url::Url::parse(v).ok()?;
                let ok = matches!(url.scheme(), "http" | "https") && url.host_str().is_some() && url.path() == "/";
                ok.then_some(Some(url))
            })?,
            session_lifetime: self.get("sessions.lifetime", |v| {
                parse_duration(v, Duration::from_secs(3600), Duration::from_secs(400 * 86400))
            })?,
            invite_expires: self.get("invites.expires", |v| {
                parse_duration(v, Duration::from_secs(60), Duration::from_secs(365 * 86400))
            })?,
            invite_uses: self.get("invites.uses", |v| v.parse().ok().filter(|n| (1..=1000).contains(n)))?,
            password_min_length: self
                .get("passwords.min_length", |v| v.parse().ok().filter(|n| (10..=128).contains(n)))?,
            password_parallel: self.get("passwords.parallel", |v| match v {
                "auto" => Some(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)),
                _ => v.parse().ok().filter(|n| (1..=256).contains(n)),
            })?,
            password_queue_wait: self.duration("passwords.queue_wait", Duration::ZERO, Duration::from_secs(60))?,
            form_body_limit: self
                .get("limits.form_body", |v| parse_size(v).filter(|n| (1024..=10 * 1024 * 1024).contains(n)))?,
            shutdown_grace: self
                .get("limits.shutdown_grace", |v| parse_duration(v, Duration::ZERO, Duration::from_secs(600)))?,
            limits: self.limits()?,
            signin: self.signin()?,
            trusted_proxies: self.get("trusted_proxies", |v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(|a| {
                        a.parse::<ipnet::IpNet>().ok().or_else(|| a.parse::<std::net::IpAddr>().ok().map(Into::into))
                    })
                    .collect::<Option<Vec<_>>>()
            })?,
            forwarded_header: self.get("forwarded_header", |v| match v.to_ascii_lowercase().as_str() {
                "x-forwarded-for" => Some(ForwardedHeader::XForwardedFor),
                "forwarded" => Some(ForwardedHeader::Forwarded),
                _ => None,
            })?,
            log: self.get("log", |v| (!v.is_empty()).then(|| v.to_owned()))?,
            app_instances: self.get("apps.instances", |v| v.parse().ok().filter(|n| (1..=10_000).contains(n)))?,
            app_pooling: self.get("apps.pooling", |v| match v {
                "auto" => Some(true),
                "off" => Some(false),
                _ => None,
            })?,
            media: MediaLimits {
                max_input: self.get("media.max_input", |v| {
                    parse_size(v).map(|n| n as u64).filter(|n| ((1 << 20)..=(4u64 << 30)).contains(n))
                })?,
                max_pixels: self.get("media.max_pixels", |v| {
                    v.parse().ok().filter(|n| (1_000_000..=1_000_000_000u64).contains(n))
                })?,
                max_memory: self.get("media.max_memory", |v| {
                    parse_size(v).map(|n| n as u64).filter(|n| ((16 << 20)..=(16u64 << 30)).contains(n))
                })?,
            },
            media_timeout: self
                .get("media.timeout", |v| parse_duration(v, Duration::from_secs(1), Duration::from_secs(600)))?,
            media_workers: self.get("media.workers", |v| v.parse().ok().filter(|n| (1..=64).contains(n)))?,
            log_json: self.get("log_format", |v| match v {
                "human" => Some(false),
                "json" => Some(true),
                _ => None,
            })?,
            keep_ips: self.duration("keep_ips", Duration::from_secs(3600), Duration::from_secs(400 * 86400))?,
            audit_keep: self.duration("audit.keep", Duration::from_secs(86400), Duration::from_secs(3650 * 86400))?,
            min_free: self.get("store.min_free", |v| parse_size(v).map(|n| n as u64))?,
            backup: self.backup()?,
            metrics_listen: self.get("metrics.listen", |v| match v {
                "off" => Some(None),
                _ => v.parse().ok().map(Some),
            })?,
        })
    }
}

impl Validator {
    fn backup(&self) -> Result<Option<BackupSettings>, ConfigError> {
        let to = self.get("backup.to", |v| Some(PathBuf::from(v)))?;
        let every = self.duration("backup.every", Duration::from_secs(1), Duration::from_secs(30 * 86400))?;
        let keep = self.get("backup.keep", |v| v.parse().ok().filter(|n| (1..=1000).contains(n)))?;
        Ok((!to.as_os_str().is_empty()).then_some(BackupSettings { to, every, keep }))
    }

    fn duration(&self, name: &'static str, min: Duration, max: Duration) -> Result<Duration, ConfigError> {
        self.get(name, |v| parse_duration(v, min, max))
    }

    fn acme(&self) -> Result<AcmeSettings, ConfigError> {
        let directory = self.get("acme.directory", |v| match v {
            "letsencrypt" => Some(LETS_ENCRYPT.to_owned()),
            "letsencrypt-staging" => Some(LETS_ENCRYPT_STAGING.to_owned()),
            _ => url::Url::parse(v).ok().filter(|u| u.scheme() == "https").map(|u| u.to_string()),
        })?;
        let lets_encrypt = directory == LETS_ENCRYPT || directory == LETS_ENCRYPT_STAGING;
        let kid = self.get("acme.eab_kid", |v| Some(v.to_owned()))?;
        let hmac = self.get("acme.eab_hmac_key", |v| {
            use base64::Engine;
            if v.is_empty() {
                return Some(Vec::new());
            }
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).ok()
        })?;
        let eab = match (kid.is_empty(), hmac.is_empty()) {
            (true, true) => None,
            (false, false) => Some((kid, hmac)),
            _ => {
                return Err(ConfigError::Conflict(
                    "acme.eab_kid and acme.eab_hmac_key go together: set both (from your CA) or neither".into(),
                ));
            }
        };
        let retry_min = self.duration("acme.retry_min", Duration::from_secs(1), Duration::from_secs(86400))?;
        let retry_max = self.duration("acme.retry_max", Duration::from_secs(1), Duration::from_secs(7 * 86400))?;
        Ok(AcmeSettings {
            directory,
            challenge: self.get("acme.challenge", |v| match v {
                "auto" => Some(AcmeChallenge::Auto),
                "http-01" => Some(AcmeChallenge::Http01),
                "tls-alpn-01" => Some(AcmeChallenge::TlsAlpn01),
                "dns-01" => Some(AcmeChallenge::Dns01),
                _ => None,
            })?,
            email: self.get("acme.email", |v| match v {
                "" => Some(None),
                _ => (v.contains('@') && !v.contains(char::is_whitespace)).then(|| Some(v.to_owned())),
            })?,
            eab,
            ca_root: self.get("acme.ca_root", |v| Some((!v.is_empty()).then(|| PathBuf::from(v))))?,
            caa_issuer: self.get("acme.caa_issuer", |v| match v {
                "" => Some(lets_encrypt.then(|| "letsencrypt.org".to_owned())),
                _ => parse_domain(v).map(Some),
            })?,
            retry_min,
            retry_max: retry_max.max(retry_min),
        })
    }

    fn cert_files(&self, tls: TlsMode) -> Result<Option<CertFiles>, ConfigError> {
        let cert = self.get("certificates.cert", |v| Some(PathBuf::from(v)))?;
        let key = self.get("certificates.key", |v| Some(PathBuf::from(v)))?;
        let check_every =
            self.duration("certificates.check_every", Duration::from_secs(1), Duration::from_secs(86400))?;
        if tls != TlsMode::Files {
            return Ok(None);
        }
        if cert.as_os_str().is_empty() || key.as_os_str().is_empty() {
            return Err(ConfigError::Conflict(
                "tls = \"files\" needs certificates.cert and certificates.key: the paths of your PEM certificate chain and private key".into(),
            ));
        }
        Ok(Some(CertFiles { cert, key, check_every }))
    }

    fn count(&self, name: &'static str, min: u32, max: u32) -> Result<u32, ConfigError> {
        self.get(name, |v| v.parse().ok().filter(|n| (min..=max).contains(n)))
    }

    fn rate(&self, name: &'static str, burst: &'static str) -> Result<Option<Rate>, ConfigError> {
        let burst = self.count(burst, 1, 1_000_000)?;
        let period = self.get(name, |v| match v {
            "off" => Some(None),
            _ => parse_rate(v).map(Some),
        })?;
        Ok(period.map(|period| Rate { period, burst }))
    }

    fn limits(&self) -> Result<Limits, ConfigError> {
        Ok(Limits {
            requests: self.rate("limits.requests", "limits.requests_burst")?,
            door: self.rate("limits.door", "limits.door_burst")?,
            uploads: self.rate("limits.uploads", "limits.uploads_burst")?,
            in_flight: self.count("limits.in_flight", 1, 100_000)?,
            in_flight_per_client: self.count("limits.in_flight_per_client", 1, 100_000)?,
            form_time: self.duration("limits.form_time", Duration::from_secs(1), Duration::from_secs(600))?,
            connections: self.count("limits.connections", 16, 1_000_000)?,
            connections_per_client: self.count("limits.connections_per_client", 1, 1_000_000)?,
            header_timeout: self.duration("limits.header_timeout", Duration::from_secs(1), Duration::from_secs(600))?,
            idle_timeout: self.duration("limits.idle_timeout", Duration::from_secs(1), Duration::from_secs(3600))?,
        })
    }

    fn signin(&self) -> Result<SigninLimits, ConfigError> {
        let free_failures = self.count("signin.free_failures", 1, 1000)?;
        let block_after = self.count("signin.block_after", 2, 100_000)?;
        if block_after <= free_failures {
            return Err(ConfigError::Conflict(format!(
                "signin.block_after ({block_after}) must be larger than signin.free_failures ({free_failures}): a client is slowed down first, then blocked"
            )));
        }
        Ok(SigninLimits {
            free_failures,
            block_after,
            block_for: self.duration("signin.block_for", Duration::from_secs(1), Duration::from_secs(7 * 86400))?,
            account_free_failures: self.count("signin.account_free_failures", 1, 100_000)?,
            max_wait: self.duration("signin.max_wait", Duration::from_secs(1), Duration::from_secs(86400))?,
            forget_after: self.duration(
                "signin.forget_after",
                Duration::from_secs(60),
                Duration::from_secs(7 * 86400),
            )?,
            device_forget: self.duration(
                "signin.device_forget",
                Duration::from_secs(86400),
                Duration::from_secs(400 * 86400),
            )?,
        })
    }

    fn dns(&self) -> Result<Option<DnsSettings>, ConfigError> {
        let listen = self.get("dns.listen", |v| match v {
            "off" | "" => Some(None),
            _ => v.parse().ok().map(Some),
        })?;
        let addresses = self.get("dns.address", |v| {
            v.split(',').map(str::trim).filter(|a| !a.is_empty()).map(|a| a.parse().ok()).collect::<Option<Vec<_>>>()
        })?;
        let source = self.get("dns.address_source", |v| {
            if v.is_empty() {
                return Some(None);
            }
            if let Some(name) = v.strip_prefix("interface:") {
                return (!name.is_empty()).then(|| Some(AddressSource::Interface(name.to_owned())));
            }
            // Only https: whoever could change a plain-HTTP answer on the way
            // would repoint the whole zone (review finding M7).
            let url = url::Url::parse(v).ok()?;
            (url.scheme() == "https" && url.host_str().is_some()).then_some(Some(AddressSource::Url(url)))
        })?;
        let recheck = self.duration("dns.recheck", Duration::from_secs(10), Duration::from_secs(86400))?;
        let ttl = self.duration("dns.ttl", Duration::from_secs(1), Duration::from_secs(86400))?;
        let udp_rate = self.get("dns.udp_rate", |v| v.parse().ok().filter(|n| (1..=10_000).contains(n)))?;
        Ok(listen.map(|listen| DnsSettings { listen, addresses, source, recheck, ttl, udp_rate }))
    }
}

pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// A lower-case DNS name: labels of letters, digits and hyphens.
fn parse_domain(v: &str) -> Option<String> {
    let v = v.trim_end_matches('.').to_ascii_lowercase();
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    ok.then_some(v)
}

/// A duration like `90d`, `12h`, `30s`, within `[min, max]`.
pub fn parse_duration(v: &str, min: Duration, max: Duration) -> Option<Duration> {
    let d = humantime::parse_duration(v).ok()?;
    (min..=max).contains(&d).then_some(d)
}

/// A rate like `20/s`, `10/min` or `5000/h`, as the period of one event.
fn parse_rate(v: &str) -> Option<Duration> {
    let (count, unit) = v.split_once('/')?;
    let count: u32 = count.trim().parse().ok().filter(|n| *n > 0)?;
    let unit = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        _ => return None,
    };
    Some(unit / count).filter(|p| !p.is_zero())
}

/// A size like `64KiB`, `10MiB` or a plain number of bytes.
pub fn parse_size(v: &str) -> Option<usize> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let n: usize = digits.parse().ok()?;
    let mult = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" | "kB" => 1024,
        "MiB" | "M" | "MB" => 1024 * 1024,
        "GiB" | "G" | "GB" => 1024 * 1024 * 1024,
        "TiB" | "T" | "TB" => 1024 * 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
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
        out.push_str(&format!("# {}\n# Allowed: {}. Environment: {}.\n", key.doc, key.allowed, key.env_var()));
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
        assert_eq!(s.session_lifetime, Duration::from_secs(90 * 86400));
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
        assert_eq!(parse_rate("20/s"), Some(Duration::from_millis(50)));
        assert_eq!(parse_rate("10/min"), Some(Duration::from_secs(6)));
        assert_eq!(parse_rate("0/s"), None);
        assert_eq!(parse_rate("5/fortnight"), None);
        let s = from_file("[limits]\nrequests = \"off\"\ndoor = \"3/h\"\ndoor_burst = 2").expect("valid");
        assert_eq!(s.limits.requests, None);
        assert_eq!(s.limits.door, Some(Rate { period: Duration::from_secs(1200), burst: 2 }));
        assert!(from_file("[limits]\nconnections = 15").is_err());
        assert!(from_file("[limits]\nidle_timeout = \"0s\"").is_err());
        assert!(from_file("[signin]\nfree_failures = 5\nblock_after = 5").is_err());
        let s = from_file("trusted_proxies = \"127.0.0.1, 10.0.0.0/8, ::1\"").expect("valid");
        assert_eq!(s.trusted_proxies.len(), 3);
        assert!(s.trusted_proxies[1].contains(&"10.1.2.3".parse::<std::net::IpAddr>().expect("ip")));
        assert!(from_file("trusted_proxies = \"10.0.0.0/33\"").is_err());
    }
}
