//! App packages: one signed `.porchapp` file per app version (the layout
//! is in `format`), publisher keys and their fingerprints, packing a folder
//! and opening a package into what an install needs. An app's identity on
//! a porch is its id together with its publisher's key.

pub mod format;

use std::path::{Path, PathBuf};

use std::os::unix::fs::OpenOptionsExt as _;

use ed25519_dalek::SigningKey;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::AppError;
use super::manifest::Manifest;

/// An Ed25519 public key that signed a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher(pub [u8; 32]);

impl Publisher {
    pub fn from_hex(text: &str) -> Option<Publisher> {
        let bytes = hex::decode(text).ok()?;
        Some(Publisher(bytes.try_into().ok()?))
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Ten words from the PGP word list, from the key's SHA-256: what a
    /// person compares with what the publisher shows on their site (80 bits;
    /// the list alternates two word sets, so a swapped or missed word shows).
    pub fn words(&self) -> String {
        let digest = Sha256::digest(self.0);
        pgp_words::to_words(&digest[..10]).join(" ").to_lowercase()
    }
}

impl std::fmt::Display for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.words())
    }
}

/// Makes a new publisher key file at `path` (never over an existing one).
pub fn keygen(path: &Path) -> Result<Publisher, AppError> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let text = format::key_file(&seed);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| AppError::Io(format!("cannot create the key file {}: {e}", path.display())))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| AppError::Io(format!("cannot write the key file {}: {e}", path.display())))?;
    Ok(Publisher(key.verifying_key().to_bytes()))
}

/// Reads a key file `porch app keygen` wrote.
pub fn load_key(path: &Path) -> Result<SigningKey, AppError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AppError::Io(format!("cannot read the key file {}: {e}", path.display())))?;
    format::parse_key_file(&text).ok_or_else(|| {
        AppError::Io(format!(
            "{} is not a porch publisher key (make one with `porch app keygen --out FILE`)",
            path.display()
        ))
    })
}

/// A package that verified and whose manifest parsed: everything an
/// install needs, nothing yet written anywhere.
#[derive(Debug)]
pub struct Package {
    pub publisher: Publisher,
    pub manifest: Manifest,
    pub manifest_text: String,
    pub component: Vec<u8>,
    /// SHA-256 of the component, hex.
    pub component_sha256: String,
}

impl Package {
    /// Verifies `bytes` (signature, then every file's hash) and only then
    /// reads the manifest and finds the component it names.
    pub fn open(bytes: &[u8]) -> Result<Package, AppError> {
        let verified = format::read(bytes).map_err(|e| AppError::Package(e.to_string()))?;
        let text = verified.file("app.toml").ok_or_else(|| AppError::Package("the package has no app.toml".into()))?;
        let manifest_text = std::str::from_utf8(text)
            .map_err(|_| AppError::Package("the package's app.toml is not UTF-8 text".into()))?
            .to_owned();
        let manifest = Manifest::parse(&manifest_text)?;
        let component = verified.file(&manifest.component).ok_or_else(|| {
            AppError::Package(format!("app.toml names the component {:?}, which the package lacks", manifest.component))
        })?;
        let extra: Vec<&str> = verified
            .files
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| *p != "app.toml" && *p != manifest.component)
            .collect();
        if !extra.is_empty() {
            return Err(AppError::Package(format!(
                "the package holds files porch does not use ({}); pack it with `porch app pack`",
                extra.join(", ")
            )));
        }
        let component = component.to_vec();
        Ok(Package {
            publisher: Publisher(verified.publisher),
            component_sha256: hex::encode(Sha256::digest(&component)),
            manifest,
            manifest_text,
            component,
        })
    }

    /// Reads and opens a package file of at most `max` bytes.
    pub fn read(path: &Path, max: u64) -> Result<Package, AppError> {
        let size =
            std::fs::metadata(path).map_err(|e| AppError::Io(format!("cannot read {}: {e}", path.display())))?.len();
        if size > max {
            return Err(AppError::Package(format!(
                "{} is {size} bytes, over apps.package_max ({max} bytes); raise it in porch.toml if you trust this app",
                path.display()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| AppError::Io(format!("cannot read {}: {e}", path.display())))?;
        Package::open(&bytes)
    }
}

/// Packs the app in `dir` (its `app.toml` and the component it names,
/// beside it or in `target/wasm32-wasip2/release`)
/// with `key`; returns the package's bytes and its file name,
/// `ID-VERSION.porchapp`.
pub fn pack(dir: &Path, key: &SigningKey) -> Result<(Vec<u8>, String), AppError> {
    let read = |p: PathBuf| std::fs::read(&p).map_err(|e| AppError::Io(format!("cannot read {}: {e}", p.display())));
    let text = read(dir.join("app.toml"))?;
    let manifest = Manifest::parse(
        std::str::from_utf8(&text).map_err(|_| AppError::Manifest("app.toml is not UTF-8 text".into()))?,
    )?;
    if !format::valid_path(&manifest.component) {
        return Err(AppError::Manifest(format!(
            "`component` = {:?}: name a file beside app.toml (letters, digits, . - _)",
            manifest.component
        )));
    }
    // Beside app.toml, or where `cargo build --release` leaves it.
    let beside = dir.join(&manifest.component);
    let built = dir.join("target/wasm32-wasip2/release").join(&manifest.component);
    let component = match (beside.is_file(), built.is_file()) {
        (false, true) => read(built)?,
        (false, false) => {
            return Err(AppError::Io(format!(
                "there is no {} beside app.toml or in target/wasm32-wasip2/release: build the app first (`cargo build --release --target wasm32-wasip2`)",
                manifest.component
            )));
        }
        _ => read(beside)?,
    };
    let files = vec![("app.toml".to_owned(), text), (manifest.component.clone(), component)];
    let bytes = format::write(key, &files).map_err(|e| AppError::Package(e.to_string()))?;
    Ok((bytes, format!("{}-{}.porchapp", manifest.id, manifest.version)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_ten_words_and_differ_by_key() {
        let a = Publisher([1; 32]);
        let b = Publisher([2; 32]);
        assert_eq!(a.words().split(' ').count(), 10);
        assert_ne!(a.words(), b.words());
        assert_eq!(Publisher::from_hex(&a.hex()), Some(a));
    }
}
