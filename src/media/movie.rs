//! Videos: cleaning MP4 and QuickTime files of where and on what they were
//! filmed without re-encoding them (safe Rust, here), and their length,
//! size and poster frame (ffprobe and ffmpeg, in the media jail).
//!
//! Cleaning never changes a byte offset, so the video plays exactly as
//! before and a file of any size streams through with flat memory:
//!
//! - `udta`, `meta` and `uuid` boxes (at the top, in `moov` and in each
//!   `trak`) become `free` boxes of the same size. They hold QuickTime's
//!   `©xyz` location, Apple's `com.apple.quicktime.location.ISO6709`, make,
//!   model and software keys, 3GPP `loci`, and XMP.
//! - Timed metadata tracks (handler `meta`, where a phone may record
//!   location as it films) become `free` too, and their samples in `mdat`
//!   are overwritten with zeros.
//!
//! The picture and sound tracks, their rotation and timing stay as they
//! were.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::bmff::{self, BoxAt};
use super::{MediaError, MediaLimits, jail};

/// The most `moov` porch reads into memory to clean it (a two-hour phone
/// video's is a few MiB).
const MAX_MOOV: u64 = 64 << 20;

/// A change to the file: `bytes` at `at`, or `len` zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patch {
    Bytes { at: u64, bytes: Vec<u8> },
    Zeros { at: u64, len: u64 },
}

impl Patch {
    fn start(&self) -> u64 {
        match self {
            Patch::Bytes { at, .. } | Patch::Zeros { at, .. } => *at,
        }
    }
}

fn damaged(why: &str) -> MediaError {
    MediaError::Invalid(format!("the video is damaged ({why})"))
}

/// Whether `head` (the first bytes of a file) is an MP4 or QuickTime video.
pub fn is_movie(head: &[u8]) -> bool {
    head.get(4..8).is_some_and(|k| matches!(k, b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free" | b"skip"))
        && super::heif::flavour(head).is_none()
}

/// Reads the top-level boxes of `file` and works out what to change.
pub fn plan(file: &mut File, limits: &MediaLimits) -> Result<Vec<Patch>, MediaError> {
    let len = file.metadata().map_err(|e| damaged(&e.to_string()))?.len();
    if len > limits.max_video {
        return Err(MediaError::TooLarge(format!(
            "the video has {len} bytes; at most {} (media.max_video) are accepted",
            limits.max_video
        )));
    }
    let mut patches = Vec::new();
    let mut at = 0u64;
    let mut seen_moov = false;
    while at + 8 <= len {
        let mut head = [0u8; 16];
        let n = usize::try_from((len - at).min(16)).unwrap_or(16);
        read_at(file, at, &mut head[..n])?;
        let size32 = bmff::u32_at(&head, 0).ok_or_else(|| damaged("a box header is cut off"))?;
        let kind = [head[4], head[5], head[6], head[7]];
        let size = match size32 {
            0 => len - at,
            1 => bmff::u64_at(&head[..n], 8).ok_or_else(|| damaged("a box header is cut off"))?,
            s => u64::from(s),
        };
        if size < 8 || at.checked_add(size).is_none_or(|end| end > len) {
            return Err(damaged("a box is longer than the file"));
        }
        match &kind {
            b"moov" => {
                if size > MAX_MOOV {
                    return Err(MediaError::TooLarge(format!("the video's index is larger than {MAX_MOOV} bytes")));
                }
                let mut moov = vec![0u8; usize::try_from(size).map_err(|_| damaged("moov"))?];
                read_at(file, at, &mut moov)?;
                clean_moov(&moov, at, &mut patches)?;
                seen_moov = true;
            }
            b"udta" | b"meta" | b"uuid" => {
                let header = if size32 == 1 { 16 } else { 8 };
                patches.extend(free(at, at + header, at + size));
            }
            _ => {}
        }
        at += size;
    }
    if !seen_moov {
        return Err(damaged("it has no moov box"));
    }
    patches.sort_by_key(Patch::start);
    Ok(patches)
}

fn read_at(file: &mut File, at: u64, buf: &mut [u8]) -> Result<(), MediaError> {
    file.seek(SeekFrom::Start(at))
        .and_then(|_| file.read_exact(buf))
        .map_err(|e| damaged(&format!("reading at byte {at}: {e}")))
}

/// Turns the box at file offset `start` into a `free` box of zeros: its
/// type becomes `free` and everything after its header (`body..end`) is
/// overwritten, so nothing it held is left to find in the file.
fn free(start: u64, body: u64, end: u64) -> [Patch; 2] {
    [Patch::Bytes { at: start + 4, bytes: b"free".to_vec() }, Patch::Zeros { at: body, len: end - body }]
}

/// [`free`] for a box read from a buffer that starts at file offset `base`.
fn free_at(base: u64, b: BoxAt) -> [Patch; 2] {
    let header = b.header_len();
    free(base + b.start as u64, base + (b.start + header) as u64, base + b.end as u64)
}

fn clean_moov(moov: &[u8], base: u64, patches: &mut Vec<Patch>) -> Result<(), MediaError> {
    let top = bmff::header(moov, 0, moov.len()).map_err(damaged)?;
    for b in bmff::children(moov, top.body, top.end).map_err(damaged)? {
        match &b.kind {
            b"udta" | b"meta" | b"uuid" => patches.extend(free_at(base, b)),
            b"trak" => clean_trak(moov, b, base, patches)?,
            _ => {}
        }
    }
    Ok(())
}

fn clean_trak(moov: &[u8], trak: BoxAt, base: u64, patches: &mut Vec<Patch>) -> Result<(), MediaError> {
    let children = bmff::children(moov, trak.body, trak.end).map_err(damaged)?;
    let mdia = children.iter().find(|b| &b.kind == b"mdia").copied();
    let handler = match mdia {
        Some(mdia) => bmff::find(moov, mdia, 0, b"hdlr")
            .map_err(damaged)?
            .and_then(|h| moov.get(h.body + 8..h.body + 12))
            .unwrap_or_default(),
        None => &[],
    };
    if handler == b"meta" {
        // A timed metadata track: gone from the index, its samples zeroed.
        patches.extend(free_at(base, trak));
        if let Some(mdia) = mdia {
            zero_samples(moov, mdia, patches)?;
        }
        return Ok(());
    }
    for b in children {
        if matches!(&b.kind, b"udta" | b"meta" | b"uuid") {
            patches.extend(free_at(base, b));
        }
    }
    Ok(())
}

/// Zeros where a track's samples lie: chunk offsets (`stco`/`co64`), how
/// many samples each chunk has (`stsc`) and their sizes (`stsz`).
fn zero_samples(moov: &[u8], mdia: BoxAt, patches: &mut Vec<Patch>) -> Result<(), MediaError> {
    let cut = || damaged("a metadata track's sample table is cut off");
    let Some(minf) = bmff::find(moov, mdia, 0, b"minf").map_err(damaged)? else { return Ok(()) };
    let Some(stbl) = bmff::find(moov, minf, 0, b"stbl").map_err(damaged)? else { return Ok(()) };
    let table = bmff::children(moov, stbl.body, stbl.end).map_err(damaged)?;
    let find = |k: &[u8; 4]| table.iter().find(|b| &b.kind == k).copied();
    let (Some(stsz), Some(stsc)) = (find(b"stsz"), find(b"stsc")) else {
        return Err(MediaError::Unsupported(
            "the video has a metadata track laid out in a way porch cannot clean".into(),
        ));
    };
    let (chunks, wide) = match (find(b"stco"), find(b"co64")) {
        (Some(b), _) => (b, false),
        (None, Some(b)) => (b, true),
        _ => return Err(cut()),
    };
    let chunk_count = bmff::u32_at(moov, chunks.body + 4).ok_or_else(cut)? as usize;
    let offsets: Vec<u64> = (0..chunk_count)
        .map(|i| {
            if wide {
                bmff::u64_at(moov, chunks.body + 8 + i * 8)
            } else {
                bmff::u32_at(moov, chunks.body + 8 + i * 4).map(u64::from)
            }
        })
        .collect::<Option<_>>()
        .ok_or_else(cut)?;
    let fixed = bmff::u32_at(moov, stsz.body + 4).ok_or_else(cut)?;
    let sample_count = bmff::u32_at(moov, stsz.body + 8).ok_or_else(cut)? as usize;
    let size_of = |i: usize| -> Option<u64> {
        if fixed != 0 { Some(u64::from(fixed)) } else { bmff::u32_at(moov, stsz.body + 12 + i * 4).map(u64::from) }
    };
    let runs = bmff::u32_at(moov, stsc.body + 4).ok_or_else(cut)? as usize;
    let run = |i: usize| -> Option<(usize, usize)> {
        let first = bmff::u32_at(moov, stsc.body + 8 + i * 12)? as usize;
        let per = bmff::u32_at(moov, stsc.body + 12 + i * 12)? as usize;
        Some((first, per))
    };
    let mut sample = 0usize;
    for r in 0..runs {
        let (first, per) = run(r).ok_or_else(cut)?;
        let next_first = if r + 1 < runs { run(r + 1).ok_or_else(cut)?.0 } else { chunk_count + 1 };
        for chunk in first.max(1)..next_first.min(chunk_count + 1) {
            let mut len = 0u64;
            for _ in 0..per {
                if sample >= sample_count {
                    break;
                }
                len += size_of(sample).ok_or_else(cut)?;
                sample += 1;
            }
            let at = *offsets.get(chunk - 1).ok_or_else(cut)?;
            if len > 0 {
                patches.push(Patch::Zeros { at, len });
            }
        }
    }
    Ok(())
}

/// Applies `patches` to `chunk`, the bytes of the file from `pos` on.
pub fn apply(patches: &[Patch], pos: u64, chunk: &mut [u8]) {
    let end = pos + chunk.len() as u64;
    for p in patches {
        let (start, stop, bytes): (u64, u64, Option<&[u8]>) = match p {
            Patch::Bytes { at, bytes } => (*at, at.saturating_add(bytes.len() as u64), Some(bytes)),
            Patch::Zeros { at, len } => (*at, at.saturating_add(*len), None),
        };
        if stop <= pos || start >= end {
            continue;
        }
        for i in start.max(pos)..stop.min(end) {
            let value = bytes.and_then(|b| usize::try_from(i - start).ok().and_then(|j| b.get(j)).copied());
            if let Some(slot) = usize::try_from(i - pos).ok().and_then(|j| chunk.get_mut(j)) {
                *slot = value.unwrap_or(0);
            }
        }
    }
}

/// A video's length, shown size and codecs.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Width and height as shown (rotation applied).
    pub width: u32,
    pub height: u32,
    pub duration_ms: u64,
    /// `h264`, `hevc`, `vp9`, `av1`…
    pub video_codec: String,
    pub audio_codec: Option<String>,
    /// Apple's Live Photo identifier (`com.apple.quicktime.content.identifier`),
    /// shared with the still it belongs to.
    pub content_id: Option<String>,
}

/// Reads what a video is with ffprobe in the media jail.
pub fn probe(file: File, limits: &MediaLimits) -> Result<VideoInfo, MediaError> {
    let args = [
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_entries",
        "format=duration:format_tags=com.apple.quicktime.content.identifier:stream=codec_type,codec_name,width,height:\
         stream_tags=rotate:stream_side_data=rotation",
        "-i",
        "/dev/stdin",
    ];
    let job = jail::Job {
        what: "reading the video",
        program: &limits.ffprobe,
        args: args.map(OsString::from).to_vec(),
        input: file,
        output: None,
    };
    let done = jail::run(job, limits)?;
    parse_probe(&done.stdout)
}

fn parse_probe(json: &[u8]) -> Result<VideoInfo, MediaError> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|_| damaged("ffprobe could not read it as a video"))?;
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .ok_or_else(|| MediaError::Invalid("the file has no picture to show; it is not a video".into()))?;
    let audio = streams.iter().find(|s| s["codec_type"] == "audio");
    let dim = |k: &str| video[k].as_u64().and_then(|d| u32::try_from(d).ok()).unwrap_or(0);
    let (mut width, mut height) = (dim("width"), dim("height"));
    let rotation = video["side_data_list"]
        .as_array()
        .and_then(|l| l.iter().find_map(|d| d["rotation"].as_i64()))
        .or_else(|| video["tags"]["rotate"].as_str().and_then(|r| r.parse().ok()))
        .unwrap_or(0);
    if rotation.rem_euclid(180) == 90 {
        (width, height) = (height, width);
    }
    let seconds: f64 = v["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0.0);
    let duration_ms = if seconds.is_finite() && seconds > 0.0 { (seconds * 1000.0).round() as u64 } else { 0 };
    Ok(VideoInfo {
        width,
        height,
        duration_ms,
        video_codec: video["codec_name"].as_str().unwrap_or("unknown").to_owned(),
        audio_codec: audio.and_then(|a| a["codec_name"].as_str()).map(str::to_owned),
        content_id: v["format"]["tags"]["com.apple.quicktime.content.identifier"]
            .as_str()
            .and_then(super::tags::identifier),
    })
}

/// One frame of the video as a JPEG, turned as the video is shown: one
/// second in, or the first frame of a video shorter than that (ffmpeg then
/// finds nothing at one second, and a second run takes the first).
pub fn poster(file: File, limits: &MediaLimits) -> Result<Vec<u8>, MediaError> {
    let again = file.try_clone().map_err(|e| MediaError::Unavailable(format!("porch cannot reopen the video: {e}")))?;
    match frame_at(file, "1", limits) {
        Err(MediaError::Invalid(_)) | Ok(None) => {}
        other => return other.map(Option::unwrap_or_default),
    }
    let mut again = again;
    again.seek(SeekFrom::Start(0)).map_err(|e| damaged(&e.to_string()))?;
    frame_at(again, "0", limits)?.ok_or_else(|| MediaError::Invalid("the video has no frame to show".into()))
}

fn frame_at(file: File, at: &str, limits: &MediaLimits) -> Result<Option<Vec<u8>>, MediaError> {
    let args = [
        "-nostdin",
        "-v",
        "error",
        "-ss",
        at,
        "-i",
        "/dev/stdin",
        "-frames:v",
        "1",
        "-an",
        "-sn",
        "-dn",
        "-q:v",
        "2",
        "-y",
        "poster.jpg",
    ];
    let job = jail::Job {
        what: "making the video's poster",
        program: &limits.ffmpeg,
        args: args.map(OsString::from).to_vec(),
        input: file,
        output: Some("poster.jpg"),
    };
    Ok(jail::run(job, limits)?.output.filter(|o| !o.is_empty()))
}

/// An H.264/AAC MP4 copy of a video every browser plays: at most 1920
/// pixels on its long edge, `moov` first (so it starts playing while it
/// loads), and no metadata at all (`-map_metadata -1`, so no location).
/// Made by ffmpeg in the jail at the lowest priority under
/// `media.transcode_timeout`; the file lives as long as the `TempDir`.
pub fn h264_copy(file: File, limits: &MediaLimits) -> Result<(tempfile::TempDir, std::path::PathBuf), MediaError> {
    let fit = "scale='if(gte(iw,ih),min(1920,iw),-2)':'if(gte(iw,ih),-2,min(1920,ih))'";
    let args = [
        "-nostdin",
        "-v",
        "error",
        "-i",
        "/dev/stdin",
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-vf",
        fit,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        "-y",
        "copy.mp4",
    ];
    let job = jail::Job {
        what: "making the video's H.264 copy",
        program: &limits.ffmpeg,
        args: args.map(OsString::from).to_vec(),
        input: file,
        output: Some("copy.mp4"),
    };
    jail::run_to_file(job, limits, jail::Budget::background(limits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffprobe_answers_are_read_with_rotation() {
        let json = br#"{"streams":[{"codec_name":"hevc","codec_type":"video","width":1920,"height":1080,
            "side_data_list":[{"rotation":-90}]},{"codec_name":"aac","codec_type":"audio"}],
            "format":{"duration":"61.533000"}}"#;
        let info = parse_probe(json).expect("parse");
        assert_eq!((info.width, info.height, info.duration_ms), (1080, 1920, 61533));
        assert_eq!((info.video_codec.as_str(), info.audio_codec.as_deref()), ("hevc", Some("aac")));
        assert!(parse_probe(br#"{"streams":[{"codec_type":"audio"}]}"#).is_err(), "sound alone is not a video");
        assert!(parse_probe(b"not json").is_err());
    }

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(body.len() + 8).expect("small").to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn file_of(bytes: &[u8]) -> File {
        let mut file = tempfile::tempfile().expect("temp");
        std::io::Write::write_all(&mut file, bytes).expect("write");
        file
    }

    #[test]
    fn location_boxes_become_zeroed_free_boxes_and_the_size_limit_holds_at_its_edge() {
        let xyz = boxed(b"\xa9xyz", b"+48.8584+002.2945/");
        let udta = boxed(b"udta", &xyz);
        let trak_udta = boxed(b"udta", b"model: Pocket 9");
        let trak = boxed(b"trak", &[boxed(b"tkhd", &[0; 84]), trak_udta].concat());
        let moov = boxed(b"moov", &[boxed(b"mvhd", &[0; 100]), trak, udta].concat());
        let video = [boxed(b"ftyp", b"isom\0\0\0\0isom"), moov, boxed(b"mdat", &[7; 64])].concat();
        let exact = MediaLimits { max_video: video.len() as u64, ..MediaLimits::default() };
        let plan = plan(&mut file_of(&video), &exact).expect("plan");
        let mut out = video.clone();
        apply(&plan, 0, &mut out);
        assert_eq!(out.len(), video.len());
        assert!(!out.windows(7).any(|w| w == b"48.8584") && !out.windows(6).any(|w| w == b"Pocket"));
        assert_eq!(out.windows(4).filter(|w| w == b"free").count(), 2, "udta in moov and in the trak");
        assert_eq!(&out[out.len() - 64..], &[7; 64][..], "the media data is untouched");
        assert!(children_ok(&out), "still a well-formed file");
        let under = MediaLimits { max_video: video.len() as u64 - 1, ..MediaLimits::default() };
        assert!(matches!(plan_err(&video, &under), MediaError::TooLarge(_)));
        // No moov, or a box claiming more than the file: clear errors.
        let bare = [boxed(b"ftyp", b"isom\0\0\0\0isom"), boxed(b"mdat", &[7; 64])].concat();
        assert!(matches!(plan_err(&bare, &exact), MediaError::Invalid(_)));
        let mut lying = video.clone();
        lying[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(plan_err(&lying, &exact), MediaError::Invalid(_)));
    }

    fn plan_err(bytes: &[u8], limits: &MediaLimits) -> MediaError {
        plan(&mut file_of(bytes), limits).expect_err("refused")
    }

    fn children_ok(bytes: &[u8]) -> bool {
        bmff::children(bytes, 0, bytes.len()).is_ok_and(|b| b.len() == 3)
    }

    #[test]
    fn patches_apply_across_chunk_edges() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8 + 1).collect();
        let patches = vec![
            Patch::Bytes { at: (1 << 20) - 2, bytes: b"free".to_vec() },
            Patch::Zeros { at: 2_000_000, len: 1_000_000 },
        ];
        let mut out = data.clone();
        for (i, chunk) in out.chunks_mut(1 << 20).enumerate() {
            apply(&patches, (i as u64) << 20, chunk);
        }
        assert_eq!(&out[(1 << 20) - 2..(1 << 20) + 2], b"free");
        assert!(out[2_000_000..].iter().all(|&b| b == 0));
        assert_eq!(out[1_999_999], data[1_999_999]);
        assert_eq!(out[..(1 << 20) - 2], data[..(1 << 20) - 2]);
    }
}
