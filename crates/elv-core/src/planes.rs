//! Plane layout of a bit field (SPEC.md §7.1): how ELF codes and the lossless float split
//! are laid out as byte planes so the entropy stage sees like bytes together.
#![deny(clippy::indexing_slicing)]

use crate::{Error, ErrorKind, Result};
use alloc::vec;
use alloc::vec::Vec;

/// Number of planes a field of `width` bits (1..=64) is stored in: one per started byte.
pub fn plane_count(width: u32) -> usize {
    width.div_ceil(8) as usize
}

/// Bits held by plane `j` of a `width`-bit field, and how far right they are shifted.
///
/// Plane 0 holds the most significant 8 bits, plane 1 the next 8, and so on; the last plane
/// holds the `width % 8` lowest bits (or 8 if `width` is a multiple of 8) in the low bits of
/// its byte, the unused high bits zero.
#[inline]
pub fn plane_bits(width: u32, j: usize) -> (u32, u32) {
    let top = width - 8 * j as u32; // bits not yet consumed by planes before j
    if top >= 8 {
        (8, top - 8)
    } else {
        (top, 0)
    }
}

/// Splits `values` (each below 2^`width`) into planes, one byte per value per plane.
pub fn split(values: &[u64], width: u32) -> Vec<Vec<u8>> {
    (0..plane_count(width))
        .map(|j| {
            let (bits, shift) = plane_bits(width, j);
            let mask = ((1u32 << bits) - 1) as u8;
            values.iter().map(|v| (v >> shift) as u8 & mask).collect()
        })
        .collect()
}

/// Checks that every plane holds exactly `n` bytes; a plane that does not is `Malformed`,
/// naming its index as the section (relative to the first plane).
pub fn check_lengths(planes: &[&[u8]], n: usize) -> Result<()> {
    match planes.iter().enumerate().find(|(_, p)| p.len() != n) {
        Some((j, p)) => Err(Error::bare(ErrorKind::Malformed, "plane length")
            .got_expected(p.len() as u64, n as u64)
            .in_section(j as u32)),
        None => Ok(()),
    }
}

/// Values per block of [`split_values`].
const SPLIT_BLOCK: usize = 64;

/// Splits `W`-byte little-endian values into `P` planes, `to_planes` giving each value's byte
/// for every plane, in one pass: blocks of 64 values are transposed in a local array and
/// copied out, which the compiler vectorizes (pushing to `P` growing vectors does not).
// Indexes `[_; 64]` arrays with `k < 64`, `[_; P]` arrays with `j < P`, and the planes at
// `i..i + 64` / `i` where `i` counts the values already written: never out of range.
#[allow(clippy::indexing_slicing)]
pub fn split_values<const W: usize, const P: usize>(
    data: &[u8],
    to_planes: impl Fn([u8; W]) -> [u8; P],
) -> Vec<Vec<u8>> {
    let n = data.len() / W;
    let mut planes: Vec<Vec<u8>> = (0..P).map(|_| vec![0u8; n]).collect();
    let mut blocks = data.chunks_exact(W * SPLIT_BLOCK);
    let mut i = 0;
    for block in &mut blocks {
        let mut tmp = [[0u8; SPLIT_BLOCK]; P];
        for (k, v) in block.chunks_exact(W).enumerate() {
            let out = to_planes(v.try_into().unwrap_or([0; W]));
            for j in 0..P {
                tmp[j][k] = out[j];
            }
        }
        for (plane, t) in planes.iter_mut().zip(tmp.iter()) {
            plane[i..i + SPLIT_BLOCK].copy_from_slice(t);
        }
        i += SPLIT_BLOCK;
    }
    for v in blocks.remainder().chunks_exact(W) {
        let out = to_planes(v.try_into().unwrap_or([0; W]));
        for (plane, b) in planes.iter_mut().zip(out) {
            plane[i] = b;
        }
        i += 1;
    }
    planes
}

/// Merges planes back into `out` (all its values), checking each plane holds exactly one
/// byte per value and that unused high bits of a short last plane are zero.
///
/// Plane `j`'s errors name section `j` (relative to the first plane).
pub fn merge(planes: &[&[u8]], width: u32, out: &mut [u64]) -> Result<()> {
    if planes.len() != plane_count(width) {
        return Err(Error::bare(ErrorKind::Malformed, "plane count")
            .got_expected(planes.len() as u64, plane_count(width) as u64));
    }
    out.iter_mut().for_each(|v| *v = 0);
    for (j, plane) in planes.iter().enumerate() {
        let (bits, shift) = plane_bits(width, j);
        if plane.len() != out.len() {
            return Err(Error::bare(ErrorKind::Malformed, "plane length")
                .got_expected(plane.len() as u64, out.len() as u64)
                .in_section(j as u32));
        }
        if bits < 8 {
            if let Some(pos) = plane.iter().position(|&b| b >> bits != 0) {
                return Err(Error::new(
                    ErrorKind::ReservedNonZero,
                    "unused high bits of a short plane",
                    pos as u64,
                )
                .in_section(j as u32));
            }
        }
        for (v, &b) in out.iter_mut().zip(plane.iter()) {
            *v |= u64::from(b) << shift;
        }
    }
    Ok(())
}

/// A zeroed scratch buffer of `n` values.
pub(crate) fn scratch(n: usize) -> Vec<u64> {
    vec![0u64; n]
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn split_values_matches_a_per_value_split_at_every_tail_length() {
        let f = |v: [u8; 4]| [v[3], v[0] ^ v[1], v[2]];
        for n in [0usize, 1, 63, 64, 65, 130, 1000] {
            let data: Vec<u8> = (0..4 * n as u32).map(|i| (i * 7 + i / 5) as u8).collect();
            let got = split_values(&data, f);
            let mut want = vec![Vec::new(); 3];
            for v in data.chunks_exact(4) {
                let o = f(v.try_into().unwrap());
                for (p, b) in want.iter_mut().zip(o) {
                    p.push(b);
                }
            }
            assert_eq!(got, want, "{n} values");
        }
    }

    #[test]
    fn layouts_per_width() {
        assert_eq!(plane_count(24), 3);
        assert_eq!(
            (0..3).map(|j| plane_bits(24, j)).collect::<Vec<_>>(),
            [(8, 16), (8, 8), (8, 0)]
        );
        assert_eq!(
            (0..2).map(|j| plane_bits(11, j)).collect::<Vec<_>>(),
            [(8, 3), (3, 0)]
        );
        assert_eq!(plane_bits(5, 0), (5, 0));
        assert_eq!(plane_count(53), 7);
        assert_eq!(plane_bits(53, 6), (5, 0));
    }

    #[test]
    fn split_merge_round_trip_and_checks() {
        let vals = [0u64, 0x7ff, 0x123, 0x400];
        let planes = split(&vals, 11);
        assert_eq!(planes[0], [0x00, 0xff, 0x24, 0x80]);
        assert_eq!(planes[1], [0, 7, 3, 0]);
        let refs: Vec<&[u8]> = planes.iter().map(|p| p.as_slice()).collect();
        let mut out = [0u64; 4];
        merge(&refs, 11, &mut out).unwrap();
        assert_eq!(out, vals);
        let bad = [0x00u8, 0x08, 0, 0];
        let e = merge(&[&planes[0], &bad], 11, &mut out).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ReservedNonZero);
        assert_eq!(
            merge(&[&planes[0]], 11, &mut out).unwrap_err().kind(),
            ErrorKind::Malformed
        );
    }
}
