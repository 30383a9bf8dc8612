//! Part 5, only when `BENCH_BASELINE` names another porch binary: this build
//! against that one, alternately in the same run, so a change can show it
//! is "no worse than before" without two runs on a drifting machine.
//!
//! Both builds get the same data, config and load: the bare `wasi:http`
//! hello through the whole gate (plain HTTP, signed in, rate limiter on),
//! then the static file over HTTPS (wrk HTTP/1.1, h2load HTTP/2, a new
//! handshake per request). The ratio is this build over the baseline; the
//! target allows 5 % for the noise two processes on two shared cores show
//! between rounds (BENCHMARKS.md gives the spread seen).
//!
//! ```text
//! git worktree add /tmp/old aef98d4
//! (cd /tmp/old && cargo build --release --bin porch)
//! BENCH_ONLY=baseline BENCH_BASELINE=/tmp/old/target/release/porch benches/compare/run
//! ```

use std::path::Path;

use crate::report::{Better, Report, Row};
use crate::support::{Server, UNBINDING_LIMITS};
use crate::{Bench, STATIC_PATH, alternate, cpu, load, p99, rps};

/// This build over the baseline may be this much slower before the row fails.
const NOISE: f64 = 0.95;

pub fn run(bench: &Bench, report: &mut Report, baseline: &Path) {
    let this = Path::new(env!("CARGO_BIN_EXE_porch"));
    let name = format!("baseline porch ({})", version(baseline));
    report.note(format!("A/B baseline: {} = {}", name, baseline.display()));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");

    // The apps path: each build with the bare app installed, warm start.
    let ours = apps_server(this, &runtime);
    let theirs = apps_server(baseline, &runtime);
    let label = format!("A/B apps: bare hello through the gate, HTTP/1.1, {} connections", bench.connections);
    let run = |(server, cookie): &(Server, String)| {
        let url = format!("http://127.0.0.1:{}/", server.port);
        let headers = [format!("Host: bare.localhost:{}", server.port), format!("Cookie: {cookie}")];
        load::with_cpu(server.child.id(), || {
            load::wrk(&bench.tools, &url, bench.connections, bench.seconds, &headers, false)
        })
    };
    for server in [&ours, &theirs] {
        let (s, cookie) = server;
        let headers = [format!("Host: bare.localhost:{}", s.port), format!("Cookie: {cookie}")];
        let body = load::get_body(&format!("http://127.0.0.1:{}/", s.port), &headers);
        assert_eq!(body, "Hello, world!\n", "a porch build did not serve the bare app");
        run(server); // warm-up
    }
    let (a, b) = alternate(bench.rounds, || run(&ours), || run(&theirs));
    push(report, &label, &name, &a, &b);
    drop((ours, theirs));

    // The static file over TLS.
    let config = bench.porch_tls_config();
    let ours = Server::start_binary(this, tempfile::TempDir::new().expect("temp"), &config, "127.0.0.1:0");
    let theirs = Server::start_binary(baseline, tempfile::TempDir::new().expect("temp"), &config, "127.0.0.1:0");
    let url = |port: u16| format!("https://localhost:{port}{STATIC_PATH}");
    // Each build serves the style sheet it was built with.
    for (who, server) in [("this build", &ours), ("the baseline", &theirs)] {
        let body = load::get_body(&url(server.port), &[]);
        assert!(body.starts_with("/* porch"), "{who} did not serve {STATIC_PATH}: {body:.200}");
        report.note(format!("{who} serves {STATIC_PATH} as {} bytes", body.len()));
    }
    type Runner<'a> = Box<dyn Fn(&str) -> load::Sample + 'a>;
    let modes: [(&str, Runner); 3] = [
        (
            "HTTP/1.1 keep-alive (wrk)",
            Box::new(|u: &str| load::wrk(&bench.tools, u, bench.connections, bench.seconds, &[], false)),
        ),
        (
            "HTTP/2 (h2load, 4 streams per connection)",
            Box::new(|u: &str| load::h2load(&bench.tools, u, bench.connections, bench.seconds, &bench.work)),
        ),
        (
            "new TLS handshake per request (wrk, Connection: close)",
            Box::new(|u: &str| load::wrk(&bench.tools, u, bench.connections, bench.seconds, &[], true)),
        ),
    ];
    for (mode, runner) in &modes {
        let on = |server: &Server| load::with_cpu(server.child.id(), || runner(&url(server.port)));
        on(&ours);
        on(&theirs);
        let (a, b) = alternate(bench.rounds, || on(&ours), || on(&theirs));
        let label = format!("A/B TLS static file: {mode}, {} connections", bench.connections);
        push(report, &label, &name, &a, &b);
    }
}

fn push(report: &mut Report, label: &str, name: &str, ours: &[load::Sample], theirs: &[load::Sample]) {
    report.push(Row::ratio(label, "requests/s", Better::Higher, name, rps(ours), rps(theirs), NOISE));
    report.push(Row::ratio(label, "p99 ms", Better::Lower, name, p99(ours), p99(theirs), 1.0 / NOISE));
    report.push(Row::context(label, "CPU µs/request", name, cpu(ours), cpu(theirs)));
}

/// A porch build serving plain HTTP with the bare app installed and granted
/// to a signed-in owner, started a second time so its compiled apps come
/// from the cache; and that owner's cookie for the bare app.
fn apps_server(binary: &Path, runtime: &tokio::runtime::Runtime) -> (Server, String) {
    let first = Server::start_binary(binary, tempfile::TempDir::new().expect("temp"), UNBINDING_LIMITS, "127.0.0.1:0");
    // Builds from before signed packages install the folder; this one (and
    // later ones) the signed package.
    let apps = Path::new(env!("TEST_APPS_DIR"));
    let package = apps.join("bare.porchapp");
    if !first.try_cli(&["app", "install", package.to_str().expect("utf-8 path"), "--yes"]) {
        first.cli(&["app", "install", apps.join("bare").to_str().expect("utf-8 path")]);
    }
    let server = Server::start_binary(binary, first.stop(), UNBINDING_LIMITS, "127.0.0.1:0");
    let client = runtime.block_on(server.join(&["bare"]));
    let cookie = runtime.block_on(server.open_app(&client, "bare"));
    (server, cookie)
}

/// `porch --version` of a binary, or its file name.
fn version(binary: &Path) -> String {
    std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| binary.display().to_string())
}
