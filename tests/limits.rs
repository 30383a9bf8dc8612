//! Holding the line: request budgets, sign-in throttling, connection caps,
//! header and idle timeouts, forwarding headers and security headers, each
//! against the real server on loopback. Different clients are different
//! 127.x source addresses. Every loop is bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::util::{Browser, OWNER, PASSWORD, Porch};

/// Porch on 127.0.0.1 with `config` in porch.toml, and its owner signed in
/// (from 127.0.0.1, so that browser is a known device).
async fn porch_with(config: &str) -> (Porch, Browser) {
    let porch = Porch::start_with_config(config, "127.0.0.1:0");
    let owner = porch.owner().await;
    (porch, owner)
}

fn retry_after(page: &crate::util::Page) -> u64 {
    page.headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a 429/503 without Retry-After: {:?}", page.headers))
}

/// A raw TCP connection to porch from `ip` (bound before connecting, which
/// std cannot do; handed back as a blocking std stream).
async fn connect_from(ip: &str, port: u16) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(ip.parse().expect("ip"), 0)).expect("bind");
    let stream = socket.connect(SocketAddr::from(([127, 0, 0, 1], port))).await.expect("connect");
    let stream = stream.into_std().expect("std stream");
    stream.set_nonblocking(false).expect("blocking");
    stream.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
    stream
}

/// Whether the server closed (or answered and closed) the connection within
/// `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[tokio::test]
async fn password_guessing_is_throttled_while_the_family_still_gets_in() {
    let config = "[limits]\nrequests = \"off\"\ndoor = \"off\"\n\
                  [signin]\nfree_failures = 2\nblock_after = 4\naccount_free_failures = 10\nmax_wait = \"30s\"\n";
    let (porch, owner) = porch_with(config).await;

    // Thousands of guesses from one address, a couple of milliseconds apart.
    let attacker = porch.browser_from("127.0.0.2");
    let (mut checked, mut held) = (0, 0);
    for _ in 0..2000 {
        let page = attacker.post("/signin", &[("name", OWNER), ("password", "guess")]).await;
        match page.status {
            401 => checked += 1,
            429 => {
                assert!(retry_after(&page) >= 1);
                held += 1;
            }
            other => panic!("unexpected {other}: {}", page.body),
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!((2..=4).contains(&checked), "only a few guesses reach the password check: {checked}");
    assert_eq!(checked + held, 2000);
    assert!(porch.audit().contains("signin.blocked"), "the block is audited");
    let blocked = attacker.post("/signin", &[("name", OWNER), ("password", PASSWORD)]).await;
    assert_eq!(blocked.status, 429, "even the right password waits out a block");
    assert!(blocked.body.contains("too many failed sign-ins"), "{}", blocked.body);

    // The owner, on another address, signs out and in again meanwhile.
    let signout = owner.submit("/account", "/signout", &[]).await;
    assert_eq!(signout.status, 303);
    assert_eq!(owner.sign_in(OWNER, PASSWORD).await.status, 303);

    // The owner sees the block and lifts it.
    let blocks = owner.get("/admin/blocks").await;
    assert!(blocks.body.contains("127.0.0.2") && blocks.body.contains("blocked"), "{}", blocks.body);
    let lifted = owner.submit("/admin/blocks", "/admin/blocks/lift", &[("kind", "client"), ("key", "127.0.0.2")]).await;
    assert_eq!(lifted.status, 303);
    assert!(porch.audit().contains("signin.unblocked"));
    assert_eq!(attacker.post("/signin", &[("name", OWNER), ("password", "guess")]).await.status, 401);

    // Guesses spread over many addresses slow the account down...
    for n in 10..40 {
        let spread = porch.browser_from(&format!("127.0.0.{n}"));
        for _ in 0..3 {
            let status = spread.post("/signin", &[("name", OWNER), ("password", "guess")]).await.status;
            assert!(status == 401 || status == 429, "{status}");
        }
    }
    assert!(porch.audit().contains("signin.slowed"), "the slow-down is audited");
    // ...so a stranger's device waits even with the right password...
    let stranger = porch.browser_from("127.0.0.99");
    stranger.post("/signin", &[("name", OWNER), ("password", "guess")]).await;
    let waits = stranger.post("/signin", &[("name", OWNER), ("password", PASSWORD)]).await;
    assert_eq!(waits.status, 429, "{}", waits.body);
    assert!(waits.body.contains("new devices have to wait"), "{}", waits.body);
    // ...but the owner's own browser, a known device, signs in at once.
    owner.submit("/account", "/signout", &[]).await;
    let back = owner.sign_in(OWNER, PASSWORD).await;
    assert_eq!(back.status, 303, "the family is never locked out: {}", back.body);
    assert!(owner.signed_in().await);
}

#[tokio::test]
async fn dead_invite_links_count_as_failures_and_the_door_budget_holds() {
    let config = "[limits]\ndoor = \"10/min\"\ndoor_burst = 5\n[signin]\nfree_failures = 3\nblock_after = 50\n";
    let porch = Porch::start_with_config(config, "127.0.0.1:0");
    let guesser = porch.browser_from("127.0.0.3");
    let fake = format!("/join/{}", "A".repeat(43));
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(guesser.get(&fake).await.status);
    }
    assert_eq!(&statuses[..3], &[404, 404, 404], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "slowed, then out of door budget: {statuses:?}");
    // Other pages still work for that client; other clients are untouched.
    assert_eq!(guesser.get("/signin").await.status, 200);
    let other = porch.browser_from("127.0.0.4");
    assert_eq!(other.get(&fake).await.status, 404);
    let page = guesser.get(&fake).await;
    assert!(retry_after(&page) >= 1);
    assert!(page.body.contains("Wait a little") || page.body.contains("wait a little"), "{}", page.body);
}

#[tokio::test]
async fn a_flood_gets_429s_while_a_signed_in_person_carries_on() {
    let (porch, owner) = porch_with("[limits]\nrequests = \"50/s\"\nrequests_burst = 50\n").await;
    let before = porch.rss_kib();
    let flooder = Arc::new(porch.browser_from("127.0.0.2"));
    let ok = Arc::new(AtomicUsize::new(0));
    let limited = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (flooder, ok, limited) = (flooder.clone(), ok.clone(), limited.clone());
        tasks.spawn(async move {
            for _ in 0..150 {
                let page = flooder.get("/signin").await;
                match page.status {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    429 => limited.fetch_add(1, Ordering::Relaxed),
                    other => panic!("unexpected {other}"),
                };
            }
        });
    }
    // The owner keeps using porch during the flood.
    for _ in 0..20 {
        let page = owner.get("/account").await;
        assert_eq!(page.status, 200, "a signed-in person's request failed during the flood");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("flood task");
    }
    let seconds = started.elapsed().as_secs_f64();
    let (ok, limited) = (ok.load(Ordering::Relaxed), limited.load(Ordering::Relaxed));
    assert_eq!(ok + limited, 4800);
    let allowed = 50.0 + 50.0 * seconds;
    assert!((ok as f64) <= allowed + 5.0, "{ok} allowed in {seconds:.1}s, budget {allowed:.0}");
    assert!(limited >= 4800 / 2, "most of the flood is turned away: {limited}");
    let after = porch.rss_kib();
    assert!(after < before + 64 * 1024, "memory stays bounded: {before} KiB before, {after} KiB after");
    assert_eq!(owner.get("/.porch/health").await.status, 200, "porch is still up");
}

#[tokio::test]
async fn a_thousand_slow_header_connections_do_not_stop_a_normal_request() {
    // The total cap is below the crowd, so porch must make room for the
    // newcomer by closing idle connections.
    let porch = Porch::start_with_config("[limits]\nconnections = 600\n", "127.0.0.1:0");
    let port = porch.port();
    let mut slow = Vec::new();
    for i in 0..1000 {
        let ip = format!("127.0.1.{}", 1 + i % 4);
        let mut s = connect_from(&ip, port).await;
        s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").expect("partial header");
        slow.push(s);
    }
    let browser = porch.browser();
    let started = Instant::now();
    let page = tokio::time::timeout(Duration::from_secs(1), browser.get("/signin"))
        .await
        .expect("a normal request succeeds within a second");
    assert_eq!(page.status, 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(slow);
}

#[tokio::test]
async fn connections_per_client_are_capped() {
    let porch = Porch::start_with_config("[limits]\nconnections_per_client = 8\n", "127.0.0.1:0");
    let port = porch.port();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect_from("127.0.2.1", port).await);
    }
    // porch admits in order, so make sure it has seen all eight first.
    std::thread::sleep(Duration::from_millis(300));
    let mut ninth = connect_from("127.0.2.1", port).await;
    assert!(closed_within(&mut ninth, Duration::from_secs(5)), "the ninth connection is closed at once");
    let mut other = connect_from("127.0.2.2", port).await;
    other.write_all(b"GET /.porch/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").expect("write");
    let mut answer = String::new();
    other.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "another client is served: {answer}");
    drop(held);
}

#[tokio::test]
async fn header_and_idle_timeouts_close_slow_clients() {
    let config = "[limits]\nheader_timeout = \"1s\"\nidle_timeout = \"2s\"\n";
    let porch = Porch::start_with_config(config, "127.0.0.1:0");
    let port = porch.port();

    let mut slow_header = connect_from("127.0.3.1", port).await;
    slow_header.write_all(b"GET / HTTP/1.1\r\nHost: loc").expect("write");
    assert!(closed_within(&mut slow_header, Duration::from_secs(5)), "slow headers are cut");

    let mut silent = connect_from("127.0.3.2", port).await;
    assert!(closed_within(&mut silent, Duration::from_secs(6)), "a silent connection is closed");

    // An upload that stops arriving fails instead of holding its request.
    let mut stalled = connect_from("127.0.3.3", port).await;
    stalled
        .write_all(b"POST /signin HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=a")
        .expect("write");
    assert!(closed_within(&mut stalled, Duration::from_secs(8)), "a stalled body is given up on");

    // A kept-alive connection is closed once idle, after its answer.
    let mut kept = connect_from("127.0.3.4", port).await;
    kept.write_all(b"GET /.porch/health HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("write");
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut kept, Duration::from_secs(6)), "an idle keep-alive is closed");
}

#[tokio::test]
async fn forwarding_headers_are_believed_only_from_trusted_proxies() {
    let config = "trusted_proxies = \"127.0.0.1\"\n[limits]\ndoor = \"1/min\"\ndoor_burst = 1\n";
    let porch = Porch::start_with_config(config, "127.0.0.1:0");
    let proxy = porch.browser();
    let stranger = porch.browser_from("127.0.4.1");
    let form = [("name", "nobody"), ("password", "wrong")];
    let via_proxy = |ip: &'static str| {
        let proxy = &proxy;
        async move {
            let req = [("x-forwarded-for", ip)];
            proxy.post_with_headers("/signin", &form, &req).await.status
        }
    };
    assert_eq!(via_proxy("203.0.113.7").await, 401);
    assert_eq!(via_proxy("203.0.113.7").await, 429, "the forwarded client's door budget is spent");
    assert_eq!(via_proxy("203.0.113.8").await, 401, "another forwarded client has its own");
    let spoofed = stranger.post_with_headers("/signin", &form, &[("x-forwarded-for", "198.51.100.1")]).await;
    assert_eq!(spoofed.status, 401);
    let audit = porch.audit();
    assert!(audit.contains("203.0.113.7") && audit.contains("203.0.113.8"), "{audit}");
    assert!(
        audit.contains("127.0.4.1") && !audit.contains("198.51.100.1"),
        "a stranger cannot pick its address: {audit}"
    );
}

#[tokio::test]
async fn uploads_and_requests_in_flight_have_their_own_limits() {
    let config = "[limits]\nuploads = \"1/min\"\nuploads_burst = 2\nform_body = \"1KiB\"\nin_flight = 1\n";
    let (porch, owner) = porch_with(config).await;
    assert!(porch.install("echo").success);
    assert!(porch.install("hostile").success);
    porch.grant(OWNER, "echo:viewer");
    porch.grant(OWNER, "hostile:victim");
    owner.follow(&owner.app_url("echo", "/")).await;
    owner.follow(&owner.app_url("hostile", "/")).await;
    let upload = owner.app_url("echo", "/upload");
    assert_eq!(owner.post_bytes(&upload, vec![1; 4096]).await.status, 200);
    assert_eq!(owner.post_bytes(&upload, vec![1; 4096]).await.status, 200);
    let third = owner.post_bytes(&upload, vec![1; 4096]).await;
    assert_eq!(third.status, 429, "{}", third.body);
    assert!(retry_after(&third) > 1);
    assert_eq!(owner.post_bytes(&upload, vec![1; 512]).await.status, 200, "small posts are not uploads");
    // Porch's own forms keep their small body limit.
    let big = "x".repeat(2048);
    assert_eq!(owner.post("/signin", &[("name", &big), ("password", "p")]).await.status, 413);

    // One request in flight at a time: a spinning app holds the only slot.
    let spinning = owner.app_url("hostile", "/loop");
    let (first, second) = tokio::join!(owner.get(&spinning), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        owner.get("/account").await
    });
    assert_eq!(first.status, 504, "the spinning app was stopped: {}", first.body);
    assert_eq!(second.status, 503, "{}", second.body);
    assert_eq!(retry_after(&second), 1);
    assert_eq!(owner.get("/account").await.status, 200, "the slot is free again");
}

fn header<'a>(page: &'a crate::util::Page, name: &str) -> Vec<&'a str> {
    page.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect()
}

/// The headers every porch page must carry.
fn assert_porch_headers(what: &str, page: &crate::util::Page) {
    let csp = header(page, "content-security-policy").join(" | ");
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: {csp}");
    assert_eq!(header(page, "referrer-policy"), ["no-referrer"], "{what}");
    assert_eq!(header(page, "x-content-type-options"), ["nosniff"], "{what}");
    let permissions = header(page, "permissions-policy").join(",");
    for feature in ["camera=()", "microphone=()", "geolocation=()"] {
        assert!(permissions.contains(feature), "{what}: {permissions}");
    }
}

#[tokio::test]
async fn every_route_family_carries_the_security_headers() {
    let (porch, owner) = porch_with("[limits]\ndoor = \"2/min\"\ndoor_burst = 2\n").await;
    assert!(porch.install("echo").success);
    porch.grant(OWNER, "echo:viewer");
    porch.grant(OWNER, "hello:visitor");
    let anonymous = porch.browser_from("127.0.5.1");
    let pages = [
        ("sign-in page", anonymous.get("/signin").await),
        ("home", owner.get("/").await),
        ("admin page", owner.get("/admin/people").await),
        ("blocks page", owner.get("/admin/blocks").await),
        ("redirect", owner.get("/admin").await),
        ("stylesheet", anonymous.get("/.porch/static/style.css").await),
        ("not found", anonymous.get("/no/such/page").await),
        ("dead link", anonymous.get("/join/nothing").await),
        ("unknown host", anonymous.get_with_host("/", "elsewhere.example").await),
        ("app door", owner.get(&owner.app_url("echo", "/")).await),
    ];
    for (what, page) in &pages {
        assert_porch_headers(what, page);
    }
    anonymous.get("/join/nothing").await;
    let limited = anonymous.get("/join/nothing").await;
    assert_eq!(limited.status, 429);
    assert_porch_headers("429 page", &limited);

    // Apps: porch's policy always, beside whatever the app sends.
    for (app, path) in [("hello", "/"), ("echo", "/anything")] {
        let page = owner.follow(&owner.app_url(app, path)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_porch_headers(app, &page);
        assert_eq!(header(&page, "x-frame-options"), ["DENY"]);
    }
}
