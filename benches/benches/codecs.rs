//! Section codecs on the plane that carries the most information in ELF (sign and top
//! mantissa bits) and on the float-planes exponent plane: ans against zstd -3 in the same
//! run, encode and decode, one thread; `ans` encode and decode with the core's scalar loops
//! and with the std crate's vector loops. `Throughput::Bytes` is the plane size.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use elv_core::engine::ans;
use elv_core::engine::encoding::encode_chunk;
use elv_core::{DType, Encoding};

fn codecs(c: &mut Criterion) {
    let (data, source) = elv_benches::weights_f32(1 << 20);
    let elf = encode_chunk(Encoding::Elf, DType::F32, &data, None).unwrap();
    let planes = encode_chunk(Encoding::FloatPlanes, DType::F32, &data, None).unwrap();
    for (name, plane) in [("elf-top-plane", &elf[1]), ("exponent-plane", &planes[0])] {
        let mut g = c.benchmark_group(format!("codecs/{source}/{name}"));
        g.throughput(Throughput::Bytes(plane.len() as u64));
        let a = ans::encode(plane);
        let z = zstd::bulk::compress(plane, 3).unwrap();
        eprintln!(
            "{name}: {} bytes -> ans {} ({:.3}), zstd-3 {} ({:.3})",
            plane.len(),
            a.len(),
            plane.len() as f64 / a.len() as f64,
            z.len(),
            plane.len() as f64 / z.len() as f64
        );
        g.bench_function("ans/encode", |b| b.iter(|| ans::encode(black_box(plane))));
        // The std crate's encoder: the same bytes, with the vector coding loop where the CPU
        // has one (AVX2).
        g.bench_function("ans/encode (elv::encode_ans)", |b| {
            b.iter(|| elv::encode_ans(black_box(plane)))
        });
        g.bench_function("ans/decode", |b| {
            let mut out = Vec::with_capacity(plane.len());
            b.iter(|| {
                out.clear();
                ans::decode(black_box(&a), plane.len(), &mut out).unwrap()
            })
        });
        // The std crate's decoder: the same bytes, with the vector loop over four blocks side
        // by side where the CPU has one (AVX2).
        g.bench_function("ans/decode (elv::decode_ans)", |b| {
            let mut out = Vec::with_capacity(plane.len());
            b.iter(|| {
                out.clear();
                elv::decode_ans(black_box(&a), plane.len(), &mut out).unwrap()
            })
        });
        g.bench_function("zstd-3/encode", |b| {
            b.iter(|| zstd::bulk::compress(black_box(plane), 3).unwrap())
        });
        g.bench_function("zstd/decode", |b| {
            b.iter(|| zstd::bulk::decompress(black_box(&z), plane.len()).unwrap())
        });
        g.bench_function("entropy-estimate", |b| {
            b.iter(|| ans::estimated_len(black_box(plane)))
        });
        g.finish();
    }
}

criterion_group!(benches, codecs);
criterion_main!(benches);
