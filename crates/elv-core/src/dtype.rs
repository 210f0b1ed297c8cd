//! Element types (SPEC.md §6.2).

use crate::{Error, ErrorKind, Result};

/// The element type of a tensor. Codes are the on-disk values (SPEC.md §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DType {
    /// Boolean, one byte.
    Bool,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 16-bit integer.
    U16,
    /// Signed 16-bit integer.
    I16,
    /// Unsigned 32-bit integer.
    U32,
    /// Signed 32-bit integer.
    I32,
    /// Unsigned 64-bit integer.
    U64,
    /// Signed 64-bit integer.
    I64,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16 (the top half of a binary32).
    BF16,
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary64.
    F64,
    /// 8-bit float, 4 exponent and 3 mantissa bits (passes through raw).
    F8E4M3,
    /// 8-bit float, 5 exponent and 2 mantissa bits (passes through raw).
    F8E5M2,
    /// 8-bit float, 4 exponent and 3 mantissa bits, no negative zero or infinities (AMD's
    /// FNUZ variant; passes through raw). Since 1.4.
    F8E4M3Fnuz,
    /// 8-bit float, 5 exponent and 2 mantissa bits, FNUZ variant (passes through raw).
    /// Since 1.4.
    F8E5M2Fnuz,
    /// 8-bit power of two, 8 exponent bits and no sign or mantissa (the shared scale of MX
    /// block formats; passes through raw). Since 1.4.
    F8E8M0,
    /// Complex number of two binary32 parts, real first, 8 bytes. Since 1.4.
    C64,
    /// 4-bit float (E2M1), two values per byte as the source packed them; a tensor's values
    /// must fill whole bytes. Since 1.4.
    F4,
    /// 6-bit float (E2M3), four values in three bytes as the source packed them; a tensor's
    /// values must fill whole bytes. Since 1.4.
    F6E2M3,
    /// 6-bit float (E3M2), packed as [`F6E2M3`](Self::F6E2M3). Since 1.4.
    F6E3M2,
}

/// The bit layout of a binary floating-point type: sign, `exp_bits`, `man_bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloatFormat {
    /// Width of the biased exponent field.
    pub exp_bits: u32,
    /// Width of the stored mantissa (fraction) field.
    pub man_bits: u32,
}

impl FloatFormat {
    /// Total width in bits: 1 + exponent + mantissa.
    pub fn total_bits(self) -> u32 {
        1 + self.exp_bits + self.man_bits
    }
    /// The exponent bias, 2^(exp_bits-1) - 1.
    pub fn bias(self) -> u64 {
        (1u64 << (self.exp_bits - 1)) - 1
    }
}

const ALL: [DType; 22] = [
    DType::Bool,
    DType::U8,
    DType::I8,
    DType::U16,
    DType::I16,
    DType::U32,
    DType::I32,
    DType::U64,
    DType::I64,
    DType::F16,
    DType::BF16,
    DType::F32,
    DType::F64,
    DType::F8E4M3,
    DType::F8E5M2,
    DType::F8E4M3Fnuz,
    DType::F8E5M2Fnuz,
    DType::F8E8M0,
    DType::C64,
    DType::F4,
    DType::F6E2M3,
    DType::F6E3M2,
];

impl DType {
    #[doc(hidden)]
    /// Every dtype, in code order.
    pub fn all() -> &'static [DType] {
        &ALL
    }

    #[doc(hidden)]
    /// The on-disk code.
    pub fn code(self) -> u8 {
        match self {
            DType::Bool => 0,
            DType::U8 => 1,
            DType::I8 => 2,
            DType::U16 => 3,
            DType::I16 => 4,
            DType::U32 => 5,
            DType::I32 => 6,
            DType::U64 => 7,
            DType::I64 => 8,
            DType::F16 => 9,
            DType::BF16 => 10,
            DType::F32 => 11,
            DType::F64 => 12,
            DType::F8E4M3 => 13,
            DType::F8E5M2 => 14,
            DType::F8E4M3Fnuz => 15,
            DType::F8E5M2Fnuz => 16,
            DType::F8E8M0 => 17,
            DType::C64 => 18,
            DType::F4 => 19,
            DType::F6E2M3 => 20,
            DType::F6E3M2 => 21,
        }
    }

    #[doc(hidden)]
    /// The dtype for an on-disk code; `offset` locates the code for the error.
    pub fn from_code(code: u8, offset: u64) -> Result<DType> {
        ALL.iter()
            .copied()
            .find(|d| d.code() == code)
            .ok_or_else(|| {
                Error::new(ErrorKind::UnknownDtype, "tensor dtype", offset)
                    .got_expected(code.into(), 21)
            })
    }

    /// Bytes per stored unit: per element, except for the sub-byte types (F4, F6), whose
    /// tensors are stored, chunked and counted as bytes (1) (SPEC.md §6.2).
    pub fn size(self) -> usize {
        match self {
            DType::Bool
            | DType::U8
            | DType::I8
            | DType::F8E4M3
            | DType::F8E5M2
            | DType::F8E4M3Fnuz
            | DType::F8E5M2Fnuz
            | DType::F8E8M0
            | DType::F4
            | DType::F6E2M3
            | DType::F6E3M2 => 1,
            DType::U16 | DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 | DType::C64 => 8,
        }
    }

    /// Bits per element: 4 for F4, 6 for the F6 types, 8 × [`size`](Self::size) otherwise.
    pub fn bits(self) -> u32 {
        match self {
            DType::F4 => 4,
            DType::F6E2M3 | DType::F6E3M2 => 6,
            d => 8 * d.size() as u32,
        }
    }

    /// The name safetensors uses for this dtype (`"F32"`, `"BF16"`, `"F8_E4M3"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::U8 => "U8",
            DType::I8 => "I8",
            DType::U16 => "U16",
            DType::I16 => "I16",
            DType::U32 => "U32",
            DType::I32 => "I32",
            DType::U64 => "U64",
            DType::I64 => "I64",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F32 => "F32",
            DType::F64 => "F64",
            DType::F8E4M3 => "F8_E4M3",
            DType::F8E5M2 => "F8_E5M2",
            DType::F8E4M3Fnuz => "F8_E4M3FNUZ",
            DType::F8E5M2Fnuz => "F8_E5M2FNUZ",
            DType::F8E8M0 => "F8_E8M0",
            DType::C64 => "C64",
            DType::F4 => "F4",
            DType::F6E2M3 => "F6_E2M3",
            DType::F6E3M2 => "F6_E3M2",
        }
    }

    /// The dtype of a safetensors dtype name, if it is one `.elv` carries.
    pub fn from_name(name: &str) -> Option<DType> {
        ALL.iter().copied().find(|d| d.name() == name)
    }

    #[doc(hidden)]
    /// [`float_format`](Self::float_format), or `UnknownEncoding` with `need` (the codec
    /// saying it needs one of the four float types) for any other dtype.
    pub fn float_format_for(self, need: &'static str) -> crate::Result<FloatFormat> {
        self.float_format()
            .ok_or_else(|| crate::Error::bare(crate::ErrorKind::UnknownEncoding, need))
    }

    #[doc(hidden)]
    /// The float layout for the four float types the codecs transform (F16, BF16, F32, F64).
    pub fn float_format(self) -> Option<FloatFormat> {
        match self {
            DType::F16 => Some(FloatFormat {
                exp_bits: 5,
                man_bits: 10,
            }),
            DType::BF16 => Some(FloatFormat {
                exp_bits: 8,
                man_bits: 7,
            }),
            DType::F32 => Some(FloatFormat {
                exp_bits: 8,
                man_bits: 23,
            }),
            DType::F64 => Some(FloatFormat {
                exp_bits: 11,
                man_bits: 52,
            }),
            _ => None,
        }
    }
}

/// Reads element `i` of little-endian `bytes` of width `size` as a u64.
#[inline]
pub(crate) fn load_le(chunk: &[u8]) -> u64 {
    let mut v = 0u64;
    for (k, b) in chunk.iter().enumerate() {
        v |= u64::from(*b) << (8 * k);
    }
    v
}

/// Writes the low `out.len()` bytes of `v` little-endian into `out`.
#[inline]
pub(crate) fn store_le(v: u64, out: &mut [u8]) {
    for (k, b) in out.iter_mut().enumerate() {
        *b = (v >> (8 * k)) as u8;
    }
}

/// The bytes of `values` elements of `dtype` (SPEC.md §6.2, §6.4 step 6): past 64 bits is
/// `LimitExceeded`; sub-byte values that do not fill whole bytes are `Malformed`. The one
/// rule for readers and writers.
pub fn whole_bytes(dtype: DType, values: u64) -> Result<u64> {
    let bits = values
        .checked_mul(dtype.bits().into())
        .ok_or_else(|| Error::bare(ErrorKind::LimitExceeded, "tensor size overflows 64 bits"))?;
    if bits % 8 != 0 {
        // The smallest count of values that fills whole bytes: 2 for F4, 4 for F6.
        let multiple = 8 >> dtype.bits().trailing_zeros().min(3);
        return Err(Error::bare(
            ErrorKind::Malformed,
            "sub-byte values that do not fill whole bytes",
        )
        .got_expected(values, values.next_multiple_of(multiple)));
    }
    Ok(bits / 8)
}

/// Bytes of a `dtype` tensor of `shape`, by [`whole_bytes`]: `LimitExceeded` past 64 bits,
/// `Malformed` when its values do not fill whole bytes (an odd number of F4 values, say).
pub fn shape_bytes(dtype: DType, shape: &[u64]) -> Result<u64> {
    let values = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::bare(ErrorKind::LimitExceeded, "tensor size overflows 64 bits"))?;
    whole_bytes(dtype, values)
}

/// [`shape_bytes`], or `None` where it is an error.
pub fn tensor_bytes(dtype: DType, shape: &[u64]) -> Option<u64> {
    shape_bytes(dtype, shape).ok()
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
        let bits = load_le(c);
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
