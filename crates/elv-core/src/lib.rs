//! `elv-core`: the `#![no_std]` core of the `.elv` format for compressed model weights.
//!
//! It holds the codecs (ELF, DE, the lossless float split, the deltas against a base model,
//! SPEC.md §7), the container framing (header, section index, tensor table, dedup table,
//! member table, base table, metadata: §3–§10), a writer
//! into any [`Sink`] and a checked reader over byte slices ([`Archive`]). Section codecs
//! other than `none` (zstd) are supplied by the `elv` crate through [`SectionDecompressor`].
//!
//! Every length and count read from a file is checked against the bytes present and the
//! [`Limits`] before anything is allocated; decoders return [`Error`], never panic.
//!
//! | SPEC.md | module |
//! |---|---|
//! | §2.1–§2.2 CRC, ULEB128, bitstreams | `varint`, `bits` |
//! | §2.3 errors | [`Error`], [`ErrorKind`] |
//! | §3, §5 header and trailer | [`header`] |
//! | §4 sections, index, codecs | [`section`]; §4.4 `ans`: [`ans`] |
//! | §6 tensor table, §6.2 dtypes | [`tensor`], [`dtype`] |
//! | §7 encodings | [`encoding`]; §7.1 `planes`, §7.2 [`elf`], §7.3 `float_planes`, §7.4 `de`, §7.7–§7.8 [`delta`] |
//! | §9 dedup, §9.1 base table, §10 metadata, §10.1 members | `dedup`, [`base`], `metadata`, [`member`] |
//! | §11 limits | [`Limits`] |
//! | §12 writers | [`writer`]; [`encode`] (chunks into streams, the writer's checks) |
//! | §13 reading | [`catalog`] (the tables), [`decode`] (the one decode path), [`archive`] (slices) |
//!
//! Modules not linked above are public for the `elv` crate, the fuzz targets and the
//! benches; they are not meant as API and are hidden from the docs.
//!
//! ```
//! use elv_core::{Archive, ContainerWriter, DType, Encoding, NoCodecs, ReadOptions};
//! let values: Vec<u8> = [0.25f32, -0.5, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
//! let mut w = ContainerWriter::new(Vec::new(), 3)?;
//! w.add_tensor("w", DType::F32, &[3], &values, Encoding::Elf, 1 << 20)?;
//! let file = w.finish()?;
//! let archive = Archive::parse(&file, &NoCodecs, ReadOptions::default())?;
//! assert_eq!(archive.decode_by_name("w")?, values); // these three are exact in ELF
//! # Ok::<(), elv_core::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;

pub mod ans;
pub mod archive;
pub mod base;
#[doc(hidden)]
pub mod bits;
pub mod catalog;
mod cursor;
#[doc(hidden)]
pub mod de;
pub mod decode;
#[doc(hidden)]
pub mod dedup;
pub mod delta;
pub mod dtype;
pub mod elf;
pub mod encode;
pub mod encoding;
mod error;
#[doc(hidden)]
pub mod float_planes;
pub mod header;
mod limits;
pub mod member;
#[doc(hidden)]
pub mod metadata;
#[doc(hidden)]
pub mod planes;
pub mod section;
pub mod tensor;
#[doc(hidden)]
pub mod varint;
pub mod writer;

pub use archive::Archive;
pub use catalog::{Catalog, ReadOptions};
pub use dtype::compare_floats;
pub use dtype::DType;
pub use encoding::Encoding;
pub use error::{Error, ErrorKind, Result};
pub use limits::Limits;
pub use section::{Codec, NoCodecs, SectionDecompressor};
pub use tensor::TensorInfo;
pub use writer::{ContainerWriter, Sink, StoredStream};
