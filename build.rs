//! Builds the apps in `plugins/` for `wasm32-wasip2`, packs each as a
//! signed `.porchapp` with porch's build key, and embeds the bundled ones in
//! the binary. Every app is also laid out as a folder (`app.toml` +
//! component); both reach the tests and benches through the
//! `TEST_APPS_DIR` environment variable.
//!
//! The build key is the key file `PORCH_BUILD_KEY` names (a release build's
//! own), else one made once for this checkout at `target/porch-build.key`.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code)]
#[path = "src/apps/package/format.rs"]
mod format;

/// Apps embedded in the binary and installed on first start.
const BUNDLED: &[&str] = &["hello", "photos", "files"];
/// Every app in the plugins workspace: (crate name, folder).
const APPS: &[(&str, &str)] = &[
    ("hello", "hello"),
    ("photos", "photos"),
    ("files", "files"),
    ("starter", "starter"),
    ("echo", "test-apps/echo"),
    ("hostile", "test-apps/hostile"),
    ("snoop", "test-apps/snoop"),
    ("bare", "test-apps/bare"),
];

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let plugins = root.join("plugins");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    watch(&plugins);

    // Components already built for this source (by a normal build) can be
    // reused: the fuzz targets build porch with a nightly toolchain that has
    // no wasm32-wasip2 target.
    println!("cargo:rerun-if-env-changed=PORCH_PREBUILT_APPS");
    let built = match env::var_os("PORCH_PREBUILT_APPS") {
        Some(dir) => PathBuf::from(dir),
        None => build_plugins(&plugins, &out),
    };
    let key = build_key(&out);
    println!("cargo:rustc-env=BUNDLED_APPS_PUBLISHER={}", hex::encode(key.verifying_key().as_bytes()));
    let apps_out = out.join("apps");
    let mut bundled = String::from("pub const BUNDLED: &[Bundled] = &[\n");
    for (name, folder) in APPS {
        let dest = apps_out.join(name);
        std::fs::create_dir_all(&dest).expect("app folder");
        let wasm = dest.join(format!("{name}.wasm"));
        std::fs::copy(built.join(format!("{name}.wasm")), &wasm).expect("copy component");
        let manifest = plugins.join(folder).join("app.toml");
        std::fs::copy(&manifest, dest.join("app.toml")).expect("copy manifest");
        let files = vec![
            ("app.toml".to_owned(), std::fs::read(&manifest).expect("read manifest")),
            (format!("{name}.wasm"), std::fs::read(&wasm).expect("read component")),
        ];
        let package = apps_out.join(format!("{name}.porchapp"));
        std::fs::write(&package, format::write(&key, &files).expect("pack")).expect("write package");
        if BUNDLED.contains(name) {
            writeln!(
                bundled,
                "    Bundled {{ id: {name:?}, package: include_bytes!({:?}) }},",
                package.display().to_string()
            )
            .expect("write");
        }
    }
    bundled.push_str("];\n");
    std::fs::write(out.join("bundled.rs"), bundled).expect("bundled.rs");
    println!("cargo:rustc-env=TEST_APPS_DIR={}", apps_out.display());
}

/// The key the apps are signed with: `PORCH_BUILD_KEY`'s file, else this
/// checkout's own, made on first use beside the build's target folder.
fn build_key(out: &Path) -> ed25519_dalek::SigningKey {
    println!("cargo:rerun-if-env-changed=PORCH_BUILD_KEY");
    let path = match env::var_os("PORCH_BUILD_KEY") {
        Some(path) => PathBuf::from(path),
        None => {
            let target = out.ancestors().nth(4).unwrap_or(out);
            let path = target.join("porch-build.key");
            if !path.exists() {
                let mut seed = [0u8; 32];
                use std::io::Read as _;
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut f| f.read_exact(&mut seed))
                    .expect("read /dev/urandom for a build key");
                use std::io::Write as _;
                use std::os::unix::fs::OpenOptionsExt as _;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .and_then(|mut f| f.write_all(format::key_file(&seed).as_bytes()))
                    .expect("write the build key");
            }
            path
        }
    };
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read the build key {}: {e}", path.display()));
    format::parse_key_file(&text)
        .unwrap_or_else(|| panic!("{} is not a porch publisher key (make one with `porch app keygen`)", path.display()))
}

/// Re-run when anything the apps are built from changes.
fn watch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// Makes sure the toolchain can build for wasm32-wasip2 before anything is
/// built for it: adds the target through rustup when it is missing, or
/// stops at once with the one command to run (a new owner's first
/// `cargo run --release` used to fail only after minutes of building).
fn ensure_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output();
    let Ok(sysroot) = sysroot else { return };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    let installed = || sysroot.join("lib/rustlib/wasm32-wasip2/lib").is_dir();
    if installed() {
        return;
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", "wasm32-wasip2"]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        add.args(["--toolchain", &toolchain]);
    }
    println!("cargo:warning=the wasm32-wasip2 target is missing; adding it with `rustup target add wasm32-wasip2`");
    let added = add.status().is_ok_and(|s| s.success());
    if !added || !installed() {
        panic!(
            "porch's apps are built for wasm32-wasip2, which this Rust toolchain lacks, and adding it did not work. \
             Run `rustup target add wasm32-wasip2`, then build again."
        );
    }
}

/// Builds the plugins workspace for wasm32-wasip2; returns where the
/// components are.
fn build_plugins(plugins: &Path, out: &Path) -> PathBuf {
    ensure_wasm_target();
    // One wasm target folder beside the host's, shared by every profile.
    let target_dir = out.ancestors().nth(4).map_or_else(|| out.join("wasm"), |t| t.join("wasm-plugins"));
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    if env::var_os("PORCH_PLUGINS_UNLOCKED").is_none() {
        cmd.arg("--locked");
    }
    // The outer build's flags and wrappers (clippy, coverage) are for the
    // host, not for the apps.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo to build the apps in plugins/");
    if !status.success() {
        panic!(
            "building the apps in plugins/ for wasm32-wasip2 failed (see above). \
             If the target is missing, run `rustup target add wasm32-wasip2`."
        );
    }

    // Where the tests build a `porch app new` app, reusing what is built.
    println!("cargo:rustc-env=PLUGINS_TARGET_DIR={}", target_dir.display());
    target_dir.join("wasm32-wasip2").join("release")
}
