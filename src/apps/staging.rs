//! Packages uploaded on the admin page that wait for the owner to confirm
//! the install: kept as `<data>/apps/incoming/<sha256>.porchapp` (only
//! packages that verified), checked again when installed, and deleted after
//! the install or once they are an hour old.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::AppError;
use super::package::Package;

/// How long an uploaded package waits for its Install button.
const STAGED_FOR: Duration = Duration::from_secs(3600);

pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    pub fn new(dir: PathBuf) -> Staging {
        Staging { dir }
    }

    fn path(&self, id: &str) -> Option<PathBuf> {
        let valid = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        valid.then(|| self.dir.join(format!("{id}.porchapp")))
    }

    /// Verifies `bytes` and keeps them for the confirmation; returns the
    /// id the confirmation names and what the package is.
    pub fn put(&self, bytes: &[u8]) -> Result<(String, Package), AppError> {
        let package = Package::open(bytes)?;
        self.sweep();
        let id = hex::encode(Sha256::digest(bytes));
        std::fs::create_dir_all(&self.dir).map_err(|e| AppError::Io(format!("{}: {e}", self.dir.display())))?;
        let path = self.dir.join(format!("{id}.porchapp"));
        crate::store::files::write_atomic(&path, bytes, false)
            .map_err(|e| AppError::Io(format!("{}: {e}", path.display())))?;
        Ok((id, package))
    }

    /// The package staged as `id`, verified again.
    pub fn get(&self, id: &str) -> Result<Package, AppError> {
        let gone =
            || AppError::Package("that upload is gone (they are kept for an hour); upload the package again".into());
        let path = self.path(id).ok_or_else(gone)?;
        let bytes = std::fs::read(&path).map_err(|_| gone())?;
        Package::open(&bytes)
    }

    pub fn remove(&self, id: &str) {
        if let Some(path) = self.path(id) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Deletes uploads older than an hour.
    fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STAGED_FOR));
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
