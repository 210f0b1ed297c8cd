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

pub use crate::encode::{
    check_layout, check_shape, effective_chunk_len, encode_chunk_checked, encode_tensor,
    EncodedChunk, EncodedTensor,
};

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

    /// Starts the next member of a collection (SPEC.md §10.1): the tensors added until the
    /// next call are its tensors. A `File` member holds one U8 tensor of rank 1, its bytes.
    pub fn begin_member(&mut self, path: &str, kind: MemberKind, header: &str) -> Result<()> {
        if self.features & feature::MEMBERS == 0 {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "members need the MEMBERS feature (ContainerWriter::with_features)",
            ));
        }
        if self.pending.is_some() {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "a tensor is still open",
            ));
        }
        member::check_path(path).map_err(|_| {
            Error::bare(
                ErrorKind::InvalidInput,
                "not a portable relative path (SPEC.md §10.1: no `\\`, `:`, control characters, empty, `.` or `..` components)",
            )
        })?;
        if path.len() > u16::MAX as usize || header.len() > u32::MAX as usize {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "member path or header too long",
            ));
        }
        if self.members.iter().any(|m| m.path == path) {
            return Err(Error::bare(ErrorKind::DuplicateName, "member path"));
        }
        let nested = |a: &str, b: &str| member::folders_of(a).any(|f| f == b);
        if self
            .members
            .iter()
            .any(|m| nested(path, &m.path) || nested(&m.path, path))
        {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "member path inside another member (one is a file, not a folder)",
            ));
        }
        self.close_member();
        let at = self.tensors.len() as u32;
        self.members.push(Member {
            path: String::from(path),
            kind,
            tensors: at..at,
            header: String::from(header),
        });
        self.names.clear();
        Ok(())
    }

    fn close_member(&mut self) {
        let end = self.tensors.len() as u32;
        if let Some(m) = self.members.last_mut() {
            m.tensors.end = end;
        }
    }

    /// Records that tensor `tensor` (stored as `base`, `delta` or `elf_delta`) was written
    /// against the base twin named `twin` whose bytes hash to `hash` (BLAKE3-256), and names
    /// the base for messages (SPEC.md §9.1).
    pub fn add_base_entry(&mut self, tensor: u32, hash: [u8; 32], twin: &str) -> Result<()> {
        let ok = self.features & feature::BASE != 0
            && self
                .tensors
                .get(tensor as usize)
                .is_some_and(|t| t.encoding.needs_base())
            && self.base.entries.last().is_none_or(|e| e.tensor < tensor)
            && twin.len() <= u16::MAX as usize;
        if !ok {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "base entry (BASE feature, a tensor stored against the base, in tensor order)",
            ));
        }
        self.base.entries.push(BaseEntry {
            tensor,
            hash,
            twin: String::from(twin),
        });
        Ok(())
    }

    /// Names the base model in the base table, for messages.
    pub fn set_base_name(&mut self, name: &str) {
        let mut end = name.len().min(u16::MAX as usize);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        self.base.name = String::from(name.get(..end).unwrap_or_default());
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Sets the reader limits the file must keep within (default: [`Limits::default`], what
    /// the reference reader accepts). Whatever exceeds them is refused before it is written.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

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

    fn check_new_name(&self, name: &str) -> Result<()> {
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

    /// Adds a tensor whose streams are already encoded (and possibly compressed): `streams`
    /// are all chunks' streams in order, `crc32` is the CRC of the decoded tensor bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn add_encoded_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        encoding: Encoding,
        chunk_len: u64,
        crc32: u32,
        streams: impl IntoIterator<Item = StoredStream>,
    ) -> core::result::Result<u32, S::Error> {
        self.begin_tensor(name, dtype, shape, encoding, chunk_len)?;
        for s in streams {
            self.push_stream(&s)?;
        }
        self.end_tensor(crc32)
    }

    /// Starts a tensor whose streams follow with [`push_stream`](Self::push_stream), for
    /// writing a large tensor chunk by chunk; [`end_tensor`](Self::end_tensor) completes it.
    pub fn begin_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        encoding: Encoding,
        chunk_len: u64,
    ) -> core::result::Result<(), S::Error> {
        if self.pending.is_some() {
            return Err(Error::bare(ErrorKind::InvalidInput, "a tensor is already open").into());
        }
        self.check_new_name(name)?;
        check_layout(dtype, shape, &self.limits)?;
        let values = shape.iter().product::<u64>();
        crate::tensor::check_chunk_len(encoding, dtype, values, chunk_len, &self.limits).map_err(
            |e| {
                Error::bare(ErrorKind::InvalidInput, e.what())
                    .got_expected(e.got().unwrap_or(chunk_len), e.expected().unwrap_or(0))
            },
        )?;
        let first_stream = self.entries.len() as u32;
        self.pending = Some(TensorInfo {
            name: String::from(name),
            dtype,
            shape: shape.to_vec(),
            encoding,
            error_bound_log2: encoding.error_bound_log2(dtype),
            crc32: 0,
            chunk_len,
            first_stream,
            dedup_of: None,
        });
        Ok(())
    }

    /// Writes the next stream of the open tensor.
    pub fn push_stream(&mut self, s: &StoredStream) -> core::result::Result<(), S::Error> {
        let Some(t) = &self.pending else {
            return Err(Error::bare(ErrorKind::InvalidInput, "no tensor is open").into());
        };
        // The stream's decoded length must be one a reader accepts for its chunk (§7).
        let spc = t.encoding.streams_per_chunk(t.dtype) as u64;
        let rel = self.entries.len() as u64 - u64::from(t.first_stream);
        let (c, k) = (rel / spc.max(1), (rel % spc.max(1)) as usize);
        if c >= t.chunk_count() {
            return Err(
                Error::bare(ErrorKind::InvalidInput, "more streams than the tensor has").into(),
            );
        }
        let n = t.chunk_values(c);
        if !t.encoding.stream_len_ok(t.dtype, n, k, s.decoded_len) {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "stream length impossible for its chunk (SPEC.md §7)",
            )
            .got_expected(s.decoded_len, t.encoding.max_stream_len(t.dtype, n, k))
            .into());
        }
        self.write_section(kind::STREAM, true, s)?;
        Ok(())
    }

    /// Completes the open tensor; `crc32` is the CRC of its decoded bytes. Checks the stream
    /// count against the encoding.
    pub fn end_tensor(&mut self, crc32: u32) -> core::result::Result<u32, S::Error> {
        let mut info = self
            .pending
            .take()
            .ok_or_else(|| Error::bare(ErrorKind::InvalidInput, "no tensor is open"))?;
        info.crc32 = crc32;
        let written = self.entries.len() as u64 - u64::from(info.first_stream);
        if written != info.stream_count() {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "stream count does not match the encoding",
            )
            .got_expected(written, info.stream_count())
            .into());
        }
        Ok(self.push_tensor(info))
    }

    fn push_tensor(&mut self, info: TensorInfo) -> u32 {
        let index = self.tensors.len() as u32;
        self.names.insert(info.name.clone(), index);
        self.tensors.push(info);
        index
    }

    /// Encodes and adds a tensor with every stream stored uncompressed (codec `none`).
    pub fn add_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        data: &[u8],
        encoding: Encoding,
        chunk_len: u64,
    ) -> core::result::Result<u32, S::Error> {
        self.encode_and_add(name, dtype, shape, data, None, encoding, chunk_len)
    }

    /// Encodes and adds a tensor as `delta` or `elf_delta` against `base`, its twin's bytes
    /// (as long as `data`), every stream stored uncompressed. Record the twin with
    /// [`add_base_entry`](Self::add_base_entry).
    #[allow(clippy::too_many_arguments)]
    pub fn add_tensor_against(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        data: &[u8],
        base: &[u8],
        encoding: Encoding,
        chunk_len: u64,
    ) -> core::result::Result<u32, S::Error> {
        self.encode_and_add(name, dtype, shape, data, Some(base), encoding, chunk_len)
    }

    #[allow(clippy::too_many_arguments)]
    fn encode_and_add(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        data: &[u8],
        base: Option<&[u8]>,
        encoding: Encoding,
        chunk_len: u64,
    ) -> core::result::Result<u32, S::Error> {
        check_shape(dtype, shape, data.len())?;
        let t = encode_tensor(encoding, dtype, data, base, chunk_len)?;
        self.add_encoded_tensor(
            name,
            dtype,
            shape,
            encoding,
            t.chunk_len,
            t.crc32,
            t.streams.into_iter().map(StoredStream::plain),
        )
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
