//! The writer refuses, with an error naming the tensor and the limit, what a reader would
//! reject (SPEC.md §11), so a "successful" write is always a readable file; and what it
//! accepts, the reader reads back.

use elv::{Choice, DType, Encoding, Error, Reader, TensorData, WriteOptions, Writer};

fn input_error(e: Error) -> elv::InputError {
    match e {
        Error::InvalidInput(i) => i,
        other => panic!("expected InvalidInput, got {other}"),
    }
}

#[test]
fn rank_above_the_readers_limit_is_refused() {
    let mut w = Writer::new(Vec::new(), WriteOptions::default()).unwrap();
    let shape = vec![1u64; 65];
    let e = w
        .add_tensor("deep", DType::U8, &shape, &[7], Choice::Auto)
        .unwrap_err();
    let e = input_error(e);
    assert_eq!(e.tensor.as_deref(), Some("deep"));
    assert!(e.reason.contains("rank"), "{}", e.reason);
    // Rank 64 is within the limit and reads back.
    let shape = vec![1u64; 64];
    w.add_tensor("ok", DType::U8, &shape, &[7], Choice::Auto)
        .unwrap();
    let r = Reader::from_bytes(w.finish().unwrap()).unwrap();
    assert_eq!(r.get("ok").unwrap().shape().len(), 64);
}

#[test]
fn metadata_beyond_the_readers_limits_is_refused() {
    let mut w = Writer::new(Vec::new(), WriteOptions::default()).unwrap();
    let many: Vec<(String, String)> = (0..65_537)
        .map(|i| (i.to_string(), String::new()))
        .collect();
    assert!(w.set_metadata(many).is_err());
    let long_key = vec![("k".repeat(65_536), "v".to_string())];
    assert!(w.set_metadata(long_key).is_err());
    let fine = vec![("k".repeat(65_535), "v".to_string())];
    w.set_metadata(fine).unwrap();
    let r = Reader::from_bytes(w.finish().unwrap()).unwrap();
    assert_eq!(r.raw_metadata()[0].0.len(), 65_535);
}

#[test]
fn more_sections_than_the_readers_limit_are_refused() {
    // One-value chunks of a raw tensor need a stream section each; with readers that accept
    // 1,000 sections the writer stops at the limit instead of writing a file none can open.
    let limits = elv::Limits {
        max_sections: 1000,
        ..elv::Limits::default()
    };
    let opts = WriteOptions {
        chunk_len: 1,
        limits,
        ..WriteOptions::default()
    };
    let mut w = Writer::new(Vec::new(), opts).unwrap();
    let e = w
        .add_tensor(
            "t",
            DType::U8,
            &[1001],
            &[0; 1001],
            Choice::Exact(Encoding::Raw),
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("more sections than a reader accepts"),
        "{e}"
    );
    // 1,000 streams leave no room for the tensor table: refused at finish.
    let mut w = Writer::new(Vec::new(), opts).unwrap();
    w.add_tensor(
        "t",
        DType::U8,
        &[1000],
        &[0; 1000],
        Choice::Exact(Encoding::Raw),
    )
    .unwrap();
    assert!(w.finish().is_err());
    // 999 streams and the tensor table fit, and the reader with those limits opens it.
    let mut w = Writer::new(Vec::new(), opts).unwrap();
    w.add_tensor(
        "t",
        DType::U8,
        &[999],
        &[0; 999],
        Choice::Exact(Encoding::Raw),
    )
    .unwrap();
    let file = w.finish().unwrap();
    let read = elv::ReadOptions {
        limits,
        ..elv::ReadOptions::default()
    };
    assert_eq!(Reader::new(file, read).unwrap().len(), 1);
}

#[test]
fn a_tensor_named_like_the_metadata_key_is_not_exported_to_safetensors() {
    let v = [1.0f32, 2.0];
    let file = elv::serialize(
        [("__metadata__", TensorData::f32(&[2], &v))],
        None,
        &WriteOptions::default(),
    )
    .unwrap();
    let r = Reader::from_bytes(file).unwrap();
    assert_eq!(r.get("__metadata__").unwrap().to_vec().unwrap().len(), 8);
    let e = elv::decompress_to_safetensors(&r, Vec::new()).unwrap_err();
    assert!(e.to_string().contains("__metadata__"), "{e}");
}

#[test]
fn a_dropped_tensor_writer_leaves_no_valid_file() {
    let mut w = Writer::new(Vec::new(), WriteOptions::default()).unwrap();
    {
        let mut t = w
            .tensor_writer("big", DType::F32, &[1 << 22], Choice::Auto)
            .unwrap();
        let piece: Vec<u8> = (0..1u32 << 21)
            .flat_map(|i| (i as f32 * 1e-7).to_le_bytes())
            .collect();
        std::io::Write::write_all(&mut t, &piece).unwrap();
        // dropped with half the tensor written
    }
    let e = w.finish().unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
}

#[test]
fn an_explicit_elf_tensor_never_stands_in_for_an_exact_one_in_lossless_mode() {
    let v: Vec<f32> = (0..256).map(|i| i as f32 / 300.0).collect();
    let bytes = TensorData::f32(&[256], &v).data;
    let mut w = Writer::new(Vec::new(), WriteOptions::lossless()).unwrap();
    w.add_tensor(
        "lossy",
        DType::F32,
        &[256],
        &bytes,
        Choice::Exact(Encoding::Elf),
    )
    .unwrap();
    let r = w
        .add_tensor("exact", DType::F32, &[256], &bytes, Choice::Auto)
        .unwrap();
    assert_ne!(r.encoding, Encoding::Dedup);
    let file = Reader::from_bytes(w.finish().unwrap()).unwrap();
    assert_eq!(file.get("exact").unwrap().to_vec().unwrap(), &bytes[..]);
}

#[test]
fn more_tensors_than_the_readers_limit_are_refused() {
    let limits = elv::Limits {
        max_tensors: 3,
        ..elv::Limits::default()
    };
    let mut w = Writer::new(
        Vec::new(),
        WriteOptions {
            limits,
            ..WriteOptions::default()
        },
    )
    .unwrap();
    for i in 0..3 {
        w.add_tensor(&format!("t{i}"), DType::U8, &[1], &[i], Choice::Auto)
            .unwrap();
    }
    let e = input_error(
        w.add_tensor("t3", DType::U8, &[1], &[3], Choice::Auto)
            .unwrap_err(),
    );
    assert_eq!(e.tensor.as_deref(), Some("t3"));
    assert!(
        e.reason.contains("more tensors than a reader accepts"),
        "{}",
        e.reason
    );
    // The three before it still make a file that readers with that limit open.
    let read = elv::ReadOptions {
        limits,
        ..elv::ReadOptions::default()
    };
    assert_eq!(Reader::new(w.finish().unwrap(), read).unwrap().len(), 3);
}
