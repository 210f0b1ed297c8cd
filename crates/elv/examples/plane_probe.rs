//! Compares the entropy stages on the planes of one tensor of a safetensors file:
//! `cargo run --release -p elv-format --example plane_probe -- MODEL.safetensors TENSOR [elf|planes|bytes]`.
use elv_core::engine::encoding;
use elv_core::Encoding;
use std::io::{Read, Seek, SeekFrom};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let mut f = std::fs::File::open(&a[1]).unwrap();
    let h = elv::safetensors::read_header(&mut f, None).unwrap();
    let e = h.entries.iter().find(|e| e.name == a[2]).unwrap();
    f.seek(SeekFrom::Start(h.data_start() + e.begin)).unwrap();
    let mut data = vec![0u8; e.len() as usize];
    f.read_exact(&mut data).unwrap();
    let enc = match a.get(3).map(String::as_str) {
        Some("planes") => Encoding::FloatPlanes,
        Some("bytes") => Encoding::BytePlanes,
        _ => Encoding::Elf,
    };
    let chunk = &data[..data.len().min((1 << 20) * e.dtype.size())];
    let streams = encoding::encode_chunk(enc, e.dtype, chunk, None).unwrap();
    for (i, s) in streams.iter().enumerate() {
        let mut hist = [0u64; 256];
        s.iter().for_each(|&b| hist[b as usize] += 1);
        let n = s.len() as f64;
        let h0: f64 = hist
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / n;
                -p * p.log2()
            })
            .sum::<f64>()
            * n
            / 8.0;
        let z = zstd::bulk::compress(s, 3).unwrap().len();
        let ans = elv_core::engine::ans::encode(s).len();
        println!(
            "stream {i}: {} bytes, order-0 entropy {:.0}, zstd-3 {z}, ans {ans}",
            s.len(),
            h0
        );
    }
}
