//! ELF, the exponent-less float encoding (SPEC.md §7.2; paper §6.1).
//!
//! A value p is *in range* when p ∈ (-1, 1) and 1+|p|, rounded to nearest-even in p's own
//! format, is below 2. It is then stored as its sign and the mantissa t of 1+|p|: a code
//! `s << M | t` of 1+M bits. It decodes to (-1)^s · t · 2^-M, so the absolute error is at most
//! 2^-(M+1): 2^-24 for f32, 2^-11 for f16, 2^-8 for bf16, 2^-53 for f64. Every other value
//! (|p| ≥ 1, ±inf, NaN, and values whose 1+|p| rounds up to 2) is an *outlier*, stored
//! bit-exact with its position.
#![deny(clippy::indexing_slicing)]

use crate::dtype::{load_le, store_le, DType, FloatFormat};
use crate::planes;
use crate::varint::{read_uleb, write_uleb};
use crate::{Error, ErrorKind, Result};
use alloc::vec::Vec;

/// Width in bits of an ELF code for `fmt`: the sign plus the mantissa.
pub fn code_width(fmt: FloatFormat) -> u32 {
    1 + fmt.man_bits
}

/// k such that ELF's absolute error bound for `fmt` is 2^-k (= mantissa bits + 1).
pub fn error_bound_log2(fmt: FloatFormat) -> u8 {
    (fmt.man_bits + 1) as u8
}

/// The ELF code of the float with bit pattern `bits`, or `None` if it is an outlier.
///
/// This is the normative definition (SPEC.md §7.2.1), in integer arithmetic: t is |p|·2^M
/// rounded to nearest, ties to even.
#[inline]
pub fn encode_value(bits: u64, fmt: FloatFormat) -> Option<u64> {
    let m_bits = fmt.man_bits;
    let sign = (bits >> (fmt.exp_bits + m_bits)) & 1;
    let e = (bits >> m_bits) & ((1u64 << fmt.exp_bits) - 1);
    let m = bits & ((1u64 << m_bits) - 1);
    let bias = fmt.bias();
    if e >= bias {
        return None; // |p| >= 1, inf or NaN
    }
    let (sig, e_eff) = if e == 0 {
        (m, 1)
    } else {
        (m | (1u64 << m_bits), e)
    };
    // |p| * 2^M = sig * 2^(e_eff - bias); shift >= 1 because e_eff < bias.
    let shift = bias - e_eff;
    let t = if shift > u64::from(m_bits) + 1 {
        0 // sig < 2^(M+1), so sig / 2^shift < 1/2
    } else {
        let shift = shift as u32;
        let t = sig >> shift;
        let rem = sig & ((1u64 << shift) - 1);
        let half = 1u64 << (shift - 1);
        if rem > half || (rem == half && t & 1 == 1) {
            t + 1
        } else {
            t
        }
    };
    if t >> m_bits != 0 {
        return None; // 1+|p| rounded to 2.0
    }
    Some((sign << m_bits) | t)
}

/// The float bit pattern an ELF code decodes to: (-1)^s · t · 2^-M, exactly (SPEC.md §7.2.2).
#[inline]
pub fn decode_value(code: u64, fmt: FloatFormat) -> u64 {
    let m_bits = fmt.man_bits;
    let sign = (code >> m_bits) & 1;
    let t = code & ((1u64 << m_bits) - 1);
    let sign_bit = sign << (fmt.exp_bits + m_bits);
    if t == 0 {
        return sign_bit;
    }
    // t = 2^k + r with k = floor(log2 t) < M: the value 2^(k-M) * (1 + r/2^k) is normal.
    let k = 63 - u64::from(t.leading_zeros());
    let e = fmt.bias() + k - u64::from(m_bits);
    let mant = (t << (u64::from(m_bits) - k)) & ((1u64 << m_bits) - 1);
    sign_bit | (e << m_bits) | mant
}

/// Magnitude below which a value is *small* for the optimizer-state guard: 2^-16, where
/// ELF's f32 bound of 2^-24 exceeds 2^-8 (0.4%) of the value.
pub const SMALL_LOG2: i32 = -16;

/// Counts, in little-endian `dtype` values, the non-zero values and those of them that are
/// small (0 < |p| < 2^-16, [`SMALL_LOG2`]). NaNs and infinities are not small.
pub fn small_count(dtype: DType, data: &[u8]) -> Result<(u64, u64)> {
    let fmt = float_format(dtype)?;
    if dtype == DType::F32 {
        // 2^-16 is 0x3780_0000.
        let (mut nonzero, mut small) = (0u64, 0u64);
        for elem in data.chunks_exact(4) {
            let mag = <[u8; 4]>::try_from(elem).map_or(0, u32::from_le_bytes) & 0x7fff_ffff;
            nonzero += u64::from(mag != 0);
            small += u64::from(mag != 0 && mag < 0x3780_0000);
        }
        return Ok((nonzero, small));
    }
    let mag_mask = (1u64 << (fmt.exp_bits + fmt.man_bits)) - 1;
    let (mut nonzero, mut small) = (0u64, 0u64);
    for elem in data.chunks_exact(dtype.size()) {
        let mag = load_le(elem) & mag_mask;
        if mag != 0 {
            nonzero += 1;
            small += u64::from(magnitude_log2_below(mag, fmt, SMALL_LOG2));
        }
    }
    Ok((nonzero, small))
}

/// Whether the magnitude bits `mag` (sign cleared) of a `fmt` value are below 2^`log2`.
fn magnitude_log2_below(mag: u64, fmt: FloatFormat, log2: i32) -> bool {
    let m = i64::from(fmt.man_bits);
    let e = (mag >> m) as i64;
    let bias = fmt.bias() as i64;
    let log2 = i64::from(log2);
    if e == (1i64 << fmt.exp_bits) - 1 {
        return false; // inf or NaN
    }
    if e > 0 {
        // A normal value lies in [2^(e-bias), 2^(e-bias+1)).
        return e - bias < log2;
    }
    // A subnormal is t·2^(1-bias-M) with t < 2^M: below 2^log2 when t < 2^(log2-1+bias+M).
    let shift = log2 - 1 + bias + m;
    shift >= m || (shift > 0 && (mag & ((1 << m) - 1)) < (1u64 << shift))
}

/// Whether the canonical writer stores `bits` as an outlier (SPEC.md §7.2.3): the values of
/// §7.2.1 steps 1 and 4, and every non-zero value whose code would have `t = 0` (magnitude at
/// most 2^-(M+1)), so that no non-zero value decodes to zero.
pub fn stored_exactly(bits: u64, fmt: FloatFormat) -> bool {
    let mag_mask = (1u64 << (fmt.exp_bits + fmt.man_bits)) - 1;
    let t_mask = (1u64 << fmt.man_bits) - 1;
    match encode_value(bits, fmt) {
        None => true,
        Some(code) => code & t_mask == 0 && bits & mag_mask != 0,
    }
}

/// The f32 code the canonical writer stores, or `None` for an outlier ([`stored_exactly`]).
#[inline]
fn encode_f32(bits: u32) -> Option<u32> {
    // Same result as `encode_value`: IEEE addition rounds 1+|p| to nearest-even.
    let mag = bits & 0x7fff_ffff;
    let q = 1.0f32 + f32::from_bits(mag);
    let t = q.to_bits() & 0x007f_ffff;
    if q < 2.0 && (t != 0 || mag == 0) {
        Some(((bits >> 31) << 23) | t)
    } else {
        None
    }
}

/// Encodes one chunk of little-endian `dtype` values into its streams: the outlier stream,
/// then the code planes (SPEC.md §7.2.3).
pub fn encode_chunk(dtype: DType, data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let fmt = float_format(dtype)?;
    let size = dtype.size();
    if data.len() % size != 0 {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "data length not a multiple of the dtype size",
        ));
    }
    if dtype == DType::F32 {
        return Ok(encode_chunk_f32(data));
    }
    let mut codes = Vec::with_capacity(data.len() / size);
    let mut positions = Vec::new();
    let mut outlier_values = Vec::new();
    for (i, elem) in data.chunks_exact(size).enumerate() {
        let bits = load_le(elem);
        match encode_value(bits, fmt).filter(|_| !stored_exactly(bits, fmt)) {
            Some(c) => codes.push(c),
            None => {
                positions.push(i as u64);
                outlier_values.extend_from_slice(elem);
            }
        }
    }
    let mut streams = Vec::with_capacity(1 + planes::plane_count(code_width(fmt)));
    streams.push(outlier_stream(&positions, &outlier_values));
    streams.extend(planes::split(&codes, code_width(fmt)));
    Ok(streams)
}

/// The outlier stream for `positions` (ascending) and their raw values.
fn outlier_stream(positions: &[u64], values: &[u8]) -> Vec<u8> {
    let mut outliers = Vec::with_capacity(1 + 2 * positions.len() + values.len());
    write_uleb(positions.len() as u64, &mut outliers);
    let mut next = 0u64;
    for &p in positions {
        write_uleb(p - next, &mut outliers);
        next = p + 1;
    }
    outliers.extend_from_slice(values);
    outliers
}

/// Values per block of the f32 encoder's vectorized path.
const F32_BLOCK: usize = 64;

/// f32 encoder writing the three planes directly (same output as the generic path). Blocks of
/// 64 values are coded without branches (the compiler vectorizes the loop); a block holding an
/// outlier, and the tail, take the scalar path.
// Indexes fixed `[_; 64]` arrays with `j < 64` and the planes at `k + j` where `k + 64 <= n`
// (`k` counts codes written, never more than the values seen): never out of range.
#[allow(clippy::indexing_slicing)]
fn encode_chunk_f32(data: &[u8]) -> Vec<Vec<u8>> {
    let n = data.len() / 4;
    let (mut p0, mut p1, mut p2) = (
        alloc::vec![0u8; n],
        alloc::vec![0u8; n],
        alloc::vec![0u8; n],
    );
    let mut k = 0usize;
    let mut positions = Vec::new();
    let mut values = Vec::new();
    let mut blocks = data.chunks_exact(4 * F32_BLOCK);
    let mut code_at = |i: usize, elem: &[u8], k: &mut usize, planes: [&mut [u8]; 3]| {
        let bits = <[u8; 4]>::try_from(elem).map_or(0, u32::from_le_bytes);
        match encode_f32(bits) {
            Some(c) => {
                let [a, b, d] = planes;
                a[*k] = (c >> 16) as u8;
                b[*k] = (c >> 8) as u8;
                d[*k] = c as u8;
                *k += 1;
            }
            None => {
                positions.push(i as u64);
                values.extend_from_slice(elem);
            }
        }
    };
    let mut base = 0usize;
    for block in &mut blocks {
        let mut codes = [0u32; F32_BLOCK];
        let mut outliers = 0u32;
        for (c, elem) in codes.iter_mut().zip(block.chunks_exact(4)) {
            let bits = <[u8; 4]>::try_from(elem).map_or(0, u32::from_le_bytes);
            let mag = bits & 0x7fff_ffff;
            let q = 1.0f32 + f32::from_bits(mag);
            let t = q.to_bits() & 0x007f_ffff;
            // Outlier: q >= 2, or NaN (which fails every comparison, so `!(q < 2)` holds), or
            // a non-zero value whose code would be a zero.
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            let outlier = !(q < 2.0) || (t == 0 && mag != 0);
            outliers += u32::from(outlier);
            *c = ((bits >> 31) << 23) | t;
        }
        if outliers == 0 {
            let (o0, o1, o2) = (
                &mut p0[k..k + F32_BLOCK],
                &mut p1[k..k + F32_BLOCK],
                &mut p2[k..k + F32_BLOCK],
            );
            for j in 0..F32_BLOCK {
                o0[j] = (codes[j] >> 16) as u8;
                o1[j] = (codes[j] >> 8) as u8;
                o2[j] = codes[j] as u8;
            }
            k += F32_BLOCK;
        } else {
            for (j, elem) in block.chunks_exact(4).enumerate() {
                code_at(base + j, elem, &mut k, [&mut p0, &mut p1, &mut p2]);
            }
        }
        base += F32_BLOCK;
    }
    for (j, elem) in blocks.remainder().chunks_exact(4).enumerate() {
        code_at(base + j, elem, &mut k, [&mut p0, &mut p1, &mut p2]);
    }
    p0.truncate(k);
    p1.truncate(k);
    p2.truncate(k);
    alloc::vec![outlier_stream(&positions, &values), p0, p1, p2]
}

/// Writes the f32 values of ELF codes given as their three planes: `(1 + t·2^-23) − 1` with
/// the sign, exactly [`decode_value`] (the subtraction is exact).
#[inline]
fn decode_run_f32(p0: &[u8], p1: &[u8], p2: &[u8], out: &mut [u8]) {
    for (((a, b), c), o) in p0.iter().zip(p1).zip(p2).zip(out.chunks_exact_mut(4)) {
        let t = (u32::from(*a & 0x7f) << 16) | (u32::from(*b) << 8) | u32::from(*c);
        let v = (f32::from_bits(0x3f80_0000 | t) - 1.0).to_bits() | (u32::from(*a >> 7) << 31);
        o.copy_from_slice(&v.to_le_bytes());
    }
}

/// Decodes one chunk of `n` values from its streams into `out` (`n` × dtype size bytes).
pub fn decode_chunk(dtype: DType, n: usize, streams: &[&[u8]], out: &mut [u8]) -> Result<()> {
    let fmt = float_format(dtype)?;
    let size = dtype.size();
    let (Some(outliers), Some(plane_streams)) = (streams.first(), streams.get(1..)) else {
        return Err(Error::bare(ErrorKind::Malformed, "ELF stream count"));
    };
    let mut pos = 0usize;
    let k = read_uleb(outliers, &mut pos).map_err(|e| e.in_section(0))?;
    if k > n as u64 {
        return Err(Error::bare(
            ErrorKind::Malformed,
            "ELF outlier count exceeds chunk length",
        )
        .got_expected(k, n as u64)
        .in_section(0));
    }
    let k = k as usize;
    let mut positions = Vec::with_capacity(k);
    let mut next = 0u64;
    for _ in 0..k {
        let at = pos as u64;
        let gap = read_uleb(outliers, &mut pos).map_err(|e| e.in_section(0))?;
        let p = next
            .checked_add(gap)
            .filter(|&p| p < n as u64)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::OutOfRange,
                    "ELF outlier position beyond chunk",
                    at,
                )
                .in_section(0)
            })?;
        positions.push(p as usize);
        next = p + 1;
    }
    let values = outliers.get(pos..).unwrap_or_default();
    if values.len() != k * size {
        return Err(Error::new(
            ErrorKind::Malformed,
            "ELF outlier values length",
            pos as u64,
        )
        .got_expected(values.len() as u64, (k * size) as u64)
        .in_section(0));
    }
    if out.len() != n * size {
        return Err(Error::bare(ErrorKind::InvalidInput, "output buffer length"));
    }
    if let (DType::F32, [p0, p1, p2]) = (dtype, plane_streams) {
        let m = n - k;
        planes::check_lengths(&[p0, p1, p2], m).map_err(|e| e.rebase_section(1))?;
        // Runs of in-range values between outliers decode in bulk.
        let (mut at, mut used) = (0usize, 0usize);
        for (&p, v) in positions.iter().zip(values.chunks_exact(size)) {
            let run = p - at;
            let (dst, src) = (
                out.get_mut(at * 4..p * 4).unwrap_or_default(),
                used..used + run,
            );
            decode_run_f32(
                p0.get(src.clone()).unwrap_or_default(),
                p1.get(src.clone()).unwrap_or_default(),
                p2.get(src).unwrap_or_default(),
                dst,
            );
            if let Some(o) = out.get_mut(p * 4..p * 4 + 4) {
                o.copy_from_slice(v);
            }
            used += run;
            at = p + 1;
        }
        decode_run_f32(
            p0.get(used..).unwrap_or_default(),
            p1.get(used..).unwrap_or_default(),
            p2.get(used..).unwrap_or_default(),
            out.get_mut(at * 4..).unwrap_or_default(),
        );
        return Ok(());
    }
    let mut codes = planes::scratch(n - k);
    planes::merge(plane_streams, code_width(fmt), &mut codes).map_err(|e| e.rebase_section(1))?;
    let mut code_iter = codes.iter();
    let mut outlier_iter = positions.iter().zip(values.chunks_exact(size)).peekable();
    for (i, dst) in out.chunks_exact_mut(size).enumerate() {
        match outlier_iter.peek() {
            Some((&p, v)) if p == i => {
                dst.copy_from_slice(v);
                outlier_iter.next();
            }
            _ => {
                let code = code_iter.next().copied().unwrap_or(0);
                store_le(decode_value(code, fmt), dst);
            }
        }
    }
    Ok(())
}

fn float_format(dtype: DType) -> Result<FloatFormat> {
    dtype.float_format().ok_or_else(|| {
        Error::bare(
            ErrorKind::UnknownEncoding,
            "ELF needs F16, BF16, F32 or F64",
        )
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use half::{bf16, f16};

    const F16: FloatFormat = FloatFormat {
        exp_bits: 5,
        man_bits: 10,
    };
    const BF16: FloatFormat = FloatFormat {
        exp_bits: 8,
        man_bits: 7,
    };
    const F32: FloatFormat = FloatFormat {
        exp_bits: 8,
        man_bits: 23,
    };
    const F64: FloatFormat = FloatFormat {
        exp_bits: 11,
        man_bits: 52,
    };

    #[test]
    fn paper_example_f32() {
        // Figure 9: p = 0.1415926069021... -> 1+p = 1.1415926218032...
        let p = 0.141_592_6_f32;
        let code = encode_value(u64::from(p.to_bits()), F32).unwrap();
        assert_eq!(code, u64::from((1.0f32 + p).to_bits() & 0x7f_ffff));
        let back = f32::from_bits(decode_value(code, F32) as u32);
        assert!((back - p).abs() <= 2f32.powi(-24));
    }

    #[test]
    fn integer_definition_matches_float_addition_f32_f64() {
        let samples_f32 = [
            0.0f32,
            -0.0,
            1e-30,
            -1e-45,
            0.3,
            -0.999_999_9,
            0.999_999_94,
            5.960_464_5e-8,
            2.980_232_2e-8,
        ];
        for p in samples_f32 {
            // The writer's fast path codes exactly the values the definition codes, except
            // the non-zero ones whose code would be a zero (stored exactly, §7.2.3).
            let bits = u64::from(p.to_bits());
            let a = encode_value(bits, F32)
                .filter(|_| !stored_exactly(bits, F32))
                .map(|c| c as u32);
            assert_eq!(a, encode_f32(p.to_bits()), "{p}");
        }
        for p in [
            0.0f64,
            1e-300,
            -0.5,
            0.999_999_999_999_999_9,
            1.1e-16,
            5e-324,
        ] {
            let q = 1.0 + p.abs();
            let want =
                (q < 2.0).then(|| ((p.to_bits() >> 63) << 52) | (q.to_bits() & ((1 << 52) - 1)));
            assert_eq!(encode_value(p.to_bits(), F64), want, "{p}");
        }
    }

    #[test]
    fn f32_fast_paths_match_the_definition() {
        // Outliers everywhere (every 64-value block takes the scalar path), then rare
        // outliers (most blocks take the vectorized path) with a tail shorter than a block.
        for rare in [false, true] {
            f32_fast_path_matches(rare);
        }
    }

    fn f32_fast_path_matches(rare: bool) {
        let mut x = 0x9e37_79b9u32;
        let mut data = Vec::new();
        for i in 0..20_003u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let kind = match (rare, i % 1000, i % 3) {
                (false, _, _) => i % 5,
                (true, 7, _) => 0,   // random bits: about half are outliers
                (true, 500, _) => 5, // the largest value below 1, an outlier (rounds to 2)
                (true, _, 0) => 4,
                (true, _, _) => 2,
            };
            let bits = match kind {
                5 => 0x3f7f_ffff,
                0 => x,
                1 => x & 0x3fff_ffff,
                2 => x & 0x807f_ffff | 0x3800_0000,
                3 => x & 0x8000_00ff,
                _ => (x & 0x8000_0000) | 0x3f7f_0000 | (x & 0xffff),
            };
            data.extend_from_slice(&bits.to_le_bytes());
        }
        let fast = encode_chunk_f32(&data);
        if rare {
            assert!(
                read_uleb(&fast[0], &mut 0).unwrap() >= 20,
                "outliers present"
            );
        }
        let mut codes = Vec::new();
        let mut pos = Vec::new();
        let mut vals = Vec::new();
        for (i, e) in data.chunks_exact(4).enumerate() {
            let bits = u64::from(u32::from_le_bytes(e.try_into().unwrap()));
            match encode_value(bits, F32).filter(|_| !stored_exactly(bits, F32)) {
                Some(c) => codes.push(c),
                None => {
                    pos.push(i as u64);
                    vals.extend_from_slice(e);
                }
            }
        }
        let mut slow = vec![outlier_stream(&pos, &vals)];
        slow.extend(planes::split(&codes, 24));
        assert_eq!(fast, slow);
        let refs: Vec<&[u8]> = fast.iter().map(|s| s.as_slice()).collect();
        let mut out = vec![0u8; data.len()];
        decode_chunk(DType::F32, data.len() / 4, &refs, &mut out).unwrap();
        for (i, (o, e)) in out.chunks_exact(4).zip(data.chunks_exact(4)).enumerate() {
            let bits = u64::from(u32::from_le_bytes(e.try_into().unwrap()));
            let want = encode_value(bits, F32)
                .filter(|_| !stored_exactly(bits, F32))
                .map_or(bits, |c| decode_value(c, F32));
            assert_eq!(
                u64::from(u32::from_le_bytes(o.try_into().unwrap())),
                want,
                "value {i}"
            );
        }
    }

    #[test]
    fn values_that_round_to_two_are_outliers() {
        // largest f16 below 1 is 1 - 2^-11; 1 + that rounds (tie, odd) up to 2.0
        let p = f16::from_f32(1.0 - 2f32.powi(-11));
        assert!(p.to_f32() < 1.0);
        assert_eq!(encode_value(u64::from(p.to_bits()), F16), None);
        let p = bf16::from_f32(0.998);
        assert!(p.to_f32() < 1.0);
        assert_eq!(encode_value(u64::from(p.to_bits()), BF16), None);
        // largest f32 below 1: 1 - 2^-24 -> 2 - 2^-24 is a tie between 2-2^-23 (odd) and 2: outlier
        let p = f32::from_bits(0x3f7f_ffff);
        assert_eq!(encode_value(u64::from(p.to_bits()), F32), None);
        // the next one down stays in range
        let p = f32::from_bits(0x3f7f_fffe);
        assert!(encode_value(u64::from(p.to_bits()), F32).is_some());
    }

    #[test]
    fn zero_sign_and_flush() {
        assert_eq!(encode_value(0x8000_0000, F32), Some(1 << 23));
        assert_eq!(decode_value(1 << 23, F32), 0x8000_0000);
        // smallest negative subnormal flushes to -0.0
        assert_eq!(
            decode_value(encode_value(0x8000_0001, F32).unwrap(), F32),
            0x8000_0000
        );
        assert_eq!(encode_value(0x7fc0_0000, F32), None);
        assert_eq!(encode_value(0x7f80_0000, F32), None);
        assert_eq!(encode_value(0x3f80_0000, F32), None);
    }

    #[test]
    fn chunk_round_trip_with_outliers() {
        let vals = [
            0.5f32,
            3.0,
            -0.25,
            f32::NAN,
            -1.0,
            1e-40,
            f32::NEG_INFINITY,
            0.0,
        ];
        let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let streams = encode_chunk(DType::F32, &data).unwrap();
        assert_eq!(streams.len(), 4);
        // 0.5, -0.25 and 0.0 are in range; 1e-40 would decode to zero: an outlier too.
        assert_eq!(streams[1].len(), 3);
        let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
        let mut out = vec![0u8; data.len()];
        decode_chunk(DType::F32, vals.len(), &refs, &mut out).unwrap();
        for (v, o) in vals.iter().zip(out.chunks_exact(4)) {
            let o = f32::from_le_bytes(o.try_into().unwrap());
            if v.abs() >= 1.0 || v.is_nan() {
                assert_eq!(o.to_bits(), v.to_bits());
            } else {
                assert!((o - v).abs() <= 2f32.powi(-24));
            }
        }
    }

    /// The promise, on adversarial values of every format: outliers and non-zero values
    /// of magnitude up to 2^-(M+1) (subnormals among them) decode bit-exact, no non-zero value
    /// decodes to zero, ±0 keep their sign, and every other value in (-1, 1) is within
    /// 2^-(M+1).
    #[test]
    fn nothing_nonzero_decodes_to_zero_and_the_bound_holds() {
        for (dtype, fmt) in [
            (DType::F16, F16),
            (DType::BF16, BF16),
            (DType::F32, F32),
            (DType::F64, F64),
        ] {
            let m = fmt.man_bits;
            let total = fmt.exp_bits + m;
            let mag_mask = (1u64 << total) - 1;
            let one = fmt.bias() << m;
            let mut bits: Vec<u64> = vec![
                0,
                1,
                2,
                (1 << m) - 1,
                1 << m,
                one,
                one - 1,
                one - 2,
                mag_mask,
                ((1u64 << fmt.exp_bits) - 1) << m,
                (((1u64 << fmt.exp_bits) - 1) << m) | 1,
            ];
            // Around the flush threshold 2^-(M+1): its exponent is bias - M - 1.
            let half_ulp = (fmt.bias() - u64::from(m) - 1) << m;
            bits.extend([half_ulp - 1, half_ulp, half_ulp + 1, half_ulp + (1 << m)]);
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..2000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Magnitudes spread over every exponent below 1.
                bits.push(x % one);
            }
            let with_signs: Vec<u64> = bits.iter().flat_map(|&b| [b, b | (1 << total)]).collect();
            let data: Vec<u8> = with_signs
                .iter()
                .flat_map(|&b| b.to_le_bytes()[..dtype.size()].to_vec())
                .collect();
            let streams = encode_chunk(dtype, &data).unwrap();
            let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
            let mut out = vec![0u8; data.len()];
            decode_chunk(dtype, with_signs.len(), &refs, &mut out).unwrap();
            let bound = 2f64.powi(-(m as i32 + 1));
            for (&b, o) in with_signs.iter().zip(out.chunks_exact(dtype.size())) {
                let got = load_le(o);
                if stored_exactly(b, fmt) || b & mag_mask == 0 {
                    assert_eq!(got, b, "{dtype:?} {b:#x} must be exact");
                    continue;
                }
                assert_ne!(got & mag_mask, 0, "{dtype:?} {b:#x} decoded to zero");
                let (err, _) =
                    crate::compare_floats(dtype, &b.to_le_bytes()[..dtype.size()], o).unwrap();
                assert!(err <= bound, "{dtype:?} {b:#x}: error {err} above {bound}");
            }
        }
    }

    #[test]
    fn small_counts_magnitudes_below_2_to_the_minus_16() {
        let f32s = [
            0.0f32,
            1e-5,
            -1e-5,
            2e-5,
            1.5258789e-5,
            1.0,
            f32::NAN,
            1e-40,
        ];
        let data: Vec<u8> = f32s.iter().flat_map(|v| v.to_le_bytes()).collect();
        // 1e-5, -1e-5 and the subnormal are below 2^-16 (1.5259e-5); 2^-16 itself is not.
        assert_eq!(small_count(DType::F32, &data).unwrap(), (7, 3));
        let h: Vec<u8> = [1e-5f32, 2e-5, 1e-7, 0.5]
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_bits().to_le_bytes())
            .collect();
        assert_eq!(small_count(DType::F16, &h).unwrap(), (4, 2));
        let d: Vec<u8> = [1e-5f64, 2e-5, 1e-300, 0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(small_count(DType::F64, &d).unwrap(), (4, 2));
        let b: Vec<u8> = [1e-5f32, 2e-5]
            .iter()
            .flat_map(|&v| bf16::from_f32(v).to_bits().to_le_bytes())
            .collect();
        assert_eq!(small_count(DType::BF16, &b).unwrap(), (2, 1));
    }
}
