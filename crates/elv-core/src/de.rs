//! DE, distance encoding (SPEC.md §7.4; paper §5.3).
//!
//! Each value of a chunk is either *distinct* (flag bit 0; its bytes go to the distinct-value
//! stream) or a *repeat* of the value `d` positions earlier (flag bit 1, a 5-bit length L,
//! then d in L bits). Fields are packed LSB-first (SPEC.md §2.2).
#![deny(clippy::indexing_slicing)]

use crate::bits::{BitReader, BitWriter};
use crate::dtype::load_le;
use crate::{Error, ErrorKind, Result};
use alloc::vec;
use alloc::vec::Vec;

/// Largest distance a repeat can encode: L is at most 31 bits.
pub const MAX_DISTANCE: u64 = (1 << 31) - 1;

/// Encodes one chunk of `width`-byte values into its streams: the bitstream, then the
/// distinct values. Every value equal (bit for bit) to an earlier one in the chunk is a repeat
/// of the nearest such, with the shortest L (the canonical choice, SPEC.md §7.4.2).
pub fn encode_chunk(width: usize, data: &[u8]) -> Result<Vec<Vec<u8>>> {
    if width == 0 || data.len() % width != 0 {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "data length not a multiple of the dtype size",
        ));
    }
    let n = data.len() / width;
    if n as u64 > MAX_DISTANCE + 1 {
        return Err(Error::bare(
            ErrorKind::InvalidInput,
            "DE chunk longer than 2^31 values",
        ));
    }
    let prev = if width <= 2 {
        nearest_earlier_small(width, data)
    } else {
        nearest_earlier_sorted(width, data)
    };
    let mut bits = BitWriter::new();
    let mut distinct = Vec::new();
    for ((i, elem), &p) in data.chunks_exact(width).enumerate().zip(prev.iter()) {
        if p == u32::MAX {
            bits.write(0, 1);
            distinct.extend_from_slice(elem);
        } else {
            let d = (i as u64) - u64::from(p);
            let len = 64 - d.leading_zeros();
            bits.write(1, 1);
            bits.write(u64::from(len), 5);
            bits.write(d, len);
        }
    }
    Ok(vec![bits.finish(), distinct])
}

/// Position of the nearest earlier equal value for each value (`u32::MAX` if none), for 8- and
/// 16-bit values: one pass with the last position of every possible value.
fn nearest_earlier_small(width: usize, data: &[u8]) -> Vec<u32> {
    let mut last = vec![u32::MAX; 1 << (8 * width)];
    data.chunks_exact(width)
        .enumerate()
        .map(|(i, c)| {
            let v = load_le(c) as usize;
            match last.get_mut(v) {
                Some(slot) => core::mem::replace(slot, i as u32),
                None => u32::MAX,
            }
        })
        .collect()
}

/// [`nearest_earlier_small`] for wider values, by sorting (value, position) pairs.
fn nearest_earlier_sorted(width: usize, data: &[u8]) -> Vec<u32> {
    let n = data.len() / width;
    let mut order: Vec<(u64, u32)> = data
        .chunks_exact(width)
        .enumerate()
        .map(|(i, c)| (load_le(c), i as u32))
        .collect();
    order.sort_unstable();
    let mut prev = vec![u32::MAX; n];
    for pair in order.windows(2) {
        if let [(va, pa), (vb, pb)] = pair {
            if va == vb {
                if let Some(slot) = prev.get_mut(*pb as usize) {
                    *slot = *pa;
                }
            }
        }
    }
    prev
}

/// Decodes one chunk of `n` values of `width` bytes into `out` from its two streams.
pub fn decode_chunk(width: usize, n: usize, streams: &[&[u8]], out: &mut [u8]) -> Result<()> {
    let [bitstream, distinct] = streams else {
        return Err(Error::bare(ErrorKind::Malformed, "DE stream count"));
    };
    if width == 0 || out.len() != n * width {
        return Err(Error::bare(ErrorKind::InvalidInput, "output buffer length"));
    }
    let mut bits = BitReader::new(bitstream);
    let mut next_distinct = distinct.chunks_exact(width);
    if distinct.len() % width != 0 {
        return Err(Error::bare(ErrorKind::Malformed, "DE distinct stream length").in_section(1));
    }
    for i in 0..n {
        let at = i * width;
        if bits.read(1)? == 0 {
            let Some(v) = next_distinct.next() else {
                return Err(Error::new(
                    ErrorKind::Truncated,
                    "DE distinct values",
                    distinct.len() as u64,
                )
                .in_section(1));
            };
            if let Some(dst) = out.get_mut(at..at + width) {
                dst.copy_from_slice(v);
            }
        } else {
            let len = bits.read(5)? as u32;
            if len == 0 {
                return Err(Error::bare(ErrorKind::Malformed, "DE length L is zero"));
            }
            let d = bits.read(len)?;
            if d == 0 || d > i as u64 {
                return Err(Error::bare(ErrorKind::DistanceBeforeStart, "DE distance")
                    .got_expected(d, i as u64));
            }
            let src = at - d as usize * width;
            out.copy_within(src..src + width, at);
        }
    }
    bits.finish()?;
    if next_distinct.next().is_some() {
        return Err(
            Error::bare(ErrorKind::Malformed, "DE distinct values left over").in_section(1),
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn table_and_sort_find_the_same_nearest_repeats() {
        let mut x = 0x2545_f491u32;
        let data: Vec<u8> = (0..50_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 40) as u8 // few distinct values, many repeats at all distances
            })
            .collect();
        for width in [1, 2] {
            let small = nearest_earlier_small(width, &data);
            assert_eq!(small, nearest_earlier_sorted(width, &data), "width {width}");
            assert!(small.iter().filter(|&&p| p != u32::MAX).count() > data.len() / width / 2);
        }
    }

    #[test]
    fn paper_figure_8_shape() {
        // value 0 repeated at distance 5: flag 1, L = 3, D = 5
        let vals: [u32; 6] = [7, 1, 2, 3, 4, 7];
        let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let s = encode_chunk(4, &data).unwrap();
        assert_eq!(s[1].len(), 20);
        // 5 zero flags, then 1, L=3 (0b00011), D=5 (0b101): bits 0..4 = 0, bit5 = 1, bits6..10 = 3, bits 11..13 = 5
        assert_eq!(s[0], [0b1110_0000, 0b0010_1000]);
        let mut out = vec![0u8; 24];
        decode_chunk(4, 6, &[&s[0], &s[1]], &mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn distance_before_start_is_rejected() {
        // first value claims to repeat d=1
        let mut w = BitWriter::new();
        w.write(1, 1);
        w.write(1, 5);
        w.write(1, 1);
        let bits = w.finish();
        let mut out = vec![0u8; 4];
        let e = decode_chunk(4, 1, &[&bits, &[]], &mut out).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DistanceBeforeStart);
    }
}
