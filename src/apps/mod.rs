//! The apps layer: sharing apps as WebAssembly components run by wasmtime.
//! Each request gets a fresh instance with no network, no filesystem and only
//! the porch capabilities its manifest declared; see `runtime` (engine,
//! linker, cache), `host` (what an instance can reach), `run` (one request),
//! `registry` (install, remove, bundled apps) and `manifest` (`app.toml`).

mod bindings;
mod bundled;
mod host;
pub mod manifest;
mod registry;
mod run;
mod runtime;

pub use host::MediaWork;
pub use manifest::Manifest;
pub use registry::{Apps, FileRemoval};
pub use run::{Failure, LoadedApp, harden};
pub use runtime::{Allocator, pooling_as_cli_options};

use crate::store::StoreError;

/// What can go wrong installing or loading an app.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    #[error("the app's manifest (app.toml) is not valid: {0}")]
    Manifest(String),
    #[error("the app's component was refused: {0}")]
    Component(String),
    #[error("the WebAssembly engine could not start: {0}")]
    Engine(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal state was poisoned by an earlier crash; restart porch")]
    Poisoned,
    /// An install would take over an app id that is in use (review finding
    /// M8): the message names both apps and the explicit step.
    #[error("{0}")]
    IdInUse(String),
}
