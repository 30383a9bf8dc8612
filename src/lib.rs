//! porch: a personal trust-boundary gateway for private family sharing.
//!
//! Requests flow inward through the layers, each calling only the one below:
//! [`edge`] (listeners, client address, shutdown) → [`gate`] (who is calling,
//! porch's own pages, invites, sessions, the door to apps) → [`apps`]
//! (WebAssembly components in wasmtime) → [`store`] (SQLite, blob files). [`config`]
//! reads `porch.toml`; [`server`] puts the layers together for `porch serve`.
//! See ARCHITECTURE.md for the map and the invariants.

pub mod apps;
pub mod backup;
pub mod common;
pub mod config;
pub mod doctor;
pub mod edge;
pub mod gate;
pub mod media;
pub mod metrics;
pub mod server;
pub mod service;
pub mod store;
