//! An output folder where the `*at` calls are not used (outside Linux): folders and files are
//! made by path, each folder on the way checked not to be a link first. The same interface as
//! on Linux, with a window between check and use that the handle-based writer closes.

use super::{refused, track, write_atomic_with, OutputOptions, SyncingFile};
use crate::error::{Error, Result};
use std::fs;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// A folder being written, by path.
pub struct OutputFolder {
    path: PathBuf,
    root: PathBuf,
    temp: bool,
}

impl OutputFolder {
    /// Starts writing the folder `out` (see the Linux version).
    pub fn create(out: &Path, overwrite: bool) -> Result<OutputFolder> {
        match fs::symlink_metadata(out) {
            Ok(m) if m.file_type().is_symlink() => Err(refused(
                out,
                "is a link; a folder is written only to a real one",
            )),
            Ok(m) if !m.is_dir() => Err(refused(out, "exists and is not a folder")),
            Ok(_) if !overwrite => Err(Error::Io(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: already exists", out.display()),
            ))),
            Ok(_) => Ok(OutputFolder {
                path: out.to_path_buf(),
                root: out.to_path_buf(),
                temp: false,
            }),
            Err(_) => {
                let root = super::create_temp_folder(out).map_err(|e| Error::io_at(out, e))?;
                track(&root, true);
                Ok(OutputFolder {
                    path: out.to_path_buf(),
                    root,
                    temp: true,
                })
            }
        }
    }

    fn folder_at(&self, rel: &str) -> Result<PathBuf> {
        let mut at = self.root.clone();
        for d in rel.split('/') {
            if d.is_empty() || d == "." || d == ".." {
                return Err(Error::input(
                    None,
                    format!("member path {rel:?} leaves the folder"),
                ));
            }
            at.push(d);
            match fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
                    return Err(refused(
                        &at,
                        "is a link or a file, not a folder; refusing to write through it",
                    ))
                }
                Ok(_) => {}
                Err(_) => fs::create_dir(&at).map_err(|e| Error::io_at(&at, e))?,
            }
        }
        Ok(at)
    }

    /// Makes the (empty) folder `rel`, and the folders on the way.
    pub fn create_folder(&self, rel: &str) -> Result<()> {
        self.folder_at(rel).map(|_| ())
    }

    /// Writes the file `rel` through `fill` (see the Linux version).
    pub fn write_file<T>(
        &self,
        rel: &str,
        options: &OutputOptions,
        fill: impl FnOnce(&mut BufWriter<SyncingFile>) -> Result<T>,
    ) -> Result<T> {
        let (dirs, name) = match rel.rsplit_once('/') {
            Some((d, n)) => (Some(d), n),
            None => (None, rel),
        };
        let dir = match dirs {
            Some(d) => self.folder_at(d)?,
            None => self.root.clone(),
        };
        let target = dir.join(name);
        match fs::symlink_metadata(&target) {
            Ok(_) if !options.overwrite => return Err(super::exists(&target, "exists").into()),
            Ok(m) if !m.is_file() => {
                fs::remove_file(&target).map_err(|e| Error::io_at(&target, e))?
            }
            _ => {}
        }
        write_atomic_with(&target, options, fill)
    }

    /// Completes the folder: a new one is renamed into place.
    pub fn finish(mut self, sync: bool) -> Result<()> {
        if !self.temp {
            return Ok(());
        }
        self.temp = false;
        track(&self.root, false);
        if fs::symlink_metadata(&self.path).is_ok() {
            let _ = fs::remove_dir_all(&self.root);
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: already exists", self.path.display()),
            )));
        }
        fs::rename(&self.root, &self.path).map_err(|e| Error::io_at(&self.path, e))?;
        if sync {
            let folder = super::folder_of(&self.path);
            fs::File::open(&folder)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io_at(&folder, e))?;
        }
        Ok(())
    }
}

impl Drop for OutputFolder {
    fn drop(&mut self) {
        if self.temp {
            let _ = fs::remove_dir_all(&self.root);
            track(&self.root, false);
        }
    }
}
