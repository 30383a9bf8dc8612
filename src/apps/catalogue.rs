//! App catalogues: signed indexes of apps that the owner chose to trust
//! (`apps.catalogues`, none by default), read only when someone asks
//! (`porch app search`, `updates`, `install NAME`, Admin → Apps), and the
//! packages they list, checked against the index's size and hash and then
//! opened like any package.
//!
//! An index file is JSON: `{"format": "porch-catalogue-1", "key": HEX,
//! "signature": HEX, "index": TEXT}`, where the signature is Ed25519 over
//! `porch catalogue v1\0` followed by TEXT, and TEXT is the JSON of
//! [`Index`]. porch checks the key against the one in its configuration and
//! the signature before it parses TEXT.

use std::time::Duration;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AppError;
use super::package::{Package, Publisher};
use crate::common::limits::MAX_CATALOGUE_INDEX;
use crate::common::names::valid_app_id;
use crate::config::Catalogue;

pub const FORMAT: &str = "porch-catalogue-1";
const DOMAIN: &[u8] = b"porch catalogue v1\0";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: String,
    key: String,
    signature: String,
    index: String,
}

/// What a catalogue offers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub name: String,
    /// Unix seconds.
    pub issued_at: i64,
    pub apps: Vec<Entry>,
}

/// One app version in a catalogue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: String,
    pub name: String,
    pub version: String,
    /// The publisher key that signs the package, hex.
    pub publisher: String,
    #[serde(default)]
    pub summary: String,
    /// The package, absolute or relative to the index.
    pub url: String,
    pub sha256: String,
    pub size: u64,
}

/// An entry as found in one catalogue, its package URL resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub catalogue: String,
    pub catalogue_name: String,
    pub entry: Entry,
    pub package_url: String,
    /// The publisher's fingerprint words.
    pub publisher_words: String,
}

impl Listing {
    pub fn version(&self) -> semver::Version {
        semver::Version::parse(&self.entry.version).unwrap_or(semver::Version::new(0, 0, 0))
    }

    pub fn publisher(&self) -> Option<Publisher> {
        Publisher::from_hex(&self.entry.publisher)
    }
}

/// Signs `index` as a catalogue index file with `key`.
pub fn sign_index(key: &SigningKey, index: &Index) -> Result<Vec<u8>, AppError> {
    let text = serde_json::to_string_pretty(index).map_err(|e| AppError::Catalogue(e.to_string()))?;
    let signature = key.sign(&signed(&text));
    let envelope = Envelope {
        format: FORMAT.to_owned(),
        key: hex::encode(key.verifying_key().as_bytes()),
        signature: hex::encode(signature.to_bytes()),
        index: text,
    };
    serde_json::to_vec_pretty(&envelope).map_err(|e| AppError::Catalogue(e.to_string()))
}

fn signed(text: &str) -> Vec<u8> {
    let mut bytes = DOMAIN.to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// Checks an index file against the key porch was told to expect, and only
/// then reads it.
pub fn verify_index(bytes: &[u8], expected: &[u8; 32]) -> Result<Index, AppError> {
    let bad = |why: &str| AppError::Catalogue(why.to_owned());
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|_| bad("it is not a porch catalogue index (JSON with a signature)"))?;
    if envelope.format != FORMAT {
        return Err(bad(&format!("it is in format {:?}, which this porch does not read", envelope.format)));
    }
    if hex::decode(&envelope.key).ok().as_deref() != Some(&expected[..]) {
        return Err(bad(&format!(
            "it is signed by the key {}, not the one porch.toml names for it ({}); porch did not read it",
            envelope.key,
            hex::encode(expected)
        )));
    }
    let key = VerifyingKey::from_bytes(expected).map_err(|_| bad("its key is not a valid Ed25519 key"))?;
    let signature = hex::decode(&envelope.signature)
        .ok()
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .ok_or_else(|| bad("its signature is not 64 bytes of hex"))?;
    key.verify_strict(&signed(&envelope.index), &Signature::from_bytes(&signature))
        .map_err(|_| bad("its signature does not match: it was changed after it was signed"))?;
    serde_json::from_str(&envelope.index).map_err(|e| bad(&format!("its list of apps is not valid: {e}")))
}

/// Why an entry cannot be offered, if it cannot.
fn entry_problem(entry: &Entry, package_max: u64) -> Option<String> {
    if !valid_app_id(&entry.id) {
        return Some(format!("the id {:?} is not a valid app id", entry.id));
    }
    if semver::Version::parse(&entry.version).is_err() {
        return Some(format!("{}: the version {:?} is not MAJOR.MINOR.PATCH", entry.id, entry.version));
    }
    if Publisher::from_hex(&entry.publisher).is_none() {
        return Some(format!("{}: the publisher is not a 64-hex key", entry.id));
    }
    if entry.sha256.len() != 64 || hex::decode(&entry.sha256).is_err() {
        return Some(format!("{}: the sha256 is not 64 hex digits", entry.id));
    }
    if entry.size > package_max {
        return Some(format!("{} {}: its package is larger than apps.package_max", entry.id, entry.version));
    }
    None
}

/// The catalogues porch.toml names, and the client that reads them.
pub struct Catalogues {
    list: Vec<Catalogue>,
    client: Option<reqwest::Client>,
    package_max: u64,
}

/// What looking in every catalogue found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Found {
    pub listings: Vec<Listing>,
    /// One sentence per catalogue (or entry) that could not be read.
    pub problems: Vec<String>,
}

impl Catalogues {
    pub fn new(list: Vec<Catalogue>, timeout: Duration, package_max: u64) -> Catalogues {
        crate::common::crypto::install_crypto();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(15)))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("porch/", env!("CARGO_PKG_VERSION")))
            .build();
        let client = match client {
            Ok(client) => Some(client),
            Err(e) => {
                tracing::error!(error = %e, "cannot make the HTTP client for app catalogues");
                None
            }
        };
        Catalogues { list, client, package_max }
    }

    pub fn configured(&self) -> bool {
        !self.list.is_empty()
    }

    /// Reads every catalogue; one that cannot be read is a problem in the
    /// answer, never a failure of the others.
    pub async fn fetch_all(&self) -> Found {
        let mut found = Found::default();
        for catalogue in &self.list {
            match self.fetch(catalogue).await {
                Ok(index) => {
                    for entry in index.apps {
                        if let Some(problem) = entry_problem(&entry, self.package_max) {
                            found.problems.push(format!("{} lists an entry porch skipped: {problem}", catalogue.url));
                            continue;
                        }
                        let Some(package_url) = url::Url::parse(&catalogue.url)
                            .and_then(|base| base.join(&entry.url))
                            .ok()
                            .filter(|u| matches!(u.scheme(), "http" | "https"))
                        else {
                            found.problems.push(format!("{}: {} has no usable package URL", catalogue.url, entry.id));
                            continue;
                        };
                        let publisher_words =
                            Publisher::from_hex(&entry.publisher).map(|p| p.words()).unwrap_or_default();
                        found.listings.push(Listing {
                            catalogue: catalogue.url.clone(),
                            catalogue_name: index.name.clone(),
                            package_url: package_url.to_string(),
                            publisher_words,
                            entry,
                        });
                    }
                }
                Err(e) => found.problems.push(format!("could not read the catalogue {}: {e}", catalogue.url)),
            }
        }
        found
    }

    async fn fetch(&self, catalogue: &Catalogue) -> Result<Index, AppError> {
        let url = &catalogue.url;
        let bytes = self.get(url, MAX_CATALOGUE_INDEX).await?.ok_or_else(|| {
            AppError::Catalogue(format!("{url} is larger than the {MAX_CATALOGUE_INDEX} bytes porch reads"))
        })?;
        verify_index(&bytes, &catalogue.key)
    }

    /// GETs `url`; None when the answer is longer than `max` bytes (it is
    /// not read further).
    async fn get(&self, url: &str, max: u64) -> Result<Option<Vec<u8>>, AppError> {
        let client = self.client.as_ref().ok_or_else(|| AppError::Catalogue("porch has no HTTP client".into()))?;
        let mut response = client.get(url).send().await.map_err(|e| AppError::Catalogue(reason(&e)))?;
        if !response.status().is_success() {
            return Err(AppError::Catalogue(format!("{url} answered {}", response.status())));
        }
        if response.content_length().is_some_and(|n| n > max) {
            return Ok(None);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| AppError::Catalogue(reason(&e)))? {
            if body.len() as u64 + chunk.len() as u64 > max {
                return Ok(None);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    }

    /// Downloads a listed package and checks it is exactly what the signed
    /// index says (size, hash), then that it opens and is the listed app,
    /// version and publisher.
    pub async fn download(&self, listing: &Listing) -> Result<(Vec<u8>, Package), AppError> {
        let entry = &listing.entry;
        let bytes = self.get(&listing.package_url, entry.size).await?.unwrap_or_default();
        if bytes.len() as u64 != entry.size || hex::encode(Sha256::digest(&bytes)) != entry.sha256.to_ascii_lowercase()
        {
            return Err(AppError::Catalogue(format!(
                "the package at {} is not the one the catalogue's signed index lists (size or hash differ); nothing was installed",
                listing.package_url
            )));
        }
        let package = Package::open(&bytes)?;
        let m = &package.manifest;
        if m.id != entry.id || m.version != entry.version || package.publisher.hex() != entry.publisher {
            return Err(AppError::Catalogue(format!(
                "the package at {} is {} {} from \"{}\", but the catalogue lists {} {} from \"{}\"; nothing was installed",
                listing.package_url,
                m.id,
                m.version,
                package.publisher,
                entry.id,
                entry.version,
                listing.publisher_words
            )));
        }
        Ok((bytes, package))
    }
}

/// A client error as a sentence (reqwest's own hides the cause).
fn reason(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    if e.is_timeout() { format!("{text} (gave up after apps.download_timeout)") } else { text }
}

/// The newest listing of `id`; with `publisher`, only that publisher's.
pub fn newest<'a>(listings: &'a [Listing], id: &str, publisher: Option<&Publisher>) -> Option<&'a Listing> {
    listings
        .iter()
        .filter(|l| l.entry.id == id && publisher.is_none_or(|p| l.publisher().as_ref() == Some(p)))
        .max_by_key(|l| l.version())
}

/// Builds a catalogue index of the packages `packages` (file name, bytes),
/// each listed by its file name relative to the index.
pub fn index_of(name: &str, packages: &[(String, Vec<u8>)], issued_at: i64) -> Result<Index, AppError> {
    let mut apps = Vec::new();
    for (file, bytes) in packages {
        let package = Package::open(bytes).map_err(|e| AppError::Catalogue(format!("{file}: {e}")))?;
        let m = &package.manifest;
        apps.push(Entry {
            id: m.id.clone(),
            name: m.name.clone(),
            version: m.version.clone(),
            publisher: package.publisher.hex(),
            summary: String::new(),
            url: file.clone(),
            sha256: hex::encode(Sha256::digest(bytes)),
            size: bytes.len() as u64,
        });
    }
    apps.sort_by(|a, b| (&a.id, &a.version).cmp(&(&b.id, &b.version)));
    Ok(Index { name: name.to_owned(), issued_at, apps })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index {
        Index { name: "Family apps".into(), issued_at: 1, apps: vec![] }
    }

    #[test]
    fn an_index_verifies_only_with_its_key_and_unchanged() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let signed = sign_index(&key, &index()).expect("sign");
        let public = key.verifying_key().to_bytes();
        assert_eq!(verify_index(&signed, &public).expect("verifies").name, "Family apps");
        let other = SigningKey::from_bytes(&[4; 32]).verifying_key().to_bytes();
        assert!(verify_index(&signed, &other).is_err(), "another key");
        let text = String::from_utf8(signed).expect("utf-8").replace("Family apps", "Evil apps");
        assert!(verify_index(text.as_bytes(), &public).is_err(), "changed after signing");
        assert!(verify_index(b"<html>", &public).is_err());
    }
}
