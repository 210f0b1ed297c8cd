//! Tensor encodings (SPEC.md §7): which streams a chunk has and how they decode.
#![deny(clippy::indexing_slicing)]

use crate::dtype::DType;
use crate::{de, delta, elf, float_planes, planes, Error, ErrorKind, Result};
use alloc::vec;
use alloc::vec::Vec;

/// How a tensor's values are stored. Codes are the on-disk values (SPEC.md §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// The little-endian bytes as they are; any dtype; lossless.
    Raw,
    /// Exponent-less float (§7.2); F16, BF16, F32, F64; lossy within 2^-(M+1).
    Elf,
    /// Distance encoding of repeats (§7.4); any dtype of 2, 4 or 8 bytes; lossless.
    De,
    /// Exponent and sign-mantissa planes (§7.3); F16, BF16, F32, F64; lossless.
    FloatPlanes,
    /// Same bytes as an earlier tensor (§9); no streams of its own.
    Dedup,
    /// Byte planes of the whole value (§7.5); any dtype of 2, 4 or 8 bytes; lossless.
    BytePlanes,
    /// Same bytes as the base model's twin tensor (§7.9); no streams of its own.
    BaseRef,
    /// Integer difference from the base twin, in byte planes by base exponent class (§7.7);
    /// any dtype; lossless.
    Delta,
    /// Difference of ELF values from the base twin's (§7.8); F16, BF16, F32, F64; lossy
    /// within ELF's bound, decoding to exactly what ELF gives.
    ElfDelta,
}

/// Every encoding, in code order.
const ALL: [Encoding; 9] = [
    Encoding::Raw,
    Encoding::Elf,
    Encoding::De,
    Encoding::FloatPlanes,
    Encoding::Dedup,
    Encoding::BytePlanes,
    Encoding::BaseRef,
    Encoding::Delta,
    Encoding::ElfDelta,
];

impl Encoding {
    #[doc(hidden)]
    /// The on-disk code.
    pub fn code(self) -> u8 {
        match self {
            Encoding::Raw => 0,
            Encoding::Elf => 1,
            Encoding::De => 2,
            Encoding::FloatPlanes => 3,
            Encoding::Dedup => 4,
            Encoding::BytePlanes => 5,
            Encoding::BaseRef => 6,
            Encoding::Delta => 7,
            Encoding::ElfDelta => 8,
        }
    }

    #[doc(hidden)]
    /// The encoding for an on-disk code.
    pub fn from_code(code: u8, offset: u64) -> Result<Encoding> {
        ALL.into_iter().find(|e| e.code() == code).ok_or_else(|| {
            Error::new(ErrorKind::UnknownEncoding, "tensor encoding", offset)
                .got_expected(code.into(), 8)
        })
    }

    /// A short lowercase name (`raw`, `elf`, `de`, `planes`, `dedup`, `bytes`, `base`,
    /// `delta`, `elf_delta`).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Raw => "raw",
            Encoding::Elf => "elf",
            Encoding::De => "de",
            Encoding::FloatPlanes => "planes",
            Encoding::Dedup => "dedup",
            Encoding::BytePlanes => "bytes",
            Encoding::BaseRef => "base",
            Encoding::Delta => "delta",
            Encoding::ElfDelta => "elf_delta",
        }
    }

    /// Whether decoding needs the base model's twin tensor (§7.7–§7.9).
    pub fn needs_base(self) -> bool {
        matches!(
            self,
            Encoding::BaseRef | Encoding::Delta | Encoding::ElfDelta
        )
    }

    #[doc(hidden)]
    /// Whether the tensor has no streams of its own (`dedup`, `base`): chunk length 0.
    pub fn is_reference(self) -> bool {
        matches!(self, Encoding::Dedup | Encoding::BaseRef)
    }

    #[doc(hidden)]
    /// Whether this encoding is defined for `dtype`.
    pub fn applies_to(self, dtype: DType) -> bool {
        match self {
            Encoding::Raw | Encoding::Dedup | Encoding::BaseRef | Encoding::Delta => true,
            Encoding::Elf | Encoding::FloatPlanes | Encoding::ElfDelta => {
                dtype.float_format().is_some()
            }
            Encoding::De | Encoding::BytePlanes => matches!(dtype.size(), 2 | 4 | 8),
        }
    }

    #[doc(hidden)]
    /// k where the tensor's absolute error bound is 2^-k, or 0 for lossless (SPEC.md §6.3).
    pub fn error_bound_log2(self, dtype: DType) -> u8 {
        match (self, dtype.float_format()) {
            (Encoding::Elf | Encoding::ElfDelta, Some(fmt)) => elf::error_bound_log2(fmt),
            _ => 0,
        }
    }

    /// Whether decoding gives back the input bit for bit.
    pub fn is_lossless(self) -> bool {
        !matches!(self, Encoding::Elf | Encoding::ElfDelta)
    }

    #[doc(hidden)]
    /// Streams each chunk of a `dtype` tensor has in this encoding.
    pub fn streams_per_chunk(self, dtype: DType) -> usize {
        match (self, dtype.float_format()) {
            (Encoding::Raw, _) => 1,
            (Encoding::De, _) => 2,
            (Encoding::BytePlanes, _) => dtype.size(),
            (Encoding::Elf | Encoding::ElfDelta, Some(fmt)) => {
                1 + planes::plane_count(elf::code_width(fmt))
            }
            (Encoding::Delta, _) => delta::stream_count(dtype),
            (Encoding::FloatPlanes, Some(fmt)) => float_planes::stream_count(fmt),
            _ => 0,
        }
    }

    #[doc(hidden)]
    /// Whether a decoded length `len` is possible for stream `k` of a chunk of `n` values:
    /// exact for raw bytes and for `planes` and `bytes` planes, at most
    /// [`max_stream_len`](Self::max_stream_len) for ELF (its planes hold only the in-range
    /// values) and DE (SPEC.md §7).
    pub fn stream_len_ok(self, dtype: DType, n: u64, k: usize, len: u64) -> bool {
        match self {
            // ELF planes hold the in-range values; a delta class plane, the values of its class.
            Encoding::Elf | Encoding::De | Encoding::ElfDelta | Encoding::Delta => {
                len <= self.max_stream_len(dtype, n, k)
            }
            _ => len == self.max_stream_len(dtype, n, k),
        }
    }

    #[doc(hidden)]
    /// The most decoded bytes stream `k` of a chunk of `n` values can hold in a valid file
    /// (SPEC.md §7): a reader checks a section's declared length against it before decoding.
    pub fn max_stream_len(self, dtype: DType, n: u64, k: usize) -> u64 {
        let size = dtype.size() as u64;
        match (self, k) {
            (Encoding::Raw, _) => n.saturating_mul(size),
            // K and the gaps are minimal ULEB128 below 2^31 (5 bytes each), then K values.
            (Encoding::Elf | Encoding::ElfDelta, 0) => n.saturating_mul(5 + size).saturating_add(5),
            // At most 1 + 5 + 31 bits a value.
            (Encoding::De, 0) => n.saturating_mul(37).div_ceil(8),
            (Encoding::De, _) => n.saturating_mul(size),
            _ => n,
        }
    }
}

/// Encodes one chunk (whole elements, little-endian) into its streams. `base` is the base
/// twin's bytes for the same values, needed by the delta encodings and ignored by the others.
pub fn encode_chunk(
    encoding: Encoding,
    dtype: DType,
    data: &[u8],
    base: Option<&[u8]>,
) -> Result<Vec<Vec<u8>>> {
    if !encoding.applies_to(dtype) || encoding.is_reference() {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "encoding not defined for this dtype",
        ));
    }
    if data.len() % dtype.size() != 0 {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "data length not a multiple of the dtype size",
        ));
    }
    match encoding {
        Encoding::Raw => Ok(vec![data.to_vec()]),
        Encoding::Elf => elf::encode_chunk(dtype, data),
        Encoding::De => de::encode_chunk(dtype.size(), data),
        Encoding::FloatPlanes => float_planes::encode_chunk(dtype, data),
        Encoding::BytePlanes => Ok(byte_planes_encode(dtype.size(), data)),
        Encoding::Delta => delta::encode_delta(dtype, data, base),
        Encoding::ElfDelta => delta::encode_elf_delta(dtype, data, base),
        Encoding::Dedup | Encoding::BaseRef => Err(Error::bare(
            ErrorKind::InvalidInput,
            "a reference has no streams",
        )),
    }
}

/// Decodes one chunk of `n` values from its decoded streams into `out`; `base` is the base
/// twin's bytes for the same values (delta encodings only). Errors name the stream by its
/// position within the chunk (as a relative section index).
pub fn decode_chunk(
    encoding: Encoding,
    dtype: DType,
    n: usize,
    streams: &[&[u8]],
    base: Option<&[u8]>,
    out: &mut [u8],
) -> Result<()> {
    if streams.len() != encoding.streams_per_chunk(dtype) {
        return Err(Error::bare(
            ErrorKind::Malformed,
            "stream count for the encoding",
        ));
    }
    match encoding {
        Encoding::Raw => {
            let [s] = streams else {
                return Err(Error::bare(ErrorKind::Malformed, "raw stream count"));
            };
            if s.len() != out.len() {
                return Err(Error::bare(ErrorKind::Malformed, "raw stream length")
                    .got_expected(s.len() as u64, out.len() as u64)
                    .in_section(0));
            }
            out.copy_from_slice(s);
            Ok(())
        }
        Encoding::Elf => elf::decode_chunk(dtype, n, streams, out),
        Encoding::De => de::decode_chunk(dtype.size(), n, streams, out),
        Encoding::FloatPlanes => float_planes::decode_chunk(dtype, n, streams, out),
        Encoding::BytePlanes => byte_planes_decode(dtype.size(), n, streams, out),
        Encoding::Delta => delta::decode_delta(dtype, n, streams, base, out),
        Encoding::ElfDelta => delta::decode_elf_delta(dtype, n, streams, base, out),
        Encoding::Dedup | Encoding::BaseRef => Err(Error::bare(
            ErrorKind::Malformed,
            "a reference has no streams",
        )),
    }
}

/// Byte planes (SPEC.md §7.5): plane j holds byte `size-1-j` (most significant first) of
/// every value.
fn byte_planes_encode(size: usize, data: &[u8]) -> Vec<Vec<u8>> {
    match size {
        2 => split_bytes::<2>(data),
        4 => split_bytes::<4>(data),
        _ => split_bytes::<8>(data),
    }
}

/// Byte planes, most significant byte first (SPEC.md §7.5).
fn split_bytes<const N: usize>(data: &[u8]) -> Vec<Vec<u8>> {
    planes::split_values(data, |mut v: [u8; N]| {
        v.reverse();
        v
    })
}

fn byte_planes_decode(size: usize, n: usize, streams: &[&[u8]], out: &mut [u8]) -> Result<()> {
    planes::check_lengths(streams, n)?;
    match (size, streams) {
        (2, [a, b]) => {
            for ((o, &x), &y) in out.chunks_exact_mut(2).zip(a.iter()).zip(b.iter()) {
                o.copy_from_slice(&[y, x]);
            }
        }
        (4, [a, b, c, d]) => {
            for ((((o, &x), &y), &z), &w) in out
                .chunks_exact_mut(4)
                .zip(a.iter())
                .zip(b.iter())
                .zip(c.iter())
                .zip(d.iter())
            {
                o.copy_from_slice(&[w, z, y, x]);
            }
        }
        _ => {
            for (j, plane) in streams.iter().enumerate() {
                for (o, &b) in out.chunks_exact_mut(size).zip(plane.iter()) {
                    if let Some(slot) = o.get_mut(size - 1 - j) {
                        *slot = b;
                    }
                }
            }
        }
    }
    Ok(())
}
