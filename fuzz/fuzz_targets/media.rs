//! The media pipeline on arbitrary bytes with porch's decoding limits on:
//! probe, a thumbnail and metadata stripping either succeed or return an
//! error; none may panic or allocate past the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use porch::media::{self, MediaLimits, ThumbFormat};

fuzz_target!(|bytes: &[u8]| {
    // Small limits so a decompression bomb is refused quickly.
    let limits = MediaLimits { max_input: 1 << 20, max_pixels: 4_000_000, max_memory: 64 << 20, ..MediaLimits::default() };
    if media::probe(bytes, &limits).is_ok() {
        let _ = media::thumbnail(bytes, 64, ThumbFormat::Jpeg, &limits);
        if let Ok(clean) = media::strip_metadata(bytes, &limits) {
            // A cleaned file still probes.
            let _ = media::probe(&clean, &limits);
        }
    }
});
