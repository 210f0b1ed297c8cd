//! The `ans` section codec (SPEC.md §4.4): order-0 rANS with a frequency table per block of
//! 64 KiB, eight interleaved 32-bit states, renormalization by 16-bit words.
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
/// Lower bound of the normalized state interval [L, 2^16·L).
pub const STATE_LOW: u32 = 1 << 15;
/// Bits per renormalization word.
const WORD_BITS: u32 = 16;
/// Interleaved states.
pub const LANES: usize = 8;

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

/// Decodes the stored bytes of an `ans` section into exactly `decoded_len` bytes appended to
/// `out`. Errors carry offsets into `stored`.
pub fn decode(stored: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
    decode_with(stored, decoded_len, out, decode_rans)
}

/// How many rANS blocks are handed to a [`BlockDecoder`] at once: every 64 KiB block is
/// independent (its own table, states and words), so a decoder can run their dependency
/// chains side by side.
pub const INTERLEAVE: usize = 4;

/// One rANS block being decoded (§4.4.2): its table (one u32 per slot: symbol in bits 0–7,
/// `slot − c_s` in bits 8–19, `f_s` in bits 20–31), its eight lane states, its word stream
/// and how much of it is read, and its output and how much of it is written (a multiple of
/// [`LANES`] until the end). A [`BlockDecoder`] advances `x`, `pos` and `done`.
pub struct RansBlock<'a> {
    /// Slot table.
    pub table: &'a [u32; M as usize],
    /// Lane states.
    pub x: [u32; LANES],
    /// The block's words (little-endian u16s, after the eight initial states).
    pub words: &'a [u8],
    /// Bytes of `words` read; past its end when the block asks for more than it holds.
    pub pos: usize,
    /// The block's decoded symbols.
    pub out: &'a mut [u8],
    /// Symbols decoded so far.
    pub done: usize,
}

/// Decodes up to [`INTERLEAVE`] blocks to their ends, as [`decode_rans`] does: a vector
/// decoder in the std crate, or the reference. It must leave each block exactly as the
/// reference would (same symbols, final states and `pos`): the checks after it rely on that.
pub type BlockDecoder = fn(&mut [RansBlock<'_>]);

/// A rANS block parsed and waiting to be decoded with others.
struct Pending {
    x: [u32; LANES],
    words: core::ops::Range<usize>,
    out_at: usize,
    n: usize,
    payload: core::ops::Range<usize>,
}

/// [`decode`] with the rANS blocks decoded by `decoder`, [`INTERLEAVE`] at a time.
pub fn decode_with(
    stored: &[u8],
    decoded_len: usize,
    out: &mut Vec<u8>,
    decoder: BlockDecoder,
) -> Result<()> {
    let start = out.len();
    let mut pos = 0usize;
    // A table per block decoded together, no more than the section has blocks: a small
    // section (most chunk streams) allocates one.
    let mut tables = vec![0u32; M as usize * decoded_len.div_ceil(BLOCK_LEN).min(INTERLEAVE)];
    let mut pending: Vec<Pending> = Vec::with_capacity(INTERLEAVE);
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
            MODE_RANS => {
                let k = pending.len();
                let table = tables
                    .get_mut(k * M as usize..(k + 1) * M as usize)
                    .unwrap_or_default();
                let o = out.len();
                out.resize(o + n, 0);
                match parse_block(stored, &mut pos, table)? {
                    Parsed::Constant(s) => out.get_mut(o..).unwrap_or_default().fill(s),
                    Parsed::Rans(x, words, payload) => pending.push(Pending {
                        x,
                        words,
                        out_at: o - start,
                        n,
                        payload,
                    }),
                }
                if pending.len() == INTERLEAVE {
                    let out = out.get_mut(start..).unwrap_or_default();
                    flush(&tables, &mut pending, stored, out, decoder)?;
                }
            }
            _ => {
                return Err(Error::new(ErrorKind::Malformed, "ans block mode", at)
                    .got_expected(mode.into(), 2))
            }
        }
    }
    let tail = out.get_mut(start..).unwrap_or_default();
    flush(&tables, &mut pending, stored, tail, decoder)?;
    if pos != stored.len() {
        return Err(Error::new(
            ErrorKind::Malformed,
            "bytes after the last ans block",
            pos as u64,
        ));
    }
    Ok(())
}

/// Decodes the pending blocks with `decoder`, then checks each block's end in order.
fn flush(
    tables: &[u32],
    pending: &mut Vec<Pending>,
    stored: &[u8],
    out: &mut [u8],
    decoder: BlockDecoder,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut blocks = Vec::with_capacity(pending.len());
    let mut rest = out;
    let mut base = 0;
    for (k, p) in pending.iter().enumerate() {
        let skip = core::mem::take(&mut rest);
        let (_, after) = skip.split_at_mut((p.out_at - base).min(skip.len()));
        let (mine, after) = after.split_at_mut(p.n.min(after.len()));
        rest = after;
        base = p.out_at + p.n;
        let table = tables
            .get(k * M as usize..(k + 1) * M as usize)
            .and_then(|t| <&[u32; M as usize]>::try_from(t).ok())
            .ok_or_else(|| Error::bare(ErrorKind::Malformed, "ans table"))?;
        blocks.push(RansBlock {
            table,
            x: p.x,
            words: stored.get(p.words.clone()).unwrap_or_default(),
            pos: 0,
            out: mine,
            done: 0,
        });
    }
    decoder(&mut blocks);
    for (b, p) in blocks.iter().zip(pending.iter()) {
        if b.pos > b.words.len() {
            return Err(Error::new(
                ErrorKind::Truncated,
                "ans payload ends early",
                p.payload.end as u64,
            ));
        }
        if b.pos != b.words.len() || b.x.iter().any(|&s| s != STATE_LOW) {
            return Err(Error::new(
                ErrorKind::Malformed,
                "ans payload does not end in the initial states",
                p.payload.start as u64,
            ));
        }
    }
    pending.clear();
    Ok(())
}

/// Reads a block's table into `table` (one u32 per slot: symbol in bits 0–7, `slot − c_s` in
/// bits 8–19, `f_s` in bits 20–31) and gives `Some(symbol)` if one symbol has all 4096 slots.
fn read_table(stored: &[u8], pos: &mut usize, table: &mut [u32]) -> Result<Option<u8>> {
    let at = *pos as u64;
    let bitmap = stored
        .get(*pos..*pos + 32)
        .ok_or_else(|| Error::new(ErrorKind::Truncated, "ans table", at))?;
    *pos += 32;
    let mut acc = 0u32;
    let mut only = None;
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
            let f = f as u32;
            if f == M {
                only = Some(s as u8);
            } else if let Some(slots) = table.get_mut(acc as usize..(acc + f) as usize) {
                for (k, e) in slots.iter_mut().enumerate() {
                    *e = (f << 20) | ((k as u32) << 8) | s as u32;
                }
            }
            acc += f;
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
    Ok(only)
}

/// Bytes of word stream one step of `LANES` symbols can consume.
pub const GROUP_BYTES: usize = 2 * LANES;

/// What a rANS block's head says.
enum Parsed {
    /// One symbol has all 4096 slots: the block is that symbol (its payload checked).
    Constant(u8),
    /// Initial states, the words' range in `stored`, and the payload's range.
    Rans(
        [u32; LANES],
        core::ops::Range<usize>,
        core::ops::Range<usize>,
    ),
}

/// Reads a rANS block's table into `table`, its payload length and initial states.
fn parse_block(stored: &[u8], pos: &mut usize, table: &mut [u32]) -> Result<Parsed> {
    let only = read_table(stored, pos, table)?;
    let plen = read_uleb(stored, pos)?;
    let payload_at = *pos;
    let payload = usize::try_from(plen)
        .ok()
        .and_then(|p| stored.get(*pos..pos.checked_add(p)?))
        .ok_or_else(|| Error::new(ErrorKind::Truncated, "ans payload", payload_at as u64))?;
    *pos += payload.len();
    let (init, words) = payload
        .split_at_checked(4 * LANES)
        .ok_or_else(|| Error::new(ErrorKind::Truncated, "ans states", payload_at as u64))?;
    let mut x = [0u32; LANES];
    for (s, b) in x.iter_mut().zip(init.chunks_exact(4)) {
        *s = u32::from_le_bytes(b.try_into().unwrap_or([0; 4]));
        if !(STATE_LOW..STATE_LOW << WORD_BITS).contains(s) {
            return Err(Error::new(
                ErrorKind::Malformed,
                "ans initial state",
                payload_at as u64,
            ));
        }
    }
    if let Some(s) = only {
        // f = 4096: the state never changes and no word is read.
        if !words.is_empty() || x.iter().any(|&s| s != STATE_LOW) {
            return Err(Error::new(
                ErrorKind::Malformed,
                "ans payload does not end in the initial states",
                payload_at as u64,
            ));
        }
        return Ok(Parsed::Constant(s));
    }
    let words_at = payload_at + 4 * LANES;
    Ok(Parsed::Rans(
        x,
        words_at..words_at + words.len(),
        payload_at..payload_at + payload.len(),
    ))
}

/// The reference [`BlockDecoder`]: each block decoded to its end by [`decode_from`].
pub fn decode_rans(blocks: &mut [RansBlock<'_>]) {
    for b in blocks {
        decode_from(b);
    }
}

// The hot loop indexes `table` (4096 entries) with `x & 4095`, a `GROUP_BYTES`-byte window
// with an offset masked to stay inside it, and the lane array with constants: no index can be
// out of range whatever the input.
/// Decodes block `b` from symbol `b.done` (a multiple of [`LANES`]) to its end: the
/// reference decoding loop, and the finish of a vector decoder's blocks.
#[allow(clippy::indexing_slicing)]
pub fn decode_from(b: &mut RansBlock<'_>) {
    let table = b.table;
    let words = b.words;
    let mut x = b.x;
    let mut pos = b.pos;
    // One decode step; `word` is the next little-endian u16 of the stream, consumed only
    // if the state fell below L (after a step x >= 2^(15-12), so one word restores it).
    let step = |x: &mut u32, word: u32| -> (u8, usize) {
        let e = table[(*x & (M - 1)) as usize];
        let v = (e >> 20) * (*x >> SCALE_BITS) + ((e >> 8) & (M - 1));
        let need = v < STATE_LOW;
        *x = if need { (v << WORD_BITS) | word } else { v };
        (e as u8, 2 * usize::from(need))
    };
    let out = b.out.get_mut(b.done..).unwrap_or_default();
    let mut steps = out.chunks_exact_mut(LANES);
    for g in &mut steps {
        if let Some(win) = words.get(pos..pos + GROUP_BYTES) {
            // Fast path: the whole step's words are in `win`.
            let win: &[u8; GROUP_BYTES] = win.try_into().unwrap_or(&[0; GROUP_BYTES]);
            let mut off = 0usize;
            for k in 0..LANES {
                let o = off & (GROUP_BYTES - 2);
                let w = u32::from(u16::from_le_bytes([win[o], win[o + 1]]));
                let (s, used) = step(&mut x[k], w);
                g[k] = s;
                off += used;
            }
            pos += off;
        } else {
            for k in 0..LANES {
                let w = words
                    .get(pos..pos + 2)
                    .map_or(0, |b| u32::from(u16::from_le_bytes([b[0], b[1]])));
                let (s, used) = step(&mut x[k], w);
                g[k] = s;
                pos += used;
            }
        }
    }
    for (k, o) in steps.into_remainder().iter_mut().enumerate() {
        let w = words
            .get(pos..pos + 2)
            .map_or(0, |b| u32::from(u16::from_le_bytes([b[0], b[1]])));
        let (s, used) = step(&mut x[k], w);
        *o = s;
        pos += used;
    }
    b.x = x;
    b.pos = pos;
    b.done = b.out.len();
}

#[cfg(test)]
#[path = "ans_tests.rs"]
mod tests;
