-- Unfinished resumable uploads (tus 1.0 at an app host's /.porch/uploads).
-- The bytes so far are the file blobs/uploads/<id_hash>; the URL names the
-- upload by a random 256-bit id and only its SHA-256 is kept here. `charge`
-- (the declared length plus the row's cost) is added to the app's
-- blob_bytes while the upload is open, so unfinished uploads count against
-- the app's quota, and taken off again when it is claimed, ended or swept.
CREATE TABLE uploads (
    id_hash TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    person_id INTEGER NOT NULL,
    length INTEGER NOT NULL,
    charge INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX uploads_expiry ON uploads(expires_at);
