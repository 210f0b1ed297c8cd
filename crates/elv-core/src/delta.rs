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

/// What elf_delta says of a dtype that is not one of the four floats.
const NEEDS_FLOAT: &str = "elf_delta needs F16, BF16, F32 or F64";

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
    if dtype == DType::F32 {
        return Ok(encode_delta_f32(data, base));
    }
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
    if dtype == DType::F32 {
        decode_delta_f32(streams, base, &classes, out);
        return Ok(());
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

/// A little-endian f32 bit pattern from a 4-byte slice (0 for any other length).
#[inline]
fn word(c: &[u8]) -> u32 {
    <[u8; 4]>::try_from(c).map_or(0, u32::from_le_bytes)
}

/// The class of an f32 base value (as [`class_of`]).
#[inline]
fn class_f32(b: u32) -> usize {
    let e = (b >> 23) & 0xff;
    126u32.saturating_sub(e).min(FLOAT_CLASSES as u32 - 1) as usize
}

/// The f32 `delta` encoder (same output as the generic path): the classes are counted
/// first, so every plane is allocated once at its size and written by index.
// Indexes `[_; 16]` arrays by a class below 16 and each plane below its counted length.
#[allow(clippy::indexing_slicing)]
fn encode_delta_f32(data: &[u8], base: &[u8]) -> Vec<Vec<u8>> {
    let mut counts = [0usize; FLOAT_CLASSES];
    for b in base.chunks_exact(4) {
        counts[class_f32(word(b))] += 1;
    }
    let mut planes: Vec<Vec<u8>> = counts
        .iter()
        .flat_map(|&n| (0..4).map(move |_| vec![0u8; n]))
        .collect();
    let mut at = [0usize; FLOAT_CLASSES];
    for (v, b) in data.chunks_exact(4).zip(base.chunks_exact(4)) {
        let (v, b) = (word(v), word(b));
        let d = v.wrapping_sub(b);
        let z = (d << 1) ^ (d >> 31).wrapping_neg();
        let c = class_f32(b);
        let k = at[c];
        at[c] += 1;
        for (j, byte) in z.to_be_bytes().into_iter().enumerate() {
            planes[4 * c + j][k] = byte;
        }
    }
    planes
}

/// The f32 `delta` decoder (same output as the generic path); `classes` are the base's, and
/// every plane was checked to hold its class's count.
#[allow(clippy::indexing_slicing)]
fn decode_delta_f32(streams: &[&[u8]], base: &[u8], classes: &[u8], out: &mut [u8]) {
    let mut at = [0usize; FLOAT_CLASSES];
    for ((o, b), &c) in out
        .chunks_exact_mut(4)
        .zip(base.chunks_exact(4))
        .zip(classes)
    {
        let c = c as usize;
        let k = at[c];
        at[c] += 1;
        let z = u32::from_be_bytes([
            streams[4 * c][k],
            streams[4 * c + 1][k],
            streams[4 * c + 2][k],
            streams[4 * c + 3][k],
        ]);
        let d = (z >> 1) ^ (z & 1).wrapping_neg();
        o.copy_from_slice(&word(b).wrapping_add(d).to_le_bytes());
    }
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
    let fmt = dtype.float_format_for(NEEDS_FLOAT)?;
    if dtype == DType::F32 {
        return Ok(encode_elf_delta_f32(data, base));
    }
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
    let fmt = dtype.float_format_for(NEEDS_FLOAT)?;
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
    if let (DType::F32, [p0, p1, p2]) = (dtype, plane_streams) {
        return decode_elf_delta_f32(&positions, values, [p0, p1, p2], base, out);
    }
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

/// [`predict`] for f32: `1 + |b|` in f32 arithmetic rounds to nearest-even as §7.2.1 step 3
/// does (the ELF encoder relies on the same identity).
#[inline]
fn predict_f32(b: u32) -> i32 {
    const TOP: i32 = (1 << 23) - 1;
    let mag = b & 0x7fff_ffff;
    let t = if mag >= 0x3f80_0000 {
        TOP // |b| >= 1, infinities, NaN
    } else {
        let q = 1.0f32 + f32::from_bits(mag);
        if q >= 2.0 {
            TOP
        } else {
            (q.to_bits() & 0x007f_ffff) as i32
        }
    };
    if b >> 31 == 1 {
        -t
    } else {
        t
    }
}

/// The f32 `elf_delta` encoder (same output as the generic path).
fn encode_elf_delta_f32(data: &[u8], base: &[u8]) -> Vec<Vec<u8>> {
    let n = data.len() / 4;
    let (mut p0, mut p1, mut p2) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut positions, mut values) = (Vec::new(), Vec::new());
    for (i, (v, b)) in data.chunks_exact(4).zip(base.chunks_exact(4)).enumerate() {
        let bits = word(v);
        let mag = bits & 0x7fff_ffff;
        let q = 1.0f32 + f32::from_bits(mag);
        let t = q.to_bits() & 0x007f_ffff;
        // In range, not stored exactly (§7.2.3), and not −0 (§7.8).
        if !(q < 2.0 && (t != 0 || bits == 0)) {
            positions.push(i as u64);
            values.extend_from_slice(v);
            continue;
        }
        let signed = if bits >> 31 == 1 {
            -(t as i32)
        } else {
            t as i32
        };
        let d = (signed.wrapping_sub(predict_f32(word(b))) as u32) & 0x00ff_ffff;
        let z = ((d << 1) ^ ((d >> 23) & 1).wrapping_neg()) & 0x00ff_ffff;
        p0.push((z >> 16) as u8);
        p1.push((z >> 8) as u8);
        p2.push(z as u8);
    }
    vec![outlier_stream(&positions, &values), p0, p1, p2]
}

/// The f32 `elf_delta` decoder (same output as the generic path).
// Indexes the planes at `k < m`, checked equal to the in-range count first, and `out` and
// `base` at whole values of a chunk whose lengths were checked: never out of range.
#[allow(clippy::indexing_slicing)]
fn decode_elf_delta_f32(
    positions: &[usize],
    values: &[u8],
    [p0, p1, p2]: [&&[u8]; 3],
    base: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let n = out.len() / 4;
    let m = n - positions.len();
    planes::check_lengths(&[p0, p1, p2], m).map_err(|e| e.rebase_section(1))?;
    let mut outliers = positions.iter().zip(values.chunks_exact(4)).peekable();
    let mut k = 0;
    for i in 0..n {
        let o = &mut out[4 * i..4 * i + 4];
        if let Some((&p, v)) = outliers.peek() {
            if p == i {
                o.copy_from_slice(v);
                outliers.next();
                continue;
            }
        }
        let z = u32::from(p0[k]) << 16 | u32::from(p1[k]) << 8 | u32::from(p2[k]);
        k += 1;
        let d = (z >> 1) ^ (z & 1).wrapping_neg();
        let b = u32::from_le_bytes([
            base[4 * i],
            base[4 * i + 1],
            base[4 * i + 2],
            base[4 * i + 3],
        ]);
        let u = (predict_f32(b) as u32).wrapping_add(d) & 0x00ff_ffff;
        let signed = ((u << 8) as i32) >> 8;
        if signed == -(1 << 23) {
            return Err(
                Error::bare(ErrorKind::Malformed, "ELF delta value out of range").in_section(1),
            );
        }
        let t = signed.unsigned_abs();
        let mag = if t == 0 {
            0
        } else {
            (f32::from_bits(0x3f80_0000 | t) - 1.0).to_bits()
        };
        o.copy_from_slice(&(mag | (u32::from(signed < 0) << 31)).to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
