//! Embedding `elv` in a program, as an embedder would: write a few arrays in memory with
//! automatic choice, read one back by name, iterate over all, stream a large tensor out in
//! bounded memory, and decode from two threads at once.
//! `cargo run --release -p elv-format --example embed [DIR]` (DIR for the files, default a temp dir).

use elv::{Choice, DType, Reader, TensorData, WriteOptions, Writer};
use std::io::{Read, Write};

/// Runs the example; `tests/embed_example.rs` runs it as a test.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("elv-embed-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;

    // 1. A few arrays in memory, written with automatic choice (ELF where it is smallest).
    let weights: Vec<f32> = (0..4096).map(|i| (i as f32 * 0.01).sin() * 0.2).collect();
    let halves: Vec<half::f16> = weights.iter().map(|&w| half::f16::from_f32(w)).collect();
    let ids: Vec<i64> = (0..1000).map(|i| i % 17).collect();
    let path = dir.join("small.elv");
    elv::serialize_to_file(
        [
            ("layer.weight", TensorData::f32(&[64, 64], &weights)),
            (
                "layer.weight_f16",
                TensorData::from_values(&[64, 64], &halves),
            ),
            ("token_ids", TensorData::from_values(&[1000], &ids)),
            ("tied.weight", TensorData::f32(&[64, 64], &weights)), // stored once (dedup)
        ],
        Some(vec![("producer".into(), "embed example".into())]),
        &path,
        &WriteOptions::default(),
    )?;

    // 2. One tensor back by name, with its dtype, shape and bound.
    let reader = Reader::open(&path)?;
    let w = reader.get("layer.weight").ok_or("layer.weight missing")?;
    let back: Vec<f32> = w
        .to_vec()?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let max_err = weights
        .iter()
        .zip(&back)
        .map(|(a, b)| (a - b).abs() as f64)
        .fold(0.0, f64::max);
    assert_eq!((w.dtype(), w.shape()), (DType::F32, &[64u64, 64][..]));
    assert!(
        max_err <= w.error_bound(),
        "{max_err} > {}",
        w.error_bound()
    );
    let ids_back = reader
        .get("token_ids")
        .ok_or("token_ids missing")?
        .to_vec()?;
    let ids_bytes: Vec<u8> = ids.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(ids_back, ids_bytes, "integers are exact");
    println!(
        "layer.weight: {:?} {:?}, {}, max abs error {max_err:.2e} (bound {:.2e})",
        w.dtype(),
        w.shape(),
        w.encoding().name(),
        w.error_bound()
    );

    // 3. Every tensor, in file order.
    for t in reader.iter() {
        println!(
            "{:<18} {:>5} {:?} {:>7} {:>6} -> {:>6} bytes",
            t.name(),
            t.dtype().name(),
            t.shape(),
            t.encoding().name(),
            t.byte_len(),
            t.stored_len()
        );
    }
    assert_eq!(
        reader
            .get("tied.weight")
            .and_then(|t| t.duplicate_of())
            .map(|t| t.name()),
        Some("layer.weight")
    );

    // 4. A tensor larger than we want in memory: written in pieces, streamed out in pieces.
    let big_path = dir.join("big.elv");
    let rows = 512u64;
    let row_len = 1 << 16; // 512 x 65,536 f32 = 128 MiB, never all in memory
    let row = |r: u64| -> Vec<u8> {
        (0..row_len)
            .flat_map(|i| (((r * 7 + i) % 1000) as f32 / 1000.0 - 0.5).to_le_bytes())
            .collect()
    };
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&big_path)?);
        let small_batches = WriteOptions {
            batch_bytes: 4 << 20,
            ..WriteOptions::default()
        };
        let mut writer = Writer::new(file, small_batches)?;
        let mut t = writer.tensor_writer("big", DType::F32, &[rows, row_len], Choice::Auto)?;
        for r in 0..rows {
            t.write_all(&row(r))?;
        }
        t.finish()?;
        writer.finish()?;
    }
    let reader = Reader::open(&big_path)?;
    let big = reader.get("big").ok_or("big missing")?;
    let mut stream = big.stream();
    let mut piece = vec![0u8; 1 << 20];
    let (mut total, mut max_err) = (0u64, 0f64);
    let mut expected = Vec::new();
    loop {
        let n = stream.read(&mut piece)?;
        if n == 0 {
            break;
        }
        // Compare with the original rows as they stream past.
        while expected.len() < n {
            let r = (total + expected.len() as u64) / (row_len * 4);
            let at = (total + expected.len() as u64) % (row_len * 4);
            expected.extend_from_slice(&row(r)[at as usize..]);
        }
        for (a, b) in piece[..n].chunks_exact(4).zip(expected.chunks_exact(4)) {
            let (a, b) = (
                f32::from_le_bytes(a.try_into()?),
                f32::from_le_bytes(b.try_into()?),
            );
            max_err = max_err.max((a - b).abs() as f64);
        }
        expected.drain(..n);
        total += n as u64;
    }
    assert_eq!(total, big.byte_len());
    assert!(max_err <= big.error_bound());
    println!("streamed {total} bytes of big, max abs error {max_err:.2e}");
    if let Some(peak) = peak_rss_bytes() {
        println!("peak RSS so far: {} MiB", peak >> 20);
        assert!(
            peak < total / 2,
            "peak RSS {peak} for a {total}-byte tensor"
        );
    }

    // 5. One open file, two threads decoding different tensors at once.
    let reader = Reader::open(&path)?;
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| reader.get("layer.weight_f16").map(|t| t.to_vec()));
        let b = s.spawn(|| reader.get("token_ids").map(|t| t.to_vec()));
        (a.join(), b.join())
    });
    let a = a.map_err(|_| "thread panicked")?.ok_or("missing")??;
    let b = b.map_err(|_| "thread panicked")?.ok_or("missing")??;
    assert_eq!((a.len(), b.len()), (4096 * 2, 8000));
    println!("decoded on two threads: {} and {} bytes", a.len(), b.len());

    std::fs::remove_file(&path)?;
    std::fs::remove_file(&big_path)?;
    Ok(())
}

/// This process's peak resident memory (Linux: VmHWM in /proc/self/status).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
