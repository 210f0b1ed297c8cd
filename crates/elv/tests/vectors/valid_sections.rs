//! The conformance vectors of one family: valid files exercising sections: `ans`, dedup, metadata, any-UTF-8 names, ancillary sections, zstd frames.

use super::*;

/// Valid files exercising sections: `ans`, dedup, metadata, any-UTF-8 names, ancillary sections, zstd frames.
pub(super) fn valid_sections(v: &mut Vec<Vector>) {
    let no_meta: Vec<(String, String)> = Vec::new();
    // ans sections: a skewed plane (rANS blocks), a constant block and a stored block.
    let (skew, aspec) = skewed_plane();
    let abytes = {
        let mut w = ContainerWriter::new(Vec::new(), 3).unwrap();
        let stream = StoredStream {
            codec: Codec::Ans,
            stored: elv_core::engine::ans::encode(&skew),
            decoded_len: skew.len() as u64,
        };
        w.add_encoded_tensor(
            "skewed",
            DType::U8,
            &[skew.len() as u64],
            Encoding::Raw,
            skew.len() as u64,
            crc32fast::hash(&skew),
            [stream],
        )
        .unwrap();
        w.finish().unwrap()
    };
    v.push(valid(
        "ans_blocks.elv",
        "a stream with codec ans: rANS, constant and stored blocks",
        abytes,
        &aspec,
        &no_meta,
    ));

    let dspec: Vec<Spec> = vec![(
        "a",
        DType::F32,
        vec![4],
        [0.5f32, -0.25, 2.0, 0.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Encoding::Raw,
        1 << 20,
    )];
    let dedup_bytes = {
        let mut w = ContainerWriter::new(Vec::new(), 3).unwrap();
        let (n, d, sh, data, e, ch) = &dspec[0];
        let a = w.add_tensor(n, *d, sh, data, *e, *ch).unwrap();
        w.add_tensor("b", DType::I8, &[2], &[1, 2], Encoding::Raw, 8)
            .unwrap();
        w.add_dedup("a_again", a).unwrap();
        w.finish().unwrap()
    };
    let mut dexp = dspec.clone();
    dexp.push(("b", DType::I8, vec![2], vec![1, 2], Encoding::Raw, 8));
    dexp.push((
        "a_again",
        DType::F32,
        vec![4],
        dspec[0].3.clone(),
        Encoding::Dedup,
        0,
    ));
    v.push(valid(
        "dedup.elv",
        "tensor a_again is stored once, as a reference to a",
        dedup_bytes,
        &dexp,
        &no_meta,
    ));

    let lossy: Vec<Spec> = vec![(
        "w",
        DType::F32,
        vec![40],
        weights(DType::F32, 40, 21, true),
        Encoding::Elf,
        64,
    )];
    let dedup_elf = {
        let mut w = ContainerWriter::new(Vec::new(), 3).unwrap();
        let (n, d, sh, data, e, ch) = &lossy[0];
        let a = w.add_tensor(n, *d, sh, data, *e, *ch).unwrap();
        w.add_dedup("w_again", a).unwrap();
        w.finish().unwrap()
    };
    let mut lossy_tensors = expected(&lossy);
    lossy_tensors.push((
        "w_again".to_string(),
        DType::F32,
        vec![40],
        Encoding::Dedup,
        elf_expected(DType::F32, &lossy[0].3),
    ));
    v.push(Vector {
        name: "dedup_of_elf.elv",
        bytes: dedup_elf,
        expect: Expect::Valid {
            tensors: lossy_tensors,
            metadata: Vec::new(),
        },
        note: "a reference to an ELF tensor: the same lossy bytes, and the same bound 2^-24",
        base: None,
        members: Vec::new(),
    });

    let meta = vec![
        s("__metadata__.format", "pt"),
        s("comment", "poids compressés ✓"),
        s("empty", ""),
    ];
    let mspec: Vec<Spec> = vec![(
        "x",
        DType::BF16,
        vec![2],
        vec![0x80, 0x3f, 0x00, 0xc0],
        Encoding::Raw,
        4,
    )];
    v.push(valid(
        "metadata.elv",
        "file metadata, UTF-8, kept in order",
        plain_file(3, &mspec, &meta),
        &mspec,
        &meta,
    ));

    let mut anc = Parts::new(3, &mspec);
    anc.extra.push((
        200,
        false,
        StoredStream::plain(b"a private ancillary section".to_vec()),
    ));
    v.push(valid(
        "unknown_ancillary_section.elv",
        "an ancillary section of unknown kind 200: readers ignore it",
        anc.build(),
        &mspec,
        &no_meta,
    ));
    // Names and keys are any UTF-8: empty, with TAB, LF, NUL, `/` (SPEC.md §2.4, §14.1).
    let nspec: Vec<Spec> = vec![
        ("", DType::U8, vec![1], vec![1], Encoding::Raw, 1),
        ("a\tb\nc\\d", DType::U8, vec![1], vec![2], Encoding::Raw, 1),
        (
            "x\0y/z\u{1b}[8m",
            DType::U8,
            vec![1],
            vec![3],
            Encoding::Raw,
            1,
        ),
    ];
    let nmeta = vec![("k\te\ny".to_string(), "v\r\\".to_string())];
    v.push(valid(
        "names_any_utf8.elv",
        "tensor names and a metadata key with TAB, LF, NUL, ESC, backslash and the empty name",
        plain_file(3, &nspec, &nmeta),
        &nspec,
        &nmeta,
    ));

    // An ancillary section whose codec no decoder knows: ignored when decoding, and a whole-
    // file check verifies its CRC without undoing its codec (§4.2).
    let mut anc = Parts::new(3, &mspec);
    anc.extra
        .push((201, false, StoredStream::plain(b"codec 9".to_vec())));
    let mut b = anc.build();
    let c = entry_field(&b, anc.streams.len() + 1, 29);
    b[c] = 9;
    reseal_index(&mut b);
    v.push(valid(
        "ancillary_unknown_codec.elv",
        "an ancillary section of unknown kind with codec 9: readers ignore it",
        b,
        &mspec,
        &[],
    ));

    // zstd sections are exactly one frame (§4.3).
    let zspec: Vec<Spec> = vec![(
        "z",
        DType::U8,
        vec![300],
        (0..300u32).map(|i| (i % 7) as u8).collect(),
        Encoding::Raw,
        300,
    )];
    let zstd_variant = |edit: &dyn Fn(Vec<u8>) -> Vec<u8>| {
        let mut p = Parts::new(3, &zspec);
        let raw = p.streams[0].stored.clone();
        p.streams[0] = StoredStream {
            codec: Codec::Zstd,
            stored: edit(zstd::bulk::compress(&raw, 3).unwrap()),
            decoded_len: raw.len() as u64,
        };
        p.build()
    };
    v.push(valid(
        "zstd_one_frame.elv",
        "a raw stream stored as one zstd frame",
        zstd_variant(&|f| f),
        &zspec,
        &[],
    ));
    for (name, note, edit) in [
        (
            "zstd_trailing_bytes.elv",
            "a zstd section with three zero bytes after its frame",
            (&|mut f: Vec<u8>| {
                f.extend_from_slice(&[0, 0, 0]);
                f
            }) as &dyn Fn(Vec<u8>) -> Vec<u8>,
        ),
        (
            "zstd_two_frames.elv",
            "a zstd section of the frame and a second, empty frame",
            &|mut f: Vec<u8>| {
                f.extend(zstd::bulk::compress(&[], 3).unwrap());
                f
            },
        ),
        (
            "zstd_skippable_frame.elv",
            "a zstd section that starts with a skippable frame",
            &|f: Vec<u8>| {
                let mut s = vec![0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
                s.extend(f);
                s
            },
        ),
        (
            "zstd_truncated.elv",
            "a zstd section cut in the middle of its frame",
            &|f: Vec<u8>| f[..f.len() / 2].to_vec(),
        ),
        (
            "zstd_empty.elv",
            "a zstd section of zero stored bytes",
            &|_: Vec<u8>| Vec::new(),
        ),
    ] {
        v.push(invalid(
            name,
            note,
            zstd_variant(edit),
            ErrorKind::Malformed,
        ));
    }

    let mut opt = plain_file(3, &mspec, &no_meta);
    opt[10] = 9; // minor version 9
    opt[16] = 0x80; // an optional feature bit readers do not know
    reseal_header(&mut opt);
    v.push(valid(
        "optional_feature_newer_minor.elv",
        "minor version 9 and an unknown optional feature bit: readers accept",
        opt,
        &mspec,
        &no_meta,
    ));

    let a12: Vec<Spec> = vec![(
        "w",
        DType::F32,
        vec![3],
        [0.1f32, 0.2, 0.3]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Encoding::Raw,
        8,
    )];
    v.push(valid(
        "align_4096.elv",
        "sections aligned to 4096 bytes",
        plain_file(12, &a12, &no_meta),
        &a12,
        &no_meta,
    ));
    v.push(valid(
        "align_1.elv",
        "no alignment padding",
        plain_file(0, &a12, &no_meta),
        &a12,
        &no_meta,
    ));
}
