//! Part 3: the 9-megapixel phone photo to a 400 px grid thumbnail and a
//! 2048 px view image, as the photo album makes them on upload: porch's
//! media layer (in-process, the same call the album's `thumbnails` host
//! call makes: one decode, both sizes) vs
//! `vipsthumbnail`, on BENCH_PHOTOS distinct copies of the file (so no cache
//! helps either side), JPEG quality 82 for both.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use porch::media::{self, MediaLimits, ThumbFormat};

use crate::report::{Better, Report, Row};
use crate::{Bench, alternate};

const PHOTO: &str = "../shared/fixtures/photos/cameras/HMD_Nokia_8.3_5G.jpg";
const EDGES: [u32; 2] = [400, 2048];

pub fn run(bench: &Bench, report: &mut Report) {
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join(PHOTO);
    if !photo.is_file() {
        report.note(format!("thumbnails skipped: {} is missing (it comes with ../shared)", photo.display()));
        return;
    }
    let count = crate::support::env_num("BENCH_PHOTOS", 16).max(2) as usize;
    let dir = bench.work.join("photos");
    std::fs::create_dir_all(&dir).expect("photos dir");
    let copies: Vec<PathBuf> = (0..count)
        .map(|i| {
            let copy = dir.join(format!("photo{i:03}.jpg"));
            std::fs::copy(&photo, &copy).expect("copy photo");
            copy
        })
        .collect();
    let out = bench.work.join("thumbs");
    std::fs::create_dir_all(&out).expect("thumbs dir");
    // One vipsthumbnail process making `edge` px images of `inputs` into `out`.
    let vips_run = |edge: u32, inputs: &[PathBuf]| {
        let target = format!("{}/%s_{edge}.jpg[Q=82,strip]", out.display());
        let status = Command::new(&bench.tools.vipsthumbnail)
            .args(["--size", &edge.to_string(), "-o", &target])
            .args(inputs)
            .status()
            .expect("vipsthumbnail");
        assert!(status.success(), "vipsthumbnail failed");
    };
    let vips = |files: &[PathBuf], per_process: bool| {
        for edge in EDGES {
            let batches: Vec<&[PathBuf]> = if per_process { files.chunks(1).collect() } else { vec![files] };
            for batch in batches {
                vips_run(edge, batch);
            }
        }
    };
    // The nearest vips gets to one decode for both sizes: the 2048 px
    // images first, then the 400 px ones made from those.
    let vips_chained = |files: &[PathBuf]| {
        let [small, large] = EDGES;
        vips_run(large, files);
        let made: Vec<PathBuf> = files
            .iter()
            .map(|f| out.join(format!("{}_{large}.jpg", f.file_stem().and_then(|s| s.to_str()).expect("name"))))
            .collect();
        vips_run(small, &made);
    };
    let limits = MediaLimits::default();
    // Both sizes in one call, as the album asks for them.
    let sizes = EDGES.map(|edge| (edge, ThumbFormat::Jpeg));
    let ours = |files: &[PathBuf]| {
        for file in files {
            let bytes = std::fs::read(file).expect("read photo");
            let thumbs = media::thumbnails(&bytes, &sizes, &limits).expect("thumbnails");
            std::hint::black_box(thumbs);
        }
    };
    // Per photo, one at a time (vips may use both cores for one photo).
    let ms_per_photo = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1000.0 / count as f64
    };
    ours(&copies[..2]);
    vips(&copies[..2], false);
    let label = "thumbnails: 9 MP photo to 400 + 2048 px, one photo at a time";
    let (porch, anchor) =
        alternate(bench.rounds, || ms_per_photo(&|| ours(&copies)), || ms_per_photo(&|| vips(&copies, false)));
    report.push(Row::ratio(
        label,
        "ms per photo",
        Better::Lower,
        "vipsthumbnail (one process per size)",
        porch.clone(),
        anchor,
        1.0,
    ));
    let (porch_again, chained) =
        alternate(bench.rounds, || ms_per_photo(&|| ours(&copies)), || ms_per_photo(&|| vips_chained(&copies)));
    report.push(Row::context(
        label,
        "ms per photo",
        "vipsthumbnail, 400 px made from its 2048 px output",
        porch_again,
        chained,
    ));
    let per_process: Vec<f64> = (0..bench.rounds.min(3)).map(|_| ms_per_photo(&|| vips(&copies, true))).collect();
    report.push(Row::ratio(
        label,
        "ms per photo",
        Better::Lower,
        "vipsthumbnail (a process per photo and size)",
        porch,
        per_process,
        1.0,
    ));

    // Both cores busy: two workers, each with half the photos.
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
        || photos_per_second(&|files: &[PathBuf]| vips(files, false)),
    );
    let label = "thumbnails: both sizes, two workers (both cores busy)";
    report.push(Row::ratio(label, "photos/s", Better::Higher, "vipsthumbnail", porch, anchor, 1.0));
}
