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
    PRIMARY KEY (person_id, event_id)
) WITHOUT ROWID;
CREATE INDEX activity_feed ON activity_inbox(person_id, updated_at);
CREATE INDEX activity_by_event ON activity_inbox(event_id);
CREATE INDEX activity_unread ON activity_inbox(person_id, event_id) WHERE seen_at IS NULL;
