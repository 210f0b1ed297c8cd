//! The `ans` decoder's loop (SPEC.md §4.4.2) on vectors: on x86-64 with AVX2 a step's eight
//! lanes are decoded at once (the slot table read by one gather, the renormalization words
//! spread to the lanes that need them by one shuffle), and the [`INTERLEAVE`] blocks the core
//! hands over at a time are stepped side by side, so their dependency chains overlap. Each
//! block stops where fewer than eight symbols or sixteen word bytes are left, and the core's
//! reference loop [`ans::decode_from`] finishes it: the result is exactly the reference's
//! (symbols, final states, words read), which the tests compare on real and adversarial
//! blocks and `fuzz/run.sh ans_simd` keeps comparing.

use elv_core::engine::ans::{self, BlockDecoder};

/// The fastest rANS block decoder this CPU runs: AVX2 where detected, else the reference.
pub fn block_decoder() -> BlockDecoder {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        return avx2::decode_blocks;
    }
    ans::decode_rans
}

/// Decodes the stored bytes of an `ans` section as [`elv_core::engine::ans::decode`] does,
/// with the fastest loop this CPU runs.
pub fn decode(stored: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> elv_core::Result<()> {
    ans::decode_with(stored, decoded_len, out, block_decoder())
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::*;
    use elv_core::engine::ans::{self, RansBlock, GROUP_BYTES, INTERLEAVE, LANES, STATE_LOW};

    /// For each mask of lanes that take a word (bit k: lane k), the byte shuffle that puts
    /// the j-th word of a 16-byte window (the j-th of those lanes, in lane order) in the low
    /// half of lane k's u32, the high half zero; both 128-bit halves hold the window.
    pub(super) static EXPAND: [[u8; 32]; 256] = expand_table();

    const fn expand_table() -> [[u8; 32]; 256] {
        let mut t = [[0x80u8; 32]; 256];
        let mut m = 0;
        while m < 256 {
            let mut j = 0;
            let mut k = 0;
            while k < 8 {
                if (m >> k) & 1 == 1 {
                    t[m][4 * k] = 2 * j;
                    t[m][4 * k + 1] = 2 * j + 1;
                    j += 1;
                }
                k += 1;
            }
            m += 1;
        }
        t
    }

    /// The [`ans::BlockDecoder`] on AVX2. Checks for AVX2 itself (a cached load), so it is
    /// sound to call anywhere; without AVX2 it runs the reference.
    pub(super) fn decode_blocks(blocks: &mut [RansBlock<'_>]) {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt") {
            for group in blocks.chunks_mut(INTERLEAVE) {
                // SAFETY: the CPU has AVX2 and POPCNT (checked just above), the one
                // requirement of the `target_feature` function.
                unsafe { steps_avx2(group) };
            }
        }
        ans::decode_rans(blocks);
    }

    /// The table entries of eight slots (each below 4096). Eight scalar loads rather than
    /// `vpgatherdd`: on AMD's cores the gather is microcoded and stalls the front end, so
    /// the blocks' chains stop overlapping (measured: 1.5x the scalar decoder with the
    /// gather).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn lookup(table: &[u32; 4096], idx: __m256i) -> __m256i {
        let mut i = [0u32; 8];
        // SAFETY: `i` is eight u32s; the store is unaligned.
        unsafe { _mm256_storeu_si256(i.as_mut_ptr().cast::<__m256i>(), idx) };
        let t = |k: usize| table[(i[k] & 4095) as usize] as i32;
        _mm256_setr_epi32(t(0), t(1), t(2), t(3), t(4), t(5), t(6), t(7))
    }

    /// Decodes whole steps of up to [`INTERLEAVE`] blocks side by side while each has eight
    /// symbols and sixteen word bytes left; updates each block's states, `pos` and `done`.
    /// The blocks that can step run together for as many steps as all of them surely can
    /// (see [`sure_steps`]), with no check inside; then the count is taken again.
    #[target_feature(enable = "avx2,popcnt")]
    fn steps_avx2(blocks: &mut [RansBlock<'_>]) {
        // The match below names the blocks of a group one by one.
        const _: () = assert!(INTERLEAVE == 4);
        loop {
            let mut live: [Option<&mut RansBlock<'_>>; INTERLEAVE] = Default::default();
            let mut count = 0;
            let mut steps = usize::MAX;
            for b in blocks.iter_mut().take(INTERLEAVE) {
                let n = sure_steps(b);
                if n > 0 {
                    steps = steps.min(n);
                    if let Some(slot) = live.get_mut(count) {
                        *slot = Some(b);
                        count += 1;
                    }
                }
            }
            let ran = match &mut live {
                [Some(a), Some(b), Some(c), Some(d)] => {
                    run([&mut **a, &mut **b, &mut **c, &mut **d], steps)
                }
                [Some(a), Some(b), Some(c), None] => run([&mut **a, &mut **b, &mut **c], steps),
                [Some(a), Some(b), None, None] => run([&mut **a, &mut **b], steps),
                [Some(a), None, None, None] => run([&mut **a], steps),
                _ => false,
            };
            if !ran {
                return;
            }
        }
    }

    /// Steps a block can take without running out of output room or of word bytes: a step
    /// writes eight symbols and reads a 16-byte window, of which it consumes at most all.
    fn sure_steps(b: &RansBlock<'_>) -> usize {
        let room = b.out.len().saturating_sub(b.done) / LANES;
        let words = b.words.len().saturating_sub(b.pos) / GROUP_BYTES;
        room.min(words)
    }

    /// Runs `steps` steps of each of the `N` blocks, interleaved; false (and nothing done)
    /// if one of them cannot take that many.
    #[target_feature(enable = "avx2,popcnt")]
    fn run<const N: usize>(mut blocks: [&mut RansBlock<'_>; N], steps: usize) -> bool {
        if steps == 0 || blocks.iter().any(|b| sure_steps(b) < steps) {
            return false;
        }
        let mut x = [_mm256_setzero_si256(); N];
        for (v, b) in x.iter_mut().zip(blocks.iter()) {
            // SAFETY: `b.x` is eight u32s; the load is unaligned.
            *v = unsafe { _mm256_loadu_si256(b.x.as_ptr().cast::<__m256i>()) };
        }
        for _ in 0..steps {
            for (b, xv) in blocks.iter_mut().zip(x.iter_mut()) {
                // SAFETY: every block had `steps` sure steps (checked above), so this one
                // has its eight output bytes and its 16-byte window.
                unsafe { step(b, xv) };
            }
        }
        for (b, v) in blocks.iter_mut().zip(x.iter()) {
            // SAFETY: `b.x` is eight u32s; the store is unaligned.
            unsafe { _mm256_storeu_si256(b.x.as_mut_ptr().cast::<__m256i>(), *v) };
        }
        true
    }

    /// One step of one block: eight symbols out, its lanes renormalized.
    ///
    /// # Safety
    /// `b.done + 8 <= b.out.len()` and `b.pos + 16 <= b.words.len()`.
    #[target_feature(enable = "avx2,popcnt")]
    #[inline]
    unsafe fn step(b: &mut RansBlock<'_>, xv: &mut __m256i) {
        let mask12 = _mm256_set1_epi32(4095);
        let low = _mm256_set1_epi32(STATE_LOW as i32);
        // Byte 0 of each lane to bytes 0-3 of its 128-bit half.
        let pick = _mm256_setr_epi8(
            0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1,
            -1, -1, -1, -1, -1, -1, -1, -1, -1,
        );
        let e = lookup(b.table, _mm256_and_si256(*xv, mask12));
        let f = _mm256_srli_epi32::<20>(e);
        let bias = _mm256_and_si256(_mm256_srli_epi32::<8>(e), mask12);
        // f < 4096 and x >> 12 < 2^19: the product and the sum stay below 2^31, so the low
        // 32 bits are exact and the signed compare is too.
        let v = _mm256_add_epi32(_mm256_mullo_epi32(f, _mm256_srli_epi32::<12>(*xv)), bias);
        let need = _mm256_cmpgt_epi32(low, v);
        let m = _mm256_movemask_ps(_mm256_castsi256_ps(need)) as usize & 0xff;
        // SAFETY: `pos + 16 <= words.len()` (the caller's promise); unaligned loads of the
        // window and of EXPAND[m] (32 bytes, m < 256).
        let (win, ctrl) = unsafe {
            (
                _mm_loadu_si128(b.words.as_ptr().add(b.pos).cast::<__m128i>()),
                _mm256_loadu_si256(EXPAND[m].as_ptr().cast::<__m256i>()),
            )
        };
        let w = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(win), ctrl);
        let renorm = _mm256_or_si256(_mm256_slli_epi32::<16>(v), w);
        *xv = _mm256_blendv_epi8(v, renorm, need);
        b.pos += 2 * m.count_ones() as usize;
        let s = _mm256_shuffle_epi8(e, pick);
        let syms = _mm_unpacklo_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
        // SAFETY: `done + 8 <= out.len()` (the caller's promise); an unaligned 8-byte store.
        unsafe { _mm_storel_epi64(b.out.as_mut_ptr().add(b.done).cast::<__m128i>(), syms) };
        b.done += LANES;
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
