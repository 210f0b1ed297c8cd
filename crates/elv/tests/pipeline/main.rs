//! The pipeline on real weights (the MiniLM sample in testdata/) and on crafted cases:
//! lossless round trips are byte-identical, ELF stays within its bound, HD dedups, the small-value
//! guard keeps tiny-valued tensors exact, and one tensor is read without the others.

use elv::metadata::KEY_SAFETENSORS_HEADER;
use elv::safetensors::build_header;
use elv::{
    compress_safetensors, decompress_to_safetensors, decompress_to_safetensors_with, Reader,
    Source, WriteOptions as CompressOptions,
};
use elv_core::engine::dtype::compare_floats;
use elv_core::{DType, Encoding, ReadOptions};
use std::io::Cursor;
use std::sync::{Arc, Mutex};

fn sample() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/sample/minilm_sample.safetensors"
    ))
    .unwrap()
}

fn compress(st: &[u8], opts: &CompressOptions) -> (Vec<u8>, elv::Report) {
    compress_safetensors(Cursor::new(st), Vec::new(), opts).unwrap()
}

fn decompress(elv_bytes: &[u8]) -> Vec<u8> {
    let r = Reader::new(elv_bytes, ReadOptions::default()).unwrap();
    decompress_to_safetensors(&r, Vec::new()).unwrap()
}

fn safetensors_file(tensors: &[(&str, DType, Vec<u64>, Vec<u8>)]) -> Vec<u8> {
    let list: Vec<(String, DType, Vec<u64>)> = tensors
        .iter()
        .map(|(n, d, s, _)| (n.to_string(), *d, s.clone()))
        .collect();
    let raw = build_header(&list, &[("format".into(), "pt".into())]);
    let mut f = (raw.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(raw.as_bytes());
    for (_, _, _, d) in tensors {
        f.extend_from_slice(d);
    }
    f
}

mod into;
mod streamed;
mod whole;
