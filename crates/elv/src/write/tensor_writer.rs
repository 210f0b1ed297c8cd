//! Writing one tensor larger than memory: its bytes arrive in pieces through
//! [`std::io::Write`]; whole chunk groups are encoded in parallel and written as they fill.

use crate::codec;
use crate::error::{Error, Result};
use crate::overlap::piece_bytes;
use crate::write::dedup;
use crate::write::pack::pack_tensor_with;
use crate::write::policy;
use crate::write::report::TensorReport;
use crate::write::writer::{Choice, Writer};
use elv_core::member::MemberKind;
use elv_core::writer::effective_chunk_len;
use elv_core::{DType, Encoding};
use std::io::{self, Write};

/// The encoding chosen for a streamed tensor, once its first group has arrived.
struct Open {
    encoding: Encoding,
    plan: Vec<codec::Try>,
    /// Bytes encoded together: whole chunks, at least two.
    group: usize,
}

/// A tensor being written piece by piece, from [`Writer::tensor_writer`].
///
/// Write exactly `dtype.size()` × product of `shape` bytes, then call
/// [`finish`](Self::finish). Dropping it unfinished (or finishing it short) makes every
/// later call on the [`Writer`], [`Writer::finish`] included, fail: no file that passes as
/// valid can come of it.
///
/// ```
/// use std::io::Write;
/// use elv::{Choice, DType, WriteOptions, Writer};
/// let mut writer = Writer::new(Vec::new(), WriteOptions::default())?;
/// let mut big = writer.tensor_writer("big", DType::I32, &[4, 1000], Choice::Auto)?;
/// for row in 0..4i32 {
///     let values: Vec<u8> = (0..1000).flat_map(|i| (row * 1000 + i).to_le_bytes()).collect();
///     big.write_all(&values)?; // any split: the writer cuts whole chunks itself
/// }
/// big.finish()?;
/// let reader = elv::Reader::from_bytes(writer.finish()?)?;
/// assert_eq!(reader.get("big").unwrap().to_values::<i32>()?[3999], 3999);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TensorWriter<'w, W: Write> {
    writer: &'w mut Writer<W>,
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    choice: Choice,
    total: u64,
    received: u64,
    buf: Vec<u8>,
    open: Option<Open>,
    crc: crc32fast::Hasher,
    hash: Option<blake3::Hasher>,
    stored: u64,
    note: Option<&'static str>,
    finished: bool,
}

impl<W: Write> Writer<W> {
    /// A writer for a tensor given in pieces, for tensors larger than memory: write its
    /// bytes in order (it implements [`std::io::Write`]), then call
    /// [`TensorWriter::finish`]. Chunks encode in parallel, a group at a time. With
    /// [`Choice::Auto`], the encoding is chosen on the first group of chunks.
    pub fn tensor_writer(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        choice: Choice,
    ) -> Result<TensorWriter<'_, W>> {
        self.check_usable()?;
        TensorWriter::new(self, name, dtype, shape, choice)
    }

    /// Starts a file of a collection too large to hold in memory: write its `len` bytes to
    /// the [`TensorWriter`] returned, then finish it.
    pub fn file_writer(&mut self, path: &str, len: u64) -> Result<TensorWriter<'_, W>> {
        self.begin_member(path, MemberKind::File, "")?;
        self.tensor_writer(path, DType::U8, &[len], Choice::Auto)
    }
}

impl<'w, W: Write> TensorWriter<'w, W> {
    fn new(
        writer: &'w mut Writer<W>,
        name: &str,
        dtype: DType,
        shape: &[u64],
        choice: Choice,
    ) -> Result<Self> {
        let total = shape
            .iter()
            .try_fold(dtype.size() as u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| Error::input(Some(name), "tensor size overflows 64 bits"))?;
        let hash = (choice == Choice::Auto && writer.options().dedup).then(blake3::Hasher::new);
        Ok(TensorWriter {
            writer,
            name: name.to_owned(),
            dtype,
            shape: shape.to_vec(),
            choice,
            total,
            received: 0,
            buf: Vec::new(),
            open: None,
            crc: crc32fast::Hasher::new(),
            hash,
            stored: 0,
            note: None,
            finished: false,
        })
    }

    /// Bytes the first group must hold before an encoding is chosen: the sample.
    fn decide_at(&self) -> usize {
        let size = self.dtype.size() as u64;
        let piece = piece_bytes(self.writer.options().batch_bytes) / size * size;
        usize::try_from(piece.max(size).min(self.total)).unwrap_or(usize::MAX)
    }

    /// Chooses the encoding on the bytes received so far and opens the tensor.
    fn open(&mut self) -> Result<()> {
        let opts = *self.writer.options();
        let (encoding, plan, note) = match self.choice {
            Choice::Exact(e) if e.needs_base() => {
                return Err(Error::input(
                    Some(&self.name),
                    "a tensor stored against a base is written whole (Writer::add_tensor), not streamed",
                ))
            }
            Choice::Exact(e) => (e, Vec::new(), None),
            Choice::Auto => {
                let sample = &self.buf;
                let (cands, note) = policy::candidates(self.dtype, sample, &opts)?;
                let size = self.dtype.size() as u64;
                let slices: Vec<&[u8]> =
                    policy::trial_sample(sample.len() as u64, size, opts.chunk_len)
                        .into_iter()
                        .filter_map(|r| sample.get(r.start as usize..r.end as usize))
                        .collect();
                let cands = policy::de_only_if_repeating(self.dtype, &slices, cands.into_iter());
                let (best, plan) = match cands.as_slice() {
                    [only] => (*only, Vec::new()),
                    _ => policy::choose_by_trial(self.dtype, &slices, None, &cands, opts.level)?,
                };
                (best, plan, note)
            }
        };
        let len = usize::try_from(self.total).unwrap_or(usize::MAX);
        let chunk_len = effective_chunk_len(encoding, self.dtype, len, opts.chunk_len)
            .map_err(|e| Error::input(Some(&self.name), e))?;
        let chunk_bytes = (chunk_len.max(1) as usize).saturating_mul(self.dtype.size());
        let piece = piece_bytes(opts.batch_bytes) as usize;
        let group = (piece / chunk_bytes).max(2).saturating_mul(chunk_bytes);
        let (name, dtype, shape) = (self.name.clone(), self.dtype, self.shape.clone());
        self.writer
            .begin_tensor(&name, dtype, &shape, encoding, chunk_len)?;
        self.note = note;
        self.open = Some(Open {
            encoding,
            plan,
            group,
        });
        Ok(())
    }

    /// Encodes and writes the first `len` buffered bytes (whole chunks, or the tail).
    fn flush_group(&mut self, len: usize) -> Result<()> {
        let Some(open) = &self.open else {
            return Err(Error::Internal(
                "group written before the tensor was opened",
            ));
        };
        let data = self.buf.get(..len).unwrap_or_default();
        let opts = *self.writer.options();
        let packed = pack_tensor_with(self.dtype, data, None, open.encoding, &opts, &open.plan)?;
        self.crc.combine(&crc32fast::Hasher::new_with_initial_len(
            packed.crc32,
            len as u64,
        ));
        self.stored += packed.stored_len();
        self.writer.push_packed(&packed)?;
        self.buf.drain(..len);
        Ok(())
    }

    /// Takes more bytes of the tensor.
    fn push(&mut self, bytes: &[u8]) -> Result<()> {
        if self.received + bytes.len() as u64 > self.total {
            return Err(Error::input(
                Some(&self.name),
                format!(
                    "more bytes than dtype and shape hold ({} bytes)",
                    self.total
                ),
            ));
        }
        self.received += bytes.len() as u64;
        if let Some(h) = &mut self.hash {
            h.update(bytes);
        }
        self.buf.extend_from_slice(bytes);
        // A tensor that fits the sample is written whole at `finish`, like `add_tensor`.
        if self.open.is_none() && self.buf.len() >= self.decide_at() && self.received < self.total {
            self.open()?;
        }
        while let Some(group) = self.open.as_ref().map(|o| o.group) {
            if self.buf.len() < group {
                break;
            }
            self.flush_group(group)?;
        }
        Ok(())
    }

    /// Completes the tensor: checks that all its bytes arrived, writes the last group, and
    /// gives its report.
    pub fn finish(mut self) -> Result<TensorReport> {
        self.finished = true;
        if self.received != self.total {
            self.writer.abandon(&self.name);
            return Err(Error::input(
                Some(&self.name),
                format!("got {} of {} bytes", self.received, self.total),
            ));
        }
        let (name, dtype, shape) = (self.name.clone(), self.dtype, self.shape.clone());
        let Some(open) = &self.open else {
            let data = std::mem::take(&mut self.buf);
            return self
                .writer
                .add_tensor(&name, dtype, &shape, &data, self.choice);
        };
        let encoding = open.encoding;
        let rest = self.buf.len();
        if rest > 0 {
            self.flush_group(rest)?;
        }
        let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        let index = self.writer.end_tensor(crc)?;
        if let Some(h) = self.hash.take() {
            let key: dedup::ContentKey = (dtype, shape.clone(), *h.finalize().as_bytes());
            self.writer.seen().insert(key, index);
        }
        Ok(TensorReport::of(
            &name,
            dtype,
            &shape,
            encoding,
            self.stored,
            self.note,
        ))
    }
}

impl<W: Write> Drop for TensorWriter<'_, W> {
    fn drop(&mut self) {
        if !self.finished {
            self.writer.abandon(&self.name);
        }
    }
}

impl<W: Write> Write for TensorWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
