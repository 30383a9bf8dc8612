//! An app's side of resumable uploads: reading the start of, claiming and
//! dropping the finished uploads the gate's tus endpoint received for this
//! app from the person whose request is running. An upload of another
//! person or another app is "not found", exactly like one that never was.

use std::sync::Arc;
use std::time::Duration;

use super::bindings::porch::app::{blobs, types};
use super::host::{AppScope, AppState, blob_info, collect_if_unused, internal, over, storage};
use crate::common::clock::now;
use crate::store::uploads::{Held, id_hash};
use crate::store::{NewBlob, UploadRow};

use types::Error;

/// The most `upload-head` gives back.
const MAX_HEAD: u32 = 4096;

/// How long a claim waits for a request still writing the upload.
const HOLD_WAIT: Duration = Duration::from_secs(5);

/// The caller's upload `upload` of this app, held, and finished.
async fn finished_upload(
    scope: Arc<AppScope>,
    person: Option<i64>,
    upload: &str,
) -> Result<(Arc<AppScope>, UploadRow, Held), Error> {
    scope.manifest.capabilities.blobs.ok_or_else(|| super::host::not_declared("blobs"))?;
    let person = person.ok_or_else(|| Error::Invalid("only a person's request can claim an upload".into()))?;
    let hash = id_hash(upload).ok_or(Error::NotFound)?;
    let row = scope.store.upload(&hash).await.map_err(internal)?.ok_or(Error::NotFound)?;
    if row.app_id != scope.manifest.id || row.person_id != person {
        return Err(Error::NotFound);
    }
    let held = scope
        .uploads
        .hold(&hash, HOLD_WAIT)
        .await
        .map_err(internal)?
        .ok_or_else(|| Error::Invalid("that upload is still being sent; wait for it to finish".into()))?;
    let have = scope.uploads.offset(&hash).await.map_err(internal)?.ok_or(Error::NotFound)?;
    if have != row.length() {
        return Err(Error::Invalid(format!(
            "that upload is not finished: {have} of {} bytes have arrived",
            row.length()
        )));
    }
    Ok((scope, row, held))
}

impl AppState {
    pub(super) async fn upload_head_of(&mut self, upload: String, len: u32) -> Result<Vec<u8>, Error> {
        let (scope, row, held) = finished_upload(self.scope(), self.person(), &upload).await?;
        let head = scope.uploads.head(&row.id_hash, len.min(MAX_HEAD) as usize).await.map_err(internal)?;
        drop(held);
        Ok(head)
    }

    pub(super) async fn claim(
        &mut self,
        upload: String,
        name: String,
        content_type: String,
    ) -> Result<blobs::BlobInfo, Error> {
        super::host::check_key("blob name", &name, crate::common::limits::MAX_BLOB_NAME)?;
        let quota = self.scope().manifest.capabilities.blobs.ok_or_else(|| super::host::not_declared("blobs"))?;
        let (scope, row, mut held) = finished_upload(self.scope(), self.person(), &upload).await?;
        let (path, sha, size) = scope.uploads.finish(&mut held).await.map_err(storage)?;
        let at = now();
        let blob = NewBlob { app: &row.app_id, name: &name, sha256: &sha, size, content_type: &content_type, at };
        let adding = scope.blobs.adding().await;
        // The file moves into the blob files (or goes, if that content is
        // stored already); only then is the row recorded.
        scope.blobs.adopt(&path, &sha).await.map_err(storage)?;
        let recorded = scope.store.claim_upload(&row.id_hash, &blob, quota).await;
        drop(adding);
        let outcome = match recorded {
            Ok(Ok(replaced)) => {
                if let Some(old) = replaced {
                    collect_if_unused(&scope, &old).await;
                }
                Ok(blob_info(crate::store::BlobRow {
                    name,
                    sha256: sha,
                    size: i64::try_from(size).unwrap_or(i64::MAX),
                    content_type,
                    created_at: at,
                }))
            }
            Ok(Err(q)) => {
                // Its file is already among the blobs: the upload ends here.
                let _ = scope.store.close_upload(&row.id_hash).await;
                collect_if_unused(&scope, &sha).await;
                Err(over(q, "blob"))
            }
            Err(e) => {
                let _ = scope.store.close_upload(&row.id_hash).await;
                collect_if_unused(&scope, &sha).await;
                Err(internal(e))
            }
        };
        drop(held);
        let _ = scope.uploads.remove(&row.id_hash).await;
        outcome
    }

    pub(super) async fn drop_upload_of(&mut self, upload: String) -> Result<bool, Error> {
        let scope = self.scope();
        scope.manifest.capabilities.blobs.ok_or_else(|| super::host::not_declared("blobs"))?;
        let Some(person) = self.person() else { return Ok(false) };
        let Some(hash) = id_hash(&upload) else { return Ok(false) };
        let Some(row) = scope.store.upload(&hash).await.map_err(internal)? else { return Ok(false) };
        if row.app_id != scope.manifest.id || row.person_id != person {
            return Ok(false);
        }
        let held = scope.uploads.hold(&hash, HOLD_WAIT).await.map_err(internal)?;
        scope.store.close_upload(&hash).await.map_err(internal)?;
        drop(held);
        scope.uploads.remove(&hash).await.map_err(internal)?;
        Ok(true)
    }
}
