//! PyTorch checkpoints (`torch.save`'s zip format: `.bin`, `.pt`, `.pth`) read without
//! torch and without running their pickles, as the safetensors file they are equivalent to.
//!
//! A checkpoint is a zip archive holding `ARCHIVE/data.pkl` (the object graph: dicts of
//! tensors, each a view into a storage) and one member `ARCHIVE/data/KEY` per storage,
//! stored uncompressed. [`Checkpoint`] reads the pickle with a restricted interpreter (only
//! the globals a tensor checkpoint names are understood; any other is refused, never
//! called), flattens the graph to names, checks every view against its storage, and then
//! reads as a safetensors stream: a header it builds, and each tensor's bytes taken by range
//! from the archive (a strided view, such as a transposed tensor, is gathered into order).
//! Values that hold no tensor (an epoch, a learning rate) go into the header's metadata
//! as JSON text.

mod flatten;
mod folder;
mod globals;
mod unpickle;
mod value;

pub use folder::{convert_in_folder, safetensors_name, Converted};

use crate::convert::safetensors::{build_header, parse_header_json, Header};
use crate::{Error, Result};
use std::io::{Read, Seek, SeekFrom};
use unpickle::View;

/// Largest `data.pkl` read: the object graph of a checkpoint, not its tensors (a 7B model's
/// state dict pickles to well under 1 MiB).
pub const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// Whether `head` (a file's first bytes) starts a zip archive, as PyTorch checkpoints do.
pub fn looks_like_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

/// Largest view read from a smaller storage (an expanded tensor).
pub const MAX_EXPANDED_BYTES: u64 = 1 << 30;

fn bad(why: impl std::fmt::Display) -> Error {
    Error::input(None, why)
}

/// Where one tensor's bytes come from.
#[derive(Debug)]
enum Piece {
    /// `len` bytes at `at` in the archive.
    Range { at: u64 },
    /// A strided view: the storage bytes it touches start at `at`, `span` of them;
    /// `shape` and `stride` are in elements of `size` bytes.
    Strided {
        at: u64,
        span: u64,
        size: u64,
        shape: Vec<u64>,
        stride: Vec<u64>,
    },
}

/// A PyTorch zip checkpoint read as the safetensors stream it is equivalent to
/// ([`Read`] + [`Seek`]): give it to [`compress_safetensors`](crate::compress_safetensors).
pub struct Checkpoint<R> {
    inner: R,
    head: Vec<u8>,
    header: Header,
    pieces: Vec<Piece>,
    pos: u64,
    /// The storage bytes of the strided piece last read, by index.
    gathered: Option<(usize, Vec<u8>)>,
}

impl<R: Read + Seek> Checkpoint<R> {
    /// Reads the archive's directory and pickle; refuses what is not a tensor checkpoint
    /// ([`Error::InvalidInput`], saying why: a global other than the few a checkpoint
    /// needs, a storage missing or shorter than its views, a compressed storage).
    pub fn open(mut inner: R) -> Result<Self> {
        // A storage must lie inside the archive: its directory may claim more than is there.
        let archive_len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        let mut zip = zip::ZipArchive::new(inner).map_err(|e| {
            bad(format!(
                "a zip archive, as PyTorch checkpoints are, that cannot be read: {e}"
            ))
        })?;
        let (prefix, pickle) = read_pickle(&mut zip)?;
        let root = unpickle::unpickle(&pickle, "data.pkl")?;
        let flat = flatten::flatten(&root.0, pickle.len())?;
        let mut tensors = Vec::with_capacity(flat.tensors.len());
        let mut by_name = std::collections::HashMap::new();
        for (name, view) in &flat.tensors {
            let piece =
                locate(&mut zip, &prefix, view, archive_len).map_err(|e| in_tensor(name, e))?;
            tensors.push((name.clone(), view.dtype, view.shape.clone()));
            by_name.insert(name.as_str(), piece);
        }
        let raw = build_header(&tensors, &flat.values);
        let header = parse_header_json(raw)?;
        // The pieces in the header's data order (ties among empty tensors in any order).
        let pieces = header
            .entries
            .iter()
            .map(|e| by_name.remove(e.name.as_str()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("a tensor name the header does not keep"))?;
        let mut head = (header.raw.len() as u64).to_le_bytes().to_vec();
        head.extend_from_slice(header.raw.as_bytes());
        Ok(Checkpoint {
            inner: zip.into_inner(),
            head,
            header,
            pieces,
            pos: 0,
            gathered: None,
        })
    }

    /// The safetensors header this checkpoint reads as: tensor names, dtypes, shapes, and
    /// the values that hold no tensor as metadata.
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn len(&self) -> u64 {
        self.header.file_len()
    }

    /// The storage bytes strided piece `i` touches (read once, kept for the next read).
    fn span(&mut self, i: usize) -> std::io::Result<&[u8]> {
        if self.gathered.as_ref().is_none_or(|(g, _)| *g != i) {
            self.gathered = None;
            let Some(Piece::Strided { at, span, .. }) = self.pieces.get(i) else {
                return Err(std::io::Error::other("not a strided piece"));
            };
            let mut raw = Vec::new();
            self.inner.seek(SeekFrom::Start(*at))?;
            (&mut self.inner).take(*span).read_to_end(&mut raw)?;
            self.gathered = Some((i, raw));
        }
        Ok(self.gathered.as_ref().map_or(&[][..], |(_, v)| v))
    }
}

fn in_tensor(name: &str, e: Error) -> Error {
    Error::input(Some(name), e)
}

/// The archive's folder (`archive/`, or whatever name it was saved under) and its pickle.
fn read_pickle<R: Read + Seek>(zip: &mut zip::ZipArchive<R>) -> Result<(String, Vec<u8>)> {
    let pickle = zip
        .file_names()
        .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
        .min_by_key(|n| n.len())
        .map(str::to_owned)
        .ok_or_else(|| bad("a zip archive without data.pkl: not a PyTorch checkpoint"))?;
    let prefix = pickle.trim_end_matches("data.pkl").to_string();
    if let Some(i) = zip.index_for_name(&format!("{prefix}byteorder")) {
        let mut order = String::new();
        let f = zip
            .by_index(i)
            .map_err(|e| bad(format!("byteorder: {e}")))?;
        f.take(16).read_to_string(&mut order)?;
        if order.trim() != "little" {
            return Err(bad(format!(
                "a {} checkpoint: only little-endian ones are read",
                order.trim()
            )));
        }
    }
    let f = zip
        .by_name(&pickle)
        .map_err(|e| bad(format!("{pickle}: {e}")))?;
    if f.size() > MAX_PICKLE_BYTES {
        return Err(bad(format!(
            "{pickle} declares {} bytes, more than the {MAX_PICKLE_BYTES} a checkpoint's object graph may take",
            f.size()
        )));
    }
    let mut bytes = Vec::new();
    f.take(MAX_PICKLE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("{pickle}: {e}")))?;
    Ok((prefix, bytes))
}

/// Where `view`'s bytes are in the archive, checked against its storage.
fn locate<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    prefix: &str,
    view: &View,
    archive_len: u64,
) -> Result<Piece> {
    let st = &view.storage;
    let size = view.dtype.size() as u64;
    // The storage's bytes, counted in elements of the view's dtype.
    let elements = st.numel.saturating_mul(st.dtype.size() as u64) / size;
    let member = format!("{prefix}data/{}", st.key);
    let f = zip
        .by_name(&member)
        .map_err(|_| bad(format!("its storage {} is not in the archive", st.key)))?;
    if f.compression() != zip::CompressionMethod::Stored || f.encrypted() {
        return Err(bad(format!(
            "its storage {} is compressed or encrypted in the zip; torch stores storages as they are",
            st.key
        )));
    }
    let at = f
        .data_start()
        .ok_or_else(|| bad(format!("storage {}: no data offset", st.key)))?;
    let have = f.size();
    if at.checked_add(have).is_none_or(|end| end > archive_len) {
        return Err(bad(format!(
            "its storage {} claims {have} bytes from offset {at}, past the end of the \
             {archive_len}-byte archive",
            st.key
        )));
    }
    let want = st.numel.checked_mul(st.dtype.size() as u64);
    if want.is_none_or(|w| w > have) {
        return Err(bad(format!(
            "its storage {} holds {have} bytes, fewer than its {} elements of {}",
            st.key,
            st.numel,
            st.dtype.name()
        )));
    }
    let numel = view
        .shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad("its size overflows"))?;
    if numel == 0 {
        return Ok(Piece::Range { at });
    }
    let last = view
        .shape
        .iter()
        .zip(&view.stride)
        .try_fold(view.offset, |acc, (&d, &s)| {
            acc.checked_add((d - 1).checked_mul(s)?)
        })
        .filter(|&last| last < elements)
        .ok_or_else(|| {
            bad(format!(
                "it reads past the end of its storage {} ({elements} elements of {})",
                st.key,
                view.dtype.name()
            ))
        })?;
    // An expanded view (stride 0) repeats its storage: allowed up to 1 GiB, so that a
    // few bytes of pickle cannot declare terabytes to encode.
    let bytes = numel.saturating_mul(size);
    if bytes > have && bytes > MAX_EXPANDED_BYTES {
        return Err(bad(format!(
            "a view of {bytes} bytes over a storage of {have}: larger than the \
             {MAX_EXPANDED_BYTES} an expanded view may reach"
        )));
    }
    let start = at + view.offset * size;
    if is_contiguous(&view.shape, &view.stride) {
        return Ok(Piece::Range { at: start });
    }
    Ok(Piece::Strided {
        at: start,
        span: (last - view.offset + 1) * size,
        size,
        shape: view.shape.clone(),
        stride: view.stride.clone(),
    })
}

/// Whether a view with these sizes and strides is laid out in row-major order (strides of
/// dimensions of size 1 do not matter).
fn is_contiguous(shape: &[u64], stride: &[u64]) -> bool {
    let mut want = 1u64;
    for (&d, &s) in shape.iter().zip(stride).rev() {
        if d != 1 && s != want {
            return false;
        }
        want = want.saturating_mul(d);
    }
    true
}

/// Fills `out` with a strided view's bytes in row-major order, from byte `from` of that
/// order; `raw` holds the storage from the view's first element. Computed element by
/// element, so an expanded view (stride 0) costs no memory beyond its storage. `None` if
/// an element lies outside `raw`.
fn gather(
    raw: &[u8],
    size: u64,
    shape: &[u64],
    stride: &[u64],
    from: u64,
    out: &mut [u8],
) -> Option<()> {
    let mut k = from / size;
    let mut skip = (from % size) as usize;
    let mut done = 0;
    while done < out.len() {
        // Element k's position in the storage: its row-major index, digit by digit.
        let (mut rest, mut at) = (k, 0u64);
        for (&d, &s) in shape.iter().zip(stride).rev() {
            at += (rest % d) * s;
            rest /= d;
        }
        let at = usize::try_from(at * size).ok()?;
        let element = raw.get(at..at + size as usize)?.get(skip..)?;
        let n = element.len().min(out.len() - done);
        out.get_mut(done..done + n)?
            .copy_from_slice(element.get(..n)?);
        done += n;
        skip = 0;
        k += 1;
    }
    Some(())
}

impl<R: Read + Seek> Read for Checkpoint<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let head = self.head.len() as u64;
        if self.pos < head {
            let from = &self.head[self.pos as usize..];
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            self.pos += n as u64;
            return Ok(n);
        }
        let at = self.pos - head;
        let entries = &self.header.entries;
        let i = entries.partition_point(|e| e.end <= at);
        let Some(e) = entries.get(i) else {
            return Ok(0);
        };
        let (begin, end) = (e.begin, e.end);
        let want = ((end - at) as usize).min(buf.len());
        let n = match &self.pieces[i] {
            Piece::Range { at: from } => {
                self.inner.seek(SeekFrom::Start(from + (at - begin)))?;
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                n
            }
            Piece::Strided {
                size,
                shape,
                stride,
                ..
            } => {
                let (size, shape, stride) = (*size, shape.clone(), stride.clone());
                let raw = self.span(i)?;
                gather(raw, size, &shape, &stride, at - begin, &mut buf[..want])
                    .ok_or_else(|| std::io::Error::other("a view outside its storage"))?;
                want
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Checkpoint<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::other("seek before the start"))?;
        Ok(self.pos)
    }
}
