//! Kernels: ELF, float planes, byte planes and DE, encode and decode, one chunk of 2^20 f32
//! values, in memory, one thread. `Throughput::Bytes` is the f32 input size; the memory copy
//! is the peer measured in the same run.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use elv_core::engine::encoding::{decode_chunk, encode_chunk};
use elv_core::{DType, Encoding};

fn kernels(c: &mut Criterion) {
    let (data, source) = elv_benches::weights_f32(1 << 20);
    let n = data.len() / 4;
    let mut g = c.benchmark_group(format!("kernels/{source}"));
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("memcpy", |b| {
        let mut out = vec![0u8; data.len()];
        b.iter(|| out.copy_from_slice(black_box(&data)))
    });
    for enc in [
        Encoding::Elf,
        Encoding::FloatPlanes,
        Encoding::BytePlanes,
        Encoding::De,
    ] {
        g.bench_function(format!("{}/encode", enc.name()), |b| {
            b.iter(|| encode_chunk(enc, DType::F32, black_box(&data), None).unwrap())
        });
        let streams = encode_chunk(enc, DType::F32, &data, None).unwrap();
        let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
        let mut out = vec![0u8; data.len()];
        g.bench_function(format!("{}/decode", enc.name()), |b| {
            b.iter(|| decode_chunk(enc, DType::F32, n, black_box(&refs), None, &mut out).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
