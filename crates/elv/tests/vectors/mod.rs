//! Deterministic generator of the conformance vectors in `testdata/` (SPEC.md §14).
//!
//! Shared by `examples/gen_testdata.rs` (writes the files) and `tests/conformance.rs`
//! (checks the committed files are byte-identical to what this produces). Expected decoded
//! bytes are computed here independently of the decoder: lossless tensors by their input,
//! ELF tensors by scaling and rounding in f64 (`round_ties_even`).
#![allow(dead_code)]

use elv::{WriteOptions, Writer};
use elv_core::engine::header::{Header, HEADER_LEN, TRAILER_LEN};
use elv_core::engine::metadata;
use elv_core::engine::section::{kind, ENTRY_LEN, INDEX_HEADER_LEN};
use elv_core::engine::writer::StoredStream;
use elv_core::fuzzing::encode_tensor;
use elv_core::fuzzing::tensor_table_to_bytes as table_to_bytes;
use elv_core::TensorInfo;
use elv_core::{Codec, ContainerWriter, DType, Encoding, ErrorKind};

/// An expected tensor: name, dtype, shape, encoding, decoded bytes.
pub type ExpectedTensor = (String, DType, Vec<u64>, Encoding, Vec<u8>);

/// What a vector must decode to, or the error it must give.
pub enum Expect {
    /// Tensors (name, dtype, shape, encoding, decoded bytes) in file order, and metadata.
    Valid {
        tensors: Vec<ExpectedTensor>,
        metadata: Vec<(String, String)>,
    },
    /// The error kind a conforming full reader reports (on open or decoding every tensor).
    Invalid(ErrorKind),
}

/// One conformance vector.
pub struct Vector {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub expect: Expect,
    pub note: &'static str,
    /// The vector (a path under `testdata/`) to decode it against, for a file written
    /// against a base model (SPEC.md §9.1).
    pub base: Option<&'static str>,
    /// For a collection: (path, kind, tensor count) per member (SPEC.md §10.1).
    pub members: Vec<(String, &'static str, usize)>,
}

mod v12;

/// FNV-1a, 64-bit: the manifest's hash of decoded tensor bytes.
pub use elv::conformance::fnv1a64;

/// xorshift64: deterministic inputs for the vectors and the fuzz smoke test.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// Roughly normal, mean 0, sd `sd` (sum of uniforms).
    fn weight(&mut self, sd: f64) -> f64 {
        let s: f64 = (0..4)
            .map(|_| (self.next() >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
            .sum();
        s * sd * 1.732
    }
}

fn bits_of(dtype: DType, v: f64) -> u64 {
    match dtype {
        DType::F16 => half::f16::from_f64(v).to_bits() as u64,
        DType::BF16 => half::bf16::from_f64(v).to_bits() as u64,
        DType::F32 => (v as f32).to_bits() as u64,
        DType::F64 => v.to_bits(),
        _ => unreachable!(),
    }
}

fn le(dtype: DType, bits: &[u64]) -> Vec<u8> {
    bits.iter()
        .flat_map(|b| b.to_le_bytes()[..dtype.size()].to_vec())
        .collect()
}

fn value_of(dtype: DType, bits: u64) -> f64 {
    match dtype {
        DType::F16 => half::f16::from_bits(bits as u16).to_f64(),
        DType::BF16 => half::bf16::from_bits(bits as u16).to_f64(),
        DType::F32 => f32::from_bits(bits as u32) as f64,
        _ => f64::from_bits(bits),
    }
}

/// Independent ELF model: what each value must decode to.
pub fn elf_expected(dtype: DType, data: &[u8]) -> Vec<u8> {
    let fmt = dtype.float_format().unwrap();
    let m = fmt.man_bits as i32;
    let sign_bit = 1u64 << (fmt.exp_bits + fmt.man_bits);
    let bits: Vec<u64> = data
        .chunks_exact(dtype.size())
        .map(|c| c.iter().rev().fold(0u64, |a, &b| a << 8 | b as u64))
        .map(|b| {
            let p = value_of(dtype, b);
            // Outliers (§7.2.1 steps 1 and 4) and, since 1.1, non-zero values whose code
            // would be a zero are stored exactly (§7.2.3).
            if dtype == DType::F64 {
                let q = 1.0 + p.abs();
                if p.is_nan() || q >= 2.0 || (q == 1.0 && p != 0.0) {
                    return b;
                }
                return (b & sign_bit) | (q - 1.0).to_bits();
            }
            if p.is_nan() || p.abs() >= 1.0 {
                return b;
            }
            let t = (p.abs() * 2f64.powi(m)).round_ties_even();
            if t >= 2f64.powi(m) || (t == 0.0 && p != 0.0) {
                return b;
            }
            let mag = bits_of(dtype, t / 2f64.powi(m));
            (b & sign_bit) | mag
        })
        .collect();
    le(dtype, &bits)
}

fn weights(dtype: DType, n: usize, seed: u64, outliers: bool) -> Vec<u8> {
    let mut r = Rng(seed);
    let fmt = dtype.float_format().unwrap();
    let e_all = (1u64 << fmt.exp_bits) - 1;
    let one = fmt.bias() << fmt.man_bits;
    let sign = 1u64 << (fmt.exp_bits + fmt.man_bits);
    let mut bits: Vec<u64> = (0..n).map(|_| bits_of(dtype, r.weight(0.08))).collect();
    if outliers {
        let specials = [
            0,
            sign,
            1,
            sign | 1,
            one,
            one | sign,
            one - 1,
            (one - 1) | sign,
            e_all << fmt.man_bits,
            (e_all << fmt.man_bits) | 3,
            bits_of(dtype, 2.5),
            bits_of(dtype, -7.0),
        ];
        for (k, s) in specials.iter().enumerate() {
            let at = (k * 7 + 3) % n;
            bits[at] = *s;
        }
    }
    le(dtype, &bits)
}

fn repeats(dtype: DType, n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let pool: Vec<u64> = (0..9).map(|_| bits_of(dtype, r.weight(0.3))).collect();
    let bits: Vec<u64> = (0..n)
        .map(|i| {
            if i % 5 == 4 {
                bits_of(dtype, r.weight(0.1))
            } else {
                pool[(r.next() % 9) as usize]
            }
        })
        .collect();
    le(dtype, &bits)
}

type Spec<'a> = (&'a str, DType, Vec<u64>, Vec<u8>, Encoding, u64);

fn expected(spec: &[Spec]) -> Vec<ExpectedTensor> {
    spec.iter()
        .map(|(n, d, s, data, e, _)| {
            let out = if *e == Encoding::Elf {
                elf_expected(*d, data)
            } else {
                data.clone()
            };
            (n.to_string(), *d, s.clone(), *e, out)
        })
        .collect()
}

/// A file of uncompressed sections from tensor specs.
fn plain_file(align: u8, spec: &[Spec], meta: &[(String, String)]) -> Vec<u8> {
    let mut w = ContainerWriter::new(Vec::new(), align).unwrap();
    for (name, dtype, shape, data, enc, chunk) in spec {
        w.add_tensor(name, *dtype, shape, data, *enc, *chunk)
            .unwrap();
    }
    w.set_metadata(meta.to_vec()).unwrap();
    w.finish().unwrap()
}

fn valid(
    name: &'static str,
    note: &'static str,
    bytes: Vec<u8>,
    spec: &[Spec],
    metadata: &[(String, String)],
) -> Vector {
    Vector {
        name,
        bytes,
        expect: Expect::Valid {
            tensors: expected(spec),
            metadata: metadata.to_vec(),
        },
        note,
        base: None,
        members: Vec::new(),
    }
}

fn invalid(name: &'static str, note: &'static str, bytes: Vec<u8>, kind: ErrorKind) -> Vector {
    Vector {
        name,
        bytes,
        expect: Expect::Invalid(kind),
        note,
        base: None,
        members: Vec::new(),
    }
}

/// Sections of a file, for building variants: (kind, critical, stream).
struct Parts {
    align: u8,
    tensors: Vec<TensorInfo>,
    streams: Vec<StoredStream>,
    extra: Vec<(u8, bool, StoredStream)>,
}

impl Parts {
    fn new(align: u8, spec: &[Spec]) -> Parts {
        let mut tensors = Vec::new();
        let mut streams = Vec::new();
        for (name, dtype, shape, data, enc, chunk) in spec {
            let t = encode_tensor(*enc, *dtype, data, None, *chunk).unwrap();
            tensors.push(TensorInfo {
                name: name.to_string(),
                dtype: *dtype,
                shape: shape.clone(),
                encoding: *enc,
                error_bound_log2: enc.error_bound_log2(*dtype),
                crc32: t.crc32,
                chunk_len: t.chunk_len,
                first_stream: streams.len() as u32,
                dedup_of: None,
            });
            streams.extend(t.streams.into_iter().map(StoredStream::plain));
        }
        Parts {
            align,
            tensors,
            streams,
            extra: Vec::new(),
        }
    }
    fn build(&self) -> Vec<u8> {
        self.build_with_table(table_to_bytes(&self.tensors))
    }
    fn build_with_table(&self, table: Vec<u8>) -> Vec<u8> {
        let mut w = ContainerWriter::new(Vec::new(), self.align).unwrap();
        for s in &self.streams {
            w.add_section(kind::STREAM, true, s).unwrap();
        }
        w.add_section(kind::TENSOR_TABLE, true, &StoredStream::plain(table))
            .unwrap();
        for (k, c, s) in &self.extra {
            w.add_section(*k, *c, s).unwrap();
        }
        w.finish_sections_only().unwrap()
    }
}

fn reseal_header(f: &mut [u8]) {
    let crc = crc32fast::hash(&f[..28]);
    f[28..32].copy_from_slice(&crc.to_le_bytes());
}

fn index_offset(f: &[u8]) -> usize {
    let t = f.len() - TRAILER_LEN;
    u64::from_le_bytes(f[t..t + 8].try_into().unwrap()) as usize
}

/// Byte offset of field `at` of index entry `i`.
fn entry_field(f: &[u8], i: usize, at: usize) -> usize {
    index_offset(f) + INDEX_HEADER_LEN + ENTRY_LEN * i + at
}

fn reseal_index(f: &mut [u8]) {
    let io = index_offset(f);
    let t = f.len() - TRAILER_LEN;
    let crc = crc32fast::hash(&f[io..t]);
    f[t + 16..t + 20].copy_from_slice(&crc.to_le_bytes());
}

/// Offset of section `i`'s stored bytes.
fn section_offset(f: &[u8], i: usize) -> usize {
    let p = entry_field(f, i, 0);
    u64::from_le_bytes(f[p..p + 8].try_into().unwrap()) as usize
}

/// Recomputes section `i`'s CRC after its bytes were edited, then the index CRC.
fn reseal_section(f: &mut [u8], i: usize) {
    let off = section_offset(f, i);
    let p = entry_field(f, i, 8);
    let len = u64::from_le_bytes(f[p..p + 8].try_into().unwrap()) as usize;
    let crc = crc32fast::hash(&f[off..off + len]);
    let c = entry_field(f, i, 24);
    f[c..c + 4].copy_from_slice(&crc.to_le_bytes());
    reseal_index(f);
}

fn s(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// Every vector, in a fixed order.
pub fn all() -> Vec<Vector> {
    let mut v = Vec::new();
    valid_plain(&mut v);
    valid_sections(&mut v);
    invalid_framing(&mut v);
    invalid_tables(&mut v);
    invalid_streams(&mut v);
    v.extend(v12::all());
    let _ = Header::new(0);
    v
}

/// The manifest text (SPEC.md §14.1).
pub use elv::conformance::manifest_field as manifest_escape;

pub fn manifest(vectors: &[Vector]) -> String {
    let mut m = String::from(
        "# elv conformance vectors (SPEC.md §14). Generated by `cargo run -p elv-format --example gen_testdata`; do not edit.\n\
         # Fields are separated by one TAB.\n\
         # file      valid/NAME.elv  TENSOR_COUNT  METADATA_COUNT  note\n\
         # tensor    valid/NAME.elv  NAME  DTYPE  SHAPE(dims joined by x; - for a scalar)  ENCODING  DECODED_BYTES  FNV1A64(decoded, hex)\n\
         # metadata  valid/NAME.elv  KEY  VALUE\n\
         # NAME, KEY and VALUE escape backslash, TAB, LF, CR as \\\\, \\t, \\n, \\r, other control characters as \\u{HEX}.\n\
         # member    valid/NAME.elv  PATH  KIND(safetensors or file)  TENSOR_COUNT   (collections, after the tensors)\n\
         # invalid   invalid/NAME.elv  ERROR_KIND  note\n\
         # base      FILE  BASE_FILE   (decode FILE against the base model BASE_FILE, a valid vector)\n",
    );
    for v in vectors {
        match &v.expect {
            Expect::Valid { tensors, metadata } => {
                m += &format!(
                    "file\tvalid/{}\t{}\t{}\t{}\n",
                    v.name,
                    tensors.len(),
                    metadata.len(),
                    v.note
                );
                for (name, d, shape, e, bytes) in tensors {
                    let sh = elv::conformance::manifest_shape(shape);
                    m += &format!(
                        "tensor\tvalid/{}\t{}\t{}\t{}\t{}\t{}\t{:016x}\n",
                        v.name,
                        manifest_escape(name),
                        d.name(),
                        sh,
                        e.name(),
                        bytes.len(),
                        fnv1a64(bytes)
                    );
                }
                for (path, kind, count) in &v.members {
                    m += &format!(
                        "member\tvalid/{}\t{}\t{}\t{}\n",
                        v.name,
                        manifest_escape(path),
                        kind,
                        count
                    );
                }
                for (k, val) in metadata {
                    m += &format!(
                        "metadata\tvalid/{}\t{}\t{}\n",
                        v.name,
                        manifest_escape(k),
                        manifest_escape(val)
                    );
                }
            }
            Expect::Invalid(k) => {
                m += &format!("invalid\tinvalid/{}\t{}\t{}\n", v.name, k.name(), v.note)
            }
        }
        if let Some(b) = v.base {
            m += &format!("base\t{}\t{b}\n", path_of(v));
        }
    }
    m
}

/// Where a vector's file lives under `testdata/`.
pub fn path_of(v: &Vector) -> String {
    match v.expect {
        Expect::Valid { .. } => format!("valid/{}", v.name),
        Expect::Invalid(_) => format!("invalid/{}", v.name),
    }
}

/// Valid files of plain sections: every dtype raw, ELF, planes, bytes, DE, shapes, zstd.
fn valid_plain(v: &mut Vec<Vector>) {
    let no_meta: Vec<(String, String)> = Vec::new();
    // ---- valid ----
    v.push(valid(
        "empty_file.elv",
        "smallest valid file: no tensors (annotated in SPEC.md §14.2)",
        plain_file(3, &[], &no_meta),
        &[],
        &no_meta,
    ));

    let mut raw_all: Vec<Spec> = Vec::new();
    for (k, d) in DType::all().iter().enumerate() {
        let n = 6usize;
        let mut r = Rng(100 + k as u64);
        let data: Vec<u8> = (0..n * d.size()).map(|_| (r.next() >> 33) as u8).collect();
        let data = if *d == DType::Bool {
            data.iter().map(|b| b & 1).collect()
        } else {
            data
        };
        raw_all.push((d.name(), *d, vec![2, 3], data, Encoding::Raw, 1 << 20));
    }
    v.push(valid(
        "raw_all_dtypes.elv",
        "one raw tensor of every dtype",
        plain_file(3, &raw_all, &no_meta),
        &raw_all,
        &no_meta,
    ));

    for (name, d, seed) in [
        ("elf_f32.elv", DType::F32, 1u64),
        ("elf_f16.elv", DType::F16, 2),
        ("elf_bf16.elv", DType::BF16, 3),
        ("elf_f64.elv", DType::F64, 4),
    ] {
        let spec: Vec<Spec> = vec![(
            "w",
            d,
            vec![10, 10],
            weights(d, 100, seed, true),
            Encoding::Elf,
            64,
        )];
        v.push(valid(name, "ELF in two chunks, with ±0, subnormals, ±1, the largest value below 1, ±inf, NaN and |p|>1 outliers", plain_file(3, &spec, &no_meta), &spec, &no_meta));
    }
    for (name, d, seed) in [
        ("planes_f32.elv", DType::F32, 5u64),
        ("planes_f16.elv", DType::F16, 6),
        ("planes_bf16.elv", DType::BF16, 7),
        ("planes_f64.elv", DType::F64, 8),
    ] {
        let spec: Vec<Spec> = vec![(
            "w",
            d,
            vec![5, 20],
            weights(d, 100, seed, true),
            Encoding::FloatPlanes,
            40,
        )];
        v.push(valid(
            name,
            "lossless float planes in three chunks, edge values included",
            plain_file(3, &spec, &no_meta),
            &spec,
            &no_meta,
        ));
    }
    for (name, d, seed) in [
        ("de_f32.elv", DType::F32, 9u64),
        ("de_f16.elv", DType::F16, 10),
        ("de_f64.elv", DType::F64, 11),
    ] {
        let spec: Vec<Spec> = vec![("w", d, vec![120], repeats(d, 120, seed), Encoding::De, 50)];
        v.push(valid(
            name,
            "DE over values that repeat, three chunks",
            plain_file(3, &spec, &no_meta),
            &spec,
            &no_meta,
        ));
    }
    for (name, d, seed) in [
        ("bytes_f16.elv", DType::F16, 14u64),
        ("bytes_f32.elv", DType::F32, 15),
    ] {
        let spec: Vec<Spec> = vec![(
            "w",
            d,
            vec![100],
            weights(d, 100, seed, true),
            Encoding::BytePlanes,
            64,
        )];
        v.push(valid(
            name,
            "lossless byte planes in two chunks, edge values included",
            plain_file(3, &spec, &no_meta),
            &spec,
            &no_meta,
        ));
    }
    let u16s: Vec<u8> = (0..50u16).flat_map(|i| (i * 977).to_le_bytes()).collect();
    let bytes_int: Vec<Spec> = vec![("ids", DType::U16, vec![50], u16s, Encoding::BytePlanes, 50)];
    v.push(valid(
        "bytes_u16.elv",
        "byte planes on an integer tensor",
        plain_file(3, &bytes_int, &no_meta),
        &bytes_int,
        &no_meta,
    ));
    let i32s: Vec<u8> = (0..64i32)
        .map(|i| i % 7)
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let de_int: Vec<Spec> = vec![("ids", DType::I32, vec![64], i32s, Encoding::De, 64)];
    v.push(valid(
        "de_i32.elv",
        "DE on an integer tensor",
        plain_file(3, &de_int, &no_meta),
        &de_int,
        &no_meta,
    ));

    let shapes: Vec<Spec> = vec![
        (
            "empty",
            DType::F32,
            vec![0, 4],
            vec![],
            Encoding::Elf,
            1 << 20,
        ),
        (
            "scalar",
            DType::F32,
            vec![],
            0.125f32.to_le_bytes().to_vec(),
            Encoding::Raw,
            1 << 20,
        ),
        (
            "scalar_elf",
            DType::F16,
            vec![],
            half::f16::from_f32(-0.3).to_le_bytes().to_vec(),
            Encoding::Elf,
            1 << 20,
        ),
        (
            "zero_dim",
            DType::I64,
            vec![3, 0, 2],
            vec![],
            Encoding::Raw,
            1 << 20,
        ),
    ];
    v.push(valid(
        "empty_and_scalar.elv",
        "empty tensors (no chunks, no streams) and rank-0 scalars",
        plain_file(3, &shapes, &no_meta),
        &shapes,
        &no_meta,
    ));

    let zspec: Vec<Spec> = vec![
        (
            "a",
            DType::F32,
            vec![300],
            weights(DType::F32, 300, 12, false),
            Encoding::FloatPlanes,
            1 << 20,
        ),
        (
            "b",
            DType::F32,
            vec![300],
            weights(DType::F32, 300, 13, true),
            Encoding::Elf,
            128,
        ),
        (
            "c",
            DType::U8,
            vec![256],
            vec![7u8; 256],
            Encoding::Raw,
            1 << 20,
        ),
    ];
    let zmeta = vec![s("format", "pt")];
    let zbytes = {
        let mut w = Writer::new(
            Vec::new(),
            WriteOptions {
                chunk_len: 1 << 20,
                ..WriteOptions::default()
            },
        )
        .unwrap();
        for (n, d, sh, data, e, ch) in &zspec {
            w.set_chunk_len(*ch);
            w.add_tensor(n, *d, sh, data, elv::Choice::Exact(*e))
                .unwrap();
        }
        w.set_metadata(zmeta.clone()).unwrap();
        w.finish().unwrap()
    };
    v.push(valid(
        "zstd_sections.elv",
        "streams and tables with codec zstd where it shrinks them",
        zbytes,
        &zspec,
        &zmeta,
    ));
}

/// Valid files exercising sections: `ans`, dedup, metadata, any-UTF-8 names, ancillary sections, zstd frames.
fn valid_sections(v: &mut Vec<Vector>) {
    let no_meta: Vec<(String, String)> = Vec::new();
    // ans sections: a skewed plane (rANS blocks), a constant block and a stored block.
    let (skew, aspec) = skewed_plane();
    let abytes = {
        let mut w = ContainerWriter::new(Vec::new(), 3).unwrap();
        let stream = StoredStream {
            codec: Codec::Ans,
            stored: elv_core::engine::ans::encode(&skew),
            decoded_len: skew.len() as u64,
        };
        w.add_encoded_tensor(
            "skewed",
            DType::U8,
            &[skew.len() as u64],
            Encoding::Raw,
            skew.len() as u64,
            crc32fast::hash(&skew),
            [stream],
        )
        .unwrap();
        w.finish().unwrap()
    };
    v.push(valid(
        "ans_blocks.elv",
        "a stream with codec ans: rANS, constant and stored blocks",
        abytes,
        &aspec,
        &no_meta,
    ));

    let dspec: Vec<Spec> = vec![(
        "a",
        DType::F32,
        vec![4],
        [0.5f32, -0.25, 2.0, 0.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Encoding::Raw,
        1 << 20,
    )];
    let dedup_bytes = {
        let mut w = ContainerWriter::new(Vec::new(), 3).unwrap();
        let (n, d, sh, data, e, ch) = &dspec[0];
        let a = w.add_tensor(n, *d, sh, data, *e, *ch).unwrap();
        w.add_tensor("b", DType::I8, &[2], &[1, 2], Encoding::Raw, 8)
            .unwrap();
        w.add_dedup("a_again", a).unwrap();
        w.finish().unwrap()
    };
    let mut dexp = dspec.clone();
    dexp.push(("b", DType::I8, vec![2], vec![1, 2], Encoding::Raw, 8));
    dexp.push((
        "a_again",
        DType::F32,
        vec![4],
        dspec[0].3.clone(),
        Encoding::Dedup,
        0,
    ));
    v.push(valid(
        "dedup.elv",
        "tensor a_again is stored once, as a reference to a",
        dedup_bytes,
        &dexp,
        &no_meta,
    ));

    let lossy: Vec<Spec> = vec![(
        "w",
        DType::F32,
        vec![40],
        weights(DType::F32, 40, 21, true),
        Encoding::Elf,
        64,
    )];
    let dedup_elf = {
        let mut w = ContainerWriter::new(Vec::new(), 3).unwrap();
        let (n, d, sh, data, e, ch) = &lossy[0];
        let a = w.add_tensor(n, *d, sh, data, *e, *ch).unwrap();
        w.add_dedup("w_again", a).unwrap();
        w.finish().unwrap()
    };
    let mut lossy_tensors = expected(&lossy);
    lossy_tensors.push((
        "w_again".to_string(),
        DType::F32,
        vec![40],
        Encoding::Dedup,
        elf_expected(DType::F32, &lossy[0].3),
    ));
    v.push(Vector {
        name: "dedup_of_elf.elv",
        bytes: dedup_elf,
        expect: Expect::Valid {
            tensors: lossy_tensors,
            metadata: Vec::new(),
        },
        note: "a reference to an ELF tensor: the same lossy bytes, and the same bound 2^-24",
        base: None,
        members: Vec::new(),
    });

    let meta = vec![
        s("__metadata__.format", "pt"),
        s("comment", "poids compressés ✓"),
        s("empty", ""),
    ];
    let mspec: Vec<Spec> = vec![(
        "x",
        DType::BF16,
        vec![2],
        vec![0x80, 0x3f, 0x00, 0xc0],
        Encoding::Raw,
        4,
    )];
    v.push(valid(
        "metadata.elv",
        "file metadata, UTF-8, kept in order",
        plain_file(3, &mspec, &meta),
        &mspec,
        &meta,
    ));

    let mut anc = Parts::new(3, &mspec);
    anc.extra.push((
        200,
        false,
        StoredStream::plain(b"a private ancillary section".to_vec()),
    ));
    v.push(valid(
        "unknown_ancillary_section.elv",
        "an ancillary section of unknown kind 200: readers ignore it",
        anc.build(),
        &mspec,
        &no_meta,
    ));
    // Names and keys are any UTF-8: empty, with TAB, LF, NUL, `/` (SPEC.md §2.4, §14.1).
    let nspec: Vec<Spec> = vec![
        ("", DType::U8, vec![1], vec![1], Encoding::Raw, 1),
        ("a\tb\nc\\d", DType::U8, vec![1], vec![2], Encoding::Raw, 1),
        (
            "x\0y/z\u{1b}[8m",
            DType::U8,
            vec![1],
            vec![3],
            Encoding::Raw,
            1,
        ),
    ];
    let nmeta = vec![("k\te\ny".to_string(), "v\r\\".to_string())];
    v.push(valid(
        "names_any_utf8.elv",
        "tensor names and a metadata key with TAB, LF, NUL, ESC, backslash and the empty name",
        plain_file(3, &nspec, &nmeta),
        &nspec,
        &nmeta,
    ));

    // An ancillary section whose codec no decoder knows: ignored when decoding, and a whole-
    // file check verifies its CRC without undoing its codec (§4.2).
    let mut anc = Parts::new(3, &mspec);
    anc.extra
        .push((201, false, StoredStream::plain(b"codec 9".to_vec())));
    let mut b = anc.build();
    let c = entry_field(&b, anc.streams.len() + 1, 29);
    b[c] = 9;
    reseal_index(&mut b);
    v.push(valid(
        "ancillary_unknown_codec.elv",
        "an ancillary section of unknown kind with codec 9: readers ignore it",
        b,
        &mspec,
        &[],
    ));

    // zstd sections are exactly one frame (§4.3).
    let zspec: Vec<Spec> = vec![(
        "z",
        DType::U8,
        vec![300],
        (0..300u32).map(|i| (i % 7) as u8).collect(),
        Encoding::Raw,
        300,
    )];
    let zstd_variant = |edit: &dyn Fn(Vec<u8>) -> Vec<u8>| {
        let mut p = Parts::new(3, &zspec);
        let raw = p.streams[0].stored.clone();
        p.streams[0] = StoredStream {
            codec: Codec::Zstd,
            stored: edit(zstd::bulk::compress(&raw, 3).unwrap()),
            decoded_len: raw.len() as u64,
        };
        p.build()
    };
    v.push(valid(
        "zstd_one_frame.elv",
        "a raw stream stored as one zstd frame",
        zstd_variant(&|f| f),
        &zspec,
        &[],
    ));
    for (name, note, edit) in [
        (
            "zstd_trailing_bytes.elv",
            "a zstd section with three zero bytes after its frame",
            (&|mut f: Vec<u8>| {
                f.extend_from_slice(&[0, 0, 0]);
                f
            }) as &dyn Fn(Vec<u8>) -> Vec<u8>,
        ),
        (
            "zstd_two_frames.elv",
            "a zstd section of the frame and a second, empty frame",
            &|mut f: Vec<u8>| {
                f.extend(zstd::bulk::compress(&[], 3).unwrap());
                f
            },
        ),
        (
            "zstd_skippable_frame.elv",
            "a zstd section that starts with a skippable frame",
            &|f: Vec<u8>| {
                let mut s = vec![0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
                s.extend(f);
                s
            },
        ),
        (
            "zstd_truncated.elv",
            "a zstd section cut in the middle of its frame",
            &|f: Vec<u8>| f[..f.len() / 2].to_vec(),
        ),
        (
            "zstd_empty.elv",
            "a zstd section of zero stored bytes",
            &|_: Vec<u8>| Vec::new(),
        ),
    ] {
        v.push(invalid(
            name,
            note,
            zstd_variant(edit),
            ErrorKind::Malformed,
        ));
    }

    let mut opt = plain_file(3, &mspec, &no_meta);
    opt[10] = 9; // minor version 9
    opt[16] = 0x80; // an optional feature bit readers do not know
    reseal_header(&mut opt);
    v.push(valid(
        "optional_feature_newer_minor.elv",
        "minor version 9 and an unknown optional feature bit: readers accept",
        opt,
        &mspec,
        &no_meta,
    ));

    let a12: Vec<Spec> = vec![(
        "w",
        DType::F32,
        vec![3],
        [0.1f32, 0.2, 0.3]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Encoding::Raw,
        8,
    )];
    v.push(valid(
        "align_4096.elv",
        "sections aligned to 4096 bytes",
        plain_file(12, &a12, &no_meta),
        &a12,
        &no_meta,
    ));
    v.push(valid(
        "align_1.elv",
        "no alignment padding",
        plain_file(0, &a12, &no_meta),
        &a12,
        &no_meta,
    ));
}

/// Invalid files broken in their framing: header, index, trailer, section placement and CRCs.
fn invalid_framing(v: &mut Vec<Vector>) {
    let no_meta: Vec<(String, String)> = Vec::new();
    // ---- invalid ----
    let base_spec = base_spec();
    let base = plain_file(3, &base_spec, &no_meta);

    v.push(invalid(
        "empty.elv",
        "zero bytes",
        Vec::new(),
        ErrorKind::Truncated,
    ));
    v.push(invalid(
        "short_header.elv",
        "the first 20 bytes of a file",
        base[..20].to_vec(),
        ErrorKind::Truncated,
    ));
    let mut b = base.clone();
    b[1] = b'e';
    v.push(invalid(
        "bad_magic.elv",
        "header magic altered",
        b,
        ErrorKind::BadMagic,
    ));
    let mut b = base.clone();
    let n = b.len();
    b[n - 1] = b'Y';
    v.push(invalid(
        "bad_trailer_magic.elv",
        "trailer magic altered",
        b,
        ErrorKind::BadMagic,
    ));
    v.push(invalid(
        "truncated.elv",
        "a file cut short: its last bytes are not a trailer",
        base[..base.len() - 5].to_vec(),
        ErrorKind::BadMagic,
    ));
    let mut b = base.clone();
    b[17] ^= 1;
    v.push(invalid(
        "header_crc.elv",
        "a header bit flipped, CRC not updated",
        b,
        ErrorKind::ChecksumMismatch,
    ));
    let mut b = base.clone();
    b[8] = 2;
    reseal_header(&mut b);
    v.push(invalid(
        "version_2.elv",
        "major version 2",
        b,
        ErrorKind::UnsupportedVersion,
    ));
    let mut b = base.clone();
    b[12] = 4;
    reseal_header(&mut b);
    v.push(invalid(
        "unknown_required_feature.elv",
        "required feature bit 2 set (bits 0 and 1 are defined since 1.2)",
        b,
        ErrorKind::UnknownRequiredFeature,
    ));
    let mut b = base.clone();
    b[25] = 1;
    reseal_header(&mut b);
    v.push(invalid(
        "header_reserved.elv",
        "a reserved header byte set, CRC updated",
        b,
        ErrorKind::ReservedNonZero,
    ));
    let mut b = base.clone();
    b[20] = 17;
    reseal_header(&mut b);
    v.push(invalid(
        "alignment_too_large.elv",
        "alignment exponent 17",
        b,
        ErrorKind::Malformed,
    ));
    let mut b = base.clone();
    let off = section_offset(&b, 0);
    b[off] ^= 0x10;
    v.push(invalid(
        "section_crc.elv",
        "a stream byte flipped, section CRC not updated",
        b,
        ErrorKind::ChecksumMismatch,
    ));
    let mut b = base.clone();
    let p = entry_field(&b, 0, 24);
    b[p] ^= 1;
    v.push(invalid(
        "index_crc.elv",
        "an index byte flipped, index CRC not updated",
        b,
        ErrorKind::ChecksumMismatch,
    ));
    let mut b = base.clone();
    let off = section_offset(&b, 0);
    b[off] ^= 0x10;
    reseal_section(&mut b, 0);
    v.push(invalid(
        "tensor_crc.elv",
        "stream bytes changed and resealed: only the tensor CRC catches it",
        b,
        ErrorKind::ChecksumMismatch,
    ));
    let mut b = base.clone();
    let p = entry_field(&b, 0, 0);
    b[p] += 8;
    reseal_index(&mut b);
    v.push(invalid(
        "section_offset.elv",
        "a section offset that does not follow the previous section",
        b,
        ErrorKind::OutOfRange,
    ));
    let mut b = base.clone();
    let t = b.len() - TRAILER_LEN;
    b[t..t + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    v.push(invalid(
        "index_offset.elv",
        "trailer points the index beyond the file",
        b,
        ErrorKind::OutOfRange,
    ));
    let mut b = base.clone();
    let p = index_offset(&b);
    b[p..p + 4].copy_from_slice(&(1u32 << 30).to_le_bytes());
    reseal_index(&mut b);
    v.push(invalid(
        "section_count_limit.elv",
        "an index claiming 2^30 sections",
        b,
        ErrorKind::LimitExceeded,
    ));
    let mut b = base.clone();
    let p = entry_field(&b, 0, 16);
    let c = entry_field(&b, 0, 29);
    b[p..p + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    b[c] = Codec::Zstd.code();
    reseal_index(&mut b);
    v.push(invalid(
        "huge_section.elv",
        "a 32-byte zstd section claiming 1 TiB decoded",
        b,
        ErrorKind::LimitExceeded,
    ));
    let mut b = base.clone();
    let p = entry_field(&b, 0, 16);
    let c = entry_field(&b, 0, 29);
    b[p..p + 8].copy_from_slice(&(1u64 << 30).to_le_bytes());
    b[c] = Codec::Ans.code();
    reseal_index(&mut b);
    v.push(invalid(
        "stream_longer_than_chunk.elv",
        "an 8-value f32 raw chunk whose ans stream declares 2^30 decoded bytes",
        b,
        ErrorKind::Malformed,
    ));
    let mut b = base.clone();
    let t = entry_field(&b, 1, 16);
    let c = entry_field(&b, 1, 29);
    b[t..t + 8].copy_from_slice(&(1u64 << 30).to_le_bytes());
    b[c] = Codec::Ans.code();
    reseal_index(&mut b);
    v.push(invalid(
        "table_section_limit.elv",
        "a tensor table whose ans section declares 2^30 decoded bytes",
        b,
        ErrorKind::LimitExceeded,
    ));
    let mut b = base.clone();
    let c = entry_field(&b, 0, 29);
    b[c] = 9;
    reseal_index(&mut b);
    v.push(invalid(
        "unknown_codec.elv",
        "a stream with codec 9",
        b,
        ErrorKind::UnsupportedCodec,
    ));

    let mut crit = Parts::new(3, &base_spec);
    crit.extra
        .push((200, true, StoredStream::plain(vec![1, 2, 3])));
    v.push(invalid(
        "unknown_critical_section.elv",
        "a critical section of unknown kind 200",
        crit.build(),
        ErrorKind::UnknownCriticalSection,
    ));

    let mut pad = Parts::new(
        3,
        &[("w", DType::U8, vec![3], vec![1, 2, 3], Encoding::Raw, 8)],
    )
    .build();
    pad[HEADER_LEN + 3] = 1;
    v.push(invalid(
        "padding_nonzero.elv",
        "a padding byte after a section is not zero",
        pad,
        ErrorKind::ReservedNonZero,
    ));
}

/// Invalid files broken in their tables: shapes, the tensor table, the dedup table.
fn invalid_tables(v: &mut Vec<Vector>) {
    let base_spec = base_spec();
    let table_variant = |edit: &dyn Fn(&mut Vec<TensorInfo>)| {
        let mut p = Parts::new(3, &base_spec);
        edit(&mut p.tensors);
        p.build()
    };
    v.push(invalid(
        "huge_tensor.elv",
        "a tensor claiming 2^39 f32 values (2 TiB) in a tiny file",
        table_variant(&|t| t[0].shape = vec![1 << 39]),
        ErrorKind::LimitExceeded,
    ));
    v.push(invalid(
        "chunk_bytes_limit.elv",
        "a u8 tensor of 2^31 values in one 2^31-byte chunk, beyond the 2^25-byte chunk limit",
        table_variant(&|t| {
            t[0].dtype = DType::U8;
            t[0].shape = vec![1 << 31];
            t[0].chunk_len = 1 << 31;
        }),
        ErrorKind::LimitExceeded,
    ));
    v.push(invalid(
        "shape_overflow.elv",
        "dimensions whose product overflows 64 bits",
        table_variant(&|t| t[0].shape = vec![1 << 40, 1 << 40]),
        ErrorKind::LimitExceeded,
    ));
    // The shape product, left to right (SPEC.md §2.4): an overflow is an error even if a
    // later dimension is 0; a 0 first makes every later product 0.
    v.push(invalid(
        "shape_overflow_before_zero.elv",
        "dimensions [2^40, 2^40, 0]: the product overflows before the 0",
        table_variant(&|t| {
            t[0].shape = vec![1 << 40, 1 << 40, 0];
            t[0].chunk_len = 0;
        }),
        ErrorKind::LimitExceeded,
    ));
    let zspec0: Vec<Spec> = vec![(
        "z",
        DType::F32,
        vec![0, 1 << 40, 1 << 40],
        Vec::new(),
        Encoding::Raw,
        1,
    )];
    v.push(valid(
        "shape_zero_first.elv",
        "dimensions [0, 2^40, 2^40]: an empty tensor",
        plain_file(3, &zspec0, &[]),
        &zspec0,
        &[],
    ));
    // The tensor table's header: its reserved field, and a count its bytes cannot hold.
    let p = Parts::new(3, &base_spec);
    let mut table = table_to_bytes(&p.tensors);
    table[4] = 1;
    v.push(invalid(
        "table_header_reserved.elv",
        "the tensor table's reserved u32 is 1",
        p.build_with_table(table),
        ErrorKind::ReservedNonZero,
    ));
    let mut table = table_to_bytes(&p.tensors);
    table[..4].copy_from_slice(&1000u32.to_le_bytes());
    v.push(invalid(
        "table_shorter_than_count.elv",
        "a tensor table counting 1000 records in fewer than 8 + 26*1000 bytes",
        p.build_with_table(table),
        ErrorKind::Truncated,
    ));
    // A STREAM entry after the tensor table.
    let mut late = Parts::new(3, &base_spec);
    late.extra
        .push((kind::STREAM, true, StoredStream::plain(vec![0; 4])));
    v.push(invalid(
        "stream_after_table.elv",
        "a STREAM section after the tensor table in the index",
        late.build(),
        ErrorKind::Malformed,
    ));
    // A valid header and nothing else: no room for a trailer.
    v.push(invalid(
        "header_only.elv",
        "a valid 32-byte header and nothing after it",
        elv_core::engine::header::Header::new(3).to_bytes().to_vec(),
        ErrorKind::Truncated,
    ));
    // ELF outlier values cut short: the stream's length is known, so Malformed.
    let espec: Vec<Spec> = vec![(
        "e",
        DType::F32,
        vec![4],
        [0.5f32, 3.0, -0.25, 0.125]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Encoding::Elf,
        4,
    )];
    let mut ep = Parts::new(3, &espec);
    let s0 = &mut ep.streams[0];
    let short = s0.stored[..s0.stored.len() - 1].to_vec();
    *s0 = StoredStream::plain(short);
    v.push(invalid(
        "elf_outlier_values_short.elv",
        "an ELF outlier stream one byte short of its K values",
        ep.build(),
        ErrorKind::Malformed,
    ));

    v.push(invalid(
        "chunk_len_zero.elv",
        "a non-empty tensor with chunk length 0",
        table_variant(&|t| t[0].chunk_len = 0),
        ErrorKind::Malformed,
    ));
    v.push(invalid(
        "wrong_error_bound.elv",
        "a raw tensor claiming an error bound",
        table_variant(&|t| t[0].error_bound_log2 = 24),
        ErrorKind::Malformed,
    ));
    v.push(invalid(
        "elf_on_integers.elv",
        "encoding ELF on an I32 tensor",
        table_variant(&|t| {
            t[0].dtype = DType::I32;
            t[0].encoding = Encoding::Elf;
        }),
        ErrorKind::UnknownEncoding,
    ));
    v.push(invalid(
        "raw_length_mismatch.elv",
        "a shape that does not match the stream length",
        table_variant(&|t| {
            t[0].shape = vec![4];
            t[0].chunk_len = 4;
        }),
        ErrorKind::Malformed,
    ));

    let mut p = Parts::new(3, &base_spec);
    let mut tb = table_to_bytes(&p.tensors);
    tb[8 + 2 + 1] = 99; // dtype
    v.push(invalid(
        "unknown_dtype.elv",
        "dtype code 99",
        p.build_with_table(tb.clone()),
        ErrorKind::UnknownDtype,
    ));
    tb[8 + 2 + 1] = DType::F32.code();
    tb[8 + 2 + 2] = 9; // encoding
    v.push(invalid(
        "unknown_encoding.elv",
        "encoding code 9",
        p.build_with_table(tb.clone()),
        ErrorKind::UnknownEncoding,
    ));
    tb[8 + 2 + 2] = 0;
    tb[8 + 2 + 1 + 1 + 1 + 1 + 1 + 4 + 8 + 4] = 1; // reserved after first_stream
    v.push(invalid(
        "tensor_reserved.elv",
        "a reserved tensor-record byte set",
        p.build_with_table(tb),
        ErrorKind::ReservedNonZero,
    ));
    let mut tb = table_to_bytes(&p.tensors);
    tb[8 + 2] = 0xff; // name "w" -> invalid UTF-8
    v.push(invalid(
        "name_not_utf8.elv",
        "a tensor name that is not UTF-8",
        p.build_with_table(tb),
        ErrorKind::InvalidUtf8,
    ));
    p.streams.push(StoredStream::plain(vec![0; 4]));
    v.push(invalid(
        "orphan_stream.elv",
        "a stream section no tensor owns",
        p.build(),
        ErrorKind::Malformed,
    ));

    let two: Vec<Spec> = vec![
        base_spec[0].clone(),
        ("w", DType::U8, vec![1], vec![1], Encoding::Raw, 1),
    ];
    let mut p = Parts::new(3, &two);
    v.push(invalid(
        "duplicate_name.elv",
        "two tensors named w",
        p.build(),
        ErrorKind::DuplicateName,
    ));
    p.tensors[1].name = "v".into();
    p.extra.push((
        kind::METADATA,
        false,
        StoredStream::plain(metadata::to_bytes(&[s("k", "1"), s("k", "2")])),
    ));
    v.push(invalid(
        "duplicate_metadata_key.elv",
        "metadata with key k twice",
        p.build(),
        ErrorKind::DuplicateName,
    ));

    let dedup_variant = |pairs: &[(u32, u32)], retype: Option<DType>| {
        let spec: Vec<Spec> = vec![
            base_spec[0].clone(),
            (
                "x",
                DType::F32,
                vec![8],
                base_spec[0].3.clone(),
                Encoding::Raw,
                8,
            ),
        ];
        let mut p = Parts::new(3, &spec);
        let mut d = p.tensors[0].clone();
        d.name = "dup".into();
        d.encoding = Encoding::Dedup;
        d.chunk_len = 0;
        d.first_stream = p.streams.len() as u32;
        if let Some(t) = retype {
            d.dtype = t;
            d.shape = vec![32];
        }
        p.tensors.push(d.clone());
        d.name = "dup2".into();
        p.tensors.push(d);
        p.extra.push((
            kind::DEDUP_TABLE,
            true,
            StoredStream::plain(elv_core::fuzzing::dedup_table_to_bytes(pairs)),
        ));
        p.build()
    };
    v.push(invalid(
        "dedup_chain.elv",
        "dup2 refers to dup, itself a reference",
        dedup_variant(&[(2, 0), (3, 2)], None),
        ErrorKind::BadDedup,
    ));
    v.push(invalid(
        "dedup_forward.elv",
        "a reference to a later tensor",
        dedup_variant(&[(2, 3), (3, 0)], None),
        ErrorKind::BadDedup,
    ));
    v.push(invalid(
        "dedup_shape_mismatch.elv",
        "a reference between tensors of different dtype and shape",
        dedup_variant(&[(2, 0), (3, 0)], Some(DType::U8)),
        ErrorKind::BadDedup,
    ));
    v.push(invalid(
        "dedup_missing.elv",
        "a dedup tensor absent from the dedup table",
        dedup_variant(&[(2, 0)], None),
        ErrorKind::BadDedup,
    ));
    let mut p = Parts::new(
        3,
        &[(
            "w",
            DType::F32,
            vec![4],
            [0.5f32, 0.25, -0.125, 0.0]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
            Encoding::Elf,
            4,
        )],
    );
    let mut d = p.tensors[0].clone();
    d.name = "again".into();
    d.encoding = Encoding::Dedup;
    d.chunk_len = 0;
    d.error_bound_log2 = 0; // claims to be exact, but its original is lossy
    d.first_stream = p.streams.len() as u32;
    p.tensors.push(d);
    p.extra.push((
        kind::DEDUP_TABLE,
        true,
        StoredStream::plain(elv_core::fuzzing::dedup_table_to_bytes(&[(1, 0)])),
    ));
    v.push(invalid(
        "dedup_bound_mismatch.elv",
        "a reference claiming to be exact while its original is ELF",
        p.build(),
        ErrorKind::BadDedup,
    ));
}

/// Invalid files broken in their streams: DE, ELF, planes, zstd and `ans` payloads.
fn invalid_streams(v: &mut Vec<Vector>) {
    let no_meta: Vec<(String, String)> = Vec::new();
    let base_spec = base_spec();
    let base = plain_file(3, &base_spec, &no_meta);
    let (skew, aspec) = skewed_plane();
    let de_spec: Vec<Spec> = vec![(
        "w",
        DType::F32,
        vec![4],
        [0.5f32, 0.5, 0.5, 0.5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Encoding::De,
        4,
    )];
    let mut b = plain_file(3, &de_spec, &no_meta);
    let off = section_offset(&b, 0);
    // value 1 repeats at distance 1; make it distance 2 (L=2, D=2): before the start
    let mut bits = elv_core::fuzzing::BitWriter::new();
    for (flag, l, d) in [(0u64, 0u32, 0u64), (1, 2, 2), (1, 1, 1), (1, 1, 1)] {
        bits.write(flag, 1);
        if flag == 1 {
            bits.write(l as u64, 5);
            bits.write(d, l);
        }
    }
    let stream = bits.finish();
    let p = entry_field(&b, 0, 8);
    assert_eq!(
        u64::from_le_bytes(b[p..p + 8].try_into().unwrap()) as usize,
        stream.len()
    );
    b[off..off + stream.len()].copy_from_slice(&stream);
    reseal_section(&mut b, 0);
    v.push(invalid(
        "de_distance_before_start.elv",
        "a DE repeat pointing before the first value",
        b,
        ErrorKind::DistanceBeforeStart,
    ));

    let elf_spec: Vec<Spec> = vec![(
        "w",
        DType::F32,
        vec![4],
        [0.5f32, 3.0, 0.25, 0.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Encoding::Elf,
        4,
    )];
    let mut b = plain_file(3, &elf_spec, &no_meta);
    let off = section_offset(&b, 0);
    assert_eq!(&b[off..off + 2], &[1, 1]); // one outlier at gap 1
    b[off + 1] = 9;
    reseal_section(&mut b, 0);
    v.push(invalid(
        "elf_outlier_position.elv",
        "an ELF outlier position beyond its chunk",
        b,
        ErrorKind::OutOfRange,
    ));

    let f16_spec: Vec<Spec> = vec![(
        "w",
        DType::F16,
        vec![2],
        le(
            DType::F16,
            &[bits_of(DType::F16, 0.1), bits_of(DType::F16, -0.2)],
        ),
        Encoding::Elf,
        2,
    )];
    let mut b = plain_file(3, &f16_spec, &no_meta);
    let off = section_offset(&b, 2); // the 3-bit low plane
    b[off] |= 0x80;
    reseal_section(&mut b, 2);
    v.push(invalid(
        "plane_high_bits.elv",
        "unused high bits set in a short plane",
        b,
        ErrorKind::ReservedNonZero,
    ));

    let mut zb = base.clone();
    let z = zstd::bulk::compress(&[0u8; 64], 3).unwrap();
    let mut p = Parts::new(3, &base_spec);
    p.streams[0] = StoredStream {
        codec: Codec::Zstd,
        stored: z,
        decoded_len: 32,
    };
    zb.clear();
    zb.extend(p.build());
    v.push(invalid(
        "zstd_longer_than_declared.elv",
        "a zstd stream that decodes to more bytes than declared",
        zb,
        ErrorKind::Malformed,
    ));

    // Invalid ans streams: the skewed plane's encoding with one fault each.
    let enc = elv_core::engine::ans::encode(&skew);
    let mut ans_invalid =
        |name: &'static str, note: &'static str, stored: Vec<u8>, kind: ErrorKind| {
            let mut p = Parts::new(3, &aspec);
            p.streams[0] = StoredStream {
                codec: Codec::Ans,
                stored,
                decoded_len: skew.len() as u64,
            };
            v.push(invalid(name, note, p.build(), kind));
        };
    let mut bad = enc.clone();
    bad[1 + 32] ^= 1; // first frequency: the sum is no longer 4096
    ans_invalid(
        "ans_bad_frequencies.elv",
        "ans frequencies that do not sum to 4096",
        bad,
        ErrorKind::Malformed,
    );
    ans_invalid(
        "ans_truncated.elv",
        "ans blocks that end early",
        enc[..enc.len() - 1].to_vec(),
        ErrorKind::Truncated,
    );
    // The first block is rANS (mode 2): find its payload length P and its first state.
    assert_eq!(enc[0], 2, "the first block of the skewed plane is rANS");
    let (p_at, payload_at, plen) = {
        let present: u32 = enc[1..33].iter().map(|b| b.count_ones()).sum();
        let mut pos = 33;
        for _ in 0..present {
            elv_core::fuzzing::read_uleb(&enc, &mut pos).unwrap();
        }
        let p_at = pos;
        let plen = elv_core::fuzzing::read_uleb(&enc, &mut pos).unwrap() as usize;
        (p_at, pos, plen)
    };
    let mut bad = enc.clone();
    bad[payload_at..payload_at + 4]
        .copy_from_slice(&(elv_core::fuzzing::STATE_LOW - 1).to_le_bytes());
    ans_invalid(
        "ans_state_below_l.elv",
        "an ans block whose first initial state is L - 1",
        bad,
        ErrorKind::Malformed,
    );
    // One word more than the block's symbols consume (P grows by 2).
    let mut bad = enc[..p_at].to_vec();
    elv_core::fuzzing::write_uleb(plen as u64 + 2, &mut bad);
    bad.extend_from_slice(&enc[payload_at..payload_at + plen]);
    bad.extend_from_slice(&[0, 0]);
    bad.extend_from_slice(&enc[payload_at + plen..]);
    ans_invalid(
        "ans_unconsumed_word.elv",
        "an ans block with one renormalization word that decoding never reads",
        bad,
        ErrorKind::Malformed,
    );
}

/// The one-tensor F32 file the invalid vectors break one field at a time.
fn base_spec() -> Vec<Spec<'static>> {
    vec![(
        "w",
        DType::F32,
        vec![8],
        [0.5f32, -0.5, 0.25, 3.0, 0.0, -0.0, 0.75, 0.125]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Encoding::Raw,
        8,
    )]
}

/// A skewed byte plane (rANS blocks), a constant block and a stored block, and its spec.
fn skewed_plane() -> (Vec<u8>, Vec<Spec<'static>>) {
    let mut r = Rng(77);
    let mut skew: Vec<u8> = (0..70_000)
        .map(|_| {
            let x = r.next() % 100;
            if x < 70 {
                3
            } else if x < 90 {
                4
            } else {
                (x % 7) as u8
            }
        })
        .collect();
    skew.extend(std::iter::repeat_n(9u8, 70_000));
    skew.extend((0..70_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let aspec: Vec<Spec> = vec![(
        "skewed",
        DType::U8,
        vec![skew.len() as u64],
        skew.clone(),
        Encoding::Raw,
        1 << 20,
    )];
    (skew, aspec)
}
