//! Every key of `porch.toml`, declared once: its section, name, type,
//! default, rule (which writes the "allowed" text from the bounds it checks)
//! and doc. The [`sections!`] macro turns the list into one typed struct per
//! section, the reader that fills them, and [`KEYS`] (from which README's
//! table, `porch init`'s file, the environment variables and the edge tests
//! are made). Code reads `settings.limits.in_flight`; a key that is not
//! declared here does not exist, so a typo is a compile error.
//!
//! A new key: add a line to its section below (a doc, `name: Type =
//! "default", Rule;`), read it where it is used, and document it in README.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::rules::{AutoOr, Bytes, Custom, Dur, OffOr, OneOf, RateOrOff, Whole, parse_domain};
use super::values::*;
use super::{ConfigError, Key, Reader};

/// The dotted name of a key: the leaf alone for top-level keys.
macro_rules! key_name {
    ("", $leaf:ident) => {
        stringify!($leaf)
    };
    ($section:tt, $leaf:ident) => {
        concat!($section, ".", stringify!($leaf))
    };
}

/// Declares the sections; see the module doc.
macro_rules! sections {
    ($(
        $(#[doc = $sdoc:literal])*
        $section:ident : $Ty:ident = $prefix:tt {
            $(
                $(#[doc = $doc:literal])+
                $field:ident : $fty:ty = $default:literal, $rule:expr;
            )+
        }
    )+) => {
        $(
            $(#[doc = $sdoc])*
            #[derive(Debug, Clone, PartialEq)]
            pub struct $Ty {
                $( $(#[doc = $doc])+ pub $field: $fty, )+
            }

            impl $Ty {
                fn read(reader: &Reader) -> Result<Self, ConfigError> {
                    Ok($Ty { $( $field: reader.read(names::$section::$field, $default, &$rule)?, )+ })
                }
            }

            impl Default for $Ty {
                /// The declared defaults (the `defaults_are_valid` test
                /// holds that every one parses).
                fn default() -> Self {
                    match Self::read(&Reader::defaults()) {
                        Ok(section) => section,
                        Err(e) => panic!("porch's own default is not valid: {e}"),
                    }
                }
            }
        )+

        /// Every section's keys, as read from file, environment and flags.
        #[derive(Debug, Clone)]
        pub struct Keys {
            $( $(#[doc = $sdoc])* pub $section: $Ty, )+
        }

        impl Keys {
            pub(super) fn read(reader: &Reader) -> Result<Keys, ConfigError> {
                Ok(Keys { $( $section: $Ty::read(reader)?, )+ })
            }
        }

        /// Each key's dotted name as a constant (`names::limits::in_flight`),
        /// for code that must name a key as text (command-line flags).
        pub mod names {
            $(
                #[allow(non_upper_case_globals)]
                pub mod $section {
                    $( pub const $field: &str = key_name!($prefix, $field); )+
                }
            )+
        }

        /// Each key's rule as a value (`rule_of::recovery::expires()`), for a
        /// command-line flag that takes the same values as its key.
        pub mod rule_of {
            $(
                pub mod $section {
                    #[allow(unused_imports)]
                    use super::super::*;
                    $(
                        pub fn $field() -> impl super::super::super::rules::Parse<Out = $fty> {
                            typed::<$fty, _>($rule)
                        }
                    )+
                }
            )+
        }

        /// Every key porch understands, top-level keys first (the example
        /// file writes sections in this order).
        pub const KEYS: &[Key] = &[
            $($(
                Key {
                    name: names::$section::$field,
                    default: $default,
                    doc: concat!($($doc),+),
                    rule: &typed::<$fty, _>($rule),
                },
            )+)+
        ];
    };
}

/// Ties a rule to its key's type, so `Whole(1, 10)` is read as the key's
/// number type in [`KEYS`] too.
const fn typed<T, P: super::rules::Parse<Out = T>>(rule: P) -> P {
    rule
}

sections! {
    /// Top-level keys: where porch lives, its name and how it is reached.
    top: TopKeys = "" {
        /// Where porch keeps its database and files. Created if missing.
        data_dir: PathBuf = "./porch-data", Custom { allowed: "a folder path", parse: folder };
        /// The name porch answers to. Its own pages live on this name, each app on <app>.<domain>.
        domain: String = "localhost", Custom { allowed: "a DNS name such as family.example", parse: parse_domain };
        /// Where porch listens for HTTP(S) connections. auto: 127.0.0.1:8080 with TLS off, else [::]:443 (all
        /// addresses).
        listen: Option<SocketAddr> = "auto", AutoOr(ADDRESS);
        /// With TLS on, a plain-HTTP listener that answers ACME HTTP-01 checks and sends everyone else to
        /// HTTPS. auto: [::]:80 with TLS on, off without.
        http_listen: Option<Option<SocketAddr>> = "auto", AutoOr(OffOr(ADDRESS));
        /// How porch gets certificates: acme (Let's Encrypt or another ACME CA, renewed by itself), self-signed
        /// (a local CA for a LAN; `porch tls export-ca`), files (your own PEM files) or off (plain HTTP: the
        /// localhost demo, or behind a tunnel that terminates TLS).
        tls: TlsMode = "off", OneOf(&[
            ("off", TlsMode::Off),
            ("self-signed", TlsMode::SelfSigned),
            ("files", TlsMode::Files),
            ("acme", TlsMode::Acme),
        ]);
        /// The address people use to reach porch, used in invite links. Empty: made from tls, domain and the
        /// listening port.
        public_url: Option<url::Url> = "", Custom {
            allowed: "empty, or an http(s) URL with no path, such as https://family.example",
            parse: http_origin,
        };
        /// What porch logs to standard error. RUST_LOG, when set, wins.
        log: String = "info", Custom {
            allowed: "a tracing filter such as info, debug or porch=debug,info",
            parse: not_empty,
        };
        /// How log lines look: human (one readable line each) or json (one JSON object per line, for log
        /// collectors).
        log_format: LogFormat = "human", OneOf(&[("human", LogFormat::Human), ("json", LogFormat::Json)]);
        /// How long full client addresses are kept in the audit log. Older events keep only the network (IPv4
        /// /24, IPv6 /48). Porch's log lines never carry full addresses.
        keep_ips: Duration = "7d", Dur("1h", "400d");
        /// Reverse proxies in front of porch. Only a connection from one of these may name the real client with
        /// X-Forwarded-For or Forwarded; from anyone else those headers are ignored.
        trusted_proxies: Vec<ipnet::IpNet> = "", Custom {
            allowed: "empty, or IP addresses and networks separated by commas, such as 127.0.0.1, 10.0.0.0/8",
            parse: networks,
        };
        /// The one header your trusted proxy writes the client's address into. Only that header is read (from
        /// trusted_proxies only); the other is ignored, since a proxy passes on whatever the client put there.
        forwarded_header: ForwardedHeader = "x-forwarded-for", OneOf(&[
            ("x-forwarded-for", ForwardedHeader::XForwardedFor),
            ("forwarded", ForwardedHeader::Forwarded),
        ]);
    }
    /// `[audit]`: how long the audit log keeps events.
    audit: Audit = "audit" {
        /// How long audit events are kept. Older ones are deleted by the hourly sweep, so the log cannot grow
        /// without bound.
        keep: Duration = "365d", Dur("1d", "3650d");
    }
    /// `[sessions]`: how long a sign-in lasts.
    sessions: Sessions = "sessions" {
        /// How long a sign-in lasts without being used. Every visit slides it forward.
        lifetime: Duration = "90d", Dur("1h", "400d");
    }
    /// `[invites]`: what a new invite link allows unless its creator picks otherwise.
    invites: Invites = "invites" {
        /// How long a new invite link works unless its creator picks otherwise.
        expires: Duration = "7d", Dur("1m", "365d");
        /// How many people one invite link admits unless its creator picks otherwise.
        uses: u32 = "1", Whole(1, 1000);
        /// Which app roles may invite someone new through their app (the `invites` capability, such as Photos'
        /// "Invite someone new" on an album): the role named and those after it in the app's list. Empty: only
        /// porch's owners invite. The new person gets that app only, at most at the inviter's role.
        from_apps: Vec<(String, String)> = "photos:contributor, files:contributor", Custom {
            allowed: "empty, or APP:ROLE pairs separated by commas, such as photos:contributor",
            parse: crate::config::values::app_roles,
        };
    }
    /// `[recovery]`: the one-time "sign in again" links the owner makes.
    recovery: Recovery = "recovery" {
        /// How long a "sign in again" link (Admin → People, or `porch user recover`) works. It works once, and a
        /// newer link for the same person replaces it.
        expires: Duration = "24h", Dur("10m", "7d");
    }
    /// `[passwords]`: password rules and how much argon2 work runs at once.
    passwords: Passwords = "passwords" {
        /// The fewest characters a password may have.
        min_length: usize = "10", Whole(10, 128);
        /// How many password checks (argon2, 19 MiB of memory each) run at once; others wait their turn.
        parallel: Option<usize> = "auto", AutoOr(Whole(1, 256));
        /// How long a sign-in or join waits for a free password slot before it is answered 503 with Retry-
        /// After.
        queue_wait: Duration = "5s", Dur("0s", "60s");
    }
    /// `[limits]`: what one client, and everyone together, may use.
    limits: Limits = "limits" {
        /// The largest request body porch's own pages accept; larger ones get 413.
        form_body: u64 = "64KiB", Bytes("1KiB", "10MiB");
        /// How long requests in flight may take to finish after SIGINT/SIGTERM.
        shutdown_grace: Duration = "10s", Dur("0s", "10m");
        /// Requests one client (an IPv4 address, or an IPv6 /64) may make, on average; beyond it they get 429
        /// with Retry-After.
        requests: Option<Duration> = "20/s", RateOrOff;
        /// Requests one client may make at once before limits.requests applies (a page of thumbnails is many
        /// requests).
        requests_burst: u32 = "400", Whole(1, 1_000_000);
        /// The stricter rate for sign-in and invite links (every POST /signin and every /join/ request), per
        /// client.
        door: Option<Duration> = "10/min", RateOrOff;
        /// Sign-in and invite requests one client may make at once before limits.door applies.
        door_burst: u32 = "10", Whole(1, 1_000_000);
        /// The stricter rate for uploads (requests whose body is larger than limits.form_body), per client.
        /// Each app's app.toml sets how large one upload may be.
        uploads: Option<Duration> = "4/s", RateOrOff;
        /// Uploads one client may start at once before limits.uploads applies.
        uploads_burst: u32 = "200", Whole(1, 1_000_000);
        /// Requests porch works on at once, from everyone together; more get 503 with Retry-After.
        in_flight: u32 = "512", Whole(1, 100_000);
        /// Requests porch works on at once for one client (an IPv4 address or IPv6 /64), so no one client can
        /// take all of limits.in_flight; more get 503 with Retry-After.
        in_flight_per_client: u32 = "128", Whole(1, 100_000);
        /// How long the whole body of a form sent to porch's own pages (sign-in, join, admin) may take to
        /// arrive; a slower one gets 408.
        form_time: Duration = "10s", Dur("1s", "10m");
        /// Open connections in total. At the cap, the connection idle the longest (with no request running) is
        /// closed to make room; if none is idle, the new one is refused.
        connections: u32 = "4096", Whole(16, 1_000_000);
        /// Open connections from one client (an IPv4 address, or an IPv6 /64); more are closed at once. Trusted
        /// proxies are not capped.
        connections_per_client: u32 = "256", Whole(1, 1_000_000);
        /// How long a client may take to send a request's headers (and a TLS handshake), so slow clients cannot
        /// hold connections.
        header_timeout: Duration = "30s", Dur("1s", "10m");
        /// A connection with no request running and no bytes moving for this long is closed; an upload whose
        /// body stops arriving for this long fails with 408.
        idle_timeout: Duration = "60s", Dur("1s", "1h");
    }
    /// `[signin]`: how failed sign-ins slow down and block their source.
    signin: SigninLimits = "signin" {
        /// Failed sign-ins or dead invite links from one client before each further try must wait (1s, 2s,
        /// 4s... up to signin.max_wait).
        free_failures: u32 = "5", Whole(1, 1000);
        /// Failures from one client after which it may not try at all for signin.block_for. Blocks are audited
        /// and listed under Admin, Blocks, where owners can lift them.
        block_after: u32 = "20", Whole(2, 100_000);
        /// How long a blocked client must wait.
        block_for: Duration = "15m", Dur("1s", "7d");
        /// Failed sign-ins to one account, from anywhere, before each further try must wait. A device that has
        /// signed in to that account before never waits, so strangers cannot lock the family out.
        account_free_failures: u32 = "10", Whole(1, 100_000);
        /// The longest wait between sign-in tries that a slowed client or account is made to keep.
        max_wait: Duration = "60s", Dur("1s", "1d");
        /// Failures are forgotten this long after the last one.
        forget_after: Duration = "15m", Dur("1m", "7d");
        /// A known device (one that signed in before and so skips sign-in slow-downs) unused this long is
        /// forgotten and counts as new again.
        device_forget: Duration = "180d", Dur("1d", "400d");
    }
    /// `[apps]`: how many app instances run and how their memory is kept.
    apps: AppRuntime = "apps" {
        /// How many app instances may run at once across all apps (the pooling allocator reserves room for this
        /// many).
        instances: u32 = "256", Whole(1, 10_000);
        /// auto: use wasmtime's pooling allocator when its address space can be reserved, else on-demand. off:
        /// always on-demand.
        pooling: bool = "auto", OneOf(&[("auto", true), ("off", false)]);
        /// The largest app package (.porchapp) porch will read; a bigger one is refused before it is read.
        package_max: u64 = "256MiB", Bytes("1MiB", "4GiB");
        /// App catalogues porch may look in for apps and updates (none: porch asks no one). Each is an index URL
        /// ending in #KEY, the catalogue's signing key as its author prints it.
        catalogues: Vec<Catalogue> = "", Custom {
            allowed: "empty, or index URLs (http or https) each ending in #KEY (64 hex digits), separated by commas",
            parse: crate::config::values::catalogues,
        };
        /// How long fetching one catalogue index or one package may take.
        download_timeout: Duration = "5m", Dur("5s", "1h");
        /// Private networks that apps with the outbound capability may reach, such as 192.168.1.0/24 for a device
        /// at home (empty: only public addresses). An app still reaches only the hosts its app.toml lists.
        outbound_lan: Vec<ipnet::IpNet> = "", Custom {
            allowed: "empty, or IP addresses and networks separated by commas, such as 192.168.1.20, 10.0.0.0/8",
            parse: networks,
        };
    }
    /// `[media]`: hard limits for image work on untrusted bytes (the media layer reads them).
    media: MediaLimits = "media" {
        /// The largest image file porch will probe, thumbnail or strip.
        max_input: u64 = "128MiB", Bytes("1MiB", "4GiB");
        /// The largest image (width × height) porch will decode; larger ones are refused before decoding.
        max_pixels: u64 = "100000000", Whole(1_000_000, 1_000_000_000);
        /// The most memory one image decode may allocate.
        max_memory: u64 = "512MiB", Bytes("16MiB", "16GiB");
        /// How long one piece of image work may take before the app gets an error.
        timeout: Duration = "30s", Dur("1s", "10m");
        /// Image jobs that may run at once (each may use up to media.max_memory); more wait their turn.
        workers: u32 = "2", Whole(1, 64);
        /// The largest video porch will read for its poster, length and size, or clean of location.
        max_video: u64 = "4GiB", Bytes("1MiB", "64GiB");
        /// How long making one H.264 copy of a video (for browsers that cannot play HEVC) may take; it runs in
        /// the background, one at a time, at the lowest CPU priority.
        transcode_timeout: Duration = "1h", Dur("10s", "24h");
        /// libheif's decoder for HEIC, HEIF and AVIF pictures (Debian: libheif-examples). It runs in porch's media
        /// jail: a child process with no network, under the limits above.
        heif_decoder: PathBuf = "heif-convert", Custom { allowed: "a program name or path", parse: folder };
        /// ffmpeg, for video posters and H.264 copies (Debian: ffmpeg); run in the media jail.
        ffmpeg: PathBuf = "ffmpeg", Custom { allowed: "a program name or path", parse: folder };
        /// ffprobe, for a video's length and size (Debian: ffmpeg); run in the media jail.
        ffprobe: PathBuf = "ffprobe", Custom { allowed: "a program name or path", parse: folder };
    }
    /// `[uploads]`: resumable uploads (tus 1.0 at an app host's `/.porch/uploads`).
    uploads: Uploads = "uploads" {
        /// How long an unfinished upload is kept after its last bytes arrived; then it is removed and its room
        /// in the app's quota given back.
        unfinished_for: Duration = "24h", Dur("1s", "30d");
    }
    /// `[activity]`: the news apps publish to people's start pages (the `activity` capability).
    activity: Activity = "activity" {
        /// News from one person that an app marks as one batch (photos added to one album) merges into one line
        /// while its last piece is newer than this.
        batch_for: Duration = "15m", Dur("1s", "1d");
        /// How long news is kept after its last change.
        keep: Duration = "90d", Dur("1d", "3650d");
        /// A person's email digest waits until no news has come for them for this long, so a burst of uploads is
        /// one email.
        quiet_for: Duration = "30m", Dur("1s", "1d");
        /// A person gets at most one digest per this period (those who chose weekly, one a week).
        digest_every: Duration = "1d", Dur("1s", "30d");
    }
    /// `[mail]`: the SMTP server porch sends digests through; porch sends no email while `host` is empty.
    mail: MailKeys = "mail" {
        /// Your mail provider's SMTP server, such as smtp.example.org.
        host: Option<String> = "", Custom { allowed: "empty, or a host name or IP address", parse: optional_host };
        /// Its port: usually 587 with starttls, 465 with tls.
        port: u32 = "587", Whole(1, 65_535);
        /// starttls (port 587), tls (port 465), or off (no encryption: only for a server on this machine).
        tls: MailTls = "starttls", OneOf(&[("starttls", MailTls::StartTls), ("tls", MailTls::Tls), ("off", MailTls::Off)]);
        /// The user name porch signs in to the server with (empty: no sign-in).
        user: String = "", Custom { allowed: "empty, or a user name", parse: any_text };
        /// Its password (or set PORCH_MAIL_PASSWORD rather than writing it here).
        password: String = "", Custom { allowed: "empty, or a password", parse: any_text };
        /// The address digests come from, such as porch@family.example.
        from: Option<String> = "", Custom { allowed: "empty or an email address", parse: email_address };
        /// How long one email may take to send before porch tries again later.
        timeout: Duration = "30s", Dur("1s", "5m");
    }
    /// `[certificates]`: owner-provided PEM files, for `tls = "files"`.
    certificates: CertificateKeys = "certificates" {
        /// With tls "files": your certificate chain. porch notices when the file changes and serves the new
        /// one.
        cert: Option<PathBuf> = "", Custom {
            allowed: "empty, or a path to a PEM file: the certificate, then its chain",
            parse: optional_path,
        };
        /// With tls "files": the private key of certificates.cert.
        key: Option<PathBuf> = "", Custom {
            allowed: "empty, or a path to a PEM private key file",
            parse: optional_path,
        };
        /// With tls "files": how often porch looks for a changed certificate or key file.
        check_every: Duration = "30s", Dur("1s", "1d");
    }
    /// `[acme]`: where and how porch asks for certificates.
    acme: AcmeKeys = "acme" {
        /// The certificate authority porch asks for certificates with tls "acme".
        directory: String = "letsencrypt", Custom {
            allowed: "letsencrypt, letsencrypt-staging, or the https URL of any ACME directory",
            parse: acme_directory,
        };
        /// How the CA checks porch owns the name. auto: dns-01 with a wildcard *.<domain> when porch serves the
        /// zone ([dns]), else tls-alpn-01 on the HTTPS port, falling back to http-01 on port 80.
        challenge: AcmeChallenge = "auto", OneOf(&[
            ("auto", AcmeChallenge::Auto),
            ("http-01", AcmeChallenge::Http01),
            ("tls-alpn-01", AcmeChallenge::TlsAlpn01),
            ("dns-01", AcmeChallenge::Dns01),
        ]);
        /// Where the CA may write about expiring certificates (optional).
        email: Option<String> = "", Custom { allowed: "empty or an email address", parse: email_address };
        /// For CAs that require external account binding (EAB), the key id they gave you.
        eab_kid: String = "", Custom {
            allowed: "empty, or the key id of an external account binding from your CA",
            parse: any_text,
        };
        /// For CAs that require external account binding (EAB), the HMAC key they gave you.
        eab_hmac_key: Vec<u8> = "", Custom {
            allowed: "empty, or the base64url HMAC key of that binding",
            parse: base64url,
        };
        /// Trust this root (instead of the system's) for the ACME directory's own HTTPS: for a private or test
        /// CA.
        ca_root: Option<PathBuf> = "", Custom {
            allowed: "empty, or a path to a PEM certificate",
            parse: optional_path,
        };
        /// The CA named in porch's CAA record when it serves the zone. Empty: letsencrypt.org for the Let's
        /// Encrypt presets, no CAA record otherwise.
        caa_issuer: Option<String> = "", Custom {
            allowed: "empty, or a CA's CAA domain such as letsencrypt.org",
            parse: optional_domain,
        };
        /// The first wait after a failed certificate request; each further failure doubles it.
        retry_min: Duration = "1m", Dur("1s", "1d");
        /// The longest wait between certificate requests after failures.
        retry_max: Duration = "6h", Dur("1s", "7d");
    }
    /// `[dns]`: porch's own authoritative zone.
    dns: DnsKeys = "dns" {
        /// Serve porch's own DNS zone (UDP and TCP) here. Delegate <domain> to this box at your registrar to
        /// use it.
        listen: Option<SocketAddr> = "off", OffOr(ADDRESS);
        /// The public addresses the zone gives for <domain> and *.<domain>. Empty: found from
        /// dns.address_source.
        address: Vec<IpAddr> = "", Custom { allowed: "empty, or IP addresses separated by commas", parse: addresses };
        /// Where porch learns its public address when dns.address is empty: a local network interface, or a
        /// "what is my IP" https URL you choose (no redirects followed, at most 4 KiB read). Only public
        /// addresses are taken: private, loopback and link-local ones are never published.
        address_source: Option<AddressSource> = "", Custom {
            allowed: "empty, interface:NAME, or an https URL that answers with your address",
            parse: address_from,
        };
        /// How often porch re-checks its public address from dns.address_source.
        recheck: Duration = "5m", Dur("10s", "1d");
        /// How long resolvers may cache porch's answers.
        ttl: Duration = "5m", Dur("1s", "1d");
        /// Answers per second one source address (IPv6: one /64) gets over UDP; more are dropped, so porch
        /// cannot be used to amplify an attack. TCP is not limited this way.
        udp_rate: u32 = "20", Whole(1, 10_000);
    }
    /// `[store]`: how the data folder's disk is used.
    store: StoreKeys = "store" {
        /// Free space porch keeps on the data folder's disk: uploads that would leave less are refused with a
        /// clear message, so the database always has room to finish its writes.
        min_free: u64 = "256MiB", Bytes("0", "1024TiB");
    }
    /// `[backup]`: scheduled snapshots into a folder.
    backup: BackupKeys = "backup" {
        /// Where scheduled backups go: a folder on another disk (a USB disk, a network share). Each backup is a
        /// snapshot folder; photos already there are not copied again.
        to: Option<PathBuf> = "", Custom {
            allowed: "empty (no scheduled backups), or a folder path such as /media/usb/porch-backups",
            parse: optional_path,
        };
        /// How often porch makes a scheduled backup (counted from the last good one).
        every: Duration = "1d", Dur("1s", "30d");
        /// How many snapshots a scheduled backup keeps; older ones, and files only they used, are removed.
        keep: u32 = "7", Whole(1, 1000);
    }
    /// `[metrics]`: the Prometheus listener.
    metrics: MetricsKeys = "metrics" {
        /// Where porch serves Prometheus metrics at /metrics. Keep it on localhost (or a private address): the
        /// numbers are for the owner, not the internet.
        listen: Option<SocketAddr> = "127.0.0.1:9464", OffOr(ADDRESS);
    }
}
