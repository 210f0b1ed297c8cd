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

mod invalid_framing;
mod invalid_streams;
mod invalid_tables;
mod v12;
mod v13;
mod v14;
mod valid_plain;
mod valid_sections;
use invalid_framing::invalid_framing;
use invalid_streams::invalid_streams;
use invalid_tables::invalid_tables;
use valid_plain::valid_plain;
use valid_sections::valid_sections;

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
    v.extend(v13::all());
    v.extend(v14::all());
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
         # NAME, PATH, KEY and VALUE escape backslash, TAB, LF, CR as \\\\, \\t, \\n, \\r, other control characters as \\u{HEX}.\n\
         # member    valid/NAME.elv  PATH  KIND(safetensors, file or folder)  TENSOR_COUNT   (collections, after the tensors)\n\
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
