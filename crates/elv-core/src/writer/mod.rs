//! Writing a `.elv` container (SPEC.md §3–§10) to any byte sink, in canonical order:
//! header, stream sections in tensor order, tensor table, dedup table, member table, base
//! table, metadata, index, trailer (SPEC.md §12).

use crate::base::{BaseEntry, BaseTable};
use crate::dtype::DType;
use crate::encoding::Encoding;
use crate::header::{
    align_up, feature, Header, Trailer, HEADER_LEN, KNOWN_REQUIRED_FEATURES, MAX_ALIGN_LOG2,
};
use crate::limits::Limits;
use crate::member::{self, Member, MemberKind};
use crate::section::{kind, Codec, SectionEntry, SectionIndex};
use crate::tensor::TensorInfo;
use crate::{dedup, metadata, Error, ErrorKind, Result};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::encode::{check_layout, check_shape, encode_tensor};

mod members;
mod tensors;

/// Where a [`ContainerWriter`] puts its bytes. `Vec<u8>` is one; the `elv` crate adapts
/// `std::io::Write`.
pub trait Sink {
    /// The sink's error; format errors convert into it.
    type Error: From<Error>;
    /// Appends all of `bytes`.
    fn write_all(&mut self, bytes: &[u8]) -> core::result::Result<(), Self::Error>;
}

impl Sink for Vec<u8> {
    type Error = Error;
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// One stream as it goes into the file: its codec, stored bytes and decoded length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredStream {
    /// Codec of `stored`.
    pub codec: Codec,
    /// The bytes written to the file.
    pub stored: Vec<u8>,
    /// Length once the codec is undone.
    pub decoded_len: u64,
}

impl StoredStream {
    /// A stream stored with codec `none`.
    pub fn plain(bytes: Vec<u8>) -> Self {
        StoredStream {
            codec: Codec::None,
            decoded_len: bytes.len() as u64,
            stored: bytes,
        }
    }
}

/// Writes a container section by section. Tensors are added in file order; `finish`
/// writes the tables, the index and the trailer.
pub struct ContainerWriter<S: Sink> {
    sink: S,
    align: u64,
    pos: u64,
    entries: Vec<SectionEntry>,
    tensors: Vec<TensorInfo>,
    names: BTreeMap<String, u32>,
    dedup: Vec<(u32, u32)>,
    metadata: Vec<(String, String)>,
    pending: Option<TensorInfo>,
    limits: Limits,
    features: u32,
    members: Vec<Member>,
    base: BaseTable,
}

impl<S: Sink> ContainerWriter<S> {
    /// Starts a file: writes the header. Sections align to 2^`align_log2` bytes (≤ 2^16).
    pub fn new(sink: S, align_log2: u8) -> core::result::Result<Self, S::Error> {
        Self::with_features(sink, align_log2, 0)
    }

    /// Starts a file with required features (SPEC.md §3.1, [`feature`]): with `MEMBERS` a
    /// collection (tensors follow [`begin_member`](Self::begin_member)), with `BASE` a file
    /// written against a base model ([`add_base_entry`](Self::add_base_entry)).
    pub fn with_features(
        mut sink: S,
        align_log2: u8,
        features: u32,
    ) -> core::result::Result<Self, S::Error> {
        if align_log2 > MAX_ALIGN_LOG2 {
            return Err(Error::bare(ErrorKind::InvalidInput, "alignment exponent above 16").into());
        }
        if features & !KNOWN_REQUIRED_FEATURES != 0 {
            return Err(Error::bare(ErrorKind::InvalidInput, "unknown required feature").into());
        }
        let header = Header::with_features(align_log2, features);
        sink.write_all(&header.to_bytes())?;
        Ok(ContainerWriter {
            sink,
            align: header.alignment(),
            pos: HEADER_LEN as u64,
            entries: Vec::new(),
            tensors: Vec::new(),
            names: BTreeMap::new(),
            dedup: Vec::new(),
            metadata: Vec::new(),
            pending: None,
            limits: Limits::default(),
            features,
            members: Vec::new(),
            base: BaseTable::default(),
        })
    }

    #[doc(hidden)]
    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    #[doc(hidden)]
    /// Sets the reader limits the file must keep within (default: [`Limits::default`], what
    /// the reference reader accepts). Whatever exceeds them is refused before it is written.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    #[doc(hidden)]
    /// The tensors added so far.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    fn pad(&mut self) -> core::result::Result<(), S::Error> {
        let target = align_up(self.pos, self.align)
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "file too large", self.pos))?;
        const ZEROS: [u8; 64] = [0; 64];
        while self.pos < target {
            let n = ((target - self.pos) as usize).min(ZEROS.len());
            self.sink.write_all(&ZEROS[..n])?;
            self.pos += n as u64;
        }
        Ok(())
    }

    #[doc(hidden)]
    /// Writes a section of any kind as is, for ancillary sections of a tool's own kinds
    /// (SPEC.md §4.2: kinds 128..=255 are free for private use). The caller keeps the kind
    /// rules of §4.2; the index is checked only by readers.
    pub fn add_section(
        &mut self,
        kind: u8,
        critical: bool,
        s: &StoredStream,
    ) -> core::result::Result<u32, S::Error> {
        self.write_section(kind, critical, s)
    }

    /// Writes the index and trailer over the sections added so far, without writing the
    /// tables: for crafting conformance vectors section by section.
    #[doc(hidden)]
    pub fn finish_sections_only(mut self) -> core::result::Result<S, S::Error> {
        self.pad()?;
        let index = SectionIndex::to_bytes(&self.entries);
        let trailer = Trailer {
            index_offset: self.pos,
            index_len: index.len() as u64,
            index_crc: crc32fast::hash(&index),
        };
        self.sink.write_all(&index)?;
        self.sink.write_all(&trailer.to_bytes())?;
        Ok(self.sink)
    }

    fn write_section(
        &mut self,
        kind: u8,
        critical: bool,
        s: &StoredStream,
    ) -> core::result::Result<u32, S::Error> {
        let limit = self.limits.max_sections;
        let index = u32::try_from(self.entries.len())
            .ok()
            .filter(|&n| n < limit)
            .ok_or_else(|| {
                Error::bare(
                    ErrorKind::InvalidInput,
                    "more sections than a reader accepts (SPEC.md §11; use longer chunks)",
                )
                .got_expected(self.entries.len() as u64 + 1, limit.into())
            })?;
        self.pad()?;
        self.entries.push(SectionEntry {
            offset: self.pos,
            stored_len: s.stored.len() as u64,
            decoded_len: s.decoded_len,
            crc32: crc32fast::hash(&s.stored),
            kind,
            codec: s.codec.code(),
            critical,
        });
        self.sink.write_all(&s.stored)?;
        self.pos += s.stored.len() as u64;
        Ok(index)
    }

    pub(super) fn check_new_name(&self, name: &str) -> Result<()> {
        if self.pending.is_some() {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "a tensor is still open",
            ));
        }
        if name.len() > u16::MAX as usize {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "tensor name longer than 65535 bytes",
            ));
        }
        if self.names.contains_key(name) {
            return Err(Error::bare(ErrorKind::DuplicateName, "tensor name"));
        }
        let max_tensors = self.limits.max_tensors;
        if self.tensors.len() >= max_tensors as usize {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "more tensors than a reader accepts (SPEC.md §11)",
            )
            .got_expected(self.tensors.len() as u64 + 1, max_tensors.into()));
        }
        Ok(())
    }

    /// Adds a tensor that repeats the earlier tensor `canonical` (SPEC.md §9). The caller
    /// vouches the bytes are identical; `canonical` must not itself be a dedup tensor.
    pub fn add_dedup(&mut self, name: &str, canonical: u32) -> core::result::Result<u32, S::Error> {
        self.check_new_name(name)?;
        let Some(c) = self.tensors.get(canonical as usize) else {
            return Err(Error::bare(ErrorKind::InvalidInput, "dedup canonical index").into());
        };
        if c.encoding == Encoding::Dedup {
            return Err(Error::bare(ErrorKind::BadDedup, "dedup of a dedup tensor").into());
        }
        let info = TensorInfo {
            name: String::from(name),
            encoding: Encoding::Dedup,
            // A reference decodes to its original's bytes, lossy or not: same bound.
            error_bound_log2: c.error_bound_log2,
            chunk_len: 0,
            first_stream: self.entries.len() as u32,
            dedup_of: Some(canonical),
            ..c.clone()
        };
        let index = self.push_tensor(info);
        self.dedup.push((index, canonical));
        Ok(index)
    }

    #[doc(hidden)]
    /// Index of the tensor named `name`, if added.
    pub fn find(&self, name: &str) -> Option<u32> {
        self.names.get(name).copied()
    }

    /// Sets the file metadata (written in this order; keys must be unique, and within what a
    /// reader accepts: SPEC.md §11).
    pub fn set_metadata(&mut self, pairs: Vec<(String, String)>) -> Result<()> {
        let limits = self.limits;
        if pairs.len() > limits.max_metadata_entries as usize {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "more metadata entries than a reader accepts (SPEC.md §11)",
            )
            .got_expected(pairs.len() as u64, limits.max_metadata_entries.into()));
        }
        if let Some((k, _)) = pairs
            .iter()
            .find(|(k, _)| k.len() > limits.max_name_len as usize)
        {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "metadata key longer than a reader accepts (SPEC.md §11)",
            )
            .got_expected(k.len() as u64, limits.max_name_len.into()));
        }
        let mut keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        if keys.windows(2).any(|w| w.first() == w.get(1)) {
            return Err(Error::bare(ErrorKind::DuplicateName, "metadata key"));
        }
        self.metadata = pairs;
        Ok(())
    }

    #[doc(hidden)]
    /// Writes the tables (each passed through `pack` to choose its codec), the index and the
    /// trailer, and gives back the sink.
    pub fn finish_with(
        mut self,
        pack: &dyn Fn(Vec<u8>) -> StoredStream,
    ) -> core::result::Result<S, S::Error> {
        if self.pending.is_some() {
            return Err(Error::bare(ErrorKind::InvalidInput, "a tensor is still open").into());
        }
        if self
            .tensors
            .iter()
            .any(|t| !t.encoding.is_reference() && t.stream_count() == 0 && t.num_values() != 0)
        {
            return Err(Error::bare(ErrorKind::InvalidInput, "tensor without streams").into());
        }
        self.close_member();
        if self.features & feature::MEMBERS != 0
            && self
                .members
                .first()
                .map_or(!self.tensors.is_empty(), |m| m.tensors.start != 0)
        {
            return Err(
                Error::bare(ErrorKind::InvalidInput, "tensors before the first member").into(),
            );
        }
        // The reader's checks, run on what is about to be written.
        let members = member::table_to_bytes(&self.members);
        if self.features & feature::MEMBERS != 0 {
            member::parse_table(&members, &self.tensors, &self.limits)
                .map_err(|e| Error::bare(ErrorKind::InvalidInput, e.what()))?;
        }
        let base = self.base.to_bytes();
        if self.features & feature::BASE != 0 {
            BaseTable::parse(&base, &self.tensors, &self.limits)
                .map_err(|e| Error::bare(ErrorKind::InvalidInput, e.what()))?;
        } else {
            crate::base::check_none_needed(&self.tensors)
                .map_err(|e| Error::bare(ErrorKind::InvalidInput, e.what()))?;
        }
        let table = pack(crate::tensor::table_to_bytes(&self.tensors));
        self.write_section(kind::TENSOR_TABLE, true, &table)?;
        if !self.dedup.is_empty() {
            let d = pack(dedup::table_to_bytes(&self.dedup));
            self.write_section(kind::DEDUP_TABLE, true, &d)?;
        }
        if self.features & feature::MEMBERS != 0 {
            self.write_section(kind::MEMBER_TABLE, true, &pack(members))?;
        }
        if self.features & feature::BASE != 0 {
            self.write_section(kind::BASE_TABLE, true, &pack(base))?;
        }
        if !self.metadata.is_empty() {
            let m = pack(metadata::to_bytes(&self.metadata));
            self.write_section(kind::METADATA, false, &m)?;
        }
        self.finish_sections_only()
    }

    /// [`finish_with`](Self::finish_with) storing the tables uncompressed.
    pub fn finish(self) -> core::result::Result<S, S::Error> {
        self.finish_with(&StoredStream::plain)
    }
}
