//! A base model on disk (SPEC.md §9.1): a safetensors file, an `.elv` file (its decoded
//! tensors), or a folder of those (a sharded model), read one tensor at a time.

use crate::convert::safetensors::{self, Header};
use crate::Base;
use crate::Reader;
use crate::Source;
use crate::{Error, Result};
use elv_core::{DType, ErrorKind};
use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

enum Part {
    Safetensors { file: File, header: Header },
    Elv(Box<Reader<File>>),
}

/// Where one tensor of a [`BaseModel`] is: a part, and an entry in it.
struct Location {
    part: usize,
    entry: usize,
    dtype: DType,
    shape: Vec<u64>,
}

/// A base model on disk: a safetensors file, an `.elv` file, or a folder holding such files
/// (searched recursively, in name order; the first tensor of a name wins).
pub struct BaseModel {
    name: String,
    parts: Vec<Part>,
    tensors: HashMap<String, Location>,
}

impl BaseModel {
    /// Opens `path`. An `.elv` base must decode on its own (it is not itself a delta).
    pub fn open(path: impl AsRef<Path>) -> Result<BaseModel> {
        let path = path.as_ref();
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut files = Vec::new();
        let meta = std::fs::metadata(path).map_err(|e| Error::io_at(path, e))?;
        if meta.is_dir() {
            collect_files(path, &mut files)?;
        } else {
            files.push(path.to_path_buf());
        }
        let mut base = BaseModel {
            name,
            parts: Vec::new(),
            tensors: HashMap::new(),
        };
        for f in files {
            base.add_file(&f, meta.is_dir())
                .map_err(|e| unreadable(path, e))?;
        }
        Ok(base)
    }

    /// Number of tensors the base offers.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the base has no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Adds a file's tensors; in a folder, files that are neither safetensors nor `.elv`
    /// (configs, tokenizers) are skipped.
    fn add_file(&mut self, path: &Path, in_folder: bool) -> Result<()> {
        let file = crate::sniff::open_regular(path, false)?;
        let len = file.metadata().map_err(|e| Error::io_at(path, e))?.len();
        let magic = &elv_core::engine::header::MAGIC;
        let head = file.read_vec(0, len.min(magic.len() as u64))?;
        let part = self.parts.len();
        if head == magic {
            let reader = Reader::new(file, elv_core::ReadOptions::default())?;
            for (i, t) in reader.iter().enumerate() {
                self.tensors.entry(t.name().to_owned()).or_insert(Location {
                    part,
                    entry: i,
                    dtype: t.dtype(),
                    shape: t.shape().to_vec(),
                });
            }
            self.parts.push(Part::Elv(Box::new(reader)));
            return Ok(());
        }
        let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
        if in_folder && !is_safetensors {
            return Ok(());
        }
        // Positioned reads left the file's cursor at 0.
        let header = safetensors::read_header(&mut BufReader::new(&file), Some(len))
            .map_err(|e| e.in_file(&path.display()))?;
        for (i, e) in header.entries.iter().enumerate() {
            self.tensors.entry(e.name.clone()).or_insert(Location {
                part,
                entry: i,
                dtype: e.dtype,
                shape: e.shape.clone(),
            });
        }
        self.parts.push(Part::Safetensors { file, header });
        Ok(())
    }
}

impl Base for BaseModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn twin(&self, name: &str) -> Option<(DType, Vec<u64>)> {
        self.tensors.get(name).map(|l| (l.dtype, l.shape.clone()))
    }

    fn read(&self, name: &str) -> Result<Vec<u8>> {
        self.read_part(name, None)
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        self.read_part(name, Some((offset, len)))
    }
}

impl BaseModel {
    /// The bytes of tensor `name`, or of `range` (offset, length) of them: a positioned read
    /// from a safetensors part; from an `.elv` part, the chunks that hold them decoded.
    fn read_part(&self, name: &str, range: Option<(u64, u64)>) -> Result<Vec<u8>> {
        let missing = || {
            Error::base(
                ErrorKind::BaseMissing,
                name,
                format!("base {:?} has no tensor {name:?}", self.name),
            )
        };
        let loc = self.tensors.get(name).ok_or_else(missing)?;
        let short = || {
            Error::base(
                ErrorKind::BaseMismatch,
                name,
                format!("base {:?}: tensor {name:?} shorter than asked", self.name),
            )
        };
        match self.parts.get(loc.part).ok_or_else(missing)? {
            Part::Safetensors { file, header } => {
                let e = header.entries.get(loc.entry).ok_or_else(missing)?;
                let (off, len) = range.unwrap_or((0, e.len()));
                if off.checked_add(len).is_none_or(|end| end > e.len()) {
                    return Err(short());
                }
                let start = header.file_len() - header.data_len() + e.begin + off;
                file.read_vec(start, len)
            }
            Part::Elv(reader) => {
                let t = reader.tensor(loc.entry).ok_or_else(missing)?;
                match range {
                    None => t.to_vec(),
                    // Only the chunks that hold the range are decoded.
                    Some((off, len)) if off.checked_add(len).is_some_and(|e| e <= t.byte_len()) => {
                        t.read_range(off, len)
                    }
                    Some(_) => Err(short()),
                }
            }
        }
    }
}

/// The regular files under `dir`, recursively, in name order.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io_at(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io_at(dir, e))?;
    entries.sort();
    for p in entries {
        let meta = std::fs::metadata(&p).map_err(|e| Error::io_at(&p, e))?;
        if meta.is_dir() {
            collect_files(&p, out)?;
        } else if meta.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// A base whose files cannot be read as a base (corrupt, not a format read here, itself
/// needing a base) serves no twin: `BaseMissing` (SPEC.md §9.1), naming the base's own
/// error. An I/O error stays one.
fn unreadable(path: &Path, e: Error) -> Error {
    match e {
        Error::Io(_) => e,
        e => Error::base(
            ErrorKind::BaseMissing,
            "",
            format!("the base {} cannot be read: {e}", path.display()),
        ),
    }
}
