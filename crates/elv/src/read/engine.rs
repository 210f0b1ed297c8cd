//! The read engine (SPEC.md §13): the source, the checked tables, the options and the base
//! twins of one open file, and the reads every face of it is built on: span and batch reads
//! of stored streams, padding and section checks. [`Reader`](crate::Reader) is its public
//! face; [`Tensor`](crate::Tensor) views borrow it.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use crate::base::Base;
use crate::codec::StdCodecs;
use crate::error::{Error, Result};
use crate::read::fetch::{decode_spans, Span};
use crate::read::source::{read_exact_at, Source};
use crate::read::twin::{Twin, TwinBytes, Twins};
use elv_core::engine::catalog::Catalog;
use elv_core::engine::decode;
use elv_core::engine::header::{Header, Trailer, HEADER_LEN, TRAILER_LEN};
use elv_core::engine::section::{check_section_crc, decode_section, ENTRY_LEN, INDEX_HEADER_LEN};
use elv_core::{Error as CoreError, ErrorKind, ReadOptions, TensorInfo};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// One open `.elv` file: what [`Reader`](crate::Reader) and its tensors read through.
pub(crate) struct Engine<S> {
    source: S,
    len: u64,
    catalog: Catalog,
    by_name: HashMap<String, u32>,
    options: ReadOptions,
    twins: Twins,
}

/// For a core procedure that reads through a closure returning core errors: a format error
/// passes as it is; an I/O error is kept in `slot` (the caller reports it after the
/// procedure, see [`io_first`]) and stands in as `Truncated` at `offset`.
fn keep_io(slot: &mut Option<Error>, e: Error, what: &'static str, offset: u64) -> CoreError {
    match e {
        Error::Format(c) => c,
        other => {
            slot.get_or_insert(other);
            CoreError::new(ErrorKind::Truncated, what, offset)
        }
    }
}

/// The I/O error [`keep_io`] kept, if any, before the procedure's own result.
fn io_first<T>(slot: Option<Error>, r: elv_core::Result<T>) -> Result<T> {
    match slot {
        Some(e) => Err(e),
        None => Ok(r?),
    }
}

/// Bytes of the file read at a time while checking padding.
const PADDING_WINDOW: u64 = 16 << 10;

impl<S: Source> Engine<S> {
    /// Opens a `.elv` source: reads and checks the header, trailer, section index, tensor
    /// table, dedup table and metadata. Tensor data is not read.
    pub(crate) fn open(source: S, options: ReadOptions) -> Result<Self> {
        let len = source.size()?;
        let src: &dyn Source = &source;
        if len < (HEADER_LEN + TRAILER_LEN) as u64 {
            // Report a bad magic before a short file, as the slice reader does.
            let head = read_exact_at(src, 0, len.min(HEADER_LEN as u64), len)?;
            Header::parse(&head)?;
            return Err(CoreError::new(
                ErrorKind::Truncated,
                "file shorter than header and trailer",
                len,
            )
            .into());
        }
        let header = Header::parse(&read_exact_at(src, 0, HEADER_LEN as u64, len)?)?;
        let tail = TRAILER_LEN as u64;
        let trailer = Trailer::parse(&read_exact_at(src, len - tail, tail, len)?, len)?;
        let max_index =
            u64::from(options.limits.max_sections) * ENTRY_LEN as u64 + INDEX_HEADER_LEN as u64;
        if trailer.index_len > max_index {
            return Err(CoreError::new(
                ErrorKind::LimitExceeded,
                "section index length",
                trailer.index_offset,
            )
            .got_expected(trailer.index_len, max_index)
            .into());
        }
        let index_bytes = read_exact_at(src, trailer.index_offset, trailer.index_len, len)?;
        let verify = options.verify_checksums;
        let mut io_err = None;
        let catalog = Catalog::load(header, &trailer, &index_bytes, &options, |index, i| {
            let e = index.get(i)?;
            let stored = read_exact_at(src, e.offset, e.stored_len, len)
                .map_err(|err| keep_io(&mut io_err, err, "section", e.offset))?;
            Ok(Cow::Owned(
                decode_section(i, e, &stored, &StdCodecs, verify)?.into_owned(),
            ))
        });
        let catalog = io_first(io_err, catalog)?;
        let mut by_name = HashMap::with_capacity(catalog.tensors().len());
        for (i, t) in catalog.tensors().iter().enumerate() {
            // In a collection a name may repeat across members: the first one is found.
            by_name.entry(t.name.clone()).or_insert(i as u32);
        }
        Ok(Engine {
            source,
            len,
            catalog,
            by_name,
            options,
            twins: Twins::default(),
        })
    }

    /// Index of the tensor named `name` (in a collection, the first of that name).
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).map(|&i| i as usize)
    }

    /// Size of the file in bytes.
    pub(crate) fn file_len(&self) -> u64 {
        self.len
    }

    /// Gives back the source.
    pub(crate) fn into_source(self) -> S {
        self.source
    }

    /// Uses `base` for the twins of tensors stored against a base model (SPEC.md §9.1).
    pub(crate) fn set_base(&mut self, base: Arc<dyn Base>) {
        self.twins = Twins::new(base);
    }

    /// The checked base twin of the tensor whose streams hold tensor `i`, if it is stored
    /// against the base (SPEC.md §9.1).
    pub(crate) fn twin(&self, i: usize) -> Result<Option<Twin>> {
        self.twins.get(&self.catalog, i)
    }

    /// Checks the CRC of every section `sections` names (ancillary ones too, whose codec
    /// need not be known).
    pub(crate) fn check_sections(&self, sections: impl IntoIterator<Item = u32>) -> Result<()> {
        for i in sections {
            let e = self.catalog.index().get(i)?;
            let stored = self.read_at(e.offset, e.stored_len)?;
            check_section_crc(i, e, &stored, self.options.verify_checksums)?;
        }
        Ok(())
    }

    /// Checks that every padding byte between sections and before the index is zero
    /// (SPEC.md §4.1). Reads only the padding.
    pub(crate) fn check_padding(&self) -> Result<()> {
        let mut io_err = None;
        // Gaps come in file order, most a few bytes after a small section: each read takes
        // a window of the file, so the next gaps come from it, not from reads of their own
        // (a remote file would otherwise cost a request per section).
        let mut window: (u64, Vec<u8>) = (0, Vec::new());
        let end = self.catalog.index_offset();
        let checked = decode::check_padding(self.catalog.index(), end, |at, n| {
            let (start, bytes) = &window;
            let held = at >= *start && at + n <= start + bytes.len() as u64;
            if !held {
                let len = PADDING_WINDOW.min(end.saturating_sub(at)).max(n);
                let bytes = self
                    .read_at(at, len)
                    .map_err(|e| keep_io(&mut io_err, e, "padding", at))?;
                window = (at, bytes);
            }
            let (start, bytes) = &window;
            let from = (at - start) as usize;
            let gap = bytes.get(from..from + n as usize);
            let gap = gap.ok_or_else(|| CoreError::new(ErrorKind::Truncated, "padding", at))?;
            Ok(Cow::Owned(gap.to_vec()))
        });
        io_first(io_err, checked)
    }

    pub(crate) fn read_at(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        read_exact_at(&self.source, offset, len, self.len)
    }

    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub(crate) fn verify_checksums(&self) -> bool {
        self.options.verify_checksums
    }

    /// Reads the stored streams of chunks `chunks` of the tensor whose streams hold tensor
    /// `i` (itself or its dedup original).
    pub(crate) fn span(&self, i: usize, chunks: std::ops::Range<u64>) -> Result<Span<'_>> {
        self.span_reusing(i, chunks, None)
    }

    /// As [`span`](Self::span), reading into `buf` (a span's bytes no longer needed) when it
    /// has the room: a streamed tensor's spans reuse one another's memory instead of each
    /// faulting in fresh pages.
    pub(crate) fn span_reusing(
        &self,
        i: usize,
        chunks: std::ops::Range<u64>,
        buf: Option<Vec<u8>>,
    ) -> Result<Span<'_>> {
        let info = self.catalog.storage_of(i)?;
        let twin = self.twin_of_chunks(i, info, &chunks)?;
        let index = self.catalog.index();
        Span::read(&self.source, self.len, index, info, chunks, twin, buf)
    }

    /// Where the stored streams of chunks `chunks` of tensor `i` lie in the file.
    pub(crate) fn stored_range(
        &self,
        i: usize,
        chunks: &std::ops::Range<u64>,
    ) -> Result<std::ops::Range<u64>> {
        let info = self.catalog.storage_of(i)?;
        Span::stored_range(self.catalog.index(), info, chunks)
    }

    /// As [`span`](Self::span), with the stored streams the caller has read already:
    /// `bytes` of exactly [`stored_range`](Self::stored_range), from offset `at`.
    pub(crate) fn span_from(
        &self,
        i: usize,
        chunks: std::ops::Range<u64>,
        (at, bytes): (u64, Vec<u8>),
    ) -> Result<Span<'_>> {
        let info = self.catalog.storage_of(i)?;
        let twin = self.twin_of_chunks(i, info, &chunks)?;
        Ok(Span::from_bytes(info, chunks, at, bytes, twin))
    }

    /// The base twin's bytes for just chunks `chunks` of tensor `i` (`info` its storage), for
    /// a tensor stored against the base; a large twin is read by range.
    fn twin_of_chunks(
        &self,
        i: usize,
        info: &TensorInfo,
        chunks: &std::ops::Range<u64>,
    ) -> Result<Option<TwinBytes>> {
        let size = info.dtype.size() as u64;
        let start = chunks
            .start
            .saturating_mul(info.chunk_len)
            .saturating_mul(size);
        let end = chunks
            .end
            .saturating_mul(info.chunk_len)
            .saturating_mul(size)
            .min(info.byte_len());
        Ok(match self.twin(i)? {
            Some(t) => Some(t.range(start, end.saturating_sub(start))?),
            None => None,
        })
    }

    /// Reads the stored streams of whole tensors `which`, to be decoded by [`Batch::decode`]
    /// (on another thread, while this one reads the next batch).
    pub(crate) fn read_batch(&self, which: &[usize]) -> Result<Batch<'_>> {
        let spans = which
            .iter()
            .map(|&i| {
                let info = self.catalog.storage_of(i)?;
                let span = self.span(i, 0..info.chunk_count())?;
                // A `base` reference decodes to its twin (SPEC.md §7.9).
                let whole = match (info.encoding, self.twin(i)?) {
                    (elv_core::Encoding::BaseRef, Some(t)) => Some(t.range(0, info.byte_len())?),
                    _ => None,
                };
                Ok((span, whole))
            })
            .collect::<Result<_>>()?;
        Ok(Batch {
            reader_index: self.catalog.index(),
            verify: self.options.verify_checksums,
            spans,
        })
    }
}

/// The stored streams of whole tensors, read and waiting to be decoded; for a `base`
/// reference, its twin's bytes instead.
pub(crate) struct Batch<'r> {
    reader_index: &'r elv_core::engine::section::SectionIndex,
    verify: bool,
    spans: Vec<(Span<'r>, Option<TwinBytes>)>,
}

impl Batch<'_> {
    /// Decodes every chunk of every tensor in parallel and checks each tensor's CRC.
    pub(crate) fn decode(&self) -> Result<Vec<Vec<u8>>> {
        let spans: Vec<&Span<'_>> = self.spans.iter().map(|(s, _)| s).collect();
        let mut outs = spans
            .iter()
            .map(|s| crate::buffer::zeroed_buffer(s.decoded_len()))
            .collect::<Result<Vec<_>>>()?;
        let mut views: Vec<&mut [u8]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
        let crcs = decode_spans(self.reader_index, &spans, &mut views, self.verify)?;
        for (((span, whole), crc), out) in self.spans.iter().zip(crcs).zip(outs.iter_mut()) {
            let crc = match whole {
                Some(twin) => {
                    let len = span.info.byte_len();
                    *out = twin
                        .get(0, len)
                        .ok_or_else(|| {
                            CoreError::bare(ErrorKind::BaseMismatch, "base twin length")
                        })?
                        .to_vec();
                    crc32fast::hash(out)
                }
                None => crc,
            };
            decode::check_tensor_crc_value(span.info, crc, self.verify)?;
        }
        Ok(outs)
    }
}
