//! The lossless float split (SPEC.md §7.3): exponent planes, then sign-and-mantissa planes.
//!
//! The exponent of model weights takes few values and compresses well on its own; the
//! mantissa bytes are close to random. Separating them (as ZipNN groups bytes) lets the entropy
//! stage see each kind together.
#![deny(clippy::indexing_slicing)]

use crate::dtype::{load_le, store_le, DType, FloatFormat};
use crate::planes;
use crate::{Error, ErrorKind, Result};
use alloc::vec::Vec;

/// What float planes says of a dtype that is not one of the four floats.
const NEEDS_FLOAT: &str = "float planes need F16, BF16, F32 or F64";

/// Number of streams per chunk for `fmt`: exponent planes plus sign-and-mantissa planes.
pub fn stream_count(fmt: FloatFormat) -> usize {
    planes::plane_count(fmt.exp_bits) + planes::plane_count(1 + fmt.man_bits)
}

/// Splits one chunk of little-endian float values into exponent and sign-mantissa planes.
pub fn encode_chunk(dtype: DType, data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let fmt = dtype.float_format_for(NEEDS_FLOAT)?;
    let size = dtype.size();
    if data.len() % size != 0 {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "data length not a multiple of the dtype size",
        ));
    }
    match dtype {
        DType::F32 => return Ok(encode_f32(data)),
        DType::BF16 | DType::F16 => return Ok(encode_half(dtype, data)),
        _ => {}
    }
    let m = fmt.man_bits;
    let (mut exps, mut codes): (Vec<u64>, Vec<u64>) = data
        .chunks_exact(size)
        .map(|c| {
            let b = load_le(c);
            let exp = (b >> m) & ((1u64 << fmt.exp_bits) - 1);
            let sign = b >> (fmt.exp_bits + m);
            (exp, (sign << m) | (b & ((1u64 << m) - 1)))
        })
        .unzip();
    let mut streams = planes::split(&exps, fmt.exp_bits);
    exps.clear();
    streams.extend(planes::split(&codes, 1 + m));
    codes.clear();
    Ok(streams)
}

/// Merges one chunk of `n` values back from its planes into `out`.
pub fn decode_chunk(dtype: DType, n: usize, streams: &[&[u8]], out: &mut [u8]) -> Result<()> {
    let fmt = dtype.float_format_for(NEEDS_FLOAT)?;
    let size = dtype.size();
    if out.len() != n * size {
        return Err(Error::bare(ErrorKind::InvalidInput, "output buffer length"));
    }
    let ne = planes::plane_count(fmt.exp_bits);
    let (Some(exp_planes), Some(code_planes)) = (streams.get(..ne), streams.get(ne..)) else {
        return Err(Error::bare(
            ErrorKind::Malformed,
            "float planes stream count",
        ));
    };
    match (dtype, streams) {
        (DType::BF16, [e, c0]) => {
            planes::check_lengths(&[e, c0], n)?;
            for ((o, &e), &c) in out.chunks_exact_mut(2).zip(e.iter()).zip(c0.iter()) {
                let bits = (u16::from(c >> 7) << 15) | (u16::from(e) << 7) | u16::from(c & 0x7f);
                o.copy_from_slice(&bits.to_le_bytes());
            }
            return Ok(());
        }
        (DType::F16, [e, c0, c1]) => {
            planes::check_lengths(&[e, c0, c1], n)?;
            check_high_bits(e, 5, 0)?;
            check_high_bits(c1, 3, 2)?;
            for (((o, &e), &a), &b) in out
                .chunks_exact_mut(2)
                .zip(e.iter())
                .zip(c0.iter())
                .zip(c1.iter())
            {
                let code = (u16::from(a) << 3) | u16::from(b);
                let bits = ((code >> 10) << 15) | (u16::from(e) << 10) | (code & 0x3ff);
                o.copy_from_slice(&bits.to_le_bytes());
            }
            return Ok(());
        }
        (DType::F32, [e, c0, c1, c2]) => {
            planes::check_lengths(&[e, c0, c1, c2], n)?;
            for ((((o, &e), &a), &b), &c) in out
                .chunks_exact_mut(4)
                .zip(e.iter())
                .zip(c0.iter())
                .zip(c1.iter())
                .zip(c2.iter())
            {
                let bits = (u32::from(a >> 7) << 31)
                    | (u32::from(e) << 23)
                    | (u32::from(a & 0x7f) << 16)
                    | (u32::from(b) << 8)
                    | u32::from(c);
                o.copy_from_slice(&bits.to_le_bytes());
            }
            return Ok(());
        }
        _ => {}
    }
    let mut exps = planes::scratch(n);
    planes::merge(exp_planes, fmt.exp_bits, &mut exps)?;
    let mut codes = planes::scratch(n);
    planes::merge(code_planes, 1 + fmt.man_bits, &mut codes)
        .map_err(|e| e.rebase_section(ne as u32))?;
    let m = fmt.man_bits;
    for ((dst, &e), &c) in out
        .chunks_exact_mut(size)
        .zip(exps.iter())
        .zip(codes.iter())
    {
        let sign = c >> m;
        let bits = (sign << (fmt.exp_bits + m)) | (e << m) | (c & ((1u64 << m) - 1));
        store_le(bits, dst);
    }
    Ok(())
}

/// A short plane (SPEC.md §7.1) holds `bits` bits per byte; the rest must be zero.
fn check_high_bits(plane: &[u8], bits: u32, stream: u32) -> Result<()> {
    match plane.iter().position(|&b| b >> bits != 0) {
        Some(pos) => Err(Error::new(
            ErrorKind::ReservedNonZero,
            "unused high bits of a short plane",
            pos as u64,
        )
        .in_section(stream)),
        None => Ok(()),
    }
}

/// bf16 and f16 split writing the planes directly (same output as the generic path).
fn encode_half(dtype: DType, data: &[u8]) -> Vec<Vec<u8>> {
    if dtype == DType::BF16 {
        return planes::split_values(data, |v: [u8; 2]| {
            let b = u16::from_le_bytes(v);
            [(b >> 7) as u8, (((b >> 15) << 7) | (b & 0x7f)) as u8]
        });
    }
    planes::split_values(data, |v: [u8; 2]| {
        let b = u16::from_le_bytes(v);
        let code = ((b >> 15) << 10) | (b & 0x3ff);
        [
            ((b >> 10) & 0x1f) as u8,
            (code >> 3) as u8,
            (code & 7) as u8,
        ]
    })
}

/// f32 split writing the four planes directly (same output as the generic path).
fn encode_f32(data: &[u8]) -> Vec<Vec<u8>> {
    planes::split_values(data, |v: [u8; 4]| {
        let b = u32::from_le_bytes(v);
        [
            (b >> 23) as u8,
            (((b >> 31) << 7) | ((b >> 16) & 0x7f)) as u8,
            (b >> 8) as u8,
            b as u8,
        ]
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn f32_fast_path_matches_the_generic_layout() {
        let data: Vec<u8> = (0..5000u32)
            .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
            .collect();
        let fast = encode_f32(&data);
        let (exps, codes): (Vec<u64>, Vec<u64>) = data
            .chunks_exact(4)
            .map(|c| {
                let b = u64::from(u32::from_le_bytes(c.try_into().unwrap()));
                ((b >> 23) & 0xff, ((b >> 31) << 23) | (b & 0x7f_ffff))
            })
            .unzip();
        let mut slow = planes::split(&exps, 8);
        slow.extend(planes::split(&codes, 24));
        assert_eq!(fast, slow);
    }

    #[test]
    fn half_fast_paths_match_the_generic_layout() {
        for (dtype, fmt) in [
            (
                DType::BF16,
                FloatFormat {
                    exp_bits: 8,
                    man_bits: 7,
                },
            ),
            (
                DType::F16,
                FloatFormat {
                    exp_bits: 5,
                    man_bits: 10,
                },
            ),
        ] {
            let data: Vec<u8> = (0..=u16::MAX).flat_map(|b| b.to_le_bytes()).collect();
            let fast = encode_half(dtype, &data);
            let m = fmt.man_bits;
            let (exps, codes): (Vec<u64>, Vec<u64>) = data
                .chunks_exact(2)
                .map(|c| {
                    let b = u64::from(u16::from_le_bytes(c.try_into().unwrap()));
                    (
                        (b >> m) & ((1 << fmt.exp_bits) - 1),
                        ((b >> 15) << m) | (b & ((1 << m) - 1)),
                    )
                })
                .unzip();
            let mut slow = planes::split(&exps, fmt.exp_bits);
            slow.extend(planes::split(&codes, 1 + m));
            assert_eq!(fast, slow, "{dtype:?}");
            let refs: Vec<&[u8]> = fast.iter().map(|p| p.as_slice()).collect();
            let mut out = vec![0u8; data.len()];
            decode_chunk(dtype, 65536, &refs, &mut out).unwrap();
            assert_eq!(out, data, "{dtype:?}");
        }
    }

    #[test]
    fn f32_layout_is_exponent_then_sign_mantissa_bytes() {
        let v = -1.5f32; // sign 1, exp 127, mantissa 0x400000
        let s = encode_chunk(DType::F32, &v.to_le_bytes()).unwrap();
        assert_eq!(s, [vec![127u8], vec![0xc0], vec![0], vec![0]]);
        let refs: Vec<&[u8]> = s.iter().map(|p| p.as_slice()).collect();
        let mut out = [0u8; 4];
        decode_chunk(DType::F32, 1, &refs, &mut out).unwrap();
        assert_eq!(out, v.to_le_bytes());
    }
}
