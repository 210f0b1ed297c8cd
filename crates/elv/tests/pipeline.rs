//! The pipeline on real weights (the MiniLM sample in testdata/) and on crafted cases:
//! lossless round trips are byte-identical, ELF stays within its bound, HD dedups, the small-value
//! guard keeps tiny-valued tensors exact, and one tensor is read without the others.

use elv::metadata::KEY_SAFETENSORS_HEADER;
use elv::safetensors::build_header;
use elv::{
    compress_safetensors, decompress_to_safetensors, decompress_to_safetensors_with, Reader,
    Source, WriteOptions as CompressOptions,
};
use elv_core::engine::dtype::compare_floats;
use elv_core::{DType, Encoding, ReadOptions};
use std::io::Cursor;
use std::sync::{Arc, Mutex};

fn sample() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/sample/minilm_sample.safetensors"
    ))
    .unwrap()
}

fn compress(st: &[u8], opts: &CompressOptions) -> (Vec<u8>, elv::Report) {
    compress_safetensors(Cursor::new(st), Vec::new(), opts).unwrap()
}

fn decompress(elv_bytes: &[u8]) -> Vec<u8> {
    let r = Reader::new(elv_bytes, ReadOptions::default()).unwrap();
    decompress_to_safetensors(&r, Vec::new()).unwrap()
}

fn safetensors_file(tensors: &[(&str, DType, Vec<u64>, Vec<u8>)]) -> Vec<u8> {
    let list: Vec<(String, DType, Vec<u64>)> = tensors
        .iter()
        .map(|(n, d, s, _)| (n.to_string(), *d, s.clone()))
        .collect();
    let raw = build_header(&list, &[("format".into(), "pt".into())]);
    let mut f = (raw.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(raw.as_bytes());
    for (_, _, _, d) in tensors {
        f.extend_from_slice(d);
    }
    f
}

#[test]
fn lossless_round_trip_of_real_weights_is_byte_identical() {
    let st = sample();
    let opts = CompressOptions {
        lossless: true,
        ..CompressOptions::default()
    };
    let (file, report) = compress(&st, &opts);
    assert!(report.tensors.iter().all(|t| t.encoding != Encoding::Elf));
    assert!(
        file.len() < st.len(),
        "lossless should still shrink real weights: {} vs {}",
        file.len(),
        st.len()
    );
    assert_eq!(decompress(&file), st);
}

#[test]
fn default_mode_keeps_the_elf_bound_on_real_weights() {
    let st = sample();
    let (file, report) = compress(&st, &CompressOptions::default());
    let big = report
        .tensors
        .iter()
        .find(|t| t.name == "encoder.layer.0.attention.self.query.weight")
        .unwrap();
    assert_eq!(
        big.encoding,
        Encoding::Elf,
        "a 384x384 f32 weight matrix should pick ELF"
    );
    let back = decompress(&file);
    assert_eq!(back.len(), st.len());
    let h = elv::safetensors::read_header(&mut Cursor::new(&st), None).unwrap();
    let start = h.data_start() as usize;
    for e in &h.entries {
        let (a, b) = (
            &st[start + e.begin as usize..start + e.end as usize],
            &back[start + e.begin as usize..start + e.end as usize],
        );
        match e.dtype.float_format() {
            Some(_) => {
                let (err, _) = compare_floats(e.dtype, a, b).unwrap();
                assert!(err <= 2f64.powi(-24), "{}: {err}", e.name);
                // No non-zero value decodes to zero, and values of magnitude at most 2^-24
                // (the ones ELF would have made zero) come back exact.
                for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
                    let (x, y) = (
                        u32::from_le_bytes(x.try_into().unwrap()),
                        u32::from_le_bytes(y.try_into().unwrap()),
                    );
                    if x & 0x7fff_ffff != 0 && x & 0x7fff_ffff <= 0x3380_0000 {
                        assert_eq!(x, y, "{}: a tiny value changed", e.name);
                    }
                    assert!(x & 0x7fff_ffff == 0 || y & 0x7fff_ffff != 0, "{}", e.name);
                }
            }
            None => assert_eq!(a, b, "{}", e.name),
        }
    }
}

/// The sample's tensors with a few tiny values planted (a dead LayerNorm weight, 1e-32, as
/// in MiniLM): before 1.1 the flush guard kept such a tensor lossless; now ELF still applies
/// and the tiny values are stored exactly.
#[test]
fn tiny_values_are_stored_exactly_without_giving_up_elf() {
    let mut v: Vec<f32> = (0..4096).map(|i| ((i as f32) * 0.37).sin() * 0.2).collect();
    for i in [3, 700, 701, 4000] {
        v[i] = if i % 2 == 0 { 1e-32 } else { -3e-9 };
    }
    let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let st = safetensors_file(&[("w", DType::F32, vec![4096], data.clone())]);
    let (file, report) = compress(&st, &CompressOptions::default());
    assert_eq!(report.tensors[0].encoding, Encoding::Elf);
    let r = Reader::new(&file[..], ReadOptions::default()).unwrap();
    let back = r.get("w").unwrap().to_vec().unwrap();
    for i in [3, 700, 701, 4000] {
        assert_eq!(back[4 * i..4 * i + 4], data[4 * i..4 * i + 4], "value {i}");
    }
    let (err, _) = compare_floats(DType::F32, &data, &back).unwrap();
    assert!(err <= 2f64.powi(-24));
}

#[test]
fn identical_tensors_are_stored_once() {
    let w: Vec<u8> = (0..4096u32)
        .flat_map(|i| ((i as f32).sin() * 0.1).to_le_bytes())
        .collect();
    let st = safetensors_file(&[
        ("a", DType::F32, vec![64, 64], w.clone()),
        ("b", DType::F32, vec![64, 64], w.clone()),
        ("c", DType::F32, vec![4096], w),
    ]);
    let (file, report) = compress(
        &st,
        &CompressOptions {
            lossless: true,
            ..CompressOptions::default()
        },
    );
    let enc: Vec<Encoding> = report.tensors.iter().map(|t| t.encoding).collect();
    assert_eq!(enc[1], Encoding::Dedup, "same dtype, shape and bytes");
    assert_ne!(
        enc[2],
        Encoding::Dedup,
        "same bytes but another shape is not a duplicate"
    );
    assert_eq!(decompress(&file), st);
}

/// With one tensor per batch, a duplicate is decided while the batch before it is still
/// waiting to be written: its reference must still name the right tensor. With batches
/// smaller than a tensor, every tensor is streamed: the hash of the first of a shape is then
/// taken while it is encoded, and a later one of that shape is hashed before.
#[test]
fn duplicates_across_batches_reference_the_right_tensor() {
    let t = |k: f32| -> Vec<u8> {
        (0..4096u32)
            .flat_map(|i| ((i as f32 * k).sin() * 0.1).to_le_bytes())
            .collect()
    };
    let st = safetensors_file(&[
        ("x", DType::F32, vec![64, 64], t(1.0)),
        ("a", DType::F32, vec![64, 64], t(2.0)),
        ("y", DType::F32, vec![64, 64], t(3.0)),
        ("b", DType::F32, vec![64, 64], t(2.0)),
        ("z", DType::F32, vec![64, 64], t(4.0)),
        ("c", DType::F32, vec![64, 64], t(3.0)),
        ("d", DType::F32, vec![64, 64], t(1.0)),
    ]);
    for (batch_bytes, lossless) in [
        (8 << 10, true),
        (8 << 10, false),
        (16 << 10, true),
        (1 << 30, true),
    ] {
        let (file, report) = compress(
            &st,
            &CompressOptions {
                lossless,
                batch_bytes,
                ..CompressOptions::default()
            },
        );
        let enc: Vec<Encoding> = report.tensors.iter().map(|t| t.encoding).collect();
        let case = format!("batch_bytes {batch_bytes}, lossless {lossless}");
        assert_eq!(enc[3], Encoding::Dedup, "b repeats a ({case})");
        assert_eq!(enc[5], Encoding::Dedup, "c repeats y ({case})");
        assert_eq!(
            enc[6],
            Encoding::Dedup,
            "d repeats x, the first of its shape ({case})"
        );
        assert_eq!(
            enc.iter().filter(|&&e| e == Encoding::Dedup).count(),
            3,
            "{case}"
        );
        if lossless {
            assert_eq!(decompress(&file), st, "{case}");
        }
    }
}

#[test]
fn a_duplicate_of_a_lossy_tensor_states_the_same_bound() {
    let w: Vec<u8> = (0..4096u32)
        .flat_map(|i| ((i as f32).sin() * 0.1).to_le_bytes())
        .collect();
    let st = safetensors_file(&[
        ("a", DType::F32, vec![64, 64], w.clone()),
        ("b", DType::F32, vec![64, 64], w),
    ]);
    let (file, report) = compress(&st, &CompressOptions::default());
    assert_eq!(
        (report.tensors[0].encoding, report.tensors[1].encoding),
        (Encoding::Elf, Encoding::Dedup)
    );
    assert_eq!(
        report.tensors[1].error_bound_log2, 24,
        "a reference to an ELF tensor is as lossy"
    );
    let r = Reader::new(&file[..], ReadOptions::default()).unwrap();
    assert_eq!(r.tensor(1).unwrap().error_bound_log2(), 24);
    let back = decompress(&file);
    let start = back.len() - 2 * 4096 * 4;
    assert_eq!(
        back[start..start + 16384],
        back[start + 16384..],
        "both decode to the same bytes"
    );
}

#[test]
fn flush_guard_keeps_tiny_values_exact_and_half_floats_stay_lossless() {
    // An optimizer-state-like tensor: a quarter of its values are below 2^-24.
    let v: Vec<u8> = (0..1000u32)
        .flat_map(|i| {
            if i % 4 == 0 {
                1e-9f32 * (i + 1) as f32
            } else {
                0.01 * (i as f32).cos()
            }
            .to_le_bytes()
        })
        .collect();
    let h: Vec<u8> = (0..1000u32)
        .flat_map(|i| half::f16::from_f32(0.3 * (i as f32).sin()).to_le_bytes())
        .collect();
    let st = safetensors_file(&[
        ("state", DType::F32, vec![1000], v),
        ("half", DType::F16, vec![1000], h.clone()),
    ]);
    let (file, report) = compress(&st, &CompressOptions::default());
    assert_ne!(report.tensors[0].encoding, Encoding::Elf);
    assert!(report.tensors[0].note.is_some());
    assert_ne!(
        report.tensors[1].encoding,
        Encoding::Elf,
        "f16 is lossless by default"
    );
    assert_eq!(decompress(&file), st);
    // With --elf-half, ELF joins the candidates. On small f16 values of full mantissa
    // entropy it wins by far (a code of |p|·2^10 needs few bits), within f16's 2^-11.
    let mut x = 7u32;
    let small: Vec<u8> = (0..1000)
        .flat_map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            // |p| in [0.01, 0.05): none so small that ELF would flush it to zero.
            let m = 0.01 + (x >> 9) as f32 / (1 << 23) as f32 * 0.04;
            half::f16::from_f32(if x & 1 == 0 { m } else { -m }).to_le_bytes()
        })
        .collect();
    let st = safetensors_file(&[("small", DType::F16, vec![1000], small.clone())]);
    let (_, report) = compress(&st, &CompressOptions::default());
    let (half_file, half_report) = compress(
        &st,
        &CompressOptions {
            elf_half: true,
            ..CompressOptions::default()
        },
    );
    let (without, with) = (&report.tensors[0], &half_report.tensors[0]);
    assert!(without.encoding.is_lossless(), "{without:?}");
    assert_eq!((with.encoding, with.error_bound_log2), (Encoding::Elf, 11));
    assert!(with.stored < without.stored, "{with:?} vs {without:?}");
    let r = Reader::new(&half_file[..], ReadOptions::default()).unwrap();
    let back = r.get("small").unwrap().to_vec().unwrap();
    let (err, _) = compare_floats(DType::F16, &small, &back).unwrap();
    assert!(err <= 2f64.powi(-11), "{err}");
}

#[test]
fn metadata_and_original_header_are_kept() {
    let st = sample();
    let (file, _) = compress(&st, &CompressOptions::default());
    let r = Reader::new(&file[..], ReadOptions::default()).unwrap();
    assert!(r.metadata_value(KEY_SAFETENSORS_HEADER).is_some());
    assert!(r
        .metadata_value("safetensors.metadata.source")
        .unwrap()
        .contains("MiniLM"));
    // The user-level view is the safetensors `__metadata__`, nothing of the implementation's.
    let meta = r.metadata();
    assert!(meta
        .iter()
        .any(|(k, v)| k == "source" && v.contains("MiniLM")));
    assert!(meta.iter().all(|(k, _)| !k.starts_with("safetensors.")));
}

/// One convention: what `serialize` is given as metadata is what `Reader::metadata` returns
/// and what decompressing to safetensors writes as `__metadata__`, in either mode.
#[test]
fn serialize_metadata_is_what_readers_and_decompress_give_back() {
    let meta = vec![
        ("format".to_string(), "pt".to_string()),
        ("note".to_string(), "ünïcode \"quoted\"".to_string()),
    ];
    let w: Vec<f32> = (0..64).map(|i| i as f32 / 100.0).collect();
    for opts in [CompressOptions::default(), CompressOptions::lossless()] {
        let file = elv::serialize(
            [("w", elv::TensorData::f32(&[8, 8], &w))],
            Some(meta.clone()),
            &opts,
        )
        .unwrap();
        let r = Reader::from_bytes(file).unwrap();
        assert_eq!(r.metadata(), meta);
        let st = decompress_to_safetensors(&r, Vec::new()).unwrap();
        let header =
            elv::safetensors::read_header(&mut Cursor::new(&st), Some(st.len() as u64)).unwrap();
        assert_eq!(header.metadata, meta);
    }
}

/// Records which byte ranges are read.
struct Spy<'a> {
    inner: &'a [u8],
    reads: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl Source for Spy<'_> {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.inner.len() as u64)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.reads.lock().unwrap().push((offset, buf.len() as u64));
        self.inner.read_exact_at(buf, offset)
    }
}

#[test]
fn one_tensor_is_decoded_reading_only_its_own_sections() {
    let (file, _) = compress(&sample(), &CompressOptions::default());
    let reads = Arc::new(Mutex::new(Vec::new()));
    let r = Reader::new(
        Spy {
            inner: &file,
            reads: reads.clone(),
        },
        ReadOptions::default(),
    )
    .unwrap();
    reads.lock().unwrap().clear();
    let t = r.get("encoder.layer.0.attention.self.query.bias").unwrap();
    let own: Vec<(u64, u64)> = t
        .sections()
        .iter()
        .map(|e| (e.offset, e.offset + e.stored_len))
        .collect();
    let data = t.to_vec().unwrap();
    assert_eq!(data.len(), 384 * 4);
    let reads = reads.lock().unwrap();
    let total: u64 = reads.iter().map(|(_, n)| n).sum();
    let own_total: u64 = own.iter().map(|(a, b)| b - a).sum();
    let span = own.last().unwrap().1 - own.first().unwrap().0;
    assert!(
        total >= own_total && total <= span,
        "bytes read ({total}) = the tensor's own stored streams ({own_total}) and the padding between them ({span})"
    );
    let (first, last) = (own.first().unwrap().0, own.last().unwrap().1);
    for &(at, n) in reads.iter().filter(|(_, n)| *n > 0) {
        assert!(
            at >= first && at + n <= last,
            "read {at}+{n} outside the tensor's sections {own:?}"
        );
    }
    assert!(
        own_total * 20 < file.len() as u64,
        "the tensor is a small part of the file"
    );
}

/// Tiny batches force every tensor above 4 KiB through the streaming paths (pieces of
/// 2 KiB, groups of whole chunks) in both directions.
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

/// The batch after a streamed tensor is read while the tensor's last group is encoded; a
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
