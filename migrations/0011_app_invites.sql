-- The `invites` capability: an invite an app made names the app and the
-- path in it where the new person lands, and a person remembers the invite
-- they joined through, so that app can learn "P joined through your
-- invite X" and nothing more. Invites made by owners keep both NULL.
ALTER TABLE invites ADD COLUMN app_id TEXT;
ALTER TABLE invites ADD COLUMN landing TEXT;
ALTER TABLE people ADD COLUMN invite_id INTEGER REFERENCES invites(id) ON DELETE SET NULL;
