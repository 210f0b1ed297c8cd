//! The 1.4 vectors: the dtypes 1.4 adds (§6.2), the sub-byte ones stored as the bytes their
//! values fill.

use super::*;

/// The dtypes of codes 15–21 (1.4's).
fn new_dtypes() -> &'static [DType] {
    DType::all().get(15..).unwrap_or_default()
}

fn bytes_for(dtype: DType, shape: &[u64], seed: u64) -> Vec<u8> {
    let n = elv_core::engine::dtype::tensor_bytes(dtype, shape).unwrap();
    let mut r = Rng(seed);
    (0..n).map(|_| (r.next() >> 33) as u8).collect()
}

/// The 1.4 vectors.
pub fn all() -> Vec<Vector> {
    let mut v = Vec::new();
    assert_eq!(new_dtypes().len(), 7, "codes 15-21");
    let raw: Vec<Spec> = new_dtypes()
        .iter()
        .enumerate()
        .map(|(k, &d)| {
            let shape = vec![2, 4];
            let data = bytes_for(d, &shape, 300 + k as u64);
            (d.name(), d, shape, data, Encoding::Raw, 1 << 20)
        })
        .collect();
    v.push(valid(
        "raw_dtypes_1_4.elv",
        "one raw tensor of each dtype 1.4 adds (F4: 4 bytes, F6: 6 bytes for 8 values)",
        plain_file(3, &raw, &[]),
        &raw,
        &[],
    ));
    // C64 is an 8-byte dtype: DE and byte planes apply; F4 chunks count bytes.
    let c64 = bytes_for(DType::C64, &[64], 310);
    let mut repeats = c64.clone();
    repeats.extend_from_slice(&c64[..256]);
    let f4 = bytes_for(DType::F4, &[6, 50], 311);
    let packed: Vec<Spec> = vec![
        (
            "c64_bytes",
            DType::C64,
            vec![64],
            c64,
            Encoding::BytePlanes,
            16,
        ),
        ("c64_de", DType::C64, vec![96], repeats, Encoding::De, 40),
        ("f4_chunks", DType::F4, vec![6, 50], f4, Encoding::Raw, 64),
    ];
    v.push(valid(
        "dtypes_1_4_encoded.elv",
        "C64 as byte planes and as DE; F4 of 300 values (150 bytes) in chunks of 64 bytes",
        plain_file(3, &packed, &[]),
        &packed,
        &[],
    ));
    for (name, note, dtype, shape) in [
        (
            "f4_values_not_whole_bytes.elv",
            "an F4 tensor of 3 values: 12 bits do not fill whole bytes",
            DType::F4,
            vec![3u64],
        ),
        (
            "f6_values_not_whole_bytes.elv",
            "an F6_E2M3 tensor of 2 values: 12 bits do not fill whole bytes",
            DType::F6E2M3,
            vec![2],
        ),
    ] {
        let mut p = Parts::new(
            3,
            &[("t", DType::U8, vec![2], vec![1, 2], Encoding::Raw, 2)],
        );
        p.tensors[0].dtype = dtype;
        p.tensors[0].shape = shape;
        v.push(invalid(name, note, p.build(), ErrorKind::Malformed));
    }
    let mut p = Parts::new(
        3,
        &[("t", DType::U8, vec![8], vec![0; 8], Encoding::Raw, 8)],
    );
    p.tensors[0].dtype = DType::C64;
    p.tensors[0].shape = vec![1];
    p.tensors[0].encoding = Encoding::Elf;
    v.push(invalid(
        "elf_on_c64.elv",
        "ELF on a C64 tensor: a complex dtype is not a float dtype",
        p.build(),
        ErrorKind::UnknownEncoding,
    ));
    v
}
