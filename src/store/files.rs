//! Small files in the data folder that are not blobs (TLS keys, ACME
//! account, certificates): written whole or not at all. A write goes to a
//! temporary file in the same folder, is fsynced, renamed over the target,
//! and the folder is fsynced, so a power cut leaves the old file or the new.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically. `private` files (keys) are created
/// readable by porch's user only.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(if private { 0o600 } else { 0o644 });
    let written = (|| {
        let mut file = options.open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_keeps_keys_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("tls/key.pem");
        write_atomic(&path, b"one", true).expect("first");
        write_atomic(&path, b"two", true).expect("second");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers = std::fs::read_dir(dir.path().join("tls")).expect("dir").count();
        assert_eq!(leftovers, 1, "no temporary files remain");
    }
}
