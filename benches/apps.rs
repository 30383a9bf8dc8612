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

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

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
    let dir = tempfile::TempDir::new().expect("temp");
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_porch"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .current_dir(dir.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("porch");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let (mut setup, mut base) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(l) = line.strip_prefix("Owner setup link: ") {
            setup = l.to_owned();
        }
        if let Some(rest) = line.strip_prefix("porch is serving ") {
            base = rest.split_whitespace().next().expect("url").to_owned();
            break;
        }
    }
    let port: u16 = base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let app_addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    // Sign up as the owner, grant hello, walk the handshake for a cookie.
    let client =
        reqwest::Client::builder().cookie_store(true).resolve("hello.localhost", app_addr).build().expect("client");
    let pw = "benchmark password";
    client.post(&setup).form(&[("name", "Bench"), ("password", pw), ("confirm", pw)]).send().await.expect("join");
    let granted = Command::new(env!("CARGO_BIN_EXE_porch"))
        .args(["app", "grant", "Bench", "hello:visitor", "--data"])
        .arg(&data)
        .status()
        .expect("grant");
    assert!(granted.success());
    let app_url = format!("http://hello.localhost:{port}/");
    let page = client.get(&app_url).send().await.expect("handshake").text().await.expect("text");
    assert!(page.contains("Hello, Bench"), "{page}");
    // The same handshake without following redirects, to read the app
    // cookie the load generator will send.
    let manual = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .resolve("hello.localhost", app_addr)
        .build()
        .expect("client");
    manual.post(format!("{base}/signin")).form(&[("name", "Bench"), ("password", pw)]).send().await.expect("signin");
    let enter = manual.get(format!("{base}/.porch/enter?app=hello&next=/")).send().await.expect("enter");
    let ticket = enter.headers().get("location").and_then(|v| v.to_str().ok()).expect("ticket").to_owned();
    let ticketed = manual.get(&ticket).send().await.expect("ticket");
    let set_cookie = ticketed.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie");
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();

    let connections = env_num("BENCH_CONNECTIONS", 64);
    let seconds = env_num("BENCH_SECONDS", 10);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let cookie = Arc::new(cookie);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (cookie, url) = (cookie.clone(), app_url.clone());
        tasks.push(tokio::spawn(async move {
            // One keep-alive connection per task.
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
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}
