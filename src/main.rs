//! The `porch` command line: parses flags with clap, loads settings, and
//! calls into the library. Every subcommand but `serve` works on the same
//! data folder while a server is running.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use app_cli::AppCommand;
use clap::{Args, Parser, Subcommand};
use porch::common::clock::now;
use porch::config::{self, Overrides, Settings};
use porch::gate::invites::{self, InviteRequest};
use porch::gate::{people, recovery};
use porch::store::audit::Actor;
use porch::store::{Role, Store};

/// mimalloc instead of glibc's allocator: a request allocates and frees many
/// small objects across worker threads, and glibc's malloc and free were a
/// fifth of porch's CPU time serving a static file over TLS (perf); with
/// mimalloc they are a few percent. It also hands a finished thread's memory
/// back to the system (BENCHMARKS.md).
mod app_cli;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "porch", version, about = "A private front door for your family's sharing apps")]
struct Cli {
    /// Config file (default: ./porch.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data folder (default: ./porch-data).
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve porch until SIGINT/SIGTERM (the default command).
    Serve(ServeArgs),
    /// Create the data folder and database, write porch.toml if missing, and
    /// print the owner setup link while there is no owner.
    Init,
    /// Create, list and revoke invite links.
    #[command(subcommand)]
    Invite(InviteCommand),
    /// List, disable and enable people.
    #[command(subcommand)]
    User(UserCommand),
    /// Install, list, remove and grant apps.
    #[command(subcommand)]
    App(AppCommand),
    /// Certificates: export the local CA for devices to trust.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Check the clock, data folder, database, ports, DNS and certificates,
    /// and say what to fix.
    Doctor,
    /// Email: check the [mail] settings.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Back up the data folder into DEST while porch keeps serving: a
    /// snapshot of the database, certificates, apps and config, and the
    /// blob files not already in DEST. With --verify, check DEST instead.
    Backup {
        /// The backup folder (a USB disk, a network share...).
        dest: PathBuf,
        /// Check the snapshots in DEST against their manifests instead.
        #[arg(long)]
        verify: bool,
        /// With --verify: check only this snapshot.
        #[arg(long, value_name = "NAME")]
        snapshot: Option<String>,
        /// Keep only the newest N snapshots (and the files they use).
        #[arg(long, value_name = "N")]
        keep: Option<u32>,
    },
    /// Bring a data folder back from a backup folder (the newest snapshot,
    /// or --snapshot NAME) into --data DIR.
    Restore {
        /// The backup folder.
        from: PathBuf,
        #[arg(long, value_name = "NAME")]
        snapshot: Option<String>,
        /// Replace a non-empty data folder (it is moved aside, not deleted).
        #[arg(long)]
        force: bool,
    },
    /// Install porch as a systemd service running as its own user, allowed
    /// only to bind ports 80, 443 and 53 (needs root). --print shows the unit.
    InstallService(ServiceArgs),
    /// Show the newest audit log events.
    Audit {
        /// How many events to show.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Address and port to listen on, e.g. 0.0.0.0:443.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The domain porch answers to.
    #[arg(long, value_name = "NAME")]
    domain: Option<String>,
    /// off, self-signed, files or acme.
    #[arg(long, value_name = "MODE")]
    tls: Option<String>,
}

#[derive(Args)]
struct ServiceArgs {
    /// Print the unit file and change nothing.
    #[arg(long)]
    print: bool,
    /// The user porch runs as (created if missing).
    #[arg(long, default_value = "porch")]
    user: String,
    /// Where the binary is installed.
    #[arg(long, default_value = "/usr/local/bin/porch", value_name = "FILE")]
    binary: PathBuf,
    /// The config file the service reads (written if missing).
    #[arg(long = "service-config", default_value = "/etc/porch/porch.toml", value_name = "FILE")]
    service_config: PathBuf,
    /// The data folder (under /var/lib).
    #[arg(long = "service-data", default_value = "/var/lib/porch", value_name = "DIR")]
    service_data: PathBuf,
    /// Enable the service but do not start it yet.
    #[arg(long)]
    no_start: bool,
}

#[derive(Subcommand)]
enum TlsCommand {
    /// Write the local CA certificate (tls = "self-signed") so a family can
    /// trust it on their devices. Makes the CA if there is none yet.
    ExportCa {
        /// Where to write it (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum InviteCommand {
    /// Create an invite; the link is printed as the last line.
    Create {
        /// Who it is for, shown on the join page ("for Grandma").
        #[arg(long, default_value = "")]
        note: String,
        /// member or owner.
        #[arg(long, default_value = "member")]
        role: String,
        /// A group the new person joins (repeatable).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// An app grant as APP:ROLE (repeatable).
        #[arg(long = "app", value_name = "APP:ROLE")]
        apps: Vec<String>,
        /// How long the link works, e.g. 7d, 12h (default from config).
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// How many people the link admits (default from config).
        #[arg(long)]
        uses: Option<u32>,
    },
    /// List every invite and its status.
    List,
    /// Revoke an invite by id.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum UserCommand {
    /// List everyone.
    List,
    /// Turn off a person (by id or name) and end all their sessions now.
    Disable { person: String },
    /// Let a disabled person sign in again.
    Enable { person: String },
    /// Make a one-time "sign in again" link for someone who forgot their
    /// password or lost their phone: it lets them pick a new password and
    /// keeps everything they have. Their earlier unused links stop working.
    Recover {
        person: String,
        /// How long the link works (default: recovery.expires, 24h).
        #[arg(long)]
        expires: Option<String>,
        /// Leave out the QR code printed for a phone's camera.
        #[arg(long)]
        no_qr: bool,
    },
}

fn main() -> ExitCode {
    // Everything porch creates (data folder, database, blobs, backups,
    // certificates) is for its own user only, also when it runs outside the
    // systemd unit's UMask=0077 (review finding L10).
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    // A decoder job porch started itself (`media::jail`): limit this
    // process and become the decoder, before anything else runs.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == porch::media::jail::SUBCOMMAND) {
        eprintln!("porch media-jail: {}", porch::media::jail::enter(&args[2..]));
        return ExitCode::from(126);
    }
    let cli = Cli::parse();
    let serve_args = match &cli.command {
        Some(Command::Serve(args)) => Some(args),
        None => None,
        _ => None,
    };
    let overrides = Overrides {
        data_dir: cli.data.clone(),
        domain: serve_args.and_then(|a| a.domain.clone()),
        listen: serve_args.and_then(|a| a.listen.clone()),
        tls: serve_args.and_then(|a| a.tls.clone()),
    };
    let settings = match config::load(cli.config.as_deref(), &overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("porch: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("porch: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("porch: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(settings: &Settings) {
    // hickory's server logs every DNS query at info; porch's `log` filter
    // applies to it only when it names it.
    let quiet = |filter: &str| {
        if filter.contains("hickory") {
            filter.to_owned()
        } else {
            format!("{filter},hickory_server=warn,hickory_proto=warn")
        }
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(quiet(&f)).ok())
        .or_else(|| tracing_subscriber::EnvFilter::try_new(quiet(&settings.log)).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if settings.log_format == config::LogFormat::Json {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
}

async fn run(cli: Cli, settings: Settings) -> Result<()> {
    // One match: commands that open the store go through `with_store`.
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(_) => Ok(porch::server::run(settings).await?),
        Command::Doctor => doctor(&settings).await,
        Command::Mail(MailCommand::Test { address }) => mail_test(&settings, &address).await,
        Command::Tls(TlsCommand::ExportCa { out }) => export_ca(&settings, out),
        Command::Restore { from, snapshot, force } => restore(&settings, &from, snapshot, force).await,
        Command::InstallService(args) => install_service(&settings, args),
        Command::Backup { dest, verify: true, snapshot, .. } => verify_backup(&dest, snapshot).await,
        Command::Backup { dest, keep, .. } => {
            if !settings.data_dir.join(porch::store::DB_FILE).is_file() {
                bail!(
                    "there is no porch database in {} to back up. Pass the data folder porch serves with --data",
                    settings.data_dir.display()
                );
            }
            with_store(&settings, async |store| backup(store, &settings, &dest, keep).await).await
        }
        Command::Init => with_store(&settings, async |store| init(store, &settings, cli.config).await).await,
        Command::Invite(cmd) => with_store(&settings, async |store| invite(store, &settings, cmd).await).await,
        Command::User(cmd) => with_store(&settings, async |store| user(store, &settings, cmd).await).await,
        Command::App(cmd) if !cmd.needs_store() => app_cli::without_store(&settings, cmd),
        Command::App(cmd) => {
            with_store(&settings, async |store| app_cli::with_store(store, &settings, cmd).await).await
        }
        Command::Audit { limit } => with_store(&settings, async |store| audit(store, limit).await).await,
    }
}

/// Opens the store, runs `command` on it, and closes it cleanly whatever
/// the command's outcome.
async fn with_store(settings: &Settings, command: impl AsyncFnOnce(&Store) -> Result<()>) -> Result<()> {
    let store = Store::open(&settings.data_dir).await?;
    let result = command(&store).await;
    store.close().await;
    result
}

async fn backup(store: &Store, settings: &Settings, dest: &std::path::Path, keep: Option<u32>) -> Result<()> {
    let keep = keep.map(|k| k.max(1) as usize);
    let made = porch::backup::make(store, &settings.data_dir, settings.config_file.as_deref(), dest, keep).await?;
    println!("Backed up to {}: {made}.", dest.display());
    println!("Check it any time with `porch backup --verify {}`.", dest.display());
    Ok(())
}

async fn verify_backup(dest: &std::path::Path, snapshot: Option<String>) -> Result<()> {
    let checked = porch::backup::verify(dest, snapshot.as_deref()).await?;
    let mut bad = 0;
    for c in &checked {
        if c.problems.is_empty() {
            println!("ok      {} ({} files)", c.snapshot, c.files);
        } else {
            bad += 1;
            println!("DAMAGED {}:", c.snapshot);
            for p in &c.problems {
                println!("        {p}");
            }
        }
    }
    if bad > 0 {
        bail!("{bad} of {} snapshot(s) failed the check; restore from one marked ok", checked.len());
    }
    println!("All {} snapshot(s) match their manifests.", checked.len());
    Ok(())
}

async fn restore(settings: &Settings, from: &std::path::Path, snapshot: Option<String>, force: bool) -> Result<()> {
    let done = porch::backup::restore::restore(from, snapshot.as_deref(), &settings.data_dir, force).await?;
    if let Some(aside) = &done.moved_aside {
        println!("Moved the previous contents of {} to {}.", settings.data_dir.display(), aside.display());
    }
    println!("Restored snapshot {} ({} files) into {}.", done.snapshot, done.files, settings.data_dir.display());
    if let Some(config) = &done.config {
        println!(
            "The snapshot's config file is at {}; move it to where porch reads its config (for the service: /etc/porch/porch.toml).",
            config.display()
        );
    }
    println!("Start porch on it: porch --data {} serve", settings.data_dir.display());
    Ok(())
}

fn install_service(settings: &Settings, args: ServiceArgs) -> Result<()> {
    // The backup folder the service will write to, from the service's own
    // config when it exists (else the one this command was given).
    let service_settings = match args.service_config.is_file() {
        true => Some(config::load(Some(&args.service_config), &config::Overrides::default())?),
        false => None,
    };
    let layout = porch::service::Layout {
        user: args.user,
        binary: args.binary,
        config: args.service_config,
        data: args.service_data,
        writable: service_settings.as_ref().unwrap_or(settings).backup.iter().map(|b| b.to.clone()).collect(),
    };
    if args.print {
        print!("{}", layout.unit()?);
        return Ok(());
    }
    let current = std::env::current_exe().context("cannot find porch's own binary")?;
    for line in porch::service::install(&layout, &current, &config::example_file(), !args.no_start)? {
        println!("{line}");
    }
    println!(
        "Next: edit {} (domain, tls), then `sudo -u {} {} --config {} --data {} doctor`.",
        layout.config.display(),
        layout.user,
        layout.binary.display(),
        layout.config.display(),
        layout.data.display()
    );
    Ok(())
}

async fn doctor(settings: &Settings) -> Result<()> {
    let checks = porch::doctor::run(settings).await;
    for check in &checks {
        println!("{check}");
    }
    let failed = checks.iter().filter(|c| c.outcome == porch::doctor::Outcome::Fail).count();
    if failed > 0 {
        bail!("{failed} check(s) failed; fix them in the order shown and run `porch doctor` again");
    }
    println!("All checks passed.");
    Ok(())
}

fn export_ca(settings: &Settings, out: Option<PathBuf>) -> Result<()> {
    let ca = porch::edge::local_ca::LocalCa::new(&settings.data_dir);
    let pem = ca.ensure(&settings.domain)?;
    match out {
        Some(path) => {
            std::fs::write(&path, &pem).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "Wrote the local CA certificate to {}. Install it as a trusted root on each family device (on a phone: open the file and follow the prompts).",
                path.display()
            );
        }
        None => print!("{pem}"),
    }
    Ok(())
}

/// The link base: what the last `porch serve` on this data folder recorded,
/// else what the config says.
async fn base_url(store: &Store, settings: &Settings) -> Result<String> {
    if let Some(url) = &settings.public_url {
        return Ok(url.as_str().trim_end_matches('/').to_owned());
    }
    match store.setting("public_url").await? {
        Some(url) => Ok(url),
        None => Ok(settings.base_url(settings.listen)),
    }
}

async fn init(store: &Store, settings: &Settings, config: Option<PathBuf>) -> Result<()> {
    let path = config.unwrap_or_else(|| PathBuf::from("porch.toml"));
    if path.exists() {
        println!("Config file {} already exists; left as it is.", path.display());
    } else {
        std::fs::write(&path, config::example_file()).with_context(|| format!("cannot write {}", path.display()))?;
        println!("Wrote {} with every setting explained.", path.display());
    }
    println!("Data folder ready: {}", settings.data_dir.display());
    let base = base_url(store, settings).await?;
    match invites::ensure_owner_setup(store, settings, &base).await? {
        Some(link) => println!("Owner setup link: {link}"),
        None => println!("This porch already has an owner."),
    }
    Ok(())
}

async fn invite(store: &Store, settings: &Settings, cmd: InviteCommand) -> Result<()> {
    match cmd {
        InviteCommand::Create { note, role, groups, apps, expires, uses } => {
            let Some(role) = Role::parse(&role) else { bail!("--role must be member or owner, not {role:?}") };
            let expires = match expires {
                Some(text) => config::parse_duration(
                    &text,
                    porch::common::limits::MIN_INVITE_EXPIRY,
                    porch::common::limits::MAX_INVITE_EXPIRY,
                )
                .with_context(|| format!("--expires {text:?}: use a duration from 1s to 365d, such as 7d or 12h"))?,
                None => settings.invites.expires,
            };
            let request = InviteRequest {
                note,
                role,
                groups: invites::parse_groups(&groups.join(","))?,
                grants: apps.iter().map(|a| invites::parse_grant(a)).collect::<Result<_, _>>()?,
                expires,
                uses: uses.unwrap_or(settings.invites.uses),
                app: None,
            };
            let base = base_url(store, settings).await?;
            let created = invites::create(store, &base, request, Actor::Console).await?;
            println!("Invite {} created. Send this link (it is shown only once):", created.id);
            println!("{}", created.link);
        }
        InviteCommand::List => {
            let at = now();
            println!("{:<5} {:<9} {:<7} {:<6} {:<22} NOTE", "ID", "STATUS", "ROLE", "USES", "EXPIRES");
            for i in store.invites().await? {
                println!(
                    "{:<5} {:<9} {:<7} {:<6} {:<22} {}",
                    i.id,
                    i.status(at).as_str(),
                    i.role,
                    format!("{}/{}", i.uses, i.max_uses),
                    when(i.expires_at),
                    i.note
                );
            }
        }
        InviteCommand::Revoke { id } => {
            if invites::revoke(store, id, Actor::Console).await? {
                println!("Invite {id} revoked; its link no longer works.");
            } else {
                bail!("no active invite {id} to revoke; `porch invite list` shows them");
            }
        }
    }
    Ok(())
}

async fn user(store: &Store, settings: &Settings, cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::List => {
            println!("{:<5} {:<24} {:<7} {:<9} GROUPS", "ID", "NAME", "ROLE", "STATUS");
            for p in store.people().await? {
                let status = if p.is_disabled() { "disabled" } else { "active" };
                println!("{:<5} {:<24} {:<7} {:<9} {}", p.id, p.display_name, p.role, status, p.groups);
            }
        }
        UserCommand::Disable { person } => {
            let p = people::find(store, &person).await?;
            let ended = people::disable(store, &p, Actor::Console).await?;
            println!("{} is disabled; {ended} session(s) ended.", p.display_name);
        }
        UserCommand::Enable { person } => {
            let p = people::find(store, &person).await?;
            people::enable(store, &p, Actor::Console).await?;
            println!("{} can sign in again.", p.display_name);
        }
        UserCommand::Recover { person, expires, no_qr } => {
            let p = people::find(store, &person).await?;
            let lasts = match expires {
                Some(text) => {
                    use config::rules::Parse;
                    let rule = config::rule_of::recovery::expires();
                    rule.parse(text.trim())
                        .with_context(|| format!("--expires {text:?}: allowed is {}", rule.allowed()))?
                }
                None => settings.recovery.expires,
            };
            let base = base_url(store, settings).await?;
            let created = recovery::create(store, &base, &p, lasts, Actor::Console).await?;
            println!(
                "A sign-in link for {} (works once, until {}; shown only now):",
                p.display_name,
                when(created.expires_at)
            );
            if !no_qr && let Ok(code) = qrcode::QrCode::new(created.link.as_bytes()) {
                println!("{}", code.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
            }
            println!("{}", created.link);
        }
    }
    Ok(())
}

async fn audit(store: &Store, limit: i64) -> Result<()> {
    for e in store.audit_events(limit.clamp(1, 100_000)).await? {
        // Every field is printed with its control characters escaped: a
        // typed sign-in name must not move the cursor or forge a line (L6).
        let clean = porch::store::escape_controls;
        let actor = clean(e.actor_name.as_deref().unwrap_or("-")).into_owned();
        let ip = clean(e.ip.as_deref().unwrap_or("-")).into_owned();
        let (action, subject, detail) = (clean(&e.action), clean(&e.subject), clean(&e.detail));
        println!("{}  {:<16} {:<14} {:<16} {:<15} {}", when(e.at), action, actor, subject, ip, detail);
    }
    Ok(())
}

fn when(secs: i64) -> String {
    let d = Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + d).to_string()
}

#[derive(Subcommand)]
enum MailCommand {
    /// Send a test email to ADDRESS through the [mail] server, and say what
    /// went wrong if it did not go.
    Test {
        /// Where to send it.
        address: String,
    },
}

/// `porch mail test ADDRESS`.
async fn mail_test(settings: &Settings, address: &str) -> Result<()> {
    let Some(mailer) = porch::gate::mail::Mailer::from_settings(settings.mail.as_ref())? else {
        bail!(
            "porch has no mail server to send through: set mail.host and mail.from in porch.toml (see README, [mail])"
        );
    };
    let email = porch::gate::mail::Email {
        to: address,
        subject: "porch can send you email",
        text: format!(
            "This is a test from porch at {}. Digests of what's new will come from this address.\n",
            settings.domain
        ),
        html: format!(
            "<p>This is a test from porch at {}. Digests of what's new will come from this address.</p>",
            settings.domain
        ),
        unsubscribe: None,
    };
    mailer.send(email).await?;
    println!("Sent a test email to {address}. If it does not arrive, look in its spam folder.");
    Ok(())
}
