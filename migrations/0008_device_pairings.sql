-- "Add this phone": a signed-in person shows a one-time link (as a QR
-- code) on a device they have; the new device opens it, both screens show
-- the same short code, and the person allows it on the first device. Only
-- hashes of the link token and of the new device's claim are stored.
CREATE TABLE device_pairings (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB    NOT NULL UNIQUE,
    person_id    INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    claim_hash   BLOB,
    claim_label  TEXT,
    code         TEXT,
    approved_at  INTEGER,
    used_at      INTEGER
);
CREATE INDEX device_pairings_person ON device_pairings(person_id);
