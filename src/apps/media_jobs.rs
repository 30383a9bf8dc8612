//! Background media work apps ask for (WIT `media.queue-h264-copy`,
//! `media.work-state`) and the one worker that does it.
//!
//! A job is a row in the store (`store::media_jobs`), so a restart loses
//! none. The worker takes one job at a time, oldest first, and runs ffmpeg
//! in the media jail at the lowest CPU priority under
//! `media.transcode_timeout` (outside `media.workers`' slots, so quick image
//! work never waits behind a long copy). The copy is stored as the app's
//! blob within its quota, only while the video it came from still exists;
//! a try that fails is retried, and after three the job stays `failed` with
//! the reason, which the app can show.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::bindings::porch::app::types;
use super::host::{AppState, check_key, commit_blob, internal, storage};
use super::registry::Apps;
use crate::common::clock::now;
use crate::common::limits::MAX_BLOB_NAME;
use crate::store::MediaJob;

use types::Error;

/// The kind of job an H.264 copy is.
const H264: &str = "h264";

/// How often the worker looks for work when nothing woke it.
const LOOK_EVERY: Duration = Duration::from_secs(60);

impl AppState {
    pub(super) async fn queue_copy(&mut self, blob: String, target: String) -> Result<(), Error> {
        self.media_declared()?;
        let scope = self.scope();
        scope.manifest.capabilities.blobs.ok_or_else(|| super::host::not_declared("blobs"))?;
        check_key("blob name", &target, MAX_BLOB_NAME)?;
        let app = &scope.manifest.id;
        let row = scope.store.blob(app, &blob).await.map_err(internal)?.ok_or(Error::NotFound)?;
        let max = scope.media.limits().max_video;
        if u64::try_from(row.size).unwrap_or(u64::MAX) > max {
            return Err(Error::Invalid(format!(
                "the video has {} bytes; video work accepts at most {max} (media.max_video)",
                row.size
            )));
        }
        scope.store.queue_media_job(app, H264, &blob, &target, now()).await.map_err(internal)?;
        scope.jobs.notify_one();
        Ok(())
    }

    pub(super) async fn work_state_of(&mut self, target: String) -> Result<Option<String>, Error> {
        self.media_declared()?;
        let scope = self.scope();
        let job = scope.store.media_job(&scope.manifest.id, &target).await.map_err(internal)?;
        Ok(job.map(|job| match job.state.as_str() {
            "failed" => format!("failed: {}", job.error.unwrap_or_default()),
            other => other.to_owned(),
        }))
    }
}

impl Apps {
    /// Runs queued media jobs one at a time, for as long as porch serves.
    pub async fn run_media_jobs(self: Arc<Self>) {
        loop {
            match self.store().take_media_job().await {
                Ok(Some(job)) => {
                    let id = job.id;
                    match self.do_media_job(&job).await {
                        Ok(()) => {
                            if let Err(e) = self.store().end_media_job(id).await {
                                tracing::warn!(error = %e, "could not end a media job");
                            }
                        }
                        // Stopped by porch's own shutdown: left as it is,
                        // to be taken again at the next start.
                        Err(_) if crate::media::jail::is_stopping() => return,
                        Err(why) => {
                            tracing::warn!(app = %job.app_id, target = %job.target, error = %why, "a media job failed");
                            if let Err(e) = self.store().fail_media_job(id, &why).await {
                                tracing::warn!(error = %e, "could not record a failed media job");
                            }
                        }
                    }
                }
                Ok(None) => {
                    let _ = tokio::time::timeout(LOOK_EVERY, self.jobs.notified()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not look for media jobs");
                    tokio::time::sleep(LOOK_EVERY).await;
                }
            }
        }
    }

    /// One job. `Ok` also for work that no longer makes sense (its app or
    /// video is gone); `Err` says why a try failed.
    async fn do_media_job(&self, job: &MediaJob) -> Result<(), String> {
        let Ok(Some(app)) = self.resolve(&job.app_id).await else { return Ok(()) };
        let scope = app.scope();
        let Some(quota) = scope.manifest.capabilities.blobs else { return Ok(()) };
        let store = self.store();
        let Some(row) = store.blob(&job.app_id, &job.source).await.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let file = scope.blobs.open_file(&row.sha256).await.map_err(|e| e.to_string())?;
        let limits = scope.media.limits().clone();
        let started = std::time::Instant::now();
        let made = tokio::task::spawn_blocking(move || crate::media::h264_copy(file, &limits))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let (folder, path) = made;
        // The video may have been deleted while its copy was made.
        if store.blob(&job.app_id, &job.source).await.map_err(|e| e.to_string())?.is_none() {
            return Ok(());
        }
        let mut temp = scope.blobs.create().await.map_err(|e| storage(e).to_string())?;
        let mut copy = tokio::fs::File::open(&path).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = copy.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            temp.write(&buf[..n]).await.map_err(|e| storage(e).to_string())?;
        }
        drop(folder);
        commit_blob(&scope, &job.target, "video/mp4", temp, quota).await.map_err(|e| e.to_string())?;
        tracing::info!(app = %job.app_id, target = %job.target, seconds = started.elapsed().as_secs(), "made an H.264 copy");
        Ok(())
    }
}
