-- A ticket is bound to the browser that started the handshake: the app host
-- set a random state cookie there, and the ticket carries its hash (review
-- finding L1). A ticket without one is never accepted.
ALTER TABLE app_tickets ADD COLUMN state_hash BLOB;
