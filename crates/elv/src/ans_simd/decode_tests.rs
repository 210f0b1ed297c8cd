//! The vector decoder against the reference, on real planes, the coder's edges, and damaged
//! streams: the same bytes, or the same error at the same offset.

use super::*;
use proptest::prelude::*;

/// Both decoders on `stored`: the same result, bytes or error.
fn same_decode(stored: &[u8], n: usize) -> Result<Vec<u8>, String> {
    let mut want = Vec::new();
    let want = ans::decode(stored, n, &mut want).map(|_| want);
    let mut got = Vec::new();
    let got = decode(stored, n, &mut got).map(|_| got);
    let show = |r: &elv_core::Result<Vec<u8>>| match r {
        Ok(v) => Ok(v.clone()),
        Err(e) => Err(format!("{e}")),
    };
    assert_eq!(
        show(&got),
        show(&want),
        "{} stored bytes, {n} decoded",
        stored.len()
    );
    show(&want)
}

/// `data` coded by the reference, decoded by both.
fn round_trip(data: &[u8]) {
    let stored = ans::encode(data);
    assert_eq!(same_decode(&stored, data.len()).as_deref(), Ok(data));
}

#[test]
fn expand_table_gives_each_needing_lane_its_word() {
    #[cfg(target_arch = "x86_64")]
    {
        let t = &avx2::EXPAND;
        assert_eq!(t[0], [0x80; 32]);
        // Lanes 1 and 6: words 0 and 1 of the window, in their lanes' low halves.
        let mut want = [0x80u8; 32];
        want[4..6].copy_from_slice(&[0, 1]);
        want[24..26].copy_from_slice(&[2, 3]);
        assert_eq!(t[0b0100_0010], want);
        assert_eq!(t[0xff][28..30], [14, 15]);
    }
}

/// Every plane of every f32 tensor of the real MiniLM slice (the encoder tests' planes).
#[test]
fn matches_the_reference_on_real_weight_planes() {
    for plane in crate::ans_simd::tests::real_planes() {
        round_trip(&plane);
    }
}

/// The coder's edges: one symbol, all one symbol (a constant block), stored blocks, the
/// largest and smallest frequencies, lengths around a step, a block and an interleave group,
/// and blocks of every mode in one section.
#[test]
fn matches_the_reference_on_edge_blocks() {
    let b = ans::BLOCK_LEN;
    for n in (0..40).chain([b - 1, b, b + 9, 4 * b - 3, 5 * b + 17]) {
        let mut d = vec![0u8; n];
        same_decode(&ans::encode(&d), n).expect("constant");
        if let Some(last) = d.last_mut() {
            *last = 255; // frequencies 4095 and 1
        }
        round_trip(&d);
        round_trip(&(0..n).map(|i| (i % 256) as u8).collect::<Vec<_>>());
        round_trip(&(0..n).map(|i| (i / 3 % 7) as u8 * 37).collect::<Vec<_>>());
    }
    let (geo, uni) = crate::ans_simd::tests::geometric_and_uniform();
    round_trip(&geo);
    round_trip(&uni); // near-uniform: stored blocks
    round_trip(&[&geo[..70_000], &vec![9; 70_000], &uni[..70_000], &geo[..5]].concat());
}

/// Damaged sections: every byte of a few blocks flipped in turn, and cuts at every length;
/// both decoders must agree on the result (bytes, or error and offset).
#[test]
fn damaged_streams_fail_alike() {
    let geo: Vec<u8> = (0..3 * ans::BLOCK_LEN as u32 + 100)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 29) as u8)
        .collect();
    let stored = ans::encode(&geo);
    for at in (0..stored.len()).step_by(97) {
        let mut bad = stored.clone();
        bad[at] ^= 0x41;
        let _ = same_decode(&bad, geo.len());
    }
    for cut in (0..stored.len()).step_by(1013) {
        let _ = same_decode(&stored[..cut], geo.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn matches_the_reference_on_any_skew((shaped, data) in crate::ans_simd::tests::any_skew()) {
        round_trip(&shaped);
        round_trip(&data);
    }
}
