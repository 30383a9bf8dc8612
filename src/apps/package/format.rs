//! The `.porchapp` package format, version 1: how an app's files are laid
//! out in one file and signed by its publisher, and the checks that run
//! before porch reads any of it. `build.rs` includes this file too (it signs
//! the bundled apps), so it names nothing else of porch.
//!
//! ```text
//! offset  size  what
//!      0     8  magic "PORCHAPP"
//!      8     1  format version (1)
//!      9     3  zero
//!     12    32  publisher: the Ed25519 public key that signed the package
//!     44    64  signature: Ed25519 over "porchapp signature v1\0" ++ header
//!    108     4  header length, big-endian (at most 1 MiB)
//!    112     n  header: JSON {"files": [{"path", "size", "sha256"}, ...]}
//!  112+n     …  each file's bytes, in the header's order, nothing after
//! ```
//!
//! Reading checks, in order: the magic and version, the signature over the
//! header bytes (before the header is parsed), the header's shape and paths,
//! then every file's size and SHA-256. Only a package that passed all of it
//! reaches the caller, so a changed byte anywhere is refused.

use std::collections::HashSet;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MAGIC: &[u8; 8] = b"PORCHAPP";
pub const VERSION: u8 = 1;
/// What the signature covers before the header, so a signature made for
/// anything else can never pass as a package's.
const DOMAIN: &[u8] = b"porchapp signature v1\0";
const FIXED: usize = 112;
pub const MAX_HEADER: usize = 1 << 20;
pub const MAX_FILES: usize = 1024;
pub const MAX_PATH: usize = 200;

/// Why a package was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("this is not a porch app package (a .porchapp file starts with \"PORCHAPP\")")]
    NotAPackage,
    #[error("this package uses format {0}, which this porch does not know; update porch to install it")]
    UnknownVersion(u8),
    #[error("the package is cut short; download it again")]
    Truncated,
    #[error("the package's signature does not match its publisher key: it was changed after it was signed, or damaged")]
    BadSignature,
    #[error("the package's publisher key is not a valid Ed25519 key")]
    BadKey,
    #[error("the package's list of files is not valid: {0}")]
    BadHeader(String),
    #[error("the file {0} in the package does not match its signed hash: it was changed after signing, or damaged")]
    BadFile(String),
    #[error("the package has {0} bytes after its last file; it was changed after signing, or damaged")]
    Trailing(usize),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    files: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    path: String,
    size: u64,
    sha256: String,
}

/// A package whose signature and every file's hash were checked.
#[derive(Debug)]
pub struct Verified {
    /// The publisher's Ed25519 public key.
    pub publisher: [u8; 32],
    /// (path, bytes), in the package's order.
    pub files: Vec<(String, Vec<u8>)>,
}

impl Verified {
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.iter().find(|(p, _)| p == path).map(|(_, b)| b.as_slice())
    }
}

/// A path inside a package: relative, `/`-separated, made of letters,
/// digits, `.`, `-` and `_`, no empty, `.` or `..` part.
pub fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= MAX_PATH
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

/// Lays out and signs `files` (path, bytes) as a package.
pub fn write(key: &SigningKey, files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, FormatError> {
    let mut seen = HashSet::new();
    for (path, _) in files {
        if !valid_path(path) || !seen.insert(path.as_str()) {
            return Err(FormatError::BadHeader(format!("the path {path:?} is not allowed or appears twice")));
        }
    }
    if files.len() > MAX_FILES {
        return Err(FormatError::BadHeader(format!("more than {MAX_FILES} files")));
    }
    let header = Header {
        files: files
            .iter()
            .map(|(path, bytes)| Entry {
                path: path.clone(),
                size: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(bytes)),
            })
            .collect(),
    };
    let header = serde_json::to_vec(&header).map_err(|e| FormatError::BadHeader(e.to_string()))?;
    if header.len() > MAX_HEADER {
        return Err(FormatError::BadHeader(format!("the list of files is over {MAX_HEADER} bytes")));
    }
    let signature = key.sign(&signed_bytes(&header));
    let total = FIXED + header.len() + files.iter().map(|(_, b)| b.len()).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(key.verifying_key().as_bytes());
    out.extend_from_slice(&signature.to_bytes());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    for (_, bytes) in files {
        out.extend_from_slice(bytes);
    }
    Ok(out)
}

fn signed_bytes(header: &[u8]) -> Vec<u8> {
    let mut signed = Vec::with_capacity(DOMAIN.len() + header.len());
    signed.extend_from_slice(DOMAIN);
    signed.extend_from_slice(header);
    signed
}

/// Checks a package and returns its files. Nothing in it is believed
/// before the signature over its header and each file's hash checked out.
pub fn read(bytes: &[u8]) -> Result<Verified, FormatError> {
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(if bytes.len() < 12 && MAGIC.starts_with(bytes) && !bytes.is_empty() {
            FormatError::Truncated
        } else {
            FormatError::NotAPackage
        });
    }
    if bytes[8] != VERSION || bytes[9..12] != [0; 3] {
        return Err(FormatError::UnknownVersion(bytes[8]));
    }
    if bytes.len() < FIXED {
        return Err(FormatError::Truncated);
    }
    let mut publisher = [0u8; 32];
    publisher.copy_from_slice(&bytes[12..44]);
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&bytes[44..108]);
    let mut length = [0u8; 4];
    length.copy_from_slice(&bytes[108..112]);
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_HEADER {
        return Err(FormatError::BadHeader(format!("the list of files says it is {length} bytes, over {MAX_HEADER}")));
    }
    let header = bytes.get(FIXED..FIXED + length).ok_or(FormatError::Truncated)?;
    let key = VerifyingKey::from_bytes(&publisher).map_err(|_| FormatError::BadKey)?;
    key.verify_strict(&signed_bytes(header), &Signature::from_bytes(&signature))
        .map_err(|_| FormatError::BadSignature)?;
    // Signed by the key it names: now the header may be read.
    let header: Header = serde_json::from_slice(header).map_err(|e| FormatError::BadHeader(e.to_string()))?;
    if header.files.is_empty() || header.files.len() > MAX_FILES {
        return Err(FormatError::BadHeader(format!("it lists {} files (1 to {MAX_FILES})", header.files.len())));
    }
    let mut seen = HashSet::new();
    let mut at = FIXED + length;
    let mut files = Vec::with_capacity(header.files.len());
    for entry in header.files {
        if !valid_path(&entry.path) || !seen.insert(entry.path.clone()) {
            return Err(FormatError::BadHeader(format!("the path {:?} is not allowed or appears twice", entry.path)));
        }
        let size = usize::try_from(entry.size).map_err(|_| FormatError::Truncated)?;
        let end = at.checked_add(size).ok_or(FormatError::Truncated)?;
        let body = bytes.get(at..end).ok_or(FormatError::Truncated)?;
        if hex::encode(Sha256::digest(body)) != entry.sha256.to_ascii_lowercase() {
            return Err(FormatError::BadFile(entry.path));
        }
        files.push((entry.path, body.to_vec()));
        at = end;
    }
    if at != bytes.len() {
        return Err(FormatError::Trailing(bytes.len() - at));
    }
    Ok(Verified { publisher, files })
}

/// Checks that `key` signs what `public` verifies (a key file's sanity).
pub fn key_matches(key: &SigningKey, public: &[u8; 32]) -> bool {
    key.verifying_key().as_bytes() == public
}

/// The first line of a publisher key file.
const KEY_HEADER: &str = "# porch app publisher key: keep this file secret, it signs your apps";

/// A publisher key file's text for the Ed25519 secret `seed`.
pub fn key_file(seed: &[u8; 32]) -> String {
    format!("{KEY_HEADER}\nsecret: {}\n", hex::encode(seed))
}

/// The key a key file holds, if it is one.
pub fn parse_key_file(text: &str) -> Option<SigningKey> {
    let secret = text.lines().find_map(|l| l.trim().strip_prefix("secret:"))?;
    let secret = <[u8; 32]>::try_from(hex::decode(secret.trim()).ok()?).ok()?;
    Some(SigningKey::from_bytes(&secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn sample() -> Vec<(String, Vec<u8>)> {
        vec![("app.toml".into(), b"id = \"x\"\n".to_vec()), ("x.wasm".into(), vec![0, 97, 115, 109, 1, 2, 3])]
    }

    #[test]
    fn a_written_package_reads_back() {
        let bytes = write(&key(1), &sample()).expect("write");
        let read = read(&bytes).expect("read");
        assert!(key_matches(&key(1), &read.publisher));
        assert_eq!(read.files, sample());
        assert_eq!(read.file("x.wasm"), Some(&[0, 97, 115, 109, 1, 2, 3][..]));
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let bytes = write(&key(1), &sample()).expect("write");
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 0x01;
            assert!(read(&changed).is_err(), "a package with byte {i} changed was accepted");
        }
    }

    #[test]
    fn cut_or_lengthened_packages_are_refused() {
        let bytes = write(&key(1), &sample()).expect("write");
        for n in 0..bytes.len() {
            assert!(read(&bytes[..n]).is_err(), "a package cut to {n} bytes was accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(read(&longer).expect_err("trailing bytes"), FormatError::Trailing(1));
    }

    #[test]
    fn another_key_cannot_take_over_a_signature() {
        // The publisher field swapped for another key: the signature no
        // longer verifies, so a package cannot be re-badged.
        let mut bytes = write(&key(1), &sample()).expect("write");
        bytes[12..44].copy_from_slice(key(2).verifying_key().as_bytes());
        assert_eq!(read(&bytes).expect_err("re-badged"), FormatError::BadSignature);
    }

    #[test]
    fn key_files_read_back() {
        let text = key_file(&[7; 32]);
        assert_eq!(parse_key_file(&text).map(|k| k.to_bytes()), Some([7; 32]));
        assert!(parse_key_file("secret: 1234").is_none());
        assert!(parse_key_file("").is_none());
    }

    #[test]
    fn paths_stay_inside_the_package() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a\\b", "é", "a b", &"a".repeat(201)] {
            assert!(!valid_path(bad), "{bad:?} was allowed");
            let files = vec![(bad.to_string(), vec![1])];
            assert!(write(&key(1), &files).is_err(), "{bad:?} was packed");
        }
        for good in ["app.toml", "assets/photos.js", "a-b_c.d/e"] {
            assert!(valid_path(good), "{good:?} was refused");
        }
    }
}
