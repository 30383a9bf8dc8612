//! Blob files: content-addressed files under `<data>/blobs/`, named by their
//! SHA-256. A new blob is streamed to a temporary file, fsynced, then renamed
//! into place, so a crash leaves either no file or a whole one. Temporary
//! files left by a crash are removed at open.
//!
//! The interface is deliberately narrow (write a temp, persist, read a range,
//! remove) so a second backend (S3-compatible storage) can sit behind it.
//!
//! Two rules keep a row from ever pointing at a missing file:
//! - adding (persist, then commit the row) holds [`BlobFiles::adding`], and
//!   removing (check no row uses the hash, then delete the file) happens only
//!   in [`BlobFiles::remove_if_unused`] and [`BlobFiles::collect_unreferenced`],
//!   which take the matching guard themselves, so a removal cannot slip
//!   between the two steps of an upload of the same content. The guard is
//!   per process: only the process that holds the data folder's lock (a
//!   running `porch serve`, or a CLI command while none runs) removes files;
//! - a write is refused while the disk has less than `store.min_free` left,
//!   so SQLite always has room to commit, and a full disk is a clear
//!   `StorageFull` error rather than a half-written file.

use std::io;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Debug, Clone)]
pub struct BlobFiles {
    root: PathBuf,
    /// Free bytes a write must leave on the disk.
    min_free: u64,
    order: Arc<RwLock<()>>,
}

/// A blob being written; removed on drop unless persisted.
pub struct TempBlob {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    hasher: Sha256,
    size: u64,
    root: PathBuf,
    min_free: u64,
}

/// `blobs/<aa>/<sha256>`: where a blob's file is, relative to the data folder
/// (and to a backup folder, which keeps the same layout).
pub fn relative_path(sha256: &str) -> Option<String> {
    is_hash(sha256).then(|| format!("blobs/{}/{sha256}", &sha256[..2]))
}

/// How often (in bytes written) a blob write looks at the disk's free space.
const SPACE_CHECK_EVERY: u64 = 1 << 20;

pub use crate::common::disk::free_space;

/// `StorageFull` when writing would leave less than `min_free` bytes.
pub(super) fn ensure_room(root: &Path, min_free: u64) -> io::Result<()> {
    if min_free == 0 {
        return Ok(());
    }
    let free = free_space(root)?;
    if free < min_free {
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "the server's disk is almost full ({} MiB left, porch keeps {} MiB spare)",
                free >> 20,
                min_free >> 20
            ),
        ));
    }
    Ok(())
}

/// Whether `s` is a lowercase hex SHA-256, the only thing that names a blob file.
pub fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BlobFiles {
    /// Opens (creating) `<data>/blobs` and removes temporary files a crash
    /// may have left behind. Writes keep `min_free` bytes free on the disk.
    pub fn open(data_dir: &Path, min_free: u64) -> io::Result<BlobFiles> {
        let root = data_dir.join("blobs");
        std::fs::create_dir_all(root.join("tmp"))?;
        for entry in std::fs::read_dir(root.join("tmp"))?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(BlobFiles { root, min_free, order: Arc::new(RwLock::new(())) })
    }

    /// Held from persisting a file until its row is committed.
    pub async fn adding(&self) -> RwLockReadGuard<'_, ()> {
        self.order.read().await
    }

    /// Held from checking that no row uses a hash until its file is gone.
    async fn removing(&self) -> RwLockWriteGuard<'_, ()> {
        self.order.write().await
    }

    /// Removes a blob's file if no row of any app refers to its content any
    /// more; whether it did. Takes the removal guard itself.
    pub async fn remove_if_unused(&self, store: &super::Store, sha256: &str) -> Result<bool, super::StoreError> {
        let _order = self.removing().await;
        if store.blob_hash_in_use(sha256).await? {
            return Ok(false);
        }
        self.remove(sha256).await.map_err(|source| super::StoreError::Blob { source })?;
        Ok(true)
    }

    fn path_of(&self, sha256: &str) -> io::Result<PathBuf> {
        if !is_hash(sha256) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a SHA-256 hex digest"));
        }
        Ok(self.root.join(&sha256[..2]).join(sha256))
    }

    /// Starts a new blob; `StorageFull` if the disk is nearly full.
    pub async fn create(&self) -> io::Result<TempBlob> {
        ensure_room(&self.root, self.min_free)?;
        let mut name = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut name);
        let path = self.root.join("tmp").join(hex::encode(name));
        let file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&path).await?;
        Ok(TempBlob {
            path,
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
            root: self.root.clone(),
            min_free: self.min_free,
        })
    }

    /// Makes a finished temp file the blob named by its hash (fsynced first).
    /// Returns the hex SHA-256 and the size.
    pub async fn persist(&self, mut temp: TempBlob) -> io::Result<(String, u64)> {
        let Some(mut file) = temp.file.take() else {
            return Err(io::Error::other("blob already persisted"));
        };
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        let sha = hex::encode(std::mem::take(&mut temp.hasher).finalize());
        self.place(&temp.path, &sha).await?;
        temp.path = PathBuf::new();
        Ok((sha, temp.size))
    }

    /// Makes an fsynced file on the same disk (a finished upload) the blob
    /// with hash `sha256`, which the caller computed from its bytes. The
    /// file is moved, or removed when that content is already stored.
    pub async fn adopt(&self, file: &Path, sha256: &str) -> io::Result<()> {
        self.place(file, sha256).await
    }

    async fn place(&self, file: &Path, sha: &str) -> io::Result<()> {
        let target = self.path_of(sha)?;
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        if tokio::fs::try_exists(&target).await? {
            tokio::fs::remove_file(file).await?;
        } else {
            tokio::fs::rename(file, &target).await?;
            if let Some(dir) = target.parent() {
                tokio::fs::File::open(dir).await?.sync_all().await?;
            }
        }
        Ok(())
    }

    /// A blob's file, opened for reading (for work on the blocking pool).
    pub async fn open_file(&self, sha256: &str) -> io::Result<std::fs::File> {
        Ok(tokio::fs::File::open(self.path_of(sha256)?).await?.into_std().await)
    }

    /// Up to `len` bytes of a blob from `offset`.
    pub async fn read_at(&self, sha256: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut file = tokio::fs::File::open(self.path_of(sha256)?).await?;
        file.seek(io::SeekFrom::Start(offset)).await?;
        let mut buf = Vec::with_capacity(len.min(1 << 20));
        file.take(len as u64).read_to_end(&mut buf).await?;
        Ok(buf)
    }

    /// Removes every blob file no row refers to (left by a crash, or by an
    /// app removed from another process); returns how many. Holds the
    /// removal guard from reading the rows until the last file is gone, so no
    /// upload is between its file and its row meanwhile.
    pub async fn collect_unreferenced(&self, store: &super::Store) -> Result<u64, super::StoreError> {
        let _order = self.removing().await;
        let keep: std::collections::HashSet<String> = store.blob_hashes().await?.into_iter().collect();
        let files = self.clone();
        tokio::task::spawn_blocking(move || files.remove_all_but(&keep))
            .await
            .map_err(|e| super::StoreError::Blob { source: io::Error::other(e.to_string()) })?
            .map_err(|source| super::StoreError::Blob { source })
    }

    fn remove_all_but(&self, keep: &std::collections::HashSet<String>) -> io::Result<u64> {
        let mut removed = 0;
        for dir in std::fs::read_dir(&self.root)?.flatten() {
            let name = dir.file_name();
            let name = name.to_string_lossy();
            if name.len() != 2 || !dir.path().is_dir() {
                continue;
            }
            for file in std::fs::read_dir(dir.path())?.flatten() {
                let file_name = file.file_name().to_string_lossy().into_owned();
                if is_hash(&file_name) && !keep.contains(&file_name) {
                    std::fs::remove_file(file.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    async fn remove(&self, sha256: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path_of(sha256)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl TempBlob {
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let before = self.size / SPACE_CHECK_EVERY;
        if (self.size + chunk.len() as u64) / SPACE_CHECK_EVERY != before {
            ensure_room(&self.root, self.min_free)?;
        }
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("blob already persisted"))?;
        file.write_all(chunk).await?;
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn write_persist_read_and_dedupe() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let files = BlobFiles::open(dir.path(), 0).expect("open");
        let mut a = files.create().await.expect("create");
        a.write(b"hello ").await.expect("write");
        a.write(b"world").await.expect("write");
        let (sha, size) = files.persist(a).await.expect("persist");
        assert_eq!(size, 11);
        assert_eq!(sha, hex::encode(Sha256::digest(b"hello world")));
        assert_eq!(files.read_at(&sha, 6, 100).await.expect("read"), b"world");
        let mut b = files.create().await.expect("create");
        b.write(b"hello world").await.expect("write");
        assert_eq!(files.persist(b).await.expect("persist").0, sha);
        assert_eq!(std::fs::read_dir(dir.path().join("blobs/tmp")).expect("tmp").count(), 0);

        // Collection keeps what is referenced and removes the rest.
        let mut c = files.create().await.expect("create");
        c.write(b"orphan").await.expect("write");
        let (orphan, _) = files.persist(c).await.expect("persist");
        let store = crate::store::Store::open(dir.path()).await.expect("store");
        let row = crate::store::NewBlob {
            app: "app",
            name: "kept",
            sha256: &sha,
            size: 11,
            content_type: "text/plain",
            at: 0,
        };
        store.put_blob(&row, u64::MAX).await.expect("put").expect("quota");
        assert_eq!(files.collect_unreferenced(&store).await.expect("collect"), 1);
        assert!(!files.remove_if_unused(&store, &sha).await.expect("check"), "a row still uses it");
        assert!(files.read_at(&sha, 0, 5).await.is_ok());
        assert!(files.read_at(&orphan, 0, 5).await.is_err());
    }

    #[tokio::test]
    async fn an_abandoned_write_leaves_nothing() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let files = BlobFiles::open(dir.path(), 0).expect("open");
        let mut a = files.create().await.expect("create");
        a.write(b"half").await.expect("write");
        drop(a);
        assert_eq!(std::fs::read_dir(dir.path().join("blobs/tmp")).expect("tmp").count(), 0);
    }

    #[tokio::test]
    async fn a_nearly_full_disk_refuses_new_blobs_clearly() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let free = free_space(dir.path()).expect("statvfs");
        // Well under the free space is allowed; more than the disk has is refused.
        let roomy = BlobFiles::open(dir.path(), free.saturating_sub(16 << 20).max(1)).expect("open");
        assert!(roomy.create().await.is_ok());
        let full = BlobFiles::open(dir.path(), free.saturating_add(1 << 30)).expect("open");
        let Err(e) = full.create().await else { panic!("a write past min_free must be refused") };
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(e.to_string().contains("disk is almost full"), "{e}");
    }

    #[test]
    fn only_hashes_name_files() {
        let files = BlobFiles { root: PathBuf::from("/x"), min_free: 0, order: Arc::default() };
        assert!(files.path_of("../../etc/passwd").is_err());
        assert!(files.path_of(&"a".repeat(64)).is_ok());
    }
}
