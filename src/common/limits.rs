//! Every fixed limit porch keeps, in one place: the ones that are not
//! settings (those are keys in `config.rs`, documented in README), each with
//! why it is what it is. A limit that people may need to change becomes a
//! config key instead of living here. The photo album keeps its own (the
//! 64 KiB form cap in `plugins/photos/src/web.rs`), as any app does.

use std::time::Duration;

// Apps: what one instance may hold and ask for (review findings M9, L4),
// and the ceilings a manifest may ask for.

/// The longest kv key an app may use, in bytes.
pub const MAX_KV_KEY: usize = 512;

/// The largest kv value, in bytes: kv is for records, blobs for files.
pub const MAX_KV_VALUE: usize = 1 << 20;

/// The most bytes one `blobs.read` call returns; larger files are read in ranges.
pub const MAX_BLOB_READ: u32 = 4 << 20;

/// The most keys or blobs one list call returns.
pub const MAX_LIST: u32 = 1000;

/// The longest blob name, in bytes.
pub const MAX_BLOB_NAME: usize = 512;

/// Blob writers one instance may have open at once: each holds a temporary
/// file (a file descriptor and an inode) until it is finished or dropped
/// (review finding M9).
pub const MAX_BLOB_WRITERS: u32 = 32;

/// Entries in one instance's resource table (streams, bodies, writers...);
/// wasmtime's default is a million.
pub const MAX_RESOURCES: usize = 4096;

/// Core instances, tables and memories one component instance may create.
pub const MAX_CORE_INSTANCES: usize = 64;

/// Tables one component instance may create (their elements count against `limits.memory`).
pub const MAX_TABLES: usize = 64;

/// Linear memories one component instance may create (together within `limits.memory`).
pub const MAX_MEMORIES: usize = 16;

/// The largest `limits.memory` a manifest may ask for.
pub const MAX_APP_MEMORY: usize = 1 << 30;

/// The longest `limits.time` a manifest may ask for.
pub const MAX_APP_TIME: Duration = Duration::from_secs(3600);

/// The largest request or response body a manifest may allow.
pub const MAX_APP_BODY: u64 = 64 << 30;

/// The largest kv quota a manifest may ask for.
pub const MAX_KV_QUOTA: u64 = 1 << 30;

/// The most hosts `[capabilities.outbound]` may list.
pub const MAX_OUTBOUND_HOSTS: usize = 32;

/// The most outgoing requests one app request may send.
pub const MAX_OUTBOUND_REQUESTS: u32 = 64;

/// The most bytes one app request may send and receive outbound.
pub const MAX_OUTBOUND_BYTES: u64 = 1 << 30;

/// At most this many pieces of news one app request may publish (the
/// `activity` capability): enough for an upload, a comment and a share, not
/// a flood that buries everyone's feed.
pub const MAX_ACTIVITY_PER_REQUEST: u32 = 32;

/// The longest line of news (characters) and the longest batch or scope key
/// (bytes) an app may give.
pub const MAX_ACTIVITY_TEXT: usize = 200;
pub const MAX_ACTIVITY_KEY: usize = 200;

/// The largest picture news may show beside it: a thumbnail, not a photo.
pub const MAX_ACTIVITY_PICTURE: u64 = 512 << 10;

/// How long an outgoing request may take to connect, for its answer to
/// start, and between two pieces of it (an app may ask for less, never
/// more; its own `limits.time` bounds all of it too).
pub const OUTBOUND_CONNECT: std::time::Duration = std::time::Duration::from_secs(10);
pub const OUTBOUND_FIRST_BYTE: std::time::Duration = std::time::Duration::from_secs(30);
pub const OUTBOUND_BETWEEN_BYTES: std::time::Duration = std::time::Duration::from_secs(30);

/// Cards an app may show under its tile on the start page, the largest
/// picture one may carry (decoded), the largest answer porch reads for
/// them and how long it waits: the start page must stay quick on a phone.
pub const HOME_CARDS_MAX: usize = 6;
pub const HOME_CARD_IMAGE: usize = 24 * 1024;
pub const HOME_CARDS_BODY: usize = 256 * 1024;
pub const HOME_CARDS_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// The largest blob quota a manifest may ask for.
pub const MAX_BLOB_QUOTA: u64 = 16 << 40;

// Apps: catalogues, and how an update is watched.

/// The largest catalogue index porch reads: thousands of entries.
pub const MAX_CATALOGUE_INDEX: u64 = 4 << 20;

/// An updated app is watched for its first this many requests in each
/// process that serves it...
pub const PROBATION_REQUESTS: u32 = 20;

/// ...and if this many of them fail (trap, or no answer), porch goes back to
/// the version before it by itself: one broken request can be the visitor's
/// doing, several in a row are the update's.
pub const PROBATION_FAILURES: u32 = 3;

// The store: what a row costs against an app's quota (L3), and how long an
// audit field may be (H1).

/// What one kv or blob row costs beyond its own bytes.
pub const ROW_COST: u64 = 128;

/// The most characters an event's subject keeps; longer ones are cut and
/// end in `…` (review finding H1: nothing a stranger sends may make one row
/// large).
pub const MAX_AUDIT_SUBJECT: usize = 200;

/// The most characters an event's detail keeps.
pub const MAX_AUDIT_DETAIL: usize = 400;

/// The most characters of a client address (an IPv6 address with a zone, or
/// a network, is well under this).
pub const MAX_AUDIT_IP: usize = 64;

// The gate: tables of clients in memory, the app handshake, sessions, forms.

/// The sign-in throttle remembers at most this many clients, and this many
/// accounts.
pub const THROTTLE_TRACKED: usize = 50_000;

/// At most this many accounts per client have their failures told apart (so
/// a success can clear its own); failures at further accounts still count
/// for the client, they just cannot be cleared by a success.
pub const THROTTLE_ACCOUNTS_PER_CLIENT: usize = 8;

/// Refused cross-site requests are counted per client in windows this long.
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(600);

/// Of those, this many per client and window are audited one by one; the
/// rest as one count.
pub const REFUSALS_RECORDED_PER_WINDOW: u32 = 5;

/// Clients whose refusals are being counted, at most.
pub const REFUSALS_TRACKED: usize = 20_000;

/// How long a ticket may take from porch to the app host.
pub const TICKET_SECS: i64 = 60;

/// How long the state cookie of a handshake lives.
pub const HANDSHAKE_STATE_SECS: i64 = 600;

/// A session is slid forward (and its cookie re-sent) at most this often,
/// so busy pages do not write to the database on every request.
pub const SESSION_SLIDE_EVERY_SECS: i64 = 60;

/// How long a device cookie lasts (browsers cap cookies at 400 days).
pub const DEVICE_COOKIE_DAYS: i64 = 400;

/// Longest password accepted; argon2 handles more, but nobody types this.
pub const MAX_PASSWORD: usize = 1024;

/// The longest note on an invite ("for Grandma").
pub const MAX_INVITE_NOTE: usize = 200;

/// The most people one invite link may admit.
pub const MAX_INVITE_USES: u32 = 1000;

/// The shortest and longest an invite may last.
pub const MIN_INVITE_EXPIRY: Duration = Duration::from_secs(1);
pub const MAX_INVITE_EXPIRY: Duration = Duration::from_secs(365 * 86400);

/// How long a recovery link's row stays after it ended (used, replaced or
/// expired); the audit log keeps its story for `audit.keep`.
pub const RECOVERY_LINK_KEEP: Duration = Duration::from_secs(30 * 86400);

/// How long an "add this phone" link works: the new device must open it
/// and be allowed within this time.
pub const PAIRING_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The longest display name a person may pick, in characters.
pub const MAX_DISPLAY_NAME: usize = 40;

/// Passkey ceremonies (a challenge given, the browser's answer not yet
/// back) kept in memory at once; more are refused with "try again in a
/// minute" until old ones end. Each is a few hundred bytes.
pub const PASSKEY_CEREMONIES: usize = 4096;

/// Passkey ceremonies one client (a network, as the throttle groups them)
/// may have in flight, so one cannot crowd out everyone else.
pub const PASSKEY_CEREMONIES_PER_CLIENT: usize = 64;

/// How long a passkey challenge may wait for the browser's answer
/// (WebAuthn's own recommended timeout).
pub const PASSKEY_CEREMONY_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Adding a way to sign in on the account page (a passkey, or a first
/// password for someone who has only passkeys) needs a sign-in this
/// recent, or the password typed again: a phone left signed in is not
/// enough to give someone a lasting way into the account.
pub const ADD_SIGN_IN_FRESH: Duration = Duration::from_secs(10 * 60);

/// The longest name a passkey may carry, in characters.
pub const PASSKEY_LABEL: usize = 60;

/// The largest passkey answer porch reads (a browser's is 1 to 3 KiB;
/// the form around it is bounded by `limits.form_body`).
pub const PASSKEY_ANSWER: usize = 16 * 1024;

// The edge: porch's DNS listener and its public-address check.

/// The most bytes porch reads from an address URL; a longer answer is
/// refused without reading the rest.
pub const MAX_ADDRESS_ANSWER: usize = 4096;

/// Past this many sources in the UDP limiter, quiet ones are forgotten at
/// once rather than at the next minute's sweep: forged sources cost one
/// entry each, and a flood must not grow the table for a whole minute
/// (review finding L12).
pub const DNS_SOURCES_TRACKED: usize = 65_536;

/// How long a TCP client may stay silent before porch closes the connection.
pub const DNS_TCP_IDLE: Duration = Duration::from_secs(10);
