//! The `outbound` capability (issue 23): an app reaches only the hosts its
//! app.toml lists, never a private, loopback or link-local address (unless
//! the owner lists that network), never with a Host header of its own, and
//! within its request and byte budget. The hostile test app asks; a real
//! HTTP server on loopback answers and counts what actually reached it.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};

use crate::util::{Browser, OWNER, Porch};

/// A small web site on loopback that remembers the Host header of every
/// request that reached it.
struct Site {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Site {
    async fn start() -> Site {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/hello", axum::routing::get(hello))
            .route("/redirect", axum::routing::get(redirect))
            .route("/big", axum::routing::get(|| async { "x".repeat(200 * 1024) }))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Site { port, seen }
    }

    /// Host headers of the requests that reached `/hello`.
    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn hello(State(seen): State<Arc<Mutex<Vec<String>>>>, headers: HeaderMap) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
    seen.lock().expect("lock").push(host.clone());
    format!("hello, Host={host}")
}

#[derive(serde::Deserialize)]
struct To {
    to: String,
}

async fn redirect(Query(to): Query<To>) -> impl IntoResponse {
    Redirect::temporary(&to.to)
}

/// The hostile app with `[capabilities.outbound]` as `outbound` says,
/// signed by an author and installed; the owner may use it.
async fn hostile_calling(porch: &Porch, outbound: &str) -> Browser {
    let manifest = format!(
        "id = \"hostile\"\nname = \"Hostile\"\nversion = \"0.2.0\"\ncomponent = \"hostile.wasm\"\nroles = [\"victim\"]\n\
         [capabilities]\nkv = {{ quota = \"64KiB\" }}\nblobs = {{ quota = \"1MiB\" }}\npeople = true\nmedia = true\n\
         [capabilities.outbound]\n{outbound}\n[limits]\ntime = \"10s\"\n"
    );
    let owner = porch.owner().await;
    let key = porch.author_key("caller");
    let package = porch.pack(&porch.app_variant("hostile", "calling", &manifest), &key);
    let shown = porch.cli(&["app", "inspect", package.to_str().expect("path")]);
    assert!(shown.stdout.contains("outbound: sends requests to"), "install shows the hosts: {}", shown.stdout);
    let out = porch.install_package(&package);
    assert!(out.success, "{}", out.stderr);
    porch.grant(OWNER, "hostile:victim");
    owner
}

async fn fetch(owner: &Browser, how: &str, url: &str) -> String {
    let page = owner.follow(&owner.app_url("hostile", &format!("/fetch{how}?{url}"))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
}

#[tokio::test]
async fn apps_reach_only_the_listed_hosts_within_their_budget() {
    let site = Site::start().await;
    let port = site.port;
    // The site is on loopback, so this porch's owner allows that network,
    // as one would for a device at home.
    let porch = Porch::start_with_config("[apps]\noutbound_lan = \"127.0.0.0/8\"\n", "127.0.0.1:0");
    let listed = format!("localhost:{port}");
    let owner = hostile_calling(&porch, &format!("hosts = [\"{listed}\"]\nrequests = 2\nbytes = \"64KiB\"")).await;

    // A listed host answers, and it saw its own name as Host.
    let ok = fetch(&owner, "", &format!("http://{listed}/hello")).await;
    assert!(ok.starts_with(&format!("status 200 from http://{listed}/hello: hello, Host={listed}")), "{ok}");

    // The app cannot name another Host (Spin's CVE-2024-32980): either the
    // request is refused or the site sees the checked one.
    let posing = fetch(&owner, "-host", &format!("http://{listed}/hello")).await;
    assert!(posing.starts_with("refused: ") || posing.contains(&format!("Host={listed}")), "{posing}");
    assert!(site.seen().iter().all(|h| *h == listed), "the site saw only the listed Host: {:?}", site.seen());

    // The same server under a name the manifest does not list: refused
    // before anything is sent.
    let before = site.seen().len();
    let other = fetch(&owner, "", &format!("http://127.0.0.1:{port}/hello")).await;
    assert!(other.contains("refused: ") && other.contains("not one of the hosts in its app.toml"), "{other}");
    let other_port = fetch(&owner, "", "http://localhost:1/hello").await;
    assert!(other_port.contains("not one of the hosts"), "{other_port}");

    // A redirect from the listed host to an unlisted one is refused; a
    // redirect within the listed host is followed.
    let away = format!("http://{listed}/redirect?to=http://127.0.0.1:{port}/hello");
    let refused = fetch(&owner, "", &away).await;
    assert!(refused.contains("not one of the hosts"), "{refused}");
    assert_eq!(site.seen().len(), before, "nothing unlisted reached the site: {:?}", site.seen());
    let within = fetch(&owner, "", &format!("http://{listed}/redirect?to=/hello")).await;
    assert!(within.contains("status 200") && within.contains("hello, Host="), "{within}");

    // Two requests per visit: the third is refused.
    let three = fetch(&owner, "-3", &format!("http://{listed}/hello")).await;
    let lines: Vec<&str> = three.lines().collect();
    assert_eq!(lines.len(), 3, "{three}");
    assert!(lines[0].starts_with("status 200") && lines[1].starts_with("status 200"), "{three}");
    assert!(lines[2].contains("as many requests as its app.toml allows"), "{three}");

    // 200 KiB is more than the 64 KiB budget.
    let big = fetch(&owner, "", &format!("http://{listed}/big")).await;
    assert!(big.contains("refused: ") && big.contains("larger than this app's app.toml allows"), "{big}");
}

#[tokio::test]
async fn private_loopback_and_link_local_addresses_are_refused_after_resolution() {
    let site = Site::start().await;
    let port = site.port;
    let porch = Porch::start();
    // Listed and approved, yet each is (or resolves to) an address apps may
    // never reach by default: `localhost` is a name that resolves to
    // loopback, the others are loopback, link-local (the cloud metadata
    // address) and IPv4-mapped loopback.
    let hosts = [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        "169.254.169.254".to_owned(),
    ];
    let list = hosts.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ");
    let owner = hostile_calling(&porch, &format!("hosts = [{list}]\nrequests = 8")).await;
    for host in &hosts {
        let said = fetch(&owner, "", &format!("http://{host}/hello")).await;
        assert!(said.contains("its address is private, loopback or link-local"), "{host}: {said}");
    }
    assert!(site.seen().is_empty(), "nothing reached the site: {:?}", site.seen());

    // An update that lists one more host says so before it is installed.
    let manifest = std::fs::read_to_string(porch.dir().join("variant-calling/app.toml")).expect("manifest");
    let more = manifest.replace("0.2.0", "0.3.0").replace("hosts = [", "hosts = [\"api.example.org\", ");
    let dir = porch.app_variant("hostile", "calling-more", &more);
    let package = porch.pack(&dir, &porch.dir().join("caller.key"));
    let out = porch.install_package(&package);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("It asks for more than 0.2.0 did:\n    - NEW: outbound: sends requests to api.example.org,"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn https_hosts_must_show_a_certificate_the_system_trusts() {
    crate::util::install_crypto();
    // A TLS server on loopback with a certificate for "localhost" that no
    // authority signed.
    let key = rcgen::KeyPair::generate().expect("key");
    let cert =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params").self_signed(&key).expect("cert");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der"),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handshakes = Arc::new(Mutex::new(Vec::new()));
    let seen = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let result = acceptor.accept(tcp).await.map(|_| ()).map_err(|e| e.to_string());
            seen.lock().expect("lock").push(result);
        }
    });
    let porch = Porch::start_with_config("[apps]\noutbound_lan = \"127.0.0.0/8\"\n", "127.0.0.1:0");
    let owner = hostile_calling(&porch, &format!("hosts = [\"localhost:{port}\"]")).await;
    let said = fetch(&owner, "", &format!("https://localhost:{port}/hello")).await;
    assert!(said.contains("did not show a certificate porch trusts"), "{said}");
    let handshakes = handshakes.lock().expect("lock").clone();
    assert!(!handshakes.is_empty() && handshakes.iter().all(Result::is_err), "{handshakes:?}");
}

#[tokio::test]
async fn an_app_that_did_not_declare_outbound_sends_nothing() {
    let site = Site::start().await;
    let porch = Porch::start_with_config("[apps]\noutbound_lan = \"127.0.0.0/8\"\n", "127.0.0.1:0");
    let owner = porch.owner().await;
    porch.install_and_open(&owner, "hostile", "victim").await;
    let said = fetch(&owner, "", &format!("http://localhost:{}/hello", site.port)).await;
    assert!(said.contains("refused: "), "{said}");
    assert!(site.seen().is_empty(), "nothing reached the site: {:?}", site.seen());
}
