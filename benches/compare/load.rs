//! Load generation and what it reads back: `wrk` and `h2load` runs parsed
//! into requests per second and p99 latency, the CPU time the server spent
//! per request meanwhile, plus the one-off requests that check a server
//! answers right and time its start-up.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::anchors::Tools;

/// One load run's result.
#[derive(Clone, Debug)]
pub struct Sample {
    pub requests_per_second: f64,
    pub p99_ms: f64,
    /// Requests completed in the run.
    pub requests: u64,
    /// The server's CPU time (user and system, all its threads and child
    /// processes) per request, in microseconds; set by [`with_cpu`].
    pub cpu_us_per_request: f64,
}

/// Runs `load` against the server whose process is `pid` and adds the CPU
/// time the server spent per request. The load generator shares the cores,
/// so requests/s depends on how the scheduler splits them; CPU per request
/// does not, and says how much work each server does for the same answer.
pub fn with_cpu(pid: u32, load: impl FnOnce() -> Sample) -> Sample {
    let before = cpu_seconds(pid);
    let mut sample = load();
    let spent = cpu_seconds(pid) - before;
    sample.cpu_us_per_request = spent * 1e6 / sample.requests.max(1) as f64;
    sample
}

/// User and system CPU seconds of `pid` and its child processes (nginx's
/// workers), from `/proc`.
fn cpu_seconds(pid: u32) -> f64 {
    let ticks_per_second = clock_ticks();
    let mut ticks = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    for entry in entries.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid … utime stime …"; comm may hold spaces.
        let Some((head, rest)) = stat.rsplit_once(") ") else { continue };
        let this: u32 = head.split(" (").next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let parent: u32 = fields.get(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        if this == pid || parent == pid {
            ticks += [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum::<u64>();
        }
    }
    ticks as f64 / ticks_per_second
}

/// The kernel's clock ticks per second for `/proc` times (`getconf CLK_TCK`).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// `wrk` with two threads and `connections` connections for `seconds`.
/// With `close`, every request asks for `Connection: close`, so every
/// request is a new TCP connection and a full TLS handshake.
pub fn wrk(tools: &Tools, url: &str, connections: u64, seconds: u64, headers: &[String], close: bool) -> Sample {
    let mut cmd = Command::new(&tools.wrk);
    cmd.args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if close {
        cmd.args(["-H", "Connection: close"]);
    }
    let out = cmd.arg(url).output().expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    if let Some(bad) = text.lines().find(|l| l.contains("Non-2xx or 3xx responses")) {
        panic!("{url} answered errors under load ({}):\n{text}", bad.trim());
    }
    let requests_per_second = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    let p99_ms = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| duration_ms(v.trim()))
        .unwrap_or_else(|| panic!("no 99% latency in wrk's output:\n{text}"));
    // "  312345 requests in 5.00s, 1.02GB read"
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").and_then(|(n, _)| n.parse().ok()))
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
    Sample { requests_per_second, p99_ms, requests, cpu_us_per_request: 0.0 }
}

/// wrk's durations: `812.00us`, `1.23ms`, `2.00s`, `1.00m`.
fn duration_ms(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = v.split_at(split);
    let n: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

/// `h2load` over HTTP/2 (TLS, ALPN h2): `connections` connections with 4
/// concurrent streams each, two threads, for `seconds`. p99 comes from its
/// per-request log.
pub fn h2load(tools: &Tools, url: &str, connections: u64, seconds: u64, work: &Path) -> Sample {
    let log = work.join("h2load.log");
    // h2load appends to its log file: without this, every run's p99 was taken
    // over all the runs before it too (other servers and warm-ups included).
    match std::fs::remove_file(&log) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot remove the previous {}: {e}", log.display()),
    }
    let out = Command::new(&tools.h2load)
        .args(["-t2", &format!("-c{connections}"), "-m4", &format!("-D{seconds}")])
        .arg(format!("--log-file={}", log.display()))
        .arg(url)
        .output()
        .expect("h2load");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "h2load failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Application protocol: h2"), "{url} did not speak HTTP/2:\n{text}");
    // "requests: 1000 total, 1000 started, 1000 done, 1000 succeeded, 0 failed, 0 errored, 0 timeout"
    let requests = text.lines().find(|l| l.starts_with("requests:")).unwrap_or_default();
    let failed = ["failed", "errored"].iter().map(|what| field_before(requests, what)).sum::<u64>();
    assert_eq!(failed, 0, "{url} failed requests under HTTP/2 load:\n{text}");
    // "finished in 5.00s, 12345.67 req/s, 3.21MB/s"
    let requests_per_second = text
        .lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|v| v.strip_suffix(" req/s"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no req/s in h2load's output:\n{text}"));
    // Log lines: start time (µs since the epoch), status, time to the end
    // of the response (µs).
    let logged = std::fs::read_to_string(&log).expect("h2load log");
    let mut times: Vec<u64> = logged.lines().filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok()).collect();
    let requests = field_before(requests, "succeeded");
    assert!(!times.is_empty(), "h2load logged no requests");
    assert_eq!(times.len() as u64, requests, "h2load's log does not hold exactly this run's requests");
    times.sort_unstable();
    let p99 = times[((times.len() - 1) as f64 * 0.99).round() as usize];
    Sample { requests_per_second, p99_ms: p99 as f64 / 1000.0, requests, cpu_us_per_request: 0.0 }
}

/// In "…, 3 failed, 0 errored, …", the number before `what`.
fn field_before(line: &str, what: &str) -> u64 {
    line.split(", ").find_map(|part| part.trim().strip_suffix(what).and_then(|n| n.trim().parse().ok())).unwrap_or(0)
}

fn client() -> reqwest::Client {
    // The certificate is the harness's own self-signed one; these requests
    // only check bodies and time start-up.
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .resolve("localhost", std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .build()
        .expect("client")
}

/// GET `url` with `headers` (`Name: value`); the body of a 200, else panics.
pub fn get_body(url: &str, headers: &[String]) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut request = client().get(url);
        for h in headers {
            let (name, value) = h.split_once(": ").expect("Name: value");
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(response.status().is_success(), "GET {url}: {}", response.status());
        response.text().await.expect("body")
    })
}

/// Time from `started` until `url` first answers 200, polling every
/// millisecond (a refused connection costs microseconds).
pub async fn first_https_response(url: &str, started: Instant) -> Duration {
    let client = client();
    let deadline = started + Duration::from_secs(30);
    loop {
        let last = match client.get(url).send().await {
            Ok(response) if response.status().is_success() => return started.elapsed(),
            Ok(response) => response.status().to_string(),
            Err(e) => format!("{e:?}"),
        };
        assert!(Instant::now() < deadline, "{url} did not answer within 30 s; last: {last}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
