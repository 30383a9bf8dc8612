//! Upload benchmark of the photo album (`cargo bench --bench photos`): a
//! 1 GiB video sent into the album by `curl` over HTTP/1.1 from a generator
//! (no file on the client side), two ways in the same run, alternately,
//! each on a fresh porch:
//!
//! - plain: the whole file as one POST body, streamed by the app into a
//!   blob (how uploads went before issue 25);
//! - resumable: a tus upload at `/.porch/uploads` in 32 MiB PATCH parts (as
//!   Photos' page sends them), then Photos claims the finished upload.
//!
//! For each: MiB/s (first byte sent to the album's answer), and porch's peak
//! resident memory (VmHWM) before and after. Thumbnail speed is in
//! `benches/hot.rs` (criterion) and against vipsthumbnail in
//! `benches/compare`.
//!
//! Knobs: BENCH_UPLOAD_MIB (default 1024), BENCH_ROUNDS (default 2),
//! BENCH_PART_MIB (default 32). Client and server share the machine; say so
//! when quoting.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{Server, env_num};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mib = env_num("BENCH_UPLOAD_MIB", 1024);
    let rounds = env_num("BENCH_ROUNDS", 2).max(1);
    let mut results: Vec<(&str, Duration, f64, f64)> = Vec::new();
    for _ in 0..rounds {
        for resumable in [false, true] {
            let (elapsed, before, after) = runtime.block_on(upload(mib, resumable));
            let name = if resumable { "resumable" } else { "plain" };
            println!(
                "{name:>9}: {mib} MiB in {:.1} s, {:.0} MiB/s; porch peak RSS {before:.0} MiB before, {after:.0} MiB after",
                elapsed.as_secs_f64(),
                mib as f64 / elapsed.as_secs_f64()
            );
            results.push((name, elapsed, before, after));
        }
    }
    let median = |name: &str| {
        let mut rates: Vec<f64> =
            results.iter().filter(|r| r.0 == name).map(|r| mib as f64 / r.1.as_secs_f64()).collect();
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let peak = |name: &str| results.iter().filter(|r| r.0 == name).map(|r| r.3).fold(0.0, f64::max);
    let (plain, resumable) = (median("plain"), median("resumable"));
    println!(
        "median: plain {plain:.0} MiB/s, resumable {resumable:.0} MiB/s, ratio {:.2} (target ≥ 0.9); \
         peak RSS plain {:.0} MiB, resumable {:.0} MiB",
        resumable / plain,
        peak("plain"),
        peak("resumable")
    );
}

/// The start of the file sent: a real one-second MP4 made by ffmpeg, then
/// the header of a top-level `free` box that runs to the end, so the whole
/// `total` bytes are one valid video that Photos probes, posters and cleans
/// like a phone's (the rest of the file is zeros).
fn video_head(total: u64) -> Vec<u8> {
    let dir = tempfile::TempDir::new().expect("temp");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "1", "-pix_fmt", "yuv420p"])
        .arg(dir.path().join("clip.mp4"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(made, "ffmpeg is needed to make the benchmark's video (apt install ffmpeg)");
    let mut head = std::fs::read(dir.path().join("clip.mp4")).expect("clip");
    let rest = total - head.len() as u64;
    head.extend_from_slice(&1u32.to_be_bytes());
    head.extend_from_slice(b"free");
    head.extend_from_slice(&rest.to_be_bytes());
    head
}

/// Sends bytes `start..end` of the file (`head`, then zeros) through one
/// curl process: `-T -` streams stdin (chunked), `--data-binary @-` would
/// buffer it.
fn curl(args: &[String], head: &std::sync::Arc<Vec<u8>>, start: u64, end: u64) -> String {
    let mut curl = Command::new("curl")
        .args(["-sS", "-T", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let mut stdin = curl.stdin.take().expect("stdin");
    let head = head.clone();
    let writer = std::thread::spawn(move || {
        let zeros = vec![0u8; 1 << 20];
        let mut at = start;
        while at < end {
            let piece = if at < head.len() as u64 {
                &head[at as usize..head.len().min(end as usize)]
            } else {
                &zeros[..zeros.len().min((end - at) as usize)]
            };
            stdin.write_all(piece).expect("send");
            at += piece.len() as u64;
        }
    });
    let output = curl.wait_with_output().expect("curl");
    writer.join().expect("writer");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn upload(mib: u64, resumable: bool) -> (Duration, f64, f64) {
    let total = mib << 20;
    let head = std::sync::Arc::new(video_head(total));
    let server = Server::start();
    let port = server.port;
    let (client, cookie) = server.enter("photos").await;
    let app = server.app_url("photos");
    let made = client.post(format!("{app}/albums")).form(&[("title", "Bench")]).send().await.expect("album");
    let album = made.headers().get("location").and_then(|v| v.to_str().ok()).expect("album").to_owned();
    let common = vec![
        "-H".to_owned(),
        format!("cookie: {cookie}"),
        "--resolve".to_owned(),
        format!("photos.localhost:{port}:127.0.0.1"),
    ];
    let pid = server.child.id();
    let (_, before) = support::memory_mib(pid);
    let t = Instant::now();
    let reply = if resumable {
        let opened = client
            .post(format!("{app}/.porch/uploads"))
            .header("tus-resumable", "1.0.0")
            .header("upload-length", total.to_string())
            .send()
            .await
            .expect("open upload");
        assert_eq!(opened.status(), 201, "open upload");
        let location = opened.headers().get("location").and_then(|v| v.to_str().ok()).expect("location").to_owned();
        let part = env_num("BENCH_PART_MIB", 32).max(1) << 20;
        let mut sent = 0;
        while sent < total {
            let end = (sent + part).min(total);
            let mut args = common.clone();
            args.extend(
                ["-X", "PATCH", "-o", "/dev/null", "-w", "%{http_code}", "-H", "tus-resumable: 1.0.0"]
                    .map(String::from),
            );
            args.extend(["-H".to_owned(), "content-type: application/offset+octet-stream".to_owned()]);
            args.extend(["-H".to_owned(), format!("upload-offset: {sent}")]);
            args.push(format!("{app}{location}"));
            let status = curl(&args, &head, sent, end);
            assert_eq!(status, "204", "PATCH at {sent}");
            sent = end;
        }
        let id = location.rsplit('/').next().expect("id");
        let claimed = client
            .post(format!("{app}{album}/upload?name=big.mp4&upload={id}"))
            .header("accept", "application/json")
            .send()
            .await
            .expect("claim");
        claimed.text().await.expect("reply")
    } else {
        let mut args = common.clone();
        args.extend(["-X", "POST", "-H", "content-type: video/mp4"].map(String::from));
        args.push(format!("{app}{album}/upload?name=big.mp4"));
        curl(&args, &head, 0, total)
    };
    let elapsed = t.elapsed();
    assert!(reply.contains("\"ok\":true"), "upload failed: {reply}");
    let (_, after) = support::memory_mib(pid);
    (elapsed, before, after)
}
