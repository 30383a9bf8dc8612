//! The data folder's lock: `porch serve` holds an exclusive lock on
//! `<data>/porch.lock` while it runs, so a second server, or a restore, cannot
//! work on a folder a running porch is using. The lock is the kernel's (flock),
//! so it is released when the process ends, however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use super::StoreError;

/// File name of the lock inside the data folder.
pub const LOCK_FILE: &str = "porch.lock";

/// Held for as long as porch serves the folder.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

impl DataLock {
    /// Takes the folder's lock, or says another porch is using it.
    pub fn acquire(data_dir: &Path) -> Result<DataLock, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::DataDir { path: data_dir.to_path_buf(), source })?;
        let path = data_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::Lock { path: path.clone(), source })?;
        match file.try_lock() {
            Ok(()) => Ok(DataLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StoreError::InUse { path: data_dir.to_path_buf() }),
            Err(TryLockError::Error(source)) => Err(StoreError::Lock { path, source }),
        }
    }

    /// Whether a running porch holds the folder's lock right now.
    pub fn held_by_another(data_dir: &Path) -> bool {
        let path = data_dir.join(LOCK_FILE);
        let Ok(file) = OpenOptions::new().write(true).open(path) else { return false };
        matches!(file.try_lock(), Err(TryLockError::WouldBlock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let first = DataLock::acquire(dir.path()).expect("first");
        assert!(matches!(DataLock::acquire(dir.path()), Err(StoreError::InUse { .. })));
        assert!(DataLock::held_by_another(dir.path()));
        drop(first);
        assert!(!DataLock::held_by_another(dir.path()));
        assert!(DataLock::acquire(dir.path()).is_ok());
    }
}
