//! Tests of the base deltas (SPEC.md §7.7, §7.8): round trips, the ELF bound, edge values.
#![allow(clippy::indexing_slicing)]
use super::*;
use crate::dtype::compare_floats;
use alloc::vec;
use alloc::vec::Vec;

/// A xorshift stream, for values that are not all nice.
fn noise(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Bit patterns every float format must survive: ±0, ±1, the largest value below 1,
/// subnormals, the smallest normal, ±inf, NaNs with payloads, and values near 2^-(M+1).
fn edge_values(dtype: DType) -> Vec<u64> {
    let fmt = dtype.float_format().unwrap();
    let m = fmt.man_bits;
    let e_bits = fmt.exp_bits;
    let sign = 1u64 << (e_bits + m);
    let one = fmt.bias() << m;
    let below_one = one - 1;
    let inf = ((1u64 << e_bits) - 1) << m;
    let half_ulp = (fmt.bias() - u64::from(m) - 1) << m; // 2^-(M+1)
    let mut v = vec![
        0,
        sign,
        one,
        one | sign,
        below_one,
        below_one | sign,
        1,
        1 | sign,
        (1 << m) - 1,
        1 << m,
        inf,
        inf | sign,
        inf | 1,
        inf | (1 << (m - 1)) | sign | 3,
        half_ulp,
        half_ulp + 1,
        half_ulp - 1,
        half_ulp | sign,
        (fmt.bias() - 1) << m, // 0.5
        ((fmt.bias() + 3) << m) | 5,
    ];
    let mut next = noise(7);
    v.extend((0..64).map(|_| next() & (sign | (sign - 1))));
    v
}

fn to_bytes(dtype: DType, bits: &[u64]) -> Vec<u8> {
    let size = dtype.size();
    let mut out = vec![0u8; bits.len() * size];
    for (o, &b) in out.chunks_exact_mut(size).zip(bits) {
        store_le(b, o);
    }
    out
}

/// A base and a fine-tune like real ones: weights in (-1, 1) moved by small updates, some
/// crossing zero, plus every edge value on either side.
fn pair(dtype: DType, n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut next = noise(dtype.code().into());
    let mut base = Vec::with_capacity(n);
    let mut ft = Vec::with_capacity(n);
    for i in 0..n {
        let w = ((next() % 20001) as f64 - 10000.0) / 10000.0 * 0.2;
        let u = ((next() % 2001) as f64 - 1000.0) * 1e-7;
        let (b, f) = if i % 9 == 0 { (w, w) } else { (w, w + u) };
        base.push(b);
        ft.push(f);
    }
    let mut b = float_bits(dtype, &base);
    let mut f = float_bits(dtype, &ft);
    let edges = edge_values(dtype);
    b.extend(edges.iter().copied());
    f.extend(edges.iter().rev().copied());
    b.extend(edges.iter().copied());
    f.extend(edges.iter().copied());
    (to_bytes(dtype, &b), to_bytes(dtype, &f))
}

fn float_bits(dtype: DType, v: &[f64]) -> Vec<u64> {
    v.iter()
        .map(|&x| match dtype {
            DType::F64 => x.to_bits(),
            DType::F32 => u64::from((x as f32).to_bits()),
            DType::F16 => u64::from(half::f16::from_f64(x).to_bits()),
            _ => u64::from(half::bf16::from_f64(x).to_bits()),
        })
        .collect()
}

const FLOATS: [DType; 4] = [DType::F16, DType::BF16, DType::F32, DType::F64];

#[test]
fn lossless_delta_round_trips_bit_exactly_in_every_dtype() {
    for &dtype in DType::all() {
        let (base, ft) = if dtype.float_format().is_some() {
            pair(dtype, 3000)
        } else {
            let mut next = noise(3);
            let b: Vec<u8> = (0..dtype.size() * 500).map(|_| next() as u8).collect();
            let f: Vec<u8> = b
                .iter()
                .map(|&x| x.wrapping_add((next() % 3) as u8))
                .collect();
            (b, f)
        };
        let n = ft.len() / dtype.size();
        let streams = encode_delta(dtype, &ft, Some(&base)).unwrap();
        assert_eq!(streams.len(), stream_count(dtype));
        let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
        let mut out = vec![0u8; ft.len()];
        decode_delta(dtype, n, &refs, Some(&base), &mut out).unwrap();
        assert_eq!(out, ft, "{dtype:?}");
    }
}

#[test]
fn unchanged_values_cost_zero_bytes_and_small_updates_stay_in_the_low_planes() {
    let (base, ft) = pair(DType::F32, 4000);
    let streams = encode_delta(DType::F32, &ft[..16000], Some(&base[..16000])).unwrap();
    // The top plane of every class holds only the zigzag's high byte: zero for updates of
    // a few ulps, the case of all but the zero crossings.
    let top_nonzero: usize = (0..FLOAT_CLASSES)
        .map(|c| streams[c * 4].iter().filter(|&&b| b != 0).count())
        .sum();
    assert!(top_nonzero < 4000 / 20, "{top_nonzero}");
}

#[test]
fn elf_delta_decodes_to_exactly_what_elf_alone_gives() {
    for dtype in FLOATS {
        let (base, ft) = pair(dtype, 3000);
        let n = ft.len() / dtype.size();
        let streams = encode_elf_delta(dtype, &ft, Some(&base)).unwrap();
        let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
        let mut out = vec![0u8; ft.len()];
        decode_elf_delta(dtype, n, &refs, Some(&base), &mut out).unwrap();

        let elf_streams = elf::encode_chunk(dtype, &ft).unwrap();
        let elf_refs: Vec<&[u8]> = elf_streams.iter().map(|s| s.as_slice()).collect();
        let mut elf_out = vec![0u8; ft.len()];
        elf::decode_chunk(dtype, n, &elf_refs, &mut elf_out).unwrap();
        let size = dtype.size();
        for (i, (a, b)) in out.chunks(size).zip(elf_out.chunks(size)).enumerate() {
            // ELF alone and the delta agree bit for bit, −0 and NaN payloads included.
            assert_eq!(a, b, "{dtype:?} value {i}");
        }
    }
}

#[test]
fn elf_delta_keeps_the_bound_and_outliers_exact_on_edge_values() {
    for dtype in FLOATS {
        let fmt = dtype.float_format().unwrap();
        let (base, ft) = pair(dtype, 500);
        let n = ft.len() / dtype.size();
        let streams = encode_elf_delta(dtype, &ft, Some(&base)).unwrap();
        let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
        let mut out = vec![0u8; ft.len()];
        decode_elf_delta(dtype, n, &refs, Some(&base), &mut out).unwrap();
        let bound = 2f64.powi(-(fmt.man_bits as i32 + 1));
        let size = dtype.size();
        for (a, b) in ft.chunks(size).zip(out.chunks(size)) {
            let bits = load_le(a);
            if elf_delta_outlier(bits, fmt) {
                assert_eq!(a, b, "{dtype:?}: an outlier is stored exactly");
                continue;
            }
            let (err, _) = compare_floats(dtype, a, b).unwrap();
            assert!(err <= bound, "{dtype:?} {bits:#x}: error {err} > {bound}");
            // No non-zero value decodes to zero, and −0 stays −0.
            assert_eq!(load_le(b) == 0, bits == 0);
        }
    }
}

#[test]
fn missing_or_short_base_is_a_clear_error() {
    let (base, ft) = pair(DType::F32, 100);
    for enc in [encode_delta, encode_elf_delta] {
        assert_eq!(
            enc(DType::F32, &ft, None).unwrap_err().kind(),
            ErrorKind::BaseMissing
        );
        assert_eq!(
            enc(DType::F32, &ft, Some(&base[4..])).unwrap_err().kind(),
            ErrorKind::BaseMismatch
        );
    }
}

#[test]
fn delta_planes_of_the_wrong_length_are_malformed() {
    let (base, ft) = pair(DType::F32, 1000);
    let n = ft.len() / 4;
    let mut streams = encode_delta(DType::F32, &ft, Some(&base)).unwrap();
    let full = streams.iter().position(|s| !s.is_empty()).unwrap();
    streams[full].pop();
    let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
    let mut out = vec![0u8; ft.len()];
    let e = decode_delta(DType::F32, n, &refs, Some(&base), &mut out).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed);
}

#[test]
fn elf_delta_difference_out_of_range_is_malformed() {
    // One value 0.5 against a base of 0.5: the difference −2^M would give t = 2^M.
    let dtype = DType::F32;
    let base = 0.5f32.to_le_bytes();
    let ft = 0.5f32.to_le_bytes();
    let mut streams = encode_elf_delta(dtype, &ft, Some(&base)).unwrap();
    let want = zigzag(
        (-(1i64 << 23) - predict(u64::from(0.5f32.to_bits()), F32_FMT)) as u64 & 0xff_ffff,
        24,
    );
    let planes = planes::split(&[want], 24);
    streams.truncate(1);
    streams.extend(planes);
    let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
    let mut out = [0u8; 4];
    let e = decode_elf_delta(dtype, 1, &refs, Some(&base), &mut out).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed);
}

const F32_FMT: FloatFormat = FloatFormat {
    exp_bits: 8,
    man_bits: 23,
};

#[test]
fn classes_follow_the_base_exponent() {
    let c = |x: f32| class_of(u64::from(x.to_bits()), F32_FMT);
    assert_eq!(c(0.75), 0);
    assert_eq!(c(-3.0), 0);
    assert_eq!(c(f32::NAN), 0);
    assert_eq!(c(0.3), 1);
    assert_eq!(c(0.01), 6); // 2^-7 <= 0.01 < 2^-6: e = 120
    assert_eq!(c(0.0), 15);
    assert_eq!(c(1e-30), 15);
}

#[test]
fn zigzag_round_trips_at_every_width() {
    for width in [8u32, 11, 16, 24, 32, 53, 64] {
        for d in [
            0u64,
            1,
            low_mask(width),
            low_mask(width) - 1,
            1 << (width - 1),
        ] {
            let d = d & low_mask(width);
            assert_eq!(unzigzag(zigzag(d, width), width), d, "{width} {d}");
        }
    }
}

#[test]
fn the_f32_paths_match_the_definition() {
    // The fast f32 encoder against §7.8 applied value by value with the integer definition
    // of §7.2.1, on updated weights and every edge value (as value and as base).
    let (base, ft) = pair(DType::F32, 5000);
    let fast = encode_elf_delta(DType::F32, &ft, Some(&base)).unwrap();
    // The definition, value by value.
    let fmt = DType::F32.float_format().unwrap();
    let mut codes = Vec::new();
    let mut positions = Vec::new();
    for (i, (v, b)) in ft.chunks(4).zip(base.chunks(4)).enumerate() {
        let bits = load_le(v);
        match elf::encode_value(bits, fmt) {
            Some(code) if !elf_delta_outlier(bits, fmt) => {
                let t = (code & 0x7f_ffff) as i64;
                let signed = if code >> 23 == 1 { -t } else { t };
                let d = signed.wrapping_sub(predict(load_le(b), fmt)) as u64 & 0xff_ffff;
                codes.push(zigzag(d, 24));
            }
            _ => positions.push(i as u64),
        }
    }
    let values: Vec<u8> = positions
        .iter()
        .flat_map(|&p| ft[p as usize * 4..p as usize * 4 + 4].to_vec())
        .collect();
    let mut want = vec![outlier_stream(&positions, &values)];
    want.extend(planes::split(&codes, 24));
    assert_eq!(fast, want);
    for &b in &edge_values(DType::F32) {
        let b32 = b as u32;
        assert_eq!(i64::from(predict_f32(b32)), predict(b, fmt), "{b:#x}");
    }
    // The fast decoder gives ELF's output.
    let refs: Vec<&[u8]> = fast.iter().map(|s| s.as_slice()).collect();
    let mut out = vec![0u8; ft.len()];
    decode_elf_delta(DType::F32, ft.len() / 4, &refs, Some(&base), &mut out).unwrap();
    let elf_streams = elf::encode_chunk(DType::F32, &ft).unwrap();
    let elf_refs: Vec<&[u8]> = elf_streams.iter().map(|s| s.as_slice()).collect();
    let mut elf_out = vec![0u8; ft.len()];
    elf::decode_chunk(DType::F32, ft.len() / 4, &elf_refs, &mut elf_out).unwrap();
    assert_eq!(out, elf_out);
}

#[test]
fn the_f32_delta_path_matches_the_generic_one() {
    let (base, ft) = pair(DType::F32, 5000);
    let fast = encode_delta(DType::F32, &ft, Some(&base)).unwrap();
    // The generic path, through a 4-byte dtype with the same classes computed by hand.
    let fmt = DType::F32.float_format().unwrap();
    let mut want = vec![Vec::new(); 64];
    for (v, b) in ft.chunks(4).zip(base.chunks(4)) {
        let (v, b) = (load_le(v), load_le(b));
        let z = zigzag(v.wrapping_sub(b) & 0xffff_ffff, 32);
        let c = class_of(b, fmt);
        for j in 0..4 {
            want[c * 4 + j].push((z >> (24 - 8 * j)) as u8);
        }
    }
    assert_eq!(fast, want);
}
