//! Reading a `.elv` container from a byte slice (SPEC.md §3–§10, §13 read procedure).

#![deny(clippy::indexing_slicing)]

use crate::dtype::DType;
use crate::encoding;
use crate::header::{Header, Trailer, HEADER_LEN, TRAILER_LEN};
use crate::limits::Limits;
use crate::section::{decode_section, SectionDecompressor, SectionIndex};
use crate::tensor::TensorInfo;
use crate::{dedup, metadata, tensor, Error, ErrorKind, Result};
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// What a reader checks and how far it trusts the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Bounds on what the file may declare.
    pub limits: Limits,
    /// Check section and tensor CRCs (default true). Compiled out under `cfg(fuzzing)`.
    pub verify_checksums: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            limits: Limits::default(),
            verify_checksums: true,
        }
    }
}

/// The parsed tables of a file: everything but the tensor data.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// The file header.
    pub header: Header,
    /// The section index.
    pub index: SectionIndex,
    /// The tensors, in file order.
    pub tensors: Vec<TensorInfo>,
    /// File metadata pairs, in file order.
    pub metadata: Vec<(String, String)>,
}

impl Catalog {
    /// Parses the tables given the index bytes and a way to fetch decoded sections: the
    /// shared open procedure of the slice and stream readers (SPEC.md §13).
    pub fn load<'s>(
        header: Header,
        trailer: &Trailer,
        index_bytes: &[u8],
        options: &ReadOptions,
        mut fetch: impl FnMut(&SectionIndex, u32) -> Result<Cow<'s, [u8]>>,
    ) -> Result<Catalog> {
        if options.verify_checksums && !cfg!(fuzzing) {
            let crc = crc32fast::hash(index_bytes);
            if crc != trailer.index_crc {
                return Err(Error::new(
                    ErrorKind::ChecksumMismatch,
                    "section index CRC",
                    trailer.index_offset,
                )
                .got_expected(crc.into(), trailer.index_crc.into()));
            }
        }
        let index = SectionIndex::parse(
            index_bytes,
            trailer.index_offset,
            header.alignment(),
            &options.limits,
        )?;
        let table = fetch(&index, index.tensor_table)?;
        let mut tensors = tensor::parse_table(&table, index.stream_count, &options.limits)
            .map_err(|e| e.in_section(index.tensor_table))?;
        drop(table);
        match index.dedup_table {
            Some(d) => {
                let bytes = fetch(&index, d)?;
                dedup::apply_table(Some(&bytes), &mut tensors).map_err(|e| e.in_section(d))?
            }
            None => dedup::apply_table(None, &mut tensors)?,
        }
        let metadata = match index.metadata {
            Some(m) => {
                metadata::parse(&fetch(&index, m)?, &options.limits).map_err(|e| e.in_section(m))?
            }
            None => Vec::new(),
        };
        Ok(Catalog {
            header,
            index,
            tensors,
            metadata,
        })
    }

    /// Index of the tensor named `name`.
    pub fn find(&self, name: &str) -> Result<usize> {
        self.tensors
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "tensor name", 0))
    }

    /// What a whole-file check must still read after [`load`](Self::load): the sections that
    /// decoding tensors does not cover (ancillary ones; the tables were checked by `load`), and
    /// the tensors that own streams (a dedup reference decodes its original).
    pub fn verify_plan(&self) -> (core::ops::Range<u32>, Vec<usize>) {
        let sections = self.index.stream_count..self.index.entries.len() as u32;
        let owners = (0..self.tensors.len())
            .filter(|&i| self.tensors.get(i).is_some_and(|t| t.dedup_of.is_none()))
            .collect();
        (sections, owners)
    }

    /// The tensor whose streams hold tensor `i`'s values: itself, or its dedup original.
    pub fn storage_of(&self, i: usize) -> Result<&TensorInfo> {
        let t = self
            .tensors
            .get(i)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "tensor index", 0))?;
        match t.dedup_of {
            Some(c) => self
                .tensors
                .get(c as usize)
                .ok_or_else(|| Error::new(ErrorKind::BadDedup, "dedup target", 0)),
            None => Ok(t),
        }
    }
}

/// Decodes the chunks of tensor `info` (a non-dedup tensor) into `out`, fetching each
/// stream section's decoded bytes with `fetch`; then checks the tensor CRC.
pub fn decode_tensor_into<'s>(
    info: &TensorInfo,
    verify_crc: bool,
    out: &mut [u8],
    mut fetch: impl FnMut(u32) -> Result<Cow<'s, [u8]>>,
) -> Result<()> {
    if out.len() as u64 != info.byte_len() {
        return Err(
            Error::new(ErrorKind::InvalidInput, "output buffer length", 0)
                .got_expected(out.len() as u64, info.byte_len()),
        );
    }
    let spc = info.encoding.streams_per_chunk(info.dtype) as u32;
    let size = info.dtype.size();
    let chunk_bytes = (info.chunk_len as usize).saturating_mul(size).max(1);
    for (c, dst) in out.chunks_mut(chunk_bytes).enumerate() {
        let base = info.first_stream + c as u32 * spc;
        let streams: Vec<Cow<'s, [u8]>> =
            (0..spc).map(|s| fetch(base + s)).collect::<Result<_>>()?;
        let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_ref()).collect();
        encoding::decode_chunk(info.encoding, info.dtype, dst.len() / size, &refs, dst)
            .map_err(|e| e.rebase_section(base))?;
    }
    check_tensor_crc(info, out, verify_crc)
}

/// Checks the decoded bytes of a tensor against its record's CRC.
pub fn check_tensor_crc(info: &TensorInfo, bytes: &[u8], verify_crc: bool) -> Result<()> {
    if verify_crc && !cfg!(fuzzing) {
        check_tensor_crc_value(info, crc32fast::hash(bytes), true)?;
    }
    Ok(())
}

/// Checks a tensor CRC the caller computed (for example over pieces of a large tensor)
/// against the record's. Like every checksum check, compiled out under `cfg(fuzzing)`.
pub fn check_tensor_crc_value(info: &TensorInfo, crc: u32, verify_crc: bool) -> Result<()> {
    if verify_crc && !cfg!(fuzzing) && crc != info.crc32 {
        return Err(
            Error::new(ErrorKind::ChecksumMismatch, "decoded tensor CRC", 0)
                .got_expected(crc.into(), info.crc32.into())
                .in_section(info.first_stream),
        );
    }
    Ok(())
}

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
        // Padding between sections and before the index must be zero (SPEC.md §4.1).
        let mut end = HEADER_LEN as u64;
        for e in catalog
            .index
            .entries
            .iter()
            .map(|e| (e.offset, e.stored_len))
            .chain(core::iter::once((trailer.index_offset, 0)))
        {
            let pad = slice(bytes, end, e.0.saturating_sub(end))?;
            if let Some(p) = pad.iter().position(|&b| b != 0) {
                return Err(Error::new(
                    ErrorKind::ReservedNonZero,
                    "padding",
                    end + p as u64,
                ));
            }
            end = e.0 + e.1;
        }
        Ok(Archive {
            bytes,
            catalog,
            codecs,
            options,
        })
    }

    /// The parsed tables.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The tensors, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.catalog.tensors
    }

    /// File metadata pairs.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.catalog.metadata
    }

    /// The decoded bytes of section `i`, CRC checked.
    pub fn section(&self, i: u32) -> Result<Cow<'a, [u8]>> {
        let e = self.catalog.index.get(i)?;
        decode_section(
            i,
            e,
            slice(self.bytes, e.offset, e.stored_len)?,
            self.codecs,
            self.options.verify_checksums,
        )
    }

    /// Checks the whole file beyond what [`parse`](Self::parse) checks: every section's CRC
    /// (ancillary sections of unknown kinds too), and that every tensor decodes and matches
    /// its CRC.
    pub fn verify(&self) -> Result<()> {
        let (sections, owners) = self.catalog.verify_plan();
        for i in sections {
            self.section(i)?;
        }
        for i in owners {
            self.decode(i)?;
        }
        Ok(())
    }

    /// Decodes tensor `i` into `out` (exactly its byte length).
    pub fn decode_into(&self, i: usize, out: &mut [u8]) -> Result<()> {
        let storage = self.catalog.storage_of(i)?;
        decode_tensor_into(storage, self.options.verify_checksums, out, |s| {
            self.section(s)
        })
    }

    /// Decodes tensor `i` into a new vector (its size was checked against the limits).
    pub fn decode(&self, i: usize) -> Result<Vec<u8>> {
        let t = self
            .catalog
            .tensors
            .get(i)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "tensor index", 0))?;
        let len = usize::try_from(t.byte_len())
            .map_err(|_| Error::new(ErrorKind::LimitExceeded, "tensor bytes", 0))?;
        let mut out = vec![0u8; len];
        self.decode_into(i, &mut out)?;
        Ok(out)
    }

    /// Decodes the tensor named `name`.
    pub fn decode_by_name(&self, name: &str) -> Result<Vec<u8>> {
        self.decode(self.catalog.find(name)?)
    }
}

fn slice(bytes: &[u8], offset: u64, len: u64) -> Result<&[u8]> {
    let end = offset.checked_add(len);
    end.and_then(|e| bytes.get(usize::try_from(offset).ok()?..usize::try_from(e).ok()?))
        .ok_or_else(|| Error::new(ErrorKind::OutOfRange, "section beyond end of file", offset))
}

/// Largest absolute difference between two float tensors of `dtype`, as f64, and how many
/// values are bit-identical. NaNs compare equal when their bits are. Gives `None` for
/// non-float dtypes or mismatched lengths.
pub fn compare_floats(dtype: DType, a: &[u8], b: &[u8]) -> Option<(f64, u64)> {
    let size = dtype.size();
    if a.len() != b.len() || dtype.float_format().is_none() {
        return None;
    }
    let to_f64 = |c: &[u8]| -> f64 {
        let bits = crate::dtype::load_le(c);
        match dtype {
            DType::F16 => half::f16::from_bits(bits as u16).to_f64(),
            DType::BF16 => half::bf16::from_bits(bits as u16).to_f64(),
            DType::F32 => f64::from(f32::from_bits(bits as u32)),
            _ => f64::from_bits(bits),
        }
    };
    let mut max = 0.0f64;
    let mut exact = 0u64;
    for (x, y) in a.chunks_exact(size).zip(b.chunks_exact(size)) {
        if x == y {
            exact += 1;
            continue;
        }
        let d = to_f64(x) - to_f64(y);
        let d = if d < 0.0 { -d } else { d };
        if d > max || d.is_nan() {
            max = if d.is_nan() { f64::INFINITY } else { d };
        }
    }
    Some((max, exact))
}
