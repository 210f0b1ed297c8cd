//! Deltas against a base model (SPEC.md §7.7–§7.9, §9.1) on the real fine-tune slice in
//! testdata/sample: lossless deltas round trip bit for bit and are smaller than the
//! fine-tune alone; ELF deltas decode to exactly what ELF alone gives, within its bound;
//! a missing, modified or mismatched base is a clear error.

use elv::{
    compress_safetensors, compress_safetensors_with, safetensors, Base, BaseModel, Choice, DType,
    Encoding, ErrorKind, Reader, WriteOptions, Writer,
};
use std::collections::HashMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../testdata/sample/finetune_{name}.safetensors"))
}

fn base() -> Arc<dyn Base> {
    Arc::new(BaseModel::open(sample("base")).unwrap())
}

/// The tensors of a safetensors file: name → (dtype, shape, bytes), in file order.
fn tensors(path: &PathBuf) -> Vec<(String, DType, Vec<u64>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let h = safetensors::read_header(&mut Cursor::new(&bytes), Some(bytes.len() as u64)).unwrap();
    let start = h.data_start() as usize;
    h.entries
        .iter()
        .map(|e| {
            let d = bytes[start + e.begin as usize..start + e.end as usize].to_vec();
            (e.name.clone(), e.dtype, e.shape.clone(), d)
        })
        .collect()
}

fn compress(ft: &str, lossless: bool, base: Option<Arc<dyn Base>>) -> Vec<u8> {
    let opts = WriteOptions {
        lossless,
        ..WriteOptions::default()
    };
    let input = std::fs::File::open(sample(ft)).unwrap();
    compress_safetensors_with(input, Vec::new(), &opts, base, None)
        .unwrap()
        .0
}

mod large_twins;

/// A base model in memory, to make twins of another shape or none.
pub(crate) struct MapBase(HashMap<String, (DType, Vec<u64>, Vec<u8>)>);

impl MapBase {
    fn of(path: &PathBuf) -> MapBase {
        MapBase(
            tensors(path)
                .into_iter()
                .map(|(n, d, s, b)| (n, (d, s, b)))
                .collect(),
        )
    }
}

impl Base for MapBase {
    fn name(&self) -> &str {
        "in memory"
    }
    fn twin(&self, name: &str) -> Option<(DType, Vec<u64>)> {
        self.0.get(name).map(|t| (t.0, t.1.clone()))
    }
    fn read(&self, name: &str) -> elv::Result<Vec<u8>> {
        Ok(self.0.get(name).map(|t| t.2.clone()).unwrap_or_default())
    }
}

#[test]
fn lossless_deltas_round_trip_bit_for_bit_and_beat_the_fine_tune_alone() {
    for ft in ["full", "lora"] {
        let file = compress(ft, true, Some(base()));
        let alone = compress(ft, true, None);
        // On the whole models the deltas are 2.1x (full) and 14x (LoRA) smaller than the
        // fine-tune alone; on this slice of 32 rows, 1.17x and 1.6x.
        assert!(
            file.len() * 10 < alone.len() * 9,
            "{ft}: delta {} vs alone {}",
            file.len(),
            alone.len()
        );
        let reader = Reader::from_bytes(file).unwrap().with_shared_base(base());
        assert!(reader.needs_base());
        assert_eq!(reader.base_name(), Some("finetune_base.safetensors"));
        let mut used = Vec::new();
        for (name, dtype, shape, want) in tensors(&sample(ft)) {
            let t = reader.get(&name).unwrap();
            assert_eq!((t.dtype(), t.shape()), (dtype, &shape[..]));
            assert_eq!(t.to_vec().unwrap(), want, "{ft} {name}");
            assert!(t.is_lossless());
            used.push(t.encoding());
        }
        assert!(used.contains(&Encoding::Delta), "{ft}: {used:?}");
        // The whole-file check and the streamed decode agree.
        reader.verify().unwrap();
    }
}

#[test]
fn large_tensors_stream_against_their_twins_span_by_span() {
    // Batches of 4 KiB send every tensor above that through the streaming path, its twin
    // read in the same spans.
    for (ft, lossless) in [("full", true), ("lora", true), ("full", false)] {
        let opts = WriteOptions {
            lossless,
            batch_bytes: 4096,
            chunk_len: 1 << 13,
            ..WriteOptions::default()
        };
        let input = std::fs::File::open(sample(ft)).unwrap();
        let (file, report) =
            compress_safetensors_with(input, Vec::new(), &opts, Some(base()), None).unwrap();
        let reader = Reader::from_bytes(file).unwrap().with_shared_base(base());
        reader.verify().unwrap();
        for (name, _, _, want) in tensors(&sample(ft)) {
            let t = reader.get(&name).unwrap();
            let got = t.to_vec().unwrap();
            if lossless {
                assert_eq!(got, want, "{ft} {name}");
            }
        }
        let refs = report
            .tensors
            .iter()
            .filter(|t| t.encoding == Encoding::BaseRef)
            .count();
        let deltas = report
            .tensors
            .iter()
            .filter(|t| matches!(t.encoding, Encoding::Delta | Encoding::ElfDelta))
            .count();
        assert!(deltas >= 2, "{ft}: {deltas} deltas");
        if ft == "lora" {
            // LoRA left the position embeddings (49 kB, streamed) and the LayerNorm alone.
            assert!(refs >= 3, "{refs} references");
        }
    }
}

#[test]
fn unchanged_tensors_are_references_to_the_base() {
    let reader = Reader::from_bytes(compress("lora", false, Some(base())))
        .unwrap()
        .with_shared_base(base());
    // LoRA trained only query and key: the LayerNorm is the base's, stored as a reference.
    let t = reader
        .get("encoder.layer.5.output.LayerNorm.weight")
        .unwrap();
    assert_eq!((t.encoding(), t.stored_len()), (Encoding::BaseRef, 0));
    let want = tensors(&sample("base"))
        .into_iter()
        .find(|x| x.0 == t.name())
        .unwrap()
        .3;
    assert_eq!(t.to_vec().unwrap(), want);
    let mut streamed = Vec::new();
    std::io::copy(&mut t.stream(), &mut streamed).unwrap();
    assert_eq!(streamed, want);
}

#[test]
fn elf_deltas_decode_to_exactly_what_elf_alone_gives() {
    let reader = Reader::from_bytes(compress("full", false, Some(base())))
        .unwrap()
        .with_shared_base(base());
    let mut seen = 0;
    for (name, dtype, shape, data) in tensors(&sample("full")) {
        let t = reader.get(&name).unwrap();
        if t.encoding() != Encoding::ElfDelta {
            continue;
        }
        seen += 1;
        assert_eq!(t.error_bound_log2(), 24);
        let mut w = Writer::new(Vec::new(), WriteOptions::default()).unwrap();
        w.add_tensor(&name, dtype, &shape, &data, Choice::Exact(Encoding::Elf))
            .unwrap();
        let elf = Reader::from_bytes(w.finish().unwrap()).unwrap();
        let got = t.to_vec().unwrap();
        assert_eq!(got, elf.get(&name).unwrap().to_vec().unwrap(), "{name}");
        for (a, b) in data.chunks(4).zip(got.chunks(4)) {
            let (a, b) = (
                f32::from_le_bytes(a.try_into().unwrap()),
                f32::from_le_bytes(b.try_into().unwrap()),
            );
            assert!((a - b).abs() <= 2f32.powi(-24), "{name}: {a} -> {b}");
        }
    }
    assert!(seen >= 2, "the full fine-tune's weights are ELF deltas");
}

#[test]
fn a_missing_or_wrong_base_is_a_clear_error() {
    let file = compress("full", true, Some(base()));
    let name = "encoder.layer.0.attention.self.query.weight";
    // No base at all.
    let reader = Reader::from_bytes(file.clone()).unwrap();
    let e = reader.get(name).unwrap().to_vec().unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::BaseMissing), "{e}");
    assert!(e.to_string().contains("finetune_base.safetensors"), "{e}");
    // Another model as the base: the hash differs.
    let wrong: Arc<dyn Base> = Arc::new(BaseModel::open(sample("lora")).unwrap());
    let reader = Reader::from_bytes(file.clone())
        .unwrap()
        .with_shared_base(wrong);
    let e = reader.get(name).unwrap().to_vec().unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::BaseMismatch), "{e}");
    assert!(e.to_string().contains("hash differs"), "{e}");
    // A base with the tensor in another shape, or without it.
    let mut map = MapBase::of(&sample("base"));
    map.0.get_mut(name).unwrap().1 = vec![16, 768];
    let reader = Reader::from_bytes(file.clone()).unwrap().with_base(map);
    let e = reader.get(name).unwrap().to_vec().unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::BaseMismatch), "{e}");
    let mut map = MapBase::of(&sample("base"));
    map.0.remove(name);
    let reader = Reader::from_bytes(file).unwrap().with_base(map);
    let e = reader.get(name).unwrap().to_vec().unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::BaseMissing), "{e}");
}

#[test]
fn a_base_twin_of_another_shape_is_not_used() {
    let mut map = MapBase::of(&sample("base"));
    let name = "encoder.layer.3.attention.self.key.weight";
    map.0.get_mut(name).unwrap().1 = vec![16, 768];
    let opts = WriteOptions::default();
    let input = std::fs::File::open(sample("full")).unwrap();
    let file = compress_safetensors_with(input, Vec::new(), &opts, Some(Arc::new(map)), None)
        .unwrap()
        .0;
    let reader = Reader::from_bytes(file).unwrap();
    let t = reader.get(name).unwrap();
    assert!(!t.encoding().needs_base());
    assert_eq!(t.to_vec().unwrap().len(), 32 * 384 * 4);
}

#[test]
fn a_base_may_be_an_elv_file_or_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    // The base compressed lossless: its decoded tensors are the base (same hashes).
    let opts = WriteOptions {
        lossless: true,
        ..WriteOptions::default()
    };
    let input = std::fs::File::open(sample("base")).unwrap();
    let elv_base = compress_safetensors(input, Vec::new(), &opts).unwrap().0;
    let as_elv = dir.path().join("base.elv");
    std::fs::write(&as_elv, elv_base).unwrap();
    // A folder: the base split in two shards, with a config beside them.
    let folder = dir.path().join("base_folder");
    std::fs::create_dir(&folder).unwrap();
    let all = tensors(&sample("base"));
    let (a, b) = all.split_at(2);
    for (k, part) in [a, b].into_iter().enumerate() {
        let list: Vec<(String, DType, Vec<u64>)> = part
            .iter()
            .map(|t| (t.0.clone(), t.1, t.2.clone()))
            .collect();
        let raw = safetensors::build_header(&list, &[]);
        let mut f = (raw.len() as u64).to_le_bytes().to_vec();
        f.extend_from_slice(raw.as_bytes());
        for t in part {
            f.extend_from_slice(&t.3);
        }
        std::fs::write(folder.join(format!("model-{k}.safetensors")), f).unwrap();
    }
    std::fs::write(folder.join("config.json"), b"{}").unwrap();
    let file = compress("full", true, Some(base()));
    for b in [as_elv.clone(), folder.clone()] {
        let model = BaseModel::open(&b).unwrap();
        assert_eq!(model.len(), all.len(), "{}", b.display());
        let reader = Reader::from_bytes(file.clone()).unwrap().with_base(model);
        for (name, _, _, want) in tensors(&sample("full")) {
            assert_eq!(reader.get(&name).unwrap().to_vec().unwrap(), want, "{name}");
        }
    }
    // And written against such bases, the same streams come out (only the base's name in
    // the base table differs).
    let streams = |f: Vec<u8>| -> u64 {
        let r = Reader::from_bytes(f).unwrap();
        r.iter().map(|t| t.stored_len()).sum()
    };
    let want = streams(file);
    for b in [as_elv, folder] {
        let again = compress("full", true, Some(Arc::new(BaseModel::open(&b).unwrap())));
        assert_eq!(streams(again), want);
    }
}

#[test]
fn optimizer_state_stays_lossless_against_a_base_by_default() {
    // Adam's second moment: values around 1e-9, far below 2^-16, moving slightly.
    let n = 4096;
    let v: Vec<f32> = (0..n)
        .map(|i| 1e-9 * (1.0 + (i % 97) as f32 / 50.0))
        .collect();
    let base_b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let ft_b: Vec<u8> = v
        .iter()
        .flat_map(|x| (x * 0.999 + 1e-12).to_le_bytes())
        .collect();
    let mut map = MapBase(HashMap::new());
    map.0
        .insert("exp_avg_sq".into(), (DType::F32, vec![n as u64], base_b));
    let layout = elv::Layout {
        collection: false,
        base: Some(Arc::new(map)),
    };
    let mut w = Writer::with_layout(Vec::new(), WriteOptions::default(), layout).unwrap();
    let r = w
        .add_tensor("exp_avg_sq", DType::F32, &[n as u64], &ft_b, Choice::Auto)
        .unwrap();
    assert!(r.encoding.is_lossless(), "{:?}", r.encoding);
    assert!(r.note.is_some(), "the guard says why");
}

#[test]
fn a_file_without_a_base_reads_as_before() {
    let opts = WriteOptions::default();
    let input = std::fs::File::open(sample("full")).unwrap();
    let file = compress_safetensors(input, Vec::new(), &opts).unwrap().0;
    let reader = Reader::from_bytes(file).unwrap();
    assert!(!reader.needs_base());
    assert_eq!(reader.base_name(), None);
}

#[test]
fn a_streamed_tensor_learns_its_twin_and_round_trips() {
    // Spans of 16 KiB: every tensor above that is encoded span by span, its twin's bytes
    // read beside each span.
    let opts = WriteOptions {
        batch_bytes: 32 << 10,
        chunk_len: 1 << 11,
        ..WriteOptions::lossless()
    };
    let layout = elv::Layout {
        collection: false,
        base: Some(base()),
    };
    let mut w = Writer::with_layout(Vec::new(), opts, layout).unwrap();
    let mut used = Vec::new();
    // The LoRA fine-tune: the position embeddings it left alone (48 KiB, three spans) are
    // smallest as a delta of zeros.
    let all = tensors(&sample("lora"));
    for (name, dtype, shape, data) in &all {
        let mut tw = w.tensor_writer(name, *dtype, shape, Choice::Auto).unwrap();
        for piece in data.chunks(1000) {
            std::io::Write::write_all(&mut tw, piece).unwrap();
        }
        used.push(tw.finish().unwrap().encoding);
    }
    assert!(used.contains(&Encoding::Delta), "{used:?}");
    let reader = Reader::from_bytes(w.finish().unwrap())
        .unwrap()
        .with_shared_base(base());
    reader.verify().unwrap();
    for (name, _, _, want) in &all {
        assert_eq!(&reader.get(name).unwrap().to_vec().unwrap(), want, "{name}");
    }
    // Without a base, a streamed delta is refused before any byte is written.
    let mut w = Writer::new(Vec::new(), opts).unwrap();
    let (name, dtype, shape, data) = &all[0];
    let mut tw = w
        .tensor_writer(name, *dtype, shape, Choice::Exact(Encoding::Delta))
        .unwrap();
    let err = data
        .chunks(1000)
        .try_for_each(|piece| std::io::Write::write_all(&mut tw, piece))
        .unwrap_err();
    assert!(err.to_string().contains("needs a base twin"), "{err}");
}
