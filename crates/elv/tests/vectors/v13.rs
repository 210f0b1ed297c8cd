//! The 1.3 vectors: portable member paths (§10.1), and the check orders SPEC.md 1.3 fixes
//! (§2.4), each shown by a file with two faults where the order decides which is reported.

use super::v12::{collection_file, delta_file, patch};
use super::*;

/// The 1.3 vectors.
pub fn all() -> Vec<Vector> {
    let mut v = Vec::new();
    let folder = collection_file();
    let mt = kind::MEMBER_TABLE;
    for (name, note, from, to) in [
        (
            "member_path_device.elv",
            "member path aux.js.json: a Windows device name before a dot",
            &b"config.json"[..],
            &b"aux.js.json"[..],
        ),
        (
            "member_path_trailing_dot.elv",
            "member path unuse.: Windows drops a trailing dot",
            b"unused",
            b"unuse.",
        ),
        (
            "member_path_trailing_space.elv",
            "member path 'unuse ': Windows drops a trailing space",
            b"unused",
            b"unuse ",
        ),
        (
            "member_path_reserved_char.elv",
            "member path config?json: a character Windows refuses",
            b"config.json",
            b"config?json",
        ),
        (
            "member_path_c1_control.elv",
            "member path unu\\u{85}d: a C1 control character (NEL)",
            b"unused",
            "unu\u{85}d".as_bytes(),
        ),
        (
            "member_path_case_twin.elv",
            "members MODEL-00002-of-00002.safetensors and model-00002-of-00002.safetensors: one file on a case-insensitive system",
            b"model-00001-of-00002",
            b"MODEL-00002-of-00002",
        ),
    ] {
        v.push(invalid(name, note, patch(&folder, mt, from, to), ErrorKind::BadPath));
    }
    let spec = base_spec();
    // §2.4: a table header's reserved field is checked before its count.
    let p = Parts::new(3, &spec);
    let mut table = table_to_bytes(&p.tensors);
    table[..4].copy_from_slice(&1000u32.to_le_bytes());
    table[4] = 1;
    v.push(invalid(
        "order_reserved_before_count.elv",
        "a tensor table whose reserved u32 is 1 and whose count (1000) its bytes cannot hold",
        p.build_with_table(table),
        ErrorKind::ReservedNonZero,
    ));
    // §2.4, §11: each tensor record is checked whole (its chunk limit included) before the
    // next one is read.
    let two: Vec<Spec> = vec![
        spec[0].clone(),
        ("v", DType::I32, vec![2], vec![0; 8], Encoding::Raw, 2),
    ];
    let mut p = Parts::new(3, &two);
    p.tensors[0].dtype = DType::U8;
    p.tensors[0].shape = vec![1 << 31];
    p.tensors[0].chunk_len = 1 << 31;
    p.tensors[1].encoding = Encoding::Elf;
    v.push(invalid(
        "order_chunk_limit_per_record.elv",
        "record 0 over the chunk limit, record 1 ELF on I32: the first record's fault is reported",
        p.build(),
        ErrorKind::LimitExceeded,
    ));
    // §9.1: a stored-against-the-base encoding in a file without a base table.
    let mut p = Parts::new(3, &spec);
    p.tensors[0].encoding = Encoding::BaseRef;
    p.tensors[0].chunk_len = 0;
    p.streams.clear();
    v.push(invalid(
        "base_ref_without_base_table.elv",
        "a tensor with encoding base (6) in a file with no BASE feature and no base table",
        p.build(),
        ErrorKind::BadBase,
    ));
    // §9.1: a base that cannot be read serves no twin.
    let mut unreadable = invalid(
        "delta_base_unreadable.elv",
        "valid/delta_against_base.elv decoded against invalid/header_only.elv, a base that cannot be read",
        delta_file(&[8, 8]).0,
        ErrorKind::BaseMissing,
    );
    unreadable.base = Some("invalid/header_only.elv");
    v.push(unreadable);
    v
}
