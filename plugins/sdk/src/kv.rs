//! The app's own key/value store: bytes, and records kept as JSON with
//! read-modify-write that loses no update when requests run at once.
//! Keys are at most 512 bytes, values at most 1 MiB, and everything counts
//! against the quota `app.toml` declares for `kv`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::host::kv;
use crate::host::types::Error;

/// The bytes under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    kv::get(key)
}

/// Stores `value` under `key`, replacing what was there.
pub fn set(key: &str, value: &[u8]) -> Result<(), Error> {
    kv::set(key, value)
}

/// Deletes `key`; false if it was not there.
pub fn delete(key: &str) -> Result<bool, Error> {
    kv::delete(key)
}

/// Keys with `prefix`, up to `limit` (at most 1000), after `after` (for
/// paging).
pub fn list(prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, Error> {
    kv::list_keys(prefix, after, limit)
}

/// Keys with `prefix` in descending order, before `before`.
pub fn list_reverse(prefix: &str, before: Option<&str>, limit: u32) -> Result<Vec<String>, Error> {
    kv::list_keys_reverse(prefix, before, limit)
}

/// Sets `key` to `value` only if it holds `expected` (`None`: absent).
pub fn compare_and_swap(key: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<bool, Error> {
    kv::compare_and_swap(key, expected, value)
}

/// Deletes every key starting with `prefix`; returns how many.
pub fn delete_prefix(prefix: &str) -> Result<u64, Error> {
    kv::delete_prefix(prefix)
}

/// Read-modify-write without lost updates: calls `change` with the current
/// value until its result is stored unchanged underneath it. `change`
/// returning `None` leaves the key as it is. Gives up with
/// [`Error::Internal`] after 100 contended tries.
pub fn update<F>(key: &str, mut change: F) -> Result<Option<Vec<u8>>, Error>
where
    F: FnMut(Option<&[u8]>) -> Option<Vec<u8>>,
{
    for _ in 0..100 {
        let current = kv::get(key)?;
        let Some(next) = change(current.as_deref()) else { return Ok(current) };
        if kv::compare_and_swap(key, current.as_deref(), &next)? {
            return Ok(Some(next));
        }
    }
    Err(Error::Internal(format!("too many writers at once on {key}")))
}

/// A record stored as JSON. A value that no longer reads as `T` (written
/// by another version) is an [`Error::Invalid`] naming the key.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    match kv::get(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("the record {key} could not be read: {e}"))),
    }
}

/// Stores `value` as JSON under `key`, replacing what was there.
pub fn put_json<T: Serialize>(key: &str, value: &T) -> Result<(), Error> {
    kv::set(key, &to_json(value)?)
}

/// Creates the record only if `key` is free; false if it was taken.
pub fn create_json<T: Serialize>(key: &str, value: &T) -> Result<bool, Error> {
    kv::compare_and_swap(key, None, &to_json(value)?)
}

/// Read-modify-write of a JSON record, as [`update`]: `change` gets the
/// current record (or `None`) and returns the new one, or `None` to leave
/// it. Returns the record as stored afterwards.
pub fn update_json<T, F>(key: &str, mut change: F) -> Result<Option<T>, Error>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<T>) -> Option<T>,
{
    let mut failure = None;
    let stored = update(key, |current| {
        let record = match current.map(serde_json::from_slice::<T>) {
            None => None,
            Some(Ok(record)) => Some(record),
            Some(Err(e)) => {
                failure = Some(Error::Invalid(format!("the record {key} could not be read: {e}")));
                return None;
            }
        };
        let next = change(record)?;
        match to_json(&next) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                failure = Some(e);
                None
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    stored.map(|b| serde_json::from_slice(&b).map_err(|e| Error::Invalid(e.to_string()))).transpose()
}

/// The records under `prefix` after `after`, up to `limit`, with their keys.
pub fn list_json<T: DeserializeOwned>(
    prefix: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<(String, T)>, Error> {
    let mut out = Vec::new();
    for key in kv::list_keys(prefix, after, limit)? {
        if let Some(record) = get_json(&key)? {
            out.push((key, record));
        }
    }
    Ok(out)
}

/// The records under `prefix` before `before`, newest key first, up to
/// `limit`, with their keys.
pub fn list_json_reverse<T: DeserializeOwned>(
    prefix: &str,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<(String, T)>, Error> {
    let mut out = Vec::new();
    for key in kv::list_keys_reverse(prefix, before, limit)? {
        if let Some(record) = get_json(&key)? {
            out.push((key, record));
        }
    }
    Ok(out)
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Invalid(format!("could not store a record: {e}")))
}
