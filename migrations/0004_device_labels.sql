-- Known devices get a readable label ("Safari on iPhone"), so a person can
-- see them on the account page and forget one (review finding L9).
ALTER TABLE devices ADD COLUMN label TEXT NOT NULL DEFAULT '';
CREATE INDEX devices_last_used ON devices(last_used_at);
