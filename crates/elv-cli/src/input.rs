//! Opening the command's inputs: a file or `-` (stdin, spooled), checked to be the format
//! wanted (a wrong one named in one line), an `.elv` with its base model, `--base` itself.

use crate::output::{is_stdio, open_file, Fallible};
use elv::sniff::{self, InputFormat};
use elv::{Base, ErrorKind, ReadOptions, Reader};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// Opens an input (`-`: stdin, spooled), saying in one line what it is if it is not the
/// format wanted.
fn open_checked(p: &Path, want: InputFormat) -> Fallible<File> {
    if !is_stdio(p) {
        return Ok(sniff::open_input(p, want)?);
    }
    // stdin is checked on its first bytes, before the rest is spooled: anything but the
    // format wanted (an unknown signature too) is refused at once.
    open_file(p, &mut |head| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(head, &mut bytes)?;
        match sniff::wrong_format(&bytes, "stdin", want) {
            Some(why) => Err(format!("stdin: {why}").into()),
            None => Ok(()),
        }
    })
}

/// Opens weights to compress (safetensors or a PyTorch zip checkpoint), saying in one line
/// what it is if it is neither.
pub fn open_weights(p: &Path) -> Fallible<File> {
    open_checked(p, InputFormat::Weights)
}

/// Opens an `.elv` input, saying in one line what it is if it is not one.
pub fn open_reader(p: &Path) -> Fallible<Reader<File>> {
    let file = open_checked(p, InputFormat::Elv)?;
    let len = file.metadata()?.len();
    Reader::new(file, ReadOptions::default())
        .map_err(|e| explain_open_error(&p.display().to_string(), len, e))
}

/// A failure to open `name` (`len` bytes) as `.elv`, in words: a file cut short says so.
fn explain_open_error(name: &str, len: u64, e: elv::Error) -> Box<dyn std::error::Error> {
    let cut = match &e {
        elv::Error::Format(f) => {
            f.kind() == ErrorKind::Truncated
                || (f.kind() == ErrorKind::BadMagic && f.what() == "trailer magic")
        }
        _ => false,
    };
    if cut {
        format!("{name}: truncated or damaged: it ends at byte {len} without the index an .elv ends with ({e})").into()
    } else {
        format!("{name}: {e}").into()
    }
}

/// `reader` with the base model, if one was given; without one, a file that needs a base is
/// refused before anything is written.
pub fn with_base(
    reader: Reader<std::fs::File>,
    base: &Option<Arc<dyn Base>>,
) -> Fallible<Reader<std::fs::File>> {
    match base {
        Some(b) => Ok(reader.with_shared_base(Arc::clone(b))),
        None if reader.needs_base() => Err(format!(
            "it is stored against base model {:?}: give it with --base BASE",
            reader.base_name().unwrap_or_default()
        )
        .into()),
        None => Ok(reader),
    }
}

/// Opens `--base`: a safetensors file, an `.elv`, or a folder of them.
pub fn open_base(path: Option<&Path>) -> Fallible<Option<Arc<dyn Base>>> {
    let Some(p) = path else { return Ok(None) };
    let base = elv::BaseModel::open(p).map_err(|e| format!("--base {}: {e}", p.display()))?;
    if base.is_empty() {
        return Err(format!("--base {}: holds no tensors", p.display()).into());
    }
    Ok(Some(Arc::new(base)))
}
