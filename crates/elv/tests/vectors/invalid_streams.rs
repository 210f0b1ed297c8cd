//! The conformance vectors of one family: invalid files broken in their streams: DE, ELF, planes, zstd and `ans` payloads.

use super::*;

/// Invalid files broken in their streams: DE, ELF, planes, zstd and `ans` payloads.
pub(super) fn invalid_streams(v: &mut Vec<Vector>) {
    let no_meta: Vec<(String, String)> = Vec::new();
    let base_spec = base_spec();
    let base = plain_file(3, &base_spec, &no_meta);
    let (skew, aspec) = skewed_plane();
    let de_spec: Vec<Spec> = vec![(
        "w",
        DType::F32,
        vec![4],
        [0.5f32, 0.5, 0.5, 0.5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Encoding::De,
        4,
    )];
    let mut b = plain_file(3, &de_spec, &no_meta);
    let off = section_offset(&b, 0);
    // value 1 repeats at distance 1; make it distance 2 (L=2, D=2): before the start
    let mut bits = elv_core::fuzzing::BitWriter::new();
    for (flag, l, d) in [(0u64, 0u32, 0u64), (1, 2, 2), (1, 1, 1), (1, 1, 1)] {
        bits.write(flag, 1);
        if flag == 1 {
            bits.write(l as u64, 5);
            bits.write(d, l);
        }
    }
    let stream = bits.finish();
    let p = entry_field(&b, 0, 8);
    assert_eq!(
        u64::from_le_bytes(b[p..p + 8].try_into().unwrap()) as usize,
        stream.len()
    );
    b[off..off + stream.len()].copy_from_slice(&stream);
    reseal_section(&mut b, 0);
    v.push(invalid(
        "de_distance_before_start.elv",
        "a DE repeat pointing before the first value",
        b,
        ErrorKind::DistanceBeforeStart,
    ));

    let elf_spec: Vec<Spec> = vec![(
        "w",
        DType::F32,
        vec![4],
        [0.5f32, 3.0, 0.25, 0.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Encoding::Elf,
        4,
    )];
    let mut b = plain_file(3, &elf_spec, &no_meta);
    let off = section_offset(&b, 0);
    assert_eq!(&b[off..off + 2], &[1, 1]); // one outlier at gap 1
    b[off + 1] = 9;
    reseal_section(&mut b, 0);
    v.push(invalid(
        "elf_outlier_position.elv",
        "an ELF outlier position beyond its chunk",
        b,
        ErrorKind::OutOfRange,
    ));

    let f16_spec: Vec<Spec> = vec![(
        "w",
        DType::F16,
        vec![2],
        le(
            DType::F16,
            &[bits_of(DType::F16, 0.1), bits_of(DType::F16, -0.2)],
        ),
        Encoding::Elf,
        2,
    )];
    let mut b = plain_file(3, &f16_spec, &no_meta);
    let off = section_offset(&b, 2); // the 3-bit low plane
    b[off] |= 0x80;
    reseal_section(&mut b, 2);
    v.push(invalid(
        "plane_high_bits.elv",
        "unused high bits set in a short plane",
        b,
        ErrorKind::ReservedNonZero,
    ));

    let mut zb = base.clone();
    let z = zstd::bulk::compress(&[0u8; 64], 3).unwrap();
    let mut p = Parts::new(3, &base_spec);
    p.streams[0] = StoredStream {
        codec: Codec::Zstd,
        stored: z,
        decoded_len: 32,
    };
    zb.clear();
    zb.extend(p.build());
    v.push(invalid(
        "zstd_longer_than_declared.elv",
        "a zstd stream that decodes to more bytes than declared",
        zb,
        ErrorKind::Malformed,
    ));

    // Invalid ans streams: the skewed plane's encoding with one fault each.
    let enc = elv_core::engine::ans::encode(&skew);
    let mut ans_invalid =
        |name: &'static str, note: &'static str, stored: Vec<u8>, kind: ErrorKind| {
            let mut p = Parts::new(3, &aspec);
            p.streams[0] = StoredStream {
                codec: Codec::Ans,
                stored,
                decoded_len: skew.len() as u64,
            };
            v.push(invalid(name, note, p.build(), kind));
        };
    let mut bad = enc.clone();
    bad[1 + 32] ^= 1; // first frequency: the sum is no longer 4096
    ans_invalid(
        "ans_bad_frequencies.elv",
        "ans frequencies that do not sum to 4096",
        bad,
        ErrorKind::Malformed,
    );
    ans_invalid(
        "ans_truncated.elv",
        "ans blocks that end early",
        enc[..enc.len() - 1].to_vec(),
        ErrorKind::Truncated,
    );
    // The first block is rANS (mode 2): find its payload length P and its first state.
    assert_eq!(enc[0], 2, "the first block of the skewed plane is rANS");
    let (p_at, payload_at, plen) = {
        let present: u32 = enc[1..33].iter().map(|b| b.count_ones()).sum();
        let mut pos = 33;
        for _ in 0..present {
            elv_core::fuzzing::read_uleb(&enc, &mut pos).unwrap();
        }
        let p_at = pos;
        let plen = elv_core::fuzzing::read_uleb(&enc, &mut pos).unwrap() as usize;
        (p_at, pos, plen)
    };
    let mut bad = enc.clone();
    bad[payload_at..payload_at + 4]
        .copy_from_slice(&(elv_core::fuzzing::STATE_LOW - 1).to_le_bytes());
    ans_invalid(
        "ans_state_below_l.elv",
        "an ans block whose first initial state is L - 1",
        bad,
        ErrorKind::Malformed,
    );
    // One word more than the block's symbols consume (P grows by 2).
    let mut bad = enc[..p_at].to_vec();
    elv_core::fuzzing::write_uleb(plen as u64 + 2, &mut bad);
    bad.extend_from_slice(&enc[payload_at..payload_at + plen]);
    bad.extend_from_slice(&[0, 0]);
    bad.extend_from_slice(&enc[payload_at + plen..]);
    ans_invalid(
        "ans_unconsumed_word.elv",
        "an ans block with one renormalization word that decoding never reads",
        bad,
        ErrorKind::Malformed,
    );
}
