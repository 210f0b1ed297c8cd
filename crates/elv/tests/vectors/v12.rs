//! Vectors of the 1.2 features (SPEC.md §7.7–§7.9, §9.1, §10.1): collections, deltas
//! against a base model, and the ways such files can be wrong.

use super::{elf_expected, invalid, reseal_header, reseal_section, weights, Expect, Rng, Vector};
use elv_core::engine::header::feature;
use elv_core::MemberKind;
use elv_core::{ContainerWriter, DType, Encoding, ErrorKind};

/// The base model of the delta vectors (`valid/base_model.elv`): name, dtype, shape, bytes.
fn base_tensors() -> Vec<(&'static str, DType, Vec<u64>, Vec<u8>)> {
    let mut r = Rng(1201);
    let ids: Vec<u8> = (0..8i32).flat_map(|i| (i * 3).to_le_bytes()).collect();
    let _ = r.next();
    vec![
        (
            "w",
            DType::F32,
            vec![8, 8],
            weights(DType::F32, 64, 1202, false),
        ),
        (
            "e",
            DType::F32,
            vec![64],
            weights(DType::F32, 64, 1203, true),
        ),
        (
            "b",
            DType::F32,
            vec![8],
            weights(DType::F32, 8, 1204, false),
        ),
        (
            "h",
            DType::BF16,
            vec![16],
            weights(DType::BF16, 16, 1205, false),
        ),
        ("ids", DType::I32, vec![8], ids),
    ]
}

/// A fine-tune of the base: small updates to `w`, `e` and `h`, `b` unchanged, `ids` moved.
fn tuned(name: &str, dtype: DType, base: &[u8]) -> Vec<u8> {
    let mut r = Rng(1300 + name.len() as u64);
    let size = dtype.size();
    let mut out = base.to_vec();
    if name == "b" {
        return out;
    }
    for v in out.chunks_exact_mut(size) {
        match dtype {
            DType::F32 => {
                let x = f32::from_le_bytes(v.try_into().unwrap());
                let step = ((r.next() % 201) as f32 - 100.0) * 1e-6;
                let y = if x.abs() < 1.0 { x + step } else { x };
                v.copy_from_slice(&y.to_le_bytes());
            }
            DType::BF16 => {
                let x = u16::from_le_bytes(v.try_into().unwrap());
                let y = x.wrapping_add((r.next() % 5) as u16).wrapping_sub(2);
                v.copy_from_slice(&y.to_le_bytes());
            }
            _ => {
                let x = i32::from_le_bytes(v.try_into().unwrap());
                v.copy_from_slice(&(x + 1).to_le_bytes());
            }
        }
    }
    out
}

fn blake3(b: &[u8]) -> [u8; 32] {
    *::blake3::hash(b).as_bytes()
}

/// The delta file against `base_tensors`, with `w` in `shape_w` (the base's is 8x8).
pub(super) fn delta_file(shape_w: &[u64]) -> (Vec<u8>, Vec<super::ExpectedTensor>) {
    let mut w = ContainerWriter::with_features(Vec::new(), 3, feature::BASE).unwrap();
    w.set_base_name("base_model.elv");
    let mut expected = Vec::new();
    for (name, dtype, shape, base) in base_tensors() {
        let ft = tuned(name, dtype, &base);
        let (enc, out) = match name {
            "b" => (Encoding::BaseRef, ft.clone()),
            "e" => (Encoding::ElfDelta, elf_expected(dtype, &ft)),
            _ => (Encoding::Delta, ft.clone()),
        };
        let shape = if name == "w" { shape_w.to_vec() } else { shape };
        let i = if enc == Encoding::BaseRef {
            let crc = crc32fast::hash(&ft);
            w.add_encoded_tensor(name, dtype, &shape, enc, 0, crc, [])
                .unwrap()
        } else {
            w.add_tensor_against(name, dtype, &shape, &ft, &base, enc, 32)
                .unwrap()
        };
        w.add_base_entry(i, blake3(&base), name).unwrap();
        expected.push((name.to_string(), dtype, shape, enc, out));
    }
    (w.finish().unwrap(), expected)
}

/// Collection members: (path, kind, tensors (name, dtype, shape, bytes), header).
type MemberSpec = (
    &'static str,
    MemberKind,
    Vec<(&'static str, DType, Vec<u64>, Vec<u8>)>,
);

fn collection(members: &[MemberSpec]) -> (Vec<u8>, Vec<super::ExpectedTensor>) {
    let mut w = ContainerWriter::with_features(Vec::new(), 3, feature::MEMBERS).unwrap();
    let mut expected = Vec::new();
    for (path, kind, tensors) in members {
        let header = match kind {
            MemberKind::Safetensors => safetensors_header(tensors),
            _ => String::new(),
        };
        w.begin_member(path, *kind, &header).unwrap();
        for (name, dtype, shape, data) in tensors {
            w.add_tensor(name, *dtype, shape, data, Encoding::Raw, 1 << 20)
                .unwrap();
            expected.push((
                name.to_string(),
                *dtype,
                shape.clone(),
                Encoding::Raw,
                data.clone(),
            ));
        }
    }
    (w.finish().unwrap(), expected)
}

fn safetensors_header(tensors: &[(&str, DType, Vec<u64>, Vec<u8>)]) -> String {
    let list: Vec<(String, DType, Vec<u64>)> = tensors
        .iter()
        .map(|(n, d, s, _)| (n.to_string(), *d, s.clone()))
        .collect();
    elv::safetensors::build_header(&list, &[])
}

fn folder_members() -> Vec<MemberSpec> {
    let config = b"{\"hidden_size\": 8}\n".to_vec();
    vec![
        (
            "config.json",
            MemberKind::File,
            vec![("config.json", DType::U8, vec![config.len() as u64], config)],
        ),
        (
            "model-00001-of-00002.safetensors",
            MemberKind::Safetensors,
            vec![(
                "w",
                DType::F32,
                vec![4],
                weights(DType::F32, 4, 1401, false),
            )],
        ),
        (
            "model-00002-of-00002.safetensors",
            MemberKind::Safetensors,
            vec![
                (
                    "w",
                    DType::F32,
                    vec![2],
                    weights(DType::F32, 2, 1402, false),
                ),
                (
                    "b",
                    DType::BF16,
                    vec![3],
                    weights(DType::BF16, 3, 1403, false),
                ),
            ],
        ),
        (
            "tokenizer/vocab.txt",
            MemberKind::File,
            vec![(
                "tokenizer/vocab.txt",
                DType::U8,
                vec![6],
                b"a\nb\nc\n".to_vec(),
            )],
        ),
        ("unused", MemberKind::Folder, vec![]),
    ]
}

/// Offset of `needle` in `hay` (it must be there exactly once).
fn find(hay: &[u8], needle: &[u8]) -> usize {
    let at: Vec<usize> = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        at.len(),
        1,
        "{:?} must occur once",
        String::from_utf8_lossy(needle)
    );
    at[0]
}

/// Index of the section of `kind` in a file.
fn section_of_kind(f: &[u8], kind: u8) -> usize {
    let n = u32::from_le_bytes(f[super::index_offset(f)..][..4].try_into().unwrap()) as usize;
    (0..n)
        .find(|&i| f[super::entry_field(f, i, 28)] == kind)
        .unwrap()
}

/// `file` with `from` replaced by `to` (same length) inside section `kind`, resealed.
pub(super) fn patch(file: &[u8], kind: u8, from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut f = file.to_vec();
    let s = section_of_kind(&f, kind);
    let off = super::section_offset(&f, s);
    let p = super::entry_field(&f, s, 8);
    let len = u64::from_le_bytes(f[p..p + 8].try_into().unwrap()) as usize;
    let at = off + find(&f[off..off + len], from);
    f[at..at + to.len()].copy_from_slice(to);
    reseal_section(&mut f, s);
    f
}

fn valid_with(
    name: &'static str,
    note: &'static str,
    bytes: Vec<u8>,
    tensors: Vec<super::ExpectedTensor>,
    base: Option<&'static str>,
    members: Vec<(String, &'static str, usize)>,
) -> Vector {
    Vector {
        name,
        bytes,
        expect: Expect::Valid {
            tensors,
            metadata: Vec::new(),
        },
        note,
        base,
        members,
    }
}

fn member_lines(m: &[MemberSpec]) -> Vec<(String, &'static str, usize)> {
    m.iter()
        .map(|(p, k, t)| (p.to_string(), k.name(), t.len()))
        .collect()
}

/// The bytes of `valid/collection.elv`.
pub(super) fn collection_file() -> Vec<u8> {
    collection(&folder_members()).0
}

/// The 1.2 vectors.
pub fn all() -> Vec<Vector> {
    let mut v = Vec::new();
    let mut w = ContainerWriter::new(Vec::new(), 3).unwrap();
    let mut base_expected = Vec::new();
    for (name, dtype, shape, data) in base_tensors() {
        w.add_tensor(name, dtype, &shape, &data, Encoding::Raw, 1 << 20)
            .unwrap();
        base_expected.push((name.to_string(), dtype, shape, Encoding::Raw, data));
    }
    v.push(valid_with(
        "base_model.elv",
        "the base model the delta vectors were written against (a plain file)",
        w.finish().unwrap(),
        base_expected,
        None,
        Vec::new(),
    ));
    let (delta, expected) = delta_file(&[8, 8]);
    v.push(valid_with(
        "delta_against_base.elv",
        "a fine-tune against valid/base_model.elv: delta (f32, bf16, i32), elf_delta, base (§7.7-§7.9)",
        delta.clone(),
        expected,
        Some("valid/base_model.elv"),
        Vec::new(),
    ));
    let members = folder_members();
    let (folder, expected) = collection(&members);
    debug_assert!(folder == collection_file());
    v.push(valid_with(
        "collection.elv",
        "a model folder: two safetensors shards (tensor w in both), config.json, tokenizer/vocab.txt, an empty folder unused (§10.1)",
        folder.clone(),
        expected,
        None,
        member_lines(&members),
    ));

    let with_base = |mut vec: Vector| {
        vec.base = Some("valid/base_model.elv");
        vec
    };
    v.push(invalid(
        "base_missing.elv",
        "the delta vector decoded without its base",
        delta.clone(),
        ErrorKind::BaseMissing,
    ));
    let mut b = delta.clone();
    let s = section_of_kind(&b, elv_core::engine::section::kind::BASE_TABLE);
    let off = super::section_offset(&b, s);
    // The first entry's hash: after count, reserved, name length and name, and the tensor.
    let at = off + 8 + 2 + "base_model.elv".len() + 4;
    b[at] ^= 1;
    reseal_section(&mut b, s);
    v.push(with_base(invalid(
        "base_wrong_hash.elv",
        "the delta vector with one bit of a base hash flipped, given its base",
        b,
        ErrorKind::BaseMismatch,
    )));
    let (shaped, _) = delta_file(&[4, 16]);
    v.push(with_base(invalid(
        "delta_shape_mismatch.elv",
        "a delta tensor of shape 4x16 whose base twin is 8x8",
        shaped,
        ErrorKind::BaseMismatch,
    )));
    // A delta tensor, and a base table without its entry (sections written by hand).
    let mut w = ContainerWriter::with_features(Vec::new(), 3, feature::BASE).unwrap();
    let (_, dtype, shape, base) = base_tensors().remove(0);
    let ft = tuned("w", dtype, &base);
    w.add_tensor_against("w", dtype, &shape, &ft, &base, Encoding::Delta, 64)
        .unwrap();
    let table = elv_core::fuzzing::tensor_table_to_bytes(w.tensors());
    let plain = elv_core::engine::writer::StoredStream::plain;
    w.add_section(
        elv_core::engine::section::kind::TENSOR_TABLE,
        true,
        &plain(table),
    )
    .unwrap();
    let empty = elv_core::engine::base::BaseTable::default().to_bytes();
    w.add_section(
        elv_core::engine::section::kind::BASE_TABLE,
        true,
        &plain(empty),
    )
    .unwrap();
    v.push(invalid(
        "base_entry_missing.elv",
        "a delta tensor without an entry in the base table",
        w.finish_sections_only().unwrap(),
        ErrorKind::BadBase,
    ));
    // A base table in a plain file, and then without the BASE feature bit.
    let mut w = ContainerWriter::with_features(Vec::new(), 3, feature::BASE).unwrap();
    let data = weights(DType::F32, 8, 1501, false);
    w.add_tensor("p", DType::F32, &[8], &data, Encoding::Raw, 8)
        .unwrap();
    let file = w.finish().unwrap();
    let mut b = file.clone();
    b[12] = 0; // BASE bit cleared, the base table kept
    reseal_header(&mut b);
    v.push(invalid(
        "base_table_without_feature.elv",
        "a base table in a file whose header does not set the BASE feature",
        b,
        ErrorKind::Malformed,
    ));
    let mut b = folder.clone();
    b[12] = 0; // MEMBERS bit cleared, the member table kept
    reseal_header(&mut b);
    v.push(invalid(
        "member_table_without_feature.elv",
        "a member table in a file whose header does not set the MEMBERS feature",
        b,
        ErrorKind::Malformed,
    ));
    let mt = elv_core::engine::section::kind::MEMBER_TABLE;
    for (name, note, from, to) in [
        (
            "member_path_escape.elv",
            "member path ../kenizer/vocab.txt: leaves the folder",
            &b"tokenizer/"[..],
            &b"../kenizer"[..],
        ),
        (
            "member_path_absolute.elv",
            "member path /tokenizer/vocab.txt: absolute",
            b"tokenizer/vocab.txt",
            b"/okenizer/vocab.txt",
        ),
        (
            "member_path_backslash.elv",
            "member path tokenizer\\vocab.txt",
            b"tokenizer/vocab.txt",
            b"tokenizer\\vocab.txt",
        ),
        (
            "member_path_dot.elv",
            "member path ./nfig.json",
            b"config.json",
            b"./nfig.json",
        ),
    ] {
        v.push(invalid(
            name,
            note,
            patch(&folder, mt, from, to),
            ErrorKind::BadPath,
        ));
    }
    // config.json's kind byte (the table's first member, right after count and reserved).
    let mut b = folder.clone();
    let s = section_of_kind(&b, mt);
    let off = super::section_offset(&b, s);
    b[off + 8] = MemberKind::Folder.code();
    reseal_section(&mut b, s);
    v.push(invalid(
        "member_folder_with_tensor.elv",
        "a folder member (kind 2) that owns a tensor",
        b,
        ErrorKind::Malformed,
    ));
    v.push(invalid(
        "member_path_duplicate.elv",
        "two members named model-00002-of-00002.safetensors",
        patch(&folder, mt, b"model-00001-of", b"model-00002-of"),
        ErrorKind::DuplicateName,
    ));
    v.push(invalid(
        "member_path_inside_file.elv",
        "member config.json and member config.json/vocab.txt",
        patch(&folder, mt, b"tokenizer/vocab.txt", b"config.json/vocabxx"),
        ErrorKind::BadPath,
    ));
    // Within one member a name must be unique: the second shard's b renamed w.
    let b = patch(
        &folder,
        elv_core::engine::section::kind::TENSOR_TABLE,
        &[1, 0, b'b', DType::BF16.code()],
        &[1, 0, b'w', DType::BF16.code()],
    );
    v.push(invalid(
        "member_names_repeat.elv",
        "two tensors named w in one member (across members they may repeat)",
        b,
        ErrorKind::DuplicateName,
    ));
    v
}
