-- People, their credentials and groups; invites; sessions; grants; audit.
-- Times are Unix seconds (UTC). Secrets are stored only as SHA-256 hashes.

CREATE TABLE people (
    id            INTEGER PRIMARY KEY,
    display_name  TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT    NOT NULL CHECK (role IN ('owner', 'member')),
    created_by    INTEGER REFERENCES people(id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER
);

-- One row per way a person can prove who they are. Passwords today
-- (argon2id PHC string in `secret`); passkeys later fit the same table.
CREATE TABLE credentials (
    id            INTEGER PRIMARY KEY,
    person_id     INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL CHECK (kind IN ('password', 'passkey')),
    secret        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE UNIQUE INDEX credentials_one_password ON credentials(person_id) WHERE kind = 'password';

CREATE TABLE groups (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE COLLATE NOCASE
);

CREATE TABLE person_groups (
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    group_id  INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    PRIMARY KEY (person_id, group_id)
);

-- person x app -> app role. Apps are registered by the sandbox layer; the
-- app id is kept as text so a grant can be made before its app is installed.
CREATE TABLE grants (
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    app_id    TEXT    NOT NULL,
    app_role  TEXT    NOT NULL,
    PRIMARY KEY (person_id, app_id)
);

CREATE TABLE invites (
    id          INTEGER PRIMARY KEY,
    token_hash  BLOB    NOT NULL UNIQUE,
    purpose     TEXT    NOT NULL CHECK (purpose IN ('invite', 'owner-setup')),
    note        TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('owner', 'member')),
    created_by  INTEGER REFERENCES people(id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    max_uses    INTEGER NOT NULL CHECK (max_uses >= 1),
    uses        INTEGER NOT NULL DEFAULT 0,
    revoked_at  INTEGER
);

CREATE TABLE invite_groups (
    invite_id  INTEGER NOT NULL REFERENCES invites(id) ON DELETE CASCADE,
    group_name TEXT    NOT NULL,
    PRIMARY KEY (invite_id, group_name)
);

CREATE TABLE invite_grants (
    invite_id INTEGER NOT NULL REFERENCES invites(id) ON DELETE CASCADE,
    app_id    TEXT    NOT NULL,
    app_role  TEXT    NOT NULL,
    PRIMARY KEY (invite_id, app_id)
);

CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    token_hash    BLOB    NOT NULL UNIQUE,
    person_id     INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    device        TEXT    NOT NULL
);
CREATE INDEX sessions_by_person ON sessions(person_id);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_id   INTEGER REFERENCES people(id) ON DELETE SET NULL,
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL DEFAULT '',
    ip         TEXT,
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_time ON audit_events(at);

-- Small facts the server records for the CLI, e.g. the public URL it serves.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
