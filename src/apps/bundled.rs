//! The apps embedded in the binary, built from `plugins/` for
//! `wasm32-wasip2` and packed and signed by `build.rs` with porch's build
//! key, and offered on first start.

use super::package::Publisher;

/// One embedded app: its id and its signed `.porchapp` package.
pub struct Bundled {
    pub id: &'static str,
    pub package: &'static [u8],
}

/// The public key of the build key that signed the bundled apps.
pub fn build_publisher() -> Option<Publisher> {
    Publisher::from_hex(env!("BUNDLED_APPS_PUBLISHER"))
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
