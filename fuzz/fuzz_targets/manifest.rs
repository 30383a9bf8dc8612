//! `app.toml` parsing: any text is either a checked manifest or a clear
//! error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(manifest) = porch::apps::Manifest::parse(text) {
        assert!(porch::apps::manifest::valid_app_id(&manifest.id));
        assert!(!manifest.roles.is_empty());
        for interface in ["types", "kv", "blobs", "media", "people", "other"] {
            let _ = manifest.allows_interface(interface);
        }
    }
});
