//! The write side of one tensor: encode its chunks in parallel and pass each stream
//! through the entropy stage (SPEC.md §12), ready for the container writer.

use crate::codec;
use crate::error::{Error, Result};
use crate::write::options::WriteOptions;
use elv_core::engine::writer::{effective_chunk_len, encode_chunk_checked, StoredStream};
use elv_core::Sink;
use elv_core::{DType, Encoding};
use rayon::prelude::*;
use std::io::Write;

/// Adapts `std::io::Write` to the core [`Sink`], counting the bytes written.
pub(crate) struct IoSink<W>(pub(crate) W, pub(crate) u64);

impl<W: Write> Sink for IoSink<W> {
    type Error = Error;
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.0.write_all(bytes)?;
        self.1 += bytes.len() as u64;
        Ok(())
    }
}

/// A tensor of a batch as packed: its streams and why ELF was ruled out (if it was), or
/// `None` for a duplicate, which has no streams.
pub(crate) type Packed = Option<(PackedTensor, Option<&'static str>)>;

/// One tensor's encoded, packed streams, ready to be written.
pub(crate) struct PackedTensor {
    /// Encoding used.
    pub(crate) encoding: Encoding,
    /// Values per chunk.
    pub(crate) chunk_len: u64,
    /// CRC32 of the bytes a decoder will produce.
    pub(crate) crc32: u32,
    /// Streams of all chunks, chunk-major, each with its chosen codec.
    pub(crate) streams: Vec<StoredStream>,
    /// For a tensor stored against its base twin: the twin's BLAKE3 hash (SPEC.md §9.1).
    pub(crate) twin_hash: Option<[u8; 32]>,
}

impl PackedTensor {
    /// Total stored bytes of the streams.
    pub(crate) fn stored_len(&self) -> u64 {
        self.streams.iter().map(|s| s.stored.len() as u64).sum()
    }
}

/// Encodes `data` with `encoding`, chunks in parallel, and packs each stream (zstd if it
/// shrinks, when `options.compress`). `twin` is the base twin's bytes, for the delta
/// encodings.
pub(crate) fn pack_tensor(
    dtype: DType,
    data: &[u8],
    twin: Option<&[u8]>,
    encoding: Encoding,
    options: &WriteOptions,
) -> Result<PackedTensor> {
    pack_tensor_with(dtype, data, twin, encoding, options, &[])
}

/// [`pack_tensor`] with a codec plan: `plan[k]` says which codecs to try for the `k`-th
/// stream of every chunk (missing entries try both).
pub(crate) fn pack_tensor_with(
    dtype: DType,
    data: &[u8],
    twin: Option<&[u8]>,
    encoding: Encoding,
    options: &WriteOptions,
    plan: &[codec::Try],
) -> Result<PackedTensor> {
    if encoding == Encoding::BaseRef {
        return Ok(PackedTensor {
            encoding,
            chunk_len: 0,
            crc32: crc32fast::hash(data),
            streams: Vec::new(),
            twin_hash: twin.map(crate::base::twin_hash),
        });
    }
    let chunk_len = effective_chunk_len(encoding, dtype, data.len(), options.chunk_len)?;
    let twin_hash = encoding
        .needs_base()
        .then(|| twin.map(crate::base::twin_hash))
        .flatten();
    if chunk_len == 0 {
        return Ok(PackedTensor {
            encoding,
            chunk_len,
            crc32: crc32fast::hash(&[]),
            streams: Vec::new(),
            twin_hash,
        });
    }
    let step = chunk_len as usize * dtype.size();
    let per_chunk: Vec<(Vec<StoredStream>, u32, usize)> = data
        .par_chunks(step)
        .enumerate()
        .map(|(k, chunk)| -> Result<_> {
            let base = twin.and_then(|t| t.get(k * step..k * step + chunk.len()));
            let c = encode_chunk_checked(encoding, dtype, chunk, base)?;
            let bytes = c.lossy_output.as_deref().unwrap_or(chunk);
            let crc = crc32fast::hash(bytes);
            let packed = c
                .streams
                .into_iter()
                .enumerate()
                .map(|(k, s)| {
                    if options.compress {
                        codec::pack_with(
                            s,
                            options.level,
                            plan.get(k).copied().unwrap_or(codec::Try::Both),
                        )
                    } else {
                        StoredStream::plain(s)
                    }
                })
                .collect();
            Ok((packed, crc, bytes.len()))
        })
        .collect::<Result<_>>()?;
    let mut crc = crc32fast::Hasher::new();
    let mut streams = Vec::new();
    for (s, c, len) in per_chunk {
        crc.combine(&crc32fast::Hasher::new_with_initial_len(c, len as u64));
        streams.extend(s);
    }
    Ok(PackedTensor {
        encoding,
        chunk_len,
        crc32: crc.finalize(),
        streams,
        twin_hash,
    })
}
