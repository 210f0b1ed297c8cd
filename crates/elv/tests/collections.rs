//! Collections (SPEC.md §10.1): several files in one `.elv`, each member back byte for byte,
//! tensors deduplicated across members, one member read without the others, and member
//! paths that could leave the folder refused by writer and reader alike.

use elv::{
    compress_collection, decompress_member, Encoding, ErrorKind, MemberInput, MemberKind, Reader,
    Source, WriteOptions, Writer,
};
use std::io::Write;
use std::sync::{Arc, Mutex};

fn sample() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/sample/minilm_sample.safetensors"
    ))
    .unwrap()
}

fn member(path: &str, bytes: &[u8]) -> MemberInput {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(bytes).unwrap();
    MemberInput {
        path: path.to_string(),
        file: Some(file),
        modified: None,
    }
}

/// A model folder: two shards (the second a copy of the first), a config, a nested file.
fn folder() -> (Vec<(&'static str, Vec<u8>)>, Vec<u8>) {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("config.json", b"{\"hidden_size\": 384}\n".to_vec()),
        ("model-00001-of-00002.safetensors", sample()),
        ("model-00002-of-00002.safetensors", sample()),
        ("tokenizer/vocab.txt", b"[PAD]\n[UNK]\nhello\n".repeat(50)),
    ];
    let inputs = files.iter().map(|(p, b)| member(p, b)).collect();
    let opts = WriteOptions {
        lossless: true,
        ..WriteOptions::default()
    };
    let (file, report) = compress_collection(inputs, Vec::new(), &opts, None, None).unwrap();
    assert_eq!(report.output_bytes, file.len() as u64);
    (files, file)
}

#[test]
fn every_member_comes_back_byte_for_byte() {
    let (files, file) = folder();
    let reader = Reader::from_bytes(file).unwrap();
    let paths: Vec<&str> = reader.members().iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, files.iter().map(|f| f.0).collect::<Vec<_>>());
    for (m, (path, bytes)) in files.iter().enumerate() {
        let kind = reader.members()[m].kind;
        let want = if path.ends_with(".safetensors") {
            MemberKind::Safetensors
        } else {
            MemberKind::File
        };
        assert_eq!(kind, want);
        let out = decompress_member(&reader, m, Vec::new(), None).unwrap();
        assert_eq!(&out, bytes, "{path}");
    }
    reader.verify().unwrap();
}

/// A collection is a folder, not one safetensors file: flattening it would merge members'
/// tensors of one name and turn config files into U8 tensors, so it is refused, as the
/// caller's mistake, before anything is written.
#[test]
fn a_collection_is_not_decompressed_into_one_safetensors_file() {
    let (_, file) = folder();
    let reader = Reader::from_bytes(file).unwrap();
    let mut out = Vec::new();
    let e = elv::decompress_to_safetensors(&reader, &mut out).unwrap_err();
    assert!(matches!(e, elv::Error::InvalidInput(_)), "{e}");
    assert!(e.to_string().contains("decompress_member"), "{e}");
    assert!(out.is_empty());
}

#[test]
fn identical_tensors_are_stored_once_across_members() {
    let (_, file) = folder();
    let reader = Reader::from_bytes(file).unwrap();
    let second = reader
        .member_index("model-00002-of-00002.safetensors")
        .unwrap();
    let run = reader.members()[second].tensors.clone();
    assert!(run.len() > 3);
    for i in run {
        let t = reader.tensor(i as usize).unwrap();
        if t.byte_len() == 0 {
            continue;
        }
        assert_eq!(t.encoding(), Encoding::Dedup, "{}", t.name());
        let original = t.duplicate_of().unwrap();
        assert_eq!(original.member(), Some(1));
        assert_eq!(original.name(), t.name());
    }
    // Names repeat across members: each member finds its own, `get` the first.
    let name = "encoder.layer.0.attention.self.query.weight";
    assert_eq!(reader.get(name).unwrap().member(), Some(1));
    assert_eq!(reader.get_in(second, name).unwrap().member(), Some(second));
}

/// Records which byte ranges are read.
struct Spy {
    inner: Vec<u8>,
    reads: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl Source for Spy {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.inner.len() as u64)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.reads.lock().unwrap().push((offset, buf.len() as u64));
        self.inner.as_slice().read_exact_at(buf, offset)
    }
}

#[test]
fn one_member_is_read_without_the_others() {
    let (files, file) = folder();
    let len = file.len() as u64;
    let reads = Arc::new(Mutex::new(Vec::new()));
    let spy = Spy {
        inner: file,
        reads: reads.clone(),
    };
    let reader = Reader::new(spy, elv::ReadOptions::default()).unwrap();
    reads.lock().unwrap().clear();
    let m = reader.member_index("tokenizer/vocab.txt").unwrap();
    let out = decompress_member(&reader, m, Vec::new(), None).unwrap();
    assert_eq!(out, files[3].1);
    let read: u64 = reads.lock().unwrap().iter().map(|r| r.1).sum();
    assert!(
        read * 10 < len,
        "read {read} of {len} bytes for one small member"
    );
}

#[test]
fn member_paths_that_leave_the_folder_are_refused() {
    for bad in [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a//b",
        "./a",
        "a/.",
        "a\\b",
        "C:x",
        "a\nb",
    ] {
        let mut w = Writer::with_layout(
            Vec::new(),
            WriteOptions::default(),
            elv::Layout {
                collection: true,
                base: None,
            },
        )
        .unwrap();
        let e = w.add_file(bad, b"x").unwrap_err();
        assert!(matches!(e, elv::Error::InvalidInput(_)), "{bad:?}: {e}");
    }
}

#[test]
fn a_file_larger_than_a_batch_is_streamed_in() {
    let big: Vec<u8> = (0..300_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let inputs = vec![member("big.bin", &big), member("small.txt", b"hi")];
    let opts = WriteOptions {
        batch_bytes: 64 << 10,
        ..WriteOptions::default()
    };
    let (file, _) = compress_collection(inputs, Vec::new(), &opts, None, None).unwrap();
    let reader = Reader::from_bytes(file).unwrap();
    let out = decompress_member(&reader, 0, Vec::new(), None).unwrap();
    assert_eq!(out, big);
    let out = decompress_member(&reader, 1, Vec::new(), None).unwrap();
    assert_eq!(out, b"hi");
}

#[test]
fn a_member_cannot_be_a_folder_of_another() {
    let inputs = vec![member("a", b"file"), member("a/b", b"inside")];
    let e =
        compress_collection(inputs, Vec::new(), &WriteOptions::default(), None, None).unwrap_err();
    assert!(e.to_string().contains("member path"), "{e}");
}

#[test]
fn members_only_in_a_collection() {
    let mut w = Writer::new(Vec::new(), WriteOptions::default()).unwrap();
    let e = w.add_file("config.json", b"{}").unwrap_err();
    assert!(e.to_string().contains("MEMBERS"), "{e}");
    // A collection read back names its kind of error on a corrupt member table as any table.
    let (_, mut file) = folder();
    let n = file.len();
    file[n - 40] ^= 1; // inside the index: its CRC no longer matches
    let e = Reader::from_bytes(file).err().unwrap();
    assert_eq!(e.kind(), Some(ErrorKind::ChecksumMismatch));
}

/// The library writes a collection back as its folder: every file byte for byte, an
/// existing folder only when asked, and a single file is not a collection.
#[test]
fn a_collection_is_written_back_as_its_folder() {
    let (files, file) = folder();
    let reader = Reader::from_bytes(file).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let options = elv::FolderOptions::default();
    elv::decompress_to_folder(&reader, &out, &options, None).unwrap();
    for (path, bytes) in &files {
        assert!(std::fs::read(out.join(path)).unwrap() == *bytes, "{path}");
    }
    let again = elv::decompress_to_folder(&reader, &out, &options, None).unwrap_err();
    assert!(
        matches!(&again, elv::Error::Io(e) if e.kind() == std::io::ErrorKind::AlreadyExists),
        "{again}"
    );
    let overwrite = elv::FolderOptions {
        overwrite: true,
        ..options.clone()
    };
    elv::decompress_to_folder(&reader, &out, &overwrite, None).unwrap();
    let single =
        elv::serialize([("w", elv::TensorData::f32(&[1], &[0.5]))], None, &opts()).unwrap();
    let single = Reader::from_bytes(single).unwrap();
    let e = elv::decompress_to_folder(&single, &dir.path().join("x"), &options, None).unwrap_err();
    assert!(matches!(e, elv::Error::InvalidInput(_)), "{e}");
    assert!(!dir.path().join("x").exists());
}

fn opts() -> WriteOptions {
    WriteOptions::lossless()
}

/// A file name that is not UTF-8 is an error naming it, never silently renamed; a stored
/// header beyond safetensors' 100 MB limit is refused when written.
#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_and_oversized_headers_are_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"vocab\xff.txt"));
    std::fs::write(&bad, b"x").unwrap();
    std::fs::write(dir.path().join("ok.txt"), b"y").unwrap();
    let e = elv::gather_members(&[dir.path().to_path_buf()])
        .err()
        .expect("refused");
    assert!(
        e.to_string().contains("not UTF-8") && e.to_string().contains("vocab"),
        "{e}"
    );
    let mut w = Writer::with_layout(
        Vec::new(),
        opts(),
        elv::Layout {
            collection: true,
            base: None,
        },
    )
    .unwrap();
    let header = " ".repeat(100_000_001);
    let e = w
        .begin_safetensors_member("m.safetensors", &header)
        .unwrap_err();
    assert!(matches!(e, elv::Error::InvalidInput(_)), "{e}");
}
