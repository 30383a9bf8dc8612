-- Background media work an app asked for (today: an H.264 copy of a video
-- browsers cannot play), one row per target blob, run one at a time by the
-- apps layer's worker. A row outlives restarts: `running` is picked up again
-- as if waiting. A job that failed `attempts` times stays as `failed` with
-- its reason, so the app can say so; a finished job's row is deleted.
CREATE TABLE media_jobs (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (app_id, target)
);
