//! Benchmark of the photo album (`cargo bench --bench photos`), two parts:
//!
//! 1. Thumbnail time for the 9-megapixel phone photo in
//!    `../shared/fixtures/photos/cameras/` at grid size (400 px) and view
//!    size (2048 px): porch's media layer in-process (decode with EXIF
//!    orientation, resize, encode JPEG), then the same two sizes made by
//!    `vipsthumbnail` from Debian's `libvips-tools` on the same file (a
//!    process per run, so its start-up is included; its start-up alone is
//!    measured too, on a 1-pixel image).
//! 2. A 1 GiB video uploaded through the gate into the album by `curl`
//!    over HTTP/1.1 from a generator (no file on the client side): MB/s,
//!    and porch's peak resident memory (VmHWM) before and after.
//!
//! Knobs: BENCH_RUNS (default 10), BENCH_UPLOAD_MIB (default 1024).
//! Client and server share the machine; say so when quoting.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use porch::media::{self, MediaLimits, ThumbFormat};

mod support;
use support::Server;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len().max(1)).unwrap_or(1);
    let p50 = times.get(times.len() / 2).copied().unwrap_or_default();
    let min = times.first().copied().unwrap_or_default();
    format!("mean {:.1} ms, p50 {:.1} ms, min {:.1} ms", ms(mean), ms(p50), ms(min))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    thumbnails();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(upload());
}

fn thumbnails() {
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/photos/cameras/HMD_Nokia_8.3_5G.jpg");
    let Ok(bytes) = std::fs::read(&photo) else {
        eprintln!("!!! {} is missing: thumbnail benchmark skipped !!!", photo.display());
        return;
    };
    let runs = env_num("BENCH_RUNS", 10);
    let limits = MediaLimits::default();
    let probe = media::probe(&bytes, &limits).expect("probe");
    println!(
        "thumbnails of {} ({}x{}, {} bytes), {runs} runs each",
        photo.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
        probe.width,
        probe.height,
        bytes.len()
    );
    for edge in [400, 2048] {
        let _ = media::thumbnail(&bytes, edge, ThumbFormat::Jpeg, &limits).expect("warm-up");
        let times = (0..runs)
            .map(|_| {
                let t = Instant::now();
                let out = media::thumbnail(&bytes, edge, ThumbFormat::Jpeg, &limits).expect("thumbnail");
                std::hint::black_box(out);
                t.elapsed()
            })
            .collect();
        println!("  porch media, {edge} px JPEG: {}", summary(times));
    }
    let vips = Path::new("/usr/bin/vipsthumbnail");
    if !vips.exists() {
        println!("  vipsthumbnail missing: `apt-get install libvips-tools` to compare");
        return;
    }
    let out = tempfile::TempDir::new().expect("temp");
    let tiny = out.path().join("tiny.png");
    image::RgbImage::new(1, 1).save(&tiny).expect("tiny");
    let run = |input: &Path, edge: u32| {
        let target = out.path().join(format!("t{edge}.jpg"));
        let t = Instant::now();
        let status = Command::new(vips)
            .arg(input)
            .args(["--size", &edge.to_string(), "-o"])
            .arg(format!("{}[Q=85,strip]", target.display()))
            .status()
            .expect("vipsthumbnail");
        assert!(status.success());
        t.elapsed()
    };
    for edge in [400, 2048] {
        let _ = run(&photo, edge);
        let times = (0..runs).map(|_| run(&photo, edge)).collect();
        println!("  vipsthumbnail, {edge} px JPEG (process per run): {}", summary(times));
    }
    let times = (0..runs).map(|_| run(&tiny, 1)).collect();
    println!("  vipsthumbnail start-up alone (1-pixel image): {}", summary(times));
}

/// Peak and current resident memory of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn upload() {
    let server = Server::start();
    let port = server.port;
    let (client, cookie) = server.enter("photos").await;
    let app = server.app_url("photos");
    let made = client.post(format!("{app}/albums")).form(&[("title", "Bench")]).send().await.expect("album");
    let album = made.headers().get("location").and_then(|v| v.to_str().ok()).expect("album").to_owned();

    let mib = env_num("BENCH_UPLOAD_MIB", 1024);
    let pid = server.child.id();
    let (before, _) = memory(pid);
    let t = Instant::now();
    let mut curl = Command::new("curl")
        // `-T -` streams stdin (chunked); `--data-binary @-` would buffer it.
        .args(["-sS", "-X", "POST", "-T", "-", "-H"])
        .arg(format!("cookie: {cookie}"))
        .args(["-H", "content-type: video/mp4", "--resolve"])
        .arg(format!("photos.localhost:{port}:127.0.0.1"))
        .arg(format!("{app}{album}/upload?name=big.mp4"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let mut stdin = curl.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let mut chunk = vec![0u8; 1 << 20];
        chunk[..24].copy_from_slice(&[
            0, 0, 0, 0x18, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        for i in 0..mib {
            if i == 1 {
                chunk[..24].fill(7);
            }
            stdin.write_all(&chunk).expect("send");
        }
    });
    let output = curl.wait_with_output().expect("curl");
    writer.join().expect("writer");
    let elapsed = t.elapsed();
    let reply = String::from_utf8_lossy(&output.stdout);
    assert!(reply.contains("\"ok\":true"), "upload failed: {reply}");
    let (after, rss) = memory(pid);
    println!(
        "upload of {mib} MiB through the gate into Photos: {:.1} s, {:.0} MiB/s; porch peak RSS {before:.0} MiB before, \
         {after:.0} MiB after (now {rss:.0} MiB)",
        elapsed.as_secs_f64(),
        mib as f64 / elapsed.as_secs_f64()
    );
}
