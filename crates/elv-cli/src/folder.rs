//! Collections on disk (SPEC.md §10.1): the files of a model folder gathered as members, and
//! a collection written back as a folder without ever writing outside it.

use crate::output::Fallible;
use elv::atomic::{self, OutputOptions};
use elv::{decompress_member, MemberInput, Reader};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The members for `inputs`: a folder contributes every regular file under it (links to
/// regular files are followed, as the Hugging Face cache links its blobs) and every empty
/// folder, by path relative to the folder, or below the folder's own name when several
/// inputs are given; a file is a member by its name. Members are in path order.
pub fn gather(inputs: &[PathBuf]) -> Fallible<Vec<MemberInput>> {
    let mut paths: Vec<(String, PathBuf, bool)> = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input).map_err(|e| format!("{}: {e}", input.display()))?;
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{}: names no file", input.display()))?;
        if meta.is_dir() {
            let prefix = if inputs.len() > 1 {
                format!("{name}/")
            } else {
                String::new()
            };
            walk(input, &prefix, &mut paths)?;
        } else {
            paths.push((name, input.clone(), false));
        }
    }
    paths.sort();
    if let Some(w) = paths.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!(
            "two inputs would both be member {:?} ({} and {})",
            w[0].0,
            w[0].1.display(),
            w[1].1.display()
        )
        .into());
    }
    paths
        .into_iter()
        .map(|(path, p, folder)| {
            let file = match folder {
                true => None,
                false => Some(File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?),
            };
            let modified = match &file {
                Some(f) => f.metadata().and_then(|m| m.modified()).ok(),
                None => None,
            };
            Ok(MemberInput {
                path,
                file,
                modified,
            })
        })
        .collect()
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf, bool)>) -> Fallible<()> {
    let before = out.len();
    for e in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = fs::metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            walk(&p, &format!("{prefix}{name}/"), out)?;
        } else if meta.is_file() {
            out.push((format!("{prefix}{name}"), p, false));
        }
    }
    // An empty folder below the top one is a member of its own.
    if out.len() == before {
        if let Some(path) = prefix.strip_suffix('/').filter(|p| !p.is_empty()) {
            out.push((path.to_string(), dir.to_path_buf(), true));
        }
    }
    Ok(())
}

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
