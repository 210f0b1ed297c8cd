//! What an input is, said in one line when it is not what was asked for: a folder, a
//! PyTorch checkpoint, GGUF, ONNX, NumPy, JSON, text, a safetensors file where `.elv` was
//! expected, or the other way round. Every entry point (the `elv` command, the Python
//! package) checks its inputs here, so they all say the same.
//!
//! ```
//! use elv::sniff::{wrong_format, InputFormat};
//! let what = wrong_format(b"PK\x03\x04....", "pytorch_model.bin", InputFormat::Safetensors);
//! assert!(what.unwrap().contains("PyTorch"));
//! ```

use crate::convert::pytorch::looks_like_zip;
use crate::{Error, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The format an entry point reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// An `.elv` file (SPEC.md §3).
    Elv,
    /// A safetensors file.
    Safetensors,
    /// Weights `compress` reads: a safetensors file or a PyTorch zip checkpoint.
    Weights,
}

/// What the file starting with `head` (and named `name`) is, if it is not `want`; `None`
/// when it looks like the right thing. `head` is the file's first bytes (64 are plenty).
pub fn wrong_format(head: &[u8], name: &str, want: InputFormat) -> Option<String> {
    if looks_like(head, want) {
        return None;
    }
    let fallback = || match want {
        InputFormat::Elv if head.len() < 8 => format!("not .elv: only {} bytes", head.len()),
        InputFormat::Elv => "not an .elv file (its first bytes are not the .elv signature)".into(),
        InputFormat::Safetensors | InputFormat::Weights => {
            "not a safetensors file (it does not start with a header length and a JSON header)"
                .into()
        }
    };
    Some(recognized(head, name).unwrap_or_else(fallback))
}

/// Whether `head` starts as `format` does.
fn looks_like(head: &[u8], format: InputFormat) -> bool {
    match format {
        InputFormat::Elv => head.starts_with(b"\x89ELV\r\n\x1a\n"),
        InputFormat::Safetensors => {
            head.len() >= 9
                && u64::from_le_bytes(head[..8].try_into().unwrap_or([0; 8])) < 100_000_000
                && head[8] == b'{'
        }
        InputFormat::Weights => looks_like(head, InputFormat::Safetensors) || looks_like_zip(head),
    }
}

/// What the file is, when its first bytes (or its name) say so.
fn recognized(head: &[u8], name: &str) -> Option<String> {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    let what = if looks_like(head, InputFormat::Elv) {
        "already .elv (decompress turns it back into safetensors)".to_string()
    } else if looks_like(head, InputFormat::Safetensors) {
        "a safetensors file, not .elv (compress turns it into .elv)".to_string()
    } else if looks_like_zip(head) {
        "a zip archive, as PyTorch checkpoints (.bin, .pt, .pth) are: not safetensors (elv \
         compress reads PyTorch checkpoints)"
            .to_string()
    } else if head.first() == Some(&0x80) && head.get(1).is_some_and(|&p| (2..=5).contains(&p)) {
        "a Python pickle, as legacy PyTorch checkpoints are: not read (re-save it in the zip \
         format elv reads: torch.save(torch.load(PATH, weights_only=True), OUT))"
            .to_string()
    } else if head.starts_with(b"GGUF") {
        "a GGUF model (llama.cpp), not safetensors".to_string()
    } else if head.starts_with(b"\x93NUMPY") {
        "a NumPy .npy array, not safetensors".to_string()
    } else if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        "an HDF5 file (Keras .h5), not safetensors".to_string()
    } else if ext == "onnx" {
        "an ONNX model, not safetensors".to_string()
    } else if head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        "JSON text (a model.safetensors.index.json lists a model's shards: give the shards)"
            .to_string()
    } else if !head.is_empty()
        && head
            .iter()
            .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "a text file".to_string()
    } else {
        return None;
    };
    Some(what)
}

/// Checks that the open `file` (named `name` in messages) is `want`, from its first bytes;
/// the file is rewound after. A file of another kind is [`Error::InvalidInput`] saying
/// what it is. Bytes of no known kind where `.elv` is wanted pass: the reader's own error
/// (`BadMagic`, `Truncated`, with the offset) says more.
pub fn check_format(file: &mut File, name: &str, want: InputFormat) -> Result<()> {
    let mut head = Vec::with_capacity(64);
    let read = file
        .by_ref()
        .take(64)
        .read_to_end(&mut head)
        .and_then(|_| file.seek(SeekFrom::Start(0)));
    read.map_err(|e| Error::io_at(Path::new(name), e))?;
    let wrong = match want {
        InputFormat::Elv if !looks_like(&head, want) => recognized(&head, name),
        _ => wrong_format(&head, name, want),
    };
    match wrong {
        Some(what) => Err(Error::input(None, format!("{name}: {what}"))),
        None => Ok(()),
    }
}

/// Opens `path` to be read as `want`: a folder, or a file of another kind, is
/// [`Error::InvalidInput`] saying what it is; a missing file is [`Error::Io`] naming it.
pub fn open_input(path: &Path, want: InputFormat) -> Result<File> {
    let mut file = open_regular(path, true)?;
    let name = path.display().to_string();
    if file.metadata().map_err(|e| Error::io_at(path, e))?.is_dir() {
        let what = match want {
            InputFormat::Elv => "a folder, not an .elv file",
            InputFormat::Safetensors | InputFormat::Weights => {
                "a folder: compress it as one collection (compress_folder, or elv compress DIR)"
            }
        };
        return Err(Error::input(None, format!("{name}: {what}")));
    }
    check_format(&mut file, &name, want)?;
    Ok(file)
}

/// Opens `path` for reading if it is a regular file (or, with `folders`, a folder): a named
/// pipe, socket or device is refused without blocking on it (it is opened non-blocking and
/// checked through the handle, so nothing can be swapped in between). A pipe is read
/// through stdin instead.
pub fn open_regular(path: &Path, folders: bool) -> Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a pipe with no writer would block; O_NONBLOCK changes nothing for the
        // regular files and folders that are kept.
        options.custom_flags(nonblock());
    }
    let file = options.open(path).map_err(|e| Error::io_at(path, e))?;
    let kind = file
        .metadata()
        .map_err(|e| Error::io_at(path, e))?
        .file_type();
    if kind.is_file() || (folders && kind.is_dir()) {
        return Ok(file);
    }
    Err(Error::input(
        None,
        format!(
            "{}: not a regular file (a pipe, socket or device); it is not read (pipe it to stdin instead)",
            path.display()
        ),
    ))
}

#[cfg(all(unix, target_os = "linux"))]
fn nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

#[cfg(all(unix, not(target_os = "linux")))]
fn nonblock() -> i32 {
    // O_NONBLOCK on the BSDs and macOS.
    0x0004
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_named() {
        use InputFormat::{Elv, Safetensors};
        let st = [&16u64.to_le_bytes()[..], b"{\"a\":1}"].concat();
        assert!(wrong_format(&st, "m.safetensors", Safetensors).is_none());
        assert!(wrong_format(b"\x89ELV\r\n\x1a\n....", "m.elv", Elv).is_none());
        let cases: [(&[u8], &str, InputFormat, &str); 9] = [
            (
                b"PK\x03\x04abcd",
                "pytorch_model.bin",
                Safetensors,
                "PyTorch",
            ),
            (b"\x80\x02}q\x00", "model.pt", Safetensors, "pickle"),
            (b"GGUF\x03\x00\x00\x00", "m.gguf", Safetensors, "GGUF"),
            (b"\x93NUMPY\x01\x00", "a.npy", Safetensors, "NumPy"),
            (b"\x08\x07\x12\x07pytorch", "m.onnx", Safetensors, "ONNX"),
            (
                b"{\n  \"weight_map\": {",
                "model.safetensors.index.json",
                Safetensors,
                "JSON",
            ),
            (b"hello world\n", "notes.txt", Safetensors, "text"),
            (
                b"\x89ELV\r\n\x1a\n....",
                "m.elv",
                Safetensors,
                "already .elv",
            ),
            (&st, "m.safetensors", Elv, "not .elv"),
        ];
        for (head, name, want_elv, says) in cases {
            let got = wrong_format(head, name, want_elv).unwrap_or_default();
            assert!(got.contains(says), "{name}: {got}");
        }
    }

    #[test]
    fn open_input_names_folders_and_wrong_files() {
        let dir = tempfile::tempdir().unwrap();
        let said = |e: Error| match e {
            Error::InvalidInput(i) => i.reason,
            other => panic!("not InvalidInput: {other}"),
        };
        let folder = said(open_input(dir.path(), InputFormat::Safetensors).unwrap_err());
        assert!(
            folder.contains("a folder: compress it as one collection"),
            "{folder}"
        );
        let folder = said(open_input(dir.path(), InputFormat::Elv).unwrap_err());
        assert!(folder.contains("a folder, not an .elv file"), "{folder}");
        let zip = dir.path().join("pytorch_model.bin");
        std::fs::write(&zip, b"PK\x03\x04 and the rest of a checkpoint").unwrap();
        let got = said(open_input(&zip, InputFormat::Safetensors).unwrap_err());
        assert!(
            got.starts_with(&format!("{}: a zip archive", zip.display())),
            "{got}"
        );
        let missing = open_input(&dir.path().join("nope"), InputFormat::Elv).unwrap_err();
        assert!(matches!(missing, Error::Io(_)) && missing.to_string().contains("nope"));
    }
}
