//! porch side by side with the tools a self-hoster would otherwise pick
//! (`benches/compare/run`, or `cargo bench --bench compare` once the anchors
//! are installed). Every pair runs in the same process tree on the same box,
//! alternately, several rounds; the report gives medians and porch/anchor
//! ratios against the targets of issue 7:
//!
//! 1. apps: the plain `wasi:http` hello (`plugins/test-apps/bare`) under
//!    `wasmtime serve -O pooling-allocator` vs through porch's whole gate
//!    (session cookie, rate limiter on); wrk, HTTP/1.1 keep-alive. Then,
//!    as context, against `wasmtime serve` given porch's pooling settings.
//! 2. TLS: `static/style.css` over HTTPS from porch, Caddy's `file_server`
//!    and nginx, one self-signed certificate for all: wrk (HTTP/1.1),
//!    h2load (HTTP/2) and new handshakes per second (wrk, `Connection: close`).
//! 3. thumbnails: the 9-megapixel phone photo to 400 and 2048 px, porch's
//!    media layer vs `vipsthumbnail`, one photo at a time and both cores busy.
//! 4. footprint: porch's idle and loaded RSS and its start-up to the first
//!    HTTPS response (warm compiled-app cache), next to Caddy's.
//! 6. phone: a 12 MP HEIC to both thumbnail sizes against `vipsthumbnail`
//!    (both through libheif), and a one-minute 1080p video's length and
//!    poster against `ffmpeg` alone (`phone.rs`).
//! 5. baseline (only with `BENCH_BASELINE=/path/to/porch`): this build
//!    against another porch build on parts 1 and 2, alternately, for a
//!    same-run A/B (`baseline.rs`).
//!
//! Beside each load row, the server's CPU time per request (from `/proc`,
//! children included): the load generator shares the cores, so requests/s
//! also depends on how the scheduler splits them, and CPU per request
//! shows how much work each server does for the same answer.
//!
//! Knobs: BENCH_ROUNDS (5), BENCH_SECONDS (5 per run), BENCH_CONNECTIONS
//! (64), BENCH_ONLY (comma list of apps, tls, thumbnails, footprint,
//! phone, baseline), BENCH_BASELINE (another porch binary for part 5),
//! BENCH_PHOTOS (16 per thumbnail batch). The load generator shares the two
//! cores with the server it loads, for porch and anchors alike.

mod anchors;
mod baseline;
mod load;
mod phone;
mod report;
mod thumbs;

#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use report::{Better, Report, Row};
use support::{Server, UNBINDING_LIMITS, env_num, memory_mib};

/// What every part needs: the knobs, the tools and a work folder with the
/// certificate and the site.
pub struct Bench {
    pub rounds: usize,
    pub seconds: u64,
    pub connections: u64,
    pub tools: anchors::Tools,
    pub work: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Document root for Caddy and nginx: `.porch/static/` as porch serves it.
    pub site: PathBuf,
}

/// The path every server serves the static file at.
pub const STATIC_PATH: &str = "/.porch/static/style.css";

fn main() {
    // porch's media jail starts this very program as `… media-jail …`
    // for HEIC and video work (`media::jail`), as it starts porch.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == porch::media::jail::SUBCOMMAND) {
        eprintln!("media-jail: {}", porch::media::jail::enter(&args[2..]));
        std::process::exit(126);
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |part: &str| only.is_empty() || only.split(',').any(|p| p.trim() == part);
    let mut work_dir = tempfile::Builder::new().prefix("porch-compare-").tempdir().expect("temp");
    if std::env::var_os("BENCH_KEEP").is_some() {
        work_dir.disable_cleanup(true);
        println!("work folder (kept): {}", work_dir.path().display());
    }
    let bench = Bench::prepare(work_dir.path(), &wanted);
    let mut report = Report::new(&bench);

    if wanted("apps") || wanted("footprint") {
        apps_and_footprint(&bench, &mut report, wanted("apps"), wanted("footprint"));
    }
    if wanted("tls") {
        tls(&bench, &mut report);
    }
    if wanted("thumbnails") {
        thumbs::run(&bench, &mut report);
    }
    if wanted("phone") {
        phone::run(&bench, &mut report);
    }
    match std::env::var_os("BENCH_BASELINE") {
        Some(binary) if wanted("baseline") => baseline::run(&bench, &mut report, Path::new(&binary)),
        None if only.split(',').any(|p| p.trim() == "baseline") => {
            panic!("BENCH_ONLY names baseline but BENCH_BASELINE (the other porch binary) is not set")
        }
        _ => {}
    }
    report.finish();
}

impl Bench {
    fn prepare(work: &Path, wanted: &dyn Fn(&str) -> bool) -> Bench {
        let tools = anchors::Tools::find(wanted);
        // nginx workers run as nobody: the folder must be readable by all.
        set_mode(work, 0o755);
        let (cert, key) = (work.join("cert.pem"), work.join("key.pem"));
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let key_pair = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(names).expect("names");
        let certificate = params.self_signed(&key_pair).expect("self-signed");
        std::fs::write(&cert, certificate.pem()).expect("cert");
        std::fs::write(&key, key_pair.serialize_pem()).expect("key");
        set_mode(&key, 0o644);
        let site = work.join("site");
        let file = site.join(STATIC_PATH.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().expect("parent")).expect("site");
        let css = Path::new(env!("CARGO_MANIFEST_DIR")).join("static/style.css");
        std::fs::copy(css, &file).expect("copy style.css");
        for dir in [site.join(".porch/static"), site.join(".porch"), site.clone()] {
            set_mode(&dir, 0o755);
        }
        Bench {
            rounds: env_num("BENCH_ROUNDS", 5) as usize,
            seconds: env_num("BENCH_SECONDS", 5),
            connections: env_num("BENCH_CONNECTIONS", 64),
            tools,
            work: work.to_owned(),
            cert,
            key,
            site,
        }
    }

    /// porch.toml for porch behind TLS with the shared certificate.
    fn porch_tls_config(&self) -> String {
        format!(
            "tls = \"files\"\ndomain = \"localhost\"\nhttp_listen = \"off\"\n\n[certificates]\ncert = {:?}\nkey = {:?}\n\n{UNBINDING_LIMITS}",
            self.cert.display().to_string(),
            self.key.display().to_string()
        )
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Runs `a` and `b` `rounds` times, swapping who goes first every round, so
/// drift of the machine (heat, other load) falls on both alike.
pub fn alternate<T>(rounds: usize, mut a: impl FnMut() -> T, mut b: impl FnMut() -> T) -> (Vec<T>, Vec<T>) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            xs.push(a());
            ys.push(b());
        } else {
            ys.push(b());
            xs.push(a());
        }
    }
    (xs, ys)
}

/// Part 1 (apps) and part 4 (footprint): one porch, plain HTTP like
/// `wasmtime serve`, with the bare app installed and granted to the owner.
fn apps_and_footprint(bench: &Bench, report: &mut Report, apps: bool, footprint: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    // The first start compiles the apps into porch's cache; measured is
    // porch as it runs after any later start (restart, upgrade, reboot).
    let first = Server::start();
    let bare = Path::new(env!("TEST_APPS_DIR")).join("bare.porchapp");
    first.cli(&["app", "install", bare.to_str().expect("utf-8 path"), "--yes"]);
    let server = Server::start_in(first.stop(), UNBINDING_LIMITS, "127.0.0.1:0");
    let client = runtime.block_on(server.join(&["bare", "photos"]));
    // Opening the photo album once loads it as a visit would.
    runtime.block_on(server.open_app(&client, "photos"));
    let cookie = runtime.block_on(server.open_app(&client, "bare"));
    // Idle: quiet long enough for tokio's idle blocking threads (the
    // password hash ran on one) to end, as they do after 10 s.
    std::thread::sleep(Duration::from_secs(15));
    let (idle_rss, _) = server.memory_mib();

    if apps {
        // The same component porch runs, as built (the package holds it).
        let wasm = Path::new(env!("TEST_APPS_DIR")).join("bare").join("bare.wasm");
        let wasmtime = anchors::WasmtimeServe::start(&bench.tools, &wasm, "pooling-allocator");
        let host = format!("bare.localhost:{}", server.port);
        let porch_url = format!("http://127.0.0.1:{}/", server.port);
        let headers = [format!("Host: {host}"), format!("Cookie: {cookie}")];
        let check = load::get_body(&porch_url, &headers);
        assert_eq!(check, "Hello, world!\n", "porch did not serve the bare app");
        assert_eq!(load::get_body(&wasmtime.url, &[]), "Hello, world!\n", "wasmtime serve did not serve the bare app");
        let run = |pid: u32, url: &str, headers: &[String]| {
            load::with_cpu(pid, || load::wrk(&bench.tools, url, bench.connections, bench.seconds, headers, false))
        };
        let (porch_pid, wasmtime_pid) = (server.child.id(), wasmtime.pid());
        // Warm both up (compiled code paged in, pools filled).
        run(porch_pid, &porch_url, &headers);
        run(wasmtime_pid, &wasmtime.url, &[]);
        let (porch, anchor) =
            alternate(bench.rounds, || run(porch_pid, &porch_url, &headers), || run(wasmtime_pid, &wasmtime.url, &[]));
        let label = format!("apps: bare hello, HTTP/1.1, {} connections", bench.connections);
        report.push(Row::ratio(&label, "requests/s", Better::Higher, "wasmtime serve", rps(&porch), rps(&anchor), 1.0));
        report.push(Row::ratio(&label, "p99 ms", Better::Lower, "wasmtime serve", p99(&porch), p99(&anchor), 1.0));
        report.push(Row::context(&label, "CPU µs/request", "wasmtime serve", cpu(&porch), cpu(&anchor)));
        let wasmtime_rss = memory_mib(wasmtime.pid()).1;
        report.note(format!("wasmtime serve peak RSS under that load: {wasmtime_rss:.1} MiB"));
        drop(wasmtime);

        // Context, no target: wasmtime serve given porch's own pooling
        // settings (slots reset in place, PAGEMAP_SCAN), so what is left
        // between the two is the gate's cost, not the allocator's.
        let options = porch::apps::pooling_as_cli_options();
        let tuned = anchors::WasmtimeServe::start(&bench.tools, &wasm, &options);
        assert_eq!(
            load::get_body(&tuned.url, &[]),
            "Hello, world!\n",
            "tuned wasmtime serve did not serve the bare app"
        );
        run(tuned.pid(), &tuned.url, &[]);
        let (porch, anchor) =
            alternate(bench.rounds, || run(porch_pid, &porch_url, &headers), || run(tuned.pid(), &tuned.url, &[]));
        let anchor_name = "wasmtime serve, porch's pooling";
        let label = "apps, context: bare hello, wasmtime serve with porch's pooling settings";
        report.note(format!("porch's pooling settings for wasmtime serve: -O {options}"));
        report.push(Row::context(label, "requests/s", anchor_name, rps(&porch), rps(&anchor)));
        report.push(Row::context(label, "p99 ms", anchor_name, p99(&porch), p99(&anchor)));
        report.push(Row::context(label, "CPU µs/request", anchor_name, cpu(&porch), cpu(&anchor)));
    }

    if footprint {
        let (_, peak) = server.memory_mib();
        report.push(Row::absolute("footprint: porch idle RSS, signed in, photo app loaded", "MiB", idle_rss, 40.0));
        if apps {
            report.push(Row::absolute("footprint: porch peak RSS under the apps load", "MiB", peak, 150.0));
        }
        drop(server);
        startup(bench, report, &runtime);
    }
}

/// Start-up to the first HTTPS response, porch (second start: its compiled
/// apps are cached on disk) and Caddy, alternately; and their idle RSS.
fn startup(bench: &Bench, report: &mut Report, runtime: &tokio::runtime::Runtime) {
    let config = bench.porch_tls_config();
    // First start compiles the bundled apps into the cache.
    let first = Server::start_in(tempfile::TempDir::new().expect("temp"), &config, "127.0.0.1:0");
    let mut dir = Some(first.stop());
    let url = |port: u16| format!("https://localhost:{port}{STATIC_PATH}");
    let mut porch_idle = Vec::new();
    let mut caddy_idle = Vec::new();
    let porch_start = || {
        let port = anchors::free_port();
        let started = Instant::now();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_porch"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(dir.as_ref().expect("dir").path().join("data"))
            .current_dir(dir.as_ref().expect("dir").path())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(bench.work.join("porch-start.log")).expect("log"))
            .env("PORCH_METRICS_LISTEN", "off")
            .spawn()
            .expect("porch");
        let took = runtime.block_on(load::first_https_response(&url(port), started));
        std::thread::sleep(Duration::from_secs(1));
        porch_idle.push(memory_mib(child.id()).0);
        let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
        took
    };
    let caddy_start = || {
        let port = anchors::free_port();
        let started = Instant::now();
        let caddy = anchors::Caddy::spawn(bench, port, false);
        let took = runtime.block_on(load::first_https_response(&url(port), started));
        std::thread::sleep(Duration::from_secs(1));
        caddy_idle.push(memory_mib(caddy.pid()).0);
        took
    };
    let rounds = bench.rounds.max(5);
    let (porch, caddy) = alternate(rounds, porch_start, caddy_start);
    let ms = |d: Vec<Duration>| d.into_iter().map(|d| d.as_secs_f64() * 1000.0).collect::<Vec<_>>();
    report.push(Row::absolute_vs(
        "footprint: start-up to first HTTPS response (warm app cache)",
        "ms",
        ms(porch),
        "Caddy",
        ms(caddy),
        150.0,
    ));
    report.push(Row::absolute_vs(
        "footprint: idle RSS just after start (TLS, no app opened)",
        "MiB",
        porch_idle,
        "Caddy",
        caddy_idle,
        40.0,
    ));
    dir.take();
}

/// Part 2: the static file over HTTPS, porch vs Caddy vs nginx.
fn tls(bench: &Bench, report: &mut Report) {
    let porch = Server::start_in(tempfile::TempDir::new().expect("temp"), &bench.porch_tls_config(), "127.0.0.1:0");
    let caddy = anchors::Caddy::spawn(bench, anchors::free_port(), true);
    let nginx = anchors::Nginx::spawn(bench, anchors::free_port());
    let servers = [("porch", porch.port), ("Caddy", caddy.port), ("nginx", nginx.port)];
    let url = |port: u16| format!("https://localhost:{port}{STATIC_PATH}");
    let expected = std::fs::read_to_string(bench.site.join(STATIC_PATH.trim_start_matches('/'))).expect("css");
    for (name, port) in servers {
        let body = load::get_body(&url(port), &[]);
        assert_eq!(body, expected, "{name} did not serve {STATIC_PATH}");
    }
    type Runner<'a> = Box<dyn Fn(&str) -> load::Sample + 'a>;
    let on = |run: &Runner, port: u16, pid: u32| load::with_cpu(pid, || run(&url(port)));
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
    for (mode, run) in &modes {
        for (_, port) in servers {
            run(&url(port)); // warm-up
        }
        for (anchor, port, pid, target) in
            [("Caddy", caddy.port, caddy.pid(), 1.5), ("nginx", nginx.port, nginx.pid(), 1.0)]
        {
            let (ours, theirs) =
                alternate(bench.rounds, || on(run, porch.port, porch.child.id()), || on(run, port, pid));
            let label = format!("TLS static file: {mode}, {} connections", bench.connections);
            report.push(Row::ratio(&label, "requests/s", Better::Higher, anchor, rps(&ours), rps(&theirs), target));
            report.push(Row::ratio(&label, "p99 ms", Better::Lower, anchor, p99(&ours), p99(&theirs), 1.0));
            report.push(Row::context(&label, "CPU µs/request", anchor, cpu(&ours), cpu(&theirs)));
        }
    }
}

fn rps(samples: &[load::Sample]) -> Vec<f64> {
    samples.iter().map(|s| s.requests_per_second).collect()
}

fn p99(samples: &[load::Sample]) -> Vec<f64> {
    samples.iter().map(|s| s.p99_ms).collect()
}

fn cpu(samples: &[load::Sample]) -> Vec<f64> {
    samples.iter().map(|s| s.cpu_us_per_request).collect()
}
