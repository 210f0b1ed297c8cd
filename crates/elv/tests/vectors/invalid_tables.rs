//! The conformance vectors of one family: invalid files broken in their tables: shapes, the tensor table, the dedup table.

use super::*;

/// Invalid files broken in their tables: shapes, the tensor table, the dedup table.
pub(super) fn invalid_tables(v: &mut Vec<Vector>) {
    let base_spec = base_spec();
    let table_variant = |edit: &dyn Fn(&mut Vec<TensorInfo>)| {
        let mut p = Parts::new(3, &base_spec);
        edit(&mut p.tensors);
        p.build()
    };
    v.push(invalid(
        "huge_tensor.elv",
        "a tensor claiming 2^39 f32 values (2 TiB) in a tiny file",
        table_variant(&|t| t[0].shape = vec![1 << 39]),
        ErrorKind::LimitExceeded,
    ));
    v.push(invalid(
        "chunk_bytes_limit.elv",
        "a u8 tensor of 2^31 values in one 2^31-byte chunk, beyond the 2^25-byte chunk limit",
        table_variant(&|t| {
            t[0].dtype = DType::U8;
            t[0].shape = vec![1 << 31];
            t[0].chunk_len = 1 << 31;
        }),
        ErrorKind::LimitExceeded,
    ));
    v.push(invalid(
        "shape_overflow.elv",
        "dimensions whose product overflows 64 bits",
        table_variant(&|t| t[0].shape = vec![1 << 40, 1 << 40]),
        ErrorKind::LimitExceeded,
    ));
    // The shape product, left to right (SPEC.md §2.4): an overflow is an error even if a
    // later dimension is 0; a 0 first makes every later product 0.
    v.push(invalid(
        "shape_overflow_before_zero.elv",
        "dimensions [2^40, 2^40, 0]: the product overflows before the 0",
        table_variant(&|t| {
            t[0].shape = vec![1 << 40, 1 << 40, 0];
            t[0].chunk_len = 0;
        }),
        ErrorKind::LimitExceeded,
    ));
    let zspec0: Vec<Spec> = vec![(
        "z",
        DType::F32,
        vec![0, 1 << 40, 1 << 40],
        Vec::new(),
        Encoding::Raw,
        1,
    )];
    v.push(valid(
        "shape_zero_first.elv",
        "dimensions [0, 2^40, 2^40]: an empty tensor",
        plain_file(3, &zspec0, &[]),
        &zspec0,
        &[],
    ));
    // The tensor table's header: its reserved field, and a count its bytes cannot hold.
    let p = Parts::new(3, &base_spec);
    let mut table = table_to_bytes(&p.tensors);
    table[4] = 1;
    v.push(invalid(
        "table_header_reserved.elv",
        "the tensor table's reserved u32 is 1",
        p.build_with_table(table),
        ErrorKind::ReservedNonZero,
    ));
    let mut table = table_to_bytes(&p.tensors);
    table[..4].copy_from_slice(&1000u32.to_le_bytes());
    v.push(invalid(
        "table_shorter_than_count.elv",
        "a tensor table counting 1000 records in fewer than 8 + 26*1000 bytes",
        p.build_with_table(table),
        ErrorKind::Truncated,
    ));
    // A STREAM entry after the tensor table.
    let mut late = Parts::new(3, &base_spec);
    late.extra
        .push((kind::STREAM, true, StoredStream::plain(vec![0; 4])));
    v.push(invalid(
        "stream_after_table.elv",
        "a STREAM section after the tensor table in the index",
        late.build(),
        ErrorKind::Malformed,
    ));
    // A valid header and nothing else: no room for a trailer.
    v.push(invalid(
        "header_only.elv",
        "a valid 32-byte header and nothing after it",
        elv_core::engine::header::Header::new(3).to_bytes().to_vec(),
        ErrorKind::Truncated,
    ));
    // ELF outlier values cut short: the stream's length is known, so Malformed.
    let espec: Vec<Spec> = vec![(
        "e",
        DType::F32,
        vec![4],
        [0.5f32, 3.0, -0.25, 0.125]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Encoding::Elf,
        4,
    )];
    let mut ep = Parts::new(3, &espec);
    let s0 = &mut ep.streams[0];
    let short = s0.stored[..s0.stored.len() - 1].to_vec();
    *s0 = StoredStream::plain(short);
    v.push(invalid(
        "elf_outlier_values_short.elv",
        "an ELF outlier stream one byte short of its K values",
        ep.build(),
        ErrorKind::Malformed,
    ));

    v.push(invalid(
        "chunk_len_zero.elv",
        "a non-empty tensor with chunk length 0",
        table_variant(&|t| t[0].chunk_len = 0),
        ErrorKind::Malformed,
    ));
    v.push(invalid(
        "wrong_error_bound.elv",
        "a raw tensor claiming an error bound",
        table_variant(&|t| t[0].error_bound_log2 = 24),
        ErrorKind::Malformed,
    ));
    v.push(invalid(
        "elf_on_integers.elv",
        "encoding ELF on an I32 tensor",
        table_variant(&|t| {
            t[0].dtype = DType::I32;
            t[0].encoding = Encoding::Elf;
        }),
        ErrorKind::UnknownEncoding,
    ));
    v.push(invalid(
        "raw_length_mismatch.elv",
        "a shape that does not match the stream length",
        table_variant(&|t| {
            t[0].shape = vec![4];
            t[0].chunk_len = 4;
        }),
        ErrorKind::Malformed,
    ));

    let mut p = Parts::new(3, &base_spec);
    let mut tb = table_to_bytes(&p.tensors);
    tb[8 + 2 + 1] = 99; // dtype
    v.push(invalid(
        "unknown_dtype.elv",
        "dtype code 99",
        p.build_with_table(tb.clone()),
        ErrorKind::UnknownDtype,
    ));
    tb[8 + 2 + 1] = DType::F32.code();
    tb[8 + 2 + 2] = 9; // encoding
    v.push(invalid(
        "unknown_encoding.elv",
        "encoding code 9",
        p.build_with_table(tb.clone()),
        ErrorKind::UnknownEncoding,
    ));
    tb[8 + 2 + 2] = 0;
    tb[8 + 2 + 1 + 1 + 1 + 1 + 1 + 4 + 8 + 4] = 1; // reserved after first_stream
    v.push(invalid(
        "tensor_reserved.elv",
        "a reserved tensor-record byte set",
        p.build_with_table(tb),
        ErrorKind::ReservedNonZero,
    ));
    let mut tb = table_to_bytes(&p.tensors);
    tb[8 + 2] = 0xff; // name "w" -> invalid UTF-8
    v.push(invalid(
        "name_not_utf8.elv",
        "a tensor name that is not UTF-8",
        p.build_with_table(tb),
        ErrorKind::InvalidUtf8,
    ));
    p.streams.push(StoredStream::plain(vec![0; 4]));
    v.push(invalid(
        "orphan_stream.elv",
        "a stream section no tensor owns",
        p.build(),
        ErrorKind::Malformed,
    ));

    let two: Vec<Spec> = vec![
        base_spec[0].clone(),
        ("w", DType::U8, vec![1], vec![1], Encoding::Raw, 1),
    ];
    let mut p = Parts::new(3, &two);
    v.push(invalid(
        "duplicate_name.elv",
        "two tensors named w",
        p.build(),
        ErrorKind::DuplicateName,
    ));
    p.tensors[1].name = "v".into();
    p.extra.push((
        kind::METADATA,
        false,
        StoredStream::plain(metadata::to_bytes(&[s("k", "1"), s("k", "2")])),
    ));
    v.push(invalid(
        "duplicate_metadata_key.elv",
        "metadata with key k twice",
        p.build(),
        ErrorKind::DuplicateName,
    ));

    let dedup_variant = |pairs: &[(u32, u32)], retype: Option<DType>| {
        let spec: Vec<Spec> = vec![
            base_spec[0].clone(),
            (
                "x",
                DType::F32,
                vec![8],
                base_spec[0].3.clone(),
                Encoding::Raw,
                8,
            ),
        ];
        let mut p = Parts::new(3, &spec);
        let mut d = p.tensors[0].clone();
        d.name = "dup".into();
        d.encoding = Encoding::Dedup;
        d.chunk_len = 0;
        d.first_stream = p.streams.len() as u32;
        if let Some(t) = retype {
            d.dtype = t;
            d.shape = vec![32];
        }
        p.tensors.push(d.clone());
        d.name = "dup2".into();
        p.tensors.push(d);
        p.extra.push((
            kind::DEDUP_TABLE,
            true,
            StoredStream::plain(elv_core::fuzzing::dedup_table_to_bytes(pairs)),
        ));
        p.build()
    };
    v.push(invalid(
        "dedup_chain.elv",
        "dup2 refers to dup, itself a reference",
        dedup_variant(&[(2, 0), (3, 2)], None),
        ErrorKind::BadDedup,
    ));
    v.push(invalid(
        "dedup_forward.elv",
        "a reference to a later tensor",
        dedup_variant(&[(2, 3), (3, 0)], None),
        ErrorKind::BadDedup,
    ));
    v.push(invalid(
        "dedup_shape_mismatch.elv",
        "a reference between tensors of different dtype and shape",
        dedup_variant(&[(2, 0), (3, 0)], Some(DType::U8)),
        ErrorKind::BadDedup,
    ));
    v.push(invalid(
        "dedup_missing.elv",
        "a dedup tensor absent from the dedup table",
        dedup_variant(&[(2, 0)], None),
        ErrorKind::BadDedup,
    ));
    let mut p = Parts::new(
        3,
        &[(
            "w",
            DType::F32,
            vec![4],
            [0.5f32, 0.25, -0.125, 0.0]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
            Encoding::Elf,
            4,
        )],
    );
    let mut d = p.tensors[0].clone();
    d.name = "again".into();
    d.encoding = Encoding::Dedup;
    d.chunk_len = 0;
    d.error_bound_log2 = 0; // claims to be exact, but its original is lossy
    d.first_stream = p.streams.len() as u32;
    p.tensors.push(d);
    p.extra.push((
        kind::DEDUP_TABLE,
        true,
        StoredStream::plain(elv_core::fuzzing::dedup_table_to_bytes(&[(1, 0)])),
    ));
    v.push(invalid(
        "dedup_bound_mismatch.elv",
        "a reference claiming to be exact while its original is ELF",
        p.build(),
        ErrorKind::BadDedup,
    ));
}
