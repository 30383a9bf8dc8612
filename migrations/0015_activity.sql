-- What apps tell people (the `activity` capability): one row per piece of
-- news, and one inbox row per person it is for. An app's news with a
-- `batch` key merges into the same person's recent news with that key
-- ("added 12 photos"), so a burst of uploads is one line. `scope` names what
-- the news is about inside the app ("album:<id>"), so the app can mark it
-- seen or withdraw it from people who lost access. The actor is whoever's
-- request published it; porch shows their name, the app cannot choose it.
CREATE TABLE activity (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    actor_id INTEGER REFERENCES people(id) ON DELETE CASCADE,
    batch TEXT,
    scope TEXT,
    count INTEGER NOT NULL DEFAULT 1,
    text TEXT NOT NULL,
    text_many TEXT,
    link TEXT NOT NULL,
    thumbnail TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX activity_batches ON activity(app_id, actor_id, batch, updated_at);
CREATE INDEX activity_age ON activity(updated_at);

-- seen_at is NULL while the news is new to them; a merge makes it new again.
CREATE TABLE activity_inbox (
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    event_id INTEGER NOT NULL REFERENCES activity(id) ON DELETE CASCADE,
    updated_at INTEGER NOT NULL,
    seen_at INTEGER,
    -- When an email digest told them of it (as it stood then).
    mailed_at INTEGER,
    PRIMARY KEY (person_id, event_id)
) WITHOUT ROWID;
CREATE INDEX activity_feed ON activity_inbox(person_id, updated_at);
CREATE INDEX activity_by_event ON activity_inbox(event_id);
CREATE INDEX activity_unread ON activity_inbox(person_id, event_id) WHERE seen_at IS NULL;

-- A thing (an app's scope, such as "album:<id>") a person wants no digest
-- about; it still shows in their feed.
CREATE TABLE activity_mutes (
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    PRIMARY KEY (person_id, app_id, scope)
) WITHOUT ROWID;

-- Email digests: where a person wants them and how often ('digest': every
-- activity.digest_every, 'weekly', or 'never'), when the last one went, and
-- the backoff after a failed send.
CREATE TABLE mail_prefs (
    person_id INTEGER PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    frequency TEXT NOT NULL CHECK (frequency IN ('digest', 'weekly', 'never')),
    last_sent_at INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    next_try_at INTEGER
);

-- Each digest carries its own one-click unsubscribe link (RFC 8058); only
-- the SHA-256 of its 256-bit token is kept.
CREATE TABLE mail_unsubscribes (
    token_hash BLOB PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
