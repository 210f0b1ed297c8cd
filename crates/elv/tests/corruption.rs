//! Corruption is always caught: every single-bit flip of a small valid file, and every
//! truncation, gives an error from both readers, never different tensors and never a panic.

use elv::{Choice, Reader, StdCodecs, WriteOptions, Writer};
use elv_core::{Archive, DType, Encoding, ReadOptions};

fn small_file() -> Vec<u8> {
    let w32: Vec<u8> = (0..40u32)
        .flat_map(|i| (((i * 37) % 19) as f32 / 23.0 - 0.4).to_le_bytes())
        .collect();
    let mut w = Writer::new(
        Vec::new(),
        WriteOptions {
            chunk_len: 16,
            ..WriteOptions::default()
        },
    )
    .unwrap();
    w.add_tensor("elf", DType::F32, &[40], &w32, Choice::Exact(Encoding::Elf))
        .unwrap();
    w.add_tensor("de", DType::F32, &[40], &w32, Choice::Exact(Encoding::De))
        .unwrap();
    w.add_tensor(
        "planes",
        DType::F32,
        &[8, 5],
        &w32,
        Choice::Exact(Encoding::FloatPlanes),
    )
    .unwrap();
    let z: Vec<u8> = [0u8; 200]
        .iter()
        .enumerate()
        .map(|(i, _)| (i % 3) as u8)
        .collect();
    w.add_tensor("zstd", DType::U8, &[200], &z, Choice::Exact(Encoding::Raw))
        .unwrap();
    let again = w
        .add_tensor("again", DType::F32, &[40], &w32, Choice::Auto)
        .unwrap();
    assert_eq!(again.encoding, Encoding::Dedup);
    w.set_metadata(vec![("k".into(), "v".into())]).unwrap();
    w.finish().unwrap()
}

fn decode_slice(b: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let a = Archive::parse(b, &StdCodecs, ReadOptions::default()).map_err(|e| e.to_string())?;
    let t = (0..a.tensors().len())
        .map(|i| a.decode(i))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(t)
}

fn decode_stream(b: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let r = Reader::new(b, ReadOptions::default()).map_err(|e| e.to_string())?;
    r.verify().map_err(|e| e.to_string())?;
    let t = r
        .iter()
        .map(|t| t.to_vec())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(t)
}

#[test]
fn every_bit_flip_is_an_error() {
    let file = small_file();
    assert!(
        file.windows(4).any(|w| w == [0x28, 0xb5, 0x2f, 0xfd]),
        "the file has a zstd section"
    );
    let good = decode_slice(&file).unwrap();
    assert_eq!(decode_stream(&file).unwrap(), good);
    let mut b = file.clone();
    for i in 0..b.len() {
        for bit in 0..8 {
            b[i] ^= 1 << bit;
            assert!(
                decode_slice(&b).is_err(),
                "slice reader accepted a flip of bit {bit} at byte {i}"
            );
            assert!(
                decode_stream(&b).is_err(),
                "stream reader accepted a flip of bit {bit} at byte {i}"
            );
            b[i] ^= 1 << bit;
        }
    }
}

#[test]
fn every_truncation_is_an_error() {
    let file = small_file();
    for len in 0..file.len() {
        assert!(
            decode_slice(&file[..len]).is_err(),
            "slice reader accepted {len} bytes"
        );
        assert!(
            decode_stream(&file[..len]).is_err(),
            "stream reader accepted {len} bytes"
        );
    }
}
