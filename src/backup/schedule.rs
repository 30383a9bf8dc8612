//! Scheduled backups (`[backup] to`, `every`, `keep`): a task in `porch
//! serve` that makes a snapshot when the last good one is `every` old, keeps
//! `keep` of them, audits each result, and remembers the last one in the
//! database so a restart neither forgets a failure nor backs up again at once.
//! A failed backup is retried after `every` or 15 minutes, whichever is
//! sooner.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::common::clock::now;
use crate::common::status::BackupReport;
use crate::config::BackupSettings;
use crate::store::Store;
use crate::store::audit::{self, Action, Actor};

/// The settings-table key the last result is kept under.
const STATE_KEY: &str = "backup.state";
const RETRY_AT_MOST: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    last_ok_at: Option<i64>,
    last_snapshot: Option<String>,
    last_summary: Option<String>,
    last_error: Option<String>,
    last_error_at: Option<i64>,
}

/// The saved result plus what only the running schedule knows.
#[derive(Default)]
struct Live {
    saved: State,
    running: bool,
    next_at: Option<i64>,
}

pub struct Scheduler {
    settings: BackupSettings,
    store: Store,
    data_dir: PathBuf,
    config_file: Option<PathBuf>,
    state: Mutex<Live>,
    now: Notify,
}

impl Scheduler {
    /// Loads the last result and starts the schedule.
    pub async fn start(
        settings: BackupSettings,
        store: Store,
        data_dir: PathBuf,
        config_file: Option<PathBuf>,
    ) -> Arc<Scheduler> {
        let state: State = match store.setting(STATE_KEY).await {
            Ok(Some(json)) => serde_json::from_str(&json).unwrap_or_default(),
            _ => State::default(),
        };
        let scheduler = Arc::new(Scheduler {
            settings,
            store,
            data_dir,
            config_file,
            state: Mutex::new(Live { saved: state, ..Live::default() }),
            now: Notify::new(),
        });
        tokio::spawn(scheduler.clone().run());
        scheduler
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When the next backup is due: `every` after the last good one, or the
    /// retry time after a failure (a success clears the failure); a first
    /// backup a few seconds after start.
    fn next_at(&self, started: i64) -> i64 {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let saved = &self.lock().saved;
        match (saved.last_error_at, saved.last_ok_at) {
            (Some(failed), _) => failed.saturating_add(secs(self.settings.every.min(RETRY_AT_MOST))),
            (None, Some(ok)) => ok.saturating_add(secs(self.settings.every)),
            (None, None) => started + 5,
        }
    }

    async fn run(self: Arc<Self>) {
        let started = now();
        loop {
            let next = self.next_at(started);
            self.lock().next_at = Some(next);
            let wait = Duration::from_secs(u64::try_from(next - now()).unwrap_or(0));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.now.notified() => {}
            }
            self.back_up().await;
        }
    }

    async fn back_up(&self) {
        self.lock().running = true;
        let keep = usize::try_from(self.settings.keep).unwrap_or(usize::MAX);
        let made =
            super::make(&self.store, &self.data_dir, self.config_file.as_deref(), &self.settings.to, Some(keep)).await;
        let at = now();
        let to = self.settings.to.display().to_string();
        let state = {
            let mut guard = self.lock();
            guard.running = false;
            match &made {
                Ok(m) => {
                    guard.saved.last_ok_at = Some(at);
                    guard.saved.last_snapshot = Some(m.snapshot.clone());
                    guard.saved.last_summary = Some(m.to_string());
                    guard.saved.last_error = None;
                    guard.saved.last_error_at = None;
                }
                Err(e) => {
                    guard.saved.last_error = Some(e.to_string());
                    guard.saved.last_error_at = Some(at);
                }
            }
            guard.saved.clone()
        };
        match &made {
            Ok(m) => {
                tracing::info!(snapshot = %m.snapshot, to, new_files = m.new_blobs, bytes = m.bytes_copied, "backup made");
                audit::record(&self.store, Actor::System, Action::BackupMade, &to, &m.to_string()).await;
            }
            Err(e) => {
                tracing::error!(error = %e, to, "backup failed");
                audit::record(&self.store, Actor::System, Action::BackupFailed, &to, &e.to_string()).await;
            }
        }
        crate::metrics::backup_finished(made.is_ok(), at);
        if let Ok(json) = serde_json::to_string(&state)
            && let Err(e) = self.store.set_setting(STATE_KEY, &json).await
        {
            tracing::warn!(error = %e, "could not record the backup's result");
        }
    }
}

impl Scheduler {
    /// What the admin page shows: the schedule, the last good backup, the
    /// last failure.
    pub fn report(&self) -> BackupReport {
        let live = self.lock();
        let state = &live.saved;
        BackupReport {
            to: self.settings.to.display().to_string(),
            every: humantime::format_duration(self.settings.every).to_string(),
            keep: self.settings.keep,
            running: live.running,
            next_at: live.next_at,
            last_ok_at: state.last_ok_at,
            last_snapshot: state.last_snapshot.clone(),
            last_summary: state.last_summary.clone(),
            last_error: state.last_error.clone(),
            last_error_at: state.last_error_at,
        }
    }

    /// Asks for a backup now (it runs in the background).
    pub fn back_up_now(&self) {
        self.now.notify_one();
    }
}
