//! Limits: files that declare terabytes fail fast with `LimitExceeded` while allocating almost
//! nothing (measured by a counting global allocator in this test binary).

use elv::{Reader, StdCodecs};
use elv_core::{Archive, ErrorKind, Limits, ReadOptions};

mod counting;

use counting::{peak_during, SERIAL};

#[global_allocator]
static A: counting::Counting = counting::Counting;

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../testdata/invalid/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn terabyte_claims_fail_fast_allocating_almost_nothing() {
    let _g = SERIAL.lock().unwrap();
    for name in [
        "huge_tensor.elv",
        "huge_section.elv",
        "section_count_limit.elv",
        "shape_overflow.elv",
    ] {
        let file = vector(name);
        assert!(file.len() < 4096, "{name} is a tiny file");
        let (r, peak) =
            peak_during(|| Archive::parse(&file, &StdCodecs, ReadOptions::default()).map(|_| ()));
        assert_eq!(r.unwrap_err().kind(), ErrorKind::LimitExceeded, "{name}");
        assert!(
            peak < 64 * 1024,
            "{name}: slice reader allocated {peak} bytes"
        );
        let (r, peak) = peak_during(|| Reader::new(&file[..], ReadOptions::default()).map(|_| ()));
        assert_eq!(
            r.err().and_then(|e| e.kind()),
            Some(ErrorKind::LimitExceeded),
            "{name}"
        );
        assert!(
            peak < 64 * 1024,
            "{name}: stream reader allocated {peak} bytes"
        );
    }
}

#[test]
fn lowered_limits_are_enforced() {
    let _g = SERIAL.lock().unwrap();
    let file = std::fs::read(format!(
        "{}/../../testdata/valid/raw_all_dtypes.elv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let tight = ReadOptions {
        limits: Limits {
            max_tensors: 3,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    let e = Archive::parse(&file, &StdCodecs, tight).err().unwrap();
    assert_eq!(
        (e.kind(), e.got(), e.expected()),
        (ErrorKind::LimitExceeded, Some(15), Some(3))
    );
    let tight = ReadOptions {
        limits: Limits {
            max_name_len: 2,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    assert_eq!(
        Archive::parse(&file, &StdCodecs, tight)
            .err()
            .unwrap()
            .kind(),
        ErrorKind::LimitExceeded
    );
}

#[test]
fn a_small_zstd_frame_cannot_reserve_its_declared_size() {
    let _g = SERIAL.lock().unwrap();
    use elv_core::{Codec, SectionDecompressor};
    let frame = zstd::bulk::compress(&[1u8; 100], 3).unwrap();
    let (r, peak) = peak_during(|| {
        let mut out = Vec::new();
        StdCodecs.decompress(Codec::Zstd, &frame, 1 << 31, &mut out)
    });
    assert!(r.is_err(), "decodes to 100 bytes, not the 2 GiB declared");
    assert!(
        peak < 4 << 20,
        "allocated {peak} bytes for a {}-byte frame",
        frame.len()
    );
}

/// The fixture `testdata/sample/declares_64gb.elv`: one 64 MiB f32 tensor of zeros and
/// 1,023 identical ones stored as references to it, so decoding the whole file writes
/// 64 GiB. Regenerate with `cargo test -p elv-format --test limits -- --ignored` (it hashes
/// the 64 GiB, about a minute).
fn declares_64gb() -> Vec<u8> {
    use elv::{Choice, DType, WriteOptions, Writer};
    let mut w = Writer::new(Vec::new(), WriteOptions::lossless()).unwrap();
    let zeros = vec![0u8; 64 << 20];
    for i in 0..1024 {
        w.add_tensor(
            &format!("t{i}"),
            DType::F32,
            &[16 << 20],
            &zeros,
            Choice::Auto,
        )
        .unwrap();
    }
    w.finish().unwrap()
}

fn fixture_path() -> String {
    format!(
        "{}/../../testdata/sample/declares_64gb.elv",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
#[ignore]
fn write_the_64_gib_fixture() {
    std::fs::write(fixture_path(), declares_64gb()).unwrap();
}

#[test]
fn a_small_file_may_declare_64_gib_and_the_decoded_limit_refuses_it() {
    let bytes = std::fs::read(fixture_path()).unwrap();
    assert!(bytes.len() < 64 << 10, "{} bytes", bytes.len());
    let r = Reader::from_bytes(bytes.clone()).unwrap();
    let total: u64 = r.iter().map(|t| t.byte_len()).sum();
    assert_eq!(total, 64 << 30);
    assert_eq!(r.decoded_len(), total, "known from the tables at open");
    let mut options = ReadOptions::default();
    options.limits.max_decoded_bytes = 1 << 30;
    let e = Reader::new(bytes, options).err().expect("refused");
    assert_eq!(e.kind(), Some(ErrorKind::LimitExceeded), "{e}");
}
