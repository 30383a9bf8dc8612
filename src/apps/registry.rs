//! The app registry: installing (manifest checked, component compiled and
//! its imports checked, then the component file written atomically and the
//! row committed), removing, the bundled apps offered on first start, and
//! keeping the running server's compiled apps in step with what is
//! installed (the CLI may install or remove while the server runs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use super::AppError;
use super::bundled::BUNDLED;
use super::host::{AppScope, MediaWork};
use super::manifest::Manifest;
use super::run::LoadedApp;
use super::runtime::{Allocator, Runtime};
use crate::common::clock::now;
use crate::config::{AppRuntime, MediaLimits};
use crate::store::audit::{Action, Actor, record};
use crate::store::blobfiles::BlobFiles;
use crate::store::{AppRow, Store};

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
    media: Arc<MediaWork>,
    dir: PathBuf,
    loaded: RwLock<HashMap<String, Arc<LoadedApp>>>,
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
        min_free: u64,
    ) -> Result<Apps, AppError> {
        let data_dir =
            std::path::absolute(data_dir).map_err(|e| AppError::Io(format!("{}: {e}", data_dir.display())))?;
        let runtime = Runtime::new(&data_dir.join("cache").join("wasm"), config.instances, config.pooling)?;
        let dir = data_dir.join("apps");
        std::fs::create_dir_all(&dir).map_err(|e| AppError::Io(format!("{}: {e}", dir.display())))?;
        let blobs = BlobFiles::open(&data_dir, min_free).map_err(|e| AppError::Io(format!("blob folder: {e}")))?;
        let media = Arc::new(MediaWork::new(media.clone()));
        Ok(Apps { runtime: Arc::new(runtime), store, blobs, media, dir, loaded: RwLock::new(HashMap::new()) })
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
            media: self.media.clone(),
        });
        Ok(LoadedApp::new(manifest, sha, pre, scope))
    }

    /// Installs (or upgrades) an app from its manifest text and component.
    pub async fn install(
        &self,
        manifest_text: &str,
        component: Vec<u8>,
        bundled: bool,
        by: Actor,
    ) -> Result<Manifest, AppError> {
        let manifest = Arc::new(Manifest::parse(manifest_text)?);
        let sha = hex::encode(Sha256::digest(&component));
        let bytes = Arc::new(component);
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
        self.store
            .upsert_app(&AppRow {
                id: manifest.id.clone(),
                name: manifest.name.clone(),
                version: manifest.version.clone(),
                manifest: manifest_text.to_owned(),
                component_sha256: sha.clone(),
                bundled,
                installed_at: now(),
            })
            .await?;
        self.loaded.write().map_err(|_| AppError::Poisoned)?.insert(manifest.id.clone(), Arc::new(loaded));
        let detail = format!("{} {} ({})", manifest.name, manifest.version, &sha[..12]);
        record(&self.store, by, Action::AppInstalled, &manifest.id, &detail).await;
        Ok((*manifest).clone())
    }

    /// Installs from a folder holding `app.toml` and the component it names
    /// (or from the path of an `app.toml`).
    ///
    /// An app's id is only what its manifest says, so a package whose id is
    /// already in use here (an installed app, or the data, files and grants
    /// a removal kept) would take all of that over (review finding M8).
    /// Such an install is refused unless `replace` names that very id: the
    /// owner's explicit "yes, this package may have what `id` had".
    pub async fn install_path(&self, path: &Path, replace: Option<&str>, by: Actor) -> Result<Manifest, AppError> {
        let manifest_path = if path.is_dir() { path.join("app.toml") } else { path.to_path_buf() };
        let text = tokio::fs::read_to_string(&manifest_path)
            .await
            .map_err(|e| AppError::Io(format!("cannot read {}: {e}", manifest_path.display())))?;
        let manifest = Manifest::parse(&text)?;
        self.check_id_free(&manifest, replace).await?;
        let folder = manifest_path.parent().unwrap_or(Path::new("."));
        let component_path = folder.join(&manifest.component);
        let bytes = tokio::fs::read(&component_path)
            .await
            .map_err(|e| AppError::Io(format!("cannot read the component {}: {e}", component_path.display())))?;
        let old = match replace {
            Some(id) => self.store.app(id).await?.map(|a| format!("{} {}", a.name, a.version)),
            None => None,
        };
        let installed = self.install(&text, bytes, false, by.clone()).await?;
        if replace.is_some() {
            let detail = format!(
                "{} replaced by {} {}, which now has its data",
                old.as_deref().unwrap_or("kept data"),
                installed.name,
                installed.version
            );
            record(&self.store, by, Action::AppReplaced, &installed.id, &detail).await;
        }
        Ok(installed)
    }

    /// Refuses a package whose id is in use here unless `replace` names it.
    async fn check_id_free(&self, manifest: &Manifest, replace: Option<&str>) -> Result<(), AppError> {
        let id = &manifest.id;
        if let Some(named) = replace
            && named != id
        {
            return Err(AppError::IdInUse(format!(
                "--replace names \"{named}\", but this package's id is \"{id}\"; nothing was installed"
            )));
        }
        if replace.is_some() || !self.store.app_id_in_use(id).await? {
            return Ok(());
        }
        let new = format!("{} {}", manifest.name, manifest.version);
        let message = match self.store.app(id).await? {
            Some(old) => format!(
                "an app with the id \"{id}\" is already installed: {} {}. This package ({new}) says it is \"{id}\" too, and installing it would hand it all of {}'s data, grants and its address. Nothing was installed. If this package really is a new version of {}, run the same command with --replace {id}",
                old.name, old.version, old.name, old.name
            ),
            None => format!(
                "an app with the id \"{id}\" was removed from this porch, but its data was kept. This package ({new}) says it is \"{id}\", and installing it would hand it that data. Nothing was installed. If it is the same app, run the same command with --replace {id}; to start it empty, delete the old data first with `porch app remove {id} --purge`"
            ),
        };
        Err(AppError::IdInUse(message))
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

    /// Installs bundled apps never offered before, and upgrades bundled apps
    /// whose embedded component changed.
    pub async fn install_bundled(&self) -> Result<(), AppError> {
        for app in BUNDLED {
            let sha = hex::encode(Sha256::digest(app.component));
            let offered = self.store.setting(&offered_key(app.id)).await?.is_some();
            let installed = self.store.app(app.id).await?;
            let wanted = match &installed {
                None => !offered,
                Some(row) => row.bundled && row.component_sha256 != sha,
            };
            if wanted {
                self.install(app.manifest, app.component.to_vec(), true, Actor::System).await?;
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
                Err(e) => tracing::error!(app = %row.id, error = %e, "app could not be loaded"),
            }
        }
        Ok(count)
    }

    async fn load(&self, row: &AppRow) -> Result<Arc<LoadedApp>, AppError> {
        let manifest = Arc::new(Manifest::parse(&row.manifest)?);
        let path = self.component_path(&row.component_sha256);
        let bytes = tokio::fs::read(&path).await.map_err(|e| AppError::Io(format!("{}: {e}", path.display())))?;
        let loaded = Arc::new(self.prepare(manifest, Arc::new(bytes), row.component_sha256.clone()).await?);
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
