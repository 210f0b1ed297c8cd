//! Shared inputs for the criterion benchmarks in `benches/benches/`: weight-like values
//! (real weights when `ELV_BENCH_MODEL` names a safetensors file, else a deterministic
//! synthetic distribution with the spread of a trained layer).
//!
//! Benchmarks run with mimalloc, the allocator of the `elv` command: kernels return fresh
//! buffers, and with the system allocator their speed depended on whether an earlier
//! benchmark had left freed pages mapped (the f32 ELF encoder measured 2.1 or 8.7 GiB/s).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Up to `n` f32 weights as little-endian bytes: the largest F32 tensor of the safetensors
/// file named by `ELV_BENCH_MODEL` if set, else synthetic weights (sd 0.05).
pub fn weights_f32(n: usize) -> (Vec<u8>, &'static str) {
    if let Ok(path) = std::env::var("ELV_BENCH_MODEL") {
        if let Some(v) = real(&path, n) {
            return (v, "real");
        }
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let v = (0..n)
        .flat_map(|_| {
            let s: f64 = (0..4)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
                })
                .sum();
            ((s * 0.05 * 1.732) as f32).to_le_bytes()
        })
        .collect();
    (v, "synthetic")
}

fn real(path: &str, n: usize) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let h = elv::safetensors::read_header(&mut f, None).ok()?;
    let e = h
        .entries
        .iter()
        .filter(|e| e.dtype == elv_core::DType::F32)
        .max_by_key(|e| e.len())?;
    f.seek(SeekFrom::Start(8 + h.raw.len() as u64 + e.begin))
        .ok()?;
    let mut v = vec![0u8; (e.len() as usize).min(n * 4)];
    f.read_exact(&mut v).ok()?;
    Some(v)
}
