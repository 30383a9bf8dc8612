//! What the request limiter costs (`cargo bench --bench limits`): a
//! signed-in page (`GET /account`: session lookup, template) through the
//! release binary over HTTP/1.1 keep-alive, C connections (default 64) for
//! D seconds (default 5), once with the budgets on (far above the load, so
//! every request is checked and none refused) and once with them off,
//! alternating for R rounds (default 3); medians of req/s and p99 per
//! setting.
//!
//! The check itself in-process is `cargo bench --bench hot -- budget`.
//!
//! The load generator shares the machine with porch; say so when quoting.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;
use support::{Server, UNBINDING_LIMITS, env_num, median, percentile};

const OFF: &str = "[limits]\nrequests = \"off\"\ndoor = \"off\"\nuploads = \"off\"\nin_flight = 100000\n";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let rounds = env_num("BENCH_ROUNDS", 3);
    let (mut on_rps, mut on_p99, mut off_rps, mut off_p99) = (vec![], vec![], vec![], vec![]);
    for round in 1..=rounds {
        for (name, config) in [("on", UNBINDING_LIMITS), ("off", OFF)] {
            let (rps, p99) = runtime.block_on(signed_in_page(config));
            println!("round {round}, limiter {name}: {rps:.0} req/s, p99 {:.2} ms", p99 * 1e3);
            if name == "on" {
                on_rps.push(rps);
                on_p99.push(p99);
            } else {
                off_rps.push(rps);
                off_p99.push(p99);
            }
        }
    }
    let (on, off) = (median(&on_rps), median(&off_rps));
    println!(
        "signed-in page, medians of {rounds}: limiter on {on:.0} req/s p99 {:.2} ms; off {off:.0} req/s p99 {:.2} ms; on/off {:.3}",
        median(&on_p99) * 1e3,
        median(&off_p99) * 1e3,
        on / off
    );
}

/// Requests per second and p99 (seconds) for `GET /account`.
async fn signed_in_page(config: &str) -> (f64, f64) {
    let server = Server::start_with(config);
    let cookie = Arc::new(server.sign_in().await);
    let url = format!("{}/account", server.base);
    let addr = server.addr();
    let connections = env_num("BENCH_CONNECTIONS", 64);
    let seconds = env_num("BENCH_SECONDS", 5);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (cookie, url) = (cookie.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .http1_only()
                .pool_max_idle_per_host(1)
                .resolve("localhost", addr)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            let mut times = Vec::new();
            while Instant::now() < deadline {
                let start = Instant::now();
                let r = c.get(&url).header("cookie", cookie.as_str()).send().await.expect("request");
                assert_eq!(r.status(), 200, "the signed-in page must answer 200");
                let _ = r.bytes().await;
                times.push(start.elapsed());
            }
            times
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort();
    (all.len() as f64 / seconds as f64, percentile(&all, 0.99).as_secs_f64())
}
