//! Tests of ELF (SPEC.md §7.2): the definition, the fast f32 paths, and the bound.
#![allow(clippy::indexing_slicing)]
use super::*;
use alloc::vec;
use alloc::vec::Vec;
use half::{bf16, f16};

const F16: FloatFormat = FloatFormat {
    exp_bits: 5,
    man_bits: 10,
};
const BF16: FloatFormat = FloatFormat {
    exp_bits: 8,
    man_bits: 7,
};
const F32: FloatFormat = FloatFormat {
    exp_bits: 8,
    man_bits: 23,
};
const F64: FloatFormat = FloatFormat {
    exp_bits: 11,
    man_bits: 52,
};

#[test]
fn paper_example_f32() {
    // Figure 9: p = 0.1415926069021... -> 1+p = 1.1415926218032...
    let p = 0.141_592_6_f32;
    let code = encode_value(u64::from(p.to_bits()), F32).unwrap();
    assert_eq!(code, u64::from((1.0f32 + p).to_bits() & 0x7f_ffff));
    let back = f32::from_bits(decode_value(code, F32) as u32);
    assert!((back - p).abs() <= 2f32.powi(-24));
}

#[test]
fn integer_definition_matches_float_addition_f32_f64() {
    let samples_f32 = [
        0.0f32,
        -0.0,
        1e-30,
        -1e-45,
        0.3,
        -0.999_999_9,
        0.999_999_94,
        5.960_464_5e-8,
        2.980_232_2e-8,
    ];
    for p in samples_f32 {
        // The writer's fast path codes exactly the values the definition codes, except
        // the non-zero ones whose code would be a zero (stored exactly, §7.2.3).
        let bits = u64::from(p.to_bits());
        let a = encode_value(bits, F32)
            .filter(|_| !stored_exactly(bits, F32))
            .map(|c| c as u32);
        assert_eq!(a, encode_f32(p.to_bits()), "{p}");
    }
    for p in [
        0.0f64,
        1e-300,
        -0.5,
        0.999_999_999_999_999_9,
        1.1e-16,
        5e-324,
    ] {
        let q = 1.0 + p.abs();
        let want = (q < 2.0).then(|| ((p.to_bits() >> 63) << 52) | (q.to_bits() & ((1 << 52) - 1)));
        assert_eq!(encode_value(p.to_bits(), F64), want, "{p}");
    }
}

#[test]
fn f32_fast_paths_match_the_definition() {
    // Outliers everywhere (every 64-value block takes the scalar path), then rare
    // outliers (most blocks take the vectorized path) with a tail shorter than a block.
    for rare in [false, true] {
        f32_fast_path_matches(rare);
    }
}

fn f32_fast_path_matches(rare: bool) {
    let mut x = 0x9e37_79b9u32;
    let mut data = Vec::new();
    for i in 0..20_003u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let kind = match (rare, i % 1000, i % 3) {
            (false, _, _) => i % 5,
            (true, 7, _) => 0,   // random bits: about half are outliers
            (true, 500, _) => 5, // the largest value below 1, an outlier (rounds to 2)
            (true, _, 0) => 4,
            (true, _, _) => 2,
        };
        let bits = match kind {
            5 => 0x3f7f_ffff,
            0 => x,
            1 => x & 0x3fff_ffff,
            2 => x & 0x807f_ffff | 0x3800_0000,
            3 => x & 0x8000_00ff,
            _ => (x & 0x8000_0000) | 0x3f7f_0000 | (x & 0xffff),
        };
        data.extend_from_slice(&bits.to_le_bytes());
    }
    let fast = encode_chunk_f32(&data);
    if rare {
        assert!(
            read_uleb(&fast[0], &mut 0).unwrap() >= 20,
            "outliers present"
        );
    }
    let mut codes = Vec::new();
    let mut pos = Vec::new();
    let mut vals = Vec::new();
    for (i, e) in data.chunks_exact(4).enumerate() {
        let bits = u64::from(u32::from_le_bytes(e.try_into().unwrap()));
        match encode_value(bits, F32).filter(|_| !stored_exactly(bits, F32)) {
            Some(c) => codes.push(c),
            None => {
                pos.push(i as u64);
                vals.extend_from_slice(e);
            }
        }
    }
    let mut slow = vec![outlier_stream(&pos, &vals)];
    slow.extend(planes::split(&codes, 24));
    assert_eq!(fast, slow);
    let refs: Vec<&[u8]> = fast.iter().map(|s| s.as_slice()).collect();
    let mut out = vec![0u8; data.len()];
    decode_chunk(DType::F32, data.len() / 4, &refs, &mut out).unwrap();
    for (i, (o, e)) in out.chunks_exact(4).zip(data.chunks_exact(4)).enumerate() {
        let bits = u64::from(u32::from_le_bytes(e.try_into().unwrap()));
        let want = encode_value(bits, F32)
            .filter(|_| !stored_exactly(bits, F32))
            .map_or(bits, |c| decode_value(c, F32));
        assert_eq!(
            u64::from(u32::from_le_bytes(o.try_into().unwrap())),
            want,
            "value {i}"
        );
    }
}

#[test]
fn values_that_round_to_two_are_outliers() {
    // largest f16 below 1 is 1 - 2^-11; 1 + that rounds (tie, odd) up to 2.0
    let p = f16::from_f32(1.0 - 2f32.powi(-11));
    assert!(p.to_f32() < 1.0);
    assert_eq!(encode_value(u64::from(p.to_bits()), F16), None);
    let p = bf16::from_f32(0.998);
    assert!(p.to_f32() < 1.0);
    assert_eq!(encode_value(u64::from(p.to_bits()), BF16), None);
    // largest f32 below 1: 1 - 2^-24 -> 2 - 2^-24 is a tie between 2-2^-23 (odd) and 2: outlier
    let p = f32::from_bits(0x3f7f_ffff);
    assert_eq!(encode_value(u64::from(p.to_bits()), F32), None);
    // the next one down stays in range
    let p = f32::from_bits(0x3f7f_fffe);
    assert!(encode_value(u64::from(p.to_bits()), F32).is_some());
}

#[test]
fn zero_sign_and_flush() {
    assert_eq!(encode_value(0x8000_0000, F32), Some(1 << 23));
    assert_eq!(decode_value(1 << 23, F32), 0x8000_0000);
    // smallest negative subnormal flushes to -0.0
    assert_eq!(
        decode_value(encode_value(0x8000_0001, F32).unwrap(), F32),
        0x8000_0000
    );
    assert_eq!(encode_value(0x7fc0_0000, F32), None);
    assert_eq!(encode_value(0x7f80_0000, F32), None);
    assert_eq!(encode_value(0x3f80_0000, F32), None);
}

#[test]
fn chunk_round_trip_with_outliers() {
    let vals = [
        0.5f32,
        3.0,
        -0.25,
        f32::NAN,
        -1.0,
        1e-40,
        f32::NEG_INFINITY,
        0.0,
    ];
    let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    let streams = encode_chunk(DType::F32, &data).unwrap();
    assert_eq!(streams.len(), 4);
    // 0.5, -0.25 and 0.0 are in range; 1e-40 would decode to zero: an outlier too.
    assert_eq!(streams[1].len(), 3);
    let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
    let mut out = vec![0u8; data.len()];
    decode_chunk(DType::F32, vals.len(), &refs, &mut out).unwrap();
    for (v, o) in vals.iter().zip(out.chunks_exact(4)) {
        let o = f32::from_le_bytes(o.try_into().unwrap());
        if v.abs() >= 1.0 || v.is_nan() {
            assert_eq!(o.to_bits(), v.to_bits());
        } else {
            assert!((o - v).abs() <= 2f32.powi(-24));
        }
    }
}

/// The promise, on adversarial values of every format: outliers and non-zero values
/// of magnitude up to 2^-(M+1) (subnormals among them) decode bit-exact, no non-zero value
/// decodes to zero, ±0 keep their sign, and every other value in (-1, 1) is within
/// 2^-(M+1).
#[test]
fn nothing_nonzero_decodes_to_zero_and_the_bound_holds() {
    for (dtype, fmt) in [
        (DType::F16, F16),
        (DType::BF16, BF16),
        (DType::F32, F32),
        (DType::F64, F64),
    ] {
        let m = fmt.man_bits;
        let total = fmt.exp_bits + m;
        let mag_mask = (1u64 << total) - 1;
        let one = fmt.bias() << m;
        let mut bits: Vec<u64> = vec![
            0,
            1,
            2,
            (1 << m) - 1,
            1 << m,
            one,
            one - 1,
            one - 2,
            mag_mask,
            ((1u64 << fmt.exp_bits) - 1) << m,
            (((1u64 << fmt.exp_bits) - 1) << m) | 1,
        ];
        // Around the flush threshold 2^-(M+1): its exponent is bias - M - 1.
        let half_ulp = (fmt.bias() - u64::from(m) - 1) << m;
        bits.extend([half_ulp - 1, half_ulp, half_ulp + 1, half_ulp + (1 << m)]);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Magnitudes spread over every exponent below 1.
            bits.push(x % one);
        }
        let with_signs: Vec<u64> = bits.iter().flat_map(|&b| [b, b | (1 << total)]).collect();
        let data: Vec<u8> = with_signs
            .iter()
            .flat_map(|&b| b.to_le_bytes()[..dtype.size()].to_vec())
            .collect();
        let streams = encode_chunk(dtype, &data).unwrap();
        let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
        let mut out = vec![0u8; data.len()];
        decode_chunk(dtype, with_signs.len(), &refs, &mut out).unwrap();
        let bound = 2f64.powi(-(m as i32 + 1));
        for (&b, o) in with_signs.iter().zip(out.chunks_exact(dtype.size())) {
            let got = load_le(o);
            if stored_exactly(b, fmt) || b & mag_mask == 0 {
                assert_eq!(got, b, "{dtype:?} {b:#x} must be exact");
                continue;
            }
            assert_ne!(got & mag_mask, 0, "{dtype:?} {b:#x} decoded to zero");
            let (err, _) =
                crate::dtype::compare_floats(dtype, &b.to_le_bytes()[..dtype.size()], o).unwrap();
            assert!(err <= bound, "{dtype:?} {b:#x}: error {err} above {bound}");
        }
    }
}

#[test]
fn small_counts_magnitudes_below_2_to_the_minus_16() {
    let f32s = [
        0.0f32,
        1e-5,
        -1e-5,
        2e-5,
        1.5258789e-5,
        1.0,
        f32::NAN,
        1e-40,
    ];
    let data: Vec<u8> = f32s.iter().flat_map(|v| v.to_le_bytes()).collect();
    // 1e-5, -1e-5 and the subnormal are below 2^-16 (1.5259e-5); 2^-16 itself is not.
    assert_eq!(small_count(DType::F32, &data).unwrap(), (7, 3));
    let h: Vec<u8> = [1e-5f32, 2e-5, 1e-7, 0.5]
        .iter()
        .flat_map(|&v| f16::from_f32(v).to_bits().to_le_bytes())
        .collect();
    assert_eq!(small_count(DType::F16, &h).unwrap(), (4, 2));
    let d: Vec<u8> = [1e-5f64, 2e-5, 1e-300, 0.5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(small_count(DType::F64, &d).unwrap(), (4, 2));
    let b: Vec<u8> = [1e-5f32, 2e-5]
        .iter()
        .flat_map(|&v| bf16::from_f32(v).to_bits().to_le_bytes())
        .collect();
    assert_eq!(small_count(DType::BF16, &b).unwrap(), (2, 1));
}
