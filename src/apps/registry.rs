//! The app registry: installing (manifest checked, component compiled and
//! its imports checked, then the component file written atomically and the
//! row committed), removing, the bundled apps offered on first start, and
//! keeping the running server's compiled apps in step with what is
//! installed (the CLI may install or remove while the server runs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::AppError;
use super::bundled::BUNDLED;
use super::catalogue::{self, Catalogues, Found, Listing};
use super::host::{AppScope, MediaWork};
use super::invites::{Inviter, InviterSlot};
use super::manifest::Manifest;
use super::outbound;
use super::package::{Package, Publisher};
use super::run::LoadedApp;
use super::runtime::{Allocator, Runtime};
use super::staging::Staging;
use crate::common::clock::now;
use crate::common::limits::{PROBATION_FAILURES, PROBATION_REQUESTS};
use crate::config::{AppRuntime, MediaLimits};
use crate::store::audit::{Action, Actor, record};
use crate::store::blobfiles::BlobFiles;
use crate::store::uploads::UploadFiles;
use crate::store::{AppRow, Keep, Store};

/// Whether this process may remove blob files: only the one holding the data
/// folder's lock may (see `store::blobfiles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRemoval {
    /// This process holds the lock (the server, or a CLI command while no
    /// server runs): remove unused files now.
    Here,
    /// A running porch holds it: leave the files to its next collection.
    LeaveToServer,
}

pub struct Apps {
    runtime: Arc<Runtime>,
    store: Store,
    blobs: BlobFiles,
    uploads: UploadFiles,
    /// Wakes the background media worker (`media_jobs.rs`).
    pub(super) jobs: Arc<tokio::sync::Notify>,
    media: Arc<MediaWork>,
    dir: PathBuf,
    loaded: RwLock<HashMap<String, Arc<LoadedApp>>>,
    /// Packages uploaded on the admin page, waiting for "Install".
    pub staging: Staging,
    /// The catalogues `apps.catalogues` names.
    pub catalogues: Catalogues,
    /// What the last look in the catalogues found, and when (for the admin
    /// page, which never waits on a catalogue to show itself).
    last_look: RwLock<Option<(i64, Found)>>,
    /// `apps.outbound_lan`: private networks outbound requests may reach.
    outbound_lan: Arc<Vec<ipnet::IpNet>>,
    /// Who makes invites for apps that declare `invites` (set at start).
    inviter: InviterSlot,
    /// `activity.batch_for`.
    activity_batch: std::time::Duration,
}

/// What an install does to what is here (shown before the owner confirms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A new app.
    New,
    /// The same publisher's app again, after a removal that kept its data.
    Reinstall,
    /// A newer version of the installed app; `from` is kept for a rollback.
    Upgrade { from: String },
    /// This very version is installed already: nothing to do.
    Same,
}

/// What `porch app replace` does with the old app's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceData {
    /// The new publisher's app gets the data, grants and address.
    Keep,
    /// They are deleted first; the new app starts empty.
    Delete,
}

/// Settings-table key remembering that a bundled app was offered once, so
/// an owner who removes it does not get it back on the next start.
fn offered_key(id: &str) -> String {
    format!("bundled-offered:{id}")
}

impl Apps {
    /// Opens the apps layer: `[apps]` sizes the runtime, `[media]` bounds
    /// image work, and blob writes keep `min_free` bytes (`store.min_free`).
    pub fn open(
        store: Store,
        data_dir: &Path,
        config: &AppRuntime,
        media: &MediaLimits,
        activity: &crate::config::Activity,
        min_free: u64,
    ) -> Result<Apps, AppError> {
        let data_dir =
            std::path::absolute(data_dir).map_err(|e| AppError::Io(format!("{}: {e}", data_dir.display())))?;
        let runtime = Runtime::new(&data_dir.join("cache").join("wasm"), config.instances, config.pooling)?;
        let dir = data_dir.join("apps");
        std::fs::create_dir_all(&dir).map_err(|e| AppError::Io(format!("{}: {e}", dir.display())))?;
        let blobs = BlobFiles::open(&data_dir, min_free).map_err(|e| AppError::Io(format!("blob folder: {e}")))?;
        let uploads =
            UploadFiles::open(&data_dir, min_free).map_err(|e| AppError::Io(format!("upload folder: {e}")))?;
        let media = Arc::new(MediaWork::new(media.clone()));
        let staging = Staging::new(dir.join("incoming"));
        let catalogues = Catalogues::new(config.catalogues.clone(), config.download_timeout, config.package_max);
        Ok(Apps {
            runtime: Arc::new(runtime),
            store,
            blobs,
            uploads,
            jobs: Arc::default(),
            media,
            dir,
            loaded: RwLock::new(HashMap::new()),
            staging,
            catalogues,
            last_look: RwLock::new(None),
            outbound_lan: Arc::new(config.outbound_lan.clone()),
            inviter: InviterSlot::default(),
            activity_batch: activity.batch_for,
        })
    }

    /// Hands the apps layer the one who makes invites (the gate does, at
    /// start); apps that declare `invites` can ask from then on.
    pub fn set_inviter(&self, inviter: Arc<dyn Inviter>) {
        let _ = self.inviter.set(inviter);
    }

    /// The store the apps keep their data in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The files behind the apps' blobs.
    pub(super) fn blob_files(&self) -> &BlobFiles {
        &self.blobs
    }

    pub fn allocator(&self) -> Allocator {
        self.runtime.allocator
    }

    pub fn cache_stats(&self) -> (usize, usize) {
        self.runtime.cache_stats()
    }

    fn component_path(&self, sha: &str) -> PathBuf {
        self.dir.join(format!("{sha}.wasm"))
    }

    /// Compiles and checks on the blocking pool (it is CPU-heavy).
    async fn prepare(&self, manifest: Arc<Manifest>, bytes: Arc<Vec<u8>>, sha: String) -> Result<LoadedApp, AppError> {
        let runtime = self.runtime.clone();
        let m = manifest.clone();
        let pre = tokio::task::spawn_blocking(move || runtime.prepare(&m, &bytes))
            .await
            .map_err(|e| AppError::Engine(e.to_string()))??;
        let scope = Arc::new(AppScope {
            manifest: manifest.clone(),
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            uploads: self.uploads.clone(),
            jobs: self.jobs.clone(),
            media: self.media.clone(),
            outbound: Arc::new(outbound::Rules {
                app: manifest.id.clone(),
                outbound: manifest.capabilities.outbound.clone(),
                lan: self.outbound_lan.clone(),
            }),
            inviter: self.inviter.clone(),
            activity_batch: self.activity_batch,
        });
        Ok(LoadedApp::new(manifest, sha, pre, scope))
    }

    /// What `package` asks for that the installed version of its app does
    /// not (a new outbound host, a bigger quota, a new job), so the owner
    /// sees what an update changes; everything when nothing is installed.
    pub async fn new_asks(&self, package: &Package) -> Result<Vec<String>, AppError> {
        let asks = package.manifest.capabilities_text();
        let Some(row) = self.store.app(&package.manifest.id).await? else { return Ok(asks) };
        let before = Manifest::parse(&row.manifest).map(|m| m.capabilities_text()).unwrap_or_default();
        Ok(asks.into_iter().filter(|line| !before.contains(line)).collect())
    }

    /// What installing `package` would do here, or why it may not: an app
    /// id belongs to the publisher key that first installed it, and an
    /// update must carry that key and a higher version (review finding M8:
    /// a stranger's package saying `id = "photos"` took over Photos).
    pub async fn plan(&self, package: &Package) -> Result<Plan, AppError> {
        let m = &package.manifest;
        let id = &m.id;
        let here = self.store.app_publisher(id).await?.and_then(|h| Publisher::from_hex(&h));
        let installed = self.store.app(id).await?;
        let new = format!("{} {}", m.name, m.version);
        match (here, installed) {
            (Some(owner), installed) if owner != package.publisher => {
                let here = installed.map_or_else(|| "kept data".to_owned(), |r| format!("{} {}", r.name, r.version));
                Err(AppError::Identity(format!(
                    "the app id \"{id}\" here ({here}) belongs to the publisher \"{owner}\", but this package ({new}) is signed by another publisher, \"{}\". Nothing was installed. If you trust the new publisher with this app, run `porch app replace {id} FILE` with --keep-data (it gets the old app's data, people and address) or --delete-data (it starts empty)",
                    package.publisher
                )))
            }
            (Some(_), Some(row)) => {
                let old = semver::Version::parse(&row.version).unwrap_or(semver::Version::new(0, 0, 0));
                let wanted = m.semver();
                if wanted > old {
                    Ok(Plan::Upgrade { from: row.version })
                } else if wanted == old && row.component_sha256 == package.component_sha256 {
                    Ok(Plan::Same)
                } else {
                    Err(AppError::Identity(format!(
                        "{} {} is installed here, and this package is version {}: an update must have a higher version number. Nothing was installed. To go back to the version before the installed one, run `porch app rollback {id}`",
                        row.name, row.version, m.version
                    )))
                }
            }
            (Some(_), None) => Ok(Plan::Reinstall),
            (None, Some(row)) => Err(AppError::Identity(format!(
                "{} {} was installed before porch checked publishers, so porch cannot tell whether this package ({new}, signed by \"{}\") comes from the same author. Nothing was installed. If it does, run `porch app replace {id} FILE --keep-data`",
                row.name, row.version, package.publisher
            ))),
            (None, None) if self.store.app_id_in_use(id).await? => Err(AppError::Identity(format!(
                "an app with the id \"{id}\" was removed from this porch and its data kept, from a publisher porch did not record. This package ({new}) says it is \"{id}\", and installing it would hand it that data. Nothing was installed. If it is the same app, run `porch app replace {id} FILE --keep-data`; to start it empty, `--delete-data`"
            ))),
            (None, None) => Ok(Plan::New),
        }
    }

    /// Installs a verified package as [`Apps::plan`] allows: a new app, the
    /// same app back (its kept data with it), or an update that keeps the
    /// version it replaces for a rollback.
    pub async fn install_package(&self, package: &Package, by: Actor) -> Result<Plan, AppError> {
        let plan = match self.plan(package).await {
            Ok(plan) => plan,
            Err(e) => {
                let detail = format!("{} {}: {e}", package.manifest.name, package.manifest.version);
                record(&self.store, by, Action::AppInstallRefused, &package.manifest.id, &detail).await;
                return Err(e);
            }
        };
        if plan == Plan::Same {
            return Ok(plan);
        }
        let keep = if matches!(plan, Plan::Upgrade { .. }) { Keep::Previous } else { Keep::Nothing };
        self.put(package, false, keep, by.clone()).await?;
        let m = &package.manifest;
        let (action, detail) = match &plan {
            Plan::Upgrade { from } => (Action::AppUpdated, format!("{} {from} → {}", m.name, m.version)),
            _ => (Action::AppInstalled, format!("{} {}", m.name, m.version)),
        };
        let detail = format!("{detail} from \"{}\" ({})", package.publisher, &package.component_sha256[..12]);
        record(&self.store, by, action, &m.id, &detail).await;
        Ok(plan)
    }

    /// Hands the app id `id` to another publisher's package: with
    /// `ReplaceData::Keep` it gets the old app's data, people and address,
    /// with `ReplaceData::Delete` those are deleted first and it starts
    /// empty. The old publisher's versions are forgotten (no rollback to
    /// them).
    pub async fn replace(
        &self,
        id: &str,
        package: &Package,
        data: ReplaceData,
        files: FileRemoval,
        by: Actor,
    ) -> Result<(), AppError> {
        let m = &package.manifest;
        if m.id != id {
            return Err(AppError::Identity(format!(
                "this package's id is \"{}\", not \"{id}\"; nothing was replaced",
                m.id
            )));
        }
        let old = self.store.app(id).await?.map(|a| format!("{} {}", a.name, a.version));
        let old_publisher = self.store.app_publisher(id).await?.and_then(|h| Publisher::from_hex(&h));
        if data == ReplaceData::Delete {
            let hashes = self.store.forget_app(id).await?;
            self.loaded.write().map_err(|_| AppError::Poisoned)?.remove(id);
            if files == FileRemoval::Here {
                for sha in hashes {
                    self.blobs.remove_if_unused(&self.store, &sha).await?;
                }
            }
        }
        self.put(package, false, Keep::Nothing, by.clone()).await?;
        let detail = format!(
            "{} (from \"{}\") replaced by {} {} from \"{}\"; {}",
            old.as_deref().unwrap_or("kept data"),
            old_publisher.map_or_else(|| "an unrecorded publisher".to_owned(), |p| p.words()),
            m.name,
            m.version,
            package.publisher,
            match data {
                ReplaceData::Keep => "it has the old app's data",
                ReplaceData::Delete => "the old app's data was deleted",
            }
        );
        record(&self.store, by, Action::AppReplaced, id, &detail).await;
        Ok(())
    }

    /// Goes back to the version an update replaced (and a second rollback
    /// forward again). Returns (from, to) versions.
    pub async fn rollback(&self, id: &str, notice: &str, by: Actor) -> Result<(String, String), AppError> {
        let roles = |manifest: &str| Manifest::parse(manifest).map(|m| m.roles).unwrap_or_default();
        let Some((from, to)) = self.store.roll_back_app(id, roles, notice, now()).await? else {
            return Err(AppError::Identity(match self.store.app(id).await? {
                Some(row) => format!("{} {} has no earlier version kept here to go back to", row.name, row.version),
                None => format!("no app \"{id}\" is installed; `porch app list` shows them"),
            }));
        };
        self.loaded.write().map_err(|_| AppError::Poisoned)?.remove(id);
        let detail = match notice {
            "" => format!("{} {} → {}", from.name, from.version, to.version),
            why => format!("{} {} → {}: {why}", from.name, from.version, to.version),
        };
        record(&self.store, by, Action::AppRolledBack, id, &detail).await;
        Ok((from.version, to.version))
    }

    /// Called when an updated app failed its first requests: goes back to
    /// the version before it, once, if `sha256` is still the one installed.
    pub async fn roll_back_failed(&self, id: &str, sha256: &str) {
        match self.store.app(id).await {
            Ok(Some(row)) if row.component_sha256 == sha256 => {
                let notice = format!(
                    "{} {} failed {PROBATION_FAILURES} of its first {PROBATION_REQUESTS} requests, so porch went back to the version before it",
                    row.name, row.version
                );
                // Asked once per failed update, so a passing store error
                // (a busy database) must not leave the failing version on.
                for attempt in 1..=3 {
                    match self.rollback(id, &notice, Actor::System).await {
                        Ok((from, to)) => {
                            tracing::warn!(app = %id, %from, %to, "an update failed its first requests; rolled back");
                            return;
                        }
                        Err(AppError::Store(e)) if attempt < 3 => {
                            tracing::warn!(app = %id, error = %e, attempt, "rolling back a failed update did not work yet; trying again");
                            tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                        }
                        Err(e) => {
                            tracing::error!(app = %id, error = %e, "an update failed its first requests and could not be rolled back");
                            return;
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Looks in every catalogue now and remembers what it found.
    pub async fn look_in_catalogues(&self) -> Found {
        let found = self.catalogues.fetch_all().await;
        if let Ok(mut last) = self.last_look.write() {
            *last = Some((now(), found.clone()));
        }
        found
    }

    /// What the last look found, and when, if porch looked since it started.
    pub fn last_look(&self) -> Option<(i64, Found)> {
        self.last_look.read().ok().and_then(|l| l.clone())
    }

    /// The listing `porch app install NAME` means: for an installed app, the
    /// newest version from its own publisher (an update); else the newest
    /// version, if only one publisher offers that id.
    pub async fn listing_for(&self, id: &str, found: &Found) -> Result<Listing, AppError> {
        let here = self.store.app_publisher(id).await?.and_then(|h| Publisher::from_hex(&h));
        if let Some(publisher) = &here {
            return catalogue::newest(&found.listings, id, Some(publisher)).cloned().ok_or_else(|| {
                AppError::Catalogue(format!(
                    "no catalogue offers \"{id}\" from its publisher here, \"{publisher}\"{}",
                    if found.listings.iter().any(|l| l.entry.id == id) {
                        " (others offer an app by that id; porch app replace hands the id to another publisher)"
                    } else {
                        ""
                    }
                ))
            });
        }
        let mut publishers: Vec<&str> =
            found.listings.iter().filter(|l| l.entry.id == id).map(|l| l.publisher_words.as_str()).collect();
        publishers.sort_unstable();
        publishers.dedup();
        match publishers.len() {
            0 => Err(AppError::Catalogue(format!(
                "no catalogue offers an app \"{id}\"; `porch app search` lists what they offer"
            ))),
            1 => {
                catalogue::newest(&found.listings, id, None).cloned().ok_or_else(|| AppError::Catalogue(id.to_owned()))
            }
            _ => Err(AppError::Catalogue(format!(
                "more than one publisher offers an app \"{id}\" ({}); download the one you mean and install its file",
                publishers.join("; ")
            ))),
        }
    }

    /// Installed apps with a newer version from their own publisher in
    /// `found`: (installed row, newest listing).
    pub async fn updates(&self, found: &Found) -> Result<Vec<(AppRow, Listing)>, AppError> {
        let mut out = Vec::new();
        for row in self.store.apps().await? {
            let Some(publisher) = self.store.app_publisher(&row.id).await?.and_then(|h| Publisher::from_hex(&h)) else {
                continue;
            };
            let installed = semver::Version::parse(&row.version).ok();
            if let Some(listing) = catalogue::newest(&found.listings, &row.id, Some(&publisher))
                && Some(listing.version()) > installed
            {
                out.push((row, listing.clone()));
            }
        }
        Ok(out)
    }

    /// Writes the component (named by its hash, atomically) and makes the
    /// package the installed version of its id.
    async fn put(&self, package: &Package, bundled: bool, keep: Keep, by: Actor) -> Result<(), AppError> {
        let manifest = Arc::new(package.manifest.clone());
        let sha = package.component_sha256.clone();
        let bytes = Arc::new(package.component.clone());
        let loaded = self.prepare(manifest.clone(), bytes.clone(), sha.clone()).await?;
        let path = self.component_path(&sha);
        if !path.exists() {
            // Named by its hash, so an existing file already holds these bytes.
            let (to, bytes) = (path.clone(), bytes.clone());
            tokio::task::spawn_blocking(move || crate::store::files::write_atomic(&to, &bytes, false))
                .await
                .map_err(|e| AppError::Io(e.to_string()))?
                .map_err(|e| AppError::Io(format!("{}: {e}", path.display())))?;
        }
        let row = AppRow {
            id: manifest.id.clone(),
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            manifest: package.manifest_text.clone(),
            component_sha256: sha.clone(),
            bundled,
            installed_at: now(),
            notice: String::new(),
        };
        let moved = self.store.install_app(&row, &package.publisher.hex(), &manifest.roles, keep).await?;
        if moved > 0 {
            let detail = format!(
                "{moved} grants of roles {} no longer declares moved to {}",
                manifest.version, manifest.roles[0]
            );
            record(&self.store, by, Action::AppUpdated, &manifest.id, &detail).await;
        }
        let on_probation = keep == Keep::Previous;
        self.loaded
            .write()
            .map_err(|_| AppError::Poisoned)?
            .insert(manifest.id.clone(), Arc::new(loaded.watched(on_probation)));
        self.prune_components().await;
        Ok(())
    }

    /// Deletes component files no installed or previous version uses.
    async fn prune_components(&self) {
        let Ok(used) = self.store.app_components_in_use().await else { return };
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(sha) = name.to_str().and_then(|n| n.strip_suffix(".wasm")) else { continue };
            let unused =
                sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) && !used.iter().any(|u| u == sha);
            if unused && let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(file = %entry.path().display(), error = %e, "could not delete an unused component");
            }
        }
    }

    /// Removes an app (and with `purge` its data). False if not installed.
    /// Purged files are removed here only when `files` says this process may
    /// (it holds the data folder's lock); otherwise the running porch, which
    /// holds it, removes them at its next collection (hourly, and at start).
    pub async fn remove(&self, id: &str, purge: bool, files: FileRemoval, by: Actor) -> Result<bool, AppError> {
        let Some(hashes) = self.store.remove_app(id, purge).await? else { return Ok(false) };
        self.loaded.write().map_err(|_| AppError::Poisoned)?.remove(id);
        if files == FileRemoval::Here {
            for sha in hashes {
                self.blobs.remove_if_unused(&self.store, &sha).await?;
            }
        }
        let detail = if purge { "data deleted" } else { "data kept" };
        record(&self.store, by, Action::AppRemoved, id, detail).await;
        Ok(true)
    }

    /// Removes blob files no row refers to (left by a crash between writing
    /// a file and committing its row, or by an app purged from another
    /// process). Run at start and by the hourly sweep; safe while serving.
    pub async fn collect_blobs(&self) -> Result<u64, AppError> {
        Ok(self.blobs.collect_unreferenced(&self.store).await?)
    }

    /// The files of unfinished resumable uploads (the gate's tus endpoint
    /// writes them; apps claim them as blobs).
    pub fn uploads(&self) -> &UploadFiles {
        &self.uploads
    }

    /// Ends uploads whose time ran out before `now` (their reservations are
    /// given back) and removes upload files no open upload owns. Run at
    /// start and by the hourly sweep; how many uploads it ended.
    pub async fn sweep_uploads(&self, now: i64) -> Result<u64, AppError> {
        let ended = self.end_lapsed_uploads(now).await?;
        let open = self.store.upload_hashes().await?;
        self.uploads.remove_leftovers(&open).await.map_err(|e| AppError::Io(format!("upload folder: {e}")))?;
        Ok(ended)
    }

    /// Ends uploads whose time ran out before `now`, giving their
    /// reservations back (also run whenever an upload is opened, so their
    /// room is free for it); how many.
    pub async fn end_lapsed_uploads(&self, now: i64) -> Result<u64, AppError> {
        let io = |e: std::io::Error| AppError::Io(format!("upload folder: {e}"));
        let lapsed = self.store.lapsed_uploads(now).await?;
        for id_hash in &lapsed {
            // One still being written is left for the next sweep.
            let Some(held) = self.uploads.hold(id_hash, std::time::Duration::ZERO).await.map_err(io)? else {
                continue;
            };
            self.store.close_upload(id_hash).await?;
            drop(held);
            self.uploads.remove(id_hash).await.map_err(io)?;
        }
        Ok(lapsed.len() as u64)
    }

    /// Installs bundled apps never offered before, and updates bundled apps
    /// whose embedded package changed. The packages are verified like any
    /// other; they come from this binary, so a bundled app follows the
    /// binary's version even when it was built with another build key.
    pub async fn install_bundled(&self) -> Result<(), AppError> {
        for app in BUNDLED {
            let package = Package::open(app.package)?;
            let offered = self.store.setting(&offered_key(app.id)).await?.is_some();
            let installed = self.store.app(app.id).await?;
            let keep = match &installed {
                None if !offered => Some(Keep::Nothing),
                Some(row) if row.bundled && row.component_sha256 != package.component_sha256 => Some(Keep::Previous),
                _ => None,
            };
            if let Some(keep) = keep {
                self.put(&package, true, keep, Actor::System).await?;
                let m = &package.manifest;
                let (action, detail) = match &installed {
                    Some(row) => {
                        (Action::AppUpdated, format!("{} {} → {} (bundled with porch)", m.name, row.version, m.version))
                    }
                    None => (Action::AppInstalled, format!("{} {} (bundled with porch)", m.name, m.version)),
                };
                record(&self.store, Actor::System, action, app.id, &detail).await;
            }
            self.store.set_setting(&offered_key(app.id), "yes").await?;
        }
        Ok(())
    }

    /// Loads every installed app (compiling, or from the cache). An app that
    /// no longer loads is logged and skipped; the others still serve.
    pub async fn load_all(&self) -> Result<usize, AppError> {
        let mut count = 0;
        for row in self.store.apps().await? {
            let current = self.loaded.read().map_err(|_| AppError::Poisoned)?.get(&row.id).map(|a| a.sha256.clone());
            if current.as_deref() == Some(row.component_sha256.as_str()) {
                count += 1;
                continue;
            }
            match self.load(&row).await {
                Ok(_) => count += 1,
                Err(e) => {
                    tracing::error!(app = %row.id, error = %e, "app could not be loaded");
                    if self.fall_back(&row, &e).await {
                        count += 1;
                    }
                }
            }
        }
        Ok(count)
    }

    /// An updated app that no longer loads goes back to the version before
    /// it, when that one is older (never forward over a rollback) and loads.
    async fn fall_back(&self, row: &AppRow, error: &AppError) -> bool {
        let Ok(Some(previous)) = self.store.app_previous(&row.id).await else { return false };
        let version = |v: &str| semver::Version::parse(v).ok();
        if version(&previous.version) >= version(&row.version) {
            return false;
        }
        let notice = format!(
            "{} {} would not load ({error}), so porch went back to the version before it",
            row.name, row.version
        );
        if self.rollback(&row.id, &notice, Actor::System).await.is_err() {
            return false;
        }
        match self.store.app(&row.id).await {
            Ok(Some(back)) => self.load(&back).await.is_ok(),
            _ => false,
        }
    }

    async fn load(&self, row: &AppRow) -> Result<Arc<LoadedApp>, AppError> {
        let manifest = Arc::new(Manifest::parse(&row.manifest)?);
        let path = self.component_path(&row.component_sha256);
        let bytes = tokio::fs::read(&path).await.map_err(|e| AppError::Io(format!("{}: {e}", path.display())))?;
        let on_probation = match self.store.app_previous(&row.id).await? {
            Some(previous) => semver::Version::parse(&previous.version).ok() < Some(manifest.semver()),
            None => false,
        };
        let loaded = Arc::new(
            self.prepare(manifest, Arc::new(bytes), row.component_sha256.clone()).await?.watched(on_probation),
        );
        self.loaded.write().map_err(|_| AppError::Poisoned)?.insert(row.id.clone(), loaded.clone());
        Ok(loaded)
    }

    /// The loaded app `id` when its component is `sha256` (as a query that
    /// already read the apps table found), without asking the database
    /// again; else as [`Apps::resolve`].
    pub async fn resolve_known(&self, id: &str, sha256: &str) -> Result<Option<Arc<LoadedApp>>, AppError> {
        let current = self.loaded.read().map_err(|_| AppError::Poisoned)?.get(id).cloned();
        match current {
            Some(app) if app.sha256 == sha256 => Ok(Some(app)),
            _ => self.resolve(id).await,
        }
    }

    /// The app to serve for `id`, in step with what is installed now.
    pub async fn resolve(&self, id: &str) -> Result<Option<Arc<LoadedApp>>, AppError> {
        let Some(sha) = self.store.app_component(id).await? else {
            self.loaded.write().map_err(|_| AppError::Poisoned)?.remove(id);
            return Ok(None);
        };
        let current = self.loaded.read().map_err(|_| AppError::Poisoned)?.get(id).cloned();
        match current {
            Some(app) if app.sha256 == sha => Ok(Some(app)),
            _ => match self.store.app(id).await? {
                Some(row) => Ok(Some(self.load(&row).await?)),
                None => Ok(None),
            },
        }
    }
}
