//! An output folder written safely where others can write too (SPEC.md §10.1): every folder
//! and file under it is made relative to an open handle of its parent folder, never through
//! a link, a named pipe or a device found on the way, so swapping a folder for a link while
//! it is written (as a local user may in a shared, non-sticky folder) cannot send root's
//! writes elsewhere. A new folder is filled under a hidden temporary name, owned by us and
//! private (mode 0700) until it is renamed into place.

use super::{input_refused, refused, track, OutputOptions, SyncingFile};
use crate::error::{Error, Result};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{
    fstat, linkat, mkdirat, openat, renameat, renameat_with, statat, unlinkat, AtFlags, FileType,
    Mode, OFlags, RenameFlags,
};
use rustix::io::Errno;

/// Flags to open a folder found on the way: never through a link, never anything else.
const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC)
    .union(OFlags::RDONLY);

/// A folder being written: the handle of its parent, and of itself.
pub struct OutputFolder {
    /// Where it will be (or is), for messages.
    path: PathBuf,
    parent: OwnedFd,
    root: OwnedFd,
    /// The hidden name a new folder is filled under; `None` when writing into an existing one.
    temp: Option<OsString>,
}

/// A unique hidden name in this process.
fn temp_name() -> OsString {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    OsString::from(format!(".elv-tmp.{}.{n}", std::process::id()))
}

/// An I/O error `e` at `path`, naming it.
fn at(path: &Path, e: impl Into<io::Error>) -> Error {
    Error::io_at(path, e.into())
}

/// Opens folder `name` in `dir` (at `path`, for messages): a link or anything but a folder
/// there is refused.
fn open_folder(dir: &OwnedFd, name: &OsString, path: &Path) -> Result<OwnedFd> {
    openat(dir, name.as_os_str(), DIR_FLAGS, Mode::empty()).map_err(|e| match e {
        Errno::LOOP | Errno::NOTDIR => refused(
            path,
            "is a link or a file, not a folder; refusing to write through it",
        ),
        e => at(path, e),
    })
}

/// The parts of a member path (`/`-separated, relative, already checked by the reader),
/// refusing any that could leave the folder.
fn parts(rel: &str) -> Result<Vec<OsString>> {
    let bad = |p: &str| p.is_empty() || p == "." || p == ".." || p.contains('\0');
    if rel.split('/').any(bad) {
        return Err(Error::input(
            None,
            format!("member path {rel:?} leaves the folder"),
        ));
    }
    Ok(rel.split('/').map(OsString::from).collect())
}

impl OutputFolder {
    /// Starts writing the folder `out`. A new folder is made under a hidden name beside it
    /// (in `out`'s parent, opened once); an existing folder is written into only with
    /// `overwrite`, and never when `out` is a link.
    pub fn create(out: &Path, overwrite: bool) -> Result<OutputFolder> {
        let name = out
            .file_name()
            .ok_or_else(|| refused(out, "names no folder"))?
            .to_os_string();
        let parent_path = super::folder_of(out);
        let parent = openat(
            rustix::fs::CWD,
            &parent_path,
            OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY,
            Mode::empty(),
        )
        .map_err(|e| at(&parent_path, e))?;
        match statat(&parent, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let kind = FileType::from_raw_mode(st.st_mode);
                if kind == FileType::Symlink {
                    return Err(refused(
                        out,
                        "is a link; a folder is written only to a real one",
                    ));
                }
                if kind != FileType::Directory {
                    return Err(refused(out, "exists and is not a folder"));
                }
                if !overwrite {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{}: already exists", out.display()),
                    )));
                }
                let root = open_folder(&parent, &name, out)?;
                Ok(OutputFolder {
                    path: out.to_path_buf(),
                    parent,
                    root,
                    temp: None,
                })
            }
            Err(Errno::NOENT) => Self::create_new(out, parent, &parent_path),
            Err(e) => Err(at(out, e)),
        }
    }

    /// A new, private temporary folder in `parent`, checked to be the one just made.
    fn create_new(out: &Path, parent: OwnedFd, parent_path: &Path) -> Result<OutputFolder> {
        let temp = loop {
            let t = temp_name();
            match mkdirat(&parent, t.as_os_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) => break t,
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(at(parent_path, e)),
            }
        };
        let temp_path = parent_path.join(&temp);
        let opened = open_folder(&parent, &temp, &temp_path).and_then(|root| {
            let st = fstat(&root).map_err(|e| at(&temp_path, e))?;
            // Another folder put in its place between making and opening it is not ours.
            let ours =
                st.st_uid == rustix::process::geteuid().as_raw() && st.st_mode & 0o777 == 0o700;
            match ours {
                true => Ok(root),
                false => Err(refused(
                    &temp_path,
                    "was replaced while it was being opened",
                )),
            }
        });
        let root = match opened {
            Ok(root) => root,
            Err(e) => {
                let _ = unlinkat(&parent, temp.as_os_str(), AtFlags::REMOVEDIR);
                return Err(e);
            }
        };
        track(&temp_path, true);
        Ok(OutputFolder {
            path: out.to_path_buf(),
            parent,
            root,
            temp: Some(temp),
        })
    }

    /// The folder `rel` (a member path) under this one, made where missing: each folder on the
    /// way opened through its parent's handle, never through a link.
    fn folder_at(&self, dirs: &[OsString]) -> Result<(OwnedFd, PathBuf)> {
        let mut path = self.path.clone();
        let mut fd = rustix::io::dup(&self.root).map_err(|e| at(&path, e))?;
        for d in dirs {
            path.push(d);
            match mkdirat(&fd, d.as_os_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(at(&path, e)),
            }
            fd = open_folder(&fd, d, &path)?;
        }
        Ok((fd, path))
    }

    /// Makes the (empty) folder `rel`, and the folders on the way.
    pub fn create_folder(&self, rel: &str) -> Result<()> {
        self.folder_at(&parts(rel)?).map(|_| ())
    }

    /// Writes the file `rel` (a member path) through `fill`: into a new hidden file in its
    /// folder, then given its name. What is at that name is never opened: with
    /// `options.overwrite` a file, link, pipe or device there is replaced (a folder is
    /// refused); without, anything there is `AlreadyExists`. An input is never replaced.
    pub fn write_file<T>(
        &self,
        rel: &str,
        options: &OutputOptions,
        fill: impl FnOnce(&mut BufWriter<SyncingFile>) -> Result<T>,
    ) -> Result<T> {
        let mut parts = parts(rel)?;
        let name = parts
            .pop()
            .ok_or_else(|| Error::input(None, "empty member path"))?;
        let (dir, dir_path) = self.folder_at(&parts)?;
        let path = dir_path.join(&name);
        self.check_target(&dir, &name, &path, options)?;
        let temp = temp_name();
        let flags =
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = openat(&dir, temp.as_os_str(), flags, Mode::from_raw_mode(0o644))
            .map_err(|e| at(&path, e))?;
        let temp_path = dir_path.join(&temp);
        track(&temp_path, true);
        let result = (|| {
            let mut w = BufWriter::new(SyncingFile::new(File::from(fd), options.sync));
            let value = fill(&mut w)?;
            let file = w.into_inner().map_err(|e| e.into_error())?;
            if let Some(mtime) = options.modified {
                file.file.set_modified(mtime)?;
            }
            file.finish()?;
            self.check_target(&dir, &name, &path, options)?;
            let placed = match options.overwrite {
                true => renameat(&dir, temp.as_os_str(), &dir, name.as_os_str()),
                false => linkat(
                    &dir,
                    temp.as_os_str(),
                    &dir,
                    name.as_os_str(),
                    AtFlags::empty(),
                )
                .and_then(|()| unlinkat(&dir, temp.as_os_str(), AtFlags::empty())),
            };
            placed.map_err(|e| match e {
                Errno::EXIST => super::exists(&path, "exists").into(),
                e => at(&path, e),
            })?;
            if options.sync {
                rustix::fs::fsync(&dir).map_err(|e| at(&dir_path, e))?;
            }
            Ok(value)
        })();
        if result.is_err() {
            let _ = unlinkat(&dir, temp.as_os_str(), AtFlags::empty());
        }
        track(&temp_path, false);
        result
    }

    /// Refuses what may not be replaced at `name` in `dir`: anything without `overwrite`,
    /// a folder, or one of the inputs.
    fn check_target(
        &self,
        dir: &OwnedFd,
        name: &OsString,
        path: &Path,
        options: &OutputOptions,
    ) -> Result<()> {
        let st = match statat(dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(at(path, e)),
        };
        if !options.overwrite {
            return Err(super::exists(path, "exists").into());
        }
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            return Err(refused(path, "is a folder; a file is not written over it"));
        }
        let is_input = options
            .inputs
            .iter()
            .any(|i| i.dev() == st.st_dev as u64 && i.ino() == st.st_ino as u64);
        if is_input {
            return Err(input_refused(path));
        }
        Ok(())
    }

    /// Completes the folder: a new one is renamed into place (never over anything that
    /// appeared there meanwhile), after checking the hidden folder is still the one written;
    /// with `sync`, the folders are made durable first.
    pub fn finish(mut self, sync: bool) -> Result<()> {
        if sync {
            rustix::fs::fsync(&self.root).map_err(|e| at(&self.path, e))?;
        }
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        let temp_path = super::folder_of(&self.path).join(&temp);
        let result = self.place(&temp, &temp_path, sync);
        if result.is_err() {
            let _ = fs::remove_dir_all(&temp_path);
        }
        track(&temp_path, false);
        result
    }

    fn place(&self, temp: &OsString, temp_path: &Path, sync: bool) -> Result<()> {
        let ours = fstat(&self.root).map_err(|e| at(temp_path, e))?;
        let there = statat(&self.parent, temp.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| at(temp_path, e))?;
        if (there.st_dev, there.st_ino) != (ours.st_dev, ours.st_ino) {
            return Err(refused(
                temp_path,
                "was moved or replaced while it was written",
            ));
        }
        let name = self.path.file_name().unwrap_or_default();
        renameat_with(
            &self.parent,
            temp.as_os_str(),
            &self.parent,
            name,
            RenameFlags::NOREPLACE,
        )
        .map_err(|e| match e {
            Errno::EXIST | Errno::NOTEMPTY => super::exists(&self.path, "exists").into(),
            e => at(&self.path, e),
        })?;
        if sync {
            rustix::fs::fsync(&self.parent).map_err(|e| at(&self.path, e))?;
        }
        Ok(())
    }
}

impl Drop for OutputFolder {
    /// An unfinished new folder is removed.
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let temp_path = super::folder_of(&self.path).join(&temp);
            let _ = fs::remove_dir_all(&temp_path);
            track(&temp_path, false);
        }
    }
}
