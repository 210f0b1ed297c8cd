//! Collections on disk (SPEC.md §10.1): a collection written back as a folder without ever
//! writing outside it.

use crate::output::Fallible;
use elv::atomic::{self, OutputOptions};
use elv::{decompress_member, Reader};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes every member of the collection `reader` under the folder `out`. A new folder is
/// written under a temporary name and renamed into place when complete; an existing one
/// (only with `force`) gets each file atomically. Member paths were checked when the file
/// was opened (relative, no `..`); here no folder on the way may be a link or a file, so
/// nothing is written outside `out`.
pub fn write_collection(
    reader: &Reader<File>,
    out: &Path,
    force: bool,
    sync: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Fallible<()> {
    match fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(format!(
                "{}: is a link; elv writes a folder only to a real one",
                out.display()
            )
            .into())
        }
        Ok(m) if !m.is_dir() => {
            return Err(format!("{}: exists and is not a folder", out.display()).into())
        }
        Ok(_) if !force => {
            return Err(format!(
                "{}: already exists (use -f to write into it)",
                out.display()
            )
            .into())
        }
        Ok(_) => return write_members(reader, out, force, sync, progress),
        Err(_) => {}
    }
    let root = atomic::create_temp_folder(out).map_err(|e| format!("{}: {e}", out.display()))?;
    atomic::track_temporary(&root, true);
    let written = write_members(reader, &root, force, sync, progress);
    atomic::track_temporary(&root, false);
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&root);
        return Err(e);
    }
    fs::rename(&root, out).map_err(|e| format!("{}: {e}", out.display()))?;
    if sync {
        File::open(atomic::folder_of(out))?.sync_all()?;
    }
    Ok(())
}

fn write_members(
    reader: &Reader<File>,
    root: &Path,
    force: bool,
    sync: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Fallible<()> {
    let total: u64 = reader.iter().map(|t| t.byte_len()).sum();
    let mtimes = reader.member_mtimes();
    let mut done = 0u64;
    for (m, member) in reader.members().iter().enumerate() {
        let target = safe_target(root, &member.path)?;
        if member.kind == elv::MemberKind::Folder {
            match fs::symlink_metadata(&target) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(format!("{}: exists and is not a folder", target.display()).into())
                }
                Err(_) => {
                    fs::create_dir(&target).map_err(|e| format!("{}: {e}", target.display()))?
                }
            }
            continue;
        }
        let options = OutputOptions {
            overwrite: force,
            sync,
            like: None,
            modified: mtimes.get(m).copied().flatten(),
        };
        let before = done;
        atomic::write_atomic_with(&target, &options, |w| {
            decompress_member(
                reader,
                m,
                &mut *w,
                Some(&mut |d, _| progress(before + d, total)),
            )?;
            w.flush()?;
            Ok(())
        })
        .map_err(|e| format!("{}: {e}", member.path))?;
        let run = member.tensors.clone();
        done += (run.start..run.end)
            .filter_map(|i| reader.tensor(i as usize))
            .map(|t| t.byte_len())
            .sum::<u64>();
    }
    Ok(())
}

/// The file `path` (a checked member path) under `root`, creating the folders on the way;
/// a folder on the way that is a link or not a folder is refused.
fn safe_target(root: &Path, path: &str) -> Fallible<PathBuf> {
    let mut at = root.to_path_buf();
    let parts: Vec<&str> = path.split('/').collect();
    let (file, dirs) = parts.split_last().ok_or("empty member path")?;
    for d in dirs {
        at.push(d);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
                return Err(format!(
                    "{}: is a link or a file, not a folder; refusing to write member {path:?} through it",
                    at.display()
                )
                .into())
            }
            Ok(_) => {}
            Err(_) => fs::create_dir(&at).map_err(|e| format!("{}: {e}", at.display()))?,
        }
    }
    at.push(file);
    if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(format!("{}: is a link; refusing to write through it", at.display()).into());
    }
    Ok(at)
}
