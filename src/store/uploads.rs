//! Unfinished resumable uploads: the rows and the files behind the gate's
//! tus endpoint (`gate::uploads`).
//!
//! An upload is a row (whose app and person, the declared length, when it
//! lapses) and a file `<data>/blobs/uploads/<id_hash>` that only ever grows
//! at its end; the file's length is the offset porch confirms, so bytes
//! that reached the disk before a connection dropped are kept and a crash
//! can only lose the tail. The URL names an upload by a random 256-bit id;
//! only its SHA-256 is stored.
//!
//! While it is open an upload reserves its whole declared length (plus a
//! row's cost) in the app's `blob_bytes`, so unfinished uploads count
//! against the app's quota; claiming it as a blob, ending it, or the sweep
//! gives the reservation back in the same transaction that removes the row.
//! Nothing in here is ever shown: an upload becomes visible only when the
//! app claims it, whole, as one of its blobs.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use sqlx::FromRow;
use tokio::io::AsyncWriteExt;
use tokio::sync::OwnedMutexGuard;

use super::blobs::put_blob_in;
use super::kv::{OverQuota, set_usage};
use super::{NewBlob, Result, Store};
use crate::common::limits::ROW_COST;

#[derive(Debug, Clone, FromRow)]
pub struct UploadRow {
    pub id_hash: String,
    pub app_id: String,
    pub person_id: i64,
    pub length: i64,
    pub charge: i64,
    pub metadata: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl UploadRow {
    pub fn length(&self) -> u64 {
        u64::try_from(self.length).unwrap_or(0)
    }
}

/// An upload about to be opened.
pub struct NewUpload<'a> {
    pub id_hash: &'a str,
    pub app: &'a str,
    pub person: i64,
    pub length: u64,
    pub metadata: &'a str,
    pub at: i64,
    pub expires_at: i64,
}

impl NewUpload<'_> {
    /// What the upload reserves of its app's blob quota while it is open.
    pub fn charge(&self) -> u64 {
        self.length.saturating_add(self.metadata.len() as u64).saturating_add(ROW_COST)
    }
}

/// The hex SHA-256 an upload's id (64 lowercase hex digits, as in its URL)
/// is stored under; `None` for anything that is not such an id.
pub fn id_hash(id: &str) -> Option<String> {
    let valid = id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let bytes = hex::decode(id).ok().filter(|_| valid)?;
    Some(hex::encode(Sha256::digest(bytes)))
}

const COLUMNS: &str = "id_hash, app_id, person_id, length, charge, metadata, created_at, expires_at";

impl Store {
    /// Records a new upload and reserves its charge, if the app's blob quota
    /// has room for it.
    pub async fn open_upload(&self, new: &NewUpload<'_>, quota: u64) -> Result<std::result::Result<(), OverQuota>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let used: Option<i64> = sqlx::query_scalar("SELECT blob_bytes FROM app_usage WHERE app_id = ?")
            .bind(new.app)
            .fetch_optional(&mut *tx)
            .await?;
        let used = used.map_or(0, |n| u64::try_from(n).unwrap_or(0));
        let charge = new.charge();
        if used.saturating_add(charge) > quota {
            return Ok(Err(OverQuota { used, wanted: charge, quota }));
        }
        sqlx::query(&format!("INSERT INTO uploads ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(new.id_hash)
            .bind(new.app)
            .bind(new.person)
            .bind(i64::try_from(new.length).unwrap_or(i64::MAX))
            .bind(i64::try_from(charge).unwrap_or(i64::MAX))
            .bind(new.metadata)
            .bind(new.at)
            .bind(new.expires_at)
            .execute(&mut *tx)
            .await?;
        set_usage(&mut tx, new.app, "blob_bytes", used.saturating_add(charge)).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn upload(&self, id_hash: &str) -> Result<Option<UploadRow>> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE id_hash = ?"))
            .bind(id_hash)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Moves an upload's lapse time (each PATCH that adds bytes does).
    pub async fn touch_upload(&self, id_hash: &str, expires_at: i64) -> Result<()> {
        sqlx::query("UPDATE uploads SET expires_at = ? WHERE id_hash = ?")
            .bind(expires_at)
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Removes an upload's row and gives its reservation back; the row, if
    /// there was one.
    pub async fn close_upload(&self, id_hash: &str) -> Result<Option<UploadRow>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let row: Option<UploadRow> =
            sqlx::query_as(&format!("DELETE FROM uploads WHERE id_hash = ? RETURNING {COLUMNS}"))
                .bind(id_hash)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(row) = &row {
            release(&mut tx, &row.app_id, row.charge).await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    /// Makes a finished upload the blob `blob` in one transaction: the row
    /// goes, its reservation is given back and the blob is charged instead.
    /// Over quota (a blob replaced by a bigger one, say) nothing changes.
    pub async fn claim_upload(
        &self,
        id_hash: &str,
        blob: &NewBlob<'_>,
        quota: u64,
    ) -> Result<std::result::Result<Option<String>, OverQuota>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let charge: Option<i64> =
            sqlx::query_scalar("DELETE FROM uploads WHERE id_hash = ? AND app_id = ? RETURNING charge")
                .bind(id_hash)
                .bind(blob.app)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(charge) = charge else {
            return Err(sqlx::Error::RowNotFound.into());
        };
        let put = put_blob_in(&mut tx, blob, quota, u64::try_from(charge).unwrap_or(0)).await?;
        if put.is_ok() {
            tx.commit().await?;
        }
        Ok(put)
    }

    /// Uploads whose time ran out before `now`.
    pub async fn lapsed_uploads(&self, now: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT id_hash FROM uploads WHERE expires_at < ?")
            .bind(now)
            .fetch_all(self.pool())
            .await?)
    }

    /// Every open upload's id hash (files without one are leftovers).
    pub async fn upload_hashes(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT id_hash FROM uploads").fetch_all(self.pool()).await?)
    }
}

async fn release(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, app: &str, charge: i64) -> Result<()> {
    sqlx::query("UPDATE app_usage SET blob_bytes = max(0, blob_bytes - ?) WHERE app_id = ?")
        .bind(charge)
        .bind(app)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The files of unfinished uploads, and the running SHA-256 of each, so
/// finishing a large upload does not read it all again.
#[derive(Clone)]
pub struct UploadFiles {
    dir: PathBuf,
    min_free: u64,
    open: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<Hashed>>>>>,
}

/// How far an upload's file has been hashed. It can fall behind the file
/// (a request cut between writing and hashing, or porch restarted); the
/// file is then hashed again from its start before more is added.
pub struct Hashed {
    hasher: Sha256,
    upto: u64,
}

/// One upload held for writing: no other request adds to or claims it
/// while this lives.
pub struct Held {
    path: PathBuf,
    hashed: OwnedMutexGuard<Hashed>,
}

/// Why an append stopped before the declared length.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The body ended (the client sent a part, or the rest).
    BodyEnded,
    /// The connection broke or the body failed mid-way; what arrived is kept.
    BodyFailed,
    /// No byte arrived for the idle time.
    Idle,
    /// The body went past the declared length; bytes up to it are kept.
    PastLength,
}

impl UploadFiles {
    /// `<data>/blobs/uploads`, created if missing.
    pub fn open(data_dir: &std::path::Path, min_free: u64) -> io::Result<UploadFiles> {
        let dir = data_dir.join("blobs").join("uploads");
        std::fs::create_dir_all(&dir)?;
        Ok(UploadFiles { dir, min_free, open: Arc::default() })
    }

    fn path(&self, id_hash: &str) -> io::Result<PathBuf> {
        if !super::blobfiles::is_hash(id_hash) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not an upload id"));
        }
        Ok(self.dir.join(id_hash))
    }

    /// Makes an upload's empty file.
    pub async fn create(&self, id_hash: &str) -> io::Result<()> {
        super::blobfiles::ensure_room(&self.dir, self.min_free)?;
        tokio::fs::OpenOptions::new().write(true).create_new(true).open(self.path(id_hash)?).await?;
        Ok(())
    }

    /// The bytes received so far (`None`: the file is gone).
    pub async fn offset(&self, id_hash: &str) -> io::Result<Option<u64>> {
        match tokio::fs::metadata(self.path(id_hash)?).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Holds an upload for writing, waiting up to `wait` for a request that
    /// still holds it (one whose connection broke but is not yet noticed).
    pub async fn hold(&self, id_hash: &str, wait: Duration) -> io::Result<Option<Held>> {
        let path = self.path(id_hash)?;
        let slot = {
            let mut open = self.open.lock().map_err(|_| io::Error::other("upload table poisoned"))?;
            open.entry(id_hash.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Hashed { hasher: Sha256::new(), upto: 0 })))
                .clone()
        };
        match tokio::time::timeout(wait, slot.lock_owned()).await {
            Ok(hashed) => Ok(Some(Held { path, hashed })),
            Err(_) => Ok(None),
        }
    }

    /// Appends `body` to a held upload, at most `room` bytes of it, waiting
    /// at most `idle` for each piece. Every piece is on the file before the
    /// next is read; the file's length afterwards is the new offset.
    pub async fn append<S, E>(&self, held: &mut Held, body: S, room: u64, idle: Duration) -> io::Result<(u64, Stopped)>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    {
        let start = tokio::fs::metadata(&held.path).await?.len();
        catch_up(held, start).await?;
        let mut file = tokio::fs::OpenOptions::new().append(true).open(&held.path).await?;
        let mut body = body;
        let mut written = 0u64;
        let mut since_check = 0u64;
        let stopped = loop {
            let piece = match tokio::time::timeout(idle, body.next()).await {
                Err(_) => break Stopped::Idle,
                Ok(None) => break Stopped::BodyEnded,
                Ok(Some(Err(_))) => break Stopped::BodyFailed,
                Ok(Some(Ok(piece))) => piece,
            };
            let fits = usize::try_from(room - written).unwrap_or(usize::MAX).min(piece.len());
            since_check += fits as u64;
            if since_check >= 1 << 20 {
                super::blobfiles::ensure_room(&self.dir, self.min_free)?;
                since_check = 0;
            }
            file.write_all(&piece[..fits]).await?;
            held.hashed.hasher.update(&piece[..fits]);
            held.hashed.upto += fits as u64;
            written += fits as u64;
            if fits < piece.len() {
                break Stopped::PastLength;
            }
        };
        file.flush().await?;
        Ok((start + written, stopped))
    }

    /// A finished upload's file, fsynced, with its SHA-256 and size; the
    /// caller moves it into the blob files.
    pub async fn finish(&self, held: &mut Held) -> io::Result<(PathBuf, String, u64)> {
        let size = tokio::fs::metadata(&held.path).await?.len();
        catch_up(held, size).await?;
        tokio::fs::File::open(&held.path).await?.sync_all().await?;
        let sha = hex::encode(held.hashed.hasher.clone().finalize());
        Ok((held.path.clone(), sha, size))
    }

    /// Up to `len` bytes from the start of an upload's file.
    pub async fn head(&self, id_hash: &str, len: usize) -> io::Result<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        let file = tokio::fs::File::open(self.path(id_hash)?).await?;
        let mut buf = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut buf).await?;
        Ok(buf)
    }

    /// Removes an upload's file and forgets its running hash.
    pub async fn remove(&self, id_hash: &str) -> io::Result<()> {
        if let Ok(mut open) = self.open.lock() {
            open.remove(id_hash);
        }
        match tokio::fs::remove_file(self.path(id_hash)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes files no open upload owns (left by a crash between the two
    /// steps of opening or closing one). A file touched in the last ten
    /// minutes is left be: it may belong to an upload being opened right
    /// now, whose row was not yet there when `open` was read.
    pub async fn remove_leftovers(&self, open: &[String]) -> io::Result<u64> {
        let keep: std::collections::HashSet<&str> = open.iter().map(String::as_str).collect();
        let mut removed = 0;
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        let recent = |m: &std::fs::Metadata| {
            m.modified().ok().and_then(|t| t.elapsed().ok()).is_none_or(|age| age < Duration::from_secs(600))
        };
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            let fresh = entry.metadata().await.map(|m| recent(&m)).unwrap_or(true);
            if !fresh && !keep.contains(name.to_string_lossy().as_ref()) {
                let _ = tokio::fs::remove_file(entry.path()).await;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Brings a held upload's hash up to the file's length `len`, reading the
/// file again from its start if the running hash fell behind.
async fn catch_up(held: &mut Held, len: u64) -> io::Result<()> {
    if held.hashed.upto == len {
        return Ok(());
    }
    let path = held.path.clone();
    let (hasher, upto) = tokio::task::spawn_blocking(move || -> io::Result<(Sha256, u64)> {
        use std::io::Read;
        let file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut reader = file.take(len);
        let mut buf = vec![0u8; 1 << 20];
        let mut upto = 0u64;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            upto += n as u64;
        }
        Ok((hasher, upto))
    })
    .await
    .map_err(io::Error::other)??;
    if upto != len {
        return Err(io::Error::other("an upload's file shrank while porch read it"));
    }
    held.hashed.hasher = hasher;
    held.hashed.upto = upto;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(parts: &[&'static [u8]]) -> impl Stream<Item = std::result::Result<Bytes, io::Error>> + Unpin {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn appends_resume_at_the_file_length_and_the_hash_survives_a_restart() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let files = UploadFiles::open(dir.path(), 0).expect("open");
        let id = hex::encode(Sha256::digest(b"id"));
        files.create(&id).await.expect("create");
        let idle = Duration::from_secs(5);
        let mut held = files.hold(&id, idle).await.expect("hold").expect("free");
        let (offset, stopped) = files.append(&mut held, pieces(&[b"hello ", b"wor"]), 11, idle).await.expect("append");
        assert_eq!((offset, stopped), (9, Stopped::BodyEnded));
        // A second request waits for the first to let go.
        assert!(files.hold(&id, Duration::from_millis(50)).await.expect("hold").is_none());
        drop(held);

        // porch restarted: the running hash is gone and is rebuilt.
        let files = UploadFiles::open(dir.path(), 0).expect("open again");
        let mut held = files.hold(&id, idle).await.expect("hold").expect("free");
        assert_eq!(files.offset(&id).await.expect("offset"), Some(9));
        let (offset, stopped) = files.append(&mut held, pieces(&[b"ld!!!"]), 2, idle).await.expect("append");
        assert_eq!((offset, stopped), (11, Stopped::PastLength), "bytes past the length are not kept");
        let (_, sha, size) = files.finish(&mut held).await.expect("finish");
        assert_eq!((sha, size), (hex::encode(Sha256::digest(b"hello world")), 11));
        drop(held);
        files.remove(&id).await.expect("remove");
        assert_eq!(files.offset(&id).await.expect("offset"), None);
    }

    #[tokio::test]
    async fn an_open_upload_holds_its_length_of_quota_until_closed_or_claimed() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        let new = |id: &'static str, length| NewUpload {
            id_hash: id,
            app: "photos",
            person: 1,
            length,
            metadata: "",
            at: 0,
            expires_at: 100,
        };
        let quota = 1000 + ROW_COST;
        store.open_upload(&new("a", 1000), quota).await.expect("sql").expect("fits exactly");
        let over = store.open_upload(&new("b", 1), quota).await.expect("sql");
        assert!(over.is_err(), "the open upload's 1000 bytes count");
        store.close_upload("a").await.expect("sql").expect("was open");
        assert_eq!(store.blob_usage("photos").await.expect("usage"), 0);

        store.open_upload(&new("c", 1000), quota).await.expect("sql").expect("room again");
        let blob = NewBlob { app: "photos", name: "x/o", sha256: "00", size: 1000, content_type: "video/mp4", at: 1 };
        // The blob's charge (name and type too) is a little over the
        // reservation: with the reservation given back it fits a quota of
        // its own size.
        let exact = 1000 + 3 + 9 + ROW_COST;
        store.claim_upload("c", &blob, exact).await.expect("sql").expect("claimed");
        assert_eq!(store.blob_usage("photos").await.expect("usage"), exact);
        assert!(store.upload("c").await.expect("sql").is_none());
        assert_eq!(store.lapsed_uploads(1000).await.expect("sql"), Vec::<String>::new());
    }
}
