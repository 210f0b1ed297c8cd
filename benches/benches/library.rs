//! The library API end to end, in memory, on one thread (issue #19's targets: decode >= 2 GB/s
//! and encode >= 1 GB/s of f32 input in the default mode): every tensor of a model written
//! with `elv::serialize` (automatic choice, trials, dedup, the entropy stage) and read back
//! with `Tensor::decode_into`. `ELV_BENCH_MODEL=path.safetensors` uses a real model (the
//! numbers quoted in benches/NOTES.md); without it, 4 synthetic 2^20-value tensors. Peer in
//! the same run: a memory copy of the same bytes.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use elv::{DType, Reader, TensorData, WriteOptions};
use std::io::{Read, Seek, SeekFrom};

/// One tensor of the model: name, dtype, shape, bytes.
type Owned = (String, DType, Vec<u64>, Vec<u8>);

/// The model's tensors, and whether they are real weights.
fn model() -> (Vec<Owned>, &'static str) {
    if let Ok(path) = std::env::var("ELV_BENCH_MODEL") {
        let mut f = std::fs::File::open(&path).expect("ELV_BENCH_MODEL opens");
        let h = elv::safetensors::read_header(&mut f, None).expect("a safetensors file");
        let base = 8 + h.raw.len() as u64;
        let tensors = h
            .entries
            .iter()
            .map(|e| {
                let mut v = vec![0u8; e.len() as usize];
                f.seek(SeekFrom::Start(base + e.begin)).unwrap();
                f.read_exact(&mut v).unwrap();
                (e.name.clone(), e.dtype, e.shape.clone(), v)
            })
            .collect();
        return (tensors, "real");
    }
    let tensors = (0..4)
        .map(|i| {
            let (v, _) = elv_benches::weights_f32(1 << 20);
            (format!("t{i}"), DType::F32, vec![1 << 20], v)
        })
        .collect();
    (tensors, "synthetic")
}

fn library(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (tensors, source) = model();
    let total: u64 = tensors.iter().map(|t| t.3.len() as u64).sum();
    let named = || {
        tensors
            .iter()
            .map(|(n, d, s, b)| (n.as_str(), TensorData::new(*d, s, &b[..])))
            .collect::<Vec<_>>()
    };
    let mut g = c.benchmark_group(format!("library/{source}/1-thread"));
    g.throughput(Throughput::Bytes(total));
    g.sample_size(10);
    g.bench_function("memcpy", |b| {
        let mut out = vec![0u8; total as usize];
        b.iter(|| {
            let mut at = 0;
            for t in &tensors {
                out[at..at + t.3.len()].copy_from_slice(black_box(&t.3));
                at += t.3.len();
            }
        })
    });
    let opts = WriteOptions::default();
    g.bench_function("serialize (default mode)", |b| {
        b.iter(|| pool.install(|| elv::serialize(named(), None, &opts).unwrap()))
    });
    let file = pool.install(|| elv::serialize(named(), None, &opts).unwrap());
    let reader = Reader::from_bytes(file).unwrap();
    let mut outs: Vec<Vec<u8>> = reader
        .iter()
        .map(|t| vec![0u8; t.byte_len() as usize])
        .collect();
    g.bench_function("decode_into (default mode)", |b| {
        b.iter(|| {
            pool.install(|| {
                for (t, out) in reader.iter().zip(outs.iter_mut()) {
                    t.decode_into(out).unwrap();
                }
            })
        })
    });
    g.finish();
    pipelines(&tensors, total, source);
}

/// `serialize` (the pipelined `Writer::add_all`: tensors encoded as cores free up, written
/// in order) against its former path in the same run: `Writer::add_batch` over batches of
/// `batch_bytes`, each waiting for its slowest tensor. Both write the same bytes (checked).
fn pipelines(tensors: &[Owned], total: u64, source: &str) {
    let mut c = Criterion::default().configure_from_args();
    let opts = WriteOptions::default();
    let batched = || {
        let mut w = elv::Writer::new(Vec::new(), opts).unwrap();
        let mut start = 0;
        while start < tensors.len() {
            let (mut end, mut bytes) = (start, 0u64);
            while end < tensors.len()
                && (end == start || bytes + tensors[end].3.len() as u64 <= opts.batch_bytes)
            {
                bytes += tensors[end].3.len() as u64;
                end += 1;
            }
            let batch: Vec<elv::NamedTensor<'_>> = tensors[start..end]
                .iter()
                .map(|(n, d, s, b)| elv::NamedTensor {
                    name: n,
                    dtype: *d,
                    shape: s,
                    data: b,
                })
                .collect();
            w.add_batch(&batch, elv::Choice::Auto).unwrap();
            start = end;
        }
        w.finish().unwrap()
    };
    let pipelined = || {
        let named = tensors
            .iter()
            .map(|(n, d, s, b)| (n.as_str(), TensorData::new(*d, s, &b[..])));
        elv::serialize(named, None, &opts).unwrap()
    };
    assert!(batched() == pipelined(), "both paths write the same file");
    let mut g = c.benchmark_group(format!("library/{source}/all-threads"));
    g.throughput(Throughput::Bytes(total));
    g.sample_size(10);
    g.bench_function("serialize (add_all, pipelined)", |b| b.iter(pipelined));
    g.bench_function("add_batch in batches (the former serialize)", |b| {
        b.iter(batched)
    });
    g.finish();
}

criterion_group!(benches, library);
criterion_main!(benches);
