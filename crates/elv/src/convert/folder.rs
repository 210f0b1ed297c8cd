//! Model folders on disk (SPEC.md §10.1): the files of a folder gathered as collection
//! members, in path order with their modification times; and a collection written back as
//! a folder without ever writing outside it.

use crate::atomic::{self, check_free_space, OutputFolder, OutputOptions};
use crate::convert::decompress::decompress_member;
use crate::Progress;
use crate::Reader;
use crate::Source;
use crate::{Error, Result};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How [`decompress_to_folder`] places its output.
#[derive(Clone, Debug, Default)]
pub struct FolderOptions {
    /// Write into an existing folder, replacing the member files there (default false: an
    /// existing output is an I/O error of kind `AlreadyExists` and nothing is written).
    pub overwrite: bool,
    /// Make each file durable before going on (fsync file and folder).
    pub sync: bool,
    /// The files being read (the `.elv` itself): never written over, even when
    /// overwriting (see [`OutputOptions::inputs`]).
    pub inputs: Vec<fs::Metadata>,
}

/// One input of a collection: where it goes in the collection, and the file.
pub struct MemberInput {
    /// Relative, `/`-separated path in the collection (SPEC.md §10.1).
    pub path: String,
    /// The modification time to record for it (`None`: none, so that output does not depend
    /// on when the files were touched); decompressing a folder gives it back.
    pub modified: Option<SystemTime>,
    /// The file: a safetensors file if `path` ends in `.safetensors`, else stored as bytes;
    /// `None` for an empty folder.
    pub file: Option<std::fs::File>,
}

/// The members for `inputs`, ready for [`compress_collection`](crate::compress_collection):
/// a folder contributes every regular file under it (links to regular files are followed,
/// as the Hugging Face cache links its blobs) and every empty folder, by path relative to
/// the folder, or below the folder's own name when several inputs are given; a file is a
/// member by its name. Members are in path order, each with its modification time.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("elv-doc-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("tokenizer"))?;
/// std::fs::write(dir.join("config.json"), b"{}")?;
/// std::fs::write(dir.join("tokenizer/vocab.txt"), b"[PAD]\n")?;
/// let members = elv::gather_members(&[dir.clone()])?;
/// let paths: Vec<&str> = members.iter().map(|m| m.path.as_str()).collect();
/// assert_eq!(paths, ["config.json", "tokenizer/vocab.txt"]);
/// let (file, _) = elv::compress_collection(members, Vec::new(), &Default::default(), None, None)?;
/// assert_eq!(elv::Reader::from_bytes(file)?.members().len(), 2);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn gather_members(inputs: &[PathBuf]) -> Result<Vec<MemberInput>> {
    let mut paths: Vec<(String, PathBuf, bool)> = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input).map_err(|e| Error::io_at(input, e))?;
        let name = input
            .file_name()
            .ok_or_else(|| Error::input(None, format!("{}: names no file", input.display())))?;
        let name = utf8_name(name, input)?;
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
    for w in paths.windows(2) {
        if let [(a, pa, _), (b, pb, _)] = w {
            if a == b {
                return Err(Error::input(
                    None,
                    format!(
                        "two inputs would both be member {a:?} ({} and {})",
                        pa.display(),
                        pb.display()
                    ),
                ));
            }
        }
    }
    paths
        .into_iter()
        .map(|(path, p, folder)| {
            let file = match folder {
                true => None,
                false => Some(crate::sniff::open_regular(&p, false)?),
            };
            let modified = match &file {
                Some(f) => f.metadata().and_then(|m| m.modified()).ok(),
                None => None,
            };
            Ok(MemberInput {
                path,
                modified,
                file,
            })
        })
        .collect()
}

/// The links under the input folders `inputs` that lead outside them: (the link, where it
/// leads). They are followed when a folder is compressed (the Hugging Face cache links each
/// file of a model to a blob elsewhere), so their targets' bytes are packed; a tool names
/// them so that nothing from outside a folder is packed unseen.
pub fn links_leaving(inputs: &[PathBuf]) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    for input in inputs {
        if !fs::symlink_metadata(input).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let root = fs::canonicalize(input).map_err(|e| Error::io_at(input, e))?;
        let mut stack = vec![input.clone()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).map_err(|e| Error::io_at(&dir, e))? {
                let p = e.map_err(|e| Error::io_at(&dir, e))?.path();
                let meta = fs::symlink_metadata(&p).map_err(|e| Error::io_at(&p, e))?;
                if meta.file_type().is_symlink() {
                    let to = fs::canonicalize(&p).map_err(|e| Error::io_at(&p, e))?;
                    if !to.starts_with(&root) {
                        out.push((p, to));
                    }
                } else if meta.is_dir() {
                    stack.push(p);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A file name as a member path part: member paths are UTF-8 (SPEC.md §10.1), so a name that
/// is not is an error naming the file, never silently renamed.
fn utf8_name(name: &std::ffi::OsStr, path: &Path) -> Result<String> {
    name.to_str().map(str::to_owned).ok_or_else(|| {
        let shown = path.display();
        Error::input(
            None,
            format!("{shown}: the name is not UTF-8; member paths are (rename it)"),
        )
    })
}

/// Adds the files under `dir` to `out` as (member path, file path, is an empty folder).
fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf, bool)>) -> Result<()> {
    let before = out.len();
    for e in fs::read_dir(dir).map_err(|e| Error::io_at(dir, e))? {
        let p = e.map_err(|e| Error::io_at(dir, e))?.path();
        let name = utf8_name(p.file_name().unwrap_or_default(), &p)?;
        let meta = fs::metadata(&p).map_err(|e| Error::io_at(&p, e))?;
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

/// Writes every member of the collection `reader` under the folder `out`, each file with its
/// recorded modification time. A new folder is written under a hidden temporary name and
/// renamed into place when complete; an existing one (only with `overwrite`) gets each file
/// atomically. Member paths were checked when the file was opened (relative, no `..`).
/// Every folder and file is made through an open handle of its parent folder
/// ([`OutputFolder`]): nothing is written through a link, a pipe or a device found on the
/// way, even if the folders are swapped while it runs, and no file lands on one of
/// `options.inputs`.
pub fn decompress_to_folder<S: Source>(
    reader: &Reader<S>,
    out: &Path,
    options: &FolderOptions,
    progress: Progress<'_>,
) -> Result<()> {
    let mut silent = |_: u64, _: u64| {};
    let progress: &mut dyn FnMut(u64, u64) = progress.unwrap_or(&mut silent);
    if reader.members().is_empty() {
        return Err(Error::input(
            None,
            "not a collection: it holds one safetensors file (decompress_to_safetensors)",
        ));
    }
    check_free_space(&atomic::folder_of(out), reader.decoded_len())?;
    let folder = OutputFolder::create(out, options.overwrite)?;
    write_members(reader, &folder, options, progress)?;
    folder.finish(options.sync)
}

fn write_members<S: Source>(
    reader: &Reader<S>,
    folder: &OutputFolder,
    options: &FolderOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<()> {
    let total = reader.decoded_len();
    let mtimes = reader.member_mtimes();
    let mut done = 0u64;
    for (m, member) in reader.members().iter().enumerate() {
        if member.kind == elv_core::MemberKind::Folder {
            folder.create_folder(&member.path)?;
            continue;
        }
        let file_options = OutputOptions {
            overwrite: options.overwrite,
            sync: options.sync,
            like: None,
            modified: mtimes.get(m).copied().flatten(),
            inputs: options.inputs.clone(),
        };
        let before = done;
        folder
            .write_file(&member.path, &file_options, |w| {
                decompress_member(
                    reader,
                    m,
                    &mut *w,
                    Some(&mut |d, _| progress(before + d, total)),
                )?;
                w.flush()?;
                Ok(())
            })
            .map_err(|e| in_member(&member.path, e))?;
        let run = member.tensors.clone();
        done += (run.start..run.end)
            .filter_map(|i| reader.tensor(i as usize))
            .map(|t| t.byte_len())
            .sum::<u64>();
    }
    Ok(())
}

/// An error writing the member at `path`, with the path in front.
fn in_member(path: &str, e: Error) -> Error {
    match e {
        Error::Io(io) => Error::Io(io::Error::new(io.kind(), format!("{path}: {io}"))),
        other => other,
    }
}
