//! Writing `.elv` to any `Write` (SPEC.md §12), chunks encoded and compressed in parallel.

use crate::codec;
use crate::error::{Error, Result};
use elv_core::writer::{check_shape, effective_chunk_len, encode_chunk_checked, Sink};
use elv_core::{ContainerWriter, DType, Encoding, StoredStream};
use rayon::prelude::*;
use std::io::Write;

/// Default values per chunk: 2^20 (4 MiB of f32), enough for zstd, small enough that a
/// 2-core machine has work for both cores on any sizable tensor and memory stays bounded.
pub const DEFAULT_CHUNK_LEN: u64 = 1 << 20;

/// How a [`Writer`] lays out and compresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// zstd level for sections that shrink (default 3).
    pub level: i32,
    /// Values per chunk (default [`DEFAULT_CHUNK_LEN`]).
    pub chunk_len: u64,
    /// Sections align to 2^`align_log2` bytes (default 3: 8 bytes).
    pub align_log2: u8,
    /// Try zstd on every section (default true); false stores everything with codec `none`.
    pub compress: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            level: 3,
            chunk_len: DEFAULT_CHUNK_LEN,
            align_log2: 3,
            compress: true,
        }
    }
}

/// Adapts `std::io::Write` to the core [`Sink`], counting the bytes written.
pub struct IoSink<W>(pub W, pub u64);

impl<W: Write> Sink for IoSink<W> {
    type Error = Error;
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.0.write_all(bytes)?;
        self.1 += bytes.len() as u64;
        Ok(())
    }
}

/// One tensor's encoded, packed streams, ready to be written.
pub struct PackedTensor {
    /// Encoding used.
    pub encoding: Encoding,
    /// Values per chunk.
    pub chunk_len: u64,
    /// CRC32 of the bytes a decoder will produce.
    pub crc32: u32,
    /// Streams of all chunks, chunk-major, each with its chosen codec.
    pub streams: Vec<StoredStream>,
}

impl PackedTensor {
    /// Total stored bytes of the streams.
    pub fn stored_len(&self) -> u64 {
        self.streams.iter().map(|s| s.stored.len() as u64).sum()
    }
}

/// Encodes `data` with `encoding`, chunks in parallel, and packs each stream (zstd if it
/// shrinks, when `options.compress`).
pub fn pack_tensor(
    dtype: DType,
    data: &[u8],
    encoding: Encoding,
    options: &WriteOptions,
) -> Result<PackedTensor> {
    pack_tensor_with(dtype, data, encoding, options, &[])
}

/// [`pack_tensor`] with a codec plan: `plan[k]` says which codecs to try for the `k`-th
/// stream of every chunk (missing entries try both).
pub fn pack_tensor_with(
    dtype: DType,
    data: &[u8],
    encoding: Encoding,
    options: &WriteOptions,
    plan: &[codec::Try],
) -> Result<PackedTensor> {
    let chunk_len = effective_chunk_len(encoding, dtype, data.len(), options.chunk_len)?;
    if chunk_len == 0 {
        return Ok(PackedTensor {
            encoding,
            chunk_len,
            crc32: crc32fast::hash(&[]),
            streams: Vec::new(),
        });
    }
    let per_chunk: Vec<(Vec<StoredStream>, u32, usize)> = data
        .par_chunks(chunk_len as usize * dtype.size())
        .map(|chunk| -> Result<_> {
            let c = encode_chunk_checked(encoding, dtype, chunk)?;
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
    })
}

/// Writes a `.elv` file tensor by tensor; call [`Writer::finish`] at the end.
pub struct Writer<W: Write> {
    inner: ContainerWriter<IoSink<W>>,
    options: WriteOptions,
}

impl<W: Write> Writer<W> {
    /// Starts a file on `w` (writes the header).
    pub fn new(w: W, options: WriteOptions) -> Result<Self> {
        Ok(Writer {
            inner: ContainerWriter::new(IoSink(w, 0), options.align_log2)?,
            options,
        })
    }

    /// The options in use.
    pub fn options(&self) -> &WriteOptions {
        &self.options
    }

    /// Encodes and writes a tensor with the given encoding. `data` is little-endian,
    /// row-major, exactly dtype size × product of `shape` bytes.
    pub fn add_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        data: &[u8],
        encoding: Encoding,
    ) -> Result<u32> {
        check_shape(dtype, shape, data.len())?;
        let packed = pack_tensor(dtype, data, encoding, &self.options)?;
        self.add_packed(name, dtype, shape, packed)
    }

    /// Writes a tensor packed by [`pack_tensor`].
    pub fn add_packed(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        packed: PackedTensor,
    ) -> Result<u32> {
        self.inner.add_encoded_tensor(
            name,
            dtype,
            shape,
            packed.encoding,
            packed.chunk_len,
            packed.crc32,
            packed.streams,
        )
    }

    /// Starts a tensor written chunk group by chunk group: [`push_packed`](Self::push_packed)
    /// each group's streams, then [`end_tensor`](Self::end_tensor) with the CRC of all decoded
    /// bytes. For tensors too large to hold in memory.
    pub fn begin_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        encoding: Encoding,
        chunk_len: u64,
    ) -> Result<()> {
        self.inner
            .begin_tensor(name, dtype, shape, encoding, chunk_len)
    }

    /// Writes the streams of the next group of whole chunks of the open tensor.
    pub fn push_packed(&mut self, packed: &PackedTensor) -> Result<()> {
        for s in &packed.streams {
            self.inner.push_stream(s)?;
        }
        Ok(())
    }

    /// Completes the open tensor.
    pub fn end_tensor(&mut self, crc32: u32) -> Result<u32> {
        self.inner.end_tensor(crc32)
    }

    /// Adds `name` as a reference to the earlier tensor `canonical` (SPEC.md §9); the caller
    /// has checked the bytes are identical.
    pub fn add_dedup(&mut self, name: &str, canonical: u32) -> Result<u32> {
        self.inner.add_dedup(name, canonical)
    }

    /// Index of an already written tensor.
    pub fn find(&self, name: &str) -> Option<u32> {
        self.inner.find(name)
    }

    /// The tensors written so far.
    pub fn tensors(&self) -> &[elv_core::TensorInfo] {
        self.inner.tensors()
    }

    /// Sets the file metadata (keys unique; written in this order).
    pub fn set_metadata(&mut self, pairs: Vec<(String, String)>) -> Result<()> {
        Ok(self.inner.set_metadata(pairs)?)
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.inner.position()
    }

    /// Writes the tables, index and trailer, flushes, and gives back the writer.
    pub fn finish(self) -> Result<W> {
        Ok(self.finish_len()?.0)
    }

    /// Like [`finish`](Self::finish), also giving the total bytes written.
    pub fn finish_len(self) -> Result<(W, u64)> {
        let (level, compress) = (self.options.level, self.options.compress);
        let pack = move |b: Vec<u8>| {
            if compress {
                codec::pack(b, level)
            } else {
                StoredStream::plain(b)
            }
        };
        let mut sink = self.inner.finish_with(&pack)?;
        sink.0.flush()?;
        Ok((sink.0, sink.1))
    }
}
