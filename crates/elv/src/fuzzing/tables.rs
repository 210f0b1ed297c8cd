//! The table targets: the member, base and dedup table parsers over fuzzed bytes, against a
//! fixed tensor table.

use super::fuzz_options;
use elv_core::engine::dedup;
use elv_core::{DType, Encoding, TensorInfo};

/// A tensor record of two values for the table targets.
fn fixture_tensor(name: &str, encoding: Encoding, dtype: DType) -> TensorInfo {
    TensorInfo {
        name: name.into(),
        dtype,
        shape: vec![2],
        encoding,
        error_bound_log2: 0,
        crc32: 7,
        chunk_len: 0,
        first_stream: 0,
        dedup_of: None,
    }
}

/// Four tensors the table targets refer to: raw, delta, U8 of rank 1, base reference.
fn table_fixture() -> Vec<TensorInfo> {
    let t = fixture_tensor;
    vec![
        t("a", Encoding::Raw, DType::F32),
        t("b", Encoding::Delta, DType::F32),
        t("c", Encoding::Raw, DType::U8),
        t("a", Encoding::BaseRef, DType::F32),
    ]
}

/// The member table parser: whatever it accepts tiles the tensors with valid paths.
pub fn member_table(data: &[u8]) {
    let tensors = table_fixture();
    if let Ok(members) =
        elv_core::engine::member::parse_table(data, &tensors, &fuzz_options().limits)
    {
        let mut next = 0;
        for m in &members {
            assert_eq!(m.tensors.start, next, "runs tile the table");
            next = m.tensors.end;
            elv_core::engine::member::check_path(&m.path).expect("only valid paths");
            assert!(!m.path.split('/').any(|c| c == ".." || c.is_empty()));
        }
        assert_eq!(next as usize, tensors.len());
    }
}

/// The base table parser: whatever it accepts names exactly the tensors stored against it.
pub fn base_table(data: &[u8]) {
    let tensors = table_fixture();
    if let Ok(t) = elv_core::engine::base::BaseTable::parse(data, &tensors, &fuzz_options().limits)
    {
        let named: Vec<usize> = t.entries.iter().map(|e| e.tensor as usize).collect();
        let needing: Vec<usize> = (0..tensors.len())
            .filter(|&i| tensors[i].encoding.needs_base())
            .collect();
        assert_eq!(named, needing);
    }
}

/// The dedup table: whatever it accepts resolves every dedup tensor to an original of the
/// same dtype and shape.
pub fn dedup_table(data: &[u8]) {
    let t = fixture_tensor;
    let mut tensors = vec![
        t("a", Encoding::Raw, DType::F32),
        t("b", Encoding::Dedup, DType::F32),
        t("c", Encoding::Dedup, DType::I8),
        t("d", Encoding::Dedup, DType::F32),
    ];
    if dedup::apply_table(Some(data), &mut tensors).is_ok() {
        for x in &tensors {
            if x.encoding == Encoding::Dedup {
                let c = &tensors[x.dedup_of.expect("every dedup tensor resolved") as usize];
                assert!(c.encoding != Encoding::Dedup && c.dtype == x.dtype && c.shape == x.shape);
            }
        }
    }
}
