//! Tensors larger than a batch, streamed by spans both ways: corruption found, trials on a sample, probes, typed reads and caller mistakes.

use super::*;

/// Tiny batches force every tensor above 4 KiB through the streaming paths (spans of
/// whole chunks, about 2 KiB) in both directions.
#[test]
fn large_tensors_stream_by_spans_in_both_directions() {
    let st = sample();
    for lossless in [true, false] {
        let opts = CompressOptions {
            lossless,
            batch_bytes: 4096,
            chunk_len: 100,
            ..CompressOptions::default()
        };
        let (file, report) = compress(&st, &opts);
        let (whole, _) = compress(
            &st,
            &CompressOptions {
                batch_bytes: 1 << 30,
                ..opts
            },
        );
        assert_eq!(
            file, whole,
            "streaming and whole-tensor encoding write the same file"
        );
        assert!(report.tensors.iter().any(|t| t.original > 4096));
        let r = Reader::new(&file[..], ReadOptions::default()).unwrap();
        let back = decompress_to_safetensors_with(&r, Vec::new(), 4096, None).unwrap();
        if lossless {
            assert_eq!(back, st);
        } else {
            assert_eq!(back, decompress(&file));
        }
    }
}

#[test]
fn a_corrupt_chunk_of_a_streamed_tensor_is_an_error() {
    use elv_core::engine::section::{ENTRY_LEN, INDEX_HEADER_LEN};
    let opts = CompressOptions {
        lossless: true,
        chunk_len: 1000,
        compress: false,
        ..CompressOptions::default()
    };
    let (mut file, _) = compress(&sample(), &opts);
    let r = Reader::new(&file[..], ReadOptions::default()).unwrap();
    let t = r
        .get("encoder.layer.0.attention.self.query.weight")
        .unwrap();
    let e = t.sections()[7];
    let s = section_number(&file, e.offset);
    drop(r);
    // Change a stream byte and re-seal its section CRC and the index CRC: only the tensor CRC
    // can catch it now.
    file[e.offset as usize] ^= 1;
    let crc = crc32fast::hash(&file[e.offset as usize..(e.offset + e.stored_len) as usize]);
    let n = file.len();
    let index_at = u64::from_le_bytes(file[n - 32..n - 24].try_into().unwrap()) as usize;
    let at = index_at + INDEX_HEADER_LEN + ENTRY_LEN * s + 24;
    file[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    let index_crc = crc32fast::hash(&file[index_at..n - 32]);
    file[n - 16..n - 12].copy_from_slice(&index_crc.to_le_bytes());
    let err = checksum_error_decompressing(&file, 4096);
    assert!(err.to_string().contains("decoded tensor CRC"), "{err}");
}

/// Batches are read ahead while the previous one decodes: a damaged section in the last
/// batch must still stop decompression with its error, not be dropped with the read-ahead.
#[test]
fn a_damaged_section_in_a_later_batch_is_an_error() {
    let (mut file, _) = compress(&sample(), &CompressOptions::default());
    let r = Reader::new(&file[..], ReadOptions::default()).unwrap();
    let last = r.iter().rev().find(|t| t.sections().len() > 1).unwrap();
    let e = last.sections()[1];
    drop(r);
    file[e.offset as usize] ^= 0x40;
    checksum_error_decompressing(&file, 64 << 10);
}

/// Decompresses `file` in batches of `batch_bytes`, which must fail with a checksum mismatch.
fn checksum_error_decompressing(file: &[u8], batch_bytes: u64) -> elv::Error {
    let r = Reader::new(file, ReadOptions::default()).unwrap();
    let err = decompress_to_safetensors_with(&r, Vec::new(), batch_bytes, None)
        .map(|v| v.len())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        Some(elv_core::ErrorKind::ChecksumMismatch),
        "{err}"
    );
    err
}

/// `n` f32 values of a sine of frequency `k`, as little-endian bytes.
fn sine(n: u32, k: f32) -> Vec<u8> {
    (0..n)
        .flat_map(|i| ((i as f32 * k).sin() * 0.3).to_le_bytes())
        .collect()
}

/// Compresses `st` with `opts` (small batches, so tensors are streamed) and in one batch;
/// checks both decode the same, and to `st` itself when lossless. The streamed run's report.
fn compress_streamed_and_whole(st: &[u8], opts: CompressOptions) -> elv::Report {
    let (file, report) = compress(st, &opts);
    let (whole, _) = compress(
        st,
        &CompressOptions {
            batch_bytes: 1 << 30,
            ..opts
        },
    );
    let case = format!("lossless {}", opts.lossless);
    assert_eq!(decompress(&file), decompress(&whole), "{case}");
    if opts.lossless {
        assert_eq!(decompress(&file), st, "{case}");
    }
    report
}

/// A streamed tensor smaller than the trial's two slices (possible only with batches below
/// 2^15 values) is sampled whole: its slices once read past its end, into the next tensor or
/// beyond the file.
#[test]
fn a_streamed_tensor_smaller_than_a_trial_slice_is_sampled_whole() {
    let st = safetensors_file(&[
        ("a", DType::F32, vec![40], sine(40, 1.0)),
        ("b", DType::F32, vec![20], sine(20, 2.0)),
    ]);
    for lossless in [true, false] {
        let opts = CompressOptions {
            lossless,
            batch_bytes: 64,
            ..CompressOptions::default()
        };
        let report = compress_streamed_and_whole(&st, opts);
        assert!(report.tensors.iter().all(|t| t.original > 64));
    }
}

/// Trials estimate `ans` and screen zstd on short slices before trying it on long ones; a
/// tensor whose byte planes repeat with a long period must still end up with zstd, which
/// finds the repeats where an order-0 coder cannot.
#[test]
fn planes_with_long_repeats_are_stored_with_zstd() {
    use elv_core::Codec;
    // 2^17 distinct values (the low mantissa byte varies) whose upper bytes repeat every
    // 1021 values: enough for the sampled trial, not for DE.
    let data: Vec<u8> = (0..1u32 << 17)
        .flat_map(|i| {
            let base = (((i % 1021) as f32) * 0.37).sin() * 0.2;
            let low = i.wrapping_mul(2_654_435_761) >> 24;
            f32::from_bits(base.to_bits() & !0xff | low).to_le_bytes()
        })
        .collect();
    let st = safetensors_file(&[("t", DType::F32, vec![1 << 17], data)]);
    let opts = CompressOptions {
        lossless: true,
        ..CompressOptions::default()
    };
    let (file, _) = compress(&st, &opts);
    let r = Reader::new(&file[..], ReadOptions::default()).unwrap();
    let zstd = r
        .get("t")
        .unwrap()
        .sections()
        .iter()
        .filter(|e| e.codec == Some(Codec::Zstd))
        .count();
    assert!(zstd > 0, "no section stored with zstd");
    assert!(file.len() * 2 < st.len(), "{} of {}", file.len(), st.len());
    assert_eq!(decompress(&file), st);
}

/// Large tensors are first compared by a hash of three 64 KiB slices (start, middle, end),
/// and hashed whole only when an earlier one of their shape shares it. A tensor equal to an
/// earlier one except between the slices shares its probe but is no duplicate; an equal one
/// is.
#[test]
fn large_tensors_differing_between_probe_slices_are_not_duplicates() {
    let a: Vec<u8> = (0..1u32 << 17)
        .flat_map(|i| ((i as f32 * 0.01).sin() * 0.1).to_le_bytes())
        .collect();
    let mut b = a.clone();
    b[100 << 10] ^= 1;
    let mut c = a.clone();
    c[(1 << 19) - 1] ^= 0x40;
    let st = safetensors_file(&[
        ("a", DType::F32, vec![1 << 17], a.clone()),
        ("b", DType::F32, vec![1 << 17], b),
        ("c", DType::F32, vec![1 << 17], c),
        ("d", DType::F32, vec![1 << 17], a),
    ]);
    for lossless in [true, false] {
        let (file, report) = compress(
            &st,
            &CompressOptions {
                lossless,
                batch_bytes: 64 << 10,
                ..CompressOptions::default()
            },
        );
        let enc: Vec<Encoding> = report.tensors.iter().map(|t| t.encoding).collect();
        assert_ne!(
            enc[1],
            Encoding::Dedup,
            "b differs between the probe slices"
        );
        assert_ne!(enc[2], Encoding::Dedup, "c differs in its last byte");
        assert_eq!(enc[3], Encoding::Dedup, "d repeats a");
        if lossless {
            assert_eq!(decompress(&file), st);
        }
    }
}

/// The batches after streamed tensors: a
/// model alternating small and large tensors (and a small duplicate after a large one) must
/// come out as it does with one batch for everything.
#[test]
fn batches_after_streamed_tensors_round_trip() {
    let st = safetensors_file(&[
        ("s1", DType::F32, vec![100], sine(100, 1.0)),
        ("l1", DType::F32, vec![40_000], sine(40_000, 2.0)),
        ("s2", DType::F32, vec![300], sine(300, 3.0)),
        ("s3", DType::F32, vec![200], sine(200, 4.0)),
        ("l2", DType::F32, vec![50_000], sine(50_000, 5.0)),
        ("s4", DType::F32, vec![100], sine(100, 1.0)),
        ("l3", DType::F32, vec![40_000], sine(40_000, 6.0)),
    ]);
    for lossless in [true, false] {
        let opts = CompressOptions {
            lossless,
            batch_bytes: 64 << 10,
            ..CompressOptions::default()
        };
        let report = compress_streamed_and_whole(&st, opts);
        assert_eq!(report.tensors[5].encoding, Encoding::Dedup, "s4 repeats s1");
    }
}

/// The index of the section stored at file offset `offset`, read from the section index.
fn section_number(file: &[u8], offset: u64) -> usize {
    use elv_core::engine::section::{ENTRY_LEN, INDEX_HEADER_LEN};
    let n = file.len();
    let index_at = u64::from_le_bytes(file[n - 32..n - 24].try_into().unwrap()) as usize;
    let count = u32::from_le_bytes(file[index_at..index_at + 4].try_into().unwrap()) as usize;
    (0..count)
        .find(|&i| {
            let at = index_at + INDEX_HEADER_LEN + ENTRY_LEN * i;
            u64::from_le_bytes(file[at..at + 8].try_into().unwrap()) == offset
        })
        .unwrap()
}

/// Typed reads match `TensorData::from_values`, and a caller's mistake (the wrong type, a
/// buffer of the wrong length) is `InvalidInput` naming the tensor, never a format error.
#[test]
fn typed_reads_and_caller_mistakes() {
    let st = sample();
    let (file, _) = compress(&st, &CompressOptions::lossless());
    let r = Reader::from_bytes(file).unwrap();
    let t = r.get("embeddings.position_ids").unwrap();
    assert_eq!(t.dtype(), DType::I64);
    let ids = t.to_values::<i64>().unwrap();
    assert_eq!(ids, (0..512).collect::<Vec<i64>>());
    let w = r
        .get("encoder.layer.0.attention.self.query.weight")
        .unwrap();
    let values = w.to_values::<f32>().unwrap();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert!(bytes == w.to_vec().unwrap());
    let caller = |e: elv::Error, says: &str| match e {
        elv::Error::InvalidInput(i) => {
            assert_eq!(i.tensor.as_deref(), Some(w.name()));
            assert!(i.reason.contains(says), "{}", i.reason);
        }
        other => panic!("not the caller's error: {other}"),
    };
    caller(w.to_values::<f64>().unwrap_err(), "is F32, not F64");
    caller(w.decode_into(&mut [0u8; 12]).unwrap_err(), "got 12");
}

/// A range of a tensor decodes only the chunks that hold it and equals the same bytes of the
/// whole tensor, across chunk boundaries, lossless and lossy; a range
/// beyond the tensor is the caller's mistake.
#[test]
fn a_byte_range_decodes_only_its_chunks_and_matches_the_whole() {
    let st = sample();
    for lossless in [true, false] {
        let opts = CompressOptions {
            lossless,
            chunk_len: 1 << 10,
            ..CompressOptions::default()
        };
        let (file, _) = compress(&st, &opts);
        let r = Reader::from_bytes(file).unwrap();
        for t in r.iter() {
            let whole = t.to_vec().unwrap();
            let n = whole.len() as u64;
            let chunk = 1024 * t.dtype().size() as u64;
            for (off, len) in [
                (0, n.min(10)),
                (chunk - 3, 7),
                (n / 3, n / 3),
                (n - 1, 1),
                (n, 0),
                // Whole chunks only, one whole chunk and a partial one, the whole tensor.
                (chunk, 2 * chunk),
                (chunk, chunk + 5),
                (3, chunk - 3),
                (0, n),
            ] {
                if off + len > n {
                    continue;
                }
                let got = t.read_range(off, len).unwrap();
                assert_eq!(
                    got,
                    whole[off as usize..(off + len) as usize],
                    "{} {off}+{len}",
                    t.name()
                );
            }
            let e = t.read_range(n, 1).unwrap_err();
            assert!(matches!(e, elv::Error::InvalidInput(_)), "{e}");
            // Rows of the first axis are the same bytes.
            if let [rows, ..] = *t.shape() {
                let row = n / rows.max(1);
                let (a, b) = (rows / 3, rows - rows / 4);
                let got = t.read_rows(a..b).unwrap();
                assert_eq!(
                    got,
                    whole[(a * row) as usize..(b * row) as usize],
                    "{}",
                    t.name()
                );
                let e = t.read_rows(0..rows + 1).unwrap_err();
                assert!(matches!(e, elv::Error::InvalidInput(_)), "{e}");
            }
        }
    }
}
