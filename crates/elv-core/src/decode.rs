//! Decoding tensors from their stored stream sections (SPEC.md §4.1, §4.3, §6.4, §7, §13):
//! the one decode path of the slice reader ([`Archive`](crate::Archive)) and of the `elv`
//! crate's file reader, which differ only in how they fetch stored bytes.

#![deny(clippy::indexing_slicing)]

use crate::encoding;
use crate::header::HEADER_LEN;
use crate::section::{decode_section_within, SectionDecompressor, SectionEntry, SectionIndex};
use crate::tensor::TensorInfo;
use crate::{Error, ErrorKind, Result};
use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::ops::Range;

/// One stream section of a chunk as read from the file: its index, entry and stored bytes.
#[derive(Clone, Copy, Debug)]
pub struct StoredSection<'a> {
    /// Index of the section in the section index.
    pub index: u32,
    /// Its index entry.
    pub entry: &'a SectionEntry,
    /// Its stored bytes (exactly `entry.stored_len`).
    pub bytes: &'a [u8],
}

/// The section indices holding chunk `c` of `info` (a tensor that owns streams).
pub fn chunk_sections(info: &TensorInfo, c: u64) -> Range<u32> {
    let spc = info.encoding.streams_per_chunk(info.dtype) as u64;
    let first = u64::from(info.first_stream).saturating_add(c.saturating_mul(spc));
    let end = first.saturating_add(spc);
    clamp_u32(first)..clamp_u32(end)
}

/// The section indices holding chunks `chunks` of `info`.
pub fn chunk_range_sections(info: &TensorInfo, chunks: &Range<u64>) -> Range<u32> {
    chunk_sections(info, chunks.start).start..chunk_sections(info, chunks.end).start
}

fn clamp_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Decodes chunk `c` of tensor `info` from its stored stream sections into `out`, which
/// must be exactly the chunk's decoded bytes. Each section is checked before it is decoded
/// (CRC, then its declared decoded length against the most its chunk can need, so a section
/// is never decoded past what the chunk consumes), then the encoding is undone (§7).
/// `base` is the base twin's bytes for the chunk's values, for a tensor stored against the
/// base (§7.7, §7.8); `None` otherwise.
pub fn decode_chunk(
    info: &TensorInfo,
    c: u64,
    stored: &[StoredSection<'_>],
    codecs: &dyn SectionDecompressor,
    verify_crc: bool,
    base: Option<&[u8]>,
    out: &mut [u8],
) -> Result<()> {
    let n = info.chunk_values(c);
    let size = info.dtype.size();
    if out.len() as u64 != n.saturating_mul(size as u64) {
        return Err(Error::bare(ErrorKind::InvalidInput, "chunk output length")
            .got_expected(out.len() as u64, n.saturating_mul(size as u64)));
    }
    let sections = chunk_sections(info, c);
    if stored.len() != sections.len() || stored.first().map(|s| s.index) != Some(sections.start) {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "sections of the chunk",
        ));
    }
    let mut decoded: Vec<Cow<'_, [u8]>> = Vec::with_capacity(stored.len());
    for (k, s) in stored.iter().enumerate() {
        let max = info.encoding.max_stream_len(info.dtype, n, k);
        decoded.push(decode_section_within(
            s.index, s.entry, s.bytes, codecs, verify_crc, max,
        )?);
    }
    let refs: Vec<&[u8]> = decoded.iter().map(|d| d.as_ref()).collect();
    encoding::decode_chunk(
        info.encoding,
        info.dtype,
        out.len() / size,
        &refs,
        base,
        out,
    )
    .map_err(|e| e.rebase_section(sections.start))
}

/// Checks the decoded bytes of a tensor against its record's CRC.
pub fn check_tensor_crc(info: &TensorInfo, bytes: &[u8], verify_crc: bool) -> Result<()> {
    if verify_crc && !cfg!(fuzzing) {
        check_tensor_crc_value(info, crc32fast::hash(bytes), true)?;
    }
    Ok(())
}

/// Checks a tensor CRC the caller computed (for example over spans of a large tensor)
/// against the record's. Like every checksum check, compiled out under `cfg(fuzzing)`.
pub fn check_tensor_crc_value(info: &TensorInfo, crc: u32, verify_crc: bool) -> Result<()> {
    if verify_crc && !cfg!(fuzzing) && crc != info.crc32 {
        return Err(
            Error::bare(ErrorKind::ChecksumMismatch, "decoded tensor CRC")
                .got_expected(crc.into(), info.crc32.into())
                .in_section(info.first_stream),
        );
    }
    Ok(())
}

/// Checks that every padding byte between the header, the sections and the index is zero
/// (SPEC.md §4.1). `read(offset, len)` gives the file bytes of one gap.
pub fn check_padding<'s>(
    index: &SectionIndex,
    index_offset: u64,
    mut read: impl FnMut(u64, u64) -> Result<Cow<'s, [u8]>>,
) -> Result<()> {
    let mut end = HEADER_LEN as u64;
    let spans = index
        .entries
        .iter()
        .map(|e| (e.offset, e.stored_len))
        .chain(core::iter::once((index_offset, 0)));
    for (offset, stored_len) in spans {
        let gap = offset.saturating_sub(end);
        if gap > 0 {
            let pad = read(end, gap)?;
            if let Some(p) = pad.iter().position(|&b| b != 0) {
                return Err(Error::new(
                    ErrorKind::ReservedNonZero,
                    "padding",
                    end + p as u64,
                ));
            }
        }
        end = offset.saturating_add(stored_len);
    }
    Ok(())
}
