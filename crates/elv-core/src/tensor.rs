//! The tensor table (SPEC.md §6): one record per tensor.
#![deny(clippy::indexing_slicing)]

use crate::cursor::Cursor;
use crate::dtype::{whole_bytes, DType};
use crate::encoding::Encoding;
use crate::limits::{self, Limits};
use crate::{Error, ErrorKind, Result};
use alloc::string::String;
use alloc::vec::Vec;

/// Largest chunk length, in values: DE distances must fit in 31 bits (SPEC.md §6.4).
pub const MAX_CHUNK_LEN: u64 = 1 << 31;

/// Bytes of a record besides its name and dims.
const RECORD_FIXED: usize = 2 + 24;

/// One tensor: what it is and where its streams are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name (UTF-8, unique in the file).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<u64>,
    /// How the values are stored.
    pub encoding: Encoding,
    /// k where decoded values are within 2^-k of the originals; 0 means bit-exact.
    pub error_bound_log2: u8,
    /// CRC32 of the decoded tensor bytes (little-endian, row-major).
    #[doc(hidden)]
    pub crc32: u32,
    /// Values per chunk (the last chunk may be shorter); 0 for empty and dedup tensors.
    /// For the sub-byte dtypes (F4, F6) a chunk's "values" are bytes (SPEC.md §6.2).
    pub chunk_len: u64,
    #[doc(hidden)]
    /// Index of this tensor's first stream section.
    pub first_stream: u32,
    /// For a dedup tensor, the index of the tensor it repeats (set from the dedup table).
    pub dedup_of: Option<u32>,
}

impl TensorInfo {
    /// Number of values (product of the shape; 1 for a scalar). Checked when parsed.
    pub fn num_values(&self) -> u64 {
        self.shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .unwrap_or(u64::MAX)
    }

    /// Decoded size in bytes.
    pub fn byte_len(&self) -> u64 {
        crate::dtype::tensor_bytes(self.dtype, &self.shape).unwrap_or(u64::MAX)
    }

    #[doc(hidden)]
    /// The values as chunks count them (SPEC.md §6.2): the elements, or for the sub-byte
    /// dtypes the bytes they fill.
    pub fn units(&self) -> u64 {
        self.byte_len() / self.dtype.size() as u64
    }

    #[doc(hidden)]
    /// Number of chunks.
    pub fn chunk_count(&self) -> u64 {
        if self.chunk_len == 0 {
            0
        } else {
            self.units().div_ceil(self.chunk_len)
        }
    }

    #[doc(hidden)]
    /// Number of stream sections this tensor owns.
    pub fn stream_count(&self) -> u64 {
        self.chunk_count()
            .saturating_mul(self.encoding.streams_per_chunk(self.dtype) as u64)
    }

    #[doc(hidden)]
    /// The values in chunk `c` (all `chunk_len` but possibly the last).
    pub fn chunk_values(&self, c: u64) -> u64 {
        let start = c.saturating_mul(self.chunk_len);
        self.units().saturating_sub(start).min(self.chunk_len)
    }
}

/// Checks a tensor's chunk length (SPEC.md §6.4, §11): 0 for an empty or dedup tensor,
/// otherwise 1..=min(values, 2^31), and at most `limits.max_chunk_bytes` decoded. The one
/// rule for readers and writers.
pub fn check_chunk_len(
    encoding: Encoding,
    dtype: DType,
    values: u64,
    chunk_len: u64,
    limits: &Limits,
) -> Result<()> {
    let ok = match (encoding, values) {
        (e, _) if e.is_reference() => chunk_len == 0,
        (_, 0) => chunk_len == 0,
        _ => chunk_len >= 1 && chunk_len <= values.min(MAX_CHUNK_LEN),
    };
    if !ok {
        return Err(Error::bare(ErrorKind::Malformed, "chunk length")
            .got_expected(chunk_len, values.min(MAX_CHUNK_LEN)));
    }
    limits::check(
        chunk_len.saturating_mul(dtype.size() as u64),
        limits.max_chunk_bytes,
        "chunk bytes",
        0,
    )
}

/// Serializes the tensor table.
pub fn table_to_bytes(tensors: &[TensorInfo]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    for t in tensors {
        out.extend_from_slice(&(t.name.len() as u16).to_le_bytes());
        out.extend_from_slice(t.name.as_bytes());
        out.push(t.dtype.code());
        out.push(t.encoding.code());
        out.push(t.shape.len() as u8);
        out.push(t.error_bound_log2);
        out.extend_from_slice(&t.crc32.to_le_bytes());
        out.extend_from_slice(&t.chunk_len.to_le_bytes());
        out.extend_from_slice(&t.first_stream.to_le_bytes());
        out.extend_from_slice(&[0u8; 4]);
        for d in &t.shape {
            out.extend_from_slice(&d.to_le_bytes());
        }
    }
    out
}

/// Parses and checks the tensor table (decoded bytes of the section) against the number of
/// stream sections and the limits (SPEC.md §6.4). Errors carry offsets into the table.
/// Names must be unique in the file when `unique_names` (a file without members); in a
/// collection the member table checks them per member (§10.1).
pub fn parse_table(
    bytes: &[u8],
    stream_sections: u32,
    limits: &Limits,
    unique_names: bool,
) -> Result<Vec<TensorInfo>> {
    let mut c = Cursor::new(bytes);
    let count = c.u32("tensor count")?;
    c.reserved(4, "tensor table reserved")?;
    limits::check(count.into(), limits.max_tensors.into(), "tensor count", 0)?;
    let room = c.remaining() / RECORD_FIXED;
    if count as usize > room {
        return Err(
            Error::bare(ErrorKind::Truncated, "tensor table shorter than its count")
                .got_expected(room as u64, count.into()),
        );
    }
    let mut tensors = Vec::with_capacity(count as usize);
    let mut next_stream = 0u64;
    for _ in 0..count {
        let (t, first_at) = parse_record(&mut c, limits)?;
        let first_stream = t.first_stream;
        if u64::from(first_stream) != next_stream {
            return Err(Error::new(
                ErrorKind::Malformed,
                "first stream (streams follow tensor order)",
                first_at,
            )
            .got_expected(first_stream.into(), next_stream));
        }
        next_stream = next_stream.saturating_add(t.stream_count());
        if next_stream > u64::from(stream_sections) {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                "tensor streams beyond the stream sections",
                first_at,
            )
            .got_expected(next_stream, stream_sections.into()));
        }
        tensors.push(t);
    }
    if next_stream != u64::from(stream_sections) {
        return Err(Error::new(
            ErrorKind::Malformed,
            "stream sections not owned by any tensor",
            c.pos() as u64,
        )
        .got_expected(next_stream, stream_sections.into()));
    }
    c.finish("tensor table")?;
    if unique_names {
        check_unique_names(&tensors)?;
    }
    Ok(tensors)
}

/// One record of the tensor table at the cursor (§6.1), checked field by field in file
/// order: name, dtype, encoding, rank, bound, CRC, chunk length, first stream, shape and
/// size limits. Gives the tensor and where its first-stream field lies.
fn parse_record(c: &mut Cursor<'_>, limits: &Limits) -> Result<(TensorInfo, u64)> {
    let rec = c.pos() as u64;
    let name_len = c.u16("name length")?;
    limits::check(
        name_len.into(),
        limits.max_name_len.into(),
        "name length",
        rec,
    )?;
    let name = c.utf8(name_len as usize, "tensor name")?;
    let dtype = DType::from_code(c.u8("dtype")?, c.pos() as u64 - 1)?;
    let encoding = Encoding::from_code(c.u8("encoding")?, c.pos() as u64 - 1)?;
    if !encoding.applies_to(dtype) {
        return Err(Error::new(
            ErrorKind::UnknownEncoding,
            "encoding not defined for the dtype",
            c.pos() as u64 - 1,
        ));
    }
    let rank = c.u8("rank")?;
    limits::check(
        rank.into(),
        limits.max_rank.into(),
        "rank",
        c.pos() as u64 - 1,
    )?;
    let bound = c.u8("error bound")?;
    // A dedup reference carries its original's bound (checked against it in §9); any
    // other encoding, its own.
    let bound_ok = match encoding {
        Encoding::Dedup => bound == 0 || bound == Encoding::Elf.error_bound_log2(dtype),
        _ => bound == encoding.error_bound_log2(dtype),
    };
    if !bound_ok {
        return Err(Error::new(
            ErrorKind::Malformed,
            "error bound for the encoding",
            c.pos() as u64 - 1,
        )
        .got_expected(bound.into(), encoding.error_bound_log2(dtype).into()));
    }
    let crc32 = c.u32("tensor CRC")?;
    let chunk_at = c.pos() as u64;
    let chunk_len = c.u64("chunk length")?;
    let first_at = c.pos() as u64;
    let first_stream = c.u32("first stream")?;
    c.reserved(4, "tensor record reserved")?;
    let mut shape = Vec::with_capacity(rank as usize);
    let mut values = 1u64;
    for _ in 0..rank {
        let d = c.u64("dimension")?;
        values = values.checked_mul(d).ok_or_else(|| {
            Error::new(
                ErrorKind::LimitExceeded,
                "tensor size overflows",
                c.pos() as u64 - 8,
            )
        })?;
        shape.push(d);
    }
    let bytes_len = whole_bytes(dtype, values).map_err(|e| e.at(rec))?;
    limits::check(bytes_len, limits.max_tensor_bytes, "tensor bytes", rec)?;
    let units = bytes_len / dtype.size() as u64;
    let t = TensorInfo {
        name,
        dtype,
        shape,
        encoding,
        error_bound_log2: bound,
        crc32,
        chunk_len,
        first_stream,
        dedup_of: None,
    };
    check_chunk_len(encoding, dtype, units, chunk_len, limits).map_err(|e| e.at(chunk_at))?;
    Ok((t, first_at))
}

/// Checks that no two of `tensors` share a name (`DuplicateName`): across the file, or
/// within each member of a collection (SPEC.md §6.4, §10.1).
pub fn check_unique_names(tensors: &[TensorInfo]) -> Result<()> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        tensors
            .get(a)
            .map(|t| &t.name)
            .cmp(&tensors.get(b).map(|t| &t.name))
    });
    for w in order.windows(2) {
        if let [a, b] = w {
            if tensors.get(*a).map(|t| &t.name) == tensors.get(*b).map(|t| &t.name) {
                return Err(Error::bare(ErrorKind::DuplicateName, "tensor name")
                    .got_expected(*b as u64, *a as u64));
            }
        }
    }
    Ok(())
}
