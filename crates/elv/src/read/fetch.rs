//! Reading stored streams and decoding them: the file side of the core's one decode path
//! ([`elv_core::decode`]). A run of chunks of one tensor is read with a single positioned
//! read (its sections lie back to back, SPEC.md §4.1), then its chunks decode in parallel.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use crate::codec::StdCodecs;
use crate::error::{Error, Result};
use crate::read::source::{read_exact_at_reusing, Source};
use crate::read::twin::TwinBytes;
use elv_core::engine::decode::{self, StoredSection};
use elv_core::engine::section::SectionIndex;
use elv_core::{Error as CoreError, ErrorKind, TensorInfo};
use rayon::prelude::*;
use std::ops::Range;

/// The stored bytes of chunks `chunks` of a tensor that owns streams.
pub(crate) struct Span<'c> {
    pub(crate) info: &'c TensorInfo,
    pub(crate) chunks: Range<u64>,
    /// File offset of `bytes`.
    start: u64,
    bytes: Vec<u8>,
    /// The base twin's bytes for these chunks, for a tensor stored against the base.
    twin: Option<TwinBytes>,
}

impl<'c> Span<'c> {
    /// Reads the sections of chunks `chunks` of `info` from `source` (of length `file_len`),
    /// into `reuse` when it has the room (see [`read_exact_at_reusing`]).
    pub(crate) fn read(
        source: &dyn Source,
        file_len: u64,
        index: &'c SectionIndex,
        info: &'c TensorInfo,
        chunks: Range<u64>,
        twin: Option<TwinBytes>,
        reuse: Option<Vec<u8>>,
    ) -> Result<Span<'c>> {
        let range = Self::stored_range(index, info, &chunks)?;
        let len = range.end - range.start;
        let bytes = read_exact_at_reusing(source, range.start, len, file_len, reuse)?;
        Ok(Self::from_bytes(info, chunks, range.start, bytes, twin))
    }

    /// Where the sections of chunks `chunks` of `info` lie in the file: one range, as they
    /// lie back to back (SPEC.md §4.1).
    pub(crate) fn stored_range(
        index: &SectionIndex,
        info: &TensorInfo,
        chunks: &Range<u64>,
    ) -> Result<Range<u64>> {
        if chunks.start > chunks.end || chunks.end > info.chunk_count() {
            return Err(CoreError::bare(ErrorKind::InvalidInput, "chunk range")
                .got_expected(chunks.end, info.chunk_count())
                .into());
        }
        let sections = decode::chunk_range_sections(info, chunks);
        let (start, end) = match (sections.start..sections.end).next() {
            None => (0, 0),
            Some(first) => {
                let first = index.get(first)?;
                let last = index.get(sections.end - 1)?;
                (first.offset, last.offset.saturating_add(last.stored_len))
            }
        };
        if start > end {
            return Err(
                CoreError::new(ErrorKind::OutOfRange, "sections out of order", start).into(),
            );
        }
        Ok(start..end)
    }

    /// The span of chunks `chunks` of `info` whose stored range (see
    /// [`stored_range`](Self::stored_range)) was read from `start` as `bytes`.
    pub(crate) fn from_bytes(
        info: &'c TensorInfo,
        chunks: Range<u64>,
        start: u64,
        bytes: Vec<u8>,
        twin: Option<TwinBytes>,
    ) -> Span<'c> {
        Span {
            info,
            chunks,
            start,
            bytes,
            twin,
        }
    }

    /// The span's stored bytes, for the next read to reuse.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Decoded bytes of the span.
    pub(crate) fn decoded_len(&self) -> u64 {
        let size = self.info.dtype.size() as u64;
        self.chunks
            .clone()
            .map(|c| self.info.chunk_values(c) * size)
            .sum()
    }

    /// The base twin's bytes for the values of chunk `c`, for a tensor stored against the
    /// base (§7.7, §7.8).
    fn twin_chunk(&self, c: u64) -> Option<&[u8]> {
        let size = self.info.dtype.size() as u64;
        let start = c.saturating_mul(self.info.chunk_len).saturating_mul(size);
        let len = self.info.chunk_values(c).saturating_mul(size);
        self.twin.as_ref()?.get(start, len)
    }

    /// The stored sections of chunk `c` (one of the span's), borrowed from the span.
    fn chunk(&self, index: &'c SectionIndex, c: u64) -> Result<Vec<StoredSection<'_>>> {
        decode::chunk_sections(self.info, c)
            .map(|i| {
                let entry = index.get(i)?;
                let at = (entry.offset - self.start) as usize;
                let bytes = self
                    .bytes
                    .get(at..at + entry.stored_len as usize)
                    .ok_or_else(|| {
                        CoreError::new(ErrorKind::OutOfRange, "section", entry.offset)
                    })?;
                Ok(StoredSection {
                    index: i,
                    entry,
                    bytes,
                })
            })
            .collect()
    }
}

/// Decodes every chunk of every span in parallel into `outs` (one buffer per span, exactly
/// its decoded bytes); gives the CRC32 of each span's decoded bytes.
pub(crate) fn decode_spans(
    index: &SectionIndex,
    spans: &[&Span<'_>],
    outs: &mut [&mut [u8]],
    verify: bool,
) -> Result<Vec<u32>> {
    let mut slots = Vec::new();
    for (k, (span, out)) in spans.iter().zip(outs.iter_mut()).enumerate() {
        if out.len() as u64 != span.decoded_len() {
            return Err(
                CoreError::bare(ErrorKind::InvalidInput, "output buffer length")
                    .got_expected(out.len() as u64, span.decoded_len())
                    .into(),
            );
        }
        let chunk_bytes = (span.info.chunk_len as usize)
            .saturating_mul(span.info.dtype.size())
            .max(1);
        for (c, dst) in span.chunks.clone().zip(out.chunks_mut(chunk_bytes)) {
            slots.push((k, span, c, dst));
        }
    }
    let crcs: Vec<(usize, u32, u64)> = slots
        .into_par_iter()
        .map(|(k, span, c, dst)| -> Result<(usize, u32, u64)> {
            let stored = span.chunk(index, c)?;
            let twin = span.twin_chunk(c);
            decode::decode_chunk(span.info, c, &stored, &StdCodecs, verify, twin, dst)?;
            Ok((k, crc32fast::hash(dst), dst.len() as u64))
        })
        .collect::<Result<_>>()?;
    let mut out = vec![crc32fast::Hasher::new(); spans.len()];
    for (k, crc, len) in crcs {
        if let Some(h) = out.get_mut(k) {
            h.combine(&crc32fast::Hasher::new_with_initial_len(crc, len));
        }
    }
    Ok(out.into_iter().map(|h| h.finalize()).collect())
}

/// Decodes one span into `out` (exactly its decoded bytes); gives their CRC32.
pub(crate) fn decode_span(
    index: &SectionIndex,
    span: &Span<'_>,
    out: &mut [u8],
    verify: bool,
) -> Result<u32> {
    let crcs = decode_spans(index, &[span], &mut [out], verify)?;
    crcs.first()
        .copied()
        .ok_or(Error::Internal("a span decoded to no CRC"))
}
