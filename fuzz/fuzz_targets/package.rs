//! App packages (`.porchapp`): any bytes are either a verified package or a
//! clear refusal, never a panic, and nothing unsigned gets through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use porch::apps::package::format;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(verified) = format::read(bytes) {
        // Only a package whose signature verified can come back: every path
        // is one porch allows, and the files add up to the whole input.
        assert!(verified.files.iter().all(|(path, _)| format::valid_path(path)));
        assert!(verified.files.iter().map(|(_, b)| b.len()).sum::<usize>() < bytes.len());
    }
    let _ = porch::apps::Package::open(bytes);
});
