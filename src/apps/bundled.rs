//! The apps embedded in the binary, built from `plugins/` for
//! `wasm32-wasip2` by `build.rs` and offered on first start.

/// One embedded app.
pub struct Bundled {
    pub id: &'static str,
    pub manifest: &'static str,
    pub component: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
