//! Reading `.elv` from any [`Source`] (SPEC.md §13): opening reads the header, trailer, index
//! and tables; a tensor is decoded by reading only its own sections. Every method takes
//! `&self`, and a `Reader` is `Send + Sync`: threads decode different tensors at once.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use crate::base::Base;
use crate::error::{Error, Result};
use crate::read::engine::Engine;
use crate::read::source::Source;
use crate::read::tensor::{for_each_span, Tensor};
use elv_core::Member;
use elv_core::ReadOptions;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// Span size for [`Reader::verify`]: whole chunks of about 16 MiB at a time.
const VERIFY_SPAN_BYTES: u64 = 16 << 20;

/// A `.elv` file opened for reading.
///
/// ```
/// # fn main() -> Result<(), elv::Error> {
/// # let file = elv::serialize([("w", elv::TensorData::f32(&[2], &[0.5, -0.25]))], None, &elv::WriteOptions::default())?;
/// let reader = elv::Reader::from_bytes(file)?;
/// let w = reader.get("w").expect("a tensor named w");
/// assert_eq!((w.dtype(), w.shape()), (elv::DType::F32, &[2u64][..]));
/// assert_eq!(w.to_vec()?.len(), 8);
/// # Ok(()) }
/// ```
pub struct Reader<S = File> {
    engine: Engine<S>,
}

impl Reader<File> {
    /// Opens the file at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Reader::open_with(path, ReadOptions::default())
    }

    /// Opens the file at `path` with `options`.
    pub fn open_with(path: impl AsRef<Path>, options: ReadOptions) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io_at(path, e))?;
        Reader::new(file, options)
    }
}

impl Reader<Vec<u8>> {
    /// Opens a file held in memory, with default options.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Reader::new(bytes, ReadOptions::default())
    }
}

impl<S: Source> Reader<S> {
    /// Opens a `.elv` source: reads and checks the header, trailer, section index, tensor
    /// table, dedup table and metadata. Tensor data is not read.
    pub fn new(source: S, options: ReadOptions) -> Result<Self> {
        Ok(Reader {
            engine: Engine::open(source, options)?,
        })
    }

    /// Gives the reader the base model the file was written against (SPEC.md §9.1), for
    /// tensors stored as `base`, `delta` or `elf_delta`. Each twin is checked (dtype, shape
    /// and BLAKE3 hash) before it is used: a wrong base is an [`Error::Base`].
    pub fn with_base(self, base: impl Base + 'static) -> Self {
        self.with_shared_base(Arc::new(base))
    }

    /// [`with_base`](Self::with_base) for a base shared with other readers.
    pub fn with_shared_base(mut self, base: Arc<dyn Base>) -> Self {
        self.engine.set_base(base);
        self
    }

    /// The name of the base model the file was written against, if it needs one.
    pub fn base_name(&self) -> Option<&str> {
        self.engine.catalog().base().map(|b| b.name.as_str())
    }

    /// Whether decoding some tensor needs a base model ([`with_base`](Self::with_base)).
    pub fn needs_base(&self) -> bool {
        self.engine
            .catalog()
            .base()
            .is_some_and(|b| !b.entries.is_empty())
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.engine.catalog().tensors().len()
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tensor named `name` (in a collection, the first of that name in file order).
    pub fn get(&self, name: &str) -> Option<Tensor<'_, S>> {
        self.engine
            .find(name)
            .and_then(|i| Tensor::new(&self.engine, i))
    }

    /// The members of a collection (SPEC.md §10.1), in file order; empty for a single file.
    pub fn members(&self) -> &[Member] {
        self.engine.catalog().members()
    }

    /// Each member's modification time as recorded when the folder was compressed (one
    /// entry per member of [`members`](Self::members); `None` where none was recorded).
    pub fn member_mtimes(&self) -> Vec<Option<std::time::SystemTime>> {
        crate::metadata::member_mtimes(
            self.metadata_value(crate::metadata::KEY_MEMBER_MTIMES),
            self.members(),
        )
    }

    /// Index of the member at `path`.
    pub fn member_index(&self, path: &str) -> Option<usize> {
        self.members().iter().position(|m| m.path == path)
    }

    /// The tensor named `name` in member `m` (names are unique only within a member).
    pub fn get_in(&self, m: usize, name: &str) -> Option<Tensor<'_, S>> {
        self.engine
            .catalog()
            .find_in(m, name)
            .and_then(|i| Tensor::new(&self.engine, i))
    }

    /// The `i`-th tensor, in file order.
    pub fn tensor(&self, i: usize) -> Option<Tensor<'_, S>> {
        Tensor::new(&self.engine, i)
    }

    /// The tensors, in file order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Tensor<'_, S>> + ExactSizeIterator + '_ {
        self.engine
            .catalog()
            .tensors()
            .iter()
            .enumerate()
            .map(move |(i, info)| Tensor::from_parts(&self.engine, i, info))
    }

    /// The file's safetensors-style `__metadata__`: what [`serialize`](crate::serialize()) was
    /// given, or what the converted safetensors file carried (see
    /// [`user_metadata`](crate::metadata::user_metadata)). Decompressing to
    /// safetensors writes exactly these as `__metadata__`.
    ///
    /// ```
    /// let meta = vec![("format".to_string(), "pt".to_string())];
    /// let file = elv::serialize::<&str>([], Some(meta.clone()), &elv::WriteOptions::default())?;
    /// assert_eq!(elv::Reader::from_bytes(file)?.metadata(), meta);
    /// # Ok::<(), elv::Error>(())
    /// ```
    pub fn metadata(&self) -> Vec<(String, String)> {
        crate::metadata::user_metadata(self.raw_metadata())
    }

    /// Every pair of the file's METADATA section (SPEC.md §10) in file order, the
    /// implementation's keys (`safetensors.header`, ...) included.
    pub fn raw_metadata(&self) -> &[(String, String)] {
        self.engine.catalog().metadata()
    }

    /// The value of the raw metadata key `key`.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.raw_metadata()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.engine.file_len()
    }

    /// Gives back the source.
    pub fn into_source(self) -> S {
        self.engine.into_source()
    }

    /// Decoded bytes of all its tensors (a duplicate counting its original's size again):
    /// what decoding the whole file writes, known from the tables (SPEC.md §11).
    pub fn decoded_len(&self) -> u64 {
        self.engine.catalog().decoded_len()
    }

    /// Checks the whole file: zero padding, every section's CRC (ancillary ones too, whose
    /// codec need not be known), and that every tensor decodes and matches its CRC. Memory
    /// stays near 16 MiB of decoded tensor data at a time, whatever the tensor sizes.
    pub fn verify(&self) -> Result<()> {
        self.check_padding()?;
        let (sections, owners) = self.engine.catalog().verify_plan();
        self.engine.check_sections(sections)?;
        for t in owners
            .into_iter()
            .filter_map(|i| Tensor::new(&self.engine, i))
        {
            for_each_span(&t, VERIFY_SPAN_BYTES, &mut |_| Ok(true))?;
        }
        Ok(())
    }

    /// Checks that every padding byte between sections and before the index is zero
    /// (SPEC.md §4.1). Reads only the padding.
    pub fn check_padding(&self) -> Result<()> {
        self.engine.check_padding()
    }

    pub(crate) fn engine(&self) -> &Engine<S> {
        &self.engine
    }
}
