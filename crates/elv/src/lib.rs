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
//! | module | what | SPEC.md |
//! |---|---|---|
//! | `writer`, `tensor_writer`, `serialize` | the public write API | §12 |
//! | `policy` | per-tensor encoding choice (trials) | §12 (informative) |
//! | `hd` | dedup of identical tensors | §9 |
//! | `pack`, `codec` | chunk encoding and the entropy stage (`ans`, zstd) | §4.3, §4.4, §7 |
//! | `ans_simd` | the `ans` encoder's coding loop on AVX2 (the crate's only `unsafe`) | §4.4.2 |
//! | `reader`, `tensor`, `fetch`, `source` | the public read API over the core decode path | §13 |
//! | `compress`, `decompress`, `verify` | safetensors and collection drivers of the CLI | §10, §10.1 |
//! | `folder` | model folders on disk as collection members, their modification times | §10, §10.1 |
//! | `ordered`, `overlap` | the drivers' parallel work: in-order results, read-ahead and write-behind | |
//! | `base`, `base_model`, `twin` | base models for deltas (the trait; one opened from files); a reader's checked twins | §7.7–§7.9, §9.1 |
//! | `safetensors`, `atomic` | safetensors headers; atomic output files | |
//! | `sniff` | what a wrong input is, in one line, for every entry point | |
// `unsafe` only in `ans_simd`, the vector coding loop, each block justified.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod ans_simd;
pub mod atomic;
mod base;
mod base_model;
mod codec;
mod compress;
pub mod conformance;
mod decompress;
mod element;
mod engine;
mod error;
mod fetch;
mod folder;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod hd;
mod metadata;
mod options;
mod ordered;
mod overlap;
mod pack;
mod policy;
mod reader;
mod report;
pub mod safetensors;
mod serialize;
pub mod sniff;
mod source;
mod tensor;
mod tensor_writer;
mod twin;
mod verify;
mod writer;

pub use ans_simd::encode as encode_ans;
pub use base::{twin_hash, Base};
pub use base_model::BaseModel;
pub use codec::StdCodecs;
pub use compress::{compress_collection, compress_safetensors, compress_safetensors_with};
pub use decompress::{
    decompress_member, decompress_to_safetensors, decompress_to_safetensors_with,
};
pub use element::Element;
pub use elv_core;
pub use elv_core::member::{Member, MemberKind};
pub use elv_core::{DType, Encoding, ErrorKind, Limits, ReadOptions};
pub use error::{BaseError, Error, InputError, Result, SafetensorsError, SafetensorsErrorKind};
pub use folder::{gather_members, MemberInput};
pub use half;
pub use metadata::{
    user_metadata, KEY_MEMBER_MTIMES, KEY_SAFETENSORS_HEADER, KEY_SAFETENSORS_METADATA,
};
pub use options::{
    WriteOptions, DEFAULT_BATCH_BYTES, DEFAULT_CHUNK_LEN, DEFAULT_DECODE_BATCH_BYTES,
};
pub use reader::Reader;
pub use report::{Progress, Report, TensorReport};
pub use serialize::{serialize, serialize_to_file, TensorData};
pub use source::{SeekSource, Source};
pub use tensor::{SectionSpan, Tensor, TensorReader};
pub use tensor_writer::TensorWriter;
pub use verify::{verify_against, Comparison, TensorCheck};
pub use writer::{Choice, Layout, NamedTensor, Writer};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
