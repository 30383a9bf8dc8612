//! Regression tests for the findings of the security review of `aef98d4`
//! (`../shared/reviews/security-2026-11.md`), each named after its finding
//! (`h1_…`, `m1_…`) and each sending the attack itself to the real server:
//! redirects resolved as a browser resolves them, floods measured in bytes
//! added to the database, guesses counted as password checks actually run,
//! memory read from `/proc`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::util::{Browser, OWNER, PASSWORD, Peak, Porch, between, test_app};

/// Every way a browser reads `/<something>/evil.example` as another host:
/// tab, newline and CR are dropped by the URL parser, `\` is a `/`.
const OFF_SITE: &[&str] = &[
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "/%0d/evil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "/%09%5Cevil.example",
    "/%5C%09/evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example%2F",
    "//evil.example",
    "https://evil.example/",
    "/%20/evil.example",
    "%09//evil.example",
];

/// Where a browser on `page` goes for `location`, by the WHATWG rules (the
/// `url` crate implements them).
fn browser_target(page: &str, location: &str) -> url::Url {
    url::Url::parse(page).expect("page url").join(location).expect("a location a browser can follow")
}

#[tokio::test]
async fn m1_next_never_sends_a_browser_off_the_site() {
    let porch = Porch::start_with_config("[limits]\ndoor = \"off\"\n", "127.0.0.1:0");
    let owner = porch.owner().await;
    assert!(porch.install("echo").success);
    porch.grant(OWNER, "echo:viewer");
    let home = url::Url::parse(&porch.url).expect("url");
    for next in OFF_SITE {
        // Signed in: GET /signin bounces straight to `next`.
        let page = owner.get(&format!("/signin?next={next}")).await;
        assert_eq!(page.status, 303, "{next}: {}", page.body);
        let to = browser_target(&porch.url, page.location.as_deref().expect("location"));
        assert_eq!(to.origin(), home.origin(), "{next} left the site for {to}");

        // The sign-in form carries it in a hidden field.
        let fresh = porch.browser();
        let next_text = percent_decode(next);
        let page = fresh.post("/signin", &[("name", OWNER), ("password", PASSWORD), ("next", &next_text)]).await;
        assert_eq!(page.status, 303, "{next}: {}", page.body);
        let to = browser_target(&porch.url, page.location.as_deref().expect("location"));
        assert_eq!(to.origin(), home.origin(), "after sign-in, {next} left the site for {to}");

        // An enter link without a handshake goes to the app host itself.
        let enter = owner.get(&format!("/.porch/enter?app=echo&next={next}")).await;
        assert_eq!(enter.status, 303, "{next}: {}", enter.body);
        let echo_home = url::Url::parse(&owner.app_url("echo", "/")).expect("echo url").origin();
        let to = browser_target(&porch.url, enter.location.as_deref().expect("location"));
        assert_eq!(to.origin(), echo_home, "enter sent {next} to {to}");

        // A real handshake whose `next` a stranger swapped: app host, enter
        // on the apex, ticket back on the app host, then `next`.
        let b = porch.browser();
        assert_eq!(b.sign_in(OWNER, PASSWORD).await.status, 303);
        let start = b.get(&b.app_url("echo", "/")).await;
        let mut enter_url = url::Url::parse(start.location.as_deref().expect("to enter")).expect("enter url");
        let pairs: Vec<(String, String)> = enter_url
            .query_pairs()
            .map(|(k, v)| {
                let value = if k == "next" { percent_decode(next) } else { v.into_owned() };
                (k.into_owned(), value)
            })
            .collect();
        enter_url.query_pairs_mut().clear().extend_pairs(pairs);
        let enter = b.get(enter_url.as_str()).await;
        assert_eq!(enter.status, 303, "{next}: {}", enter.body);
        let ticket = browser_target(&porch.url, enter.location.as_deref().expect("ticket location"));
        let landed = b.get(ticket.as_str()).await;
        assert_eq!(landed.status, 303, "{next}: {}", landed.body);
        let to = browser_target(ticket.as_str(), landed.location.as_deref().expect("location"));
        assert_eq!(to.origin(), ticket.origin(), "the app handshake sent {next} to {to}");
    }
    // A path of our own still comes back whole.
    let page = owner.get("/signin?next=/admin/people%3Fx%3D1").await;
    assert_eq!(page.location.as_deref(), Some("/admin/people?x=1"));
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// Bytes of the database and its write-ahead log.
fn database_bytes(data: &Path) -> u64 {
    ["porch.sqlite", "porch.sqlite-wal"].iter().map(|f| std::fs::metadata(data.join(f)).map_or(0, |m| m.len())).sum()
}

#[tokio::test]
async fn h1_a_flood_of_refused_cross_site_posts_barely_grows_the_database() {
    let porch = Porch::start_with_config("[limits]\nrequests = \"off\"\n", "127.0.0.1:0");
    let _owner = porch.owner().await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    // Warm up the audit table, then measure.
    let path = format!("/{}", "p".repeat(60_000));
    let origin = format!("https://{}.example", "o".repeat(200_000));
    let refuse = async || {
        let response = client
            .post(format!("{}{path}", porch.url))
            .header("sec-fetch-site", "cross-site")
            .header("origin", &origin)
            .body("x=1")
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 403);
    };
    refuse().await;
    let before = database_bytes(&porch.data());
    for _ in 0..50 {
        refuse().await;
    }
    let grown = database_bytes(&porch.data()).saturating_sub(before);
    eprintln!("h1: 50 refused requests of {} KB added {grown} bytes", (path.len() + origin.len()) / 1000);
    // Before the fix this was about 15 MB (every row kept path and Origin).
    assert!(grown < 256 * 1024, "the database grew by {grown} bytes");
    let audit = porch.audit();
    let refused = audit.lines().filter(|l| l.contains("csrf.refused")).count();
    assert!((1..=5).contains(&refused), "a few rows per client and window, not 51: {refused}");
    assert!(audit.lines().all(|l| l.len() < 1000), "every audit field is bounded");
}

#[tokio::test]
async fn m2_only_the_header_the_proxy_writes_names_the_client() {
    let config = "trusted_proxies = \"127.0.0.1\"\n[limits]\nrequests = \"off\"\ndoor = \"off\"\n";
    let porch = Porch::start_with_config(config, "127.0.0.1:0");
    let _owner = porch.owner().await;
    let b = porch.browser();
    let headers = [("x-forwarded-for", "203.0.113.7"), ("forwarded", "for=198.51.100.9")];
    let page = b.post_with_headers("/signin", &[("name", "Mallory"), ("password", "guess")], &headers).await;
    assert_eq!(page.status, 401);
    let audit = porch.audit();
    let line = audit.lines().find(|l| l.contains("signin.failed")).expect("the failure is audited");
    assert!(line.contains("203.0.113.7") && !line.contains("198.51.100.9"), "{line}");
}

/// How many sign-ins were checked against a password and failed (one
/// argon2 verification each), from the audit log.
fn verifications(porch: &Porch) -> usize {
    porch.audit().lines().filter(|l| l.contains("signin.failed")).count()
}

#[tokio::test]
async fn m3_guesses_sent_at_once_cost_what_guesses_one_after_another_cost() {
    let config = "[limits]\nrequests = \"off\"\ndoor = \"off\"\n\
                  [signin]\nfree_failures = 5\nblock_after = 50\naccount_free_failures = 3\nmax_wait = \"60s\"\n";
    let porch = Porch::start_with_config(config, "127.0.0.1:0");
    let _owner = porch.owner().await;
    // The account's free failures are used up, from three addresses.
    for n in 11..14 {
        let page = porch.browser_from(&format!("127.0.0.{n}")).sign_in(OWNER, "guess").await;
        assert_eq!(page.status, 401, "{}", page.body);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = verifications(&porch);
    // Thirty guesses from thirty addresses, all at once.
    let mut tries = tokio::task::JoinSet::new();
    for n in 20..50 {
        let b = porch.browser_from(&format!("127.0.0.{n}"));
        tries.spawn(async move { b.sign_in(OWNER, "guess").await.status });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tries.join_next().await {
        statuses.push(status.expect("a guess"));
    }
    let ran = verifications(&porch) - before;
    eprintln!("m3: 30 parallel guesses ran {ran} password checks; statuses {statuses:?}");
    // Before the fix: about 30. Serially one try per wait is allowed.
    assert!(ran <= 2, "{ran} password checks ran for 30 parallel guesses");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
}

#[tokio::test]
async fn m3_signing_in_to_your_own_account_does_not_lift_your_networks_guesses() {
    let config = "[limits]\nrequests = \"off\"\ndoor = \"off\"\n\
                  [signin]\nfree_failures = 3\nblock_after = 50\naccount_free_failures = 100\nmax_wait = \"60s\"\n";
    let porch = Porch::start_with_config(config, "127.0.0.1:0");
    let _owner = porch.owner().await;
    let link = porch.invite(&[]);
    let mallory = porch.browser_from("127.0.0.5");
    assert_eq!(mallory.join(&link, "Mallory", PASSWORD).await.status, 303);
    mallory.submit("/account", "/signout", &[]).await;
    // Three guesses at the owner from Mallory's address: it is slowed...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(porch.browser_from("127.0.0.5").sign_in(OWNER, "guess").await.status, 401);
    }
    // ...and signing in to her own account (from a new browser) once the
    // wait is over does not wash those guesses away: her network gets no
    // fresh free failures, so the guess after next must wait again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(porch.browser_from("127.0.0.5").sign_in("Mallory", PASSWORD).await.status, 303);
    let next = porch.browser_from("127.0.0.5").sign_in(OWNER, "guess").await;
    assert_eq!(next.status, 401, "the one-second wait is over: {}", next.body);
    let after = porch.browser_from("127.0.0.5").sign_in(OWNER, "guess").await;
    assert_eq!(after.status, 429, "still slowed, not three free failures again: {}", after.body);
}

#[tokio::test]
async fn m5_a_burst_of_sign_ins_stays_within_bounded_memory() {
    let config = "[limits]\nrequests = \"off\"\ndoor = \"off\"\nconnections_per_client = 1000\n\
                  [signin]\nfree_failures = 1000\nblock_after = 1001\naccount_free_failures = 100000\n\
                  [passwords]\nparallel = 2\nqueue_wait = \"60s\"\n";
    let porch = Arc::new(Porch::start_with_config(config, "127.0.0.1:0"));
    let _owner = porch.owner().await;
    let baseline = porch.rss_kib();
    let peak = Peak::watch(porch.clone(), Porch::rss_kib);
    let mut tries = tokio::task::JoinSet::new();
    for n in 0..200u32 {
        let b = porch.browser_from(&format!("127.0.1.{}", n % 50 + 1));
        tries.spawn(async move { b.sign_in(&format!("stranger {n}"), "guess").await.status });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tries.join_next().await {
        statuses.push(status.expect("a sign-in"));
    }
    let peak = peak.stop();
    let grown_mib = peak.saturating_sub(baseline) / 1024;
    eprintln!("m5: 200 concurrent sign-ins; resident memory grew {grown_mib} MiB over {} MiB", baseline / 1024);
    // Unbounded, 150 sign-ins took porch to 1.0-1.25 GB (19 MiB each).
    assert!(grown_mib < 160, "resident memory grew by {grown_mib} MiB");
    assert!(statuses.iter().all(|s| *s == 401), "every guess was checked in turn: {statuses:?}");
}

#[tokio::test]
async fn m5_a_sign_in_that_cannot_get_a_password_slot_in_time_is_told_to_come_back() {
    let config = "[limits]\nrequests = \"off\"\ndoor = \"off\"\n\
                  [signin]\nfree_failures = 1000\nblock_after = 1001\naccount_free_failures = 100000\n\
                  [passwords]\nparallel = 1\nqueue_wait = \"0s\"\n";
    let porch = Porch::start_with_config(config, "127.0.0.1:0");
    let _owner = porch.owner().await;
    let mut tries = tokio::task::JoinSet::new();
    for n in 0..20u32 {
        let b = porch.browser_from(&format!("127.0.2.{}", n + 1));
        tries.spawn(async move { b.sign_in("stranger", "guess").await });
    }
    let mut busy = 0;
    while let Some(page) = tries.join_next().await {
        let page = page.expect("a sign-in");
        match page.status {
            401 => {}
            503 => {
                busy += 1;
                assert!(page.headers.contains_key("retry-after"), "{:?}", page.headers);
                assert!(page.body.contains("busy"), "{}", page.body);
            }
            other => panic!("unexpected {other}: {}", page.body),
        }
    }
    assert!(busy > 0, "with one slot and no wait, some of twenty sign-ins at once are turned away");
}

#[tokio::test]
async fn l6_a_typed_name_cannot_drive_the_owners_terminal() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let forged = "x\r\u{1b}[2K\u{1b}[1A\u{1b}[2K2026-01-01T00:00:00Z  signin.ok  Olivia\n";
    assert_eq!(porch.browser().sign_in(forged, "guess").await.status, 401);
    let audit = porch.audit();
    assert!(!audit.contains('\u{1b}') && !audit.contains('\r'), "{audit:?}");
    let line = audit.lines().find(|l| l.contains("signin.failed")).expect("audited");
    assert!(line.contains("\\u{1b}[2K") && line.contains("\\r"), "escaped, still readable: {line}");
    assert_eq!(audit.lines().filter(|l| l.contains("signin.ok")).count(), 0, "no forged line: {audit}");
}

#[tokio::test]
async fn l9_a_turned_off_account_answers_exactly_like_a_wrong_password() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let link = porch.invite(&[]);
    assert_eq!(porch.browser().join(&link, "Grandma", PASSWORD).await.status, 303);
    assert!(porch.cli(&["user", "disable", "Grandma"]).success);
    let right = porch.browser().sign_in("Grandma", PASSWORD).await;
    let wrong = porch.browser().sign_in("Grandma", "not the password").await;
    assert_eq!(right.status, wrong.status);
    let error = |body: &str| between(body, "class=\"error\"", "</").unwrap_or_default();
    assert_eq!(error(&right.body), error(&wrong.body));
    assert!(!right.body.contains("turned off"), "{}", right.body);
    assert!(porch.audit().contains("account disabled"), "the owner still sees why");
}

#[tokio::test]
async fn l10_the_data_folder_and_database_are_for_porch_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let porch = Porch::start();
    let owner = porch.owner().await;
    crate::photos::enter(&owner).await;
    let album = crate::photos::new_album(&owner, "Private").await;
    crate::photos::upload_ok(&owner, &album, "a.jpg", crate::photos::jpeg(64, 48, 9)).await;
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    let data = porch.data();
    assert_eq!(mode(&data), 0o700, "the data folder");
    for entry in walk(&data) {
        let m = mode(&entry);
        assert_eq!(m & 0o077, 0, "{} is {m:o}", entry.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[tokio::test]
async fn m8_an_install_cannot_take_over_an_app_by_naming_its_id() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    crate::photos::enter(&owner).await;
    let album = crate::photos::new_album(&owner, "Family").await;
    // An unrelated package, from another publisher, that says it is "photos".
    let manifest = std::fs::read_to_string(test_app("hello").join("app.toml")).expect("manifest");
    let manifest: String = manifest
        .lines()
        .map(|l| match l.split('=').next().map(str::trim) {
            Some("id") => "id = \"photos\"".to_owned(),
            Some("name") => "name = \"Recipes\"".to_owned(),
            Some("version") => "version = \"9.0.0\"".to_owned(),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = porch.app_variant("hello", "recipes", &manifest);
    let stranger = porch.author_key("stranger");
    let package = porch.pack(&dir, &stranger);
    let out = porch.install_package(&package);
    assert!(!out.success, "{}", out.stdout);
    assert!(out.stderr.contains("Photos") && out.stderr.contains("Recipes"), "names both: {}", out.stderr);
    assert!(out.stderr.contains("another publisher"), "{}", out.stderr);
    assert!(out.stderr.contains("porch app replace photos"), "{}", out.stderr);
    let list = porch.cli(&["app", "list"]).stdout;
    assert!(list.lines().any(|l| l.starts_with("photos") && l.contains("Photos")), "{list}");
    let still = owner.get(&crate::photos::app(&owner, &format!("/a/{album}"))).await;
    assert_eq!(still.status, 200, "Photos still serves its album");
    assert!(porch.audit().contains("app.install_refused"));
    // A replace that names another id changes nothing either.
    let path = package.to_str().expect("path");
    let wrong = porch.cli(&["app", "replace", "hello", path, "--keep-data", "--yes"]);
    assert!(!wrong.success && wrong.stderr.contains("this package's id is \"photos\""), "{}", wrong.stderr);
    // Replace must say what becomes of the old app's data.
    let unsaid = porch.cli(&["app", "replace", "photos", path, "--yes"]);
    assert!(!unsaid.success && unsaid.stderr.contains("--keep-data"), "{}", unsaid.stderr);
    // Only the explicit, named step replaces it, and the audit log says so.
    let replaced = porch.cli(&["app", "replace", "photos", path, "--keep-data", "--yes"]);
    assert!(replaced.success, "{}", replaced.stderr);
    assert!(porch.audit().contains("app.replaced"));
}

#[tokio::test]
async fn l8_two_owners_disabling_each_other_at_once_leave_one_owner() {
    let porch = Porch::start();
    let first = porch.owner().await;
    let link = porch.invite(&["--role", "owner"]);
    let second = porch.browser();
    assert_eq!(second.join(&link, "Second Owner", PASSWORD).await.status, 303);
    let id_of = |name: &str| -> String {
        let out = porch.cli(&["user", "list"]).stdout;
        let line = out.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name} in {out}"));
        line.split_whitespace().next().expect("id").to_owned()
    };
    let (first_id, second_id) = (id_of(OWNER), id_of("Second Owner"));
    for round in 0..5 {
        let (a, b) = (first.get("/admin/people").await.csrf(), second.get("/admin/people").await.csrf());
        let disable = |who: &Browser, id: &str, csrf: String| {
            let (who, path) = (who.clone(), format!("/admin/people/{id}/disable"));
            async move { who.post(&path, &[("csrf", csrf.as_str())]).await.status }
        };
        let (x, y) = tokio::join!(disable(&first, &second_id, a), disable(&second, &first_id, b));
        let active =
            porch.cli(&["user", "list"]).stdout.lines().filter(|l| l.contains("owner") && l.contains("active")).count();
        assert_eq!(active, 1, "round {round}: statuses {x} and {y} left {active} active owners");
        for name in [OWNER, "Second Owner"] {
            assert!(porch.cli(&["user", "enable", name]).success);
        }
        // Both sign in again (disabling ended their sessions).
        for (b, name) in [(&first, OWNER), (&second, "Second Owner")] {
            if !b.signed_in().await {
                assert_eq!(b.sign_in(name, PASSWORD).await.status, 303);
            }
        }
    }
}

#[tokio::test]
async fn l2_an_app_cannot_set_cookies_for_the_whole_domain_or_clear_them() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    porch.install_and_open(&owner, "hostile", "victim").await;
    let page = owner.get(&owner.app_url("hostile", "/cookies")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let cookies: Vec<&str> = page.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(cookies, ["mine=1; Path=/; HttpOnly"], "only the app's own host-only cookie passes");
    assert!(page.headers.get("clear-site-data").is_none());
    assert!(owner.signed_in().await, "porch's own sign-in is untouched");
}

#[tokio::test]
async fn l9_a_password_change_needs_the_old_one_and_signs_out_every_other_device() {
    let porch = Porch::start();
    let here = porch.owner().await;
    let phone = porch.browser();
    assert_eq!(phone.sign_in(OWNER, PASSWORD).await.status, 303);
    let new = "a brand new long secret";
    let wrong = here
        .submit("/account", "/account/password", &[("current", "not it"), ("password", new), ("confirm", new)])
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(wrong.body.contains("current password is not right"), "{}", wrong.body);
    let short = here
        .submit("/account", "/account/password", &[("current", PASSWORD), ("password", "short"), ("confirm", "short")])
        .await;
    assert_eq!(short.status, 422);
    assert!(phone.signed_in().await, "nothing changed yet");
    let done = here
        .submit("/account", "/account/password", &[("current", PASSWORD), ("password", new), ("confirm", new)])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(here.signed_in().await, "this browser stays signed in");
    assert!(!phone.signed_in().await, "every other session ended");
    assert_eq!(porch.browser().sign_in(OWNER, PASSWORD).await.status, 401, "the old password is gone");
    assert_eq!(porch.browser().sign_in(OWNER, new).await.status, 303);
    let audit = porch.audit();
    assert!(audit.contains("password.changed") && audit.contains("password.change_refused"), "{audit}");
}

#[tokio::test]
async fn l9_sign_out_everywhere_ends_every_session_and_forgets_every_device() {
    let porch = Porch::start();
    let here = porch.owner().await;
    let phone = porch.browser();
    assert_eq!(phone.sign_in(OWNER, PASSWORD).await.status, 303);
    let devices = |body: &str| between(body, "id=\"devices\"", "</ul>").unwrap_or_default().matches("<li>").count();
    assert_eq!(devices(&here.get("/account").await.body), 2, "the computer and the phone are known devices");
    let out = here.submit("/account", "/account/signout-everywhere", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/signin"));
    assert!(!here.signed_in().await && !phone.signed_in().await);
    assert_eq!(here.sign_in(OWNER, PASSWORD).await.status, 303);
    let page = here.get("/account").await;
    assert_eq!(devices(&page.body), 1, "only the device that just signed in: {}", page.body);
    // And one can be forgotten by hand.
    let id = between(&page.body, "/account/devices/", "/forget").expect("a forget button");
    let forgot = here.submit("/account", &format!("/account/devices/{id}/forget"), &[]).await;
    assert_eq!(forgot.status, 303);
    assert_eq!(devices(&here.get("/account").await.body), 0);
}

/// Opens a connection from `from` and starts a form post whose body then
/// arrives one byte every `every`; returns the status porch answers with.
async fn trickle(port: u16, from: &str, every: Duration) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(format!("{from}:0").parse().ok()?).ok()?;
    let mut tcp = socket.connect(([127, 0, 0, 1], port).into()).await.ok()?;
    let head = format!(
        "POST /signin HTTP/1.1\r\nhost: localhost:{port}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: 60000\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    for _ in 0..60 {
        if tcp.write_all(b"a").await.is_err() {
            break;
        }
        match tokio::time::timeout(every, tcp.read_buf(&mut answer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) if answer.len() >= 12 => break,
            _ => {}
        }
    }
    std::str::from_utf8(answer.get(9..12)?).ok()?.parse().ok()
}

#[tokio::test]
async fn m4_trickled_form_bodies_cannot_hold_every_place_in_flight() {
    let config = "[limits]\nrequests = \"off\"\ndoor = \"off\"\nin_flight = 8\nin_flight_per_client = 4\n\
                  form_time = \"3s\"\nidle_timeout = \"60s\"\n";
    let porch = Porch::start_with_config(config, "127.0.0.1:0");
    let _owner = porch.owner().await;
    let port = porch.port();
    let started = std::time::Instant::now();
    let mut stranger = tokio::task::JoinSet::new();
    for _ in 0..12 {
        stranger.spawn(trickle(port, "127.0.0.7", Duration::from_millis(400)));
    }
    // While the stranger trickles, a relative elsewhere is still served.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let relative = porch.browser_from("127.0.0.8");
    for _ in 0..3 {
        let page = relative.get("/signin").await;
        assert_eq!(page.status, 200, "the stranger must not hold every place: {}", page.body);
        let tried = relative.sign_in(OWNER, PASSWORD).await;
        assert_eq!(tried.status, 303, "{}", tried.body);
        relative.submit("/account", "/signout", &[]).await;
    }
    let mut statuses = Vec::new();
    while let Some(status) = stranger.join_next().await {
        statuses.push(status.expect("trickle"));
    }
    let took = started.elapsed();
    eprintln!("m4: trickled posts were answered {statuses:?} within {took:?}");
    // Four held places get 408 after form_time; the rest were refused at once.
    assert_eq!(statuses.iter().filter(|s| **s == Some(408)).count(), 4, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == Some(503)).count(), 8, "{statuses:?}");
    assert!(took < Duration::from_secs(15), "nobody held a place for long: {took:?}");
}

#[tokio::test]
async fn m9_an_app_cannot_hold_open_files_without_bound() {
    let porch = Arc::new(Porch::start());
    let owner = porch.owner().await;
    porch.install_and_open(&owner, "hostile", "victim").await;
    let baseline = porch.open_files();
    let peak = Peak::watch(porch.clone(), Porch::open_files);
    let page = owner.get(&owner.app_url("hostile", "/writers")).await;
    let peak = peak.stop();
    assert_eq!(page.status, 200, "{}", page.body);
    let accepted: u32 = page.body.trim_start_matches("writers accepted: ").trim().parse().expect("a count");
    let grew = peak.saturating_sub(baseline);
    eprintln!("m9: {accepted} of 2000 writers accepted; porch's open files grew by {grew}");
    assert!(accepted <= 32, "at most 32 writers at once: {accepted}");
    assert!(grew < 100, "open files grew by {grew}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(porch.open_files() <= baseline + 8, "the temporary files are closed after the request");
}

#[tokio::test]
async fn l1_a_ticket_minted_in_one_browser_does_not_sign_in_another() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    assert!(porch.install("echo").success);
    let link = porch.invite(&["--app", "echo:viewer"]);
    let mallory = porch.browser();
    assert_eq!(mallory.join(&link, "Mallory", PASSWORD).await.status, 303);
    let grandma = porch.browser();
    assert_eq!(grandma.sign_in(OWNER, PASSWORD).await.status, 303);
    porch.grant(OWNER, "echo:viewer");
    // Mallory starts a handshake and stops at the ticket.
    let start = mallory.get(&mallory.app_url("echo", "/")).await;
    let enter = mallory.get(start.location.as_deref().expect("to enter")).await;
    let ticket = enter.location.expect("a ticket for Mallory");
    // Grandma opens the link Mallory sent: she is not signed in as Mallory.
    let landed = grandma.get(&ticket).await;
    assert_eq!(landed.status, 400, "{}", landed.body);
    assert!(landed.body.contains("another browser"), "{}", landed.body);
    let who = grandma.follow(&grandma.app_url("echo", "/")).await;
    assert!(who.body.contains("porch-user-name: Olivia%20Owner"), "Grandma is herself: {}", who.body);
    assert!(porch.audit().contains("app.ticket_refused"));
    // And the middle step is not served on an app host at all.
    let on_app = grandma.get(&grandma.app_url("echo", "/.porch/enter?app=echo")).await;
    assert_eq!(on_app.status, 404);
}

#[tokio::test]
async fn info_an_invite_grants_only_roles_an_installed_app_declares() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let bad_role = porch.cli(&["invite", "create", "--app", "photos:admin"]);
    assert!(!bad_role.success && bad_role.stderr.contains("viewer, contributor, editor"), "{}", bad_role.stderr);
    let no_app = porch.cli(&["invite", "create", "--app", "recipes:cook"]);
    assert!(!no_app.success && no_app.stderr.contains("porch app list"), "{}", no_app.stderr);
    assert!(porch.cli(&["invite", "create", "--app", "photos:viewer"]).success);
}

#[tokio::test]
async fn info_the_metrics_listener_answers_only_to_local_names() {
    let porch = Porch::start();
    let metrics = porch.metrics_url();
    // Alone (as nextest runs it) no other test has chosen rustls's provider.
    crate::util::install_crypto();
    let client = reqwest::Client::new();
    let ok = client.get(&metrics).send().await.expect("metrics");
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.headers().get("x-content-type-options").map(|v| v.as_bytes()), Some(&b"nosniff"[..]));
    let rebound = client.get(&metrics).header("host", "attacker.example:9465").send().await.expect("metrics");
    assert_eq!(rebound.status().as_u16(), 421, "a DNS-rebinding page gets nothing");
}

#[tokio::test]
async fn h1_audit_events_older_than_audit_keep_are_deleted() {
    use sqlx::Connection as _;
    use std::str::FromStr as _;
    let dir = tempfile::TempDir::new().expect("tmp");
    std::fs::write(dir.path().join("porch.toml"), "[audit]\nkeep = \"30d\"\n").expect("config");
    let data = dir.path().join("data");
    porch::store::Store::open(&data).await.expect("schema").close().await;
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://").expect("options").filename(data.join("porch.sqlite"));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("db");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    for (at, action) in [(now - 31 * 86400, "old.event"), (now - 29 * 86400, "recent.event")] {
        sqlx::query("INSERT INTO audit_events (at, action, subject, detail) VALUES (?, ?, '', '')")
            .bind(at)
            .bind(action)
            .execute(&mut conn)
            .await
            .expect("insert");
    }
    conn.close().await.expect("close");
    let porch = Porch::start_in(dir);
    // The sweep runs at start, then hourly.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while porch.audit().contains("old.event") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let audit = porch.audit();
    assert!(!audit.contains("old.event"), "older than audit.keep: deleted");
    assert!(audit.contains("recent.event"), "younger: kept");
}

#[tokio::test]
async fn lost_retry_uploads_cut_off_by_a_crash_are_stored_when_sent_again() {
    // Not in the review, found by a crash test: SIGKILL while 20 uploads are
    // in flight, restart, and send the cut-off files again, as a relative
    // whose uploads failed would. Some retries were answered "already in
    // this album" for files porch never stored.
    let mut porch = Porch::start();
    let owner = porch.owner().await;
    crate::photos::enter(&owner).await;
    let album = crate::photos::new_album(&owner, "Crash").await;
    let files: Vec<Vec<u8>> = (0..20u8).map(|i| crate::photos::jpeg(1200, 900, i * 12)).collect();
    let url = crate::photos::app(&owner, &format!("/a/{album}/upload?name=p.jpg"));
    let mut uploads = tokio::task::JoinSet::new();
    for bytes in files.clone() {
        let (b, url) = (owner.clone(), url.clone());
        uploads.spawn(async move { b.try_post_bytes(&url, bytes).await.map(|p| p.status) });
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    porch.crash_and_restart();
    let mut before = Vec::new();
    while let Some(done) = uploads.join_next().await {
        before.push(done.expect("an upload task"));
    }
    eprintln!("lost retry: answers before the crash {before:?}");
    for (i, bytes) in files.iter().enumerate() {
        let (status, reply) = crate::photos::upload(&owner, &album, "p.jpg", bytes.clone()).await;
        assert_eq!(status, 200, "file {i}: {reply}");
        let id = reply["id"].as_str().unwrap_or_default().to_owned();
        assert!(!id.is_empty(), "file {i}: success names the photo: {reply}");
        let original = owner.get_bytes(&crate::photos::app(&owner, &format!("/a/{album}/p/{id}/original"))).await;
        assert_eq!(&original, bytes, "file {i} ({reply}) is really there, byte for byte");
    }
}
