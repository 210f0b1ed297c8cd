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
//! The API is in three tiers, as the spec is read:
//!
//! - **The format** (this page): [`Archive`] reads a file in memory, [`ContainerWriter`]
//!   writes one into any [`Sink`]; [`DType`], [`Encoding`], [`TensorInfo`], [`Member`] and
//!   [`MemberKind`] describe what is stored (§6, §7, §10.1); [`Limits`] and [`ReadOptions`]
//!   bound what a reader accepts (§11, §13); [`Error`] and [`ErrorKind`] say why a file is
//!   refused and where (§2.3).
//! - **`engine`**, hidden: the framing's parts and the codecs' kernels the `elv` crate
//!   drives (sections, tables, the `ans` coder, ELF, chunk encoding), by spec section. Not
//!   API; it may change in any release.
//! - **`fuzzing`**, behind the feature of that name: builders of hand-made tables and
//!   bitstreams for tests, the conformance vectors and the fuzz targets.
//!
//! Inside, one module per spec section: `varint`, `bits` (§2.1–§2.2), `error` (§2.3),
//! `header` (§3, §5), `section`, `ans` and `ans_decode` (§4), `tensor` and `dtype` (§6), `encoding` with
//! `planes`, `elf`, `float_planes`, `de`, `delta` (§7), `dedup`, `base`, `metadata`,
//! `member` (§9–§10.1), `limits` (§11), `writer` and `encode` (§12), `catalog`, `decode`,
//! `archive` (§13).
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

mod ans;
mod ans_decode;
mod archive;
mod base;
mod bits;
mod catalog;
mod cursor;
mod de;
mod decode;
mod dedup;
mod delta;
mod dtype;
mod elf;
mod encode;
mod encoding;
mod error;
mod float_planes;
mod header;
mod limits;
mod member;
mod metadata;
mod planes;
mod section;
mod tensor;
mod varint;
mod writer;

pub use archive::Archive;
pub use catalog::ReadOptions;
pub use dtype::DType;
pub use encoding::Encoding;
pub use error::{Error, ErrorKind, Result};
pub use limits::Limits;
pub use member::{Member, MemberKind};
pub use section::{Codec, NoCodecs, SectionDecompressor};
pub use tensor::TensorInfo;
pub use writer::{ContainerWriter, Sink};

/// What the `elv` crate builds on: the framing's parts and the codecs' kernels, by spec
/// section. Not API: hidden from the docs, and it may change in any release.
#[doc(hidden)]
pub mod engine {
    /// §4.4 the `ans` entropy coder.
    pub mod ans {
        pub use crate::ans::{
            code_block, decode, decode_from, decode_rans, decode_with, encode, encode_with,
            estimated_len, histogram, normalize, BlockCoder, BlockDecoder, EncSym, RansBlock,
            BLOCK_LEN, GROUP_BYTES, INTERLEAVE, LANES, SCALE_BITS, STATE_LOW,
        };
    }
    /// §13 reading: buffers for decoded tensors.
    pub mod archive {
        pub use crate::archive::resize_zeroed;
    }
    /// §9.1 the base table.
    pub mod base {
        pub use crate::base::{check_none_needed, BaseEntry, BaseTable};
    }
    /// §13 the checked tables of a file.
    pub mod catalog {
        pub use crate::catalog::Catalog;
    }
    /// §13 the one decode path.
    pub mod decode {
        pub use crate::decode::{
            check_padding, check_tensor_crc, check_tensor_crc_value, chunk_range_sections,
            chunk_sections, decode_chunk, StoredSection,
        };
    }
    /// §9 the dedup table.
    pub mod dedup {
        pub use crate::dedup::apply_table;
    }
    /// §6.2 float layouts, and comparing decoded floats with their originals.
    pub mod dtype {
        pub use crate::dtype::{
            compare_floats, shape_bytes, tensor_bytes, whole_bytes, FloatFormat,
        };
    }
    /// §7.2 ELF.
    pub mod elf {
        pub use crate::elf::{
            code_width, decode_chunk, decode_value, encode_chunk, encode_value, error_bound_log2,
            small_count, stored_exactly, SMALL_LOG2,
        };
    }
    /// §7 one chunk of any encoding.
    pub mod encoding {
        pub use crate::encoding::{decode_chunk, encode_chunk};
    }
    /// §3, §5 header and trailer.
    pub mod header {
        pub use crate::header::{
            align_up, feature, Header, Trailer, HEADER_LEN, KNOWN_REQUIRED_FEATURES, MAGIC,
            MAX_ALIGN_LOG2, TRAILER_LEN, TRAILER_MAGIC, VERSION_MAJOR, VERSION_MINOR,
        };
    }
    /// §10.1 the member table.
    pub mod member {
        pub use crate::member::{check_path, folders_of, parse_table};
    }
    /// §10 the metadata section.
    pub mod metadata {
        pub use crate::metadata::{parse, to_bytes};
    }
    /// §4 sections and the index.
    pub mod section {
        pub use crate::section::{
            check_section_crc, decode_section, decode_section_within, kind, SectionEntry,
            SectionIndex, ENTRY_LEN, FLAG_CRITICAL, INDEX_HEADER_LEN,
        };
    }
    /// §6 the tensor table.
    pub mod tensor {
        pub use crate::tensor::{check_chunk_len, check_unique_names, parse_table, MAX_CHUNK_LEN};
    }
    /// §12 writing.
    pub mod writer {
        pub use crate::encode::{
            check_layout, check_shape, effective_chunk_len, encode_chunk_checked, EncodedChunk,
            EncodedTensor,
        };
        pub use crate::writer::StoredStream;
    }
}

/// What only tests, the conformance vectors and fuzzing need: builders of hand-made tables
/// and bitstreams. Behind the `fuzzing` feature; not API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::ans::STATE_LOW;
    pub use crate::bits::{BitReader, BitWriter};
    pub use crate::dedup::table_to_bytes as dedup_table_to_bytes;
    pub use crate::encode::encode_tensor;
    pub use crate::member::table_to_bytes as member_table_to_bytes;
    pub use crate::tensor::table_to_bytes as tensor_table_to_bytes;
    pub use crate::varint::{read_uleb, write_uleb};
}
