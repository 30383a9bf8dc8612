//! `porch restore`: brings a snapshot back into a data folder. The snapshot
//! is checked in full first; a damaged one is not restored. A non-empty data
//! folder is only replaced with `--force`, and even then it is moved aside,
//! never deleted; a folder a running porch serves is never touched.

use std::io;
use std::path::{Path, PathBuf};

use super::manifest::{self, MANIFEST};
use super::{BackupDir, BackupError, Result, io_err, utc_name};
use crate::store::{DB_FILE, DataLock};

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub snapshot: String,
    pub files: usize,
    /// Where the folder's previous contents went, with `--force`.
    pub moved_aside: Option<PathBuf>,
    /// Where the snapshot's config file was put, if it had one.
    pub config: Option<PathBuf>,
}

/// The file name a restored config gets inside the data folder: porch does
/// not read it from there, the owner moves it where `--config` points.
pub const RESTORED_CONFIG: &str = "porch.toml.restored";

fn is_empty_dir(path: &Path) -> Result<bool> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io_err("cannot read the data folder", path)(e)),
    }
}

/// Restores snapshot `name` (or the newest) from `dest` into `data_dir`.
pub async fn restore(dest: &Path, name: Option<&str>, data_dir: &Path, force: bool) -> Result<Restored> {
    let dir = BackupDir::open(dest)?;
    let name = dir.pick(name)?;
    let aside =
        PathBuf::from(format!("{}.before-restore-{}", data_dir.display(), utc_name(crate::common::clock::now())));
    if !is_empty_dir(data_dir)? {
        if DataLock::held_by_another(data_dir) {
            return Err(BackupError::InUse { path: data_dir.to_path_buf() });
        }
        if !force {
            return Err(BackupError::NotEmpty { path: data_dir.to_path_buf(), aside });
        }
    }
    let checked = super::verify(dest, Some(&name)).await?;
    let problems: Vec<String> = checked.into_iter().flat_map(|c| c.problems).collect();
    if !problems.is_empty() {
        return Err(BackupError::Damaged { name, problems: problems.join("\n") });
    }

    let moved_aside = if is_empty_dir(data_dir)? {
        None
    } else {
        std::fs::rename(data_dir, &aside).map_err(io_err("cannot move the old data folder aside", data_dir))?;
        Some(aside)
    };
    let (root, target, snapshot) = (dir.root().to_path_buf(), data_dir.to_path_buf(), name.clone());
    let (files, config) =
        tokio::task::spawn_blocking(move || copy_back(&root, &snapshot, &target)).await.map_err(|e| {
            BackupError::Io { what: "the restore stopped", path: data_dir.to_path_buf(), source: io::Error::other(e) }
        })??;
    Ok(Restored { snapshot: name, files, moved_aside, config })
}

/// Copies every manifest entry to its place in the data folder, checking
/// each hash again as it is copied.
fn copy_back(root: &Path, name: &str, data_dir: &Path) -> Result<(usize, Option<PathBuf>)> {
    let prefix = format!("snapshots/{name}/");
    let list = root.join(&prefix).join(MANIFEST);
    let entries = manifest::read(&list).map_err(io_err("cannot read", &list))?;
    std::fs::create_dir_all(data_dir).map_err(io_err("cannot create the data folder", data_dir))?;
    let mut config = None;
    let mut dirs = std::collections::BTreeSet::new();
    let mut count = 0;
    for e in &entries {
        let place = if let Some(own) = e.path.strip_prefix(&prefix) {
            match own {
                "INFO" => continue,
                "porch.toml" => {
                    config = Some(data_dir.join(RESTORED_CONFIG));
                    RESTORED_CONFIG.to_owned()
                }
                DB_FILE => DB_FILE.to_owned(),
                other => match other.strip_prefix("files/") {
                    Some(rel) => rel.to_owned(),
                    None => continue,
                },
            }
        } else if e.path.starts_with("blobs/") {
            e.path.clone()
        } else {
            continue;
        };
        let to = data_dir.join(&place);
        let parent = to.parent().unwrap_or(data_dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(io_err("cannot create", &parent))?;
        let from = root.join(&e.path);
        let (sha, _) = manifest::copy_file(&from, &to).map_err(io_err("cannot copy", &from))?;
        if sha != e.sha256 {
            return Err(BackupError::Damaged {
                name: name.to_owned(),
                problems: format!("{} changed while it was restored", e.path),
            });
        }
        dirs.insert(parent);
        count += 1;
    }
    for dir in dirs {
        manifest::sync_dir(&dir).map_err(io_err("cannot sync", &dir))?;
    }
    Ok((count, config))
}
