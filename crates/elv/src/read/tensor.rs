//! One tensor of an open file: what it is (name, dtype, shape, encoding, error bound) and
//! its decoded bytes, whole, into a caller's buffer, or streamed in bounded memory.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use crate::element::Element;
use crate::error::{Error, Result};
use crate::overlap::overlapped;
use crate::read::engine::Engine;
use crate::read::fetch::decode_span;
use crate::read::source::Source;
use crate::read::twin::Twin;
use elv_core::engine::decode::check_tensor_crc_value;
use elv_core::{Codec, DType, Encoding, Error as CoreError, ErrorKind, TensorInfo};
use std::io;

/// Bytes of decoded data a [`TensorReader`] holds at a time (whole chunks, at least one).
const STREAM_PIECE_BYTES: u64 = 16 << 20;

/// A tensor of a [`Reader`](crate::Reader): a cheap handle, `Copy`, that decodes on request.
///
/// ```
/// let w = [0.5f32, -0.25, 3.0, 1e-30];
/// let opts = elv::WriteOptions::lossless();
/// let file = elv::serialize([("w", elv::TensorData::f32(&[2, 2], &w))], None, &opts)?;
/// let reader = elv::Reader::from_bytes(file)?;
/// let t = reader.get("w").expect("w is there");
/// assert_eq!((t.name(), t.dtype(), t.shape()), ("w", elv::DType::F32, &[2u64, 2][..]));
/// assert!(t.is_lossless());
/// assert_eq!(t.to_values::<f32>()?, w);  // typed; or to_vec(), decode_into(), stream()
/// # Ok::<(), elv::Error>(())
/// ```
pub struct Tensor<'r, S> {
    pub(super) reader: &'r Engine<S>,
    pub(super) index: usize,
    info: &'r TensorInfo,
}

impl<S> Clone for Tensor<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for Tensor<'_, S> {}

/// Where one stored section of a tensor lies in the file, and how it is coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionSpan {
    /// File offset of the stored bytes.
    pub offset: u64,
    /// Stored bytes.
    pub stored_len: u64,
    /// Bytes once the codec is undone.
    pub decoded_len: u64,
    /// The section codec, if this build knows it.
    pub codec: Option<Codec>,
}

impl<'r, S: Source> Tensor<'r, S> {
    /// The `index`-th tensor of `reader`, if there is one.
    pub(crate) fn new(reader: &'r Engine<S>, index: usize) -> Option<Self> {
        let info = reader.catalog().tensors().get(index)?;
        Some(Tensor::from_parts(reader, index, info))
    }

    pub(crate) fn from_parts(reader: &'r Engine<S>, index: usize, info: &'r TensorInfo) -> Self {
        Tensor {
            reader,
            index,
            info,
        }
    }

    fn info(&self) -> &'r TensorInfo {
        self.info
    }

    /// Position in the file's tensor order.
    pub fn index(&self) -> usize {
        self.index
    }
    /// Name.
    pub fn name(&self) -> &'r str {
        &self.info().name
    }
    /// Element type.
    pub fn dtype(&self) -> DType {
        self.info().dtype
    }
    /// Dimensions, outermost first; empty for a scalar.
    pub fn shape(&self) -> &'r [u64] {
        &self.info().shape
    }
    /// Number of values (1 for a scalar).
    pub fn value_count(&self) -> u64 {
        self.info().num_values()
    }
    /// Decoded size in bytes (little-endian, row-major).
    pub fn byte_len(&self) -> u64 {
        self.info().byte_len()
    }
    /// How the values are stored (SPEC.md §7): [`Encoding::Dedup`] for a reference to an
    /// identical earlier tensor (see [`duplicate_of`](Self::duplicate_of)).
    pub fn encoding(&self) -> Encoding {
        self.info().encoding
    }
    /// The earlier tensor this one repeats (SPEC.md §9), if it is stored as a reference.
    pub fn duplicate_of(&self) -> Option<Tensor<'r, S>> {
        let c = self.info().dedup_of?;
        Tensor::new(self.reader, c as usize)
    }
    /// `k` where every decoded value is within 2^-k of the original (values in (-1, 1); all
    /// others exact); 0 means bit-exact.
    pub fn error_bound_log2(&self) -> u8 {
        self.info().error_bound_log2
    }
    /// The largest absolute error of a decoded value: 0 for a bit-exact tensor.
    pub fn error_bound(&self) -> f64 {
        match self.error_bound_log2() {
            0 => 0.0,
            k => 2f64.powi(-i32::from(k)),
        }
    }
    /// Whether every value decodes bit for bit.
    pub fn is_lossless(&self) -> bool {
        self.error_bound_log2() == 0
    }
    /// Stored bytes of this tensor's own sections (0 for a reference to an earlier tensor).
    pub fn stored_len(&self) -> u64 {
        self.reader.catalog().stored_len(self.index)
    }
    /// Where this tensor's own stream sections lie in the file (none for a reference): for
    /// fetching a tensor by byte ranges, or inspecting which codec each stream got.
    pub fn sections(&self) -> Vec<SectionSpan> {
        let t = self.info();
        let first = t.first_stream as usize;
        let count = usize::try_from(t.stream_count()).unwrap_or(0);
        let entries = &self.reader.catalog().index().entries;
        entries
            .get(first..first.saturating_add(count))
            .unwrap_or_default()
            .iter()
            .map(|e| SectionSpan {
                offset: e.offset,
                stored_len: e.stored_len,
                decoded_len: e.decoded_len,
                codec: Codec::from_code(e.codec),
            })
            .collect()
    }

    pub(super) fn storage(&self) -> Result<&'r TensorInfo> {
        Ok(self.reader.catalog().storage_of(self.index)?)
    }

    /// Decodes the tensor into `out`, which must be exactly [`byte_len`](Self::byte_len)
    /// bytes: its sections are read in one positioned read, chunks decode in parallel, and
    /// the tensor CRC is checked.
    pub fn decode_into(&self, out: &mut [u8]) -> Result<()> {
        let info = self.storage()?;
        if out.len() as u64 != info.byte_len() {
            // The caller's mistake, not a broken file.
            return Err(Error::input(
                Some(self.name()),
                format!(
                    "decode_into needs a buffer of {} bytes, got {}",
                    info.byte_len(),
                    out.len()
                ),
            ));
        }
        let verify = self.reader.verify_checksums();
        if let Some(twin) = self.base_ref()? {
            let mut crc = crc32fast::Hasher::new();
            let mut off = 0;
            for dst in out.chunks_mut(STREAM_PIECE_BYTES as usize) {
                twin.with_range(off, dst.len() as u64, |b| dst.copy_from_slice(b))?;
                crc.update(dst);
                off += dst.len() as u64;
            }
            return Ok(check_tensor_crc_value(info, crc.finalize(), verify)?);
        }
        let span = self.reader.span(self.index, 0..info.chunk_count())?;
        let crc = decode_span(self.reader.catalog().index(), &span, out, verify)?;
        Ok(check_tensor_crc_value(info, crc, verify)?)
    }

    /// For a tensor stored as `base` (the same bytes as its base twin, SPEC.md §7.9): the
    /// twin, checked against the base table.
    pub(super) fn base_ref(&self) -> Result<Option<Twin>> {
        if self.storage()?.encoding != Encoding::BaseRef {
            return Ok(None);
        }
        match self.reader.twin(self.index)? {
            Some(t) => Ok(Some(t)),
            None => Err(CoreError::bare(ErrorKind::BaseMissing, "base twin").into()),
        }
    }

    /// The file was written against a base model, and this tensor needs it to decode.
    pub fn needs_base(&self) -> bool {
        self.storage().is_ok_and(|s| s.encoding.needs_base())
    }

    /// Index of the member of a collection this tensor belongs to (SPEC.md §10.1).
    pub fn member(&self) -> Option<usize> {
        self.reader.catalog().member_of(self.index)
    }

    /// Decodes the tensor into a new vector; memory is reserved fallibly, so a tensor this
    /// machine cannot hold is an error (`LimitExceeded`), not an abort.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut out = crate::buffer::zeroed_buffer(self.byte_len())?;
        self.decode_into(&mut out)?;
        Ok(out)
    }

    /// Decodes the tensor as values of `T`, which must be its dtype (`f32` for F32,
    /// [`half::bf16`] for BF16, ...; a caller's [`Error::InvalidInput`] otherwise). Memory
    /// is reserved fallibly, as in [`to_vec`](Self::to_vec).
    pub fn to_values<T: Element>(&self) -> Result<Vec<T>> {
        if self.dtype() != T::DTYPE {
            return Err(Error::input(
                Some(self.name()),
                format!(
                    "is {}, not {}: read it as that type, or as bytes with to_vec",
                    self.dtype().name(),
                    T::DTYPE.name()
                ),
            ));
        }
        let n = usize::try_from(self.value_count())
            .map_err(|_| CoreError::bare(ErrorKind::LimitExceeded, "tensor size"))?;
        let mut values: Vec<T> = Vec::new();
        values
            .try_reserve_exact(n)
            .map_err(|_| CoreError::bare(ErrorKind::LimitExceeded, "tensor size"))?;
        values.resize(n, <T as bytemuck::Zeroable>::zeroed());
        self.decode_into(bytemuck::cast_slice_mut(&mut values))?;
        if cfg!(target_endian = "big") {
            for c in
                bytemuck::cast_slice_mut::<T, u8>(&mut values).chunks_exact_mut(T::DTYPE.size())
            {
                c.reverse();
            }
        }
        Ok(values)
    }

    /// A reader of the decoded bytes that holds about 16 MiB of them at a time (whole
    /// chunks), whatever the tensor's size. The tensor CRC is checked when the end is
    /// reached: a mismatch is an `InvalidData` error from the last `read`.
    pub fn stream(&self) -> TensorReader<'r, S> {
        TensorReader {
            tensor: *self,
            next_chunk: 0,
            decoded: Vec::new(),
            pos: 0,
            crc: crc32fast::Hasher::new(),
            done: false,
        }
    }
}

/// Chunks per span of about `span_bytes` decoded bytes (at least one).
pub(crate) fn chunks_per_span(info: &TensorInfo, span_bytes: u64) -> u64 {
    let chunk_bytes = info.chunk_len.max(1) * info.dtype.size() as u64;
    (span_bytes / chunk_bytes).max(1)
}

/// Decodes `t` in spans of whole chunks of about `span_bytes` (at least two chunks, so
/// both cores work), handing each to `f` in order, reading the next span while one
/// decodes, and checks the tensor CRC over all of them at the end. `f` returns `false` to
/// stop early (then nothing is checked). Gives whether it ran to the end.
pub(crate) fn for_each_span<S: Source>(
    t: &Tensor<'_, S>,
    span_bytes: u64,
    f: &mut dyn FnMut(Vec<u8>) -> Result<bool>,
) -> Result<bool> {
    let info = t.storage()?;
    let verify = t.reader.verify_checksums();
    if let Some(twin) = t.base_ref()? {
        // The twin in spans; the CRC is checked before the last span is handed over.
        let len = info.byte_len();
        let step = span_bytes.max(1);
        let mut crc = crc32fast::Hasher::new();
        let mut off = 0;
        while off < len {
            let n = step.min(len - off);
            let bytes = twin.with_range(off, n, <[u8]>::to_vec)?;
            crc.update(&bytes);
            off += n;
            if off == len {
                check_tensor_crc_value(info, crc.clone().finalize(), verify)?;
            }
            if !f(bytes)? {
                return Ok(false);
            }
        }
        if len == 0 {
            check_tensor_crc_value(info, crc.finalize(), verify)?;
        }
        return Ok(true);
    }
    let per_span = chunks_per_span(info, span_bytes).max(2);
    let count = info.chunk_count();
    let span_at = |c: u64| c..(c + per_span).min(count);
    let reader = t.reader;
    let mut crc = crc32fast::Hasher::new();
    let mut stopped = false;
    // Hands a decoded span to `f`, its CRC to the tensor's; false once `f` stops.
    let mut deliver = |(decoded, span_crc): (Vec<u8>, u32)| -> Result<bool> {
        crc.combine(&crc32fast::Hasher::new_with_initial_len(
            span_crc,
            decoded.len() as u64,
        ));
        f(decoded)
    };
    if count > 0 {
        let first = reader.span(t.index, span_at(0))?;
        let last = overlapped(
            first,
            |previous, span| {
                let mut spare = None;
                if let Some((done, decoded)) = previous {
                    spare = Some(done.into_bytes());
                    if !deliver(decoded)? {
                        stopped = true;
                        return Ok(None);
                    }
                }
                let after = span.chunks.end;
                (after < count)
                    .then(|| reader.span_reusing(t.index, span_at(after), spare))
                    .transpose()
            },
            |span| -> Result<(Vec<u8>, u32)> {
                let mut out = crate::buffer::zeroed_buffer(span.decoded_len())?;
                let crc = decode_span(reader.catalog().index(), span, &mut out, verify)?;
                Ok((out, crc))
            },
        )?;
        if stopped {
            return Ok(false);
        }
        if let Some((_, decoded)) = last {
            if !deliver(decoded)? {
                return Ok(false);
            }
        }
    }
    check_tensor_crc_value(info, crc.finalize(), verify)?;
    Ok(true)
}

/// The decoded bytes of one tensor as an [`io::Read`], from [`Tensor::stream`].
pub struct TensorReader<'r, S> {
    tensor: Tensor<'r, S>,
    next_chunk: u64,
    decoded: Vec<u8>,
    pos: usize,
    crc: crc32fast::Hasher,
    done: bool,
}

impl<S: Source> TensorReader<'_, S> {
    /// The end: checks the tensor CRC over everything read.
    fn finish(&mut self, info: &TensorInfo) -> Result<()> {
        self.done = true;
        let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        let verify = self.tensor.reader.verify_checksums();
        Ok(check_tensor_crc_value(info, crc, verify)?)
    }

    /// Decodes the next span into the reused buffer; at the end, checks the tensor CRC.
    fn refill(&mut self) -> Result<()> {
        let reader = self.tensor.reader;
        let info = self.tensor.storage()?;
        if let Some(twin) = self.tensor.base_ref()? {
            // The twin in spans (`next_chunk` counts bytes); the tensor CRC is checked at
            // the end as for any other.
            let len = info.byte_len();
            if self.next_chunk < len {
                let n = STREAM_PIECE_BYTES.min(len - self.next_chunk);
                self.decoded = twin.with_range(self.next_chunk, n, <[u8]>::to_vec)?;
                self.crc.update(&self.decoded);
                self.next_chunk += n;
                self.pos = 0;
                return Ok(());
            }
            return self.finish(info);
        }
        let count = info.chunk_count();
        if self.next_chunk >= count {
            return self.finish(info);
        }
        let end = (self.next_chunk + chunks_per_span(info, STREAM_PIECE_BYTES)).min(count);
        let span = reader.span(self.tensor.index, self.next_chunk..end)?;
        elv_core::engine::archive::resize_zeroed(&mut self.decoded, span.decoded_len())?;
        let verify = reader.verify_checksums();
        let crc = decode_span(reader.catalog().index(), &span, &mut self.decoded, verify)?;
        self.crc.combine(&crc32fast::Hasher::new_with_initial_len(
            crc,
            self.decoded.len() as u64,
        ));
        self.next_chunk = end;
        self.pos = 0;
        Ok(())
    }
}

impl<S: Source> io::Read for TensorReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.decoded.len() {
            if self.done {
                return Ok(0);
            }
            self.refill().map_err(io::Error::from)?;
        }
        let rest = self.decoded.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}
