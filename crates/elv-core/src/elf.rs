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

/// What ELF says of a dtype that is not one of the four floats.
const NEEDS_FLOAT: &str = "ELF needs F16, BF16, F32 or F64";

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
    let fmt = dtype.float_format_for(NEEDS_FLOAT)?;
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
    let fmt = dtype.float_format_for(NEEDS_FLOAT)?;
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
pub(crate) fn outlier_stream(positions: &[u64], values: &[u8]) -> Vec<u8> {
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
    let fmt = dtype.float_format_for(NEEDS_FLOAT)?;
    let size = dtype.size();
    let (Some(outliers), Some(plane_streams)) = (streams.first(), streams.get(1..)) else {
        return Err(Error::bare(ErrorKind::Malformed, "ELF stream count"));
    };
    let (positions, values) = parse_outliers(outliers, n, size)?;
    let k = positions.len();
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

/// Parses an outlier stream (SPEC.md §7.2.3) of a chunk of `n` values of `size` bytes: the
/// outliers' positions (strictly increasing, below `n`) and their bytes. Errors name
/// section 0, the outlier stream's place in its chunk.
pub(crate) fn parse_outliers(
    outliers: &[u8],
    n: usize,
    size: usize,
) -> Result<(Vec<usize>, &[u8])> {
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
    Ok((positions, values))
}

#[cfg(test)]
#[path = "elf_tests.rs"]
mod tests;
