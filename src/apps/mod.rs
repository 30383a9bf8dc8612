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

use std::time::Duration;

use crate::config::Settings;
use crate::media::MediaLimits;
use crate::store::StoreError;

/// How the apps layer is set up (from `porch.toml`).
#[derive(Debug, Clone)]
pub struct AppsConfig {
    pub instances: u32,
    pub pooling: bool,
    pub media: MediaLimits,
    pub media_timeout: Duration,
    pub media_workers: u32,
    /// Free bytes blob writes leave on the disk (`store.min_free`).
    pub min_free: u64,
}

impl AppsConfig {
    pub fn from_settings(s: &Settings) -> AppsConfig {
        AppsConfig {
            instances: s.app_instances,
            pooling: s.app_pooling,
            media: s.media,
            media_timeout: s.media_timeout,
            media_workers: s.media_workers,
            min_free: s.min_free,
        }
    }
}

impl Default for AppsConfig {
    fn default() -> Self {
        AppsConfig {
            instances: 256,
            pooling: true,
            media: MediaLimits::default(),
            media_timeout: Duration::from_secs(30),
            media_workers: 2,
            min_free: 0,
        }
    }
}

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
