//! What an app instance can reach: the per-request store state (WASI context
//! with no preopens, no environment and no sockets; outgoing HTTP only as
//! `outbound.rs` allows; memory limits) and
//! porch's own imports `kv`, `blobs`, `media` and `people`, each scoped to
//! the calling app's namespace and refused unless its manifest declared it.

use crate::common::limits::{
    MAX_BLOB_NAME, MAX_BLOB_READ, MAX_BLOB_WRITERS, MAX_CORE_INSTANCES, MAX_KV_KEY, MAX_KV_VALUE, MAX_LIST,
    MAX_MEMORIES, MAX_RESOURCES, MAX_TABLES,
};
use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::porch::app::types::Error;
use super::bindings::porch::app::{blobs, kv, media, people, types};
use super::manifest::Manifest;
use super::outbound;
use crate::common::clock::now;
use crate::media::{MediaError, MediaLimits, ThumbFormat};
use crate::store::blobfiles::{BlobFiles, TempBlob};
use crate::store::{NewBlob, OverQuota, Store};

/// What a capability call needs to know about its app.
pub struct AppScope {
    pub manifest: Arc<Manifest>,
    pub store: Store,
    pub blobs: BlobFiles,
    /// Unfinished resumable uploads, which the app may claim as blobs.
    pub uploads: crate::store::UploadFiles,
    /// Wakes the background media worker when a job is queued.
    pub jobs: Arc<tokio::sync::Notify>,
    pub media: Arc<MediaWork>,
    /// Where its outgoing HTTP requests may go (nowhere unless declared).
    pub outbound: Arc<outbound::Rules>,
    /// Who makes invites for it (the gate, once started).
    pub inviter: super::invites::InviterSlot,
    /// `activity.batch_for`: how long a batch of news keeps merging.
    pub activity_batch: std::time::Duration,
}

/// Image jobs: run on the blocking pool, a bounded number at once, each
/// under the media limits and a deadline.
pub struct MediaWork {
    limits: MediaLimits,
    slots: Arc<tokio::sync::Semaphore>,
}

impl MediaWork {
    /// `media.workers` jobs at once, each within `media.timeout`.
    pub fn new(limits: MediaLimits) -> MediaWork {
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.workers as usize));
        MediaWork { limits, slots }
    }

    pub fn limits(&self) -> &MediaLimits {
        &self.limits
    }

    /// Takes a slot, only then reads the input (`read`), and runs `job` on
    /// it; a job still running at the deadline keeps its slot until it ends,
    /// so the number of inputs and decodes in memory stays bounded by
    /// `media.workers` (review finding M10: reading first let every waiting
    /// call hold a whole blob).
    pub async fn run<T: Send + 'static>(
        &self,
        read: impl Future<Output = Result<Vec<u8>, Error>>,
        job: impl FnOnce(&[u8], &MediaLimits) -> Result<T, MediaError> + Send + 'static,
    ) -> Result<T, Error> {
        self.run_on(read, move |input: Vec<u8>, limits: &MediaLimits| job(&input, limits)).await
    }

    /// Like [`MediaWork::run`] with any input: a video's open file.
    pub async fn run_on<I: Send + 'static, T: Send + 'static>(
        &self,
        read: impl Future<Output = Result<I, Error>>,
        job: impl FnOnce(I, &MediaLimits) -> Result<T, MediaError> + Send + 'static,
    ) -> Result<T, Error> {
        let timeout = self.limits.timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let too_slow = || Error::Invalid(format!("image work took longer than {timeout:?}"));
        let slot = match tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            _ => return Err(too_slow()),
        };
        let input = match tokio::time::timeout_at(deadline, read).await {
            Ok(read) => read?,
            Err(_) => return Err(too_slow()),
        };
        let limits = self.limits.clone();
        let job = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            job(input, &limits)
        });
        match tokio::time::timeout_at(deadline, job).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(e))) => Err(media_error(e)),
            Ok(Err(e)) => Err(internal(e)),
            Err(_) => Err(too_slow()),
        }
    }
}

fn media_error(e: MediaError) -> Error {
    match e {
        MediaError::Unsupported(m) | MediaError::Unavailable(m) => Error::Unsupported(m),
        other => Error::Invalid(other.to_string()),
    }
}

/// The `T` of each request's `wasmtime::Store<T>`.
pub struct AppState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: outbound::Hooks,
    pub(super) limits: InstanceLimits,
    scope: Arc<AppScope>,
    /// Blob writers of this instance that hold a temporary file.
    open_writers: u32,
    /// Pieces of news this instance published (`activity`).
    published: u32,
    /// The person whose request this instance serves (`None`: a scheduled
    /// job).
    person: Option<i64>,
}

impl AppState {
    pub fn new(scope: Arc<AppScope>, person: Option<i64>) -> AppState {
        let limits = InstanceLimits::new(scope.manifest.limits.memory);
        // No preopened folders, no environment variables, no arguments, no
        // stdin; stdout/stderr go nowhere. Clocks and random are real.
        let wasi = WasiCtx::builder().build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let hooks = outbound::Hooks::new(scope.outbound.clone());
        AppState { wasi, http: WasiHttpCtx::new(), table, hooks, limits, scope, open_writers: 0, published: 0, person }
    }
}

/// What one instance may take, summed over everything it has: every linear
/// memory and every table (a pointer's worth per element) together stay
/// within the manifest's `limits.memory`, so a component with several core
/// modules or memories cannot multiply it (review finding L4). A growth
/// past it traps, naming the limit.
#[derive(Debug)]
pub struct InstanceLimits {
    budget: usize,
    used: usize,
}

impl InstanceLimits {
    pub fn new(budget: usize) -> InstanceLimits {
        InstanceLimits { budget, used: 0 }
    }

    fn grow(&mut self, what: &str, more: usize) -> wasmtime::Result<bool> {
        match self.used.checked_add(more).filter(|total| *total <= self.budget) {
            Some(total) => {
                self.used = total;
                Ok(true)
            }
            None => Err(wasmtime::format_err!(
                "the app asked for more {what} than its limits.memory of {} bytes allows (it has {} in use)",
                self.budget,
                self.used
            )),
        }
    }
}

impl ResourceLimiter for InstanceLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow("memory", desired.saturating_sub(current))
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let bytes = desired.saturating_sub(current).saturating_mul(std::mem::size_of::<usize>());
        self.grow("table space", bytes)
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

impl WasiView for AppState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for AppState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// A blob file error: a full disk is said plainly (the app shows it to the
/// uploader as "full"); anything else is internal.
pub(super) fn storage(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::StorageFull {
        tracing::warn!(error = %e, "refused a blob write: the disk is full");
        // porch's own refusal says how much is left; the OS's just "no space".
        let said = if e.get_ref().is_some() { e.to_string() } else { "the server's disk is full".to_owned() };
        return Error::QuotaExceeded(said);
    }
    internal(e)
}

pub(super) fn internal(e: impl std::fmt::Display) -> Error {
    tracing::error!(error = %e, "app host call failed");
    Error::Internal("porch could not complete this call; try again later".into())
}

pub(super) fn over(q: OverQuota, what: &str) -> Error {
    Error::QuotaExceeded(format!(
        "{what} quota of {} bytes would be exceeded ({} used, {} more asked for)",
        q.quota, q.used, q.wanted
    ))
}

pub(super) fn not_declared(capability: &str) -> Error {
    Error::Invalid(format!("this app did not declare the `{capability}` capability in its app.toml"))
}

pub(super) fn check_key(kind: &str, key: &str, max: usize) -> Result<(), Error> {
    if key.is_empty() || key.len() > max || key.chars().any(char::is_control) {
        return Err(Error::Invalid(format!("a {kind} must be 1 to {max} bytes without control characters")));
    }
    Ok(())
}

impl AppState {
    fn app(&self) -> &str {
        &self.scope.manifest.id
    }

    /// What the app may reach (a handle the caller may keep across awaits).
    pub(super) fn scope(&self) -> Arc<AppScope> {
        self.scope.clone()
    }

    /// The person whose request this is, if any.
    pub(super) fn person(&self) -> Option<i64> {
        self.person
    }

    /// Counts one `activity.publish`; false past
    /// [`MAX_ACTIVITY_PER_REQUEST`](crate::common::limits::MAX_ACTIVITY_PER_REQUEST).
    pub(super) fn count_publish(&mut self) -> bool {
        self.published += 1;
        self.published <= crate::common::limits::MAX_ACTIVITY_PER_REQUEST
    }

    fn kv_quota(&self) -> Result<u64, Error> {
        self.scope.manifest.capabilities.kv.ok_or_else(|| not_declared("kv"))
    }

    /// The kv quota, once the key and value are fit to write.
    fn kv_writable(&self, key: &str, value: &[u8]) -> Result<u64, Error> {
        let quota = self.kv_quota()?;
        check_key("key", key, MAX_KV_KEY)?;
        if value.len() > MAX_KV_VALUE {
            return Err(Error::Invalid(format!("a value can be at most {MAX_KV_VALUE} bytes")));
        }
        Ok(quota)
    }

    fn blob_quota(&self) -> Result<u64, Error> {
        self.scope.manifest.capabilities.blobs.ok_or_else(|| not_declared("blobs"))
    }
}

impl types::Host for AppState {}

impl kv::Host for AppState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, Error> {
        self.kv_quota()?;
        check_key("key", &key, MAX_KV_KEY)?;
        self.scope.store.kv_get(self.app(), &key).await.map_err(internal)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), Error> {
        let quota = self.kv_writable(&key, &value)?;
        match self.scope.store.kv_set(self.app(), &key, &value, quota).await.map_err(internal)? {
            Ok(()) => Ok(()),
            Err(q) => Err(over(q, "kv")),
        }
    }

    async fn delete(&mut self, key: String) -> Result<bool, Error> {
        self.kv_quota()?;
        check_key("key", &key, MAX_KV_KEY)?;
        self.scope.store.kv_delete(self.app(), &key).await.map_err(internal)
    }

    async fn list_keys(&mut self, prefix: String, after: Option<String>, limit: u32) -> Result<Vec<String>, Error> {
        self.kv_quota()?;
        let limit = limit.min(MAX_LIST);
        self.scope.store.kv_list(self.app(), &prefix, after.as_deref(), limit).await.map_err(internal)
    }

    async fn list_keys_reverse(
        &mut self,
        prefix: String,
        before: Option<String>,
        limit: u32,
    ) -> Result<Vec<String>, Error> {
        self.kv_quota()?;
        let limit = limit.min(MAX_LIST);
        self.scope.store.kv_list_reverse(self.app(), &prefix, before.as_deref(), limit).await.map_err(internal)
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, Error> {
        let quota = self.kv_writable(&key, &value)?;
        let store = &self.scope.store;
        match store.kv_compare_and_swap(self.app(), &key, expected.as_deref(), &value, quota).await.map_err(internal)? {
            Ok(swapped) => Ok(swapped),
            Err(q) => Err(over(q, "kv")),
        }
    }

    async fn delete_prefix(&mut self, prefix: String) -> Result<u64, Error> {
        self.kv_quota()?;
        check_key("prefix", &prefix, MAX_KV_KEY)?;
        self.scope.store.kv_delete_prefix(self.app(), &prefix).await.map_err(internal)
    }
}

/// A blob being written by a guest.
pub struct BlobWriter {
    name: String,
    content_type: String,
    temp: Option<TempBlob>,
    failed: Option<Error>,
    /// The app's blob usage when writing started.
    used: u64,
}

pub(super) fn blob_info(row: crate::store::BlobRow) -> blobs::BlobInfo {
    blobs::BlobInfo {
        name: row.name,
        size: u64::try_from(row.size).unwrap_or(0),
        sha256: row.sha256,
        content_type: row.content_type,
        created_at: row.created_at,
    }
}

/// Removes a blob file once no app refers to it any more. Holding
/// `removing` means no upload of the same content is between writing its
/// file and committing its row.
pub(super) async fn collect_if_unused(scope: &AppScope, sha: &str) {
    if let Err(e) = scope.blobs.remove_if_unused(&scope.store, sha).await {
        tracing::warn!(error = %e, sha, "could not remove an unused blob file");
    }
}

impl blobs::HostWriter for AppState {
    async fn new(&mut self, name: String, content_type: String) -> wasmtime::Result<Resource<BlobWriter>> {
        let mut failed = match self.blob_quota() {
            Err(e) => Some(e),
            Ok(_) => check_key("blob name", &name, MAX_BLOB_NAME).err(),
        };
        if failed.is_none() && self.open_writers >= MAX_BLOB_WRITERS {
            failed = Some(Error::Invalid(format!(
                "a request may have at most {MAX_BLOB_WRITERS} blob writers open at once; finish or drop one first"
            )));
        }
        // Usage is read once here; each chunk is checked against it (so a
        // stream of small writes costs no queries) and `finish` checks again
        // in the transaction that records the blob.
        let mut used = 0;
        if failed.is_none() {
            match self.scope.store.blob_usage(self.app()).await {
                Ok(u) => used = u,
                Err(e) => failed = Some(internal(e)),
            }
        }
        let temp = match failed {
            Some(_) => None,
            None => match self.scope.blobs.create().await {
                Ok(temp) => {
                    self.open_writers += 1;
                    Some(temp)
                }
                Err(e) => {
                    failed = Some(storage(e));
                    None
                }
            },
        };
        let content_type: String = content_type.chars().filter(|c| !c.is_control()).take(128).collect();
        Ok(self.table.push(BlobWriter { name, content_type, temp, failed, used })?)
    }

    async fn write(&mut self, writer: Resource<BlobWriter>, chunk: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        let quota = match self.blob_quota() {
            Ok(q) => q,
            Err(e) => return Ok(Err(e)),
        };
        let w = self.table.get_mut(&writer)?;
        if let Some(e) = &w.failed {
            return Ok(Err(e.clone()));
        }
        let used = w.used;
        let Some(temp) = w.temp.as_mut() else { return Ok(Err(Error::Invalid("this writer is finished".into()))) };
        let wanted = temp.size() + chunk.len() as u64;
        if used.saturating_add(wanted) > quota {
            let e = over(OverQuota { used, wanted, quota }, "blob");
            w.failed = Some(e.clone());
            w.temp = None;
            self.open_writers = self.open_writers.saturating_sub(1);
            return Ok(Err(e));
        }
        if let Err(e) = temp.write(&chunk).await {
            let e = storage(e);
            w.failed = Some(e.clone());
            w.temp = None;
            self.open_writers = self.open_writers.saturating_sub(1);
            return Ok(Err(e));
        }
        Ok(Ok(()))
    }

    async fn finish(&mut self, writer: Resource<BlobWriter>) -> wasmtime::Result<Result<blobs::BlobInfo, Error>> {
        let quota = match self.blob_quota() {
            Ok(q) => q,
            Err(e) => return Ok(Err(e)),
        };
        let w = self.table.get_mut(&writer)?;
        if let Some(e) = &w.failed {
            return Ok(Err(e.clone()));
        }
        let Some(temp) = w.temp.take() else { return Ok(Err(Error::Invalid("this writer is finished".into()))) };
        let (name, content_type) = (w.name.clone(), w.content_type.clone());
        self.open_writers = self.open_writers.saturating_sub(1);
        let scope = self.scope.clone();
        Ok(commit_blob(&scope, &name, &content_type, temp, quota).await)
    }

    async fn drop(&mut self, writer: Resource<BlobWriter>) -> wasmtime::Result<()> {
        // Dropping the temp file's handle removes it.
        if self.table.delete(writer)?.temp.is_some() {
            self.open_writers = self.open_writers.saturating_sub(1);
        }
        Ok(())
    }
}

impl blobs::Host for AppState {
    async fn stat(&mut self, name: String) -> Result<Option<blobs::BlobInfo>, Error> {
        self.blob_quota()?;
        Ok(self.scope.store.blob(self.app(), &name).await.map_err(internal)?.map(blob_info))
    }

    async fn read(&mut self, name: String, offset: u64, len: u32) -> Result<Vec<u8>, Error> {
        self.blob_quota()?;
        let row = self.scope.store.blob(self.app(), &name).await.map_err(internal)?.ok_or(Error::NotFound)?;
        let len = len.min(MAX_BLOB_READ) as usize;
        self.scope.blobs.read_at(&row.sha256, offset, len).await.map_err(internal)
    }

    async fn delete(&mut self, name: String) -> Result<bool, Error> {
        self.blob_quota()?;
        match self.scope.store.delete_blob(self.app(), &name).await.map_err(internal)? {
            Some(sha) => {
                collect_if_unused(&self.scope.clone(), &sha).await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn list_blobs(
        &mut self,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<blobs::BlobInfo>, Error> {
        self.blob_quota()?;
        let rows = self.scope.store.list_blobs(self.app(), &prefix, after.as_deref(), limit.min(MAX_LIST)).await;
        Ok(rows.map_err(internal)?.into_iter().map(blob_info).collect())
    }

    async fn delete_prefix(&mut self, prefix: String) -> Result<u64, Error> {
        self.blob_quota()?;
        check_key("prefix", &prefix, MAX_BLOB_NAME)?;
        let gone = self.scope.store.delete_blob_prefix(self.app(), &prefix).await.map_err(internal)?;
        let scope = self.scope.clone();
        let mut shas: Vec<&String> = gone.iter().collect();
        shas.sort();
        shas.dedup();
        for sha in shas {
            collect_if_unused(&scope, sha).await;
        }
        Ok(gone.len() as u64)
    }

    async fn upload_head(&mut self, upload: String, len: u32) -> Result<Vec<u8>, Error> {
        self.upload_head_of(upload, len).await
    }

    async fn claim_upload(
        &mut self,
        upload: String,
        name: String,
        content_type: String,
    ) -> Result<blobs::BlobInfo, Error> {
        self.claim(upload, name, content_type).await
    }

    async fn drop_upload(&mut self, upload: String) -> Result<bool, Error> {
        self.drop_upload_of(upload).await
    }
}

impl AppState {
    pub(super) fn media_declared(&self) -> Result<(), Error> {
        if self.scope.manifest.allows_interface("media") { Ok(()) } else { Err(not_declared("media")) }
    }

    /// A blob of this app for image work, refused if over the media input
    /// limit, and how to read it (read only once a media slot is taken).
    async fn media_input(
        &mut self,
        name: &str,
    ) -> Result<(crate::store::BlobRow, futures::future::BoxFuture<'static, Result<Vec<u8>, Error>>), Error> {
        let row = self.scope.store.blob(self.app(), name).await.map_err(internal)?.ok_or(Error::NotFound)?;
        let max = self.scope.media.limits().max_input;
        if u64::try_from(row.size).unwrap_or(u64::MAX) > max {
            return Err(Error::Invalid(format!("the file has {} bytes; image work accepts at most {max}", row.size)));
        }
        let size = usize::try_from(row.size).unwrap_or(usize::MAX);
        let (sha, scope) = (row.sha256.clone(), self.scope.clone());
        let read = Box::pin(async move { scope.blobs.read_at(&sha, 0, size).await.map_err(internal) });
        Ok((row, read))
    }

    /// Stores bytes made by porch as one of this app's blobs.
    async fn save_blob(&mut self, name: &str, content_type: &str, data: &[u8]) -> Result<blobs::BlobInfo, Error> {
        let quota = self.blob_quota()?;
        check_key("blob name", name, MAX_BLOB_NAME)?;
        let mut temp = self.scope.blobs.create().await.map_err(storage)?;
        temp.write(data).await.map_err(storage)?;
        commit_blob(&self.scope.clone(), name, content_type, temp, quota).await
    }
}

/// Persists a finished temp file and records it under `name`, within quota;
/// a file nobody ends up referring to is removed again.
pub(super) async fn commit_blob(
    scope: &Arc<AppScope>,
    name: &str,
    content_type: &str,
    temp: TempBlob,
    quota: u64,
) -> Result<blobs::BlobInfo, Error> {
    let adding = scope.blobs.adding().await;
    let (sha, size) = scope.blobs.persist(temp).await.map_err(storage)?;
    let at = now();
    let app = scope.manifest.id.clone();
    let row = NewBlob { app: &app, name, sha256: &sha, size, content_type, at };
    let recorded = scope.store.put_blob(&row, quota).await;
    drop(adding);
    match recorded {
        Ok(Ok(replaced)) => {
            if let Some(old) = replaced {
                collect_if_unused(scope, &old).await;
            }
            let size = i64::try_from(size).unwrap_or(i64::MAX);
            let stored = crate::store::BlobRow {
                name: name.to_owned(),
                sha256: sha,
                size,
                content_type: content_type.to_owned(),
                created_at: at,
            };
            Ok(blob_info(stored))
        }
        Ok(Err(q)) => {
            collect_if_unused(scope, &sha).await;
            Err(over(q, "blob"))
        }
        Err(e) => {
            collect_if_unused(scope, &sha).await;
            Err(internal(e))
        }
    }
}

fn thumb_format(format: media::ImageFormat) -> ThumbFormat {
    match format {
        media::ImageFormat::Jpeg => ThumbFormat::Jpeg,
        media::ImageFormat::Webp => ThumbFormat::WebP,
    }
}

impl media::Host for AppState {
    async fn probe(&mut self, blob: String) -> Result<media::ProbeInfo, Error> {
        self.media_declared()?;
        let (_, read) = self.media_input(&blob).await?;
        let p = self.scope.media.run(read, crate::media::probe).await?;
        Ok(media::ProbeInfo {
            format: p.format.to_owned(),
            width: p.width,
            height: p.height,
            orientation: p.orientation,
            taken_at: p.taken_at,
            content_id: p.content_id,
        })
    }

    async fn thumbnail(
        &mut self,
        blob: String,
        target: String,
        max_edge: u32,
        format: media::ImageFormat,
    ) -> Result<blobs::BlobInfo, Error> {
        let mut stored = self.thumbnails(blob, vec![media::ThumbnailSize { target, max_edge, format }]).await?;
        stored.pop().ok_or_else(|| internal("no thumbnail was stored"))
    }

    async fn thumbnails(
        &mut self,
        blob: String,
        sizes: Vec<media::ThumbnailSize>,
    ) -> Result<Vec<blobs::BlobInfo>, Error> {
        self.media_declared()?;
        // Names, count and edges are all checked before the image is read.
        let wanted = checked_sizes(&sizes)?;
        let (_, read) = self.media_input(&blob).await?;
        let made =
            self.scope.media.run(read, move |bytes, limits| crate::media::thumbnails(bytes, &wanted, limits)).await?;
        self.save_thumbnails(&sizes, made).await
    }

    async fn strip_metadata(&mut self, blob: String, target: String) -> Result<blobs::BlobInfo, Error> {
        self.media_declared()?;
        check_key("blob name", &target, MAX_BLOB_NAME)?;
        if let Some((row, file)) = self.video_input(&blob).await? {
            return self.clean_video(&row, file, &target).await;
        }
        let (row, read) = self.media_input(&blob).await?;
        let out = self.scope.media.run(read, crate::media::strip_metadata).await?;
        self.save_blob(&target, &row.content_type, &out).await
    }

    async fn jpeg_copy(&mut self, blob: String, target: String) -> Result<blobs::BlobInfo, Error> {
        self.media_declared()?;
        check_key("blob name", &target, MAX_BLOB_NAME)?;
        let (_, read) = self.media_input(&blob).await?;
        let out = self.scope.media.run(read, crate::media::jpeg_copy).await?;
        self.save_blob(&target, "image/jpeg", &out).await
    }

    async fn probe_video(&mut self, blob: String) -> Result<media::VideoInfo, Error> {
        self.media_declared()?;
        let (_, file) = self.video_input(&blob).await?.ok_or_else(not_a_video)?;
        let v = self.scope.media.run_on(async { Ok(file) }, crate::media::probe_video).await?;
        Ok(media::VideoInfo {
            width: v.width,
            height: v.height,
            duration_ms: v.duration_ms,
            video_codec: v.video_codec,
            audio_codec: v.audio_codec,
            content_id: v.content_id,
        })
    }

    async fn video_poster(
        &mut self,
        blob: String,
        sizes: Vec<media::ThumbnailSize>,
    ) -> Result<Vec<blobs::BlobInfo>, Error> {
        self.media_declared()?;
        let wanted = checked_sizes(&sizes)?;
        let (_, file) = self.video_input(&blob).await?.ok_or_else(not_a_video)?;
        let made = self
            .scope
            .media
            .run_on(async { Ok(file) }, move |file: std::fs::File, limits: &MediaLimits| {
                crate::media::video_poster(file, &wanted, limits)
            })
            .await?;
        self.save_thumbnails(&sizes, made).await
    }

    async fn motion_video(&mut self, blob: String, target: String) -> Result<Option<blobs::BlobInfo>, Error> {
        self.media_declared()?;
        check_key("blob name", &target, MAX_BLOB_NAME)?;
        let (_, read) = self.media_input(&blob).await?;
        match self.scope.media.run(read, crate::media::motion_video).await? {
            Some(video) => Ok(Some(self.save_blob(&target, "video/mp4", &video).await?)),
            None => Ok(None),
        }
    }

    async fn queue_h264_copy(&mut self, blob: String, target: String) -> Result<(), Error> {
        self.queue_copy(blob, target).await
    }

    async fn work_state(&mut self, target: String) -> Result<Option<String>, Error> {
        self.work_state_of(target).await
    }
}

/// Thumbnail sizes an app asked for, all checked (names, count, edges)
/// before any input is read.
fn checked_sizes(sizes: &[media::ThumbnailSize]) -> Result<Vec<(u32, ThumbFormat)>, Error> {
    for size in sizes {
        check_key("blob name", &size.target, MAX_BLOB_NAME)?;
    }
    let wanted: Vec<(u32, ThumbFormat)> = sizes.iter().map(|s| (s.max_edge, thumb_format(s.format))).collect();
    crate::media::check_sizes(&wanted).map_err(media_error)?;
    Ok(wanted)
}

fn not_a_video() -> Error {
    Error::Unsupported("this is not an MP4 or QuickTime video".into())
}

impl AppState {
    /// Stores thumbnails made for `sizes`, in their order.
    async fn save_thumbnails(
        &mut self,
        sizes: &[media::ThumbnailSize],
        made: Vec<Vec<u8>>,
    ) -> Result<Vec<blobs::BlobInfo>, Error> {
        let mut stored = Vec::with_capacity(made.len());
        for (size, out) in sizes.iter().zip(made) {
            stored.push(self.save_blob(&size.target, thumb_format(size.format).content_type(), &out).await?);
        }
        Ok(stored)
    }

    /// A blob of this app that is an MP4 or QuickTime video (by its first
    /// bytes, not its declared type), opened; `None` for anything else.
    async fn video_input(&mut self, name: &str) -> Result<Option<(crate::store::BlobRow, std::fs::File)>, Error> {
        let row = self.scope.store.blob(self.app(), name).await.map_err(internal)?.ok_or(Error::NotFound)?;
        let head = self.scope.blobs.read_at(&row.sha256, 0, 64).await.map_err(internal)?;
        if !crate::media::is_movie(&head) {
            return Ok(None);
        }
        let max = self.scope.media.limits().max_video;
        if u64::try_from(row.size).unwrap_or(u64::MAX) > max {
            return Err(Error::Invalid(format!(
                "the video has {} bytes; video work accepts at most {max} (media.max_video)",
                row.size
            )));
        }
        let file = self.scope.blobs.open_file(&row.sha256).await.map_err(internal)?;
        Ok(Some((row, file)))
    }

    /// Copies a video into `target` without its location and device
    /// metadata: the plan is read from its index, then the file streams
    /// through with the changes applied, a MiB at a time.
    async fn clean_video(
        &mut self,
        row: &crate::store::BlobRow,
        file: std::fs::File,
        target: &str,
    ) -> Result<blobs::BlobInfo, Error> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let quota = self.blob_quota()?;
        let limits = self.scope.media.limits().clone();
        let plan = tokio::task::spawn_blocking(move || {
            let mut file = file;
            crate::media::clean_video_plan(&mut file, &limits).map(|plan| (plan, file))
        })
        .await
        .map_err(internal)?;
        let (plan, file) = plan.map_err(media_error)?;
        let mut file = tokio::fs::File::from_std(file);
        file.rewind().await.map_err(internal)?;
        let mut temp = self.scope.blobs.create().await.map_err(storage)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = 0u64;
        loop {
            let n = file.read(&mut buf).await.map_err(internal)?;
            if n == 0 {
                break;
            }
            crate::media::apply_patches(&plan, pos, &mut buf[..n]);
            temp.write(&buf[..n]).await.map_err(storage)?;
            pos += n as u64;
            if pos > u64::try_from(row.size).unwrap_or(u64::MAX) {
                return Err(internal("the video grew while it was being cleaned"));
            }
        }
        commit_blob(&self.scope.clone(), target, &row.content_type, temp, quota).await
    }
}

impl people::Host for AppState {
    async fn list_people(&mut self) -> Vec<people::Person> {
        if !self.scope.manifest.capabilities.people {
            return Vec::new();
        }
        match self.scope.store.app_people(self.app()).await {
            Ok(rows) => rows
                .into_iter()
                .map(|(id, name, groups, app_role)| people::Person {
                    id,
                    name,
                    groups: groups.split(',').filter(|g| !g.is_empty()).map(str::to_owned).collect(),
                    app_role,
                })
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "could not list people for an app");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l4_every_memory_and_table_of_an_instance_count_against_one_budget() {
        let mut limits = InstanceLimits::new(10 << 20);
        assert!(limits.memory_growing(0, 6 << 20, None).expect("first memory"));
        let second = limits.memory_growing(0, 6 << 20, None);
        assert!(second.is_err(), "a second memory shares the budget");
        assert!(limits.memory_growing(6 << 20, 8 << 20, None).expect("growing the first"));
        let tables = limits.table_growing(0, 1 << 20, None);
        assert!(tables.is_err(), "a million-element table is 8 MiB of the same budget");
        assert!(limits.table_growing(0, 1000, None).expect("a small table"));
        assert!(format!("{:#}", second.expect_err("err")).contains("limits.memory"));
    }

    #[tokio::test]
    async fn m10_image_input_is_read_only_once_a_media_slot_is_free() {
        let limits = MediaLimits {
            max_input: 1 << 20,
            max_pixels: 1_000_000,
            max_memory: 64 << 20,
            timeout: std::time::Duration::from_secs(5),
            workers: 1,
            ..MediaLimits::default()
        };
        let work = Arc::new(MediaWork::new(limits));
        let held = work.slots.clone().acquire_owned().await.expect("the one slot");
        let read = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let waiting = {
            let (work, read) = (work.clone(), read.clone());
            tokio::spawn(async move {
                let input = async move {
                    read.store(true, std::sync::atomic::Ordering::SeqCst);
                    Ok(vec![0u8; 16])
                };
                work.run(input, |bytes, _| Ok(bytes.len())).await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!read.load(std::sync::atomic::Ordering::SeqCst), "nothing is read while every slot is taken");
        drop(held);
        assert_eq!(waiting.await.expect("task").expect("job"), 16);
        assert!(read.load(std::sync::atomic::Ordering::SeqCst));
    }
}
