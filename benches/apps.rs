//! Benchmark of the sandbox (`cargo bench --bench apps`), two numbers:
//!
//! 1. Per-request cost of an app in-process: a fresh instance of `hello`
//!    from its pre-instantiated component, run to its full response, with
//!    no HTTP and no gate (`LoadedApp::serve`, N times, one at a time).
//! 2. `hello` through the whole gate over HTTP/1.1 keep-alive: the release
//!    binary serving, C connections (default 64) sending GETs with an app
//!    session cookie for D seconds (default 10), so every request does the
//!    session lookup, the grant check, a fresh instance and a kv write.
//!
//! Knobs: BENCH_REQUESTS (default 2000), BENCH_CONNECTIONS, BENCH_SECONDS.
//! The load generator shares the machine with porch; say so when quoting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;

mod support;
use support::{Server, env_num, percentile};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(in_process());
    runtime.block_on(through_the_gate());
}

async fn in_process() {
    let dir = tempfile::TempDir::new().expect("temp");
    let store = porch::store::Store::open(dir.path()).await.expect("store");
    let apps = porch::apps::Apps::open(store.clone(), dir.path(), &porch::apps::AppsConfig::default()).expect("apps");
    apps.install_bundled().await.expect("bundled");
    let hello = apps.resolve("hello").await.expect("resolve").expect("hello installed");
    let n = env_num("BENCH_REQUESTS", 2000);
    let mut times = Vec::with_capacity(n as usize);
    for i in 0..n + 50 {
        let request = Request::builder()
            .uri("http://hello.localhost/")
            .header("host", "hello.localhost")
            .header("porch-user-id", "1")
            .header("porch-user-name", "Bench")
            .header("porch-app-role", "visitor")
            .body(Body::empty())
            .expect("request");
        let start = Instant::now();
        let response = hello.serve(request, false).await.expect("served");
        let body = response.into_body().collect().await.expect("body").to_bytes();
        let took = start.elapsed();
        assert!(body.starts_with(b"<!doctype html>"));
        if i >= 50 {
            times.push(took);
        }
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "in-process hello (fresh instance + kv read/write per request, {:?} allocator): n={} mean={:?} p50={:?} p99={:?}",
        apps.allocator(),
        times.len(),
        mean,
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
    store.close().await;
}

async fn through_the_gate() {
    let server = Server::start();
    let app_addr = server.addr();
    let (_, cookie) = server.enter("hello").await;
    let app_url = format!("{}/", server.app_url("hello"));

    let connections = env_num("BENCH_CONNECTIONS", 64);
    let seconds = env_num("BENCH_SECONDS", 10);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let cookie = Arc::new(cookie);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (cookie, url) = (cookie.clone(), app_url.clone());
        tasks.push(tokio::spawn(async move {
            // One keep-alive connection per task.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let c = reqwest::Client::builder()
                .http1_only()
                .pool_max_idle_per_host(1)
                .resolve("hello.localhost", app_addr)
                .build()
                .expect("client");
            let mut times = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let start = Instant::now();
                match c.get(&url).header("cookie", cookie.as_str()).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        times.push(start.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (times, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (times, e) = t.await.expect("task");
        all.extend(times);
        errors += e;
    }
    all.sort();
    println!(
        "hello through the gate (HTTP/1.1 keep-alive, {connections} connections, {seconds}s): {:.0} req/s, p50={:?} p99={:?}, {} ok, {errors} errors",
        all.len() as f64 / seconds as f64,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.len()
    );
}
