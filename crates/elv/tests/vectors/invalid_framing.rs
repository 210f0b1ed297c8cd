//! The conformance vectors of one family: invalid files broken in their framing: header, index, trailer, section placement and CRCs.

use super::*;

/// Invalid files broken in their framing: header, index, trailer, section placement and CRCs.
pub(super) fn invalid_framing(v: &mut Vec<Vector>) {
    let no_meta: Vec<(String, String)> = Vec::new();
    // ---- invalid ----
    let base_spec = base_spec();
    let base = plain_file(3, &base_spec, &no_meta);

    v.push(invalid(
        "empty.elv",
        "zero bytes",
        Vec::new(),
        ErrorKind::Truncated,
    ));
    v.push(invalid(
        "short_header.elv",
        "the first 20 bytes of a file",
        base[..20].to_vec(),
        ErrorKind::Truncated,
    ));
    let mut b = base.clone();
    b[1] = b'e';
    v.push(invalid(
        "bad_magic.elv",
        "header magic altered",
        b,
        ErrorKind::BadMagic,
    ));
    let mut b = base.clone();
    let n = b.len();
    b[n - 1] = b'Y';
    v.push(invalid(
        "bad_trailer_magic.elv",
        "trailer magic altered",
        b,
        ErrorKind::BadMagic,
    ));
    v.push(invalid(
        "truncated.elv",
        "a file cut short: its last bytes are not a trailer",
        base[..base.len() - 5].to_vec(),
        ErrorKind::BadMagic,
    ));
    let mut b = base.clone();
    b[17] ^= 1;
    v.push(invalid(
        "header_crc.elv",
        "a header bit flipped, CRC not updated",
        b,
        ErrorKind::ChecksumMismatch,
    ));
    let mut b = base.clone();
    b[8] = 2;
    reseal_header(&mut b);
    v.push(invalid(
        "version_2.elv",
        "major version 2",
        b,
        ErrorKind::UnsupportedVersion,
    ));
    let mut b = base.clone();
    b[12] = 4;
    reseal_header(&mut b);
    v.push(invalid(
        "unknown_required_feature.elv",
        "required feature bit 2 set (bits 0 and 1 are defined since 1.2)",
        b,
        ErrorKind::UnknownRequiredFeature,
    ));
    let mut b = base.clone();
    b[25] = 1;
    reseal_header(&mut b);
    v.push(invalid(
        "header_reserved.elv",
        "a reserved header byte set, CRC updated",
        b,
        ErrorKind::ReservedNonZero,
    ));
    let mut b = base.clone();
    b[20] = 17;
    reseal_header(&mut b);
    v.push(invalid(
        "alignment_too_large.elv",
        "alignment exponent 17",
        b,
        ErrorKind::Malformed,
    ));
    let mut b = base.clone();
    let off = section_offset(&b, 0);
    b[off] ^= 0x10;
    v.push(invalid(
        "section_crc.elv",
        "a stream byte flipped, section CRC not updated",
        b,
        ErrorKind::ChecksumMismatch,
    ));
    let mut b = base.clone();
    let p = entry_field(&b, 0, 24);
    b[p] ^= 1;
    v.push(invalid(
        "index_crc.elv",
        "an index byte flipped, index CRC not updated",
        b,
        ErrorKind::ChecksumMismatch,
    ));
    let mut b = base.clone();
    let off = section_offset(&b, 0);
    b[off] ^= 0x10;
    reseal_section(&mut b, 0);
    v.push(invalid(
        "tensor_crc.elv",
        "stream bytes changed and resealed: only the tensor CRC catches it",
        b,
        ErrorKind::ChecksumMismatch,
    ));
    let mut b = base.clone();
    let p = entry_field(&b, 0, 0);
    b[p] += 8;
    reseal_index(&mut b);
    v.push(invalid(
        "section_offset.elv",
        "a section offset that does not follow the previous section",
        b,
        ErrorKind::OutOfRange,
    ));
    let mut b = base.clone();
    let t = b.len() - TRAILER_LEN;
    b[t..t + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    v.push(invalid(
        "index_offset.elv",
        "trailer points the index beyond the file",
        b,
        ErrorKind::OutOfRange,
    ));
    let mut b = base.clone();
    let p = index_offset(&b);
    b[p..p + 4].copy_from_slice(&(1u32 << 30).to_le_bytes());
    reseal_index(&mut b);
    v.push(invalid(
        "section_count_limit.elv",
        "an index claiming 2^30 sections",
        b,
        ErrorKind::LimitExceeded,
    ));
    let mut b = base.clone();
    let p = entry_field(&b, 0, 16);
    let c = entry_field(&b, 0, 29);
    b[p..p + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    b[c] = Codec::Zstd.code();
    reseal_index(&mut b);
    v.push(invalid(
        "huge_section.elv",
        "a 32-byte zstd section claiming 1 TiB decoded",
        b,
        ErrorKind::LimitExceeded,
    ));
    let mut b = base.clone();
    let p = entry_field(&b, 0, 16);
    let c = entry_field(&b, 0, 29);
    b[p..p + 8].copy_from_slice(&(1u64 << 30).to_le_bytes());
    b[c] = Codec::Ans.code();
    reseal_index(&mut b);
    v.push(invalid(
        "stream_longer_than_chunk.elv",
        "an 8-value f32 raw chunk whose ans stream declares 2^30 decoded bytes",
        b,
        ErrorKind::Malformed,
    ));
    let mut b = base.clone();
    let t = entry_field(&b, 1, 16);
    let c = entry_field(&b, 1, 29);
    b[t..t + 8].copy_from_slice(&(1u64 << 30).to_le_bytes());
    b[c] = Codec::Ans.code();
    reseal_index(&mut b);
    v.push(invalid(
        "table_section_limit.elv",
        "a tensor table whose ans section declares 2^30 decoded bytes",
        b,
        ErrorKind::LimitExceeded,
    ));
    let mut b = base.clone();
    let c = entry_field(&b, 0, 29);
    b[c] = 9;
    reseal_index(&mut b);
    v.push(invalid(
        "unknown_codec.elv",
        "a stream with codec 9",
        b,
        ErrorKind::UnsupportedCodec,
    ));

    let mut crit = Parts::new(3, &base_spec);
    crit.extra
        .push((200, true, StoredStream::plain(vec![1, 2, 3])));
    v.push(invalid(
        "unknown_critical_section.elv",
        "a critical section of unknown kind 200",
        crit.build(),
        ErrorKind::UnknownCriticalSection,
    ));

    let mut pad = Parts::new(
        3,
        &[("w", DType::U8, vec![3], vec![1, 2, 3], Encoding::Raw, 8)],
    )
    .build();
    pad[HEADER_LEN + 3] = 1;
    v.push(invalid(
        "padding_nonzero.elv",
        "a padding byte after a section is not zero",
        pad,
        ErrorKind::ReservedNonZero,
    ));
}
