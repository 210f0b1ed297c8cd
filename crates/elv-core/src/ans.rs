//! The `ans` section codec (SPEC.md §4.4): order-0 rANS with a frequency table per block of
//! 64 KiB, four interleaved 32-bit states, byte-wise renormalization.
//!
//! Why rANS rather than Huffman: the exponent and top-mantissa planes of model weights have
//! symbols far more likely than 1/2, where Huffman's whole-bit codes lose several percent;
//! rANS with 12-bit frequencies stays within a fraction of a percent of the entropy and
//! decodes with one table lookup per byte.
#![deny(clippy::indexing_slicing)]

use crate::varint::{read_uleb, write_uleb};
use crate::{Error, ErrorKind, Result};
use alloc::vec;
use alloc::vec::Vec;

/// Symbols per block.
pub const BLOCK_LEN: usize = 1 << 16;
/// Frequencies sum to 2^SCALE_BITS.
pub const SCALE_BITS: u32 = 12;
const M: u32 = 1 << SCALE_BITS;
/// Lower bound of the normalized state interval [L, 256·L).
pub const STATE_LOW: u32 = 1 << 23;
/// Interleaved states.
pub const LANES: usize = 4;

const MODE_STORED: u8 = 0;
const MODE_CONSTANT: u8 = 1;
const MODE_RANS: u8 = 2;

/// Normalizes symbol counts of `n` symbols to frequencies summing to 2^12, every present
/// symbol at least 1 (the canonical procedure of SPEC.md §4.4.3).
pub fn normalize(counts: &[u32; 256], n: u32) -> [u32; 256] {
    let mut f = [0u32; 256];
    let mut sum = 0u32;
    for (fs, &c) in f.iter_mut().zip(counts.iter()) {
        if c > 0 {
            *fs = ((u64::from(c) * u64::from(M)) / u64::from(n)).max(1) as u32;
            sum += *fs;
        }
    }
    // Move the difference onto the symbols with the largest frequencies, one step at a time.
    while sum != M {
        let (mut best, mut best_f) = (0usize, 0u32);
        for (s, &fs) in f.iter().enumerate() {
            let eligible = if sum > M { fs > 1 } else { fs > 0 };
            if eligible && fs > best_f {
                best = s;
                best_f = fs;
            }
        }
        if let Some(fs) = f.get_mut(best) {
            if sum > M {
                *fs -= 1;
                sum -= 1;
            } else {
                *fs += 1;
                sum += 1;
            }
        }
    }
    f
}

/// Encodes `data` as the stored bytes of an `ans` section.
pub fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    for block in data.chunks(BLOCK_LEN) {
        encode_block(block, &mut out);
    }
    out
}

fn encode_block(block: &[u8], out: &mut Vec<u8>) {
    let mut counts = [0u32; 256];
    for &b in block {
        if let Some(c) = counts.get_mut(b as usize) {
            *c += 1;
        }
    }
    let present = counts.iter().filter(|&&c| c > 0).count();
    if present == 1 {
        out.push(MODE_CONSTANT);
        out.push(block.first().copied().unwrap_or(0));
        return;
    }
    let freq = normalize(&counts, block.len() as u32);
    let mut cum = [0u32; 256];
    let mut acc = 0;
    for (c, &f) in cum.iter_mut().zip(freq.iter()) {
        *c = acc;
        acc += f;
    }
    // Table: presence bitmap, then freq-1 per present symbol.
    let mut table = Vec::with_capacity(32 + 2 * present);
    let mut bitmap = [0u8; 32];
    for (s, &f) in freq.iter().enumerate() {
        if f > 0 {
            if let Some(b) = bitmap.get_mut(s / 8) {
                *b |= 1 << (s % 8);
            }
        }
    }
    table.extend_from_slice(&bitmap);
    for &f in freq.iter().filter(|&&f| f > 0) {
        write_uleb(u64::from(f - 1), &mut table);
    }
    // Encode in reverse; bytes come out reversed.
    let mut states = [STATE_LOW; LANES];
    let mut rev: Vec<u8> = Vec::with_capacity(block.len());
    for (i, &b) in block.iter().enumerate().rev() {
        let f = freq.get(b as usize).copied().unwrap_or(1);
        let c = cum.get(b as usize).copied().unwrap_or(0);
        if let Some(x) = states.get_mut(i % LANES) {
            let x_max = ((STATE_LOW >> SCALE_BITS) << 8) * f;
            while *x >= x_max {
                rev.push(*x as u8);
                *x >>= 8;
            }
            *x = ((*x / f) << SCALE_BITS) + (*x % f) + c;
        }
    }
    let mut payload = Vec::with_capacity(4 * LANES + rev.len());
    for x in states {
        payload.extend_from_slice(&x.to_le_bytes());
    }
    payload.extend(rev.iter().rev());
    if table.len() + payload.len() + 4 >= block.len() {
        out.push(MODE_STORED);
        out.extend_from_slice(block);
        return;
    }
    out.push(MODE_RANS);
    out.extend_from_slice(&table);
    write_uleb(payload.len() as u64, out);
    out.extend_from_slice(&payload);
}

/// Decodes the stored bytes of an `ans` section into exactly `decoded_len` bytes appended to
/// `out`. Errors carry offsets into `stored`.
pub fn decode(stored: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    let mut pos = 0usize;
    let mut slot_sym = vec![0u8; M as usize];
    while out.len() - start < decoded_len {
        let n = (decoded_len - (out.len() - start)).min(BLOCK_LEN);
        let at = pos as u64;
        let mode = stored
            .get(pos)
            .copied()
            .ok_or_else(|| Error::new(ErrorKind::Truncated, "ans block mode", at))?;
        pos += 1;
        match mode {
            MODE_STORED => {
                let b = stored
                    .get(pos..pos + n)
                    .ok_or_else(|| Error::new(ErrorKind::Truncated, "ans stored block", at))?;
                out.extend_from_slice(b);
                pos += n;
            }
            MODE_CONSTANT => {
                let s = stored
                    .get(pos)
                    .copied()
                    .ok_or_else(|| Error::new(ErrorKind::Truncated, "ans constant block", at))?;
                out.resize(out.len() + n, s);
                pos += 1;
            }
            MODE_RANS => decode_block(stored, &mut pos, n, &mut slot_sym, out)?,
            _ => {
                return Err(Error::new(ErrorKind::Malformed, "ans block mode", at)
                    .got_expected(mode.into(), 2))
            }
        }
    }
    if pos != stored.len() {
        return Err(Error::new(
            ErrorKind::Malformed,
            "bytes after the last ans block",
            pos as u64,
        ));
    }
    Ok(())
}

fn decode_block(
    stored: &[u8],
    pos: &mut usize,
    n: usize,
    slot_sym: &mut [u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let at = *pos as u64;
    let bitmap = stored
        .get(*pos..*pos + 32)
        .ok_or_else(|| Error::new(ErrorKind::Truncated, "ans table", at))?;
    *pos += 32;
    let mut freq = [0u32; 256];
    let mut cum = [0u32; 256];
    let mut acc = 0u32;
    for s in 0..256usize {
        if bitmap.get(s / 8).is_some_and(|b| b >> (s % 8) & 1 == 1) {
            let f = read_uleb(stored, pos)?.saturating_add(1);
            if f > u64::from(M) || u64::from(acc) + f > u64::from(M) {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    "ans frequencies exceed 4096",
                    at,
                ));
            }
            if let (Some(fs), Some(cs)) = (freq.get_mut(s), cum.get_mut(s)) {
                *fs = f as u32;
                *cs = acc;
            }
            if let Some(slots) = slot_sym.get_mut(acc as usize..(acc + f as u32) as usize) {
                slots.fill(s as u8);
            }
            acc += f as u32;
        }
    }
    if acc != M {
        return Err(Error::new(
            ErrorKind::Malformed,
            "ans frequencies do not sum to 4096",
            at,
        )
        .got_expected(acc.into(), M.into()));
    }
    let plen = read_uleb(stored, pos)?;
    let payload_at = *pos;
    let payload = usize::try_from(plen)
        .ok()
        .and_then(|p| stored.get(*pos..pos.checked_add(p)?))
        .ok_or_else(|| Error::new(ErrorKind::Truncated, "ans payload", payload_at as u64))?;
    *pos += payload.len();
    let (init, mut bytes) = payload
        .split_at_checked(4 * LANES)
        .ok_or_else(|| Error::new(ErrorKind::Truncated, "ans states", payload_at as u64))?;
    let mut states = [0u32; LANES];
    for (x, b) in states.iter_mut().zip(init.chunks_exact(4)) {
        *x = u32::from_le_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
            b.get(2).copied().unwrap_or(0),
            b.get(3).copied().unwrap_or(0),
        ]);
        if !(STATE_LOW..STATE_LOW << 8).contains(x) {
            return Err(Error::new(
                ErrorKind::Malformed,
                "ans initial state",
                payload_at as u64,
            ));
        }
    }
    out.reserve(n);
    let mask = M - 1;
    for i in 0..n {
        let x = states
            .get_mut(i % LANES)
            .ok_or_else(|| Error::new(ErrorKind::Malformed, "ans lane", 0))?;
        let slot = *x & mask;
        let s = slot_sym.get(slot as usize).copied().unwrap_or(0);
        let (f, c) = (
            freq.get(s as usize).copied().unwrap_or(1),
            cum.get(s as usize).copied().unwrap_or(0),
        );
        *x = f * (*x >> SCALE_BITS) + slot - c;
        while *x < STATE_LOW {
            let (&b, rest) = bytes.split_first().ok_or_else(|| {
                Error::new(
                    ErrorKind::Truncated,
                    "ans payload ends early",
                    (payload_at + payload.len()) as u64,
                )
            })?;
            *x = (*x << 8) | u32::from(b);
            bytes = rest;
        }
        out.push(s);
    }
    if !bytes.is_empty() || states.iter().any(|&x| x != STATE_LOW) {
        return Err(Error::new(
            ErrorKind::Malformed,
            "ans payload does not end in the initial states",
            payload_at as u64,
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) -> usize {
        let enc = encode(data);
        let mut out = Vec::new();
        decode(&enc, data.len(), &mut out).unwrap();
        assert_eq!(out, data);
        enc.len()
    }

    #[test]
    fn round_trips_all_block_modes() {
        assert_eq!(round_trip(&[]), 0);
        assert_eq!(round_trip(&[7u8; 1000]), 2);
        let mut x = 12345u32;
        let skewed: Vec<u8> = (0..200_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let r = (x >> 16) % 100;
                if r < 60 {
                    120
                } else if r < 85 {
                    121
                } else if r < 95 {
                    119
                } else {
                    (x >> 8) as u8
                }
            })
            .collect();
        let n = round_trip(&skewed);
        assert!(n < skewed.len() / 3, "skewed data must compress: {n}");
        let random: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let n = round_trip(&random);
        assert!(n <= random.len() + 2, "incompressible blocks are stored");
    }

    #[test]
    fn normalize_sums_to_scale_with_every_symbol_present() {
        let mut c = [0u32; 256];
        for (s, v) in c.iter_mut().enumerate() {
            *v = if s == 0 { 60_000 } else { 1 };
        }
        let f = normalize(&c, 60_255);
        assert_eq!(f.iter().sum::<u32>(), M);
        assert!(f.iter().all(|&x| x >= 1));
    }

    #[test]
    fn corrupt_payloads_are_errors() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8 * 3).collect();
        let enc = encode(&data);
        for i in 0..enc.len() {
            let mut b = enc.clone();
            b[i] ^= 0x20;
            let mut out = Vec::new();
            if decode(&b, data.len(), &mut out).is_ok() {
                assert_ne!(out, data, "flip at {i} decoded silently to the same data?");
            }
        }
        let mut out = Vec::new();
        assert!(decode(&enc[..enc.len() - 1], data.len(), &mut out).is_err());
    }
}
