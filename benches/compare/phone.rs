//! Part 6: phone files (issue 25). Both sides run the same C decoders; the
//! question is what porch's way around them costs.
//!
//! - HEIC: a 12-megapixel (4032×3024) HEIC made from the phone fixture with
//!   `heif-enc`, to a 400 px and a 2048 px JPEG: porch's media layer (libheif
//!   in the media jail, then its own thumbnailer; the same call the album's
//!   `thumbnails` makes) vs `vipsthumbnail` (libvips reads HEIF through the
//!   same libheif), one process per size, one photo at a time and with both
//!   cores busy.
//! - Video: a one-minute 1080p phone-style video (H.264 + AAC, made with
//!   ffmpeg) to a poster in both sizes: porch's `video_poster` (ffmpeg in
//!   the jail, then its own thumbnailer) vs one `ffmpeg` process making the
//!   same two images.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use porch::media::{self, MediaLimits, ThumbFormat};

use crate::report::{Better, Report, Row};
use crate::{Bench, alternate};

const PHOTO: &str = "../shared/fixtures/photos/cameras/HMD_Nokia_8.3_5G.jpg";
const EDGES: [u32; 2] = [400, 2048];

fn tool(dir: &Path, program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).current_dir(dir).status();
    assert!(status.is_ok_and(|s| s.success()), "{program} {args:?} failed");
}

pub fn run(bench: &Bench, report: &mut Report) {
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join(PHOTO);
    if !photo.is_file() {
        report.note(format!("phone files skipped: {} is missing (it comes with ../shared)", photo.display()));
        return;
    }
    let dir = bench.work.join("phone");
    std::fs::create_dir_all(&dir).expect("phone dir");
    heic(bench, report, &dir, &photo);
    video(bench, report, &dir);
}

fn heic(bench: &Bench, report: &mut Report, dir: &Path, photo: &Path) {
    let count = crate::support::env_num("BENCH_PHOTOS", 16).max(2) as usize;
    let photo = photo.to_str().expect("utf-8 path");
    tool(dir, "ffmpeg", &["-v", "error", "-y", "-i", photo, "-vf", "scale=4032:3024", "-q:v", "2", "12mp.jpg"]);
    tool(dir, "heif-enc", &["-q", "50", "12mp.jpg", "-o", "12mp.heic"]);
    let copies: Vec<PathBuf> = (0..count)
        .map(|i| {
            let copy = dir.join(format!("photo{i:03}.heic"));
            std::fs::copy(dir.join("12mp.heic"), &copy).expect("copy");
            copy
        })
        .collect();
    let out = dir.join("thumbs");
    std::fs::create_dir_all(&out).expect("thumbs dir");
    let vips = |files: &[PathBuf]| {
        for edge in EDGES {
            let target = format!("{}/%s_{edge}.jpg[Q=82,strip]", out.display());
            let status = Command::new(&bench.tools.vipsthumbnail)
                .args(["--size", &edge.to_string(), "-o", &target])
                .args(files)
                .status()
                .expect("vipsthumbnail");
            assert!(status.success(), "vipsthumbnail failed");
        }
    };
    let limits = MediaLimits::default();
    let sizes = EDGES.map(|edge| (edge, ThumbFormat::Jpeg));
    let ours = |files: &[PathBuf]| {
        for file in files {
            let bytes = std::fs::read(file).expect("read photo");
            std::hint::black_box(media::thumbnails(&bytes, &sizes, &limits).expect("thumbnails"));
        }
    };
    let ms_per_photo = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1000.0 / count as f64
    };
    ours(&copies[..2]);
    vips(&copies[..2]);
    let (porch, anchor) =
        alternate(bench.rounds, || ms_per_photo(&|| ours(&copies)), || ms_per_photo(&|| vips(&copies)));
    let label = "HEIC: 12 MP to 400 + 2048 px, one photo at a time";
    report.push(Row::ratio(label, "ms per photo", Better::Lower, "vipsthumbnail (libheif)", porch, anchor, 1.0));

    let (first, second) = copies.split_at(count / 2);
    let photos_per_second = |f: &(dyn Fn(&[PathBuf]) + Sync)| {
        let t = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| f(first));
            s.spawn(|| f(second));
        });
        count as f64 / t.elapsed().as_secs_f64()
    };
    let (porch, anchor) = alternate(
        bench.rounds,
        || photos_per_second(&|files: &[PathBuf]| ours(files)),
        || photos_per_second(&|files: &[PathBuf]| vips(files)),
    );
    let label = "HEIC: both sizes, two workers (both cores busy)";
    report.push(Row::ratio(label, "photos/s", Better::Higher, "vipsthumbnail (libheif)", porch, anchor, 1.0));
}

fn video(bench: &Bench, report: &mut Report, dir: &Path) {
    tool(
        dir,
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-t",
            "60",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "12M",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            "minute.mp4",
        ],
    );
    let video = dir.join("minute.mp4");
    let limits = MediaLimits::default();
    let sizes = EDGES.map(|edge| (edge, ThumbFormat::Jpeg));
    let ours = || {
        let t = Instant::now();
        let open = || std::fs::File::open(&video).expect("video");
        std::hint::black_box(media::video_poster(open(), &sizes, &limits).expect("poster"));
        t.elapsed().as_secs_f64() * 1000.0
    };
    let theirs = || {
        let t = Instant::now();
        let graph = "[0:v]split=2[a][b];[a]scale=400:-2[s]";
        let input = video.to_str().expect("path");
        tool(
            dir,
            "ffmpeg",
            &[
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-ss",
                "1",
                "-i",
                input,
                "-filter_complex",
                graph,
                "-map",
                "[s]",
                "-frames:v",
                "1",
                "-q:v",
                "5",
                "small.jpg",
                "-map",
                "[b]",
                "-frames:v",
                "1",
                "-q:v",
                "5",
                "large.jpg",
            ],
        );
        t.elapsed().as_secs_f64() * 1000.0
    };
    ours();
    theirs();
    let (porch, anchor) = alternate(bench.rounds.max(5), ours, theirs);
    let label = "video: 1 min 1080p to a poster at 400 + 1920 px";
    report.push(Row::ratio(label, "ms per video", Better::Lower, "ffmpeg alone (one process)", porch, anchor, 1.2));
}
