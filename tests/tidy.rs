//! House rules checked on the source tree: every Rust file opens with a `//!`
//! doc saying what it owns, and the README documents every config key.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "plugins", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 10);
    let missing: Vec<_> =
        files.iter().filter(|f| !std::fs::read_to_string(f).unwrap_or_default().starts_with("//!")).collect();
    assert!(missing.is_empty(), "these files need a `//!` first line saying what they own: {missing:?}");
}

#[test]
fn readme_documents_every_config_key() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    for key in porch::config::KEYS {
        assert!(readme.contains(&format!("`{}`", key.name)), "README.md does not document `{}`", key.name);
        assert!(readme.contains(&key.env_var()), "README.md does not name {}", key.env_var());
    }
}
