//! File header and trailer (SPEC.md §3, §5).
#![deny(clippy::indexing_slicing)]

use crate::cursor::Cursor;
use crate::{Error, ErrorKind, Result};
use byteorder::{ByteOrder, LittleEndian as LE};

/// The 8 bytes every `.elv` file starts with: `\x89 E L V \r \n \x1a \n` (SPEC.md §3.1).
pub const MAGIC: [u8; 8] = *b"\x89ELV\r\n\x1a\n";
/// The 8 bytes every `.elv` file ends with.
pub const TRAILER_MAGIC: [u8; 8] = *b"ELVINDEX";
/// Header length in bytes.
pub const HEADER_LEN: usize = 32;
/// Trailer length in bytes.
pub const TRAILER_LEN: usize = 32;
/// Major version this crate reads and writes.
pub const VERSION_MAJOR: u16 = 1;
/// Minor version this crate writes.
pub const VERSION_MINOR: u16 = 0;
/// Required-feature bits (SPEC.md §3.1).
pub mod feature {
    /// The file is a collection: it has a member table (§10.1).
    pub const MEMBERS: u32 = 1;
    /// Decoding needs a base model: the file has a base table (§9.1).
    pub const BASE: u32 = 2;
}
/// Required-feature bits this decoder understands.
pub const KNOWN_REQUIRED_FEATURES: u32 = feature::MEMBERS | feature::BASE;
/// Largest alignment exponent: sections align to at most 2^16 bytes.
pub const MAX_ALIGN_LOG2: u8 = 16;

/// The file header (SPEC.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Minor version (the major is always [`VERSION_MAJOR`]).
    pub minor: u16,
    /// Required-feature bits; a decoder rejects any it does not know.
    pub required_features: u32,
    /// Optional-feature bits; a decoder ignores any it does not know.
    pub optional_features: u32,
    /// Sections start at multiples of 2^`align_log2` bytes.
    pub align_log2: u8,
}

impl Header {
    /// A header with no features and the given alignment.
    pub fn new(align_log2: u8) -> Self {
        Self::with_features(align_log2, 0)
    }

    /// A header with the given required features ([`feature`]) and alignment.
    pub fn with_features(align_log2: u8, required_features: u32) -> Self {
        Header {
            // A file using a 1.2 feature says so; others stay 1.0 files.
            minor: if required_features == 0 {
                VERSION_MINOR
            } else {
                2
            },
            required_features,
            optional_features: 0,
            align_log2,
        }
    }

    /// Section alignment in bytes.
    pub fn alignment(&self) -> u64 {
        1u64 << self.align_log2
    }

    /// Serializes the header with its CRC.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        LE::write_u16(&mut b[8..10], VERSION_MAJOR);
        LE::write_u16(&mut b[10..12], self.minor);
        LE::write_u32(&mut b[12..16], self.required_features);
        LE::write_u32(&mut b[16..20], self.optional_features);
        b[20] = self.align_log2;
        let crc = crc32fast::hash(&b[..28]);
        LE::write_u32(&mut b[28..32], crc);
        b
    }

    /// Parses and checks the first 32 bytes of a file.
    pub fn parse(b: &[u8]) -> Result<Header> {
        let head = b.get(..HEADER_LEN).ok_or_else(|| {
            Error::new(ErrorKind::Truncated, "header", 0)
                .got_expected(b.len() as u64, HEADER_LEN as u64)
        })?;
        let mut c = Cursor::new(head);
        if c.take(8, "magic")? != MAGIC {
            return Err(Error::new(ErrorKind::BadMagic, "header magic", 0));
        }
        let (body, crc_bytes) = head.split_at(28);
        let stored_crc = LE::read_u32(crc_bytes);
        let crc = crc32fast::hash(body);
        if crc != stored_crc && !cfg!(fuzzing) {
            return Err(Error::new(ErrorKind::ChecksumMismatch, "header CRC", 28)
                .got_expected(stored_crc.into(), crc.into()));
        }
        let major = c.u16("major version")?;
        if major != VERSION_MAJOR {
            return Err(
                Error::new(ErrorKind::UnsupportedVersion, "major version", 8)
                    .got_expected(major.into(), VERSION_MAJOR.into()),
            );
        }
        let minor = c.u16("minor version")?;
        let required = c.u32("required features")?;
        if required & !KNOWN_REQUIRED_FEATURES != 0 {
            return Err(
                Error::new(ErrorKind::UnknownRequiredFeature, "required features", 12)
                    .got_expected(required.into(), KNOWN_REQUIRED_FEATURES.into()),
            );
        }
        let optional_features = c.u32("optional features")?;
        let align_log2 = c.u8("alignment")?;
        if align_log2 > MAX_ALIGN_LOG2 {
            return Err(Error::new(ErrorKind::Malformed, "alignment exponent", 20)
                .got_expected(align_log2.into(), MAX_ALIGN_LOG2.into()));
        }
        c.reserved(7, "header reserved bytes")
            .map_err(|e| Error::new(e.kind(), "header reserved bytes", 21))?;
        Ok(Header {
            minor,
            required_features: required,
            optional_features,
            align_log2,
        })
    }
}

/// The trailer: where the section index is (SPEC.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// File offset of the section index.
    pub index_offset: u64,
    /// Length of the section index in bytes.
    pub index_len: u64,
    /// CRC32 of the section index bytes.
    pub index_crc: u32,
}

impl Trailer {
    /// Serializes the trailer.
    pub fn to_bytes(&self) -> [u8; TRAILER_LEN] {
        let mut b = [0u8; TRAILER_LEN];
        LE::write_u64(&mut b[0..8], self.index_offset);
        LE::write_u64(&mut b[8..16], self.index_len);
        LE::write_u32(&mut b[16..20], self.index_crc);
        b[24..32].copy_from_slice(&TRAILER_MAGIC);
        b
    }

    /// Parses the last 32 bytes of a file of `file_len` bytes and checks the index lies
    /// between the header and the trailer.
    pub fn parse(b: &[u8], file_len: u64) -> Result<Trailer> {
        let at = file_len.saturating_sub(TRAILER_LEN as u64);
        let tail = b
            .get(..TRAILER_LEN)
            .ok_or_else(|| Error::new(ErrorKind::Truncated, "trailer", at))?;
        let mut c = Cursor::new(tail);
        let index_offset = c.u64("index offset")?;
        let index_len = c.u64("index length")?;
        let index_crc = c.u32("index CRC")?;
        let reserved = c.take(4, "trailer reserved")?;
        if c.take(8, "trailer magic")? != TRAILER_MAGIC {
            return Err(Error::new(ErrorKind::BadMagic, "trailer magic", at + 24));
        }
        if reserved != [0; 4] {
            return Err(Error::new(
                ErrorKind::ReservedNonZero,
                "trailer reserved bytes",
                at + 20,
            ));
        }
        let t = Trailer {
            index_offset,
            index_len,
            index_crc,
        };
        let end = t.index_offset.checked_add(t.index_len);
        if t.index_offset < HEADER_LEN as u64 || end != Some(at) {
            return Err(
                Error::new(ErrorKind::OutOfRange, "index offset and length", at)
                    .got_expected(t.index_offset, at.saturating_sub(t.index_len)),
            );
        }
        Ok(t)
    }
}

/// Rounds `x` up to a multiple of `align` (a power of two), or `None` on overflow.
pub fn align_up(x: u64, align: u64) -> Option<u64> {
    x.checked_add(align - 1).map(|v| v & !(align - 1))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_rejections() {
        let h = Header::new(3);
        let b = h.to_bytes();
        assert_eq!(Header::parse(&b).unwrap(), h);
        let mut bad = b;
        bad[0] = b'x';
        assert_eq!(Header::parse(&bad).unwrap_err().kind(), ErrorKind::BadMagic);
        let mut bad = b;
        bad[22] = 1;
        assert_eq!(
            Header::parse(&bad).unwrap_err().kind(),
            ErrorKind::ChecksumMismatch
        );
        assert_eq!(
            Header::parse(&b[..10]).unwrap_err().kind(),
            ErrorKind::Truncated
        );
    }
}
