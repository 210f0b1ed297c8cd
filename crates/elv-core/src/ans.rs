//! The `ans` section codec (SPEC.md §4.4): order-0 rANS with a frequency table per block of
//! 64 KiB, eight interleaved 32-bit states, renormalization by 16-bit words.
//!
//! Why rANS rather than Huffman: the exponent and top-mantissa planes of model weights have
//! symbols far more likely than 1/2, where Huffman's whole-bit codes lose several percent;
//! rANS with 12-bit frequencies stays within a fraction of a percent of the entropy and
//! decodes with one table lookup per byte.
#![deny(clippy::indexing_slicing)]

use crate::varint::write_uleb;
use alloc::vec;
use alloc::vec::Vec;

/// Symbols per block.
pub const BLOCK_LEN: usize = 1 << 16;
/// Frequencies sum to 2^SCALE_BITS.
pub const SCALE_BITS: u32 = 12;
pub(crate) const M: u32 = 1 << SCALE_BITS;
/// Lower bound of the normalized state interval [L, 2^16·L).
pub const STATE_LOW: u32 = 1 << 15;
/// Bits per renormalization word.
pub(crate) const WORD_BITS: u32 = 16;
/// Interleaved states.
pub const LANES: usize = 8;

pub(crate) const MODE_STORED: u8 = 0;
pub(crate) const MODE_CONSTANT: u8 = 1;
pub(crate) const MODE_RANS: u8 = 2;

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
    // Short of 2^12, every step lands on the same symbol (the first of the largest, which only
    // grows), so the whole deficit goes there at once.
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
                *fs += M - sum;
                sum = M;
            }
        }
    }
    f
}

/// Encodes `data` as the stored bytes of an `ans` section.
pub fn encode(data: &[u8]) -> Vec<u8> {
    encode_with(data, code_block)
}

/// The coding loop of one block: given the block's per-symbol constants, codes `block` in
/// reverse (last symbol first, symbol `i` in lane `i % 8`) from the initial states
/// `STATE_LOW`, and writes the renormalization words so that they end at `words.len()`
/// in decoding order. Gives the final states and where the words begin. `words` holds at
/// least `2 · block.len() + 2 · LANES` bytes. [`code_block`] is the reference; a faster
/// coder must give the same states and words.
pub type BlockCoder = fn(&[EncSym; 256], &[u8], &mut [u8]) -> ([u32; LANES], usize);

/// [`encode`] with the coding loop `coder` (a vector kernel, say). Everything else (the
/// tables, the block modes, the layout) is this module's.
pub fn encode_with(data: &[u8], coder: BlockCoder) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    // One word buffer for every block: at most a word per symbol, plus a step of slack.
    let mut words = vec![0u8; 2 * data.len().min(BLOCK_LEN) + 2 * LANES];
    for block in data.chunks(BLOCK_LEN) {
        encode_block(block, &mut words, coder, &mut out);
    }
    out
}

/// Byte histogram of `data`.
// Indexes `[u32; 256]` by a byte and `[_; 4]` by constants: never out of range.
#[allow(clippy::indexing_slicing)]
pub fn histogram(data: &[u8]) -> [u32; 256] {
    // Four partial histograms avoid store-to-load stalls on runs of one symbol.
    let mut h = [[0u32; 256]; 4];
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        if let [a, b, c, d] = q {
            h[0][*a as usize] += 1;
            h[1][*b as usize] += 1;
            h[2][*c as usize] += 1;
            h[3][*d as usize] += 1;
        }
    }
    for &b in quads.remainder() {
        h[0][b as usize] += 1;
    }
    let mut out = [0u32; 256];
    for (s, o) in out.iter_mut().enumerate() {
        *o = h[0][s] + h[1][s] + h[2][s] + h[3][s];
    }
    out
}

/// Estimated length of [`encode`]`(data)`: per block, the order-0 entropy of its bytes plus
/// its table and states, or the block as is if that is smaller (the mode [`encode`] would then
/// pick). It leaves out only the coder's loss against the entropy (under 0.1% on weight
/// planes), so a stream whose estimate is not below its length cannot be shrunk by `ans`:
/// writers use it to skip coding near-random planes (SPEC.md §12).
pub fn estimated_len(data: &[u8]) -> usize {
    data.chunks(BLOCK_LEN)
        .map(|block| {
            let counts = histogram(block);
            let n = block.len() as f64;
            let mut bits = 0.0;
            let mut table = 32;
            let mut present = 0;
            for &c in counts.iter().filter(|&&c| c > 0) {
                let p = f64::from(c) / n;
                bits -= f64::from(c) * log2(p);
                // A frequency of 128 or more (of 4096) takes two ULEB128 bytes.
                table += if p * f64::from(M) > 128.0 { 2 } else { 1 };
                present += 1;
            }
            let coded = if present <= 1 {
                1
            } else {
                table + 4 * LANES + (bits / 8.0) as usize
            };
            1 + coded.min(block.len())
        })
        .sum()
}

/// log2 for the entropy estimate, without std: exponent plus a short series on the mantissa.
fn log2(x: f64) -> f64 {
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52)); // in [1, 2)
                                                                           // ln(m) via atanh series: ln(m) = 2·atanh((m-1)/(m+1)); |z| ≤ 1/3.
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    let mut k = 1.0;
    for _ in 0..12 {
        sum += term / k;
        term *= z2;
        k += 2.0;
    }
    e as f64 + 2.0 * sum * core::f64::consts::LOG2_E
}

/// Per-symbol encoder constants of a block: an exact reciprocal of the frequency so `x / f`
/// is a multiply and a shift, the renormalization bound, the cumulative frequency and
/// `2^12 − f`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncSym {
    /// `m` with `floor(x / f) = (x · m) >> shift` for every state `x < 2^31`; below 2^32.
    pub rcp: u32,
    /// `shift` of [`EncSym::rcp`]: `31 + ceil(log2 f)`.
    pub shift: u32,
    /// A state at or above this emits a word before the symbol is coded: `2^19 · f`.
    pub x_max: u32,
    /// Cumulative frequency `c` of the symbol.
    pub cum: u32,
    /// `2^12 − f`: with `q = floor(x / f)`, the next state `q·2^12 + (x − q·f) + c` is
    /// `x + c + q·(2^12 − f)`, one multiply fewer.
    pub cmpl_freq: u32,
}

impl EncSym {
    /// The constants of a symbol of frequency `freq` (1..=4095 for a coded symbol) and
    /// cumulative frequency `cum`.
    pub fn new(freq: u32, cum: u32) -> Self {
        // Granlund–Montgomery: for x < 2^31 and l = ceil(log2 f), m = ceil(2^(31+l) / f) gives
        // floor(x / f) = (x·m) >> (31 + l) exactly; m < 2^32 since f > 2^(l-1).
        let l = 32 - (freq.max(1) - 1).leading_zeros();
        let l = if freq <= 1 { 0 } else { l };
        let shift = 31 + l;
        let rcp = ((1u64 << shift) + u64::from(freq) - 1) / u64::from(freq.max(1));
        EncSym {
            rcp: rcp.min(u64::from(u32::MAX)) as u32,
            shift,
            x_max: ((STATE_LOW >> SCALE_BITS) << WORD_BITS) * freq,
            cum,
            cmpl_freq: M - freq.min(M),
        }
    }

    /// `floor(x / f)` for a state `x < 2^31`.
    #[inline(always)]
    pub fn div(&self, x: u32) -> u32 {
        ((u64::from(x) * u64::from(self.rcp)) >> self.shift) as u32
    }
}

// The encoder indexes fixed arrays by a byte (`[_; 256]`); encoder input never comes from
// a file.
#[allow(clippy::indexing_slicing)]
fn encode_block(block: &[u8], buf: &mut [u8], coder: BlockCoder, out: &mut Vec<u8>) {
    let counts = histogram(block);
    let present = counts.iter().filter(|&&c| c > 0).count();
    if present == 1 {
        out.push(MODE_CONSTANT);
        out.push(block.first().copied().unwrap_or(0));
        return;
    }
    let freq = normalize(&counts, block.len() as u32);
    let mut syms = [EncSym::default(); 256];
    let mut acc = 0;
    for (s, &f) in freq.iter().enumerate() {
        // Absent symbols are never coded: their constants stay zero (no division).
        if f > 0 {
            syms[s] = EncSym::new(f, acc);
        }
        acc += f;
    }
    // Table: presence bitmap, then freq-1 per present symbol.
    let mut table = Vec::with_capacity(32 + 2 * present);
    let mut bitmap = [0u8; 32];
    for (s, &f) in freq.iter().enumerate() {
        if f > 0 {
            bitmap[s / 8] |= 1 << (s % 8);
        }
    }
    table.extend_from_slice(&bitmap);
    for &f in freq.iter().filter(|&&f| f > 0) {
        write_uleb(u64::from(f - 1), &mut table);
    }
    let (x, p) = coder(&syms, block, buf);
    let words = buf.get(p..).unwrap_or_default();
    let payload_len = 4 * LANES + words.len();
    if table.len() + payload_len + 4 >= block.len() {
        out.push(MODE_STORED);
        out.extend_from_slice(block);
        return;
    }
    out.push(MODE_RANS);
    out.extend_from_slice(&table);
    write_uleb(payload_len as u64, out);
    for s in x {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.extend_from_slice(words);
}

/// The reference [`BlockCoder`]: one lane at a time, eight states in registers.
// Indexes `syms` by a byte and `buf` by a position that stays within the 2 bytes per symbol
// it was sized for (checked on entry).
#[allow(clippy::indexing_slicing)]
pub fn code_block(syms: &[EncSym; 256], block: &[u8], buf: &mut [u8]) -> ([u32; LANES], usize) {
    let mut x = [STATE_LOW; LANES];
    if buf.len() < 2 * block.len() + 2 * LANES {
        return (x, buf.len());
    }
    // Encode in reverse, filling `buf` from its end so the words come out in decoding order.
    // At most one word leaves per symbol; it is written unconditionally just below `p` and `p`
    // moves only when it counts (no branches).
    let mut p = buf.len();
    let mut put = |x: u32, b: u8| -> u32 {
        let s = &syms[b as usize];
        let out = u32::from(x >= s.x_max);
        buf[p - 2..p].copy_from_slice(&(x as u16).to_le_bytes());
        p -= 2 * out as usize;
        let x = x >> (WORD_BITS * out);
        x + s.cum + s.div(x) * s.cmpl_freq
    };
    let tail = block.len() % LANES;
    let (body, rest) = block.split_at(block.len() - tail);
    for (k, &b) in rest.iter().enumerate().rev() {
        x[k] = put(x[k], b);
    }
    for q in body.chunks_exact(LANES).rev() {
        let q: &[u8; LANES] = q.try_into().unwrap_or(&[0; LANES]);
        let mut s = x;
        for k in (0..LANES).rev() {
            s[k] = put(s[k], q[k]);
        }
        x = s;
    }
    (x, p)
}

pub use crate::ans_decode::{
    decode, decode_from, decode_rans, decode_with, BlockDecoder, RansBlock, GROUP_BYTES, INTERLEAVE,
};

#[cfg(test)]
#[path = "ans_tests.rs"]
mod tests;
