//! The `ans` encoder's coding loop (SPEC.md §4.4.2) on vectors: on x86-64 with AVX2 the
//! eight lanes of a step are coded at once. It gives exactly the states and words of the
//! scalar reference [`elv_core::engine::ans::code_block`] (the core stays free of `unsafe`); the
//! tests compare the two on real and adversarial planes and `fuzz/run.sh ans_simd` keeps
//! comparing them. Everything else of a block (tables, modes, layout) is the core's.
#![allow(unsafe_code)]

pub(crate) mod decode;

use elv_core::engine::ans::{self, BlockCoder};

/// Encodes `data` as the stored bytes of an `ans` section (SPEC.md §4.4) with the fastest
/// coding loop this CPU runs: byte for byte what [`elv_core::engine::ans::encode`] gives.
pub fn encode(data: &[u8]) -> Vec<u8> {
    ans::encode_with(data, block_coder())
}

/// The fastest coding loop this CPU runs: AVX2 where detected, else the reference.
pub(crate) fn block_coder() -> BlockCoder {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        return avx2::code_block;
    }
    ans::code_block
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::*;
    use elv_core::engine::ans::{self, EncSym, LANES};

    /// For each mask of lanes that emit a word (bit k: lane k), the byte shuffle that moves
    /// those lanes' words (lane k at bytes 2k, 2k+1) to the top of 16 bytes, in lane order;
    /// the bytes below are zero.
    pub(super) static COMPACT: [[u8; 16]; 256] = compact_table();

    const fn compact_table() -> [[u8; 16]; 256] {
        let mut t = [[0x80u8; 16]; 256];
        let mut m = 0;
        while m < 256 {
            let mut slot = 8 - (m as u32).count_ones() as usize;
            let mut k = 0;
            while k < 8 {
                if (m >> k) & 1 == 1 {
                    t[m][2 * slot] = 2 * k as u8;
                    t[m][2 * slot + 1] = 2 * k as u8 + 1;
                    slot += 1;
                }
                k += 1;
            }
            m += 1;
        }
        t
    }

    /// The [`ans::BlockCoder`] on AVX2. Checks for AVX2 itself (a cached load), so it is
    /// sound to call anywhere; without AVX2 it runs the reference.
    pub(super) fn code_block(
        syms: &[EncSym; 256],
        block: &[u8],
        buf: &mut [u8],
    ) -> ([u32; LANES], usize) {
        if !std::is_x86_feature_detected!("avx2") || buf.len() < 2 * block.len() + 2 * LANES {
            return ans::code_block(syms, block, buf);
        }
        // SAFETY: the CPU has AVX2 (checked just above), the one requirement of the
        // `target_feature` function.
        unsafe { code_block_avx2(syms, block, buf) }
    }

    /// The coding loop with the eight states in one vector. Per step: the symbols'
    /// constants gathered from three 256-entry tables, the emitting lanes' words compacted
    /// with one shuffle and stored below those already written, and the next states from
    /// 64-bit products (`floor(x / f)` by reciprocal, as [`EncSym::div`]).
    #[target_feature(enable = "avx2")]
    fn code_block_avx2(
        syms: &[EncSym; 256],
        block: &[u8],
        buf: &mut [u8],
    ) -> ([u32; LANES], usize) {
        // Structure of arrays for the gathers: x_max, rcp, and cum | cmpl_freq << 12 |
        // (shift - 31) << 25 (12, 13 and 4 bits).
        let mut x_max = [0i32; 256];
        let mut rcp = [0i32; 256];
        let mut aux = [0i32; 256];
        for (s, e) in syms.iter().enumerate() {
            x_max[s] = e.x_max as i32;
            rcp[s] = e.rcp as i32;
            aux[s] = (e.cum | e.cmpl_freq << 12 | e.shift.saturating_sub(31) << 25) as i32;
        }
        // The last `tail` symbols come first, from the initial states at the end of `buf`:
        // exactly what the reference does with them alone (they fill no whole step).
        let tail = block.len() % LANES;
        let (body, rest) = block.split_at(block.len() - tail);
        let (x, mut p) = ans::code_block(syms, rest, buf);
        let mut xv = _mm256_setr_epi32(
            x[0] as i32,
            x[1] as i32,
            x[2] as i32,
            x[3] as i32,
            x[4] as i32,
            x[5] as i32,
            x[6] as i32,
            x[7] as i32,
        );
        let low16 = _mm256_set1_epi32(0xffff);
        let low12 = _mm256_set1_epi32(0xfff);
        let low13 = _mm256_set1_epi32(0x1fff);
        let low32 = _mm256_set1_epi64x(0xffff_ffff);
        let base_shift = _mm256_set1_epi32(31);
        for q in body.chunks_exact(LANES).rev() {
            let q: [u8; 8] = q.try_into().unwrap_or([0; 8]);
            let idx = _mm256_cvtepu8_epi32(_mm_set_epi64x(0, i64::from_le_bytes(q)));
            // SAFETY: every index is a byte, below the 256 entries of each table.
            let (xm, rc, ax) = unsafe {
                (
                    _mm256_i32gather_epi32::<4>(x_max.as_ptr(), idx),
                    _mm256_i32gather_epi32::<4>(rcp.as_ptr(), idx),
                    _mm256_i32gather_epi32::<4>(aux.as_ptr(), idx),
                )
            };
            // States and bounds are below 2^31, so the signed compare is exact.
            let keep = _mm256_cmpgt_epi32(xm, xv);
            let emit = !(_mm256_movemask_ps(_mm256_castsi256_ps(keep)) as u32) & 0xff;
            let words = _mm256_packus_epi32(_mm256_and_si256(xv, low16), _mm256_setzero_si256());
            let words = _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b00_00_10_00>(words));
            // SAFETY: COMPACT[emit] is 16 bytes (emit < 256); the unaligned load reads them.
            let shuffle =
                unsafe { _mm_loadu_si128(COMPACT[emit as usize].as_ptr().cast::<__m128i>()) };
            let words = _mm_shuffle_epi8(words, shuffle);
            // p >= 2 * (symbols left) + 16 here, so the 16 bytes below p are in `buf`; the
            // ones below the emitted words are overwritten by the next step or lie before
            // the words' start.
            let Some(dst) = buf.get_mut(p - 16..p) else {
                return ans::code_block(syms, block, buf);
            };
            // SAFETY: `dst` is 16 writable bytes; the store is unaligned.
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast::<__m128i>(), words) };
            p -= 2 * emit.count_ones() as usize;
            let xv_r = _mm256_blendv_epi8(_mm256_srli_epi32::<16>(xv), xv, keep);
            // floor(x / f) = (x * rcp) >> shift, even and odd lanes as 64-bit products.
            let shift = _mm256_add_epi32(_mm256_srli_epi32::<25>(ax), base_shift);
            let even =
                _mm256_srlv_epi64(_mm256_mul_epu32(xv_r, rc), _mm256_and_si256(shift, low32));
            let odd = _mm256_srlv_epi64(
                _mm256_mul_epu32(_mm256_srli_epi64::<32>(xv_r), _mm256_srli_epi64::<32>(rc)),
                _mm256_srli_epi64::<32>(shift),
            );
            let cum = _mm256_and_si256(ax, low12);
            let cmpl = _mm256_and_si256(_mm256_srli_epi32::<12>(ax), low13);
            // q · (2^12 − f) < 2^31, again as 64-bit products (shorter latency than a
            // 32-bit lane multiply), and merged back into eight lanes.
            let prod_even = _mm256_mul_epu32(even, cmpl);
            let prod_odd = _mm256_mul_epu32(odd, _mm256_srli_epi64::<32>(cmpl));
            let prod =
                _mm256_blend_epi32::<0b1010_1010>(prod_even, _mm256_slli_epi64::<32>(prod_odd));
            xv = _mm256_add_epi32(_mm256_add_epi32(xv_r, cum), prod);
        }
        let mut out = [0u32; LANES];
        // SAFETY: `out` is 32 writable bytes; the store is unaligned.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast::<__m256i>(), xv) };
        (out, p)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use elv_core::engine::encoding::encode_chunk;
    use elv_core::{DType, Encoding};
    use proptest::prelude::*;

    fn same(data: &[u8]) {
        assert_eq!(encode(data), ans::encode(data), "{} bytes", data.len());
    }

    #[test]
    fn compact_table_moves_emitted_words_to_the_top() {
        #[cfg(target_arch = "x86_64")]
        {
            let t = &avx2::COMPACT;
            assert_eq!(t[0], [0x80; 16]);
            assert_eq!(t[0xff], core::array::from_fn(|i| i as u8));
            // Lanes 1 and 6: their words in the top two slots, lane 1 first.
            let mut want = [0x80u8; 16];
            want[12..].copy_from_slice(&[2, 3, 12, 13]);
            assert_eq!(t[0b0100_0010], want);
        }
    }

    /// Every plane of every f32 tensor of the real MiniLM slice, as ELF, float planes and
    /// byte planes give them: the streams a writer codes and a reader decodes.
    pub(super) fn real_planes() -> Vec<Vec<u8>> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/sample/minilm_sample.safetensors"
        );
        let bytes = std::fs::read(path).expect("testdata sample");
        let header =
            crate::convert::safetensors::read_header(&mut &bytes[..], None).expect("header");
        let start = header.data_start() as usize;
        let mut planes = Vec::new();
        for e in header.entries.iter().filter(|e| e.dtype == DType::F32) {
            let data = &bytes[start + e.begin as usize..start + e.end as usize];
            for enc in [Encoding::Elf, Encoding::FloatPlanes, Encoding::BytePlanes] {
                planes.extend(encode_chunk(enc, DType::F32, data, None).expect("encodes"));
            }
        }
        assert!(planes.len() > 20, "{} planes", planes.len());
        planes
    }

    #[test]
    fn matches_the_reference_on_real_weight_planes() {
        for plane in real_planes() {
            same(&plane);
        }
    }

    /// 300,000 geometric bytes (the shape of a top ELF plane) and 200,000 near-uniform ones
    /// (stored blocks), from a fixed xorshift.
    pub(super) fn geometric_and_uniform() -> (Vec<u8>, Vec<u8>) {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let geo = (0..300_000)
            .map(|_| (next() | 1 << 40).trailing_zeros() as u8)
            .collect();
        let uni = (0..200_000).map(|_| next() as u8).collect();
        (geo, uni)
    }

    /// The edges of the coder: a state at its bound in every lane, the largest and smallest
    /// frequencies, lengths around a step and a block, one symbol against all others.
    #[test]
    fn matches_the_reference_on_adversarial_bytes() {
        for n in (0..40).chain([ans::BLOCK_LEN - 1, ans::BLOCK_LEN, ans::BLOCK_LEN + 9]) {
            // Two symbols, one of frequency 4095 and one of 1.
            let mut d = vec![0u8; n];
            if let Some(last) = d.last_mut() {
                *last = 255;
            }
            same(&d);
            // Every byte value once, then runs.
            same(&(0..n).map(|i| (i % 256) as u8).collect::<Vec<_>>());
            same(&(0..n).map(|i| (i / 3 % 7) as u8 * 37).collect::<Vec<_>>());
        }
        // Geometric (a top-plane shape), near-uniform, and blocks that switch between them.
        let (geo, uni) = geometric_and_uniform();
        same(&geo);
        same(&uni);
        same(&[&geo[..70_000], &uni[..70_000], &geo[..5]].concat());
    }

    /// Random bytes, and the same bytes masked: any skew from uniform to a few symbols.
    pub(super) fn any_skew() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        (
            proptest::collection::vec(any::<u8>(), 0..20_000),
            any::<u8>(),
        )
            .prop_map(|(data, mask)| (data.iter().map(|b| b & mask).collect(), data))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn matches_the_reference_on_any_skew((shaped, data) in any_skew()) {
            prop_assert_eq!(encode(&shaped), ans::encode(&shaped));
            prop_assert_eq!(encode(&data), ans::encode(&data));
        }
    }
}
