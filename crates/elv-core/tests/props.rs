//! Property tests: every encoding round-trips through a container, lossless encodings bit
//! for bit, ELF within its bound (SPEC.md §7.2 theorem), outliers bit-exact.

use elv_core::engine::elf;
use elv_core::{Archive, ContainerWriter, DType, Encoding, ErrorKind, NoCodecs, ReadOptions};
use half::{bf16, f16};
use proptest::prelude::*;

const FLOATS: [DType; 4] = [DType::F16, DType::BF16, DType::F32, DType::F64];

/// Bit patterns that stress ELF: ±0, subnormals, ±1, just below 1 (whose 1+|p| may round
/// to 2), NaN payloads, ±inf, ±max.
fn edge_bits(dtype: DType) -> Vec<u64> {
    let fmt = dtype.float_format().unwrap();
    let m = fmt.man_bits;
    let e_all = (1u64 << fmt.exp_bits) - 1;
    let sign = 1u64 << (fmt.exp_bits + m);
    let one = fmt.bias() << m;
    let mut v = vec![
        0,
        1,            // smallest subnormal
        (1 << m) - 1, // largest subnormal
        1 << m,       // smallest normal
        one,          // 1.0
        one - 1,      // largest value below 1
        one - 2,
        one - (1 << (m / 2)),  // a bit further below 1
        (fmt.bias() - 1) << m, // 0.5
        ((fmt.bias() - 1) << m) | 1,
        (fmt.bias() - (u64::from(m) + 1)) << m, // 2^-(M+1): a tie at the rounding point
        ((fmt.bias() - (u64::from(m) + 1)) << m) | 1, // just above the tie
        (fmt.bias() - (u64::from(m) + 2)) << m, // 2^-(M+2): rounds to 0
        e_all << m,                             // inf
        (e_all << m) | 1,                       // signalling NaN payload
        (e_all << m) | (1 << (m - 1)) | 5,      // quiet NaN with payload
        ((e_all - 1) << m) | ((1 << m) - 1),    // max finite
    ];
    let neg: Vec<u64> = v.iter().map(|b| b | sign).collect();
    v.extend(neg);
    v
}

fn to_bytes(dtype: DType, bits: &[u64]) -> Vec<u8> {
    bits.iter()
        .flat_map(|b| b.to_le_bytes()[..dtype.size()].to_vec())
        .collect()
}

fn as_f64(dtype: DType, bits: u64) -> f64 {
    match dtype {
        DType::F16 => f16::from_bits(bits as u16).to_f64(),
        DType::BF16 => bf16::from_bits(bits as u16).to_f64(),
        DType::F32 => f32::from_bits(bits as u32) as f64,
        _ => f64::from_bits(bits),
    }
}

fn round_trip(dtype: DType, encoding: Encoding, data: &[u8], chunk_len: u64) -> Vec<u8> {
    let n = (data.len() / dtype.size()) as u64;
    let mut w = ContainerWriter::new(Vec::new(), 3).unwrap();
    w.add_tensor("t", dtype, &[n], data, encoding, chunk_len)
        .unwrap();
    let file = w.finish().unwrap();
    let a = Archive::parse(&file, &NoCodecs, ReadOptions::default()).unwrap();
    a.decode(0).unwrap()
}

/// The ELF bound, checked value by value: in-range values within 2^-(M+1) with the sign
/// kept (also on values that flush to zero); outliers bit-exact.
fn check_elf(dtype: DType, input: &[u8], output: &[u8]) {
    let fmt = dtype.float_format().unwrap();
    let bound = 2f64.powi(-(elf::error_bound_log2(fmt) as i32));
    let size = dtype.size();
    let sign_bit = 1u64 << (fmt.exp_bits + fmt.man_bits);
    for (a, b) in input.chunks_exact(size).zip(output.chunks_exact(size)) {
        let (mut x, mut y) = (0u64, 0u64);
        for (k, (p, q)) in a.iter().zip(b).enumerate() {
            x |= (*p as u64) << (8 * k);
            y |= (*q as u64) << (8 * k);
        }
        match elf::encode_value(x, fmt) {
            None => assert_eq!(x, y, "{dtype:?} outlier {x:#x} must be bit-exact"),
            Some(_) => {
                let (fx, fy) = (as_f64(dtype, x), as_f64(dtype, y));
                assert!(
                    fx.abs() < 1.0,
                    "{dtype:?} {x:#x} in range must be in (-1,1)"
                );
                assert!(
                    (fx - fy).abs() <= bound,
                    "{dtype:?} {x:#x}: |{fy} - {fx}| > {bound}"
                );
                assert_eq!(x & sign_bit, y & sign_bit, "{dtype:?} {x:#x}: sign kept");
            }
        }
    }
}

#[test]
fn elf_bound_holds_on_edge_values_for_every_float_dtype() {
    for dtype in FLOATS {
        let data = to_bytes(dtype, &edge_bits(dtype));
        let out = round_trip(dtype, Encoding::Elf, &data, 7);
        check_elf(dtype, &data, &out);
        // the largest value below 1 is an outlier in every format (its 1+|p| is a tie that
        // rounds to 2), so it survives bit-exact
        let fmt = dtype.float_format().unwrap();
        assert_eq!(
            elf::encode_value((fmt.bias() << fmt.man_bits) - 1, fmt),
            None,
            "{dtype:?}"
        );
    }
}

#[test]
fn elf_bound_holds_exhaustively_for_16_bit_floats() {
    for dtype in [DType::F16, DType::BF16] {
        let bits: Vec<u64> = (0..=u16::MAX as u64).collect();
        let data = to_bytes(dtype, &bits);
        let out = round_trip(dtype, Encoding::Elf, &data, 1 << 14);
        check_elf(dtype, &data, &out);
    }
}

#[test]
fn lossless_encodings_are_bit_exact_on_edge_values() {
    for dtype in FLOATS {
        let data = to_bytes(dtype, &edge_bits(dtype));
        for enc in [
            Encoding::Raw,
            Encoding::De,
            Encoding::FloatPlanes,
            Encoding::BytePlanes,
        ] {
            assert_eq!(round_trip(dtype, enc, &data, 5), data, "{dtype:?} {enc:?}");
        }
    }
}

#[test]
fn corrupted_de_distance_is_rejected_not_misread() {
    // Every value repeats: distances must stay inside the chunk.
    let data: Vec<u8> = [1.5f32; 16].iter().flat_map(|v| v.to_le_bytes()).collect();
    let streams = elv_core::fuzzing::encode_tensor(Encoding::De, DType::F32, &data, None, 16)
        .unwrap()
        .streams;
    let mut bits = streams[0].clone();
    bits[0] ^= 1; // value 0 becomes a repeat: nothing before it to point at
    let mut out = vec![0u8; 64];
    let e = elv_core::engine::encoding::decode_chunk(
        Encoding::De,
        DType::F32,
        16,
        &[&bits, &streams[1]],
        None,
        &mut out,
    );
    assert!(e.is_err());
    let e = elv_core::engine::encoding::decode_chunk(
        Encoding::De,
        DType::F32,
        17,
        &[&streams[0], &streams[1]],
        None,
        &mut [0u8; 68],
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated);
}

fn any_float_dtype() -> impl Strategy<Value = DType> {
    prop::sample::select(FLOATS.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn elf_round_trip_random_bits(dtype in any_float_dtype(), bits in prop::collection::vec(any::<u64>(), 0..300), chunk in 1u64..64) {
        let mask = if dtype.size() == 8 { u64::MAX } else { (1u64 << (8 * dtype.size())) - 1 };
        let bits: Vec<u64> = bits.into_iter().map(|b| b & mask).collect();
        let data = to_bytes(dtype, &bits);
        let out = round_trip(dtype, Encoding::Elf, &data, chunk);
        check_elf(dtype, &data, &out);
    }

    #[test]
    fn elf_round_trip_weight_like_values(dtype in any_float_dtype(), vals in prop::collection::vec(-1.2f64..1.2, 0..300)) {
        let bits: Vec<u64> = vals.iter().map(|&v| match dtype {
            DType::F16 => f16::from_f64(v).to_bits() as u64,
            DType::BF16 => bf16::from_f64(v).to_bits() as u64,
            DType::F32 => (v as f32).to_bits() as u64,
            _ => v.to_bits(),
        }).collect();
        let data = to_bytes(dtype, &bits);
        let out = round_trip(dtype, Encoding::Elf, &data, 100);
        check_elf(dtype, &data, &out);
    }

    #[test]
    fn lossless_round_trip_any_dtype(code in 0u8..15, raw in prop::collection::vec(any::<u8>(), 0..400), repeat in 0usize..4, chunk in 1u64..50) {
        let dtype = DType::all()[code as usize];
        let size = dtype.size();
        let mut data = raw[..raw.len() / size * size].to_vec();
        // make repeats likely for DE
        for _ in 0..repeat { let copy = data.clone(); data.extend_from_slice(&copy); }
        for enc in [Encoding::Raw, Encoding::De, Encoding::FloatPlanes, Encoding::BytePlanes] {
            if enc.applies_to(dtype) {
                prop_assert_eq!(round_trip(dtype, enc, &data, chunk), data.clone());
            }
        }
    }
}
