-- Passkeys (WebAuthn) as credentials. A passkey row keeps the credential
-- porch checks signatures with (webauthn-rs's `Passkey`, as JSON, in
-- `secret`: a public key and a counter, nothing that signs anyone in), the
-- credential id the browser presents, and the name of the device it lives
-- on. A person has at most one password and any number of passkeys.
ALTER TABLE credentials ADD COLUMN label TEXT;
ALTER TABLE credentials ADD COLUMN credential_id BLOB;
CREATE UNIQUE INDEX credentials_passkey_id ON credentials(credential_id) WHERE credential_id IS NOT NULL;

-- The random 16 bytes a person's passkeys carry as WebAuthn's user handle:
-- what a discoverable sign-in names before porch knows who it is.
ALTER TABLE people ADD COLUMN passkey_handle BLOB;
CREATE UNIQUE INDEX people_passkey_handle ON people(passkey_handle) WHERE passkey_handle IS NOT NULL;
