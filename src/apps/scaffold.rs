//! `porch app new ID`: a folder an author builds, packs and installs as it
//! is. It holds the starter app (`plugins/starter`, a small notice board)
//! under the new id, the SDK (`porch-app/`) and porch's WIT (`wit/`) beside
//! it, the Cargo.lock porch's own apps build with, a cargo config that
//! builds for `wasm32-wasip2`, and a README with the next steps. Everything
//! comes from this binary, so an author needs porch and Rust, nothing else.

use std::path::{Path, PathBuf};

use rust_embed::RustEmbed;

use super::AppError;
use crate::common::names::valid_app_id;

#[derive(RustEmbed)]
#[folder = "plugins/starter/"]
struct Starter;

#[derive(RustEmbed)]
#[folder = "plugins/sdk/src/"]
struct SdkSource;

#[derive(RustEmbed)]
#[folder = "plugins/wit/"]
struct Wit;

const SDK_MANIFEST: &str = include_str!("../../plugins/sdk/Cargo.toml");
const WORKSPACE: &str = include_str!("../../plugins/Cargo.toml");
const LOCK: &str = include_str!("../../plugins/Cargo.lock");

/// Makes the app `id` in `parent/id`; returns the folder.
pub fn new_app(parent: &Path, id: &str) -> Result<PathBuf, AppError> {
    if !valid_app_id(id) {
        return Err(AppError::Manifest(format!(
            "{id:?} cannot be an app id: use 1 to 32 lower-case letters, digits or inner hyphens (it becomes <id>.<domain>)"
        )));
    }
    let dir = parent.join(id);
    if dir.exists() {
        return Err(AppError::Io(format!("{} exists already; pick another id or folder", dir.display())));
    }
    let name = display_name(id);
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    // Its Cargo.toml inherits from porch's workspace; the app gets its own.
    for path in Starter::iter().filter(|p| p.as_ref() != "Cargo.toml") {
        let Some(file) = Starter::get(&path) else { continue };
        let text = String::from_utf8_lossy(&file.data).replace("starter", id).replace("Starter", &name);
        files.push((PathBuf::from(path.as_ref()), text.into_bytes()));
    }
    for path in SdkSource::iter() {
        if let Some(file) = SdkSource::get(&path) {
            files.push((Path::new("porch-app/src").join(path.as_ref()), file.data.into_owned()));
        }
    }
    for path in Wit::iter() {
        if let Some(file) = Wit::get(&path) {
            files.push((Path::new("wit").join(path.as_ref()), file.data.into_owned()));
        }
    }
    files.push(("Cargo.toml".into(), app_manifest(id)?.into_bytes()));
    files.push(("porch-app/Cargo.toml".into(), sdk_manifest()?.into_bytes()));
    files.push(("Cargo.lock".into(), LOCK.as_bytes().to_vec()));
    files.push((".cargo/config.toml".into(), b"[build]\ntarget = \"wasm32-wasip2\"\n".to_vec()));
    files.push((".gitignore".into(), b"/target\n*.porchapp\n*.key\n".to_vec()));
    files.push(("README.md".into(), readme(id, &name).into_bytes()));
    for (path, bytes) in files {
        let to = dir.join(&path);
        if let Some(folder) = to.parent() {
            std::fs::create_dir_all(folder).map_err(|e| AppError::Io(format!("{}: {e}", folder.display())))?;
        }
        std::fs::write(&to, bytes).map_err(|e| AppError::Io(format!("{}: {e}", to.display())))?;
    }
    Ok(dir)
}

/// `family-recipes` → `Family recipes`.
fn display_name(id: &str) -> String {
    let words = id.replace('-', " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The versions porch's own apps use, from `plugins/Cargo.toml`.
fn workspace_dependencies() -> Result<toml::Table, AppError> {
    let workspace: toml::Table = toml::from_str(WORKSPACE).map_err(|e| AppError::Io(e.to_string()))?;
    Ok(workspace
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(|d| d.as_table())
        .cloned()
        .unwrap_or_default())
}

/// The SDK's manifest with the workspace's versions written in, so it
/// builds on its own.
fn sdk_manifest() -> Result<String, AppError> {
    let versions = workspace_dependencies()?;
    let mut manifest: toml::Table = toml::from_str(SDK_MANIFEST).map_err(|e| AppError::Io(e.to_string()))?;
    if let Some(package) = manifest.get_mut("package").and_then(|p| p.as_table_mut()) {
        package.insert("edition".into(), "2024".into());
        package.insert("version".into(), "0.1.0".into());
        package.insert("license".into(), "AGPL-3.0-or-later".into());
        package.insert("publish".into(), false.into());
    }
    if let Some(deps) = manifest.get_mut("dependencies").and_then(|d| d.as_table_mut()) {
        for (name, spec) in deps.iter_mut() {
            let inherited = spec.get("workspace").and_then(|w| w.as_bool()) == Some(true);
            if inherited && let Some(version) = versions.get(name) {
                *spec = version.clone();
            }
        }
    }
    toml::to_string(&manifest).map_err(|e| AppError::Io(e.to_string()))
}

fn app_manifest(id: &str) -> Result<String, AppError> {
    let versions = workspace_dependencies()?;
    let wstd = versions.get("wstd").and_then(|v| v.as_str()).unwrap_or("0.6");
    Ok(format!(
        r#"[package]
name = "{id}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
porch-app = {{ path = "porch-app" }}
wstd = "{wstd}"
serde = {{ version = "1", features = ["derive"] }}

# A workspace of its own.
[workspace]

# Small components: porch compiles them once and caches the result.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
debug = false
"#
    ))
}

fn readme(id: &str, name: &str) -> String {
    format!(
        r#"# {name}

A porch app, started by `porch app new {id}`: a small notice board. Everyone given the app reads the notes;
writers add them.

- `app.toml`: what porch installs: the id, version, roles, the capabilities the app uses and its limits.
- `src/main.rs`: the roles, the routes and what each does. `templates/`: the pages (minijinja; every value is
  escaped). `porch-app/`: the SDK (its documentation: `cargo doc --open -p porch-app`). `wit/`: porch's interfaces.

## Build, pack, install

```sh
rustup target add wasm32-wasip2          # once
cargo build --release                    # builds target/wasm32-wasip2/release/{id}.wasm
porch app keygen --out ~/{id}.key        # once; keep it secret, every update must be signed with it
porch app pack . --key ~/{id}.key        # writes {id}-0.1.0.porchapp
porch app install {id}-0.1.0.porchapp    # on the porch, then give people access on Admin -> Apps
```

To ship a change, raise `version` in `app.toml`, build, pack with the same key and install: porch keeps the version
before, and `porch app rollback {id}` goes back to it.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_app_holds_everything_it_builds_from() {
        let dir = std::env::temp_dir().join(format!("porch-scaffold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let made = new_app(&dir, "family-recipes").expect("made");
        for file in
            ["app.toml", "src/main.rs", "templates/index.html", "porch-app/src/lib.rs", "wit/porch.wit", "Cargo.lock"]
        {
            assert!(made.join(file).is_file(), "{file}");
        }
        let manifest = std::fs::read_to_string(made.join("app.toml")).expect("app.toml");
        assert!(manifest.contains("id = \"family-recipes\"") && manifest.contains("family-recipes.wasm"), "{manifest}");
        let sdk = std::fs::read_to_string(made.join("porch-app/Cargo.toml")).expect("sdk");
        assert!(!sdk.contains("workspace"), "{sdk}");
        assert!(new_app(&dir, "family-recipes").is_err(), "never over an existing folder");
        assert!(new_app(&dir, "Bad Name").is_err());
        assert_eq!(display_name("family-recipes"), "Family recipes");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
