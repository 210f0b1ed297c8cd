//! Reading a `.elv` file held in memory (SPEC.md §3–§10, §13): [`Archive`] borrows the
//! bytes and decodes tensors through the shared [`decode`](crate::decode::decode_chunk) path.

#![deny(clippy::indexing_slicing)]

use crate::catalog::{Catalog, ReadOptions};
use crate::decode::{self, StoredSection};
use crate::header::{Header, Trailer, HEADER_LEN, TRAILER_LEN};
use crate::section::{check_section_crc, decode_section, SectionDecompressor};
use crate::tensor::TensorInfo;
use crate::{Error, ErrorKind, Result};
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

/// A whole `.elv` file in memory, its tables parsed and checked.
pub struct Archive<'a> {
    bytes: &'a [u8],
    catalog: Catalog,
    codecs: &'a dyn SectionDecompressor,
    options: ReadOptions,
}

impl<'a> Archive<'a> {
    /// Parses `bytes` as a `.elv` file: header, trailer, index, tables, and that all padding
    /// is zero. `codecs` undoes section codecs other than `none`
    /// ([`NoCodecs`](crate::NoCodecs) reads uncompressed files only).
    pub fn parse(
        bytes: &'a [u8],
        codecs: &'a dyn SectionDecompressor,
        options: ReadOptions,
    ) -> Result<Self> {
        let header = Header::parse(bytes)?;
        let len = bytes.len() as u64;
        if len < (HEADER_LEN + TRAILER_LEN) as u64 {
            return Err(Error::new(
                ErrorKind::Truncated,
                "file shorter than header and trailer",
                len,
            ));
        }
        let trailer = Trailer::parse(
            bytes.get(bytes.len() - TRAILER_LEN..).unwrap_or_default(),
            len,
        )?;
        let index_bytes = bytes
            .get(trailer.index_offset as usize..(trailer.index_offset + trailer.index_len) as usize)
            .unwrap_or_default();
        let verify = options.verify_checksums;
        let catalog = Catalog::load(header, &trailer, index_bytes, &options, |index, i| {
            let e = index.get(i)?;
            decode_section(i, e, slice(bytes, e.offset, e.stored_len)?, codecs, verify)
        })?;
        decode::check_padding(catalog.index(), catalog.index_offset(), |at, len| {
            slice(bytes, at, len).map(Cow::Borrowed)
        })?;
        Ok(Archive {
            bytes,
            catalog,
            codecs,
            options,
        })
    }

    #[doc(hidden)]
    /// The parsed tables.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The tensors, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        self.catalog.tensors()
    }

    /// File metadata pairs.
    pub fn metadata(&self) -> &[(String, String)] {
        self.catalog.metadata()
    }

    #[doc(hidden)]
    /// The decoded bytes of section `i`, CRC checked.
    pub fn section(&self, i: u32) -> Result<Cow<'a, [u8]>> {
        let e = self.catalog.index().get(i)?;
        decode_section(
            i,
            e,
            slice(self.bytes, e.offset, e.stored_len)?,
            self.codecs,
            self.options.verify_checksums,
        )
    }

    /// Checks the whole file beyond what [`parse`](Self::parse) checks: every section's CRC
    /// (ancillary sections of unknown kinds too, whose codec need not be known), and that
    /// every tensor decodes and matches its CRC.
    pub fn verify(&self) -> Result<()> {
        let (sections, owners) = self.catalog.verify_plan();
        for i in sections {
            let e = self.catalog.index().get(i)?;
            let stored = slice(self.bytes, e.offset, e.stored_len)?;
            check_section_crc(i, e, stored, self.options.verify_checksums)?;
        }
        for i in owners {
            self.decode(i)?;
        }
        Ok(())
    }

    /// Decodes tensor `i` into `out` (exactly its byte length), chunk by chunk, and checks
    /// its CRC.
    pub fn decode_into(&self, i: usize, out: &mut [u8]) -> Result<()> {
        let info = self.catalog.storage_of(i)?;
        if info.encoding.needs_base() {
            return Err(Error::bare(
                ErrorKind::BaseMissing,
                "tensor stored against a base model (decode it with the elv crate's reader)",
            ));
        }
        if out.len() as u64 != info.byte_len() {
            return Err(Error::bare(ErrorKind::InvalidInput, "output buffer length")
                .got_expected(out.len() as u64, info.byte_len()));
        }
        let chunk_bytes = (info.chunk_len as usize)
            .saturating_mul(info.dtype.size())
            .max(1);
        let entries = self.catalog.index();
        for (c, dst) in out.chunks_mut(chunk_bytes).enumerate() {
            let stored = decode::chunk_sections(info, c as u64)
                .map(|index| {
                    let entry = entries.get(index)?;
                    let bytes = slice(self.bytes, entry.offset, entry.stored_len)?;
                    Ok(StoredSection {
                        index,
                        entry,
                        bytes,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            decode::decode_chunk(
                info,
                c as u64,
                &stored,
                self.codecs,
                self.options.verify_checksums,
                None,
                dst,
            )?;
        }
        decode::check_tensor_crc(info, out, self.options.verify_checksums)
    }

    /// Decodes tensor `i` into a new vector. Its size was checked against the limits, and
    /// memory is reserved fallibly: a size this machine cannot hold is `LimitExceeded`.
    pub fn decode(&self, i: usize) -> Result<Vec<u8>> {
        let t = self
            .catalog
            .tensors()
            .get(i)
            .ok_or_else(|| Error::bare(ErrorKind::NotFound, "tensor index"))?;
        let mut out = zeroed(t.byte_len())?;
        self.decode_into(i, &mut out)?;
        Ok(out)
    }

    /// Decodes the tensor named `name`.
    pub fn decode_by_name(&self, name: &str) -> Result<Vec<u8>> {
        let i = self
            .catalog
            .find(name)
            .ok_or_else(|| Error::bare(ErrorKind::NotFound, "tensor name"))?;
        self.decode(i)
    }
}

/// A zeroed buffer of `len` bytes, reserved fallibly (`LimitExceeded` if it cannot be had).
pub fn zeroed(len: u64) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    resize_zeroed(&mut v, len)?;
    Ok(v)
}

/// Resizes `buf` to `len` zeroed bytes, reserving fallibly: a size this machine cannot hold is
/// `LimitExceeded`, not an abort. Reuses `buf`'s memory where it is large enough.
pub fn resize_zeroed(buf: &mut Vec<u8>, len: u64) -> Result<()> {
    let too_big = || {
        Error::bare(ErrorKind::LimitExceeded, "decoded bytes for this machine")
            .got_expected(len, usize::MAX as u64)
    };
    let n = usize::try_from(len).map_err(|_| too_big())?;
    buf.clear();
    buf.try_reserve_exact(n).map_err(|_| too_big())?;
    buf.resize(n, 0);
    Ok(())
}

fn slice(bytes: &[u8], offset: u64, len: u64) -> Result<&[u8]> {
    let end = offset.checked_add(len);
    end.and_then(|e| bytes.get(usize::try_from(offset).ok()?..usize::try_from(e).ok()?))
        .ok_or_else(|| Error::new(ErrorKind::OutOfRange, "section beyond end of file", offset))
}
