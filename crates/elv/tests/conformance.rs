//! Conformance: every `testdata/valid` vector decodes to what `manifest.txt` says, every
//! `testdata/invalid` vector fails with its kind, through both readers; and the committed
//! files are exactly what the generator produces (canonical, deterministic output).

#[path = "vectors/mod.rs"]
mod vectors;

use elv::{Reader, StdCodecs};
use elv_core::{Archive, DType, Encoding, ErrorKind, ReadOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// (name, dtype, shape, encoding, bytes, hash) per tensor.
type Row = (String, String, String, String, usize, String);

type Described = Result<(Vec<Row>, Vec<(String, String)>), ErrorKind>;

fn describe_slice(bytes: &[u8]) -> Described {
    let a = Archive::parse(bytes, &StdCodecs, ReadOptions::default()).map_err(|e| e.kind())?;
    let mut rows = Vec::new();
    for (i, t) in a.tensors().iter().enumerate() {
        let d = a.decode(i).map_err(|e| e.kind())?;
        rows.push(row(&t.name, t.dtype, &t.shape, t.encoding, &d));
    }
    Ok((rows, escaped(a.metadata())))
}

fn describe_stream(bytes: &[u8], base: Option<&str>) -> Described {
    let kind = |e: elv::Error| e.kind().expect("a format error, not I/O");
    let mut r = Reader::new(bytes, ReadOptions::default()).map_err(kind)?;
    if let Some(b) = base {
        // A base that cannot be read is BaseMissing (SPEC.md §9.1), from BaseModel::open.
        r = r.with_base(elv::BaseModel::open(testdata().join(b)).map_err(kind)?);
    }
    let mut rows = Vec::new();
    for t in r.iter() {
        let d = t.to_vec().map_err(kind)?;
        rows.push(row(t.name(), t.dtype(), t.shape(), t.encoding(), &d));
    }
    r.verify().map_err(kind)?;
    // The members of a collection, as the manifest lists them: (path, kind, tensor count).
    let members = r.members().iter().map(|m| {
        (
            format!("member:{}", vectors::manifest_escape(&m.path)),
            format!("{}\t{}", m.kind.name(), m.tensors.len()),
        )
    });
    Ok((rows, members.chain(escaped(r.raw_metadata())).collect()))
}

/// Metadata as the manifest writes it.
fn escaped(m: &[(String, String)]) -> Vec<(String, String)> {
    m.iter()
        .map(|(k, v)| (vectors::manifest_escape(k), vectors::manifest_escape(v)))
        .collect()
}

fn row(name: &str, dtype: DType, shape: &[u64], encoding: Encoding, d: &[u8]) -> Row {
    (
        vectors::manifest_escape(name),
        dtype.name().to_string(),
        elv::conformance::manifest_shape(shape),
        encoding.name().to_string(),
        d.len(),
        format!("{:016x}", vectors::fnv1a64(d)),
    )
}

#[test]
fn committed_vectors_match_the_manifest() {
    let dir = testdata();
    let manifest =
        std::fs::read_to_string(dir.join("manifest.txt")).expect("testdata/manifest.txt");
    let mut tensors: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut metas: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut files: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut invalid = Vec::new();
    let mut bases: BTreeMap<String, String> = BTreeMap::new();
    for line in manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "file" => {
                files.insert(f[1].into(), (f[2].parse().unwrap(), f[3].parse().unwrap()));
            }
            "tensor" => tensors.entry(f[1].into()).or_default().push((
                f[2].into(),
                f[3].into(),
                f[4].into(),
                f[5].into(),
                f[6].parse().unwrap(),
                f[7].into(),
            )),
            "metadata" => metas
                .entry(f[1].into())
                .or_default()
                .push((f[2].into(), f[3].into())),
            // Members are compared with the metadata, ahead of it, as `member:PATH`.
            "member" => metas
                .entry(f[1].into())
                .or_default()
                .push((format!("member:{}", f[2]), format!("{}\t{}", f[3], f[4]))),
            "base" => {
                bases.insert(f[1].to_string(), f[2].to_string());
            }
            "invalid" => invalid.push((f[1].to_string(), f[2].to_string())),
            other => panic!("unknown manifest line kind {other}"),
        }
    }
    assert!(
        files.len() >= 15 && invalid.len() >= 30,
        "manifest too small: {} valid, {} invalid",
        files.len(),
        invalid.len()
    );
    for (file, (nt, nm)) in &files {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let want_t = tensors.get(file).cloned().unwrap_or_default();
        let want_m = metas.get(file).cloned().unwrap_or_default();
        let n_meta = want_m
            .iter()
            .filter(|m| !m.0.starts_with("member:"))
            .count();
        assert_eq!(
            (want_t.len(), n_meta),
            (*nt, *nm),
            "{file}: manifest counts"
        );
        let base = bases.get(file).map(String::as_str);
        let mut readers = vec![("stream", describe_stream(&bytes, base))];
        // The core's slice reader has no base model, and does not list members.
        if base.is_none() && !want_m.iter().any(|m| m.0.starts_with("member:")) {
            readers.push(("slice", describe_slice(&bytes)));
        }
        for (how, got) in readers {
            let (t, m) =
                got.unwrap_or_else(|k| panic!("{file} ({how} reader): unexpected error {k:?}"));
            assert_eq!(t, want_t, "{file} ({how} reader): tensors");
            assert_eq!(m, want_m, "{file} ({how} reader): metadata");
        }
    }
    for (file, kind) in &invalid {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let base = bases.get(file).map(String::as_str);
        let mut readers = vec![("stream", describe_stream(&bytes, base))];
        if base.is_none() {
            readers.push(("slice", describe_slice(&bytes)));
        }
        for (how, got) in readers {
            match got {
                Ok(_) => panic!("{file} ({how} reader): accepted, must fail with {kind}"),
                Err(k) => assert_eq!(k.name(), kind, "{file} ({how} reader)"),
            }
        }
    }
}

#[test]
fn committed_vectors_are_what_the_generator_writes() {
    let dir = testdata();
    let all = vectors::all();
    for v in &all {
        let on_disk = std::fs::read(dir.join(vectors::path_of(v))).unwrap_or_default();
        assert!(on_disk == v.bytes, "{} differs from the generator: run `cargo run -p elv-format --example gen_testdata -- testdata`", v.name);
    }
    let manifest = std::fs::read_to_string(dir.join("manifest.txt")).unwrap();
    assert_eq!(manifest, vectors::manifest(&all), "manifest.txt is stale");
}
