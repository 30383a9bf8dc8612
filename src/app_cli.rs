//! `porch app …`: making publisher keys and packages, and installing,
//! updating, rolling back, replacing, listing, removing and granting apps
//! from the command line. Every install shows what the package is and asks
//! for before anything changes.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Subcommand;
use porch::apps::{
    Apps, FileRemoval, Manifest, Package, Plan, Publisher, ReplaceData, build_publisher, catalogue, package,
};
use porch::config::Settings;
use porch::gate::{grants, invites, people};
use porch::store::Store;
use porch::store::audit::Actor;

#[derive(Subcommand)]
pub enum AppCommand {
    /// Install an app package (.porchapp), or an app by id from the
    /// catalogues in apps.catalogues; or update an installed app to a newer
    /// version from the same publisher. Shows the app, its publisher and
    /// what it asks for, then asks you to confirm.
    Install {
        /// A .porchapp file, or an app id to find in the catalogues.
        package: String,
        /// Install without asking (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Show what a package is and what it asks for, without installing it.
    Inspect { package: PathBuf },
    /// Hand an installed app's id to a package from another publisher.
    /// Say what happens to the old app's data: --keep-data gives it to the
    /// new app, --delete-data deletes it first.
    Replace {
        id: String,
        package: PathBuf,
        #[arg(long, conflicts_with = "delete_data", required_unless_present = "delete_data")]
        keep_data: bool,
        #[arg(long)]
        delete_data: bool,
        #[arg(long)]
        yes: bool,
    },
    /// Go back to the version an update replaced (run it again to go
    /// forward).
    Rollback { id: String },
    /// List installed apps with their publishers.
    List,
    /// Look in the catalogues (apps.catalogues) for apps; TEXT narrows it.
    Search { text: Option<String> },
    /// Look in the catalogues for newer versions of installed apps, from
    /// their own publishers (`porch app install ID` installs one).
    Updates,
    /// Start a new app: a folder with a small working app, the SDK and
    /// porch's interfaces, ready to build, pack and install.
    New {
        id: String,
        /// Where to make the folder (default: the current one).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Write a signed catalogue index (index.json) of the packages in DIR,
    /// to serve from any web server beside them.
    Catalogue {
        dir: PathBuf,
        /// The catalogue's signing key (`porch app keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The catalogue's name, as owners see it.
        #[arg(long, default_value = "Apps for porch")]
        name: String,
    },
    /// Remove an app. Its data is kept (reinstalling brings it back) unless --purge.
    Remove {
        id: String,
        /// Also delete the app's kv data and blobs.
        #[arg(long)]
        purge: bool,
    },
    /// Give a person (id or name) a role in an app: APP:ROLE.
    Grant { person: String, grant: String },
    /// Take an app away from a person.
    Revoke { person: String, app: String },
    /// Make a publisher key for signing your apps (keep it secret: whoever
    /// has it can publish updates to your apps).
    Keygen {
        #[arg(long, default_value = "porch-publisher.key")]
        out: PathBuf,
    },
    /// Pack the app in DIR (app.toml and its component) into a signed
    /// ID-VERSION.porchapp.
    Pack {
        dir: PathBuf,
        /// The publisher key file (`porch app keygen`).
        #[arg(long)]
        key: PathBuf,
        /// Folder to write the package to (default: the current one).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

impl AppCommand {
    /// Whether the command needs porch's data folder.
    pub fn needs_store(&self) -> bool {
        !matches!(
            self,
            AppCommand::Keygen { .. }
                | AppCommand::Pack { .. }
                | AppCommand::Inspect { .. }
                | AppCommand::Catalogue { .. }
        )
    }
}

/// The commands that need no data folder: keys, packing, inspecting.
pub fn without_store(settings: &Settings, cmd: AppCommand) -> Result<()> {
    match cmd {
        AppCommand::Keygen { out } => {
            let publisher = package::keygen(&out)?;
            println!("Wrote a new publisher key to {}. Keep it secret and backed up:", out.display());
            println!("every update to your apps must be signed with it.");
            println!("Its fingerprint, which people installing your apps will see:");
            println!("  {publisher}");
        }
        AppCommand::Pack { dir, key, out } => {
            let key = package::load_key(&key)?;
            let (bytes, name) = package::pack(&dir, &key)?;
            let path = out.join(&name);
            porch::store::files::write_atomic(&path, &bytes, false)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            let publisher = Publisher(key.verifying_key().to_bytes());
            println!("Packed {} ({} bytes), signed by \"{publisher}\".", path.display(), bytes.len());
        }
        AppCommand::Inspect { package } => {
            let package = Package::read(&package, settings.apps.package_max)?;
            print!("{}", describe(&package));
        }
        AppCommand::New { id, dir } => {
            let made = porch::apps::scaffold::new_app(&dir, &id)?;
            println!("Made the app {id} in {}. Next:", made.display());
            println!("  cd {}", made.display());
            println!("  cargo build --release");
            println!("  porch app keygen --out ~/{id}.key      # once; keep it secret");
            println!("  porch app pack . --key ~/{id}.key");
            println!("  porch app install {id}-0.1.0.porchapp");
            println!("Its README.md says what each file is for.");
        }
        AppCommand::Catalogue { dir, key, name } => {
            let key = package::load_key(&key)?;
            let mut packages = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "porchapp")
                    && let Some(file) = path.file_name().and_then(|n| n.to_str())
                {
                    packages.push((file.to_owned(), std::fs::read(&path)?));
                }
            }
            let index = catalogue::index_of(&name, &packages, porch::common::clock::now())?;
            let bytes = catalogue::sign_index(&key, &index)?;
            let path = dir.join("index.json");
            porch::store::files::write_atomic(&path, &bytes, false)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            let public = hex::encode(key.verifying_key().as_bytes());
            println!("Wrote {} listing {} packages.", path.display(), index.apps.len());
            println!("Serve the folder over http(s); owners add it to porch.toml as:");
            println!("  [apps]\n  catalogues = \"https://YOUR.SITE/PATH/index.json#{public}\"");
        }
        _ => bail!("this command needs porch's data folder"),
    }
    Ok(())
}

pub async fn with_store(store: &Store, settings: &Settings, cmd: AppCommand) -> Result<()> {
    let open = || {
        Apps::open(
            store.clone(),
            &settings.data_dir,
            &settings.apps,
            &settings.media,
            &settings.activity,
            settings.store.min_free,
        )
    };
    match cmd {
        AppCommand::Install { package, yes } => {
            let apps = open()?;
            let package = if Path::new(&package).exists() || !porch::common::names::valid_app_id(&package) {
                Package::read(Path::new(&package), settings.apps.package_max)?
            } else {
                from_catalogues(&apps, &package).await?
            };
            let plan = apps.plan(&package).await;
            print!("{}", describe(&package));
            let m = &package.manifest;
            match &plan {
                Ok(Plan::Same) => {
                    println!("{} {} is installed already; nothing to do.", m.name, m.version);
                    return Ok(());
                }
                Ok(Plan::Upgrade { from }) => {
                    println!("This updates {} from {from} to {}.", m.name, m.version);
                    let new = apps.new_asks(&package).await?;
                    if !new.is_empty() {
                        println!("It asks for more than {from} did:");
                        for line in new {
                            println!("    - NEW: {line}");
                        }
                    }
                }
                Ok(Plan::Reinstall) => println!("This brings {} back, with the data it had here.", m.name),
                Ok(Plan::New) => {}
                // Said by install_package, which also records the refusal.
                Err(_) => {}
            }
            if plan.is_ok() && !confirm(&format!("Install {} {}?", m.name, m.version), yes)? {
                bail!("nothing was installed");
            }
            let plan = apps.install_package(&package, Actor::Console).await?;
            let base = crate::base_url(store, settings).await?;
            let what = if matches!(plan, Plan::Upgrade { .. }) { "Updated" } else { "Installed" };
            println!("{what} {} {} as \"{}\" with roles {}.", m.name, m.version, m.id, m.roles.join(", "));
            if let Plan::Upgrade { from } = plan {
                println!("The earlier version ({from}) is kept: `porch app rollback {}` goes back to it.", m.id);
            } else {
                println!("Grant it with `porch app grant PERSON {}:{}`.", m.id, m.roles[0]);
            }
            println!("It lives at {}", porch::gate::app_origin(&base, &m.id));
        }
        AppCommand::Replace { id, package, keep_data, delete_data: _, yes } => {
            let package = Package::read(&package, settings.apps.package_max)?;
            let apps = open()?;
            print!("{}", describe(&package));
            let data = if keep_data { ReplaceData::Keep } else { ReplaceData::Delete };
            let question = match data {
                ReplaceData::Keep => format!(
                    "Hand \"{id}\", with all its data, people and address, to {}'s publisher \"{}\"?",
                    package.manifest.name, package.publisher
                ),
                ReplaceData::Delete => format!(
                    "Delete everything \"{id}\" has here (its data and who may use it) and install {} in its place?",
                    package.manifest.name
                ),
            };
            if !confirm(&question, yes)? {
                bail!("nothing was changed");
            }
            let (files, _lock) = file_removal(settings)?;
            apps.replace(&id, &package, data, files, Actor::Console).await?;
            println!(
                "\"{id}\" is now {} {} from \"{}\".",
                package.manifest.name, package.manifest.version, package.publisher
            );
        }
        AppCommand::Rollback { id } => {
            let (from, to) = open()?.rollback(&id, "", Actor::Console).await?;
            println!("{id} went back from {from} to {to}. Run `porch app rollback {id}` again to return to {from}.");
        }
        AppCommand::Search { text } => {
            let found = open()?.look_in_catalogues().await;
            say_problems(&found, settings);
            let wanted = text.unwrap_or_default().to_lowercase();
            let mut shown = 0;
            for l in &found.listings {
                let e = &l.entry;
                let text = format!("{} {} {}", e.id, e.name, e.summary).to_lowercase();
                if text.contains(&wanted) {
                    println!(
                        "{:<14} {:<18} {:<9} from \"{}\" in {}",
                        e.id, e.name, e.version, l.publisher_words, l.catalogue_name
                    );
                    if !e.summary.is_empty() {
                        println!("    {}", e.summary);
                    }
                    shown += 1;
                }
            }
            if shown == 0 {
                println!(
                    "No app found{}.",
                    if wanted.is_empty() { String::new() } else { format!(" for \"{wanted}\"") }
                );
            }
        }
        AppCommand::Updates => {
            let apps = open()?;
            let found = apps.look_in_catalogues().await;
            say_problems(&found, settings);
            let updates = apps.updates(&found).await?;
            for (row, listing) in &updates {
                println!("{} {} → {} (`porch app install {}`)", row.name, row.version, listing.entry.version, row.id);
            }
            if updates.is_empty() {
                println!("Every installed app is the newest version its publisher's catalogues offer.");
            }
        }
        AppCommand::List => {
            let build = build_publisher();
            println!("{:<14} {:<18} {:<9} {:<8} PUBLISHER", "ID", "NAME", "VERSION", "EARLIER");
            for a in store.apps().await? {
                let earlier = store.app_previous(&a.id).await?.map_or_else(|| "-".to_owned(), |p| p.version);
                let publisher = match store.app_publisher(&a.id).await?.and_then(|h| Publisher::from_hex(&h)) {
                    Some(p) if Some(&p) == build.as_ref() => format!("{p} (porch's build key)"),
                    Some(p) => p.words(),
                    None => "not recorded (installed before porch checked publishers)".to_owned(),
                };
                println!("{:<14} {:<18} {:<9} {:<8} {publisher}", a.id, a.name, a.version, earlier);
                if !a.notice.is_empty() {
                    println!("    note: {}", a.notice);
                }
            }
        }
        AppCommand::Remove { id, purge } => {
            let apps = open()?;
            let (files, _lock) = file_removal(settings)?;
            if !apps.remove(&id, purge, files, Actor::Console).await? {
                bail!("no app \"{id}\" is installed; `porch app list` shows them");
            }
            let kept = match (purge, files) {
                (false, _) => "its data is kept; reinstalling brings it back",
                (true, FileRemoval::Here) => "its data was deleted",
                (true, FileRemoval::LeaveToServer) => {
                    "its data was deleted; the running porch removes its files within the hour"
                }
            };
            println!("Removed {id}; {kept}.");
        }
        AppCommand::Grant { person, grant } => {
            let p = people::find(store, &person).await?;
            let (app_id, role) = invites::parse_grant(&grant)?;
            grants::grant(store, &p, &app_id, &role, Actor::Console).await?;
            println!("{} can now use {app_id} as {role}.", p.display_name);
        }
        AppCommand::Revoke { person, app } => {
            let p = people::find(store, &person).await?;
            if !grants::revoke(store, &p, &app, Actor::Console).await? {
                bail!("{} has no grant for {app}", p.display_name);
            }
            println!("{} can no longer use {app}.", p.display_name);
        }
        AppCommand::Keygen { .. }
        | AppCommand::Pack { .. }
        | AppCommand::Inspect { .. }
        | AppCommand::Catalogue { .. }
        | AppCommand::New { .. } => {
            return without_store(settings, cmd);
        }
    }
    Ok(())
}

/// The package `porch app install ID` means, downloaded from the catalogues
/// and checked against their signed index.
async fn from_catalogues(apps: &Apps, id: &str) -> Result<Package> {
    if !apps.catalogues.configured() {
        bail!(
            "there is no file called \"{id}\", and porch.toml names no app catalogues (apps.catalogues) to look for an app by that name in"
        );
    }
    let found = apps.look_in_catalogues().await;
    for problem in &found.problems {
        eprintln!("note: {problem}");
    }
    let listing = apps.listing_for(id, &found).await?;
    println!("Downloading {} {} from {}...", listing.entry.name, listing.entry.version, listing.package_url);
    let (_, package) = apps.catalogues.download(&listing).await?;
    Ok(package)
}

/// Says which catalogues could not be read (porch goes on without them).
fn say_problems(found: &porch::apps::catalogue::Found, settings: &Settings) {
    if settings.apps.catalogues.is_empty() {
        println!("porch.toml names no app catalogues (apps.catalogues), so there is nowhere to look.");
    }
    for problem in &found.problems {
        eprintln!("note: {problem}");
    }
}

/// Only the process holding the data folder's lock removes blob files;
/// while porch serves, it removes them itself.
fn file_removal(settings: &Settings) -> Result<(FileRemoval, Option<porch::store::DataLock>)> {
    match porch::store::DataLock::acquire(&settings.data_dir) {
        Ok(lock) => Ok((FileRemoval::Here, Some(lock))),
        Err(porch::store::StoreError::InUse { .. }) => Ok((FileRemoval::LeaveToServer, None)),
        Err(e) => Err(e.into()),
    }
}

/// Asks `question` on the terminal; `yes` answers it for scripts.
fn confirm(question: &str, yes: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} Nobody is at a terminal to answer; run the same command with --yes to confirm");
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// What a package is and asks for, as the owner sees it before installing.
pub fn describe(package: &Package) -> String {
    let m = &package.manifest;
    let mut out = format!("{} {} (id \"{}\")\n", m.name, m.version, m.id);
    let mine = build_publisher().is_some_and(|b| b == package.publisher);
    out += &format!(
        "  Publisher: {}{}\n             key {}\n",
        package.publisher,
        if mine { " (porch's own build key)" } else { "" },
        package.publisher.hex()
    );
    out += &format!("  Component: {} bytes, sha256 {}\n", package.component.len(), package.component_sha256);
    out += &format!("  Roles: {}\n", m.roles.join(", "));
    out += "  It asks for:\n";
    for line in asks(m) {
        out += &format!("    - {line}\n");
    }
    out += "  Its limits:\n";
    for line in m.limits_text() {
        out += &format!("    - {line}\n");
    }
    out
}

fn asks(m: &Manifest) -> Vec<String> {
    let lines = m.capabilities_text();
    if lines.is_empty() { vec!["nothing beyond answering requests".to_owned()] } else { lines }
}
