//! Sums stored and decoded bytes per stream position and codec of an .elv file:
//! `cargo run --release -p elv --example stream_sizes -- FILE.elv`.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let r = elv::Reader::open(&a[1]).unwrap();
    let idx = &r.catalog().index;
    let mut by_pos: std::collections::BTreeMap<(usize, u8), (u64, u64, usize)> = Default::default();
    for t in r.tensors() {
        let s = t.encoding.streams_per_chunk(t.dtype) as u64;
        if s == 0 {
            continue;
        }
        for k in 0..(t.chunk_count() * s) {
            let e = &idx.entries[(t.first_stream as u64 + k) as usize];
            let v = by_pos.entry(((k % s) as usize, e.codec)).or_default();
            v.0 += e.stored_len;
            v.1 += e.decoded_len;
            v.2 += 1;
        }
    }
    for ((p, c), (s, d, n)) in by_pos {
        println!(
            "stream {p} codec {c}: {n} sections stored {s} decoded {d} ratio {:.4}",
            d as f64 / s as f64
        );
    }
}
