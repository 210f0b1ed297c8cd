//! `elv`: read and write `.elv` compressed model weights with std.
//!
//! Built on [`elv_core`] (the `no_std` codecs and framing), this crate adds zstd sections,
//! a [`Writer`] that chooses each tensor's encoding (ELVES: ELF, DE, planes, dedup; SPEC.md
//! §7, §9) and encodes chunks in parallel, a [`Reader`] over any [`Source`] whose `&self`
//! methods decode one tensor without reading the others, safetensors conversion, model
//! folders as one file ([`compress_collection`], [`decompress_member`]) and fine-tunes as
//! deltas against a base model ([`Layout`], [`BaseModel`], [`Reader::with_base`]).
//!
//! ```
//! use elv::{Choice, DType, Reader, TensorData, WriteOptions, Writer};
//! let w: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
//! let mut writer = Writer::new(Vec::new(), WriteOptions::default())?;
//! let bytes = TensorData::f32(&[10, 100], &w).data;
//! writer.add_tensor("w", DType::F32, &[10, 100], &bytes, Choice::Auto)?;
//! let file = writer.finish()?;
//!
//! let reader = Reader::from_bytes(file)?;
//! let t = reader.get("w").expect("w is there");
//! assert!(t.error_bound() <= 2f64.powi(-24)); // ELF: |error| ≤ 2^-24 for values in (-1, 1)
//! assert_eq!(t.to_vec()?.len(), 4000);
//! # Ok::<(), elv::Error>(())
//! ```
//!
//! The crate is three wings over a small root, each importing only from those listed
//! before it:
//!
//! | module | what | SPEC.md |
//! |---|---|---|
//! | root: `error`, `base`, `codec`, `ans_simd`, `element`, `metadata`, `atomic`, `overlap` | errors; the `Base` trait; the entropy stage (`ans`, zstd; the AVX2 coding and decoding loops, the crate's only `unsafe`); dtypes as Rust types; what metadata keys mean; atomic output files; read-ahead and write-behind | §2.3, §4.3, §4.4, §9.1, §10 |
//! | `read`: `reader`, `tensor`, `in_order`, `engine`, `fetch`, `twin`, `source` | the public read API (one tensor, or many in order) over one engine per open file | §13, §9.1 |
//! | `write`: `writer`, `tensor_writer`, `seekable`, `serialize`, `add_all`, `ordered`, `policy`, `pack`, `dedup`, `options`, `report` | the public write API (whole tensors, streamed ones, ones read from a seekable input, many at once in order), the encoding choice, chunk encoding, dedup | §7, §9, §12 |
//! | `convert`: `compress`, `decompress`, `verify`, `safetensors`, `folder`, `base_model`, `sniff` | safetensors files, model folders and base models in and out, built on the two wings' public API only (checked by `.ci/convert-is-a-client`) | §9.1, §10, §10.1 |
//!
//! One word per granularity: a *chunk* is the format's unit of values (§6.4); a *batch* is
//! tensors encoded or decoded together; a *span* is a run of whole chunks of one tensor.
// `unsafe` only in `ans_simd`, the vector coding loop, each block justified.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod ans_simd;
pub mod atomic;
mod base;
mod buffer;
mod codec;
pub mod conformance;
mod convert;
mod element;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod metadata;
mod overlap;
mod read;
mod write;

pub use ans_simd::decode::decode as decode_ans;
pub use ans_simd::encode as encode_ans;
pub use base::{twin_hash, Base};
pub use buffer::zeroed_buffer;
pub use codec::StdCodecs;
pub use convert::base_model::BaseModel;
pub use convert::compress::{
    compress_collection, compress_pytorch_with, compress_safetensors, compress_safetensors_with,
    compress_weights_with,
};
pub use convert::decompress::{
    decompress_member, decompress_to_safetensors, decompress_to_safetensors_with,
};
pub use convert::folder::{
    decompress_to_folder, gather_members, links_leaving, FolderOptions, MemberInput,
};
pub use convert::pytorch;
pub use convert::verify::{verify_against, Comparison, TensorCheck};
pub use convert::{safetensors, sniff};
pub use element::Element;
pub use elv_core;
pub use elv_core::{DType, Encoding, ErrorKind, Limits, ReadOptions};
pub use elv_core::{Member, MemberKind};
pub use error::{BaseError, Error, InputError, Result, SafetensorsError, SafetensorsErrorKind};
pub use half;
pub use read::reader::Reader;
pub use read::source::{SeekSource, Source};
pub use read::tensor::{SectionSpan, Tensor, TensorReader};
pub use write::options::{
    WriteOptions, DEFAULT_BATCH_BYTES, DEFAULT_CHUNK_LEN, DEFAULT_DECODE_BATCH_BYTES,
};
pub use write::report::{Progress, Report, TensorReport};
pub use write::serialize::{serialize, serialize_to_file, TensorData};
pub use write::tensor_writer::TensorWriter;
pub use write::writer::{Choice, Layout, NamedTensor, Writer};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
