//! PyTorch checkpoints read without torch: `testdata/pytorch/train.pt` (written by
//! `torch.save`: a model, AdamW state, views of every kind, every dtype) against
//! `train.safetensors` (what `torch.load(weights_only=True)` gives, written by safetensors);
//! and hostile archives — a pickle that would run a command, storages missing or short, a
//! truncated zip, nesting and sharing that would exhaust the stack or the memory — each a
//! clean error with nothing run.

use elv::pytorch::Checkpoint;
use elv::{compress_pytorch_with, safetensors, Reader, WriteOptions};
use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;

fn fixture(name: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/pytorch/");
    std::fs::read(format!("{dir}{name}")).unwrap()
}

/// A zip checkpoint holding `pickle` as `archive/data.pkl` and the given storages.
fn archive(pickle: &[u8], storages: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("archive/data.pkl", stored).unwrap();
    z.write_all(pickle).unwrap();
    for (key, bytes) in storages {
        z.start_file(format!("archive/data/{key}"), stored).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn refusal(bytes: Vec<u8>) -> String {
    match Checkpoint::open(Cursor::new(bytes)) {
        Ok(_) => panic!("accepted"),
        Err(e @ elv::Error::InvalidInput(_)) => e.to_string(),
        Err(e) => panic!("not InvalidInput: {e}"),
    }
}

/// The pickle of `{'w': _rebuild_tensor_v2(storage '0' of `numel` floats, offset, (n,), (1,))}`.
fn one_tensor(numel: u8, offset: u8, n: u8) -> Vec<u8> {
    let mut p = b"\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK".to_vec();
    p.extend([
        numel, b't', b'Q', b'K', offset, b'K', n, 0x85, b'K', 1, 0x85, 0x89,
    ]);
    p.extend(b"ccollections\nOrderedDict\n)RtRu.");
    p
}

#[test]
fn a_torch_checkpoint_reads_as_torch_loads_it() {
    let (file, report) = compress_pytorch_with(
        Cursor::new(fixture("train.pt")),
        Vec::new(),
        &WriteOptions::lossless(),
        None,
        None,
    )
    .unwrap();
    assert_eq!(report.input_bytes, fixture("train.pt").len() as u64);
    let want = fixture("train.safetensors");
    let header = safetensors::read_header(&mut &want[..], Some(want.len() as u64)).unwrap();
    let reader = Reader::from_bytes(file).unwrap();
    assert_eq!(reader.len(), header.entries.len());
    for e in &header.entries {
        let t = reader
            .get(&e.name)
            .unwrap_or_else(|| panic!("{} missing", e.name));
        assert_eq!(
            (t.dtype(), t.shape()),
            (e.dtype, &e.shape[..]),
            "{}",
            e.name
        );
        let at = header.data_start() + e.begin;
        let bytes = &want[at as usize..(at + e.len()) as usize];
        assert_eq!(t.to_vec().unwrap(), bytes, "{}", e.name);
    }
    // Views of one storage, and a view named twice, are tensors of their own...
    for name in [
        "views.transposed",
        "views.full",
        "views.tied",
        "views.expanded",
        "views.c64_t",
        "views.f8fnuz",
        "views.f8bfnuz",
        "views.e8m0",
    ] {
        assert!(reader.get(name).is_some(), "{name}");
    }
    // ...and what holds no tensor is metadata, as JSON.
    let meta: std::collections::HashMap<_, _> = elv::metadata::user_metadata(&reader.metadata())
        .into_iter()
        .collect();
    assert_eq!(meta.get("epoch").map(String::as_str), Some("3"));
    assert_eq!(meta.get("name").map(String::as_str), Some("\"run-7\""));
    assert!(meta["optimizer.param_groups"].contains("\"betas\":[0.9,0.999]"));
}

#[test]
fn the_checkpoint_reads_as_a_safetensors_stream() {
    let mut c = Checkpoint::open(Cursor::new(fixture("train.pt"))).unwrap();
    let mut stream = Vec::new();
    c.read_to_end(&mut stream).unwrap();
    let h = safetensors::read_header(&mut &stream[..], Some(stream.len() as u64)).unwrap();
    assert_eq!(&h, c.header());
    let e = h
        .entries
        .iter()
        .find(|e| e.name == "views.transposed")
        .unwrap();
    assert_eq!(e.shape, [10, 6]);
}

#[test]
fn a_pickle_that_would_run_a_command_is_refused_naming_it() {
    let canary = std::env::temp_dir().join(format!("elves-pwned-{}", std::process::id()));
    let cmd = format!("touch {}", canary.display());
    for (module, name) in [("os", "system"), ("posix", "system"), ("builtins", "eval")] {
        let mut p = format!("\x02c{module}\n{name}\nX").into_bytes();
        p.insert(0, 0x80);
        p.extend((cmd.len() as u32).to_le_bytes());
        p.extend(cmd.as_bytes());
        p.extend(b"\x85R.");
        let said = refusal(archive(&p, &[]));
        assert!(
            said.contains(&format!("refused global {module}.{name}")),
            "{said}"
        );
    }
    // Reached through STACK_GLOBAL (protocol 4) too, and REDUCE of anything else.
    let said = refusal(archive(
        b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.",
        &[],
    ));
    assert!(said.contains("os.system"), "{said}");
    assert!(!canary.exists(), "nothing may run");
}

#[test]
fn storages_missing_or_short_are_refused() {
    let floats: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let ok = Checkpoint::open(Cursor::new(archive(
        &one_tensor(8, 2, 6),
        &[("0", &floats)],
    )));
    assert_eq!(ok.unwrap().header().entries[0].shape, [6]);
    let missing = refusal(archive(&one_tensor(8, 0, 8), &[]));
    assert!(
        missing.contains("storage 0 is not in the archive"),
        "{missing}"
    );
    let short = refusal(archive(&one_tensor(8, 0, 8), &[("0", &floats[..16])]));
    assert!(short.contains("fewer than its 8 elements"), "{short}");
    let past = refusal(archive(&one_tensor(8, 4, 6), &[("0", &floats)]));
    assert!(past.contains("past the end of its storage"), "{past}");
    // One float expanded to 2^31 - 1 (stride 0): 8 GiB from 4 bytes is refused.
    let mut p = one_tensor(1, 0, 1);
    let size_at = p.windows(3).position(|w| w == [b'K', 1, 0x85]).unwrap();
    p.splice(size_at..size_at + 2, *b"J\xff\xff\xff\x7f");
    let stride_at = p.windows(3).rposition(|w| w == [b'K', 1, 0x85]).unwrap();
    p[stride_at + 1] = 0;
    let huge = refusal(archive(&p, &[("0", &floats[..4])]));
    assert!(huge.contains("expanded view"), "{huge}");
}

#[test]
fn truncated_or_foreign_archives_are_clean_errors() {
    let whole = fixture("train.pt");
    for cut in [10, whole.len() / 2, whole.len() - 10] {
        refusal(whole[..cut].to_vec());
    }
    let said = refusal(archive_without_pickle());
    assert!(said.contains("without data.pkl"), "{said}");
    // A data.pkl that says it is 4 GB (a zip bomb's way) is refused by its declared size.
    let mut big = archive(b"\x80\x02}.", &[]);
    let cd = big.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    big[cd + 24..cd + 28].copy_from_slice(&u32::MAX.to_le_bytes());
    refusal(big);
}

fn archive_without_pickle() -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    z.start_file("readme.txt", SimpleFileOptions::default())
        .unwrap();
    z.write_all(b"hello").unwrap();
    z.finish().unwrap().into_inner()
}

#[test]
fn deep_or_shared_nesting_is_refused_without_exhausting_anything() {
    // A million lists, each inside the one before: a recursive walk or drop would overflow
    // the stack.
    let n = 1_000_000;
    let mut p = vec![0x80, 2];
    p.extend(std::iter::repeat_n(b']', n + 1));
    p.extend(std::iter::repeat_n(b'a', n));
    p.push(b'.');
    let said = refusal(archive(&p, &[]));
    assert!(said.contains("nested more than"), "{said}");
    // Forty lists, each holding the one before twice: 2^40 paths through 40 values.
    let mut p = vec![0x80, 2, b']', b'q', 0];
    for i in 0..40u8 {
        p.extend([b']', b'h', i, b'a', b'h', i, b'a', b'q', i + 1]);
    }
    p.push(b'.');
    let said = refusal(archive(&p, &[]));
    assert!(said.contains("too many times"), "{said}");
}

#[test]
fn unknown_opcodes_and_broken_pickles_are_clean_errors() {
    for p in [
        &b"\x80\x02"[..],               // no STOP
        b"\x80\x02t.",                  // TUPLE without MARK
        b"\x80\x02h\x05.",              // memo never stored
        b"\x80\x02X\xff\xff\xff\x7fab", // a string longer than the pickle
        b"\x80\x02i\n.",                // INST: not a checkpoint's opcode
        b"\x80\x02}(K\x01u.",           // SETITEMS with a key and no value
    ] {
        refusal(archive(p, &[]));
    }
}

#[test]
fn a_folder_of_checkpoints_becomes_safetensors_members() {
    use elv::{compress_collection, MemberInput};
    let floats: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let shard = archive(&one_tensor(8, 0, 8), &[("0", &floats)]);
    let index = br#"{"weight_map": {"w": "pytorch_model-00001-of-00001.bin"}}"#;
    // transformers' training_args.bin pickles an object: it stays a file.
    let args = archive(b"\x80\x02ctransformers\nTrainingArguments\n)R.", &[]);
    let files: [(&str, &[u8]); 4] = [
        ("config.json", b"{}"),
        ("pytorch_model-00001-of-00001.bin", &shard),
        ("pytorch_model.bin.index.json", index),
        ("training_args.bin", &args),
    ];
    let inputs = files
        .iter()
        .map(|(path, bytes)| {
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(bytes).unwrap();
            MemberInput {
                path: path.to_string(),
                file: Some(file),
                modified: None,
            }
        })
        .collect();
    let (file, _) =
        compress_collection(inputs, Vec::new(), &WriteOptions::lossless(), None, None).unwrap();
    let reader = Reader::from_bytes(file).unwrap();
    let mut paths: Vec<_> = reader.members().iter().map(|m| m.path.clone()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "config.json",
            "model-00001-of-00001.safetensors",
            "model.safetensors.index.json",
            "training_args.bin"
        ]
    );
    assert_eq!(reader.get("w").unwrap().to_vec().unwrap(), floats);
    let m = reader.member_index("model.safetensors.index.json").unwrap();
    let index = elv::decompress_member(&reader, m, Vec::new(), None).unwrap();
    assert!(String::from_utf8(index)
        .unwrap()
        .contains("\"w\": \"model-00001-of-00001.safetensors\""));
}
