//! House rules checked on the source tree: every Rust file opens with a `//!`
//! doc saying what it owns, the README documents every config key, and each
//! layer names only what is below it (every `crate::` path, inline ones too).

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
        // The row's default is the declared one (an empty default shows as a blank cell).
        let row = readme.lines().find(|l| l.starts_with(&format!("| `{}` |", key.name))).expect("a table row");
        let default = row.split('|').nth(2).map(str::trim).unwrap_or_default();
        let shown = if key.default.is_empty() { default == "empty" } else { default == format!("`{}`", key.default) };
        assert!(shown, "README.md gives `{}` the default {default:?}, porch declares {:?}", key.name, key.default);
    }
}

/// The layers, and what each may not name (with the reason the failure
/// message gives). Files outside these (`server.rs`, `main.rs`, `doctor.rs`,
/// `service.rs`, `backup/`, `lib.rs`) wire the layers together and may name
/// any of them.
const LAYER_RULES: &[(&str, &[&str], &str)] = &[
    (
        "common",
        &["edge", "gate", "apps", "store", "media", "backup", "config", "metrics", "server"],
        "common/ is a leaf: it names no other part of porch",
    ),
    ("config", &["edge", "gate", "apps", "store", "media", "backup", "metrics", "server"], "config/ names no layer"),
    ("metrics", &["edge", "gate", "apps", "store", "media", "backup", "config", "server"], "metrics.rs names no layer"),
    ("store", &["edge", "gate", "apps", "media", "backup", "server"], "the store is the bottom layer"),
    (
        "media",
        &["edge", "gate", "apps", "store", "backup", "server"],
        "media works on bytes beside the apps and calls nothing above",
    ),
    ("apps", &["edge", "gate", "backup", "server"], "apps call only the store and media"),
    ("gate", &["edge", "backup", "server"], "the gate does not know the edge; server.rs wires them"),
    ("edge", &["gate", "apps", "backup", "server"], "the edge serves what server.rs hands it and never calls the gate"),
];

/// The layer a file under `src/` belongs to, if any.
fn layer_of(rel: &Path) -> Option<&'static str> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    LAYER_RULES.iter().map(|(layer, _, _)| *layer).find(|layer| *layer == name)
}

/// Every top-level module a file names through `crate::`, with its line:
/// `crate::edge::x`, `crate::{edge, gate::y}` and inline paths alike.
/// Comments are skipped.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: split on commas outside braces.
            let (mut depth, mut start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.push((line_of(at), ident(group[start..i].trim())));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push((line_of(at), ident(group[start..i].trim())));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push((line_of(at), ident(rest)));
        }
    }
    found.retain(|(_, module)| !module.is_empty());
    found
}

#[test]
fn the_layers_name_only_what_is_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let Some(layer) = layer_of(rel) else { continue };
        let (_, forbidden, why) = LAYER_RULES.iter().find(|(l, _, _)| *l == layer).expect("a rule");
        let text = std::fs::read_to_string(file).expect("read");
        for (line, module) in crate_paths(&text) {
            if forbidden.contains(&module.as_str()) {
                broken.push(format!("src/{}:{line}: {layer} names {module}: {why}", rel.display()));
            }
        }
    }
    assert!(broken.is_empty(), "layering broken (ARCHITECTURE.md, \"Bird's-eye view\"):\n{}", broken.join("\n"));
}

#[test]
fn the_layering_check_sees_every_way_of_naming_a_module() {
    let text = "use crate::store::Store;\nuse crate::{\n    edge::x,\n    gate::{a, b},\n};\n\
                fn f() { crate::media::probe(); } // crate::apps::ignored\nlet s = porcrate::x;";
    let found: Vec<(usize, String)> = crate_paths(text);
    let modules: Vec<&str> = found.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(modules, ["store", "edge", "gate", "media"]);
    assert_eq!(found[3].0, 6, "the line of an inline path");
}
