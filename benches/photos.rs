//! Upload benchmark of the photo album (`cargo bench --bench photos`): a
//! 1 GiB video uploaded through the gate into the album by `curl` over
//! HTTP/1.1 from a generator (no file on the client side): MB/s, and porch's
//! peak resident memory (VmHWM) before and after. Thumbnail speed is in
//! `benches/hot.rs` (criterion) and against vipsthumbnail in
//! `benches/compare`.
//!
//! Knob: BENCH_UPLOAD_MIB (default 1024). Client and server share the
//! machine; say so when quoting.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

mod support;
use support::{Server, env_num};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(upload());
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
    let (_, before) = support::memory_mib(pid);
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
    let (rss, after) = support::memory_mib(pid);
    println!(
        "upload of {mib} MiB through the gate into Photos: {:.1} s, {:.0} MiB/s; porch peak RSS {before:.0} MiB before, \
         {after:.0} MiB after (now {rss:.0} MiB)",
        elapsed.as_secs_f64(),
        mib as f64 / elapsed.as_secs_f64()
    );
}
