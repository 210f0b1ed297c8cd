//! Sums stored and decoded bytes per stream position and codec of an .elv file:
//! `cargo run --release -p elv-format --example stream_sizes -- FILE.elv`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: stream_sizes FILE.elv")?;
    let r = elv::Reader::open(path)?;
    let mut by_pos: std::collections::BTreeMap<(usize, String), (u64, u64, usize)> =
        Default::default();
    for t in r.iter().filter(|t| t.duplicate_of().is_none()) {
        let per_chunk = t.encoding().streams_per_chunk(t.dtype()).max(1);
        for (k, s) in t.sections().iter().enumerate() {
            let codec = s.codec.map_or("unknown", |c| c.name()).to_string();
            let v = by_pos.entry((k % per_chunk, codec)).or_default();
            v.0 += s.stored_len;
            v.1 += s.decoded_len;
            v.2 += 1;
        }
    }
    for ((p, c), (s, d, n)) in by_pos {
        println!(
            "stream {p} codec {c}: {n} sections stored {s} decoded {d} ratio {:.4}",
            d as f64 / s as f64
        );
    }
    Ok(())
}
