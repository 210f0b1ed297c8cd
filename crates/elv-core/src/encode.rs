//! Encoding tensors for a writer (SPEC.md §6.4, §7, §11): chunks into their decoded streams,
//! lossy chunks decoded back for their CRC, and the shape, size and chunk checks a writer runs
//! before anything is written.

use crate::dtype::{shape_bytes, DType};
use crate::encoding::{self, Encoding};
use crate::limits::Limits;
use crate::tensor::MAX_CHUNK_LEN;
use crate::{Error, ErrorKind, Result};
use alloc::vec::Vec;

/// A tensor encoded into the decoded streams of all its chunks, chunk after chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedTensor {
    /// The chunk length used (values per chunk).
    pub chunk_len: u64,
    /// All streams, chunk-major.
    pub streams: Vec<Vec<u8>>,
    /// CRC32 of the bytes a decoder will produce (for a lossy encoding, not the input's).
    pub crc32: u32,
}

/// One encoded chunk: its streams, and for a lossy encoding the bytes they decode to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedChunk {
    /// The chunk's decoded streams, in order.
    pub streams: Vec<Vec<u8>>,
    /// What a decoder will produce, when that differs from the input (lossy encodings).
    pub lossy_output: Option<Vec<u8>>,
}

/// Encodes one chunk (against `base`, the twin's bytes for the same values, for the delta
/// encodings). Lossy chunks are decoded back, which gives the bytes the tensor CRC must cover
/// and also checks the encoder.
pub fn encode_chunk_checked(
    encoding: Encoding,
    dtype: DType,
    data: &[u8],
    base: Option<&[u8]>,
) -> Result<EncodedChunk> {
    let streams = encoding::encode_chunk(encoding, dtype, data, base)?;
    if encoding.is_lossless() {
        return Ok(EncodedChunk {
            streams,
            lossy_output: None,
        });
    }
    let mut decoded = alloc::vec![0u8; data.len()];
    let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
    encoding::decode_chunk(
        encoding,
        dtype,
        data.len() / dtype.size(),
        &refs,
        base,
        &mut decoded,
    )?;
    Ok(EncodedChunk {
        streams,
        lossy_output: Some(decoded),
    })
}

/// Encodes a whole tensor (SPEC.md §6.4), against `base` (the twin's bytes, as long as
/// `data`) for the delta encodings. `chunk_len` is in values; it is clamped to
/// 1..=min(values, 2^31).
pub fn encode_tensor(
    encoding: Encoding,
    dtype: DType,
    data: &[u8],
    base: Option<&[u8]>,
    chunk_len: u64,
) -> Result<EncodedTensor> {
    let chunk_len = effective_chunk_len(encoding, dtype, data.len(), chunk_len)?;
    if base.is_some_and(|b| b.len() != data.len()) {
        return Err(Error::bare(ErrorKind::InvalidInput, "base twin length"));
    }
    let mut crc = crc32fast::Hasher::new();
    let mut streams = Vec::new();
    if chunk_len > 0 {
        let step = chunk_len as usize * dtype.size();
        for (k, chunk) in data.chunks(step).enumerate() {
            let b = base.and_then(|b| b.get(k * step..k * step + chunk.len()));
            let c = encode_chunk_checked(encoding, dtype, chunk, b)?;
            crc.update(c.lossy_output.as_deref().unwrap_or(chunk));
            streams.extend(c.streams);
        }
    }
    Ok(EncodedTensor {
        chunk_len,
        streams,
        crc32: crc.finalize(),
    })
}

/// The chunk length a tensor of `byte_len` bytes is written with: `requested` clamped to
/// 1..=min(values, 2^31), or 0 for an empty tensor.
pub fn effective_chunk_len(
    encoding: Encoding,
    dtype: DType,
    byte_len: usize,
    requested: u64,
) -> Result<u64> {
    if !encoding.applies_to(dtype) || encoding.is_reference() {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "encoding not defined for this dtype",
        ));
    }
    if byte_len % dtype.size() != 0 {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "data length not a multiple of the dtype size",
        ));
    }
    let values = (byte_len / dtype.size()) as u64;
    Ok(requested.clamp(1, MAX_CHUNK_LEN).min(values))
}

/// A rule a reader enforces as a format error, broken by what a writer was given: the
/// caller's mistake (`InvalidInput`), same words and figures.
fn the_callers(e: &Error) -> Error {
    Error::bare(ErrorKind::InvalidInput, e.what())
        .got_expected(e.got().unwrap_or(0), e.expected().unwrap_or(0))
}

/// Checks a tensor's rank and size against what a reader accepts (SPEC.md §6.1, §11).
pub fn check_layout(dtype: DType, shape: &[u64], limits: &Limits) -> Result<()> {
    if shape.len() > limits.max_rank as usize {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "rank above what a reader accepts (SPEC.md §11)",
        )
        .got_expected(shape.len() as u64, limits.max_rank.into()));
    }
    let bytes = match shape_bytes(dtype, shape) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::Malformed => return Err(the_callers(&e)),
        Err(_) => u64::MAX,
    };
    if bytes > limits.max_tensor_bytes {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "tensor larger than a reader accepts (SPEC.md §11)",
        )
        .got_expected(bytes, limits.max_tensor_bytes));
    }
    Ok(())
}

/// Checks that `byte_len` is exactly the size of a `dtype` tensor of `shape`.
pub fn check_shape(dtype: DType, shape: &[u64], byte_len: usize) -> Result<()> {
    // A shape with no byte length (too large, or sub-byte values not filling whole bytes)
    // is refused for that reason, before any length is compared.
    let want = shape_bytes(dtype, shape).map_err(|e| the_callers(&e))?;
    if want != byte_len as u64 {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "data length does not match dtype and shape",
        )
        .got_expected(byte_len as u64, want));
    }
    Ok(())
}
