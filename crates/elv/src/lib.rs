//! `elv`: read and write `.elv` compressed model weights with std.
//!
//! Built on [`elv_core`] (the `no_std` codecs and framing), this crate adds zstd sections,
//! [`Reader`] over `Read + Seek` (decode one tensor without reading the others), [`Writer`]
//! over `Write` (chunks encoded and compressed in parallel with rayon), and atomic output.
//!
//! ```
//! use elv::{Reader, Writer, WriteOptions};
//! use elv_core::{DType, Encoding, ReadOptions};
//! let data: Vec<u8> = (0..1000).flat_map(|i| ((i as f32) / 1000.0).to_le_bytes()).collect();
//! let mut w = Writer::new(Vec::new(), WriteOptions::default())?;
//! w.add_tensor("x", DType::F32, &[10, 100], &data, Encoding::FloatPlanes)?;
//! let file = w.finish()?;
//! let mut r = Reader::new(std::io::Cursor::new(file), ReadOptions::default())?;
//! assert_eq!(r.read_tensor_by_name("x")?, data);
//! # Ok::<(), elv::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod atomic;
pub mod codec;
mod error;
pub mod fuzzing;
pub mod pipeline;
pub mod reader;
pub mod safetensors;
pub mod writer;

pub use codec::StdCodecs;
pub use elv_core;
pub use error::{Error, Result};
pub use pipeline::{
    compress_safetensors, decompress_to_safetensors, CompressOptions, Report, TensorReport,
};
pub use reader::Reader;
pub use writer::{pack_tensor, PackedTensor, WriteOptions, Writer};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
