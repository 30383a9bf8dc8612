//! The apps layer: sharing apps as WebAssembly components run by wasmtime.
//! Each request gets a fresh instance with no sockets, no filesystem and only
//! the porch capabilities its manifest declared; see `runtime` (engine,
//! linker, cache), `host` (what an instance can reach), `outbound` (the
//! HTTP requests an app may send), `run` (one request),
//! `registry` (install, update, roll back, replace, remove, bundled apps),
//! `package` (signed `.porchapp` files and publisher keys), `catalogue`
//! (signed indexes of apps to install and update from), `staging`
//! (uploads waiting for the owner's confirmation), `scaffold` (`porch app
//! new`), `schedule` (triggers delivered on their schedule) and `manifest`
//! (`app.toml`).

pub mod activity;
mod bindings;
mod bundled;
pub mod catalogue;
mod claims;
mod host;
pub mod invites;
pub mod manifest;
mod media_jobs;
mod outbound;
pub mod package;
mod registry;
mod run;
mod runtime;
pub mod scaffold;
pub mod schedule;
mod staging;

pub use bundled::build_publisher;
pub use host::MediaWork;
pub use manifest::Manifest;
pub use package::{Package, Publisher};
pub use registry::{Apps, FileRemoval, Plan, ReplaceData};
pub use run::{Failure, LoadedApp, harden};
pub use runtime::{Allocator, pooling_as_cli_options};
pub use staging::Staging;

use crate::store::StoreError;

/// What can go wrong installing or loading an app.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    #[error("the app's manifest (app.toml) is not valid: {0}")]
    Manifest(String),
    /// A package that is not one, was changed after signing, or holds
    /// something porch does not take.
    #[error("the app package was refused: {0}")]
    Package(String),
    /// A catalogue that could not be read or whose package is not what it
    /// lists.
    #[error("{0}")]
    Catalogue(String),
    /// An install that would hand an app id to another publisher, or go
    /// back in version: the message names both and the explicit step.
    #[error("{0}")]
    Identity(String),
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
