//! Decoding the `ans` section codec (SPEC.md §4.4): a section's blocks parsed and checked
//! in order, their rANS blocks decoded [`INTERLEAVE`] at a time by a [`BlockDecoder`] (the
//! reference [`decode_rans`] here, a vector one in the std crate).
#![deny(clippy::indexing_slicing)]

use crate::ans::{
    BLOCK_LEN, LANES, M, MODE_CONSTANT, MODE_RANS, MODE_STORED, SCALE_BITS, STATE_LOW, WORD_BITS,
};
use crate::varint::read_uleb;
use crate::{Error, ErrorKind, Result};
use alloc::vec;
use alloc::vec::Vec;

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
