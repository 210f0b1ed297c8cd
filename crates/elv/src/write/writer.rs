//! Writing `.elv` to any `Write` (SPEC.md §12): tensors are added with an encoding choice
//! (automatic, by the mode's policy, with dedup across every tensor added; or explicit),
//! then [`Writer::finish`] writes the tables, index and trailer.

use crate::base::{twin_base, Base};
use crate::codec;
use crate::error::{Error, Result};
use crate::write::dedup::{self, Seen};
use crate::write::options::WriteOptions;
use crate::write::pack::{pack_tensor, IoSink, Packed, PackedTensor};
use crate::write::policy;
use crate::write::report::TensorReport;
use elv_core::engine::header::feature;
use elv_core::engine::writer::check_shape;
use elv_core::engine::writer::StoredStream;
use elv_core::MemberKind;
use elv_core::{ContainerWriter, DType, Encoding};
use rayon::prelude::*;
use std::io::Write;
use std::sync::Arc;

/// What a file holds besides tensors, fixed when it is started (its header says so).
#[derive(Clone, Default)]
pub struct Layout {
    /// A collection: tensors follow [`Writer::begin_safetensors_member`], files come by
    /// [`Writer::add_file`], empty folders by [`Writer::add_folder`] (SPEC.md §10.1).
    pub collection: bool,
    /// A base model: a tensor with a twin in it (same name, dtype and shape) is stored as a
    /// reference when identical, else as a delta when that is smaller (SPEC.md §7.7–§7.9).
    /// Decoding such a file needs the same base.
    pub base: Option<Arc<dyn Base>>,
}

/// How a tensor's encoding is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Choice {
    /// The smallest stored size among the encodings the options allow (ELF only where the
    /// mode permits it), and a reference to an identical earlier tensor when
    /// [`WriteOptions::dedup`] is on.
    #[default]
    Auto,
    /// This encoding, whatever its size (it must apply to the dtype, SPEC.md §7).
    Exact(Encoding),
}

/// One tensor given to [`Writer::add_batch`]: name, dtype, shape and little-endian,
/// row-major bytes.
#[derive(Clone, Copy, Debug)]
pub struct NamedTensor<'a> {
    /// Name (unique in the file).
    pub name: &'a str,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first.
    pub shape: &'a [u64],
    /// The values, `dtype.size()` × product of `shape` bytes.
    pub data: &'a [u8],
}

/// Writes a `.elv` file tensor by tensor; call [`Writer::finish`] at the end. Until then
/// the output is not a valid file (its index is written last), so a writer dropped early
/// leaves nothing a reader accepts.
///
/// ```
/// use elv::{Choice, DType, TensorData, WriteOptions, Writer};
/// let w: Vec<f32> = (0..1000).map(|i| (i as f32 / 1000.0).sin()).collect();
/// // The default lets f32 use ELF where smaller; WriteOptions::lossless() keeps every bit.
/// let mut writer = Writer::new(Vec::new(), WriteOptions::default())?;
/// let bytes = TensorData::f32(&[10, 100], &w).data;
/// let report = writer.add_tensor("w", DType::F32, &[10, 100], &bytes, Choice::Auto)?;
/// assert!(report.error_bound_log2 <= 24); // ELF where smaller: |error| <= 2^-24
/// writer.set_metadata(vec![("format".into(), "pt".into())])?;
/// let file: Vec<u8> = writer.finish()?;
/// assert!(elv::Reader::from_bytes(file)?.get("w").is_some());
/// # Ok::<(), elv::Error>(())
/// ```
pub struct Writer<W: Write> {
    inner: ContainerWriter<IoSink<W>>,
    options: WriteOptions,
    seen: Seen,
    /// A tensor whose [`TensorWriter`](crate::TensorWriter) was dropped unfinished: every later call fails.
    abandoned: Option<String>,
    base: Option<Arc<dyn Base>>,
}

impl<W: Write> Writer<W> {
    /// Starts a file on `w` (writes the header).
    pub fn new(w: W, options: WriteOptions) -> Result<Self> {
        Self::with_layout(w, options, Layout::default())
    }

    /// Starts a collection, a file against a base model, or both (writes the header).
    pub fn with_layout(w: W, options: WriteOptions, layout: Layout) -> Result<Self> {
        let features = if layout.collection {
            feature::MEMBERS
        } else {
            0
        } | if layout.base.is_some() {
            feature::BASE
        } else {
            0
        };
        let mut inner = ContainerWriter::with_features(IoSink(w, 0), options.align_log2, features)
            .map_err(Error::from_writer(None))?;
        inner.set_limits(options.limits);
        if let Some(b) = &layout.base {
            inner.set_base_name(b.name());
        }
        Ok(Writer {
            inner,
            options,
            seen: Seen::default(),
            abandoned: None,
            base: layout.base,
        })
    }

    /// Starts the next member of a collection: a safetensors file at `path` (relative,
    /// `/`-separated) whose tensors follow, with its JSON header kept verbatim so it can be
    /// written back byte for byte (SPEC.md §10.1).
    pub fn begin_safetensors_member(&mut self, path: &str, header: &str) -> Result<()> {
        if header.len() as u64 > crate::safetensors::MAX_HEADER_LEN {
            let why = "its safetensors header is beyond safetensors' 100 MB limit";
            return Err(Error::input(None, format!("member {path:?}: {why}")));
        }
        self.begin_member(path, MemberKind::Safetensors, header)
    }

    /// Starts member `path` of `kind`; what the core writer refuses names the path.
    pub(crate) fn begin_member(
        &mut self,
        path: &str,
        kind: MemberKind,
        header: &str,
    ) -> Result<()> {
        self.check_usable()?;
        self.inner
            .begin_member(path, kind, header)
            .map_err(|e| Error::input(None, format!("member {path:?}: {e}")))
    }

    /// Adds a file of a collection (a config, a tokenizer) at `path`: its bytes, compressed,
    /// restored byte for byte; identical files are stored once.
    pub fn add_file(&mut self, path: &str, bytes: &[u8]) -> Result<TensorReport> {
        self.begin_member(path, MemberKind::File, "")?;
        let shape = [bytes.len() as u64];
        self.add_tensor(path, DType::U8, &shape, bytes, Choice::Auto)
    }

    /// Adds an empty folder of a collection at `path`, so that a folder round trip keeps it.
    pub fn add_folder(&mut self, path: &str) -> Result<()> {
        self.begin_member(path, MemberKind::Folder, "")
    }

    /// The writer's base, if it has one.
    pub(crate) fn base_arc(&self) -> Option<Arc<dyn Base>> {
        self.base.clone()
    }

    /// The options in use.
    pub fn options(&self) -> &WriteOptions {
        &self.options
    }

    /// Sets the values per chunk of the tensors added from now on.
    pub fn set_chunk_len(&mut self, chunk_len: u64) {
        self.options.chunk_len = chunk_len;
    }

    /// Encodes and writes a tensor. `data` is little-endian, row-major, exactly
    /// `dtype.size()` × product of `shape` bytes. Chunks encode in parallel.
    pub fn add_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        data: &[u8],
        choice: Choice,
    ) -> Result<TensorReport> {
        let t = NamedTensor {
            name,
            dtype,
            shape,
            data,
        };
        let mut reports = self.add_batch(&[t], choice)?;
        reports
            .pop()
            .ok_or(Error::Internal("a batch of one gave no report"))
    }

    /// Encodes several tensors in parallel (each with `choice`) and writes them in order:
    /// for many small tensors, much faster than adding them one by one.
    pub fn add_batch(
        &mut self,
        tensors: &[NamedTensor<'_>],
        choice: Choice,
    ) -> Result<Vec<TensorReport>> {
        self.check_usable()?;
        for t in tensors {
            check_shape(t.dtype, t.shape, t.data.len())
                .map_err(|e| Error::input(Some(t.name), e))?;
        }
        // Every tensor is hashed when dedup is on, so that a later automatic one can refer to
        // it; only automatic ones look for an earlier twin.
        let dedup = self.options.dedup;
        let keys: Vec<Option<dedup::ContentKey>> = tensors
            .par_iter()
            .map(|t| {
                (dedup && !t.data.is_empty()).then(|| dedup::content_key(t.dtype, t.shape, t.data))
            })
            .collect();
        let look = choice == Choice::Auto;
        // Duplicates are decided in order: a tensor may repeat one earlier in the batch. HD
        // learns a tensor only once it is written, so a failed write leaves no reference to it.
        let first = self.inner.tensors().len() as u32;
        let mut in_batch: std::collections::HashMap<&dedup::ContentKey, u32> = Default::default();
        let mut dup_of = Vec::with_capacity(tensors.len());
        for (k, key) in keys.iter().enumerate() {
            let found = key
                .as_ref()
                .filter(|_| look)
                .and_then(|key| self.seen.get(key).or_else(|| in_batch.get(key).copied()));
            let t = tensors.get(k);
            if let (None, Some(key), Some(t)) = (found, key, t) {
                if self.may_share(t.dtype, choice) {
                    in_batch.insert(key, first + k as u32);
                }
            }
            dup_of.push(found);
        }
        let options = self.options;
        let base = self.base.as_deref();
        let packed: Vec<Packed> = tensors
            .par_iter()
            .zip(dup_of.par_iter())
            .map(|(t, dup)| match dup {
                Some(_) => Ok(None),
                None => {
                    let twin = twin_of(base, t)?;
                    pack_choice(t, twin.as_deref(), choice, &options)
                        .map(Some)
                        .map_err(|e| Error::from_writer(Some(t.name))(e))
                }
            })
            .collect::<Result<_>>()?;
        let mut reports = Vec::with_capacity(tensors.len());
        for (((t, dup), p), key) in tensors.iter().zip(dup_of).zip(packed).zip(keys) {
            reports.push(self.write_one(t.name, t.dtype, t.shape, dup, p)?);
            if let (None, Some(key)) = (dup, key) {
                if self.may_share(t.dtype, choice) {
                    self.seen
                        .insert(key, (self.inner.tensors().len() - 1) as u32);
                }
            }
        }
        Ok(reports)
    }

    /// Whether a later automatic tensor may refer to a `dtype` tensor written with `choice`:
    /// only if that cannot make it lossier than the mode allows (an explicit ELF tensor in
    /// lossless mode must not stand in for an exact one).
    fn may_share(&self, dtype: DType, choice: Choice) -> bool {
        match choice {
            Choice::Auto => true,
            Choice::Exact(e) => e.is_lossless() || policy::elf_allowed(dtype, &self.options),
        }
    }

    /// Writes one tensor of a batch: as a reference to `dup`, or its packed streams.
    pub(crate) fn write_one(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        dup: Option<u32>,
        packed: Packed,
    ) -> Result<TensorReport> {
        match (dup, packed) {
            (Some(canon), _) => {
                self.add_dedup(name, canon)?;
                Ok(self.dedup_report(name, dtype, shape, canon))
            }
            (None, Some((packed, note))) => {
                let (encoding, stored) = (packed.encoding, packed.stored_len());
                self.add_packed(name, dtype, shape, packed)?;
                Ok(TensorReport::of(name, dtype, shape, encoding, stored, note))
            }
            (None, None) => Err(Error::Internal("tensor neither packed nor a duplicate")),
        }
    }

    /// The report for a tensor written as a reference to `canon`: as lossy as its original.
    pub(crate) fn dedup_report(
        &self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        canon: u32,
    ) -> TensorReport {
        let mut r = TensorReport::of(name, dtype, shape, Encoding::Dedup, 0, None);
        r.error_bound_log2 = self
            .inner
            .tensors()
            .get(canon as usize)
            .map_or(0, |t| t.error_bound_log2);
        r
    }

    /// Marks the writer unusable: a [`TensorWriter`](crate::TensorWriter) for `name` was dropped unfinished.
    pub(crate) fn abandon(&mut self, name: &str) {
        self.abandoned.get_or_insert_with(|| name.to_owned());
    }

    pub(crate) fn check_usable(&self) -> Result<()> {
        match &self.abandoned {
            Some(name) => Err(Error::input(
                Some(name),
                "its tensor writer was dropped before finish; the file cannot be completed",
            )),
            None => Ok(()),
        }
    }

    /// Writes a tensor packed by [`pack_tensor`], and its base entry if it is stored
    /// against its twin.
    pub(crate) fn add_packed(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        packed: PackedTensor,
    ) -> Result<u32> {
        let index = self
            .inner
            .add_encoded_tensor(
                name,
                dtype,
                shape,
                packed.encoding,
                packed.chunk_len,
                packed.crc32,
                packed.streams,
            )
            .map_err(Error::from_writer(Some(name)))?;
        if let Some(hash) = packed.twin_hash {
            self.inner
                .add_base_entry(index, hash, name)
                .map_err(|e| Error::input(Some(name), e))?;
        }
        Ok(index)
    }

    /// Starts a tensor written span by span.
    pub(crate) fn begin_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        encoding: Encoding,
        chunk_len: u64,
    ) -> Result<()> {
        self.inner
            .begin_tensor(name, dtype, shape, encoding, chunk_len)
            .map_err(Error::from_writer(Some(name)))
    }

    /// Writes the streams of the next span (whole chunks) of the open tensor.
    pub(crate) fn push_packed(&mut self, packed: &PackedTensor) -> Result<()> {
        for s in &packed.streams {
            self.inner
                .push_stream(s)
                .map_err(Error::from_writer(None))?;
        }
        Ok(())
    }

    /// Records that tensor `index` was written against its base twin `twin` (SPEC.md §9.1).
    pub(crate) fn add_base_entry(&mut self, index: u32, hash: [u8; 32], twin: &str) -> Result<()> {
        self.inner
            .add_base_entry(index, hash, twin)
            .map_err(|e| Error::input(Some(twin), e))
    }

    /// Completes the open tensor.
    pub(crate) fn end_tensor(&mut self, crc32: u32) -> Result<u32> {
        self.inner
            .end_tensor(crc32)
            .map_err(Error::from_writer(None))
    }

    /// Adds `name` as a reference to the earlier tensor `canonical` (SPEC.md §9); the caller
    /// has checked the bytes are identical.
    pub(crate) fn add_dedup(&mut self, name: &str, canonical: u32) -> Result<u32> {
        self.inner
            .add_dedup(name, canonical)
            .map_err(Error::from_writer(Some(name)))
    }

    /// What HD knows of the tensors written so far.
    pub(crate) fn seen(&mut self) -> &mut Seen {
        &mut self.seen
    }

    /// The number of tensors written so far.
    pub fn tensor_count(&self) -> usize {
        self.inner.tensors().len()
    }

    /// Sets the file metadata (keys unique; written in this order).
    pub fn set_metadata(&mut self, pairs: Vec<(String, String)>) -> Result<()> {
        self.check_usable()?;
        self.inner
            .set_metadata(pairs)
            .map_err(|e| Error::input(None, e))
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.inner.position()
    }

    /// Writes the tables, index and trailer, flushes, and gives back the writer.
    pub fn finish(self) -> Result<W> {
        Ok(self.finish_len()?.0)
    }

    /// Like [`finish`](Self::finish), also giving the total bytes written.
    pub fn finish_len(self) -> Result<(W, u64)> {
        self.check_usable()?;
        let (level, compress) = (self.options.level, self.options.compress);
        let pack = move |b: Vec<u8>| {
            if compress {
                codec::pack(b, level)
            } else {
                StoredStream::plain(b)
            }
        };
        let mut sink = self
            .inner
            .finish_with(&pack)
            .map_err(Error::from_writer(None))?;
        sink.0.flush()?;
        Ok((sink.0, sink.1))
    }
}

/// The twin of `t` in `base`, if there is one of the same name, dtype and shape: its bytes.
pub(crate) fn twin_of(base: Option<&dyn Base>, t: &NamedTensor<'_>) -> Result<Option<Vec<u8>>> {
    let Some(base) = twin_base(base, t.name, t.dtype, t.shape) else {
        return Ok(None);
    };
    let bytes = base.read(t.name)?;
    if bytes.len() != t.data.len() {
        return Err(Error::input(Some(t.name), "base twin of another length"));
    }
    Ok(Some(bytes))
}

/// Packs one tensor with `choice`: the policy's pick, or the given encoding. With a base
/// `twin`, an identical tensor becomes a `base` reference and the deltas are candidates.
pub(crate) fn pack_choice(
    t: &NamedTensor<'_>,
    twin: Option<&[u8]>,
    choice: Choice,
    options: &WriteOptions,
) -> Result<(PackedTensor, Option<&'static str>)> {
    match choice {
        Choice::Exact(e) if e.needs_base() && twin.is_none() => Err(Error::input(
            Some(t.name),
            "encoding needs a base twin (same name, dtype and shape in the writer's base)",
        )),
        Choice::Exact(e) => Ok((pack_tensor(t.dtype, t.data, twin, e, options)?, None)),
        Choice::Auto if twin.is_some_and(|b| b == t.data) => {
            let packed = pack_tensor(t.dtype, t.data, twin, Encoding::BaseRef, options)?;
            Ok((packed, None))
        }
        Choice::Auto => {
            let (mut cands, note) = policy::candidates(t.dtype, t.data, options)?;
            if twin.is_some() {
                cands = policy::with_deltas(cands);
            }
            let packed = policy::choose_and_pack(t.dtype, t.data, twin, &cands, options)?;
            Ok((packed, note))
        }
    }
}
