//! Free space on a file system: what blob writes keep spare
//! (`store.min_free`) and what the metrics report.

use std::io;
use std::path::Path;

/// Free bytes on the file system holding `path`, for unprivileged users.
pub fn free_space(path: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}
