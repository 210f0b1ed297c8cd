//! Tensors that fit a batch: round trips, the ELF bound, HD, the small-value guard, metadata, and one tensor read without the others.

use super::*;

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
