//! Property: whatever the writer accepts, the reader opens, verifies and decodes back:
//! bit-exact where the stated bound is 0, within it (outliers exact) where ELF was used.
//! Names, shapes, dtypes, encodings, chunk lengths, duplicates and metadata are arbitrary;
//! the writer may refuse an input, but never write a file the reader rejects.

use elv::{Choice, DType, Encoding, Reader, WriteOptions, Writer};
use elv_core::{compare_floats, elf};
use proptest::prelude::*;

const ENCODINGS: [Encoding; 5] = [
    Encoding::Raw,
    Encoding::Elf,
    Encoding::De,
    Encoding::FloatPlanes,
    Encoding::BytePlanes,
];

#[derive(Clone, Debug)]
struct Case {
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    data: Vec<u8>,
    choice: Choice,
}

fn case() -> impl Strategy<Value = Case> {
    (
        "[a-z.é_\\-/0-9]{0,12}",
        0..DType::all().len(),
        prop::collection::vec(0u64..6, 0..4),
        any::<u64>(),
        prop::option::of(0..ENCODINGS.len()),
        any::<bool>(),
    )
        .prop_map(|(name, d, shape, seed, enc, repeat)| {
            let dtype = DType::all()[d];
            let n = shape.iter().product::<u64>() as usize * dtype.size();
            let mut x = seed | 1;
            let data = (0..n)
                .map(|i| {
                    if repeat && i % 3 != 0 {
                        return (i % 5) as u8;
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly small magnitudes, so ELF has in-range values to work on.
                    if i % dtype.size() == dtype.size() - 1 {
                        (x as u8) & 0xbf
                    } else {
                        x as u8
                    }
                })
                .collect();
            let choice = match enc {
                Some(e) => Choice::Exact(ENCODINGS[e]),
                None => Choice::Auto,
            };
            Case {
                name,
                dtype,
                shape,
                data,
                choice,
            }
        })
}

/// Checks decoded `out` against `input` under the tensor's stated bound.
fn within_bound(dtype: DType, bound_log2: u8, input: &[u8], out: &[u8]) -> Result<(), String> {
    if bound_log2 == 0 {
        return if input == out {
            Ok(())
        } else {
            Err("not bit-exact".into())
        };
    }
    let fmt = dtype.float_format().ok_or("a bound on a non-float dtype")?;
    let bound = 2f64.powi(-i32::from(bound_log2));
    let size = dtype.size();
    for (x, y) in input.chunks_exact(size).zip(out.chunks_exact(size)) {
        let bits = x.iter().rev().fold(0u64, |a, &b| a << 8 | u64::from(b));
        if elf::encode_value(bits, fmt).is_none() {
            if x != y {
                return Err("outlier not exact".into());
            }
        } else {
            let (e, _) = compare_floats(dtype, x, y).ok_or("compare")?;
            if e > bound {
                return Err(format!("error {e} above {bound}"));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn whatever_the_writer_accepts_round_trips(
        cases in prop::collection::vec(case(), 0..6),
        meta in prop::collection::vec(("[a-z]{0,6}", "[ -~]{0,10}"), 0..4),
        chunk_len in 1u64..40,
        lossless in any::<bool>(),
        elf_half in any::<bool>(),
    ) {
        let opts = WriteOptions { chunk_len, lossless, elf_half, ..WriteOptions::default() };
        let mut w = Writer::new(Vec::new(), opts).unwrap();
        let mut kept: Vec<(Case, u8)> = Vec::new();
        for c in &cases {
            // A refusal is allowed (a duplicate name, an encoding the dtype lacks); a
            // refused tensor must leave the writer usable and the file without it.
            if let Ok(r) = w.add_tensor(&c.name, c.dtype, &c.shape, &c.data, c.choice) {
                prop_assert!(!lossless || c.choice != Choice::Auto || r.error_bound_log2 == 0);
                kept.push((c.clone(), r.error_bound_log2));
            }
        }
        let meta: Vec<(String, String)> = meta.into_iter().collect();
        let meta_ok = w.set_metadata(meta.clone()).is_ok();
        let file = match w.finish() {
            Ok(f) => f,
            Err(e) => return Err(TestCaseError::fail(format!("finish refused: {e}"))),
        };
        let r = Reader::from_bytes(file).map_err(|e| TestCaseError::fail(e.to_string()))?;
        r.verify().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.len(), kept.len());
        if meta_ok {
            prop_assert_eq!(r.metadata(), &meta[..]);
        }
        for (c, bound) in &kept {
            let t = r.get(&c.name).ok_or_else(|| TestCaseError::fail("tensor missing"))?;
            prop_assert_eq!((t.dtype(), t.shape()), (c.dtype, &c.shape[..]));
            prop_assert_eq!(t.error_bound_log2(), *bound);
            let out = t.to_vec().map_err(|e| TestCaseError::fail(e.to_string()))?;
            within_bound(c.dtype, *bound, &c.data, &out).map_err(TestCaseError::fail)?;
        }
    }
}
