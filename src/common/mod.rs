//! Small facts every layer shares and none owns: the client address with
//! its source group and network (`net`), the clock (`clock`), the rules for
//! names and host names (`names`), free disk space (`disk`), the protective headers (`headers`), every fixed limit (`limits`), the status
//! reports of certificates and backups (`status`), and rustls's provider (`crypto`).
//!
//! Nothing here imports any other part of porch, so any layer may use it
//! without climbing the layering (`tests/tidy.rs` holds that).

pub mod clock;
pub mod crypto;
pub mod disk;
pub mod headers;
pub mod limits;
pub mod names;
pub mod net;
pub mod status;
