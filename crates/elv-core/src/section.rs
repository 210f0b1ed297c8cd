//! The section index and section codecs (SPEC.md §4).
#![deny(clippy::indexing_slicing)]

use crate::header::{align_up, HEADER_LEN};
use crate::limits::{self, Limits};
use crate::{Error, ErrorKind, Result};
use alloc::borrow::Cow;
use alloc::vec::Vec;
use byteorder::{ByteOrder, LittleEndian as LE};

/// Bytes per section index entry.
pub const ENTRY_LEN: usize = 32;
/// Bytes before the entries in the section index.
pub const INDEX_HEADER_LEN: usize = 8;
/// Flag bit: a decoder that does not know this section's kind must reject the file.
pub const FLAG_CRITICAL: u8 = 1;

/// Section kinds (SPEC.md §4.2).
pub mod kind {
    /// One stream of one tensor chunk (critical).
    pub const STREAM: u8 = 1;
    /// The tensor table (critical, exactly one).
    pub const TENSOR_TABLE: u8 = 2;
    /// The dedup table (critical, at most one).
    pub const DEDUP_TABLE: u8 = 3;
    /// File metadata (ancillary, at most one).
    pub const METADATA: u8 = 4;
    /// The member table of a collection (critical, at most one; SPEC.md §10.1).
    pub const MEMBER_TABLE: u8 = 5;
    /// The base table of a file written against a base model (critical, at most one; §9.1).
    pub const BASE_TABLE: u8 = 6;
}

/// How a section's stored bytes become its decoded bytes (SPEC.md §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// Stored as is.
    None,
    /// One Zstandard frame (RFC 8878).
    Zstd,
    /// Order-0 rANS in 64 KiB blocks (§4.4), implemented in this crate.
    Ans,
}

impl Codec {
    #[doc(hidden)]
    /// The on-disk code.
    pub fn code(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Zstd => 1,
            Codec::Ans => 2,
        }
    }
    #[doc(hidden)]
    /// The codec for an on-disk code, if known.
    pub fn from_code(code: u8) -> Option<Codec> {
        match code {
            0 => Some(Codec::None),
            1 => Some(Codec::Zstd),
            2 => Some(Codec::Ans),
            _ => None,
        }
    }
    #[doc(hidden)]
    /// Lowercase name (`none`, `zstd`, `ans`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Zstd => "zstd",
            Codec::Ans => "ans",
        }
    }
}

/// One entry of the section index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionEntry {
    /// File offset of the stored bytes.
    pub offset: u64,
    /// Length of the stored bytes.
    pub stored_len: u64,
    /// Length after the codec is undone.
    pub decoded_len: u64,
    /// CRC32 of the stored bytes.
    pub crc32: u32,
    /// Section kind (see [`kind`]).
    pub kind: u8,
    /// Codec code (see [`Codec`]); checked when the section is decoded.
    pub codec: u8,
    /// Whether a decoder that does not know `kind` must reject the file.
    pub critical: bool,
}

impl SectionEntry {
    fn to_bytes(self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        LE::write_u64(&mut b[0..8], self.offset);
        LE::write_u64(&mut b[8..16], self.stored_len);
        LE::write_u64(&mut b[16..24], self.decoded_len);
        LE::write_u32(&mut b[24..28], self.crc32);
        b[28] = self.kind;
        b[29] = self.codec;
        b[30] = if self.critical { FLAG_CRITICAL } else { 0 };
        b
    }
}

/// The parsed section index: entries plus where the special sections are.
#[derive(Clone, Debug)]
pub struct SectionIndex {
    /// All entries, in file order.
    pub entries: Vec<SectionEntry>,
    /// Number of STREAM sections; they are entries `0..stream_count`.
    pub stream_count: u32,
    /// Index of the tensor table section.
    pub tensor_table: u32,
    /// Index of the dedup table section, if any.
    pub dedup_table: Option<u32>,
    /// Index of the metadata section, if any.
    pub metadata: Option<u32>,
    /// Index of the member table section, if any.
    pub member_table: Option<u32>,
    /// Index of the base table section, if any.
    pub base_table: Option<u32>,
}

impl SectionIndex {
    /// Serializes entries as a section index.
    pub fn to_bytes(entries: &[SectionEntry]) -> Vec<u8> {
        let mut out = Vec::with_capacity(INDEX_HEADER_LEN + ENTRY_LEN * entries.len());
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0u8; 4]);
        for e in entries {
            out.extend_from_slice(&e.to_bytes());
        }
        out
    }

    /// Parses the section index found at `index_offset` and checks it: the sections tile the
    /// file from the header to the index, each at the next multiple of `alignment`
    /// (SPEC.md §4.1), and the kinds are as §4.2 requires.
    pub fn parse(
        bytes: &[u8],
        index_offset: u64,
        alignment: u64,
        limits: &Limits,
    ) -> Result<SectionIndex> {
        let at = |pos: usize| index_offset + pos as u64;
        let count = parse_index_head(bytes, index_offset, limits)?;
        let mut entries = Vec::with_capacity(count as usize);
        let mut expect_offset = HEADER_LEN as u64;
        let mut kinds = Kinds::default();
        let body = bytes.get(INDEX_HEADER_LEN..).unwrap_or_default();
        for (i, b) in body.chunks_exact(ENTRY_LEN).enumerate() {
            let pos = INDEX_HEADER_LEN + i * ENTRY_LEN;
            let e = SectionEntry::parse(b, at(pos))?;
            expect_offset =
                e.check_place(expect_offset, alignment, index_offset, limits, at(pos))?;
            kinds.note(&e, i as u32, at(pos))?;
            entries.push(e);
        }
        if align_up(expect_offset, alignment) != Some(index_offset) {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                "index offset (must follow the last section)",
                index_offset,
            )
            .got_expected(
                index_offset,
                align_up(expect_offset, alignment).unwrap_or(u64::MAX),
            ));
        }
        let tensor_table = kinds.tensor_table.ok_or_else(|| {
            Error::new(
                ErrorKind::Malformed,
                "no tensor table section",
                index_offset,
            )
        })?;
        Ok(SectionIndex {
            entries,
            stream_count: kinds.stream_count,
            tensor_table,
            dedup_table: kinds.dedup_table,
            metadata: kinds.metadata,
            member_table: kinds.member_table,
            base_table: kinds.base_table,
        })
    }

    /// The entry at `index`, or an `OutOfRange` error.
    pub fn get(&self, index: u32) -> Result<&SectionEntry> {
        self.entries.get(index as usize).ok_or_else(|| {
            Error::bare(ErrorKind::OutOfRange, "section index")
                .got_expected(index.into(), self.entries.len() as u64)
        })
    }
}

/// Undoes section codecs the core does not implement. The core decodes `none` and `ans`
/// itself; the `elv` crate supplies one that also decodes zstd.
pub trait SectionDecompressor {
    /// Decodes `stored` (codec `codec`) into exactly `decoded_len` bytes appended to `out`.
    /// Implementations must not grow `out` beyond `decoded_len` bytes, whatever `stored` says.
    fn decompress(
        &self,
        codec: Codec,
        stored: &[u8],
        decoded_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<()>;

    /// The loop that decodes `ans` blocks (the core's reference unless overridden: the std
    /// crate gives a vector one). Not API: it may change in any release.
    #[doc(hidden)]
    fn ans_decoder(&self) -> crate::ans::BlockDecoder {
        crate::ans::decode_rans
    }
}

/// A [`SectionDecompressor`] that adds no codec to the core's own (`none` and `ans`): a
/// reader of files without zstd sections.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCodecs;

impl SectionDecompressor for NoCodecs {
    fn decompress(
        &self,
        codec: Codec,
        _stored: &[u8],
        _decoded_len: usize,
        _out: &mut Vec<u8>,
    ) -> Result<()> {
        Err(Error::bare(ErrorKind::UnsupportedCodec, codec.name()))
    }
}

/// Checks that `stored` is section `index`'s stored bytes: their length, then (with
/// `verify_crc`) their CRC, the first step of §4.3. A whole-file check runs only this on an
/// ancillary section of unknown kind, whose codec it need not know (§4.2).
pub fn check_section_crc(
    index: u32,
    entry: &SectionEntry,
    stored: &[u8],
    verify_crc: bool,
) -> Result<()> {
    if stored.len() as u64 != entry.stored_len {
        return Err(
            Error::new(ErrorKind::Truncated, "section bytes", entry.offset)
                .got_expected(stored.len() as u64, entry.stored_len),
        );
    }
    if verify_crc && !cfg!(fuzzing) {
        let crc = crc32fast::hash(stored);
        if crc != entry.crc32 {
            return Err(Error::bare(ErrorKind::ChecksumMismatch, "section CRC")
                .got_expected(crc.into(), entry.crc32.into())
                .in_section(index));
        }
    }
    Ok(())
}

/// Checks a section's CRC and undoes its codec (SPEC.md §4.3): `stored` must be the entry's
/// stored bytes. Gives the decoded bytes, borrowed when the codec is `none`.
pub fn decode_section<'a>(
    index: u32,
    entry: &SectionEntry,
    stored: &'a [u8],
    codecs: &dyn SectionDecompressor,
    verify_crc: bool,
) -> Result<Cow<'a, [u8]>> {
    decode_section_within(index, entry, stored, codecs, verify_crc, u64::MAX)
}

/// [`decode_section`] for a consumer that needs at most `max_decoded` bytes: after the CRC
/// check, a larger declared decoded length is `Malformed` before anything is decoded.
pub fn decode_section_within<'a>(
    index: u32,
    entry: &SectionEntry,
    stored: &'a [u8],
    codecs: &dyn SectionDecompressor,
    verify_crc: bool,
    max_decoded: u64,
) -> Result<Cow<'a, [u8]>> {
    check_section_crc(index, entry, stored, verify_crc)?;
    if entry.decoded_len > max_decoded {
        return Err(
            Error::bare(ErrorKind::Malformed, "section decoded length for its chunk")
                .got_expected(entry.decoded_len, max_decoded)
                .in_section(index),
        );
    }
    let codec = Codec::from_code(entry.codec).ok_or_else(|| {
        Error::bare(ErrorKind::UnsupportedCodec, "section codec")
            .got_expected(entry.codec.into(), 1)
            .in_section(index)
    })?;
    match codec {
        Codec::None => Ok(Cow::Borrowed(stored)),
        Codec::Ans => {
            let len = usize::try_from(entry.decoded_len).map_err(|_| {
                Error::bare(ErrorKind::LimitExceeded, "section decoded length").in_section(index)
            })?;
            let mut out = Vec::new();
            crate::ans::decode_with(stored, len, &mut out, codecs.ans_decoder())
                .map_err(|e| e.in_section(index))?;
            Ok(Cow::Owned(out))
        }
        other => {
            let len = usize::try_from(entry.decoded_len).map_err(|_| {
                Error::bare(ErrorKind::LimitExceeded, "section decoded length").in_section(index)
            })?;
            let mut out = Vec::new();
            codecs
                .decompress(other, stored, len, &mut out)
                .map_err(|e| e.in_section(index))?;
            if out.len() != len {
                return Err(Error::bare(ErrorKind::Malformed, "decoded length")
                    .got_expected(out.len() as u64, len as u64)
                    .in_section(index));
            }
            Ok(Cow::Owned(out))
        }
    }
}

/// The index header (§4.1): the reserved field, then the count within the limit, then the
/// length the count implies. Gives the count.
fn parse_index_head(bytes: &[u8], index_offset: u64, limits: &Limits) -> Result<u32> {
    let head = bytes
        .get(..INDEX_HEADER_LEN)
        .ok_or_else(|| Error::new(ErrorKind::Truncated, "section index", index_offset))?;
    let count = LE::read_u32(head.get(..4).unwrap_or_default());
    if head.get(4..8) != Some(&[0u8; 4][..]) {
        return Err(Error::new(
            ErrorKind::ReservedNonZero,
            "section index reserved",
            index_offset + 4,
        ));
    }
    limits::check(
        count.into(),
        limits.max_sections.into(),
        "section count",
        index_offset,
    )?;
    let want = (count as u64)
        .checked_mul(ENTRY_LEN as u64)
        .and_then(|x| x.checked_add(INDEX_HEADER_LEN as u64));
    if want != Some(bytes.len() as u64) {
        return Err(
            Error::new(ErrorKind::Malformed, "section index length", index_offset)
                .got_expected(bytes.len() as u64, want.unwrap_or(u64::MAX)),
        );
    }
    Ok(count)
}

impl SectionEntry {
    /// One index entry from its 32 bytes `b`, found at file offset `at`; reserved flag bits
    /// and the reserved byte must be zero.
    fn parse(b: &[u8], at: u64) -> Result<SectionEntry> {
        let field = |r: core::ops::Range<usize>| b.get(r).unwrap_or_default();
        let flags = b.get(30).copied().unwrap_or(0);
        if flags & !FLAG_CRITICAL != 0 || b.get(31) != Some(&0) {
            return Err(Error::new(
                ErrorKind::ReservedNonZero,
                "section flags",
                at + 30,
            ));
        }
        Ok(SectionEntry {
            offset: LE::read_u64(field(0..8)),
            stored_len: LE::read_u64(field(8..16)),
            decoded_len: LE::read_u64(field(16..24)),
            crc32: LE::read_u32(field(24..28)),
            kind: b.get(28).copied().unwrap_or(0),
            codec: b.get(29).copied().unwrap_or(0),
            critical: flags & FLAG_CRITICAL != 0,
        })
    }

    /// Checks where the section lies: at `expect_offset` aligned (sections tile the file),
    /// ending before the index, its decoded length within the limit, and equal lengths with
    /// codec none. Gives where the next section may start. `at` is the entry's offset.
    fn check_place(
        &self,
        expect_offset: u64,
        alignment: u64,
        index_offset: u64,
        limits: &Limits,
        at: u64,
    ) -> Result<u64> {
        let expect_offset = align_up(expect_offset, alignment)
            .ok_or_else(|| Error::new(ErrorKind::OutOfRange, "section offset", at))?;
        if self.offset != expect_offset {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                "section offset (sections must tile the file)",
                at,
            )
            .got_expected(self.offset, expect_offset));
        }
        let end = self
            .offset
            .checked_add(self.stored_len)
            .filter(|&end| end <= index_offset)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::OutOfRange,
                    "section end beyond the index",
                    at + 8,
                )
                .got_expected(self.stored_len, index_offset.saturating_sub(self.offset))
            })?;
        limits::check(
            self.decoded_len,
            limits.max_section_bytes,
            "section decoded length",
            at + 16,
        )?;
        if self.codec == Codec::None.code() && self.stored_len != self.decoded_len {
            return Err(Error::new(
                ErrorKind::Malformed,
                "stored and decoded lengths differ with codec none",
                at + 16,
            )
            .got_expected(self.decoded_len, self.stored_len));
        }
        Ok(end)
    }
}

/// The section kinds seen so far in the index (§4.2): streams first, each table at most
/// once, known kinds with their critical flag, unknown critical kinds refused.
#[derive(Default)]
struct Kinds {
    stream_count: u32,
    tensor_table: Option<u32>,
    dedup_table: Option<u32>,
    metadata: Option<u32>,
    member_table: Option<u32>,
    base_table: Option<u32>,
}

impl Kinds {
    /// Notes entry `e`, the `idx`-th, found at file offset `at`.
    fn note(&mut self, e: &SectionEntry, idx: u32, at: u64) -> Result<()> {
        let flag = Error::new(
            ErrorKind::Malformed,
            "critical flag of a known section kind",
            at + 30,
        );
        let known_critical = |want: bool| (e.critical == want).then_some(()).ok_or(flag);
        let once = |slot: &mut Option<u32>, what: &'static str| match slot.replace(idx) {
            Some(_) => Err(Error::new(ErrorKind::Malformed, what, at + 28)),
            None => Ok(()),
        };
        match e.kind {
            kind::STREAM => {
                known_critical(true)?;
                if self.stream_count != idx {
                    return Err(Error::new(
                        ErrorKind::Malformed,
                        "stream sections must come first",
                        at + 28,
                    ));
                }
                self.stream_count += 1;
            }
            kind::TENSOR_TABLE => {
                known_critical(true)?;
                once(&mut self.tensor_table, "more than one tensor table")?;
            }
            kind::DEDUP_TABLE => {
                known_critical(true)?;
                once(&mut self.dedup_table, "more than one dedup table")?;
            }
            kind::METADATA => {
                known_critical(false)?;
                once(&mut self.metadata, "more than one metadata section")?;
            }
            kind::MEMBER_TABLE => {
                known_critical(true)?;
                once(&mut self.member_table, "more than one member table")?;
            }
            kind::BASE_TABLE => {
                known_critical(true)?;
                once(&mut self.base_table, "more than one base table")?;
            }
            other if e.critical => {
                return Err(
                    Error::new(ErrorKind::UnknownCriticalSection, "section kind", at + 28)
                        .got_expected(other.into(), 6),
                );
            }
            _ => {}
        }
        Ok(())
    }
}
