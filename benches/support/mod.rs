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
        let dir = tempfile::TempDir::new().expect("temp");
        std::fs::write(dir.path().join("porch.toml"), config).expect("porch.toml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_porch"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("data"))
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
        let port = base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
        Server { child, base, port, setup, _dir: dir }
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
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .resolve(&format!("{app}.localhost"), self.addr())
            .build()
            .expect("client");
        let pw = "benchmark password";
        let joined = client.post(&self.setup).form(&[("name", "Bench"), ("password", pw), ("confirm", pw)]).send();
        assert!(joined.await.expect("join").status().is_redirection());
        let enter = client.get(format!("{}/.porch/enter?app={app}&next=/", self.base)).send().await.expect("enter");
        let ticket = enter.headers().get("location").and_then(|v| v.to_str().ok()).expect("ticket").to_owned();
        let ticketed = client.get(&ticket).send().await.expect("ticket");
        let set_cookie = ticketed.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie");
        (client, set_cookie.split(';').next().expect("name=value").to_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}
