//! Writing one tensor larger than memory: its bytes arrive in order through
//! [`std::io::Write`] (or are read from a seekable input, [`Writer::add_tensor_from`]); spans
//! of whole chunks are encoded in parallel and written as they fill, against the tensor's base
//! twin when it has one (SPEC.md §7.7–§7.9, §9.1).

use crate::base::{twin_base, Base};
use crate::codec;
use crate::error::{Error, Result};
use crate::overlap::span_bytes;
use crate::write::dedup::{self, ProbeKey};
use crate::write::options::WriteOptions;
use crate::write::pack::{pack_tensor_with, PackedTensor};
use crate::write::policy;
use crate::write::report::TensorReport;
use crate::write::writer::{Choice, Writer};
use elv_core::engine::writer::effective_chunk_len;
use elv_core::MemberKind;
use elv_core::{DType, Encoding};
use std::io::{self, Write};
use std::sync::Arc;

/// How each span of a tensor is encoded, once its encoding is chosen: shared by the
/// streamed and the seekable path, and sent to the pool while the next span is read.
#[derive(Clone)]
pub(crate) struct SpanEncoder {
    dtype: DType,
    encoding: Encoding,
    options: WriteOptions,
    plan: Vec<codec::Try>,
}

impl SpanEncoder {
    /// Encodes and packs one span of whole chunks (or the tensor's tail), against the
    /// twin's bytes at the same place when the encoding is a delta.
    pub(crate) fn pack(&self, data: &[u8], twin: Option<&[u8]>) -> Result<PackedTensor> {
        pack_tensor_with(
            self.dtype,
            data,
            twin,
            self.encoding,
            &self.options,
            &self.plan,
        )
    }
}

/// The encoding chosen for a tensor and the size of its spans.
struct Open {
    encoder: SpanEncoder,
    /// Bytes encoded together: whole chunks, at least two.
    span: usize,
}

/// A tensor being written span by span, from [`Writer::tensor_writer`].
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
    /// Bytes received and not yet encoded.
    buf: Vec<u8>,
    open: Option<Open>,
    /// Bytes encoded and written so far.
    written: u64,
    crc: crc32fast::Hasher,
    /// The hash of the tensor's bytes, for HD; `None` when dedup is off.
    pub(crate) hash: Option<blake3::Hasher>,
    /// The base the tensor is stored against, with the hash of its twin's bytes so far.
    twin: Option<(Arc<dyn Base>, blake3::Hasher)>,
    /// The probe of a tensor read from a seekable input, recorded when it is complete.
    pub(crate) probe: Option<ProbeKey>,
    stored: u64,
    note: Option<&'static str>,
    finished: bool,
}

impl<W: Write> Writer<W> {
    /// A writer for a tensor given in parts, for tensors larger than memory: write its
    /// bytes in order (it implements [`std::io::Write`]), then call
    /// [`TensorWriter::finish`]. Chunks encode in parallel, a span at a time. With
    /// [`Choice::Auto`], the encoding is chosen on the first span, and a tensor with a twin
    /// in the writer's base may be stored as a delta against it.
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

    /// The writer's base, if it holds a twin for a tensor of this name, dtype and shape.
    pub(crate) fn twin_base(
        &self,
        name: &str,
        dtype: DType,
        shape: &[u64],
    ) -> Option<Arc<dyn Base>> {
        let base = self.base_arc()?;
        twin_base(Some(base.as_ref()), name, dtype, shape)?;
        Some(base)
    }
}

/// Bytes of a tensor of `dtype` and `shape`; the caller's mistake (named) where its size
/// overflows or its sub-byte values do not fill whole bytes.
pub(crate) fn tensor_bytes(name: &str, dtype: DType, shape: &[u64]) -> Result<u64> {
    elv_core::engine::dtype::shape_bytes(dtype, shape)
        .map_err(|e| Error::input(Some(name), e.what()))
}

impl<'w, W: Write> TensorWriter<'w, W> {
    pub(crate) fn new(
        writer: &'w mut Writer<W>,
        name: &str,
        dtype: DType,
        shape: &[u64],
        choice: Choice,
    ) -> Result<Self> {
        let total = tensor_bytes(name, dtype, shape)?;
        let hash = (choice == Choice::Auto && writer.options().dedup).then(blake3::Hasher::new);
        Ok(TensorWriter {
            writer,
            name: name.to_owned(),
            dtype,
            shape: shape.to_vec(),
            choice,
            total,
            buf: Vec::new(),
            open: None,
            written: 0,
            crc: crc32fast::Hasher::new(),
            hash,
            twin: None,
            probe: None,
            stored: 0,
            note: None,
            finished: false,
        })
    }

    /// Bytes the first span must hold before an encoding is chosen: the sample.
    fn decide_at(&self) -> usize {
        let size = self.dtype.size() as u64;
        let span = span_bytes(self.writer.options().batch_bytes) / size * size;
        usize::try_from(span.max(size).min(self.total)).unwrap_or(usize::MAX)
    }

    /// Chooses the encoding on the bytes received so far and opens the tensor.
    fn open(&mut self) -> Result<()> {
        let opts = *self.writer.options();
        let twin = self.writer.twin_base(&self.name, self.dtype, &self.shape);
        let (encoding, plan, note) =
            match self.choice {
                Choice::Exact(e) if e.needs_base() && twin.is_none() => return Err(Error::input(
                    Some(&self.name),
                    "encoding needs a base twin (same name, dtype and shape in the writer's base)",
                )),
                Choice::Exact(e) => (e, Vec::new(), None),
                Choice::Auto => self.choose(&opts, twin.as_deref())?,
            };
        let twin = twin.filter(|_| encoding.needs_base());
        self.open_as(encoding, plan, note, twin)
    }

    /// The encoding [`Choice::Auto`] picks on the first span, with its codec plan and why
    /// ELF was ruled out (if it was); `twin` adds the deltas.
    fn choose(
        &self,
        opts: &WriteOptions,
        twin: Option<&dyn Base>,
    ) -> Result<(Encoding, Vec<codec::Try>, Option<&'static str>)> {
        let sample = &self.buf;
        let (mut cands, note) = policy::candidates(self.dtype, sample, opts)?;
        if twin.is_some() {
            cands = policy::with_deltas(cands);
        }
        let size = self.dtype.size() as u64;
        let ranges = policy::trial_sample(sample.len() as u64, size, opts.chunk_len);
        let slices: Vec<&[u8]> = ranges
            .iter()
            .filter_map(|r| sample.get(r.start as usize..r.end as usize))
            .collect();
        let twin_slices = policy::twin_sample(twin, &self.name, &ranges)?;
        let twin_slices: Option<Vec<&[u8]>> = twin_slices
            .as_ref()
            .map(|t| t.iter().map(Vec::as_slice).collect());
        let cands = policy::de_only_if_repeating(self.dtype, &slices, cands.into_iter());
        let (best, plan) = match cands.as_slice() {
            [only] => (*only, Vec::new()),
            _ => policy::choose_by_trial(
                self.dtype,
                &slices,
                twin_slices.as_deref(),
                &cands,
                opts.level,
            )?,
        };
        Ok((best, plan, note))
    }

    /// Opens the tensor with `encoding` (stored against `twin` if given): from here on its
    /// bytes are encoded a span at a time.
    pub(crate) fn open_as(
        &mut self,
        encoding: Encoding,
        plan: Vec<codec::Try>,
        note: Option<&'static str>,
        twin: Option<Arc<dyn Base>>,
    ) -> Result<()> {
        let opts = *self.writer.options();
        let len = usize::try_from(self.total).unwrap_or(usize::MAX);
        let chunk_len = effective_chunk_len(encoding, self.dtype, len, opts.chunk_len)
            .map_err(|e| Error::input(Some(&self.name), e))?;
        let chunk_bytes = (chunk_len.max(1) as usize).saturating_mul(self.dtype.size());
        let span = span_bytes(opts.batch_bytes) as usize;
        let span = (span / chunk_bytes).max(2).saturating_mul(chunk_bytes);
        let (name, dtype, shape) = (self.name.clone(), self.dtype, self.shape.clone());
        self.writer
            .begin_tensor(&name, dtype, &shape, encoding, chunk_len)?;
        self.note = note;
        self.twin = twin.map(|b| (b, blake3::Hasher::new()));
        self.open = Some(Open {
            encoder: SpanEncoder {
                dtype,
                encoding,
                options: opts,
                plan,
            },
            span,
        });
        Ok(())
    }

    /// How spans are encoded, and their size in bytes, once the tensor is open.
    pub(crate) fn encoder(&self) -> Result<(SpanEncoder, usize)> {
        match &self.open {
            Some(o) => Ok((o.encoder.clone(), o.span)),
            None => Err(Error::Internal("span encoded before the tensor was opened")),
        }
    }

    /// The twin's bytes at `at..at + len` of the tensor, if it is stored against one (read
    /// in order: their hash is taken as they are read).
    pub(crate) fn twin_span(&mut self, at: u64, len: u64) -> Result<Option<Vec<u8>>> {
        let Some((base, hash)) = &mut self.twin else {
            return Ok(None);
        };
        let bytes = base.read_range(&self.name, at, len)?;
        hash.update(&bytes);
        Ok(Some(bytes))
    }

    /// Writes the next span of `len` bytes, encoded as `packed`.
    pub(crate) fn push_span(&mut self, len: u64, packed: &PackedTensor) -> Result<()> {
        self.crc
            .combine(&crc32fast::Hasher::new_with_initial_len(packed.crc32, len));
        self.stored += packed.stored_len();
        self.written += len;
        self.writer.push_packed(packed)
    }

    /// Bytes encoded and written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Encodes and writes the first `len` buffered bytes (whole chunks, or the tail).
    fn flush_span(&mut self, len: usize) -> Result<()> {
        let (encoder, _) = self.encoder()?;
        let twin = self.twin_span(self.written, len as u64)?;
        let data = self.buf.get(..len).unwrap_or_default();
        let packed = encoder.pack(data, twin.as_deref())?;
        self.push_span(len as u64, &packed)?;
        self.buf.drain(..len);
        Ok(())
    }

    /// Takes more bytes of the tensor.
    fn push(&mut self, bytes: &[u8]) -> Result<()> {
        let received = self.written + self.buf.len() as u64;
        if received + bytes.len() as u64 > self.total {
            return Err(Error::input(
                Some(&self.name),
                format!(
                    "more bytes than dtype and shape hold ({} bytes)",
                    self.total
                ),
            ));
        }
        if let Some(h) = &mut self.hash {
            h.update(bytes);
        }
        self.buf.extend_from_slice(bytes);
        // A tensor that fits the sample is written whole at `finish`, like `add_tensor`.
        let complete = received + bytes.len() as u64 == self.total;
        if self.open.is_none() && self.buf.len() >= self.decide_at() && !complete {
            self.open()?;
        }
        while let Some(span) = self.open.as_ref().map(|o| o.span) {
            if self.buf.len() < span {
                break;
            }
            self.flush_span(span)?;
        }
        Ok(())
    }

    /// Completes the tensor: checks that all its bytes arrived, writes the last span, and
    /// gives its report.
    pub fn finish(mut self) -> Result<TensorReport> {
        self.finished = true;
        let received = self.written + self.buf.len() as u64;
        if received != self.total {
            self.writer.abandon(&self.name);
            return Err(Error::input(
                Some(&self.name),
                format!("got {received} of {} bytes", self.total),
            ));
        }
        let (name, dtype, shape) = (self.name.clone(), self.dtype, self.shape.clone());
        let Some(open) = &self.open else {
            let data = std::mem::take(&mut self.buf);
            return self
                .writer
                .add_tensor(&name, dtype, &shape, &data, self.choice);
        };
        let encoding = open.encoder.encoding;
        let rest = self.buf.len();
        if rest > 0 {
            self.flush_span(rest)?;
        }
        let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        let index = self.writer.end_tensor(crc)?;
        if let Some((_, twin_hash)) = self.twin.take() {
            let hash = *twin_hash.finalize().as_bytes();
            self.writer.add_base_entry(index, hash, &name)?;
        }
        if let Some(h) = self.hash.take() {
            let key: dedup::ContentKey = (dtype, shape.clone(), *h.finalize().as_bytes());
            self.writer.seen().insert(key, index);
        }
        if let Some(p) = self.probe.take() {
            self.writer.seen().insert_probe(p);
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
