-- When porch last ran each app's scheduled trigger (Unix seconds), so a run
-- missed while porch was down runs once when it starts again. Rows of a
-- trigger an update dropped stay harmless; removing the app drops them.
CREATE TABLE app_triggers (
    app_id    TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    last_run  INTEGER NOT NULL,
    PRIMARY KEY (app_id, name)
) WITHOUT ROWID;
