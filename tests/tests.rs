//! porch's integration tests: one test binary whose modules start the real
//! `porch` binary on ephemeral ports with temporary data folders.

mod activity;
mod apps;
mod browser;
mod cli;
mod config;
mod durability;
mod files;
mod identity;
mod limits;
mod media;
mod outbound;
mod packages;
mod pairing;
mod passkeys;
mod phone_media;
mod photos;
mod recovery;
mod schedule;
mod security;
mod tidy;
mod tls;
mod uploads;
mod util;
