-- Devices that have signed in to an account: the browser keeps a long-lived
-- device cookie (its secret stored here only as a SHA-256 hash), so sign-in
-- throttling never holds back the family's own phones and computers.

CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    token_hash    BLOB    NOT NULL UNIQUE,
    person_id     INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL
);
CREATE INDEX devices_person ON devices(person_id);
