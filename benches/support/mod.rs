//! What the benchmarks share: the release binary serving on an ephemeral
//! port with a temporary data folder, and an app session cookie obtained
//! the way a browser gets one (join as owner, `/.porch/enter`, ticket).
// Each bench includes this module and uses a different part of it.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

/// A number from the environment, or `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `p` quantile (0 to 1) of sorted durations.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    if sorted.is_empty() {
        return std::time::Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Median of the values (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Budgets on, but high enough that a benchmark from one address is never
/// turned away.
pub const UNBINDING_LIMITS: &str = "[limits]\nrequests = \"1000000/s\"\nrequests_burst = 1000000\nin_flight = 100000\n";

/// A running `porch serve`, stopped on drop.
pub struct Server {
    pub child: Child,
    /// e.g. `http://localhost:40123`
    pub base: String,
    pub port: u16,
    setup: String,
    data: std::path::PathBuf,
    /// The porch binary this server runs (this build, or a baseline's).
    binary: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// porch with request budgets far above what one load generator sends,
    /// so the limiter is on (every request is checked) but never refuses.
    pub fn start() -> Server {
        Server::start_with(UNBINDING_LIMITS)
    }

    /// porch with `config` as its porch.toml.
    pub fn start_with(config: &str) -> Server {
        Server::start_in(tempfile::TempDir::new().expect("temp"), config, "127.0.0.1:0")
    }

    /// porch serving from `dir` (its data in `dir/data`, which may be left
    /// from an earlier run) with `config` as its porch.toml, on `listen`.
    pub fn start_in(dir: tempfile::TempDir, config: &str, listen: &str) -> Server {
        Server::start_binary(std::path::Path::new(env!("CARGO_BIN_EXE_porch")), dir, config, listen)
    }

    /// Like [`Server::start_in`], with another porch binary (an older build,
    /// for a same-run A/B).
    pub fn start_binary(binary: &std::path::Path, dir: tempfile::TempDir, config: &str, listen: &str) -> Server {
        std::fs::write(dir.path().join("porch.toml"), config).expect("porch.toml");
        let data = dir.path().join("data");
        let mut child = Command::new(binary)
            .args(["serve", "--listen", listen, "--data"])
            .arg(&data)
            .current_dir(dir.path())
            .env("RUST_LOG", "error")
            .env("PORCH_METRICS_LISTEN", "off")
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
        // Keep reading, so porch never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let port = base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
        Server { child, base, port, setup, data, binary: binary.to_owned(), _dir: dir }
    }

    /// Stops porch and hands back its folder, to start it again warm.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.terminate();
        let dir = tempfile::TempDir::new().expect("temp");
        std::mem::replace(&mut self._dir, dir)
    }

    fn terminate(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
            let _ = self.child.wait();
        }
    }

    /// Runs a porch subcommand on this server's data folder; panics with its
    /// output if it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(&self.binary)
            .args(args)
            .arg("--data")
            .arg(&self.data)
            .current_dir(self._dir.path())
            .output()
            .expect("porch");
        assert!(out.status.success(), "porch {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `porch ARGS` on this server's data folder; whether it succeeded.
    pub fn try_cli(&self, args: &[&str]) -> bool {
        Command::new(&self.binary)
            .args(args)
            .arg("--data")
            .arg(&self.data)
            .current_dir(self._dir.path())
            .output()
            .is_ok_and(|out| out.status.success())
    }

    /// Resident memory now and at its peak, in MiB.
    pub fn memory_mib(&self) -> (f64, f64) {
        memory_mib(self.child.id())
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://APP.localhost:PORT`
    pub fn app_url(&self, app: &str) -> String {
        format!("http://{app}.localhost:{}", self.port)
    }

    /// Joins as the owner and returns porch's session cookie as `name=value`.
    pub async fn sign_in(&self) -> String {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let pw = "benchmark password";
        let joined = client.post(&self.setup).form(&[("name", "Bench"), ("password", pw), ("confirm", pw)]).send();
        let joined = joined.await.expect("join");
        assert!(joined.status().is_redirection());
        joined
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("porch_session="))
            .and_then(|c| c.split(';').next())
            .expect("session cookie")
            .to_owned()
    }

    /// Joins as the owner (who holds every bundled app from setup) and walks
    /// the handshake into `app`. Returns a client signed in to porch and the
    /// app (not following redirects) and the app cookie as `name=value`.
    pub async fn enter(&self, app: &str) -> (reqwest::Client, String) {
        let (client, mut cookies) = self.enter_apps(&[app]).await;
        (client, cookies.remove(0))
    }

    /// Joins as the owner and walks the handshake into each of `apps`,
    /// opening each app's front page once. Returns the client and the app
    /// cookies (`name=value`, in the order of `apps`).
    pub async fn enter_apps(&self, apps: &[&str]) -> (reqwest::Client, Vec<String>) {
        let client = self.join(apps).await;
        let mut cookies = Vec::new();
        for app in apps {
            cookies.push(self.open_app(&client, app).await);
        }
        (client, cookies)
    }

    /// Joins as the owner with a client that reaches `apps` (their hosts
    /// resolve to this server) and does not follow redirects.
    pub async fn join(&self, apps: &[&str]) -> reqwest::Client {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true);
        for app in apps {
            builder = builder.resolve(&format!("{app}.localhost"), self.addr());
        }
        let client = builder.build().expect("client");
        let pw = "benchmark password";
        let joined = client.post(&self.setup).form(&[("name", "Bench"), ("password", pw), ("confirm", pw)]).send();
        assert!(joined.await.expect("join").status().is_redirection());
        client
    }

    /// Walks the handshake into `app` (which the owner must hold) and opens
    /// its front page once; returns the app cookie as `name=value`. Follows
    /// whatever redirects the build in hand makes (newer builds first set a
    /// state cookie on the app's host, review finding L3; older ones hand
    /// out the ticket at once).
    pub async fn open_app(&self, client: &reqwest::Client, app: &str) -> String {
        let app_origin = self.app_url(app);
        let mut url = format!("{}/.porch/enter?app={app}&next=/", self.base);
        let mut cookie = None;
        for _ in 0..8 {
            let answer = client.get(&url).send().await.expect("handshake step");
            if url.starts_with(&app_origin) {
                for set in answer.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
                    let pair = set.split(';').next().unwrap_or_default();
                    if !pair.starts_with("porch_state=") {
                        cookie = Some(pair.to_owned());
                    }
                }
            }
            match answer.headers().get("location").and_then(|v| v.to_str().ok()) {
                Some(next) if answer.status().is_redirection() => {
                    let here = reqwest::Url::parse(&url).expect("url");
                    url = here.join(next).expect("redirect").to_string();
                }
                _ => {
                    assert!(answer.status().is_success(), "{app} answered {} at {url}", answer.status());
                    assert!(url.starts_with(&app_origin), "the handshake ended at {url}, not in {app}");
                    return cookie.unwrap_or_else(|| panic!("{app} set no session cookie"));
                }
            }
        }
        panic!("the handshake into {app} did not end");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Resident memory of a process now (VmRSS) and at its peak (VmHWM), in MiB.
pub fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
