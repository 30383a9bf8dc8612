//! Backups: consistent snapshots of a data folder into a backup folder, made
//! while porch keeps serving, checked against their manifest, and restored
//! into an empty data folder.
//!
//! A backup folder (`porch backup DEST`) looks like this:
//!
//! ```text
//! DEST/PORCH-BACKUP                  marks the folder as porch's
//! DEST/blobs/<aa>/<sha256>           blob files, shared by every snapshot
//! DEST/snapshots/<UTC time>/porch.sqlite      the database (VACUUM INTO)
//!                           files/...         tls/, apps/ and other data files
//!                           porch.toml        the config file, if there is one
//!                           INFO              version, schema, counts
//!                           MANIFEST.sha256   every file above and every blob
//! ```
//!
//! Blobs are content-addressed, so a blob already in `DEST/blobs` is not
//! copied again: every backup after the first copies only new photos. A
//! snapshot is built under `snapshots/.incomplete-<name>` and renamed into
//! place once its manifest is written, so a crash mid-backup leaves no
//! half snapshot that looks whole.

pub mod manifest;
pub mod restore;
pub mod schedule;

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use manifest::{Entry, MANIFEST};
use rand::RngCore;

use crate::store::blobfiles::relative_path;
use crate::store::{DB_FILE, SnapshotDb, Store, StoreError};

/// The file that marks a backup folder.
pub const MARKER: &str = "PORCH-BACKUP";
const INCOMPLETE: &str = ".incomplete-";
/// How many times a snapshot is retaken when a blob it names was removed
/// between the database copy and the file copy (a photo deleted meanwhile).
const ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{path} is not empty and is not a porch backup folder (it has no {MARKER} file). Give an empty or new folder, or one porch backed up to before"
    )]
    NotABackup { path: PathBuf },
    #[error("{path} has no snapshots yet. Run `porch backup {path}` first")]
    NoSnapshots { path: PathBuf },
    #[error("there is no snapshot {name:?} in {path}. `porch backup --verify {path}` lists them")]
    NoSuchSnapshot { path: PathBuf, name: String },
    #[error(
        "the photo file {sha256} in the data folder is damaged (its content no longer matches its name). The backup stopped so it does not copy damage; restore that file from an older backup"
    )]
    DamagedSource { sha256: String },
    #[error(
        "the file {sha256} kept vanishing while porch was copying it (deleted as it was backed up, {ATTEMPTS} times). Try again"
    )]
    KeptVanishing { sha256: String },
    #[error(
        "the data folder {path} is not empty. Pass --force to move what is there aside (to {aside}) and restore in its place"
    )]
    NotEmpty { path: PathBuf, aside: PathBuf },
    #[error("porch is serving from {path} right now. Stop it first (systemctl stop porch), then restore")]
    InUse { path: PathBuf },
    #[error("the snapshot {name} failed its check, so it was not restored:\n{problems}")]
    Damaged { name: String, problems: String },
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackupError + use<> {
    let path = path.to_path_buf();
    move |source| BackupError::Io { what, path, source }
}

/// What one backup did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Made {
    pub snapshot: String,
    pub files: usize,
    pub blobs: usize,
    /// Blobs that were not in the backup folder yet.
    pub new_blobs: usize,
    pub bytes_copied: u64,
    /// Old snapshots removed to keep `keep`.
    pub pruned: usize,
}

impl std::fmt::Display for Made {
    /// One line for the CLI, the admin page and the audit log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "snapshot {}: {} files and {} blob files, {} new ({} KiB copied)",
            self.snapshot,
            self.files,
            self.blobs,
            self.new_blobs,
            self.bytes_copied.div_ceil(1024)
        )?;
        if self.pruned > 0 {
            write!(f, ", {} old snapshots removed", self.pruned)?;
        }
        Ok(())
    }
}

/// A backup folder.
pub struct BackupDir {
    root: PathBuf,
}

impl BackupDir {
    /// Opens `root` as a backup folder, creating it (and marking it) if it is
    /// new or empty. A non-empty folder without the marker is refused, so a
    /// typo cannot scatter files into someone's documents.
    pub fn create(root: &Path) -> Result<BackupDir> {
        let marker = root.join(MARKER);
        if !marker.is_file() {
            let empty = match std::fs::read_dir(root) {
                Ok(mut entries) => entries.next().is_none(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => true,
                Err(e) => return Err(io_err("cannot read the backup folder", root)(e)),
            };
            if !empty {
                return Err(BackupError::NotABackup { path: root.to_path_buf() });
            }
            std::fs::create_dir_all(root).map_err(io_err("cannot create the backup folder", root))?;
            std::fs::write(&marker, "porch backup folder, format 1\n")
                .map_err(io_err("cannot write to the backup folder", root))?;
        }
        let dir = BackupDir { root: root.to_path_buf() };
        for sub in [dir.root.join("snapshots"), dir.root.join("blobs").join("tmp")] {
            std::fs::create_dir_all(&sub).map_err(io_err("cannot create", &sub))?;
        }
        Ok(dir)
    }

    /// Opens an existing backup folder for reading.
    pub fn open(root: &Path) -> Result<BackupDir> {
        if !root.join(MARKER).is_file() {
            return Err(BackupError::NotABackup { path: root.to_path_buf() });
        }
        Ok(BackupDir { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    pub fn snapshot_dir(&self, name: &str) -> PathBuf {
        self.snapshots_dir().join(name)
    }

    /// Finished snapshots, oldest first (names are UTC times, so they sort).
    pub fn snapshots(&self) -> Result<Vec<String>> {
        let dir = self.snapshots_dir();
        let mut names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| !n.starts_with('.') && dir.join(n).join(MANIFEST).is_file())
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("cannot read", &dir)(e)),
        };
        names.sort();
        Ok(names)
    }

    /// The named snapshot, or the newest.
    pub fn pick(&self, name: Option<&str>) -> Result<String> {
        let all = self.snapshots()?;
        match name {
            Some(n) => all
                .into_iter()
                .find(|s| s == n)
                .ok_or_else(|| BackupError::NoSuchSnapshot { path: self.root.clone(), name: n.to_owned() }),
            None => all.into_iter().last().ok_or_else(|| BackupError::NoSnapshots { path: self.root.clone() }),
        }
    }

    /// Removes what a backup that died half-way left behind.
    fn clear_leftovers(&self) -> Result<()> {
        let dir = self.snapshots_dir();
        for entry in std::fs::read_dir(&dir).map_err(io_err("cannot read", &dir))?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(INCOMPLETE) {
                std::fs::remove_dir_all(entry.path()).map_err(io_err("cannot remove", &entry.path()))?;
            }
        }
        let tmp = self.root.join("blobs").join("tmp");
        for entry in std::fs::read_dir(&tmp).map_err(io_err("cannot read", &tmp))?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(())
    }

    /// Keeps the newest `keep` snapshots and the blobs they use.
    pub fn prune(&self, keep: usize) -> Result<usize> {
        let all = self.snapshots()?;
        let drop_count = all.len().saturating_sub(keep.max(1));
        for name in &all[..drop_count] {
            let dir = self.snapshot_dir(name);
            std::fs::remove_dir_all(&dir).map_err(io_err("cannot remove the old snapshot", &dir))?;
        }
        if drop_count > 0 {
            let mut used = HashSet::new();
            for name in &all[drop_count..] {
                let path = self.snapshot_dir(name).join(MANIFEST);
                for e in manifest::read(&path).map_err(io_err("cannot read", &path))? {
                    used.insert(e.path);
                }
            }
            let blobs = self.root.join("blobs");
            for rel in manifest::files_under(&blobs).map_err(io_err("cannot read", &blobs))? {
                let rel = Path::new("blobs").join(rel);
                let key = rel.to_string_lossy().into_owned();
                if !key.starts_with("blobs/tmp/") && !used.contains(&key) {
                    let path = self.root.join(&rel);
                    std::fs::remove_file(&path).map_err(io_err("cannot remove", &path))?;
                }
            }
        }
        Ok(drop_count)
    }
}

/// Whether a data-folder file belongs in a snapshot's `files/`: not the
/// database (copied by SQLite), not blobs (shared), not the compiled-code
/// cache (rebuilt at start), not the lock, not a temporary file, and not the
/// local CA's private key: a backup disk is often FAT or a share where file
/// modes mean nothing, and that key could sign for any name the CA is
/// trusted for (review finding M6). A porch restored without it makes a new
/// local CA, which the family trusts again with `porch tls export-ca`.
fn is_data_file(rel: &Path) -> bool {
    let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
    let name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let skipped_top = ["blobs", "cache", crate::store::LOCK_FILE];
    let is_db = first.starts_with(DB_FILE);
    let ca_key = rel == Path::new(LOCAL_CA_KEY);
    !(skipped_top.contains(&first.as_str()) || is_db || ca_key || name.ends_with(".tmp"))
}

/// The local CA's private key, relative to the data folder.
const LOCAL_CA_KEY: &str = "tls/local-ca/ca.key";

fn utc_name(at: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(&format).unwrap_or_else(|_| at.to_string())
}

/// Makes one snapshot of the data folder `data_dir` (served through `store`)
/// into `dest`, then keeps only the newest `keep` snapshots when given.
pub async fn make(
    store: &Store,
    data_dir: &Path,
    config_file: Option<&Path>,
    dest: &Path,
    keep: Option<usize>,
) -> Result<Made> {
    let dir = BackupDir::create(dest)?;
    dir.clear_leftovers()?;
    let mut name = utc_name(crate::common::clock::now());
    let mut n = 1;
    while dir.snapshot_dir(&name).exists() {
        n += 1;
        name = format!("{}-{n}", utc_name(crate::common::clock::now()));
    }
    let work = dir.snapshots_dir().join(format!("{INCOMPLETE}{name}"));
    std::fs::create_dir_all(&work).map_err(io_err("cannot create", &work))?;

    // The database first, then the blobs it names: blob files are never
    // changed, only added and removed, so the copy is consistent unless a
    // file was removed meanwhile, in which case the snapshot is retaken.
    let db = work.join(DB_FILE);
    let mut attempt = 0;
    let (hashes, schema, copied) = loop {
        attempt += 1;
        let _ = std::fs::remove_file(&db);
        store.snapshot_into(&db).await?;
        let mut snapshot = SnapshotDb::open(&db).await?;
        let hashes = snapshot.blob_hashes().await?;
        let schema = snapshot.schema_version().await?;
        snapshot.close().await;
        let (data_dir, root, list) = (data_dir.to_path_buf(), dir.root.clone(), hashes.clone());
        let copied = tokio::task::spawn_blocking(move || copy_blobs(&data_dir, &root, &list)).await.map_err(|e| {
            BackupError::Io { what: "the copy stopped", path: dest.to_path_buf(), source: io::Error::other(e) }
        })?;
        match copied {
            Err(BackupError::KeptVanishing { .. }) if attempt < ATTEMPTS => continue,
            other => break (hashes, schema, other?),
        }
    };

    let (data_dir_owned, config_owned, work_owned, name_owned) =
        (data_dir.to_path_buf(), config_file.map(Path::to_path_buf), work.clone(), name.clone());
    let blob_count = hashes.len();
    let files = tokio::task::spawn_blocking(move || {
        finish_snapshot(&data_dir_owned, config_owned.as_deref(), &work_owned, &name_owned, &hashes, schema)
    })
    .await
    .map_err(|e| BackupError::Io {
        what: "the copy stopped",
        path: dest.to_path_buf(),
        source: io::Error::other(e),
    })??;

    let final_dir = dir.snapshot_dir(&name);
    std::fs::rename(&work, &final_dir).map_err(io_err("cannot finish the snapshot", &final_dir))?;
    manifest::sync_dir(&dir.snapshots_dir()).map_err(io_err("cannot sync", &dir.snapshots_dir()))?;
    let pruned = match keep {
        Some(keep) => dir.prune(keep)?,
        None => 0,
    };
    Ok(Made { snapshot: name, files, blobs: blob_count, new_blobs: copied.0, bytes_copied: copied.1, pruned })
}

/// Copies the blobs not yet in the backup; returns how many and their bytes.
fn copy_blobs(data_dir: &Path, root: &Path, hashes: &[String]) -> Result<(usize, u64)> {
    let (mut count, mut bytes) = (0, 0);
    let tmp = root.join("blobs").join("tmp");
    let mut touched = HashSet::new();
    for sha in hashes {
        let Some(rel) = relative_path(sha) else { continue };
        let (from, to) = (data_dir.join(&rel), root.join(&rel));
        let source_size = match std::fs::metadata(&from) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BackupError::KeptVanishing { sha256: sha.clone() });
            }
            Err(e) => return Err(io_err("cannot read", &from)(e)),
        };
        if std::fs::metadata(&to).is_ok_and(|m| m.len() == source_size) {
            continue;
        }
        let mut name = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut name);
        let temp = tmp.join(hex::encode(name));
        let copied = manifest::copy_file(&from, &temp);
        let (got, size) = match copied {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                if e.kind() == io::ErrorKind::NotFound {
                    return Err(BackupError::KeptVanishing { sha256: sha.clone() });
                }
                return Err(io_err("cannot copy", &from)(e));
            }
        };
        if &got != sha {
            let _ = std::fs::remove_file(&temp);
            return Err(BackupError::DamagedSource { sha256: sha.clone() });
        }
        let parent = to.parent().unwrap_or(root);
        std::fs::create_dir_all(parent).map_err(io_err("cannot create", parent))?;
        std::fs::rename(&temp, &to).map_err(io_err("cannot place", &to))?;
        touched.insert(parent.to_path_buf());
        count += 1;
        bytes += size;
    }
    for dir in touched {
        manifest::sync_dir(&dir).map_err(io_err("cannot sync", &dir))?;
    }
    Ok((count, bytes))
}

/// Copies the other data files and the config, writes INFO and the
/// manifest. Returns how many files the snapshot holds besides blobs.
fn finish_snapshot(
    data_dir: &Path,
    config_file: Option<&Path>,
    work: &Path,
    name: &str,
    hashes: &[String],
    schema: i64,
) -> Result<usize> {
    let files_dir = work.join("files");
    for rel in manifest::files_under(data_dir).map_err(io_err("cannot read the data folder", data_dir))? {
        if !is_data_file(&rel) {
            continue;
        }
        let to = files_dir.join(&rel);
        let parent = to.parent().unwrap_or(&files_dir);
        std::fs::create_dir_all(parent).map_err(io_err("cannot create", parent))?;
        match manifest::copy_file(&data_dir.join(&rel), &to) {
            Ok(_) => {}
            // A temporary file that finished (renamed) while we walked.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot copy", &data_dir.join(&rel))(e)),
        }
    }
    if let Some(config) = config_file.filter(|c| c.is_file()) {
        let to = work.join("porch.toml");
        manifest::copy_file(config, &to).map_err(io_err("cannot copy the config file", config))?;
    }
    let info = format!(
        "format = 1\nporch = \"{}\"\nschema = {schema}\ncreated = {}\nblobs = {}\n",
        env!("CARGO_PKG_VERSION"),
        crate::common::clock::now(),
        hashes.len()
    );
    std::fs::write(work.join("INFO"), info).map_err(io_err("cannot write", work))?;

    let mut entries = Vec::new();
    let own = manifest::files_under(work).map_err(io_err("cannot read", work))?;
    for rel in &own {
        let path = work.join(rel);
        let (sha256, _) = manifest::hash_file(&path).map_err(io_err("cannot read", &path))?;
        let rel = rel.to_string_lossy();
        entries.push(Entry { sha256, path: format!("snapshots/{name}/{rel}") });
    }
    for sha in hashes {
        if let Some(path) = relative_path(sha) {
            entries.push(Entry { sha256: sha.clone(), path });
        }
    }
    let mut dirs: Vec<PathBuf> = own.iter().filter_map(|r| r.parent().map(|p| work.join(p))).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        manifest::sync_dir(&dir).map_err(io_err("cannot sync", &dir))?;
    }
    manifest::write(&work.join(MANIFEST), &entries).map_err(io_err("cannot write the manifest", work))?;
    manifest::sync_dir(work).map_err(io_err("cannot sync", work))?;
    Ok(own.len())
}

/// What checking one snapshot found.
#[derive(Debug, Clone)]
pub struct Checked {
    pub snapshot: String,
    pub files: usize,
    pub problems: Vec<String>,
}

/// Checks snapshots (the named one, or all): every manifest line's file
/// exists with its hash, the database passes SQLite's integrity check, and
/// every blob the database names is in the manifest. Blobs shared by several
/// snapshots are hashed once.
pub async fn verify(dest: &Path, name: Option<&str>) -> Result<Vec<Checked>> {
    let dir = BackupDir::open(dest)?;
    let names = match name {
        Some(_) => vec![dir.pick(name)?],
        None => dir.snapshots()?,
    };
    if names.is_empty() {
        return Err(BackupError::NoSnapshots { path: dest.to_path_buf() });
    }
    let mut good = HashSet::new();
    let mut out = Vec::new();
    for name in names {
        out.push(verify_one(&dir, &name, &mut good).await?);
    }
    Ok(out)
}

async fn verify_one(dir: &BackupDir, name: &str, good: &mut HashSet<String>) -> Result<Checked> {
    let snapshot = dir.snapshot_dir(name);
    let path = snapshot.join(MANIFEST);
    let mut problems = Vec::new();
    let entries = match manifest::read(&path) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("the manifest cannot be read: {e}"));
            return Ok(Checked { snapshot: name.to_owned(), files: 0, problems });
        }
    };
    let root = dir.root.clone();
    let mut already = std::mem::take(good);
    let to_check = entries.clone();
    let (mut found, already) = tokio::task::spawn_blocking(move || {
        let mut found = Vec::new();
        for e in &to_check {
            if already.contains(&e.path) {
                continue;
            }
            match manifest::hash_file(&root.join(&e.path)) {
                Ok((sha, _)) if sha == e.sha256 => {
                    if e.path.starts_with("blobs/") {
                        already.insert(e.path.clone());
                    }
                }
                Ok(_) => found.push(format!("{} is damaged (its content changed)", e.path)),
                Err(err) => found.push(format!("{} cannot be read: {err}", e.path)),
            }
        }
        (found, already)
    })
    .await
    .map_err(|e| BackupError::Io {
        what: "the check stopped",
        path: snapshot.clone(),
        source: io::Error::other(e),
    })?;
    *good = already;
    problems.append(&mut found);

    let db_rel = format!("snapshots/{name}/{DB_FILE}");
    if entries.iter().any(|e| e.path == db_rel) && problems.iter().all(|p| !p.starts_with(&db_rel)) {
        match SnapshotDb::open(&snapshot.join(DB_FILE)).await {
            Ok(mut db) => {
                match db.integrity_check().await {
                    Ok(r) if r == "ok" => {}
                    Ok(r) => problems.push(format!("the database fails SQLite's integrity check: {r}")),
                    Err(e) => problems.push(format!("the database cannot be checked: {e}")),
                }
                let listed: HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
                match db.blob_hashes().await {
                    Ok(hashes) => {
                        for sha in hashes {
                            if !relative_path(&sha).is_some_and(|p| listed.contains(p.as_str())) {
                                problems.push(format!("the database names the file {sha}, which the manifest lacks"));
                            }
                        }
                    }
                    Err(e) => problems.push(format!("the database cannot be read: {e}")),
                }
                db.close().await;
            }
            Err(e) => problems.push(format!("the database cannot be opened: {e}")),
        }
    } else if !entries.iter().any(|e| e.path == db_rel) {
        problems.push("the manifest lists no database".into());
    }
    Ok(Checked { snapshot: name.to_owned(), files: entries.len(), problems })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_data_files_are_copied_as_files() {
        for skipped in [
            "porch.sqlite",
            "porch.sqlite-wal",
            "porch.sqlite-shm",
            "porch.lock",
            "blobs/aa/x",
            "cache/wasm/x",
            "tls/.key.pem.12.tmp",
            "tls/local-ca/ca.key",
        ] {
            assert!(!is_data_file(Path::new(skipped)), "{skipped}");
        }
        for kept in ["tls/local-ca/ca.pem", "apps/abc.wasm", "tls/acme/x/account.json"] {
            assert!(is_data_file(Path::new(kept)), "{kept}");
        }
    }

    #[test]
    fn a_folder_with_other_files_is_not_taken_for_a_backup() {
        let dir = tempfile::TempDir::new().expect("tmp");
        std::fs::write(dir.path().join("thesis.odt"), b"precious").expect("write");
        assert!(matches!(BackupDir::create(dir.path()), Err(BackupError::NotABackup { .. })));
        let fresh = dir.path().join("new");
        assert!(BackupDir::create(&fresh).is_ok());
        assert!(BackupDir::create(&fresh).is_ok(), "a marked folder is reopened");
    }

    #[test]
    fn snapshot_names_sort_by_time() {
        assert_eq!(utc_name(0), "19700101T000000Z");
        assert!(utc_name(1_800_000_000) > utc_name(1_700_000_000));
    }
}
