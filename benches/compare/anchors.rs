//! The anchor tools: where they are, and Caddy, nginx and `wasmtime serve`
//! started with the settings a careful self-hoster would use (no access
//! log, HTTP/2 on, nginx without its 1,000-requests-per-connection cap),
//! each stopped when dropped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Bench;

/// Paths of the programs the comparison runs.
pub struct Tools {
    pub wrk: PathBuf,
    pub h2load: PathBuf,
    pub caddy: PathBuf,
    pub nginx: PathBuf,
    pub vipsthumbnail: PathBuf,
    pub wasmtime: PathBuf,
}

impl Tools {
    /// Finds the tools the `wanted` parts run, or stops with what to install.
    pub fn find(wanted: impl Fn(&str) -> bool) -> Tools {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let wasmtime = std::env::var_os("WASMTIME")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/bench-tools/bin/wasmtime"));
        let tools = Tools {
            wrk: which("wrk"),
            h2load: which("h2load"),
            caddy: which("caddy"),
            nginx: which("nginx"),
            vipsthumbnail: which("vipsthumbnail"),
            wasmtime,
        };
        let missing: Vec<String> = [
            (&tools.wrk, "wrk", true),
            (&tools.h2load, "h2load (nghttp2-client)", true),
            (&tools.caddy, "caddy", wanted("tls") || wanted("footprint")),
            (&tools.nginx, "nginx", wanted("tls")),
            (&tools.vipsthumbnail, "vipsthumbnail (libvips-tools)", wanted("thumbnails") || wanted("phone")),
            (&which("heif-enc"), "heif-enc (libheif-examples)", wanted("phone")),
            (&which("ffmpeg"), "ffmpeg", wanted("phone")),
            (&tools.wasmtime, "wasmtime 48 (cargo install wasmtime-cli)", wanted("apps")),
        ]
        .into_iter()
        .filter(|(path, _, needed)| *needed && !path.is_file())
        .map(|(_, name, _)| name.to_owned())
        .collect();
        if !missing.is_empty() {
            eprintln!("!!! missing: {}. Run benches/compare/run, which installs them. !!!", missing.join(", "));
            std::process::exit(2);
        }
        tools
    }

    /// `program --version`'s first line, for the report.
    pub fn version(program: &Path, flag: &str) -> String {
        let out = Command::new(program).arg(flag).output();
        let text = out.map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)));
        text.ok().and_then(|t| t.lines().next().map(str::to_owned)).unwrap_or_else(|| "?".into())
    }
}

fn which(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return path;
        }
    }
    PathBuf::from(name)
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The child's exit status if it ends within `within`.
fn wait_exit(child: &mut Child, within: Duration) -> std::io::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(None)
}

/// Waits until something accepts connections on `port`.
fn wait_for_port(port: u16, who: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{who} exited before listening: {status}");
        }
        assert!(Instant::now() < deadline, "{who} is not listening on port {port} after 20 s");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A child process stopped (SIGTERM, then waited for) when dropped.
pub struct Running {
    child: Child,
    pub port: u16,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// `wasmtime serve -O pooling-allocator` serving one component.
pub struct WasmtimeServe {
    running: Running,
    pub url: String,
}

impl WasmtimeServe {
    /// Serves `component` with `-O options` (the anchor is
    /// `pooling-allocator`).
    pub fn start(tools: &Tools, component: &Path, options: &str) -> WasmtimeServe {
        assert!(component.is_file(), "no component to give wasmtime serve at {}", component.display());
        let port = free_port();
        // What it says goes to a file the panic below names (it once exited
        // at once, silently, given a path that did not exist).
        let log = std::env::temp_dir().join(format!("porch-bench-wasmtime-{port}.log"));
        let mut child = Command::new(&tools.wasmtime)
            // `-S cli`: the wasi:cli imports a wstd component carries
            // (porch links them too, with nothing behind them).
            .args(["serve", "-O", options, "-S", "cli", "--addr", &format!("127.0.0.1:{port}")])
            .arg(component)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map(Stdio::from).unwrap_or_else(|_| Stdio::null()))
            .spawn()
            .expect("wasmtime serve");
        if let Ok(Some(status)) = wait_exit(&mut child, Duration::from_millis(500)) {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("wasmtime serve exited at once ({status}): {said}");
        }
        wait_for_port(port, "wasmtime serve", &mut child);
        WasmtimeServe { running: Running { child, port }, url: format!("http://127.0.0.1:{port}/") }
    }

    pub fn pid(&self) -> u32 {
        self.running.pid()
    }
}

/// Caddy's `file_server` over HTTPS with the shared certificate.
pub struct Caddy;

impl Caddy {
    /// Starts Caddy on `port`; with `wait`, returns once it listens (else at
    /// once, for the caller to time start-up).
    pub fn spawn(bench: &Bench, port: u16, wait: bool) -> Running {
        let home = bench.work.join("caddy-home");
        std::fs::create_dir_all(&home).expect("caddy home");
        let config = format!(
            "{{\n\tadmin off\n\tauto_https disable_redirects\n}}\n\n\
             https://localhost:{port} {{\n\ttls {cert} {key}\n\troot * {site}\n\tfile_server\n}}\n",
            cert = bench.cert.display(),
            key = bench.key.display(),
            site = bench.site.display(),
        );
        let file = bench.work.join(format!("Caddyfile-{port}"));
        std::fs::write(&file, config).expect("Caddyfile");
        let child = Command::new(&bench.tools.caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", &home)
            .env("XDG_CONFIG_HOME", &home)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(bench.work.join(format!("caddy-{port}.log"))).expect("caddy log"))
            .spawn()
            .expect("caddy");
        let mut running = Running { child, port };
        if wait {
            wait_for_port(port, "caddy", &mut running.child);
        }
        running
    }
}

/// nginx (`worker_processes auto`) serving the site over HTTPS, HTTP/2 on.
pub struct Nginx;

impl Nginx {
    pub fn spawn(bench: &Bench, port: u16) -> Running {
        let prefix = bench.work.join(format!("nginx-{port}"));
        std::fs::create_dir_all(&prefix).expect("nginx prefix");
        let config = format!(
            "worker_processes auto;\ndaemon off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n\
             \x20 keepalive_requests 1000000;\n\
             \x20 client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n\
             \x20 fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
             \x20 server {{\n    listen 127.0.0.1:{port} ssl http2;\n    server_name localhost;\n\
             \x20   ssl_certificate {cert};\n    ssl_certificate_key {key};\n    ssl_protocols TLSv1.2 TLSv1.3;\n\
             \x20   root {site};\n  }}\n}}\n",
            prefix = prefix.display(),
            cert = bench.cert.display(),
            key = bench.key.display(),
            site = bench.site.display(),
        );
        let file = prefix.join("nginx.conf");
        std::fs::write(&file, config).expect("nginx.conf");
        let mut child = Command::new(&bench.tools.nginx)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx");
        wait_for_port(port, "nginx", &mut child);
        Running { child, port }
    }
}
