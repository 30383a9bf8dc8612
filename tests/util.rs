//! Shared test helpers: [`Porch`] runs the real binary on an ephemeral port
//! with its own temporary data folder; [`Browser`] is an HTTP client with a
//! cookie jar that posts forms the way a browser on porch's pages does.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const OWNER: &str = "Olivia Owner";
pub const PASSWORD: &str = "correct horse battery";

/// A running `porch serve` and its data folder.
pub struct Porch {
    child: Option<Child>,
    dir: TempDir,
    /// e.g. `http://localhost:40123`
    pub url: String,
    /// The owner setup link printed at start-up, if one was.
    pub setup_link: Option<String>,
    /// Every line the server printed on standard output.
    pub stdout: Vec<String>,
}

impl Porch {
    /// Starts porch on a fresh data folder.
    pub fn start() -> Porch {
        Porch::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Porch {
        let dir = TempDir::new().expect("temp dir");
        let mut porch = Porch { child: None, dir, url: String::new(), setup_link: None, stdout: Vec::new() };
        porch.spawn(extra, "127.0.0.1:0");
        porch
    }

    /// Starts porch with `porch.toml` holding `config`, listening on `listen`.
    pub fn start_with_config(config: &str, listen: &str) -> Porch {
        let dir = TempDir::new().expect("temp dir");
        std::fs::write(dir.path().join("porch.toml"), config).expect("write porch.toml");
        let mut porch = Porch { child: None, dir, url: String::new(), setup_link: None, stdout: Vec::new() };
        porch.spawn(&[], listen);
        porch
    }

    /// Starts porch on a folder prepared beforehand (its `data/` restored
    /// from a backup, or made by an older schema).
    pub fn start_in(dir: TempDir) -> Porch {
        let mut porch = Porch { child: None, dir, url: String::new(), setup_link: None, stdout: Vec::new() };
        porch.spawn(&[], "127.0.0.1:0");
        porch
    }

    /// Kills porch with SIGKILL, as a power cut or the OOM killer would,
    /// then starts it again on the same data folder and port.
    pub fn crash_and_restart(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let port = self.url.rsplit(':').next().expect("port").to_owned();
        self.stdout.clear();
        self.spawn(&[], &format!("127.0.0.1:{port}"));
    }

    /// The metrics listener's address, from what porch printed.
    pub fn metrics_url(&self) -> String {
        let line = self.stdout.iter().find_map(|l| l.strip_prefix("Metrics: ")).expect("porch printed its metrics URL");
        line.trim().to_owned()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self, extra: &[&str], listen: &str) {
        let data = self.data();
        let mut child = Command::new(env!("CARGO_BIN_EXE_porch"))
            .arg("serve")
            .arg("--data")
            .arg(&data)
            .args(["--listen", listen])
            .args(extra)
            .current_dir(self.dir.path())
            .env("RUST_LOG", "warn")
            // Every test porch gets its own metrics port.
            .env("PORCH_METRICS_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start porch");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.child = Some(child);
        self.setup_link = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line =
                rx.recv_timeout(left).unwrap_or_else(|_| panic!("porch did not start; it printed {:?}", self.stdout));
            self.stdout.push(line.clone());
            if let Some(link) = line.strip_prefix("Owner setup link: ") {
                self.setup_link = Some(link.to_owned());
            }
            if let Some(rest) = line.strip_prefix("porch is serving ") {
                self.url = rest.split_whitespace().next().expect("url").to_owned();
                break;
            }
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "porch did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops (cleanly) and starts again on the same data folder and port,
    /// as a real restart would.
    pub fn restart(&mut self) {
        self.restart_after(|_| {});
    }

    /// Stops porch cleanly, runs `meanwhile` on its data folder (porch is
    /// down), and starts it again on the same port.
    pub fn restart_after(&mut self, meanwhile: impl FnOnce(&Path)) {
        let status = self.stop();
        assert!(status.success(), "porch exited with {status}");
        meanwhile(&self.data());
        let port = self.url.rsplit(':').next().expect("port").to_owned();
        self.spawn(&[], &format!("127.0.0.1:{port}"));
    }

    /// Runs a porch CLI command on this server's data folder.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let out = Command::new(env!("CARGO_BIN_EXE_porch"))
            .args(args)
            .arg("--data")
            .arg(self.data())
            .current_dir(self.dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run porch");
        CliOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `porch invite create ARGS`, returning the link (its last line).
    pub fn invite(&self, args: &[&str]) -> String {
        let mut all = vec!["invite", "create"];
        all.extend_from_slice(args);
        let out = self.cli(&all);
        assert!(out.success, "invite create failed: {}", out.stderr);
        out.stdout.lines().last().expect("a link").to_owned()
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.url, DESKTOP)
    }

    /// A browser signed in as the owner, who joined through the setup link.
    pub async fn owner(&self) -> Browser {
        self.owner_with(self.browser()).await
    }

    /// Signs `b` in as the owner through the setup link.
    pub async fn owner_with(&self, b: Browser) -> Browser {
        let link = self.setup_link.clone().expect("a fresh porch prints an owner setup link");
        let page = b.join(&link, OWNER, PASSWORD).await;
        assert_eq!(page.status, 303, "owner could not join: {}", page.body);
        b
    }

    /// `porch app grant PERSON APP:ROLE`.
    pub fn grant(&self, person: &str, grant: &str) {
        let out = self.cli(&["app", "grant", person, grant]);
        assert!(out.success, "grant failed: {}", out.stderr);
    }

    /// `porch app install --yes` of a test app built from plugins/test-apps
    /// (packed and signed with porch's build key by build.rs).
    pub fn install(&self, name: &str) -> CliOutput {
        self.install_package(&test_package(name))
    }

    /// `porch app install --yes PACKAGE`.
    pub fn install_package(&self, package: &Path) -> CliOutput {
        self.cli(&["app", "install", package.to_str().expect("utf-8 path"), "--yes"])
    }

    /// A new publisher key in this porch's temp folder, as an author makes
    /// one (`porch app keygen`).
    pub fn author_key(&self, name: &str) -> PathBuf {
        let key = self.dir().join(format!("{name}.key"));
        let out = self.cli(&["app", "keygen", "--out", key.to_str().expect("utf-8 path")]);
        assert!(out.success, "keygen failed: {}", out.stderr);
        key
    }

    /// `porch app pack DIR --key KEY` into this porch's temp folder; the
    /// package's path.
    pub fn pack(&self, dir: &Path, key: &Path) -> PathBuf {
        let out = self.cli(&[
            "app",
            "pack",
            dir.to_str().expect("utf-8 path"),
            "--key",
            key.to_str().expect("utf-8 path"),
            "--out",
            self.dir().to_str().expect("utf-8 path"),
        ]);
        assert!(out.success, "pack failed: {}", out.stderr);
        let name = out.stdout.split_whitespace().nth(1).expect("packed path").trim_end_matches(',');
        PathBuf::from(name)
    }

    /// A copy of test app `name`'s folder with its manifest replaced, in
    /// this porch's temp folder, ready to pack.
    pub fn app_variant(&self, name: &str, folder: &str, manifest: &str) -> PathBuf {
        let dir = self.dir().join(format!("variant-{folder}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let wasm = format!("{name}.wasm");
        let into = manifest.lines().find_map(|l| l.strip_prefix("component = ")).map(|c| c.trim_matches('"'));
        std::fs::copy(test_app(name).join(&wasm), dir.join(into.unwrap_or(&wasm))).expect("copy");
        std::fs::write(dir.join("app.toml"), manifest).expect("manifest");
        dir
    }

    /// Installs the test app `app`, gives the owner `role` in it and opens it
    /// once as `owner`, so they hold an app session for it; the app's page.
    pub async fn install_and_open(&self, owner: &Browser, app: &str, role: &str) -> Page {
        let out = self.install(app);
        assert!(out.success, "{}", out.stderr);
        self.grant(OWNER, &format!("{app}:{role}"));
        owner.follow(&owner.app_url(app, "/")).await
    }

    /// porch's resident memory now, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().expect("running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .expect("VmRSS")
    }

    /// How many files porch has open now (Linux).
    pub fn open_files(&self) -> u64 {
        let pid = self.child.as_ref().expect("running").id();
        std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
    }

    /// The port porch's main listener is on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
    }

    /// A browser whose connections come from `ip` (any 127.x address works
    /// on Linux loopback), as a different client would.
    pub fn browser_from(&self, ip: &str) -> Browser {
        Browser::build(&self.url, DESKTOP, None, Some(ip.parse().expect("ip")), false)
    }

    /// The audit log as printed by `porch audit`.
    pub fn audit(&self) -> String {
        let out = self.cli(&["audit", "--limit", "1000"]);
        assert!(out.success, "{}", out.stderr);
        out.stdout
    }
}

/// Watches one of porch's numbers (resident memory, open files) on its own
/// thread every few milliseconds while a test runs an attack, and keeps the
/// highest value seen.
pub struct Peak {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Peak {
    pub fn watch(porch: std::sync::Arc<Porch>, measure: fn(&Porch) -> u64) -> Peak {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let peak = std::sync::Arc::new(AtomicU64::new(measure(&porch)));
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let (p, d) = (peak.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            while !d.load(Ordering::SeqCst) {
                p.fetch_max(measure(&porch), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Peak { peak, done, thread: Some(thread) }
    }

    /// Stops watching; the highest value seen.
    pub fn stop(mut self) -> u64 {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the watching thread");
        }
        self.peak.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Porch {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct CliOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        between(&self.body, "name=\"csrf\" value=\"", "\"").unwrap_or_else(|| panic!("no csrf token in {}", self.body))
    }
}

/// Text between two markers, with HTML entities for `/` and `&` undone.
pub fn between(haystack: &str, start: &str, end: &str) -> Option<String> {
    let from = haystack.find(start)? + start.len();
    let len = haystack[from..].find(end)?;
    Some(unescape(&haystack[from..from + len]))
}

pub fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/").replace("&#x3d;", "=").replace("&amp;", "&").replace("&quot;", "\"").replace("&#x27;", "'")
}

/// An HTTP client with its own cookie jar that does not follow redirects.
/// Clones share the jar (the same person in several tabs).
#[derive(Clone)]
pub struct Browser {
    client: reqwest::Client,
    pub base: String,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
    user_agent: String,
    root: Option<Vec<u8>>,
}

pub const DESKTOP: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

/// App hosts tests visit. Browsers resolve `*.localhost` to loopback by
/// themselves; reqwest asks the system resolver, so these are pinned.
pub const APP_HOSTS: &[&str] = &[
    "hello", "echo", "hostile", "snoop", "broken", "nope", "photos", "files", "notes", "flaky", "jotter", "ticker",
    "sleeper", "looper",
];

impl Browser {
    pub fn new(base: &str, user_agent: &str) -> Browser {
        Browser::with_root(base, user_agent, None)
    }

    /// A browser for an HTTPS porch that trusts only `root` (PEM). porch's
    /// domain and its app hosts all resolve to loopback.
    pub fn with_root(base: &str, user_agent: &str, root: Option<&[u8]>) -> Browser {
        Browser::build(base, user_agent, root, None, false)
    }

    /// The same browser (cookies and all) sending every request through
    /// the HTTP proxy at `proxy`, as a browser set to use one does.
    pub fn via_proxy(&self, proxy: &str) -> Browser {
        let proxy = reqwest::Proxy::all(proxy).expect("proxy url");
        Browser::make(&self.base, &self.user_agent, self.root.as_deref(), None, false, self.jar.clone(), Some(proxy))
    }

    /// A browser for an HTTPS porch that speaks only HTTP/2 and, like a real
    /// browser, sends every request to a host over one connection.
    pub fn http2_only(base: &str, root: &[u8]) -> Browser {
        Browser::build(base, DESKTOP, Some(root), None, true)
    }

    fn build(
        base: &str,
        user_agent: &str,
        root: Option<&[u8]>,
        from: Option<std::net::IpAddr>,
        http2: bool,
    ) -> Browser {
        Browser::make(base, user_agent, root, from, http2, std::sync::Arc::default(), None)
    }

    fn make(
        base: &str,
        user_agent: &str,
        root: Option<&[u8]>,
        from: Option<std::net::IpAddr>,
        http2: bool,
        jar: std::sync::Arc<reqwest::cookie::Jar>,
        proxy: Option<reqwest::Proxy>,
    ) -> Browser {
        install_crypto();
        let url = url::Url::parse(base).expect("base url");
        let host = url.host_str().expect("host").to_owned();
        let port = url.port_or_known_default().expect("port");
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut builder = reqwest::Client::builder().resolve(&host, loopback);
        for app in APP_HOSTS {
            builder = builder.resolve(&format!("{app}.{host}"), loopback);
        }
        if let Some(root) = root {
            builder = builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(root).expect("root PEM"));
        }
        if http2 {
            builder = builder.http2_prior_knowledge();
        } else {
            // A fresh connection per request: a restarted server must not
            // meet a keep-alive connection its predecessor closed.
            builder = builder.pool_max_idle_per_host(0);
        }
        if let Some(proxy) = proxy {
            builder = builder.proxy(proxy);
        }
        let client = builder
            .local_address(from)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(user_agent)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Browser {
            client,
            base: base.to_owned(),
            jar,
            user_agent: user_agent.to_owned(),
            root: root.map(<[u8]>::to_vec),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{}", self.base, path) }
    }

    pub async fn get(&self, path: &str) -> Page {
        read(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    /// GETs `url` and follows redirects (at most ten), as a browser would.
    pub async fn follow(&self, url: &str) -> Page {
        let mut url = self.url(url);
        for _ in 0..10 {
            let page = self.get(&url).await;
            match (&page.status, &page.location) {
                (301 | 302 | 303 | 307 | 308, Some(next)) => {
                    url = if next.starts_with('/') {
                        let origin: String = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
                        format!("{origin}{next}")
                    } else {
                        next.clone()
                    };
                }
                _ => return page,
            }
        }
        panic!("too many redirects from {url}");
    }

    /// The origin of an app on this porch: `http://hello.localhost:PORT`.
    pub fn app_url(&self, app: &str, path: &str) -> String {
        format!("{}{path}", self.base.replacen("://", &format!("://{app}."), 1))
    }

    pub async fn get_with_host(&self, path: &str, host: &str) -> Page {
        read(self.client.get(self.url(path)).header("host", host).send().await.expect("GET")).await
    }

    /// Posts a form from porch's own origin, as a browser on its pages would.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from(path, form, Some(&self.base.clone())).await
    }

    /// Posts a form with the given Origin header (None: no Origin at all).
    pub async fn post_from(&self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> Page {
        let mut req = self.client.post(self.url(path)).form(form);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        read(req.send().await.expect("POST")).await
    }

    /// Posts a form from porch's own origin with extra headers.
    pub async fn post_with_headers(&self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut req = self.client.post(self.url(path)).form(form).header("origin", self.base.clone());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send().await.expect("POST")).await
    }

    pub async fn get_with_headers(&self, url: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self.client.get(self.url(url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send().await.expect("GET")).await
    }

    /// Any request, with `headers` and `body`; `None` when the connection
    /// breaks before an answer (a proxy that cut it).
    pub async fn send(&self, method: &str, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Option<Page> {
        let verb = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(verb, self.url(url)).body(body);
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        match req.send().await {
            Ok(response) => Some(read(response).await),
            Err(e) => {
                eprintln!("{method} {url}: no answer: {e:?}");
                None
            }
        }
    }

    pub async fn post_bytes(&self, url: &str, body: Vec<u8>) -> Page {
        read(self.client.post(self.url(url)).body(body).send().await.expect("POST")).await
    }

    /// POSTs `body` as the apps' upload scripts do: the file as the body,
    /// asking for a JSON answer (so refusals come back as JSON too).
    pub async fn post_upload(&self, url: &str, body: Vec<u8>) -> Page {
        let request = self.client.post(self.url(url)).header("accept", "application/json").body(body);
        read(request.send().await.expect("POST")).await
    }

    /// Like `post_bytes`, but a connection that breaks (a server killed
    /// mid-request) is `None` rather than a panic.
    pub async fn try_post_bytes(&self, url: &str, body: Vec<u8>) -> Option<Page> {
        Some(read(self.client.post(self.url(url)).body(body).send().await.ok()?).await)
    }

    /// Like `post_from`, but a broken connection is `None`.
    pub async fn try_post_from(&self, path: &str, form: &[(&str, &str)], origin: &str) -> Option<Page> {
        let req = self.client.post(self.url(path)).form(form).header("origin", origin);
        Some(read(req.send().await.ok()?).await)
    }

    /// Like `join`, but a broken connection is `None`.
    pub async fn try_join(&self, link: &str, name: &str, password: &str) -> Option<Page> {
        self.client.get(self.url(link)).send().await.ok()?;
        let form = [("name", name), ("password", password), ("confirm", password)];
        self.try_post_from(link, &form, &self.base.clone()).await
    }

    pub async fn get_bytes(&self, url: &str) -> Vec<u8> {
        let response = self.client.get(self.url(url)).send().await.expect("GET");
        response.bytes().await.expect("body").to_vec()
    }

    /// How many body bytes arrive before the response ends or breaks.
    pub async fn download_len(&self, url: &str) -> usize {
        let mut response = self.client.get(self.url(url)).send().await.expect("GET");
        let mut total = 0;
        while let Ok(Some(chunk)) = response.chunk().await {
            total += chunk.len();
        }
        total
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Page {
        let req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &self.base)
            .body(body);
        read(req.send().await.expect("POST")).await
    }

    /// Sends files to `url` as a phone's share sheet does to a web app's
    /// share target: `multipart/form-data`, the files under `field`, a
    /// navigation nobody's page started (`Sec-Fetch-Site: none`).
    pub async fn share_files(&self, url: &str, field: &str, files: &[(&str, Vec<u8>)]) -> Page {
        let boundary = "porch-share-boundary-41c2";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nfrom my phone\r\n")
                .as_bytes(),
        );
        for (name, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n\
                     Content-Type: image/jpeg\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let req = self
            .client
            .post(self.url(url))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .header("sec-fetch-site", "none")
            .body(body);
        read(req.send().await.expect("POST")).await
    }

    /// Posts `fields` and then one file as `multipart/form-data` from
    /// porch's own origin, as a browser's file form does.
    pub async fn post_file(&self, path: &str, fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> Page {
        let boundary = "porch-test-boundary-7d3f9a";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        let (name, filename, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = self
            .client
            .post(self.url(path))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .header("origin", &self.base)
            .body(body);
        read(req.send().await.expect("POST")).await
    }

    /// Fetches `page` for its CSRF token and posts `form` (plus the token) to `action`.
    pub async fn submit(&self, page: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let token = self.get(page).await.csrf();
        let mut all = form.to_vec();
        all.push(("csrf", &token));
        self.post(action, &all).await
    }

    pub async fn join(&self, link: &str, name: &str, password: &str) -> Page {
        let page = self.get(link).await;
        assert_eq!(page.status, 200, "join page for {link}: {}", page.body);
        self.post(link, &[("name", name), ("password", password), ("confirm", password)]).await
    }

    pub async fn sign_in(&self, name: &str, password: &str) -> Page {
        self.post("/signin", &[("name", name), ("password", password), ("next", "/account")]).await
    }

    pub async fn signed_in(&self) -> bool {
        let page = self.get("/account").await;
        match page.status {
            200 => true,
            303 => false,
            other => panic!("unexpected status {other} for /account"),
        }
    }
}

async fn read(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let location = headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    Page { status, location, headers, body }
}

/// An installable folder (app.toml + component) built by build.rs.
pub fn test_app(name: &str) -> PathBuf {
    Path::new(env!("TEST_APPS_DIR")).join(name)
}

/// The signed package build.rs made of test app `name`.
pub fn test_package(name: &str) -> PathBuf {
    Path::new(env!("TEST_APPS_DIR")).join(format!("{name}.porchapp"))
}

/// Path of `../shared/fixtures` when present (CI always has it).
#[allow(dead_code)]
pub fn shared_fixtures() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    p.is_dir().then_some(p)
}

/// True when running in CI, where every external tool must be present.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Makes aws-lc-rs the rustls provider for test clients (idempotent).
pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Whether an external tool is installed. In CI a missing tool fails the
/// test; locally the test is skipped with a loud message saying how to
/// install it.
pub fn have_tool(tool: &str, package: &str) -> bool {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(!in_ci(), "`{tool}` is missing in CI: .ci/run must install the Debian package {package}");
        eprintln!(
            "\n!!! SKIPPED: `{tool}` is not installed. Install it with `apt-get install {package}` to run this test.\n"
        );
    }
    found
}

/// An MP4 of at least `min_len` bytes, with a moov index: a real video made
/// by ffmpeg when it is installed (CI always has it), else a bare container
/// (ftyp, an empty moov, a big mdat) that porch stores without a poster.
pub fn sample_video(min_len: usize) -> Vec<u8> {
    let dir = TempDir::new().expect("temp dir");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "3"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", "clip.mp4"])
        .current_dir(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(made || !in_ci(), "ffmpeg is missing in CI: .ci/run must install the Debian package ffmpeg");
    if made {
        let bytes = std::fs::read(dir.path().join("clip.mp4")).expect("video");
        assert!(bytes.len() >= min_len, "ffmpeg made only {} bytes", bytes.len());
        return bytes;
    }
    let mut out = [&[0, 0, 0, 0x18][..], b"ftypisom", &[0u8; 12][..], &[0, 0, 0, 8][..], b"moov"].concat();
    let payload = min_len.saturating_sub(out.len() + 8);
    out.extend_from_slice(&u32::try_from(payload + 8).expect("size").to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend((0..payload).map(|i| (i % 253) as u8));
    out
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // The same number must be free for UDP too (the DNS listener uses both).
    match std::net::UdpSocket::bind(("127.0.0.1", port)) {
        Ok(_) => port,
        Err(_) => free_port(),
    }
}

/// A real static web server (Python's `http.server`) over a folder, on a
/// loopback port, killed when dropped: what serves an app catalogue.
pub struct WebFolder {
    child: Child,
    pub url: String,
}

impl WebFolder {
    /// None (after a loud note) when python3 is missing outside CI.
    pub fn serve(dir: &Path) -> Option<WebFolder> {
        if !have_tool("python3", "python3") {
            return None;
        }
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "python3 -m http.server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(WebFolder { child, url: format!("http://127.0.0.1:{port}") })
    }
}

impl Drop for WebFolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real SMTP server (Debian's python3-aiosmtpd) on a loopback port,
/// keeping every message it takes in a Maildir; killed when dropped.
pub struct Smtp {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
}

/// One email the [`Smtp`] server took, decoded by Python's `email`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub unsubscribe: String,
    pub unsubscribe_post: String,
}

/// Debian's Python, which has the Debian packages (a pyenv one may be first
/// on PATH).
const DEBIAN_PYTHON: &str = "/usr/bin/python3";

impl Smtp {
    /// Whether aiosmtpd is there: in CI it must be; locally the test is
    /// skipped with a loud note.
    pub fn available() -> bool {
        let found = Command::new(DEBIAN_PYTHON)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(!in_ci(), "aiosmtpd is missing in CI: .ci/run must install the Debian package python3-aiosmtpd");
            eprintln!(
                "\n!!! SKIPPED: aiosmtpd is not installed. Install it with `apt-get install python3-aiosmtpd`.\n"
            );
        }
        found
    }

    /// A port for the server, which is not started yet (so that porch
    /// meets a mail server that is down).
    pub fn reserve() -> Smtp {
        Smtp { child: None, port: free_port(), dir: TempDir::new().expect("maildir") }
    }

    /// Starts the server on its port.
    pub fn start(&mut self) {
        let child = Command::new(DEBIAN_PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port)])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.dir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every message taken so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let script = r#"
import email, email.policy, json, mailbox, sys
box = mailbox.Maildir(sys.argv[1], create=False)
out = []
for key in sorted(box.keys()):
    with box.get_file(key) as f:
        m = email.message_from_binary_file(f, policy=email.policy.default)
    text = m.get_body(preferencelist=("plain",))
    html = m.get_body(preferencelist=("html",))
    out.append({"to": str(m["To"]), "subject": str(m["Subject"]),
                "text": text.get_content() if text else "", "html": html.get_content() if html else "",
                "unsubscribe": str(m["List-Unsubscribe"] or ""), "unsubscribe_post": str(m["List-Unsubscribe-Post"] or "")})
print(json.dumps(out))
"#;
        let dir = self.dir.path().join("mail");
        if !dir.join("new").is_dir() {
            return Vec::new();
        }
        let out = Command::new(DEBIAN_PYTHON).args(["-c", script]).arg(&dir).output().expect("read the maildir");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("messages as JSON")
    }

    /// The messages to `address`.
    pub fn to(&self, address: &str) -> Vec<Mail> {
        self.messages().into_iter().filter(|m| m.to.contains(address)).collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a [`Proxy`] does to the requests it passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Passes everything on.
    Nothing,
    /// Once: after this many bytes of requests (all connections together),
    /// breaks that connection, as a phone leaving Wi-Fi does.
    DropAfter(u64),
    /// Once: after this many bytes, passes nothing more on but keeps the
    /// connection open (a stalled network) until the client gives up.
    StallAfter(u64),
    /// Answers 413 to any request whose body is over this many bytes, as
    /// nginx's `client_max_body_size` or a CDN's body cap does.
    CapBody(u64),
}

/// A small HTTP/1.1 forward proxy on loopback in front of a porch: every
/// request goes to porch's port on a connection of its own (the proxy asks
/// for `Connection: close`), cut as [`Cut`] says. Browsers use it with
/// `--proxy-server`, reqwest with [`Browser::via_proxy`].
pub struct Proxy {
    pub url: String,
    cut: std::sync::Arc<std::sync::Mutex<Cut>>,
    /// Request bytes passed on so far (headers and bodies).
    pub passed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Requests refused by [`Cut::CapBody`].
    pub refused: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    pub fn start(target_port: u16, cut: Cut) -> Proxy {
        use std::sync::atomic::AtomicU64;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let cut = std::sync::Arc::new(std::sync::Mutex::new(cut));
        let passed = std::sync::Arc::new(AtomicU64::new(0));
        let refused = std::sync::Arc::new(AtomicU64::new(0));
        let (c, p, r) = (cut.clone(), passed.clone(), refused.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (c, p, r) = (c.clone(), p.clone(), r.clone());
                std::thread::spawn(move || proxy_one(client, target_port, &c, &p, &r));
            }
        });
        Proxy { url, cut, passed, refused }
    }

    /// Changes what the proxy does from the next request on.
    pub fn set(&self, cut: Cut) {
        *self.cut.lock().expect("cut") = cut;
    }
}

fn proxy_one(
    mut client: std::net::TcpStream,
    target_port: u16,
    cut: &std::sync::Mutex<Cut>,
    passed: &std::sync::atomic::AtomicU64,
    refused: &std::sync::atomic::AtomicU64,
) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    // The request's head.
    let mut head = Vec::new();
    let mut byte = [0u8; 4096];
    let end = loop {
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match client.read(&mut byte) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
    };
    let rest = head.split_off(end);
    let text = String::from_utf8_lossy(&head).into_owned();
    let length: u64 = text
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let now = *cut.lock().expect("cut");
    if let Cut::CapBody(cap) = now
        && length > cap
    {
        refused.fetch_add(1, Ordering::SeqCst);
        let _ = client.write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        // Read the body away, as nginx does, so the client sees the answer
        // rather than a reset.
        let mut left = length.saturating_sub(rest.len() as u64);
        while left > 0 {
            match client.read(&mut byte) {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n as u64),
            }
        }
        return;
    }
    // One request per connection: porch closes after answering.
    // The request line in origin form (`PATCH /path HTTP/1.1`), as porch
    // expects from a client rather than a proxy.
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.splitn(3, ' ');
    let (method, target, version) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or("/"), parts.next().unwrap_or(""));
    let path = match target.split_once("://") {
        Some((_, after)) => after.find('/').map_or("/", |at| &after[at..]),
        None => target,
    };
    let first = format!("{method} {path} {version}");
    let kept: Vec<&str> = std::iter::once(first.as_str())
        .chain(lines)
        .filter(|l| {
            let name = l.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
            name != "connection" && name != "proxy-connection" && name != "keep-alive"
        })
        .collect();
    let mut new_head = kept.join("\r\n");
    new_head.truncate(new_head.trim_end().len());
    new_head.push_str("\r\nConnection: close\r\n\r\n");
    let Ok(mut upstream) = std::net::TcpStream::connect(("127.0.0.1", target_port)) else { return };
    let (Ok(mut up_read), Ok(mut down)) = (upstream.try_clone(), client.try_clone()) else { return };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut down);
        let _ = down.shutdown(std::net::Shutdown::Both);
    });
    let pass = |bytes: &[u8], upstream: &mut std::net::TcpStream, client: &mut std::net::TcpStream| -> bool {
        let before = passed.fetch_add(bytes.len() as u64, Ordering::SeqCst);
        let mut now = cut.lock().expect("cut");
        match *now {
            Cut::DropAfter(n) if before + bytes.len() as u64 > n => {
                let fits = usize::try_from(n.saturating_sub(before)).unwrap_or(0).min(bytes.len());
                let _ = upstream.write_all(&bytes[..fits]);
                *now = Cut::Nothing;
                false
            }
            Cut::StallAfter(n) if before + bytes.len() as u64 > n => {
                let fits = usize::try_from(n.saturating_sub(before)).unwrap_or(0).min(bytes.len());
                let _ = upstream.write_all(&bytes[..fits]);
                *now = Cut::Nothing;
                drop(now);
                // Swallow the rest until the client gives up.
                let mut sink = [0u8; 65536];
                while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
                false
            }
            _ => upstream.write_all(bytes).is_ok(),
        }
    };
    if !pass(new_head.as_bytes(), &mut upstream, &mut client)
        || (!rest.is_empty() && !pass(&rest, &mut upstream, &mut client))
    {
        let _ = upstream.shutdown(std::net::Shutdown::Both);
        let _ = client.shutdown(std::net::Shutdown::Both);
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !pass(&buf[..n], &mut upstream, &mut client) {
                    let _ = upstream.shutdown(std::net::Shutdown::Both);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
        }
    }
    let _ = upstream.shutdown(std::net::Shutdown::Write);
}
