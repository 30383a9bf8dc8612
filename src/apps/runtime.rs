//! The wasmtime engine and linker shared by every app: the pooling
//! allocator when its address-space reservation succeeds (on-demand
//! allocation otherwise, said in the log), epoch interruption driven by a
//! ticker thread, and the compiled-code cache on disk, keyed by the
//! component's hash and the engine's configuration.
//!
//! The linker holds exactly what apps may import: the `wasi:http/proxy`
//! interfaces (outgoing requests always refused), the harmless parts of
//! `wasi:cli` that Rust's standard library pulls in (empty environment,
//! exit, terminals), insecure random seeds, and porch's own interfaces. No
//! filesystem and no sockets, so a component importing them cannot start.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::AppError;
use super::bindings::Imports;
use super::host::AppState;
use super::manifest::Manifest;
use crate::common::limits::MAX_APP_MEMORY;

/// How often the epoch advances: the granularity of deadlines and of the
/// cooperative yields that keep one busy app from starving the others.
pub const TICK: Duration = Duration::from_millis(10);

/// Bytes of each pooled memory and stack reset in place rather than with
/// madvise when an instance ends.
const KEEP_RESIDENT: usize = 128 * 1024;
/// The same for each pooled table.
const TABLE_KEEP_RESIDENT: usize = KEEP_RESIDENT / 4;

/// `wasmtime serve -O` options that give the wasmtime CLI the pooling
/// settings above, for the benchmark that compares like with like.
pub fn pooling_as_cli_options() -> String {
    format!(
        "pooling-allocator=y,pooling-memory-keep-resident={KEEP_RESIDENT},\
         pooling-table-keep-resident={TABLE_KEEP_RESIDENT},\
         pooling-async-stack-keep-resident={KEEP_RESIDENT},pooling-pagemap-scan=auto"
    )
}

/// Which instance allocator the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    Pooling,
    OnDemand,
}

pub struct Runtime {
    pub engine: Engine,
    linker: Linker<AppState>,
    pub allocator: Allocator,
    cache: Cache,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn config(cache: &Cache, pooling_instances: Option<u32>) -> Config {
    let mut c = Config::new();
    c.epoch_interruption(true);
    c.wasm_component_model(true);
    c.cache(Some(cache.clone()));
    if let Some(n) = pooling_instances {
        let mut p = PoolingAllocationConfig::default();
        // A Rust component holds a few core instances (program, adapter,
        // shims) with two memories; leave room for more.
        p.total_component_instances(n);
        p.total_core_instances(n.saturating_mul(8));
        p.total_memories(n.saturating_mul(4));
        p.total_tables(n.saturating_mul(8));
        p.total_stacks(n);
        p.max_memory_size(MAX_APP_MEMORY);
        // Resetting a slot with madvise makes the kernel flush TLBs on every
        // core (inter-processor interrupts), and the next request's first
        // write to each page faults and flushes again. Instead, up to
        // KEEP_RESIDENT bytes a request dirtied are put back with memset or
        // a copy from the memory image and stay resident, bounded by the
        // slots in use. PAGEMAP_SCAN (Linux 6.7+; `Auto` falls back to the
        // lowest addresses elsewhere) finds exactly which pages were dirtied
        // wherever they lie: a Rust guest's stack sits near 1 MiB, not at
        // the bottom. The scan took the bare app from 215 to 140 µs of CPU
        // per request (BENCHMARKS.md); the regression test
        // `a_recycled_instance_sees_nothing_the_previous_request_left`
        // guards the reset.
        p.linear_memory_keep_resident(KEEP_RESIDENT);
        p.table_keep_resident(TABLE_KEEP_RESIDENT);
        p.async_stack_keep_resident(KEEP_RESIDENT);
        p.pagemap_scan(wasmtime::Enabled::Auto);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    c
}

impl Runtime {
    /// `instances` bounds concurrent instances with the pooling allocator.
    pub fn new(cache_dir: &Path, instances: u32, want_pooling: bool) -> Result<Runtime, AppError> {
        std::fs::create_dir_all(cache_dir).map_err(|e| AppError::Engine(format!("cache folder: {e}")))?;
        let mut cache_config = CacheConfig::new();
        cache_config.with_directory(cache_dir);
        let cache = Cache::new(cache_config).map_err(|e| AppError::Engine(format!("compiled-code cache: {e}")))?;
        let pooled = if want_pooling {
            Engine::new(&config(&cache, Some(instances)))
        } else {
            Err(wasmtime::format_err!("pooling turned off in porch.toml"))
        };
        let (engine, allocator) = match pooled {
            Ok(engine) => {
                tracing::info!(instances, "apps use the pooling instance allocator");
                (engine, Allocator::Pooling)
            }
            Err(e) => {
                tracing::warn!(reason = %e, "pooling allocator unavailable (address space could not be reserved); apps use on-demand allocation");
                let engine = Engine::new(&config(&cache, None)).map_err(|e| AppError::Engine(e.to_string()))?;
                (engine, Allocator::OnDemand)
            }
        };
        let linker = linker(&engine).map_err(|e| AppError::Engine(e.to_string()))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (stop, ticking) = (ticker_stop.clone(), engine.clone());
        std::thread::Builder::new()
            .name("porch-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| AppError::Engine(format!("epoch thread: {e}")))?;
        Ok(Runtime { engine, linker, allocator, cache, ticker_stop })
    }

    /// Compiled-code cache hits and misses since start.
    pub fn cache_stats(&self) -> (usize, usize) {
        (self.cache.cache_hits(), self.cache.cache_misses())
    }

    /// Compiles (or loads from the cache) a component, checks that it imports
    /// only what porch provides and its manifest declares, and prepares it
    /// for fast per-request instantiation.
    pub fn prepare(&self, manifest: &Manifest, bytes: &[u8]) -> Result<ProxyPre<AppState>, AppError> {
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| AppError::Component(format!("it is not a valid WebAssembly component: {e}")))?;
        let ty = component.component_type();
        for (name, _) in ty.imports(&self.engine) {
            check_import(manifest, name)?;
        }
        let pre = self.linker.instantiate_pre(&component).map_err(|e| AppError::Component(e.to_string()))?;
        ProxyPre::new(pre).map_err(|e| {
            AppError::Component(format!(
                "it is not a wasi:http/proxy component (it must export wasi:http/incoming-handler): {e}"
            ))
        })
    }
}

/// Refuses imports porch does not provide, and porch capabilities the
/// manifest did not declare, naming them.
fn check_import(manifest: &Manifest, name: &str) -> Result<(), AppError> {
    let (package, rest) = name.split_once('/').unwrap_or((name, ""));
    let interface = rest.split('@').next().unwrap_or(rest);
    let provided = match package {
        "porch:app" => {
            if manifest.allows_interface(interface) {
                return Ok(());
            }
            return Err(AppError::Component(format!(
                "it imports {name}, but app.toml does not declare the `{interface}` capability; add it under [capabilities]"
            )));
        }
        "wasi:http" => matches!(interface, "types" | "outgoing-handler"),
        "wasi:io" => matches!(interface, "poll" | "error" | "streams"),
        "wasi:clocks" => matches!(interface, "monotonic-clock" | "wall-clock"),
        "wasi:random" => matches!(interface, "random" | "insecure" | "insecure-seed"),
        "wasi:cli" => matches!(
            interface,
            "stdin"
                | "stdout"
                | "stderr"
                | "environment"
                | "exit"
                | "terminal-input"
                | "terminal-output"
                | "terminal-stdin"
                | "terminal-stdout"
                | "terminal-stderr"
        ),
        _ => false,
    };
    if provided {
        Ok(())
    } else {
        Err(AppError::Component(format!(
            "it imports {name}, which porch does not provide: apps get no filesystem, no network and no environment"
        )))
    }
}

fn linker(engine: &Engine) -> wasmtime::Result<Linker<AppState>> {
    use wasmtime_wasi::p2::bindings::{cli, random};
    let mut l = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_proxy_interfaces_async(&mut l)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut l)?;
    cli::environment::add_to_linker::<AppState, WasiCli>(&mut l, AppState::cli)?;
    cli::exit::add_to_linker::<AppState, WasiCli>(&mut l, AppState::cli)?;
    cli::terminal_input::add_to_linker::<AppState, WasiCli>(&mut l, AppState::cli)?;
    cli::terminal_output::add_to_linker::<AppState, WasiCli>(&mut l, AppState::cli)?;
    cli::terminal_stdin::add_to_linker::<AppState, WasiCli>(&mut l, AppState::cli)?;
    cli::terminal_stdout::add_to_linker::<AppState, WasiCli>(&mut l, AppState::cli)?;
    cli::terminal_stderr::add_to_linker::<AppState, WasiCli>(&mut l, AppState::cli)?;
    random::insecure::add_to_linker::<AppState, WasiRandom>(&mut l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<AppState, WasiRandom>(&mut l, |t| t.ctx().ctx.random())?;
    Imports::add_to_linker::<AppState, HasSelf<AppState>>(&mut l, |s| s)?;
    Ok(l)
}
