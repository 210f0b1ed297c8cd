//! Deltas against a base tensor (SPEC.md §7.7, §7.8): a fine-tune or a later checkpoint
//! stored as its difference from the base model's tensor of the same name, dtype and shape.
//!
//! - `delta` (lossless): the integer difference of the bit patterns, zigzag-coded, in byte
//!   planes; for floats the planes are split into classes by the *base* value's exponent, so
//!   each class gets its own entropy tables (an update's size in bit-pattern units grows as the
//!   base value shrinks).
//! - `elf_delta` (lossy, ELF's bound): the difference of the signed fixed-point ELF values
//!   of the fine-tune and of the base, so the decoded tensor is exactly what ELF alone gives.
#![deny(clippy::indexing_slicing)]

use crate::dtype::{load_le, store_le, DType, FloatFormat};
use crate::elf::{self, outlier_stream, parse_outliers};
use crate::planes;
use crate::{Error, ErrorKind, Result};
use alloc::vec;
use alloc::vec::Vec;

/// Exponent classes of a float `delta` (SPEC.md §7.7).
pub const FLOAT_CLASSES: usize = 16;

/// Classes of a `delta` chunk of `dtype`: 16 for floats, 1 otherwise.
pub fn class_count(dtype: DType) -> usize {
    if dtype.float_format().is_some() {
        FLOAT_CLASSES
    } else {
        1
    }
}

/// Streams per chunk of `delta`: a byte plane per value byte, per class.
pub fn stream_count(dtype: DType) -> usize {
    class_count(dtype) * dtype.size()
}

/// The class of a value whose base has bit pattern `base`: `min(B − 1 − e, 15)` with `e` the
/// base's biased exponent, 0 when `e ≥ B − 1` (|base| ≥ 0.5, infinities, NaN).
#[inline]
pub fn class_of(base: u64, fmt: FloatFormat) -> usize {
    let e = (base >> fmt.man_bits) & ((1u64 << fmt.exp_bits) - 1);
    let top = fmt.bias() - 1;
    top.saturating_sub(e).min(FLOAT_CLASSES as u64 - 1) as usize
}

#[inline]
fn zigzag(d: u64, width: u32) -> u64 {
    let mask = low_mask(width);
    let sign = (d >> (width - 1)) & 1;
    ((d << 1) ^ sign.wrapping_neg()) & mask
}

#[inline]
fn unzigzag(z: u64, width: u32) -> u64 {
    ((z >> 1) ^ (z & 1).wrapping_neg()) & low_mask(width)
}

#[inline]
fn low_mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

fn check_base<'b>(data: &[u8], base: Option<&'b [u8]>) -> Result<&'b [u8]> {
    match base {
        Some(b) if b.len() == data.len() => Ok(b),
        Some(b) => Err(Error::bare(ErrorKind::BaseMismatch, "base chunk length")
            .got_expected(b.len() as u64, data.len() as u64)),
        None => Err(Error::bare(ErrorKind::BaseMissing, "delta needs its base")),
    }
}

/// Encodes a chunk as `delta` against `base` (the base tensor's bytes for the same values).
pub fn encode_delta(dtype: DType, data: &[u8], base: Option<&[u8]>) -> Result<Vec<Vec<u8>>> {
    let base = check_base(data, base)?;
    let size = dtype.size();
    let width = 8 * size as u32;
    let fmt = dtype.float_format();
    let mut streams = vec![Vec::new(); stream_count(dtype)];
    for (v, b) in data.chunks_exact(size).zip(base.chunks_exact(size)) {
        let (v, b) = (load_le(v), load_le(b));
        let z = zigzag(v.wrapping_sub(b) & low_mask(width), width);
        let class = fmt.map_or(0, |f| class_of(b, f));
        for j in 0..size {
            if let Some(plane) = streams.get_mut(class * size + j) {
                plane.push((z >> (8 * (size - 1 - j))) as u8);
            }
        }
    }
    Ok(streams)
}

/// Decodes a `delta` chunk of `n` values against `base` into `out`. Each plane of class `c`
/// must hold exactly as many bytes as there are values whose base falls in class `c`
/// (`Malformed` otherwise).
pub fn decode_delta(
    dtype: DType,
    n: usize,
    streams: &[&[u8]],
    base: Option<&[u8]>,
    out: &mut [u8],
) -> Result<()> {
    let base = check_base(out, base)?;
    let size = dtype.size();
    let width = 8 * size as u32;
    let fmt = dtype.float_format();
    if streams.len() != stream_count(dtype) || out.len() != n * size {
        return Err(Error::bare(ErrorKind::Malformed, "delta stream count"));
    }
    let classes: Vec<u8> = base
        .chunks_exact(size)
        .map(|b| fmt.map_or(0, |f| class_of(load_le(b), f)) as u8)
        .collect();
    let mut counts = vec![0usize; class_count(dtype)];
    for &c in &classes {
        if let Some(k) = counts.get_mut(c as usize) {
            *k += 1;
        }
    }
    for (s, plane) in streams.iter().enumerate() {
        let want = counts.get(s / size).copied().unwrap_or(0);
        if plane.len() != want {
            return Err(Error::bare(ErrorKind::Malformed, "delta plane length")
                .got_expected(plane.len() as u64, want as u64)
                .in_section(s as u32));
        }
    }
    let mut next = vec![0usize; class_count(dtype)];
    for ((o, b), &c) in out
        .chunks_exact_mut(size)
        .zip(base.chunks_exact(size))
        .zip(&classes)
    {
        let c = c as usize;
        let at = next.get(c).copied().unwrap_or(0);
        let mut z = 0u64;
        for plane in streams.get(c * size..(c + 1) * size).unwrap_or_default() {
            z = z << 8 | u64::from(plane.get(at).copied().unwrap_or(0));
        }
        if let Some(k) = next.get_mut(c) {
            *k += 1;
        }
        store_le(
            load_le(b).wrapping_add(unzigzag(z, width)) & low_mask(width),
            o,
        );
    }
    Ok(())
}

/// The signed fixed-point ELF value of `bits` predicted from a base: `±t` (SPEC.md §7.8), `t`
/// as §7.2.1 step 3 gives it, clamped to `2^M − 1`; `2^M − 1` for |base| ≥ 1, infinities and
/// NaN.
#[inline]
pub fn predict(bits: u64, fmt: FloatFormat) -> i64 {
    let m = fmt.man_bits;
    let top = (1i64 << m) - 1;
    let negative = (bits >> (fmt.exp_bits + m)) & 1 == 1;
    let e = (bits >> m) & ((1u64 << fmt.exp_bits) - 1);
    let t = if e >= fmt.bias() {
        top
    } else {
        match elf::encode_value(bits, fmt) {
            Some(code) => (code & ((1u64 << m) - 1)) as i64,
            None => top,
        }
    };
    if negative {
        -t
    } else {
        t
    }
}

/// Whether a writer of `elf_delta` must store `bits` as an outlier: every value ELF's
/// canonical writer stores exactly, and −0 (the signed form has one zero, +0).
pub fn elf_delta_outlier(bits: u64, fmt: FloatFormat) -> bool {
    let mag = bits & low_mask(fmt.exp_bits + fmt.man_bits);
    elf::stored_exactly(bits, fmt) || (mag == 0 && bits != 0)
}

/// Encodes a chunk as `elf_delta` against `base`: outliers as in ELF (plus −0), then the
/// planes of `zigzag(v − predict(base))` in `1 + M` bits, `v = ±t` the value's ELF code
/// in signed form.
pub fn encode_elf_delta(dtype: DType, data: &[u8], base: Option<&[u8]>) -> Result<Vec<Vec<u8>>> {
    let base = check_base(data, base)?;
    let fmt = float_format(dtype)?;
    let size = dtype.size();
    let m = fmt.man_bits;
    let width = m + 1;
    let (mut positions, mut values, mut codes) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (v, b)) in data
        .chunks_exact(size)
        .zip(base.chunks_exact(size))
        .enumerate()
    {
        let bits = load_le(v);
        let code = match elf::encode_value(bits, fmt) {
            Some(code) if !elf_delta_outlier(bits, fmt) => code,
            _ => {
                positions.push(i as u64);
                values.extend_from_slice(v);
                continue;
            }
        };
        let t = (code & low_mask(m)) as i64;
        let signed = if code >> m == 1 { -t } else { t };
        let d = signed.wrapping_sub(predict(load_le(b), fmt)) as u64 & low_mask(width);
        codes.push(zigzag(d, width));
    }
    let mut streams = Vec::with_capacity(1 + planes::plane_count(width));
    streams.push(outlier_stream(&positions, &values));
    streams.extend(planes::split(&codes, width));
    Ok(streams)
}

/// Decodes an `elf_delta` chunk of `n` values against `base` into `out`. A difference that
/// gives `−2^M` (no ELF code has it) is `Malformed`.
pub fn decode_elf_delta(
    dtype: DType,
    n: usize,
    streams: &[&[u8]],
    base: Option<&[u8]>,
    out: &mut [u8],
) -> Result<()> {
    let base = check_base(out, base)?;
    let fmt = float_format(dtype)?;
    let size = dtype.size();
    let m = fmt.man_bits;
    let width = m + 1;
    let (Some(outliers), Some(plane_streams)) = (streams.first(), streams.get(1..)) else {
        return Err(Error::bare(ErrorKind::Malformed, "ELF delta stream count"));
    };
    if out.len() != n * size {
        return Err(Error::bare(ErrorKind::InvalidInput, "output buffer length"));
    }
    let (positions, values) = parse_outliers(outliers, n, size)?;
    let mut codes = vec![0u64; n - positions.len()];
    planes::merge(plane_streams, width, &mut codes).map_err(|e| e.rebase_section(1))?;
    let mut code_iter = codes.iter();
    let mut outlier_iter = positions.iter().zip(values.chunks_exact(size)).peekable();
    for (i, (dst, b)) in out
        .chunks_exact_mut(size)
        .zip(base.chunks_exact(size))
        .enumerate()
    {
        if let Some((&p, v)) = outlier_iter.peek() {
            if p == i {
                dst.copy_from_slice(v);
                outlier_iter.next();
                continue;
            }
        }
        let z = code_iter.next().copied().unwrap_or(0);
        let d = unzigzag(z, width);
        let sum = (predict(load_le(b), fmt) as u64).wrapping_add(d) & low_mask(width);
        // Sign-extend from `width` bits: the value is in [-2^M, 2^M).
        let signed = ((sum << (64 - width)) as i64) >> (64 - width);
        if signed == -(1i64 << m) {
            return Err(
                Error::bare(ErrorKind::Malformed, "ELF delta value out of range").in_section(1),
            );
        }
        let code = (u64::from(signed < 0) << m) | signed.unsigned_abs();
        store_le(elf::decode_value(code, fmt), dst);
    }
    Ok(())
}

fn float_format(dtype: DType) -> Result<FloatFormat> {
    dtype.float_format().ok_or_else(|| {
        Error::bare(
            ErrorKind::UnknownEncoding,
            "elf_delta needs F16, BF16, F32 or F64",
        )
    })
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
