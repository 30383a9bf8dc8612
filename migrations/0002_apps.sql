-- Installed apps, their per-app kv and blob namespaces with usage for quotas,
-- and the one-time tickets and app-host sessions of the sign-in handshake.

CREATE TABLE apps (
    id                TEXT    PRIMARY KEY,
    name              TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    -- The app.toml it was installed with.
    manifest          TEXT    NOT NULL,
    -- The component is the file apps/<sha256>.wasm in the data folder.
    component_sha256  TEXT    NOT NULL,
    bundled           INTEGER NOT NULL DEFAULT 0,
    installed_at      INTEGER NOT NULL
);

-- App data is keyed by app id but not tied to the apps row: removing an app
-- keeps its data (unless purged), so reinstalling brings it back.
CREATE TABLE app_kv (
    app_id  TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   BLOB NOT NULL,
    PRIMARY KEY (app_id, key)
) WITHOUT ROWID;

CREATE TABLE app_blobs (
    app_id        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    content_type  TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (app_id, name)
);
CREATE INDEX app_blobs_by_hash ON app_blobs(sha256);

CREATE TABLE app_usage (
    app_id      TEXT    PRIMARY KEY,
    kv_bytes    INTEGER NOT NULL DEFAULT 0,
    blob_bytes  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE app_tickets (
    token_hash  BLOB    PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    app_id      TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- A session on one app host, always tied to a porch session: ending the
-- porch session (sign-out, revoke, disable) ends its app sessions too.
CREATE TABLE app_sessions (
    id          INTEGER PRIMARY KEY,
    token_hash  BLOB    NOT NULL UNIQUE,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    app_id      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX app_sessions_by_session ON app_sessions(session_id);
