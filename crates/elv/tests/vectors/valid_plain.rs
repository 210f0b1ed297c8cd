//! The conformance vectors of one family: valid files of plain sections: every dtype raw, ELF, planes, bytes, DE, shapes, zstd.

use super::*;

/// Valid files of plain sections: every dtype raw, ELF, planes, bytes, DE, shapes, zstd.
pub(super) fn valid_plain(v: &mut Vec<Vector>) {
    let no_meta: Vec<(String, String)> = Vec::new();
    // ---- valid ----
    v.push(valid(
        "empty_file.elv",
        "smallest valid file: no tensors (annotated in SPEC.md §14.2)",
        plain_file(3, &[], &no_meta),
        &[],
        &no_meta,
    ));

    let mut raw_all: Vec<Spec> = Vec::new();
    // The 1.0 dtypes (codes 0–14); the 1.4 ones have their own vector.
    for (k, d) in DType::all().iter().take(15).enumerate() {
        let n = 6usize;
        let mut r = Rng(100 + k as u64);
        let data: Vec<u8> = (0..n * d.size()).map(|_| (r.next() >> 33) as u8).collect();
        let data = if *d == DType::Bool {
            data.iter().map(|b| b & 1).collect()
        } else {
            data
        };
        raw_all.push((d.name(), *d, vec![2, 3], data, Encoding::Raw, 1 << 20));
    }
    v.push(valid(
        "raw_all_dtypes.elv",
        "one raw tensor of every dtype of codes 0-14",
        plain_file(3, &raw_all, &no_meta),
        &raw_all,
        &no_meta,
    ));

    for (name, d, seed) in [
        ("elf_f32.elv", DType::F32, 1u64),
        ("elf_f16.elv", DType::F16, 2),
        ("elf_bf16.elv", DType::BF16, 3),
        ("elf_f64.elv", DType::F64, 4),
    ] {
        let spec: Vec<Spec> = vec![(
            "w",
            d,
            vec![10, 10],
            weights(d, 100, seed, true),
            Encoding::Elf,
            64,
        )];
        v.push(valid(name, "ELF in two chunks, with ±0, subnormals, ±1, the largest value below 1, ±inf, NaN and |p|>1 outliers", plain_file(3, &spec, &no_meta), &spec, &no_meta));
    }
    for (name, d, seed) in [
        ("planes_f32.elv", DType::F32, 5u64),
        ("planes_f16.elv", DType::F16, 6),
        ("planes_bf16.elv", DType::BF16, 7),
        ("planes_f64.elv", DType::F64, 8),
    ] {
        let spec: Vec<Spec> = vec![(
            "w",
            d,
            vec![5, 20],
            weights(d, 100, seed, true),
            Encoding::FloatPlanes,
            40,
        )];
        v.push(valid(
            name,
            "lossless float planes in three chunks, edge values included",
            plain_file(3, &spec, &no_meta),
            &spec,
            &no_meta,
        ));
    }
    for (name, d, seed) in [
        ("de_f32.elv", DType::F32, 9u64),
        ("de_f16.elv", DType::F16, 10),
        ("de_f64.elv", DType::F64, 11),
    ] {
        let spec: Vec<Spec> = vec![("w", d, vec![120], repeats(d, 120, seed), Encoding::De, 50)];
        v.push(valid(
            name,
            "DE over values that repeat, three chunks",
            plain_file(3, &spec, &no_meta),
            &spec,
            &no_meta,
        ));
    }
    for (name, d, seed) in [
        ("bytes_f16.elv", DType::F16, 14u64),
        ("bytes_f32.elv", DType::F32, 15),
    ] {
        let spec: Vec<Spec> = vec![(
            "w",
            d,
            vec![100],
            weights(d, 100, seed, true),
            Encoding::BytePlanes,
            64,
        )];
        v.push(valid(
            name,
            "lossless byte planes in two chunks, edge values included",
            plain_file(3, &spec, &no_meta),
            &spec,
            &no_meta,
        ));
    }
    let u16s: Vec<u8> = (0..50u16).flat_map(|i| (i * 977).to_le_bytes()).collect();
    let bytes_int: Vec<Spec> = vec![("ids", DType::U16, vec![50], u16s, Encoding::BytePlanes, 50)];
    v.push(valid(
        "bytes_u16.elv",
        "byte planes on an integer tensor",
        plain_file(3, &bytes_int, &no_meta),
        &bytes_int,
        &no_meta,
    ));
    let i32s: Vec<u8> = (0..64i32)
        .map(|i| i % 7)
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let de_int: Vec<Spec> = vec![("ids", DType::I32, vec![64], i32s, Encoding::De, 64)];
    v.push(valid(
        "de_i32.elv",
        "DE on an integer tensor",
        plain_file(3, &de_int, &no_meta),
        &de_int,
        &no_meta,
    ));

    let shapes: Vec<Spec> = vec![
        (
            "empty",
            DType::F32,
            vec![0, 4],
            vec![],
            Encoding::Elf,
            1 << 20,
        ),
        (
            "scalar",
            DType::F32,
            vec![],
            0.125f32.to_le_bytes().to_vec(),
            Encoding::Raw,
            1 << 20,
        ),
        (
            "scalar_elf",
            DType::F16,
            vec![],
            half::f16::from_f32(-0.3).to_le_bytes().to_vec(),
            Encoding::Elf,
            1 << 20,
        ),
        (
            "zero_dim",
            DType::I64,
            vec![3, 0, 2],
            vec![],
            Encoding::Raw,
            1 << 20,
        ),
    ];
    v.push(valid(
        "empty_and_scalar.elv",
        "empty tensors (no chunks, no streams) and rank-0 scalars",
        plain_file(3, &shapes, &no_meta),
        &shapes,
        &no_meta,
    ));

    let zspec: Vec<Spec> = vec![
        (
            "a",
            DType::F32,
            vec![300],
            weights(DType::F32, 300, 12, false),
            Encoding::FloatPlanes,
            1 << 20,
        ),
        (
            "b",
            DType::F32,
            vec![300],
            weights(DType::F32, 300, 13, true),
            Encoding::Elf,
            128,
        ),
        (
            "c",
            DType::U8,
            vec![256],
            vec![7u8; 256],
            Encoding::Raw,
            1 << 20,
        ),
    ];
    let zmeta = vec![s("format", "pt")];
    let zbytes = {
        let mut w = Writer::new(
            Vec::new(),
            WriteOptions {
                chunk_len: 1 << 20,
                ..WriteOptions::default()
            },
        )
        .unwrap();
        for (n, d, sh, data, e, ch) in &zspec {
            w.set_chunk_len(*ch);
            w.add_tensor(n, *d, sh, data, elv::Choice::Exact(*e))
                .unwrap();
        }
        w.set_metadata(zmeta.clone()).unwrap();
        w.finish().unwrap()
    };
    v.push(valid(
        "zstd_sections.elv",
        "streams and tables with codec zstd where it shrinks them",
        zbytes,
        &zspec,
        &zmeta,
    ));
}
