//! Property: whatever the writer accepts, the reader opens, verifies and decodes back:
//! bit-exact where the stated bound is 0, within it (outliers exact) where ELF was used.
//! Names, shapes, dtypes, encodings, chunk lengths, duplicates and metadata are arbitrary;
//! the writer may refuse an input, but never write a file the reader rejects. The same for
//! collections written against a base model (member paths, twins, delta encodings).

use elv::{Choice, DType, Encoding, Reader, WriteOptions, Writer};
use elv_core::engine::dtype::compare_floats;
use elv_core::engine::elf;
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
            prop_assert_eq!(r.raw_metadata(), &meta[..]);
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

/// A base model in memory, for the collection property.
struct MapBase(std::collections::HashMap<String, (DType, Vec<u64>, Vec<u8>)>);

impl elv::Base for MapBase {
    fn name(&self) -> &str {
        "props"
    }
    fn twin(&self, name: &str) -> Option<(DType, Vec<u64>)> {
        self.0.get(name).map(|t| (t.0, t.1.clone()))
    }
    fn read(&self, name: &str) -> elv::Result<Vec<u8>> {
        Ok(self.0.get(name).map(|t| t.2.clone()).unwrap_or_default())
    }
}

/// A member of a collection: a path (sometimes one the format refuses), and either a file's
/// bytes or a safetensors member's tensors.
fn member() -> impl Strategy<Value = (String, Option<Vec<u8>>, Vec<Case>)> {
    (
        // Mostly paths a folder can have, sometimes one the format refuses.
        prop_oneof![
            4 => "[a-z]{1,4}(/[a-z]{1,3})?",
            1 => "(\\.\\./)?[a-z.\\\\:]{0,4}(/[a-z.]{0,3})?",
        ],
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        prop::collection::vec(case(), 0..3),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// The same property for collections written against a base: members with arbitrary
    /// paths (the writer refuses those that could leave the folder), tensors whose twins the
    /// base holds changed, unchanged or in another shape, and delta encodings asked for
    /// explicitly.
    #[test]
    fn whatever_the_collection_writer_accepts_round_trips_against_its_base(
        members in prop::collection::vec(member(), 0..5),
        twin_mode in prop::collection::vec(0u8..4, 16),
        chunk_len in 1u64..40,
        lossless in any::<bool>(),
    ) {
        // Twins: 0 none, 1 unchanged, 2 changed, 3 another shape.
        let mut base = std::collections::HashMap::new();
        let all: Vec<&Case> = members.iter().flat_map(|m| m.2.iter()).collect();
        for (k, c) in all.iter().enumerate() {
            let mut data = c.data.clone();
            match twin_mode[k % twin_mode.len()] {
                1 => {}
                2 => data.iter_mut().step_by(3).for_each(|b| *b ^= 1),
                3 => { base.insert(c.name.clone(), (c.dtype, vec![c.shape.iter().product::<u64>() + 1], data)); continue }
                _ => continue,
            }
            base.insert(c.name.clone(), (c.dtype, c.shape.clone(), data));
        }
        let base: std::sync::Arc<dyn elv::Base> = std::sync::Arc::new(MapBase(base));
        let opts = WriteOptions { chunk_len, lossless, ..WriteOptions::default() };
        let layout = elv::Layout { collection: true, base: Some(base.clone()) };
        let mut w = Writer::with_layout(Vec::new(), opts, layout).unwrap();
        // Per accepted member: its path, and the tensors accepted in it.
        let mut kept: Vec<(String, Vec<(Case, u8)>)> = Vec::new();
        for (k, (path, file, tensors)) in members.iter().enumerate() {
            match file {
                Some(bytes) => {
                    if let Ok(r) = w.add_file(path, bytes) {
                        let c = Case { name: path.clone(), dtype: DType::U8, shape: vec![bytes.len() as u64], data: bytes.clone(), choice: Choice::Auto };
                        kept.push((path.clone(), vec![(c, r.error_bound_log2)]));
                    }
                }
                None => {
                    if w.begin_safetensors_member(path, "{}").is_err() {
                        continue;
                    }
                    let mut accepted = Vec::new();
                    for (j, c) in tensors.iter().enumerate() {
                        let choice = match (k + j) % 4 {
                            0 => Choice::Exact(Encoding::Delta),
                            1 => Choice::Exact(Encoding::ElfDelta),
                            _ => c.choice,
                        };
                        if let Ok(r) = w.add_tensor(&c.name, c.dtype, &c.shape, &c.data, choice) {
                            accepted.push((c.clone(), r.error_bound_log2));
                        }
                    }
                    kept.push((path.clone(), accepted));
                }
            }
        }
        let file = match w.finish() {
            Ok(f) => f,
            Err(e) => return Err(TestCaseError::fail(format!("finish refused: {e}"))),
        };
        let r = Reader::from_bytes(file).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let r = r.with_shared_base(base);
        r.verify().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let paths: Vec<&str> = r.members().iter().map(|m| m.path.as_str()).collect();
        let want: Vec<&str> = kept.iter().map(|k| k.0.as_str()).collect();
        prop_assert_eq!(paths, want);
        for (m, (_, tensors)) in kept.iter().enumerate() {
            prop_assert_eq!(r.members()[m].tensors.len(), tensors.len());
            for (c, bound) in tensors {
                let t = r.get_in(m, &c.name).ok_or_else(|| TestCaseError::fail("tensor missing"))?;
                prop_assert_eq!((t.dtype(), t.shape()), (c.dtype, &c.shape[..]));
                prop_assert_eq!(t.error_bound_log2(), *bound);
                let out = t.to_vec().map_err(|e| TestCaseError::fail(e.to_string()))?;
                within_bound(c.dtype, *bound, &c.data, &out).map_err(TestCaseError::fail)?;
            }
        }
    }
}
