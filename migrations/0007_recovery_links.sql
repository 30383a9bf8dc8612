-- One-time "sign in again" links an owner makes for a person who lost their
-- way in (a forgotten password, a lost phone). Stored only as the SHA-256 of
-- the token; a new link for a person revokes their earlier unused ones.
CREATE TABLE recovery_links (
    id          INTEGER PRIMARY KEY,
    token_hash  BLOB    NOT NULL UNIQUE,
    person_id   INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    created_by  INTEGER REFERENCES people(id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX recovery_links_person ON recovery_links(person_id);
