//! A snapshot's `MANIFEST.sha256`: one line per file, `<sha256>  <path>`, the
//! path relative to the backup folder, so `cd DEST && sha256sum -c
//! snapshots/NAME/MANIFEST.sha256` checks a backup without porch. Also the
//! hashing and fsyncing copy every backup step uses.

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// The manifest's file name inside a snapshot.
pub const MANIFEST: &str = "MANIFEST.sha256";

/// One line of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub sha256: String,
    /// Relative to the backup folder, `/`-separated, never `..`.
    pub path: String,
}

pub fn write(path: &Path, entries: &[Entry]) -> io::Result<()> {
    let mut text = String::new();
    for e in entries {
        text.push_str(&format!("{}  {}\n", e.sha256, e.path));
    }
    let mut file = std::fs::File::create(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Reads a manifest; a malformed line or a path leaving the backup folder is
/// an error naming the line.
pub fn read(path: &Path) -> io::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let bad =
                || io::Error::new(io::ErrorKind::InvalidData, format!("{} line {}: {line:?}", path.display(), n + 1));
            let (sha256, rest) = line.split_once("  ").ok_or_else(bad)?;
            let ok_hash = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok_hash || !is_inside(rest) {
                return Err(bad());
            }
            Ok(Entry { sha256: sha256.to_ascii_lowercase(), path: rest.to_owned() })
        })
        .collect()
}

/// Whether a manifest path stays inside the backup folder.
fn is_inside(path: &str) -> bool {
    !path.is_empty() && Path::new(path).components().all(|c| matches!(c, Component::Normal(_)))
}

/// Reads `src` to its end in 1 MiB pieces, writing each to `sink`; returns
/// the SHA-256 of what was read and its size.
fn hash_through(mut src: impl Read, mut sink: impl Write) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        sink.write_all(&buf[..n])?;
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// SHA-256 of a file and its size.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    hash_through(std::fs::File::open(path)?, io::sink())
}

/// Copies `from` to `to` (a new file, with the same permissions, so keys
/// stay private), fsyncs it, and returns the SHA-256 of what was copied and
/// its size.
pub fn copy_file(from: &Path, to: &Path) -> io::Result<(String, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let src = std::fs::File::open(from)?;
    let mode = src.metadata()?.permissions();
    let mut dst = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(to)?;
    let copied = hash_through(src, &mut dst)?;
    dst.set_permissions(mode)?;
    dst.sync_all()?;
    Ok(copied)
}

/// Fsyncs a folder, so the names created in it survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Every regular file under `dir`, as paths relative to it, sorted.
pub fn files_under(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        for entry in std::fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = rel.join(entry.file_name());
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_and_refuse_escapes() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let entries = vec![
            Entry { sha256: "a".repeat(64), path: "snapshots/x/porch.sqlite".into() },
            Entry { sha256: "b".repeat(64), path: "blobs/bb/".to_owned() + &"b".repeat(64) },
        ];
        let path = dir.path().join(MANIFEST);
        write(&path, &entries).expect("write");
        assert_eq!(read(&path).expect("read"), entries);
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../b", ""] {
            std::fs::write(&path, format!("{}  {bad}\n", "a".repeat(64))).expect("write");
            assert!(read(&path).is_err(), "{bad:?} must be refused");
        }
        std::fs::write(&path, "not a hash  file\n").expect("write");
        assert!(read(&path).is_err());
    }

    #[test]
    fn copies_hash_what_they_copy() {
        let dir = tempfile::TempDir::new().expect("tmp");
        std::fs::write(dir.path().join("a"), b"hello world").expect("write");
        let (sha, size) = copy_file(&dir.path().join("a"), &dir.path().join("b")).expect("copy");
        assert_eq!(size, 11);
        assert_eq!(sha, hex::encode(Sha256::digest(b"hello world")));
        assert_eq!(hash_file(&dir.path().join("b")).expect("hash"), (sha, 11));
        assert!(copy_file(&dir.path().join("a"), &dir.path().join("b")).is_err(), "never overwrites");
    }
}
