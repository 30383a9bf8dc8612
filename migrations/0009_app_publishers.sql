-- App identity and updates: an app id on this porch belongs to the publisher
-- key that first installed it, and an update keeps the version it replaced.

-- Who publishes each app id here (an Ed25519 public key, hex). An update must
-- carry the same key. Kept as long as anything of the app is kept (its row
-- or the data a removal kept), so a reinstall is checked too; a purge, or an
-- explicit `porch app replace`, changes it.
CREATE TABLE app_publishers (
    app_id     TEXT    PRIMARY KEY,
    publisher  TEXT    NOT NULL,
    since      INTEGER NOT NULL
);

-- The version an update replaced, so it can be brought back (by
-- `porch app rollback`, or by porch itself when the update fails).
CREATE TABLE app_previous (
    app_id            TEXT    PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    name              TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    manifest          TEXT    NOT NULL,
    component_sha256  TEXT    NOT NULL,
    installed_at      INTEGER NOT NULL
);

-- What porch did to the app on its own (went back to the previous version
-- after an update failed), shown on the admin page until the next install.
ALTER TABLE apps ADD COLUMN notice TEXT NOT NULL DEFAULT '';
