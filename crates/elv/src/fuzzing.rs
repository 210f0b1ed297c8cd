//! Bodies of the fuzz targets, shared by `fuzz/` (cargo-fuzz) and the CI smoke test
//! (`tests/fuzz_smoke.rs`). Each takes arbitrary bytes and panics only on a real bug: a
//! decoder panic, readers that disagree, or a round trip that breaks its promise.
#![doc(hidden)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{
    compress_safetensors, decompress_to_safetensors_with, Choice, Reader, SeekSource, StdCodecs,
    WriteOptions, Writer, DEFAULT_BATCH_BYTES, DEFAULT_DECODE_BATCH_BYTES,
};
use elv_core::engine::encoding::decode_chunk;
use elv_core::engine::writer::StoredStream;
use elv_core::engine::{elf, metadata, tensor};
use elv_core::{Archive, ContainerWriter, DType, Encoding, Limits, ReadOptions, TensorInfo};
use std::io::Cursor;
use std::io::Read;

mod tables;
pub use tables::{base_table, dedup_table, member_table};

/// Limits small enough that a fuzzer's inputs cannot make us allocate much.
pub fn fuzz_options() -> ReadOptions {
    ReadOptions {
        limits: Limits {
            max_section_bytes: 1 << 24,
            max_tensor_bytes: 1 << 24,
            ..Limits::default()
        },
        verify_checksums: true,
    }
}

/// The names of every target, for drivers.
pub const TARGETS: &[&str] = &[
    "container",
    "structured",
    "elf",
    "de",
    "planes",
    "ans",
    "ans_simd",
    "tensor_table",
    "dedup_table",
    "metadata",
    "round_trip",
    "safetensors",
    "delta",
    "member_table",
    "base_table",
    "pytorch",
];

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "container" => container(data),
        "structured" => structured(data),
        "elf" => chunk(Encoding::Elf, data),
        "de" => chunk(Encoding::De, data),
        "planes" => {
            chunk(Encoding::FloatPlanes, data);
            chunk(Encoding::BytePlanes, data);
        }
        "ans" => ans(data),
        "ans_simd" => ans_simd(data),
        "tensor_table" => {
            let _ = tensor::parse_table(
                data,
                data.first().copied().unwrap_or(0).into(),
                &fuzz_options().limits,
                true,
            );
        }
        "dedup_table" => dedup_table(data),
        "metadata" => {
            let _ = metadata::parse(data, &fuzz_options().limits);
        }
        "round_trip" => round_trip(data),
        "safetensors" => safetensors(data),
        "delta" => {
            chunk(Encoding::Delta, data);
            chunk(Encoding::ElfDelta, data);
            delta_round_trip(data);
        }
        "member_table" => member_table(data),
        "base_table" => base_table(data),
        "pytorch" => pytorch(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// The whole container from raw bytes, through the slice reader and the std reader (whole
/// tensors, and streamed in 7-byte reads): they must agree, and agree on the decoded tensors.
pub fn container(data: &[u8]) {
    let opts = fuzz_options();
    let from_slice = Archive::parse(data, &StdCodecs, opts).and_then(|a| {
        a.verify()?;
        (0..a.tensors().len())
            .map(|i| a.decode(i))
            .collect::<elv_core::Result<Vec<_>>>()
    });
    let from_stream = Reader::new(SeekSource::new(Cursor::new(data)), opts).and_then(|r| {
        r.verify()?;
        r.iter()
            .map(|t| {
                let whole = t.to_vec()?;
                let mut streamed = Vec::new();
                let mut part = [0u8; 7];
                let mut s = t.stream();
                loop {
                    let n = s.read(&mut part)?;
                    if n == 0 {
                        break;
                    }
                    streamed.extend_from_slice(&part[..n]);
                }
                assert_eq!(
                    whole, streamed,
                    "streamed read differs from the whole tensor"
                );
                Ok(whole)
            })
            .collect::<crate::Result<Vec<_>>>()
            .inspect(|wholes| many_into_agrees(&r, wholes))
    });
    match (&from_slice, &from_stream) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "readers decode differently"),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "readers disagree: slice {:?}, stream {:?}",
            from_slice.as_ref().err(),
            from_stream.as_ref().err().map(|e| e.to_string())
        ),
    }
}

fn pick<T: Copy>(options: &[T], b: u8) -> T {
    options[b as usize % options.len()]
}

const FLOATS: [DType; 4] = [DType::F16, DType::BF16, DType::F32, DType::F64];

/// One chunk decoder on fuzzed streams: the first bytes choose dtype and length, the rest is
/// cut into the encoding's streams.
pub fn chunk(encoding: Encoding, data: &[u8]) {
    let [d, n0, n1, rest @ ..] = data else { return };
    let dtype = if matches!(
        encoding,
        Encoding::De | Encoding::BytePlanes | Encoding::Delta
    ) {
        pick(
            &[DType::F16, DType::F32, DType::F64, DType::I32, DType::U16],
            *d,
        )
    } else {
        pick(&FLOATS, *d)
    };
    let n = u16::from_le_bytes([*n0, *n1]) as usize % 4096;
    let s = encoding.streams_per_chunk(dtype);
    let mut streams: Vec<&[u8]> = Vec::with_capacity(s);
    let mut rest = rest;
    for k in 0..s {
        let take = if k + 1 == s {
            rest.len()
        } else {
            (rest.first().copied().unwrap_or(0) as usize * 7) % (rest.len() + 1)
        };
        let (a, b) = rest.split_at(take);
        streams.push(a);
        rest = b;
    }
    let mut out = vec![0u8; n * dtype.size()];
    // A base for the delta encodings, from the same bytes.
    let base: Vec<u8> = streams
        .concat()
        .into_iter()
        .cycle()
        .take(out.len())
        .collect();
    let _ = decode_chunk(encoding, dtype, n, &streams, Some(&base), &mut out);
}

/// A valid container built around fuzzed stream payloads (correct CRCs), so the fuzzer
/// reaches the decoders behind the checksums.
pub fn structured(data: &[u8]) {
    let [d, e, n0, n1, c, rest @ ..] = data else {
        return;
    };
    let dtype = pick(DType::all(), *d);
    let encoding = pick(
        &[
            Encoding::Raw,
            Encoding::Elf,
            Encoding::De,
            Encoding::FloatPlanes,
            Encoding::BytePlanes,
        ],
        *e,
    );
    if !encoding.applies_to(dtype) {
        return;
    }
    let n = u16::from_le_bytes([*n0, *n1]) as u64 % 2048;
    // n values of a sub-byte dtype must fill whole bytes; chunks then count those bytes.
    let Some(bytes) = elv_core::engine::dtype::tensor_bytes(dtype, &[n]) else {
        return;
    };
    let units = bytes / dtype.size() as u64;
    let chunk_len = if units == 0 {
        0
    } else {
        (*c as u64 % units).max(1)
    };
    let info = TensorInfo {
        name: "t".into(),
        dtype,
        shape: vec![n],
        encoding,
        error_bound_log2: encoding.error_bound_log2(dtype),
        crc32: 0,
        chunk_len,
        first_stream: 0,
        dedup_of: None,
    };
    let count = info.stream_count() as usize;
    let part = rest.len() / count.max(1);
    let streams = (0..count).map(|k| {
        StoredStream::plain(
            rest[k * part..if k + 1 == count {
                rest.len()
            } else {
                (k + 1) * part
            }]
                .to_vec(),
        )
    });
    let mut w = ContainerWriter::new(Vec::new(), 3).unwrap();
    if w.add_encoded_tensor("t", dtype, &[n], encoding, chunk_len, 0, streams)
        .is_err()
    {
        return;
    }
    let file = w.finish().unwrap();
    container(&file);
}

/// `decode_many_into` gives every tensor as decoding it alone did (`wholes`), in small
/// works (several per tensor) and in one.
fn many_into_agrees<S: crate::Source>(r: &Reader<S>, wholes: &[Vec<u8>]) {
    let which: Vec<usize> = (0..wholes.len()).rev().collect();
    for batch in [64, 1 << 20] {
        let mut bufs: Vec<Vec<u8>> = which.iter().map(|&i| vec![0; wholes[i].len()]).collect();
        let mut outs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
        r.decode_many_into(&which, &mut outs, batch)
            .expect("decode_many_into fails where every tensor decoded alone");
        for (b, &i) in bufs.iter().zip(&which) {
            assert!(b == &wholes[i], "decode_many_into differs on tensor {i}");
        }
    }
}

/// The `ans` decoder on arbitrary bytes (its declared length from the first two bytes), and
/// the encoder round trip on the same bytes.
pub fn ans(data: &[u8]) {
    let [a, b, rest @ ..] = data else { return };
    let n = u16::from_le_bytes([*a, *b]) as usize * 4;
    let mut out = Vec::new();
    let _ = elv_core::engine::ans::decode(rest, n, &mut out);
    let enc = elv_core::engine::ans::encode(rest);
    let mut back = Vec::new();
    elv_core::engine::ans::decode(&enc, rest.len(), &mut back)
        .expect("ans decodes what it encoded");
    assert_eq!(back, rest);
}

/// The vector `ans` coding and decoding loops against the scalar references, on the bytes
/// after the first, shaped by it (as is, masked to its low bits, or as the trailing zeros of
/// each byte's mix with its neighbour: skewed like weight planes): the encoders give the same
/// section byte for byte, and the decoders the same bytes, or the same error, on what was
/// encoded and on the raw input taken as stored bytes.
pub fn ans_simd(data: &[u8]) {
    let [how, rest @ ..] = data else { return };
    let shaped: Vec<u8> = match how % 3 {
        0 => rest.to_vec(),
        1 => rest.iter().map(|b| b & (how >> 2)).collect(),
        _ => rest
            .iter()
            .zip(rest.iter().skip(1).chain([&0]))
            .map(|(a, b)| ((u16::from(*a) << 8 | u16::from(*b)) | 1 << 15).trailing_zeros() as u8)
            .collect(),
    };
    let stored = crate::ans_simd::encode(&shaped);
    assert_eq!(
        stored,
        elv_core::engine::ans::encode(&shaped),
        "vector and scalar ans differ"
    );
    // The decoders: on what was encoded, and on the raw input as stored bytes (damaged
    // streams), the same bytes or the same error.
    for (bytes, n) in [(&stored[..], shaped.len()), (rest, usize::from(*how) * 300)] {
        let mut want = Vec::new();
        let want = elv_core::engine::ans::decode(bytes, n, &mut want).map(|_| want);
        let mut got = Vec::new();
        let got = crate::ans_simd::decode::decode(bytes, n, &mut got).map(|_| got);
        assert_eq!(
            got.map_err(|e| e.to_string()),
            want.map_err(|e| e.to_string()),
            "vector and scalar ans decoders differ"
        );
    }
}

/// The dedup table parser against a fixed set of tensors.
/// Deltas round trip: the first byte picks a dtype, the rest is split into a base and a
/// fine-tune of the same length; `delta` must give the fine-tune back, `elf_delta` what ELF
/// gives.
pub fn delta_round_trip(data: &[u8]) {
    let [d, rest @ ..] = data else { return };
    let all = [
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
        DType::I32,
        DType::U8,
    ];
    let dtype = pick(&all, *d);
    let size = dtype.size();
    let n = rest.len() / (2 * size);
    let (base, ft) = (&rest[..n * size], &rest[n * size..2 * n * size]);
    let decode = |enc: Encoding| {
        let streams = elv_core::engine::encoding::encode_chunk(enc, dtype, ft, Some(base)).unwrap();
        let refs: Vec<&[u8]> = streams.iter().map(Vec::as_slice).collect();
        let mut out = vec![0u8; ft.len()];
        decode_chunk(enc, dtype, n, &refs, Some(base), &mut out).unwrap();
        out
    };
    assert_eq!(decode(Encoding::Delta), ft, "delta round trip");
    if dtype.float_format().is_some() {
        let streams = elf::encode_chunk(dtype, ft).unwrap();
        let refs: Vec<&[u8]> = streams.iter().map(Vec::as_slice).collect();
        let mut elf_out = vec![0u8; ft.len()];
        decode_chunk(Encoding::Elf, dtype, n, &refs, None, &mut elf_out).unwrap();
        assert_eq!(
            decode(Encoding::ElfDelta),
            elf_out,
            "elf_delta decodes as ELF does"
        );
    }
}

/// Arbitrary tensors: encode with every applicable encoding (through zstd), decode, and check
/// bit-exactness, or ELF's bound with outliers exact.
pub fn round_trip(data: &[u8]) {
    let [d, c, rest @ ..] = data else { return };
    let dtype = pick(DType::all(), *d);
    let size = dtype.size();
    let mut len = rest.len() / size * size;
    // Sub-byte values fill whole bytes: three bytes hold four F6 values.
    while len * 8 % dtype.bits() as usize != 0 {
        len -= 1;
    }
    let values = &rest[..len];
    let n = (len * 8 / dtype.bits() as usize) as u64;
    for enc in [
        Encoding::Raw,
        Encoding::De,
        Encoding::FloatPlanes,
        Encoding::BytePlanes,
        Encoding::Elf,
    ] {
        if !enc.applies_to(dtype) {
            continue;
        }
        let opts = WriteOptions {
            chunk_len: (*c as u64 + 1) * 16,
            ..WriteOptions::default()
        };
        let mut w = Writer::new(Vec::new(), opts).unwrap();
        w.add_tensor("t", dtype, &[n], values, Choice::Exact(enc))
            .unwrap();
        let file = w.finish().unwrap();
        let a = Archive::parse(&file, &StdCodecs, ReadOptions::default()).unwrap();
        let out = a.decode(0).unwrap();
        if enc.is_lossless() {
            assert_eq!(out, values, "{enc:?} {dtype:?} not lossless");
        } else {
            let fmt = dtype.float_format().unwrap();
            let bound = 2f64.powi(-(elf::error_bound_log2(fmt) as i32));
            for (x, y) in values.chunks_exact(size).zip(out.chunks_exact(size)) {
                let bits = x.iter().rev().fold(0u64, |a, &b| a << 8 | b as u64);
                if elf::encode_value(bits, fmt).is_none() {
                    assert_eq!(x, y, "outlier not exact");
                } else {
                    let (e, _) = elv_core::engine::dtype::compare_floats(dtype, x, y).unwrap();
                    assert!(e <= bound, "ELF bound broken: {e} > {bound}");
                }
            }
        }
    }
}

/// safetensors import on arbitrary bytes: never a panic; what imports losslessly exports to
/// the same bytes, with the default batches and with batches of 64 bytes (every tensor
/// above that streamed in spans, both ways); the batch size never decides whether an input
/// is accepted.
pub fn safetensors(data: &[u8]) {
    for batch_bytes in [DEFAULT_BATCH_BYTES, 64] {
        let opts = WriteOptions {
            lossless: true,
            batch_bytes,
            chunk_len: 64,
            ..WriteOptions::default()
        };
        let file = match compress_safetensors(Cursor::new(data), Vec::new(), &opts) {
            Ok((file, _)) => file,
            Err(_) if batch_bytes == DEFAULT_BATCH_BYTES => return,
            Err(e) => panic!("accepted with the default batches, not with {batch_bytes}: {e}"),
        };
        let r = Reader::from_bytes(file).unwrap();
        let back = decompress_to_safetensors_with(
            &r,
            Vec::new(),
            batch_bytes.min(DEFAULT_DECODE_BATCH_BYTES),
            None,
        )
        .unwrap();
        assert_eq!(
            back, data,
            "lossless round trip differs (batch {batch_bytes})"
        );
    }
}

/// PyTorch checkpoints: `data` as a whole archive, and as the `data.pkl` of an archive with
/// four storages of 256 bytes (keys `0`..`3`). Never a panic or a hang; what opens reads
/// as a safetensors stream of exactly the length its header gives, which parses back to
/// that header.
pub fn pytorch(data: &[u8]) {
    use crate::pytorch::Checkpoint;
    use std::io::{Read, Write};
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut archive = || -> zip::result::ZipResult<Vec<u8>> {
        z.start_file("archive/data.pkl", stored)?;
        z.write_all(data)?;
        for key in 0..4u8 {
            z.start_file(format!("archive/data/{key}"), stored)?;
            z.write_all(&[key.wrapping_mul(37); 256])?;
        }
        Ok(
            std::mem::replace(&mut z, zip::ZipWriter::new(Cursor::new(Vec::new())))
                .finish()?
                .into_inner(),
        )
    };
    let wrapped = archive().unwrap();
    for bytes in [data, &wrapped[..]] {
        let Ok(mut c) = Checkpoint::open(Cursor::new(bytes)) else {
            continue;
        };
        let header = c.header().clone();
        let mut stream = Vec::new();
        c.read_to_end(&mut stream).unwrap();
        assert_eq!(stream.len() as u64, header.file_len());
        let back = crate::safetensors::read_header(&mut &stream[..], Some(header.file_len()));
        assert_eq!(back.unwrap(), header);
    }
}
