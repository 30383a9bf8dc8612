//! `app.toml`: what an app is (id, name, version, roles), the host
//! capabilities it asks for (each with its quota), its limits, and an
//! optional stricter Content-Security-Policy (`csp`). Parsed
//! strictly: an unknown key or a bad value is refused with a message naming
//! the key, the value and what is allowed.

use crate::common::limits::{
    MAX_APP_BODY, MAX_APP_MEMORY, MAX_APP_TIME, MAX_BLOB_QUOTA, MAX_KV_QUOTA, MAX_OUTBOUND_BYTES, MAX_OUTBOUND_HOSTS,
    MAX_OUTBOUND_REQUESTS,
};
pub use crate::common::names::valid_app_id;
use std::time::Duration;

use serde::Deserialize;

use super::AppError;
use crate::config::{parse_duration, parse_size};

/// A checked manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub version: String,
    /// File name of the component next to the manifest.
    pub component: String,
    /// Roles a person can have in this app; the first is the default.
    pub roles: Vec<String>,
    pub capabilities: Capabilities,
    pub limits: Limits,
    /// A Content-Security-Policy porch sends beside its own default on every
    /// response of this app. Browsers enforce both, so it can only tighten.
    pub csp: Option<String>,
    /// Named triggers porch delivers on a schedule (`[schedule]`).
    pub schedule: Vec<Trigger>,
    /// A path porch asks (as the signed-in person) for the cards it shows
    /// under the app's tile on its start page (`home = "/home.json"`).
    pub home: Option<String>,
}

/// One scheduled trigger: porch sends `POST path` with a `porch-trigger:
/// name` header whenever `at` says (a cron pattern, UTC).
#[derive(Debug, Clone)]
pub struct Trigger {
    pub name: String,
    /// The pattern as written (`0 3 * * *`, `@hourly`, or with seconds first).
    pub at: String,
    pub cron: croner::Cron,
    pub path: String,
}

/// At most this many triggers per app.
pub const MAX_TRIGGERS: usize = 16;

/// Host capabilities the app may use; anything else it imports is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// kv quota in bytes, if kv is declared.
    pub kv: Option<u64>,
    /// blob quota in bytes, if blobs is declared.
    pub blobs: Option<u64>,
    pub media: bool,
    pub people: bool,
    /// Where it may send HTTP(S) requests, if `outbound` is declared.
    pub outbound: Option<Outbound>,
    /// Whether it may ask porch for invite links (`invites = true`).
    pub invites: bool,
    /// Whether it may publish news to people's feeds (`activity = true`).
    pub activity: bool,
}

/// `[capabilities.outbound]`: the exact hosts an app may call and how much
/// one of its requests may send and receive that way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub hosts: Vec<OutboundHost>,
    /// Outgoing requests per request the app serves.
    pub requests: u32,
    /// Bytes sent and received (bodies) per request the app serves.
    pub bytes: u64,
}

/// One allowed host: a DNS name or an IP address, lower-case, and its port
/// (none: 443 for https and 80 for http).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundHost {
    pub host: String,
    pub port: Option<u16>,
}

impl OutboundHost {
    /// Reads `name`, `name:port`, `1.2.3.4`, `[2001:db8::1]:8443`: no
    /// scheme, path, user or wildcard.
    pub fn parse(text: &str) -> Option<OutboundHost> {
        let text = text.trim().to_ascii_lowercase();
        let (host, port) = match text.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && (h.starts_with('[') || !h.contains(':')) => {
                (h.to_owned(), Some(p.parse::<u16>().ok().filter(|p| *p != 0)?))
            }
            _ => (text.clone(), None),
        };
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().ok()?.to_string(),
            None if host.parse::<std::net::Ipv4Addr>().is_ok() => host,
            None if host.contains(':') => return None,
            None => {
                let name = host.strip_suffix('.').unwrap_or(&host).to_owned();
                let label_ok = |l: &str| {
                    (1..=63).contains(&l.len())
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                };
                if name.len() > 253 || !name.split('.').all(label_ok) {
                    return None;
                }
                name
            }
        };
        Some(OutboundHost { host, port })
    }

    /// Whether a request to `host` (lower-case, as in the URL) on `port`
    /// with that scheme is this entry.
    pub fn matches(&self, host: &str, port: u16, https: bool) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let same_host = match (self.host.parse::<std::net::IpAddr>(), host.parse::<std::net::IpAddr>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => self.host.eq_ignore_ascii_case(host),
        };
        same_host && self.port.unwrap_or(if https { 443 } else { 80 }) == port
    }
}

impl std::fmt::Display for OutboundHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match self.port {
            Some(port) => write!(f, "{host}:{port}"),
            None => write!(f, "{host}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory an instance may grow to.
    pub memory: usize,
    /// Wall time one request may take, body streaming included.
    pub time: Duration,
    pub request_body: u64,
    pub response_body: u64,
    /// Requests of this app running at once; more wait for a slot (up to
    /// `time`), then get 503.
    pub concurrency: u32,
    /// Of those, how many one person may have running at once (so one
    /// person's slow downloads cannot hold every slot, review finding L11).
    pub concurrency_per_person: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: String,
    name: String,
    version: String,
    component: Option<String>,
    roles: Vec<String>,
    csp: Option<String>,
    home: Option<String>,
    #[serde(default)]
    capabilities: RawCapabilities,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    schedule: std::collections::BTreeMap<String, RawTrigger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    at: String,
    path: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCapabilities {
    kv: Option<RawQuota>,
    blobs: Option<RawQuota>,
    #[serde(default)]
    media: bool,
    #[serde(default)]
    people: bool,
    #[serde(default)]
    invites: bool,
    #[serde(default)]
    activity: bool,
    outbound: Option<RawOutbound>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbound {
    hosts: Vec<String>,
    requests: Option<u32>,
    bytes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuota {
    quota: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory: Option<String>,
    time: Option<String>,
    request_body: Option<String>,
    response_body: Option<String>,
    concurrency: Option<u32>,
    concurrency_per_person: Option<u32>,
}

fn bad(key: &str, value: &str, allowed: &str) -> AppError {
    AppError::Manifest(format!("`{key}` = {value:?} is not allowed: use {allowed}"))
}

fn size(key: &str, value: Option<&str>, default: u64, min: u64, max: u64, allowed: &str) -> Result<u64, AppError> {
    match value {
        None => Ok(default),
        Some(v) => parse_size(v).filter(|n| (min..=max).contains(n)).ok_or_else(|| bad(key, v, allowed)),
    }
}

impl Manifest {
    /// The version as a comparable number (checked at parse).
    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).unwrap_or(semver::Version::new(0, 0, 0))
    }

    /// What the app asks for, a line each, as an owner reads it before
    /// installing (the CLI and the admin page show the same).
    pub fn capabilities_text(&self) -> Vec<String> {
        let c = &self.capabilities;
        let mut lines = Vec::new();
        if let Some(quota) = c.kv {
            lines.push(format!("kv: keeps records, up to {}", size_text(quota)));
        }
        if let Some(quota) = c.blobs {
            lines.push(format!("blobs: keeps files, up to {}", size_text(quota)));
        }
        if c.media {
            lines.push("media: has porch read and shrink images for it".to_owned());
        }
        if c.people {
            lines.push("people: sees the names of the people who may use it".to_owned());
        }
        if c.invites {
            lines.push(
                "invites: makes invite links that bring someone new into this app (single-use, at most at the inviter's role, as the owner allows)"
                    .to_owned(),
            );
        }
        if c.activity {
            lines.push(
                "activity: tells the people it serves what is new (shown on their start page and in their digests, under the name of whoever did it)"
                    .to_owned(),
            );
        }
        if let Some(o) = &c.outbound {
            let hosts = o.hosts.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            lines.push(format!(
                "outbound: sends requests to {hosts} (only these; up to {} requests and {} per request)",
                o.requests,
                size_text(o.bytes)
            ));
        }
        for t in &self.schedule {
            lines.push(format!("schedule: porch runs its \"{}\" job at {} (UTC), at {}", t.name, t.at, t.path));
        }
        lines
    }

    /// Its limits, a line each.
    pub fn limits_text(&self) -> Vec<String> {
        let l = &self.limits;
        vec![
            format!("memory: {} per request", size_text(l.memory as u64)),
            format!("time: {} per request", humantime::format_duration(l.time)),
            format!("uploads: {} per request", size_text(l.request_body)),
            format!("answers: {} per request", size_text(l.response_body)),
            format!("at once: {} requests, {} per person", l.concurrency, l.concurrency_per_person),
        ]
    }

    pub fn parse(text: &str) -> Result<Manifest, AppError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| AppError::Manifest(e.message().to_owned()))?;
        if !valid_app_id(&raw.id) {
            return Err(bad(
                "id",
                &raw.id,
                "1 to 32 lower-case letters, digits or inner hyphens (it becomes <id>.<domain>)",
            ));
        }
        if raw.name.trim().is_empty() || raw.name.chars().count() > 60 {
            return Err(bad("name", &raw.name, "1 to 60 characters"));
        }
        // Updates must go up, so the version must be comparable.
        if raw.version.len() > 32 || semver::Version::parse(&raw.version).is_err() {
            return Err(bad("version", &raw.version, "a version number MAJOR.MINOR.PATCH such as 1.2.0 (semver)"));
        }
        if raw.roles.is_empty() || raw.roles.len() > 16 {
            return Err(AppError::Manifest("`roles` must list 1 to 16 roles, such as [\"viewer\", \"editor\"]".into()));
        }
        for role in &raw.roles {
            if !crate::common::names::valid_name(role) {
                return Err(bad("roles", role, "1 to 32 lower-case letters, digits, '-' or '_'"));
            }
        }
        let component = raw.component.unwrap_or_else(|| format!("{}.wasm", raw.id));
        if component.contains(['/', '\\']) || component.starts_with('.') || !component.ends_with(".wasm") {
            return Err(bad("component", &component, "a file name next to app.toml ending in .wasm"));
        }
        let caps = raw.capabilities;
        let kv = match &caps.kv {
            Some(q) => {
                Some(size("capabilities.kv.quota", Some(&q.quota), 0, 1024, MAX_KV_QUOTA, "a size from 1KiB to 1GiB")?)
            }
            None => None,
        };
        let blobs = match &caps.blobs {
            Some(q) => Some(size(
                "capabilities.blobs.quota",
                Some(&q.quota),
                0,
                1024,
                MAX_BLOB_QUOTA,
                "a size from 1KiB to 16TiB",
            )?),
            None => None,
        };
        let outbound = caps.outbound.map(outbound).transpose()?;
        let l = raw.limits;
        let memory = size(
            "limits.memory",
            l.memory.as_deref(),
            64 << 20,
            1 << 20,
            MAX_APP_MEMORY as u64,
            "a size from 1MiB to 1GiB",
        )?;
        let time = match l.time.as_deref() {
            None => Duration::from_secs(30),
            Some(v) => parse_duration(v, Duration::from_millis(10), MAX_APP_TIME)
                .ok_or_else(|| bad("limits.time", v, "a duration from 10ms to 1h"))?,
        };
        let concurrency = match l.concurrency {
            None => 16,
            Some(n) if (1..=1024).contains(&n) => n,
            Some(n) => return Err(bad("limits.concurrency", &n.to_string(), "a whole number from 1 to 1024")),
        };
        let limits = Limits {
            memory: usize::try_from(memory).unwrap_or(MAX_APP_MEMORY),
            time,
            request_body: size(
                "limits.request_body",
                l.request_body.as_deref(),
                1 << 20,
                0,
                MAX_APP_BODY,
                "a size up to 64GiB",
            )?,
            response_body: size(
                "limits.response_body",
                l.response_body.as_deref(),
                64 << 20,
                0,
                MAX_APP_BODY,
                "a size up to 64GiB",
            )?,
            concurrency,
            concurrency_per_person: match l.concurrency_per_person {
                None => concurrency.div_ceil(2),
                Some(n) if (1..=concurrency).contains(&n) => n,
                Some(n) => {
                    let allowed = format!("a whole number from 1 to limits.concurrency ({concurrency})");
                    return Err(bad("limits.concurrency_per_person", &n.to_string(), &allowed));
                }
            },
        };
        if let Some(csp) = &raw.csp
            && (csp.trim().is_empty() || csp.len() > 2048 || !csp.bytes().all(|b| (b' '..=b'~').contains(&b)))
        {
            return Err(bad("csp", csp, "a Content-Security-Policy of 1 to 2048 printable ASCII characters"));
        }
        let schedule = triggers(raw.schedule)?;
        if let Some(home) = &raw.home
            && !app_path(home)
        {
            return Err(bad("home", home, "a path on the app's host such as /home.json"));
        }
        Ok(Manifest {
            id: raw.id,
            name: raw.name.trim().to_owned(),
            version: raw.version,
            component,
            roles: raw.roles,
            capabilities: Capabilities {
                kv,
                blobs,
                media: caps.media,
                people: caps.people,
                outbound,
                invites: caps.invites,
                activity: caps.activity,
            },
            limits,
            csp: raw.csp.map(|c| c.trim().to_owned()),
            schedule,
            home: raw.home,
        })
    }

    /// The porch interfaces this manifest allows the component to import.
    pub fn allows_interface(&self, interface: &str) -> bool {
        match interface {
            "types" => true,
            "kv" => self.capabilities.kv.is_some(),
            "blobs" => self.capabilities.blobs.is_some(),
            // media works on blobs, so it needs them too.
            "media" => self.capabilities.media && self.capabilities.blobs.is_some(),
            "people" => self.capabilities.people,
            "invites" => self.capabilities.invites,
            "activity" => self.capabilities.activity,
            _ => false,
        }
    }
}

/// Checks `[capabilities.outbound]`: 1 to [`MAX_OUTBOUND_HOSTS`] exact
/// hosts, the request count and the byte budget.
fn outbound(raw: RawOutbound) -> Result<Outbound, AppError> {
    if raw.hosts.is_empty() || raw.hosts.len() > MAX_OUTBOUND_HOSTS {
        return Err(AppError::Manifest(format!(
            "`capabilities.outbound.hosts` must list 1 to {MAX_OUTBOUND_HOSTS} hosts, such as [\"api.example.org\"]"
        )));
    }
    let mut hosts = Vec::new();
    for text in &raw.hosts {
        let host = OutboundHost::parse(text).ok_or_else(|| {
            bad(
                "capabilities.outbound.hosts",
                text,
                "exact host names or IP addresses, each with an optional :port (no scheme, path or wildcard), such as \"api.example.org\" or \"tiles.example.org:8443\"",
            )
        })?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    let requests = match raw.requests {
        None => 8,
        Some(n) if (1..=MAX_OUTBOUND_REQUESTS).contains(&n) => n,
        Some(n) => {
            let allowed = format!("a whole number from 1 to {MAX_OUTBOUND_REQUESTS}");
            return Err(bad("capabilities.outbound.requests", &n.to_string(), &allowed));
        }
    };
    let bytes = size(
        "capabilities.outbound.bytes",
        raw.bytes.as_deref(),
        4 << 20,
        1024,
        MAX_OUTBOUND_BYTES,
        "a size from 1KiB to 1GiB",
    )?;
    Ok(Outbound { hosts, requests, bytes })
}

/// Checks `[schedule]`: names like role names, patterns croner reads (five
/// fields, or six with seconds first, or `@hourly` and the like), paths on
/// the app's host.
fn triggers(raw: std::collections::BTreeMap<String, RawTrigger>) -> Result<Vec<Trigger>, AppError> {
    if raw.len() > MAX_TRIGGERS {
        return Err(AppError::Manifest(format!("`schedule` may name at most {MAX_TRIGGERS} triggers")));
    }
    let parser = croner::parser::CronParser::builder().seconds(croner::parser::Seconds::Optional).build();
    let mut out = Vec::new();
    for (name, t) in raw {
        if !crate::common::names::valid_name(&name) {
            return Err(bad("schedule", &name, "trigger names of 1 to 32 lower-case letters, digits, '-' or '_'"));
        }
        let key = format!("schedule.{name}.at");
        let cron = parser.parse(t.at.trim()).map_err(|e| {
            AppError::Manifest(format!(
                "`{key}` = {:?} is not a schedule porch reads ({e}): use a cron pattern such as \"0 3 * * *\" (03:00 UTC daily) or @hourly",
                t.at
            ))
        })?;
        if !app_path(&t.path) {
            return Err(bad(
                &format!("schedule.{name}.path"),
                &t.path,
                "a path on the app's host such as /jobs/nightly",
            ));
        }
        out.push(Trigger { name, at: t.at.trim().to_owned(), cron, path: t.path });
    }
    Ok(out)
}

/// A path on the app's own host: one leading `/`, printable ASCII, short.
fn app_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && path.len() <= 200 && path.bytes().all(|b| b.is_ascii_graphic())
}

/// A byte count as a person reads it: the largest binary unit it is a whole
/// number of (`64 MiB`), else with one decimal (`1.5 GiB`).
pub fn size_text(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{:.1} {unit}", bytes as f64 / size as f64)
            };
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        id = "photos"
        name = "Photos"
        version = "1.0.0"
        roles = ["viewer", "contributor"]
        [capabilities]
        kv = { quota = "10MiB" }
        blobs = { quota = "100GiB" }
        media = true
        [limits]
        memory = "128MiB"
        time = "30s"
    "#;

    #[test]
    fn schedules_are_checked_when_the_manifest_is_read() {
        let with = |table: &str| Manifest::parse(&format!("{GOOD}\n[schedule]\n{table}"));
        let m = with(
            "nightly = { at = \"0 3 * * *\", path = \"/jobs/nightly\" }\ntidy = { at = \"@hourly\", path = \"/t\" }",
        )
        .expect("valid");
        assert_eq!(m.schedule.len(), 2);
        assert!(m.capabilities_text().iter().any(|l| l.contains("\"nightly\" job at 0 3 * * *")));
        let err = |table: &str| with(table).expect_err(table).to_string();
        assert!(err("x = { at = \"61 * * * *\", path = \"/x\" }").contains("schedule.x.at"));
        assert!(err("x = { at = \"@hourly\", path = \"x\" }").contains("schedule.x.path"));
        assert!(err("X = { at = \"@hourly\", path = \"/x\" }").contains("trigger names"));
        assert!(err("x = { at = \"@hourly\" }").contains("path"));
        let many: String = (0..17).map(|i| format!("t{i} = {{ at = \"@daily\", path = \"/\" }}\n")).collect();
        assert!(err(&many).contains("at most 16"));
    }

    #[test]
    fn outbound_lists_exact_hosts_and_its_budget() {
        let with = |table: &str| Manifest::parse(&format!("{GOOD}\n[capabilities.outbound]\n{table}"));
        let m = with("hosts = [\"API.example.org\", \"tiles.example.org:8443\", \"[2001:db8::1]:443\", \"192.0.2.7\"]")
            .expect("valid");
        let o = m.capabilities.outbound.as_ref().expect("declared");
        let shown: Vec<String> = o.hosts.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["api.example.org", "tiles.example.org:8443", "[2001:db8::1]:443", "192.0.2.7"]);
        assert_eq!((o.requests, o.bytes), (8, 4 << 20));
        assert!(m.capabilities_text().iter().any(|l| l.starts_with("outbound: sends requests to api.example.org")));
        let err = |table: &str| with(table).expect_err(table).to_string();
        for host in ["https://api.example.org", "*.example.org", "api.example.org/path", "a b", "x:0", "x:99999", ""] {
            assert!(err(&format!("hosts = [{host:?}]")).contains("capabilities.outbound.hosts"), "{host}");
        }
        assert!(err("hosts = []").contains("1 to 32 hosts"));
        assert!(err("hosts = [\"a.org\"]\nrequests = 0").contains("capabilities.outbound.requests"));
        assert!(err("hosts = [\"a.org\"]\nbytes = \"2GiB\"").contains("capabilities.outbound.bytes"));
        assert!(err("hosts = [\"a.org\"]\nproxy = true").contains("unknown field"));
    }

    #[test]
    fn a_good_manifest_parses_with_defaults() {
        let m = Manifest::parse(GOOD).expect("valid");
        assert_eq!(m.component, "photos.wasm");
        assert_eq!(m.capabilities.kv, Some(10 << 20));
        assert_eq!(m.capabilities.blobs, Some(100 << 30));
        assert!(m.allows_interface("media") && !m.allows_interface("people"));
        assert_eq!(m.limits.request_body, 1 << 20);
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let cases = [
            (GOOD.replace("\"photos\"", "\"Photos!\""), "`id`"),
            (GOOD.replace("128MiB", "9GiB"), "`limits.memory`"),
            (GOOD.replace("30s", "forever"), "`limits.time`"),
            (GOOD.replace("media = true", "network = true"), "unknown field `network`"),
            (GOOD.replace("[\"viewer\", \"contributor\"]", "[]"), "`roles`"),
            (GOOD.replace("10MiB", "lots"), "`capabilities.kv.quota`"),
        ];
        for (text, expected) in cases {
            let err = Manifest::parse(&text).expect_err(expected).to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn component_names_cannot_escape_the_app_folder() {
        let text = GOOD.replace("version = \"1.0.0\"", "version = \"1.0.0\"\ncomponent = \"../../etc/x.wasm\"");
        assert!(Manifest::parse(&text).is_err());
    }
}
