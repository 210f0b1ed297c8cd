//! `Reader::decode_many_into`: many tensors straight into the caller's buffers, pieces read
//! while others decode, equal to decoding each tensor alone.

use super::*;

/// The sample in chunks of 1,024 values, plus a duplicate of its largest tensor.
fn file(lossless: bool) -> Vec<u8> {
    let st = sample();
    let r = elv::safetensors::read_header(&mut &st[..], Some(st.len() as u64)).unwrap();
    let mut tensors: Vec<(String, DType, Vec<u64>, Vec<u8>)> = r
        .entries
        .iter()
        .map(|e| {
            let at = (r.data_start() + e.begin) as usize;
            let bytes = st[at..at + e.len() as usize].to_vec();
            (e.name.clone(), e.dtype, e.shape.clone(), bytes)
        })
        .collect();
    let big = tensors.iter().max_by_key(|t| t.3.len()).unwrap().clone();
    tensors.push(("copy".into(), big.1, big.2, big.3));
    let list: Vec<(&str, DType, Vec<u64>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, s.clone(), b.clone()))
        .collect();
    let opts = CompressOptions {
        lossless,
        chunk_len: 1 << 10,
        ..CompressOptions::default()
    };
    compress(&safetensors_file(&list), &opts).0
}

#[test]
fn many_tensors_decode_into_buffers_as_each_alone() {
    for lossless in [true, false] {
        let r = Reader::from_bytes(file(lossless)).unwrap();
        assert!(r.iter().any(|t| t.encoding() == Encoding::Dedup));
        let want: Vec<Vec<u8>> = r.iter().map(|t| t.to_vec().unwrap()).collect();
        let order: Vec<usize> = (0..r.len()).rev().collect();
        // Works of one piece each, of several pieces, and all at once.
        for batch in [1u64, 64 << 10, 1 << 30] {
            let mut bufs: Vec<Vec<u8>> = order.iter().map(|&i| vec![0xA5; want[i].len()]).collect();
            let mut outs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
            r.decode_many_into(&order, &mut outs, batch).unwrap();
            for (k, &i) in order.iter().enumerate() {
                assert!(bufs[k] == want[i], "tensor {i}, batch {batch}");
            }
        }
    }
}

#[test]
fn a_damaged_section_or_a_wrong_buffer_is_an_error() {
    let mut f = file(true);
    let r = Reader::from_bytes(f.clone()).unwrap();
    // The first of the largest: the original, not its duplicate (which owns no sections).
    let i = (0..r.len())
        .rev()
        .max_by_key(|&i| r.tensor(i).unwrap().byte_len())
        .unwrap();
    let len = r.tensor(i).unwrap().byte_len() as usize;
    let mut buf = vec![0u8; len - 1];
    let err = r
        .decode_many_into(&[i], &mut [&mut buf[..]], 1 << 20)
        .unwrap_err();
    assert!(matches!(err, elv::Error::InvalidInput(_)), "{err}");
    let err = r
        .decode_many_into(&[i, i], &mut [&mut buf[..]], 1 << 20)
        .unwrap_err();
    assert!(matches!(err, elv::Error::InvalidInput(_)), "{err}");
    // A byte flipped in the middle of the tensor's stored sections.
    let sections = r.tensor(i).unwrap().sections();
    let mid = &sections[sections.len() / 2];
    f[(mid.offset + mid.stored_len / 2) as usize] ^= 0x40;
    let r = Reader::from_bytes(f).unwrap();
    let mut buf = vec![0u8; len];
    let err = r
        .decode_many_into(&[i], &mut [&mut buf[..]], 64 << 10)
        .unwrap_err();
    assert_eq!(
        err.kind(),
        Some(elv_core::ErrorKind::ChecksumMismatch),
        "{err}"
    );
}
