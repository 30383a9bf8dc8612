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
        default: "127.0.0.1:8080",
        allowed: "an address and port such as 0.0.0.0:443 or [::]:8080",
        doc: "Where porch listens for HTTP(S) connections.",
    },
    Key {
        name: "tls",
        default: "off",
        allowed: "off, self-signed, files or acme",
        doc: "How porch gets certificates. `off` serves plain HTTP (the localhost demo, or behind a tunnel that terminates TLS).",
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
    #[error(
        "tls = \"{0}\" is not available in this build yet; use tls = \"off\" (plain HTTP, for localhost or behind a tunnel that terminates TLS)"
    )]
    TlsUnavailable(&'static str),
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

/// Validated settings with derived values; what the rest of porch reads.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub domain: String,
    pub listen: SocketAddr,
    pub tls: TlsMode,
    pub public_url: Option<url::Url>,
    pub session_lifetime: Duration,
    pub invite_expires: Duration,
    pub invite_uses: u32,
    pub password_min_length: usize,
    pub form_body_limit: usize,
    pub shutdown_grace: Duration,
    pub log: String,
    pub app_instances: u32,
    pub app_pooling: bool,
    pub media: crate::media::MediaLimits,
    pub media_timeout: Duration,
    pub media_workers: u32,
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
    resolve(path.as_deref().zip(text.as_deref()), &env, overrides)
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
    fn key(name: &str) -> &'static Key {
        // KEYS is a constant list and every caller names one of its entries.
        KEYS.iter().find(|k| k.name == name).unwrap_or(&KEYS[0])
    }

    /// Parses one key with `parse`; a failure names the key, value and rule.
    fn get<T>(&self, name: &'static str, parse: impl Fn(&str) -> Option<T>) -> Result<T, ConfigError> {
        let key = Self::key(name);
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
        if tls != TlsMode::Off {
            return Err(ConfigError::TlsUnavailable(tls.as_str()));
        }
        Ok(Settings {
            data_dir: self.get("data_dir", |v| (!v.is_empty()).then(|| PathBuf::from(v)))?,
            domain: self.get("domain", parse_domain)?,
            listen: self.get("listen", |v| v.parse().ok())?,
            tls,
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
            form_body_limit: self
                .get("limits.form_body", |v| parse_size(v).filter(|n| (1024..=10 * 1024 * 1024).contains(n)))?,
            shutdown_grace: self
                .get("limits.shutdown_grace", |v| parse_duration(v, Duration::ZERO, Duration::from_secs(600)))?,
            log: self.get("log", |v| (!v.is_empty()).then(|| v.to_owned()))?,
            app_instances: self.get("apps.instances", |v| v.parse().ok().filter(|n| (1..=10_000).contains(n)))?,
            app_pooling: self.get("apps.pooling", |v| match v {
                "auto" => Some(true),
                "off" => Some(false),
                _ => None,
            })?,
            media: crate::media::MediaLimits {
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
        })
    }
}

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
}
