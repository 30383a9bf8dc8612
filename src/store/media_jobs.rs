//! Queued background media work (`media_jobs`): what an app asked porch to
//! make from one of its blobs, kept until it is made, so a restart loses
//! nothing. The apps layer's worker takes the oldest job not given up on.

use sqlx::FromRow;

use super::{Result, Store};

/// How often a job is tried before it is given up on.
pub const MAX_ATTEMPTS: i64 = 3;

#[derive(Debug, Clone, FromRow)]
pub struct MediaJob {
    pub id: i64,
    pub app_id: String,
    pub kind: String,
    pub source: String,
    pub target: String,
    pub state: String,
    pub attempts: i64,
    pub error: Option<String>,
}

const COLUMNS: &str = "id, app_id, kind, source, target, state, attempts, error";

impl Store {
    /// Queues `kind` work from `source` into `target` (once per target: a
    /// second ask for the same target starts a failed one afresh and leaves
    /// a waiting one be).
    pub async fn queue_media_job(&self, app: &str, kind: &str, source: &str, target: &str, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO media_jobs (app_id, kind, source, target, created_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT(app_id, target) DO UPDATE SET kind = excluded.kind, source = excluded.source, \
             state = 'waiting', attempts = 0, error = NULL WHERE media_jobs.state = 'failed'",
        )
        .bind(app)
        .bind(kind)
        .bind(source)
        .bind(target)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The oldest job still to do (waiting, or running when porch stopped),
    /// marked running.
    pub async fn take_media_job(&self) -> Result<Option<MediaJob>> {
        Ok(sqlx::query_as(&format!(
            "UPDATE media_jobs SET state = 'running', attempts = attempts + 1 WHERE id = \
             (SELECT id FROM media_jobs WHERE state IN ('waiting', 'running') ORDER BY id LIMIT 1) \
             RETURNING {COLUMNS}"
        ))
        .fetch_optional(self.pool())
        .await?)
    }

    /// A finished (or pointless) job goes.
    pub async fn end_media_job(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM media_jobs WHERE id = ?").bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// A failed try: waiting again, or given up on after [`MAX_ATTEMPTS`].
    pub async fn fail_media_job(&self, id: i64, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE media_jobs SET error = ?, state = CASE WHEN attempts >= ? THEN 'failed' ELSE 'waiting' END \
             WHERE id = ?",
        )
        .bind(error)
        .bind(MAX_ATTEMPTS)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The job that makes `target`, if one is queued, running or failed.
    pub async fn media_job(&self, app: &str, target: &str) -> Result<Option<MediaJob>> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM media_jobs WHERE app_id = ? AND target = ?"))
            .bind(app)
            .bind(target)
            .fetch_optional(self.pool())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_are_taken_in_order_survive_a_restart_and_are_given_up_on_after_three_tries() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        store.queue_media_job("photos", "h264", "a/o", "a/h", 1).await.expect("queue");
        store.queue_media_job("photos", "h264", "b/o", "b/h", 2).await.expect("queue");
        store.queue_media_job("photos", "h264", "a/o", "a/h", 3).await.expect("asked twice");
        let first = store.take_media_job().await.expect("take").expect("a job");
        assert_eq!((first.target.as_str(), first.attempts), ("a/h", 1));
        // porch stopped while it ran: it is taken again, before the next.
        drop(store);
        let store = Store::open(dir.path()).await.expect("reopen");
        let again = store.take_media_job().await.expect("take").expect("a job");
        assert_eq!((again.id, again.attempts), (first.id, 2));
        store.fail_media_job(again.id, "no").await.expect("fail");
        let third = store.take_media_job().await.expect("take").expect("a job");
        assert_eq!((third.id, third.attempts), (first.id, 3));
        store.fail_media_job(third.id, "ffmpeg said no").await.expect("fail");
        let failed = store.media_job("photos", "a/h").await.expect("state").expect("kept");
        assert_eq!((failed.state.as_str(), failed.error.as_deref()), ("failed", Some("ffmpeg said no")));
        let next = store.take_media_job().await.expect("take").expect("b");
        assert_eq!(next.target, "b/h");
        store.end_media_job(next.id).await.expect("end");
        assert!(store.take_media_job().await.expect("take").is_none());
        // Asked again, a failed job starts afresh.
        store.queue_media_job("photos", "h264", "a/o", "a/h", 4).await.expect("queue");
        let fresh = store.take_media_job().await.expect("take").expect("a job");
        assert_eq!((fresh.id, fresh.attempts), (first.id, 1));
    }
}
