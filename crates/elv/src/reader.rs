//! Reading `.elv` from any `Read + Seek` (SPEC.md §13): open reads the header, trailer,
//! index and tables; a tensor is decoded by reading only its own sections.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use crate::codec::StdCodecs;
use crate::error::Result;
use elv_core::archive::{check_tensor_crc, check_tensor_crc_value, Catalog};
use elv_core::header::{Header, Trailer, HEADER_LEN, TRAILER_LEN};
use elv_core::section::{decode_section, SectionEntry, ENTRY_LEN, INDEX_HEADER_LEN};
use elv_core::{encoding, Error as CoreError, ErrorKind, ReadOptions, TensorInfo};
use rayon::prelude::*;
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

/// A section's index, entry and stored bytes, as read from the file.
type StoredSection = (u32, SectionEntry, Vec<u8>);

/// One chunk to decode: tensor position in the request, chunk number, its stored streams.
type ChunkJob = (usize, usize, Vec<StoredSection>);

/// Piece size for [`Reader::verify`]: whole chunks of about 16 MiB at a time.
const VERIFY_PIECE_BYTES: u64 = 16 << 20;

/// A `.elv` file opened for reading.
pub struct Reader<R> {
    inner: R,
    len: u64,
    catalog: Catalog,
    options: ReadOptions,
}

impl Reader<BufReader<File>> {
    /// Opens the file at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Reader::new(BufReader::new(File::open(path)?), ReadOptions::default())
    }
}

fn read_exact_at<R: Read + Seek>(
    r: &mut R,
    offset: u64,
    len: u64,
    file_len: u64,
) -> Result<Vec<u8>> {
    if offset.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(
            CoreError::new(ErrorKind::OutOfRange, "read beyond end of file", offset).into(),
        );
    }
    r.seek(SeekFrom::Start(offset))?;
    // `len` fits the file (checked above), so reserving it is bounded by the file's size; it
    // saves regrowing and copying a multi-MiB section.
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    r.by_ref().take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(
            CoreError::new(ErrorKind::Truncated, "file shorter than it claims", offset).into(),
        );
    }
    Ok(buf)
}

impl<R: Read + Seek> Reader<R> {
    /// Opens a `.elv` stream: reads and checks the header, trailer, section index, tensor
    /// table, dedup table and metadata. Tensor data is not read.
    pub fn new(mut inner: R, options: ReadOptions) -> Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        if len < (HEADER_LEN + TRAILER_LEN) as u64 {
            // Report a bad magic before a short file, as the slice reader does.
            let head = read_exact_at(&mut inner, 0, len.min(HEADER_LEN as u64), len)?;
            Header::parse(&head)?;
            return Err(CoreError::new(
                ErrorKind::Truncated,
                "file shorter than header and trailer",
                len,
            )
            .into());
        }
        let header = Header::parse(&read_exact_at(&mut inner, 0, HEADER_LEN as u64, len)?)?;
        let trailer = Trailer::parse(
            &read_exact_at(
                &mut inner,
                len - TRAILER_LEN as u64,
                TRAILER_LEN as u64,
                len,
            )?,
            len,
        )?;
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
        let index_bytes = read_exact_at(&mut inner, trailer.index_offset, trailer.index_len, len)?;
        let verify = options.verify_checksums;
        let mut io_err = None;
        let catalog = Catalog::load(header, &trailer, &index_bytes, &options, |index, i| {
            let e = index.get(i)?;
            let stored = read_exact_at(&mut inner, e.offset, e.stored_len, len).map_err(|err| {
                io_err = Some(err);
                CoreError::new(ErrorKind::Truncated, "section", e.offset)
            })?;
            Ok(Cow::Owned(
                decode_section(i, e, &stored, &StdCodecs, verify)?.into_owned(),
            ))
        });
        if let Some(e) = io_err {
            return Err(e);
        }
        Ok(Reader {
            inner,
            len,
            catalog: catalog?,
            options,
        })
    }

    /// The parsed tables.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The tensors, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.catalog.tensors
    }

    /// File metadata pairs, in file order.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.catalog.metadata
    }

    /// The value of metadata key `key`.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.catalog
            .metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Reads and checks the decoded bytes of section `i`.
    pub fn section(&mut self, i: u32) -> Result<Vec<u8>> {
        let e = *self.catalog.index.get(i)?;
        let stored = read_exact_at(&mut self.inner, e.offset, e.stored_len, self.len)?;
        Ok(decode_section(i, &e, &stored, &StdCodecs, self.options.verify_checksums)?.into_owned())
    }

    /// Decodes tensor `i`, reading only its own stream sections (or its dedup original's).
    /// Chunks decode in parallel.
    pub fn read_tensor(&mut self, i: usize) -> Result<Vec<u8>> {
        let mut v = self.read_tensors(&[i])?;
        v.pop()
            .ok_or_else(|| CoreError::new(ErrorKind::NotFound, "tensor index", 0).into())
    }

    /// Decodes several tensors: their stored streams are read in order (sequential I/O), then
    /// every chunk of every tensor is decoded in parallel, and each tensor's CRC is checked.
    pub fn read_tensors(&mut self, which: &[usize]) -> Result<Vec<Vec<u8>>> {
        self.fetch_tensors(which)?.decode()
    }

    /// Reads the stored streams of whole tensors, to be decoded (and their CRCs checked) by
    /// [`Fetched::decode`] without the file.
    pub(crate) fn fetch_tensors(&mut self, which: &[usize]) -> Result<Fetched> {
        let ranges = which
            .iter()
            .map(|&i| {
                let info = self.catalog.storage_of(i)?.clone();
                let all = 0..info.chunk_count();
                Ok((info, all))
            })
            .collect::<elv_core::Result<_>>()?;
        self.fetch(ranges, true)
    }

    /// Decodes chunks `chunks` of tensor `i` (the bytes of those chunks, in order), reading
    /// only their sections. The tensor CRC is not checked: a caller streaming a large tensor
    /// checks it over all chunks (see [`TensorInfo::crc32`]).
    pub fn read_chunks(&mut self, i: usize, chunks: Range<u64>) -> Result<Vec<u8>> {
        let mut v = self.fetch_chunks(i, chunks)?.decode()?;
        v.pop()
            .ok_or_else(|| CoreError::new(ErrorKind::NotFound, "chunk range", 0).into())
    }

    /// Reads the stored streams of chunks `chunks` of tensor `i`, to be decoded by
    /// [`Fetched::decode`] (no CRC check).
    fn fetch_chunks(&mut self, i: usize, chunks: Range<u64>) -> Result<Fetched> {
        let info = self.catalog.storage_of(i)?.clone();
        if chunks.end > info.chunk_count() || chunks.start > chunks.end {
            return Err(CoreError::new(ErrorKind::OutOfRange, "chunk range", 0)
                .got_expected(chunks.end, info.chunk_count())
                .into());
        }
        self.fetch(vec![(info, chunks)], false)
    }

    /// Reads the stored streams of each (tensor, chunk range) in file order.
    fn fetch(&mut self, ranges: Vec<(TensorInfo, Range<u64>)>, whole: bool) -> Result<Fetched> {
        let mut sizes = Vec::with_capacity(ranges.len());
        let mut jobs: Vec<ChunkJob> = Vec::new();
        for (t, (info, range)) in ranges.iter().enumerate() {
            let size = info.dtype.size() as u64;
            let bytes: u64 = range.clone().map(|c| info.chunk_values(c) * size).sum();
            sizes.push(
                usize::try_from(bytes)
                    .map_err(|_| CoreError::new(ErrorKind::LimitExceeded, "tensor bytes", 0))?,
            );
            let spc = info.encoding.streams_per_chunk(info.dtype) as u32;
            for c in range.clone() {
                let mut streams = Vec::with_capacity(spc as usize);
                for s in 0..spc {
                    let idx = info.first_stream + c as u32 * spc + s;
                    let e = *self.catalog.index.get(idx)?;
                    streams.push((
                        idx,
                        e,
                        read_exact_at(&mut self.inner, e.offset, e.stored_len, self.len)?,
                    ));
                }
                jobs.push((t, c as usize, streams));
            }
        }
        Ok(Fetched {
            ranges,
            sizes,
            jobs,
            whole,
            verify: self.options.verify_checksums,
        })
    }

    /// Decodes the tensor named `name`.
    pub fn read_tensor_by_name(&mut self, name: &str) -> Result<Vec<u8>> {
        let i = self.catalog.find(name)?;
        self.read_tensor(i)
    }

    /// Checks that every padding byte between sections and before the index is zero
    /// (SPEC.md §4.1). Reads only the padding.
    pub fn check_padding(&mut self) -> Result<()> {
        let entries = &self.catalog.index.entries;
        let index_offset =
            self.len - TRAILER_LEN as u64 - (INDEX_HEADER_LEN + ENTRY_LEN * entries.len()) as u64;
        let spans: Vec<(u64, u64)> = entries
            .iter()
            .map(|e| (e.offset, e.stored_len))
            .chain(std::iter::once((index_offset, 0)))
            .collect();
        let mut end = HEADER_LEN as u64;
        for (offset, stored_len) in spans {
            let pad = read_exact_at(&mut self.inner, end, offset.saturating_sub(end), self.len)?;
            if let Some(p) = pad.iter().position(|&b| b != 0) {
                return Err(
                    CoreError::new(ErrorKind::ReservedNonZero, "padding", end + p as u64).into(),
                );
            }
            end = offset + stored_len;
        }
        Ok(())
    }

    /// Checks the whole file: zero padding, every section's CRC (ancillary ones too), and
    /// that every tensor decodes and matches its CRC.
    pub fn verify(&mut self) -> Result<()> {
        self.check_padding()?;
        let (sections, owners) = self.catalog.verify_plan();
        for i in sections {
            self.section(i)?;
        }
        for i in owners {
            self.for_each_piece(i, VERIFY_PIECE_BYTES, &mut |_| Ok(true))?;
        }
        Ok(())
    }

    /// Decodes tensor `i` in pieces of whole chunks of about `piece_bytes` (at least two
    /// chunks), handing each to `f` in order, and checks the tensor CRC over all of them at
    /// the end. Memory stays near one piece whatever the tensor size. `f` returns `false` to
    /// stop early (then nothing is checked). Gives whether it ran to the end.
    pub fn for_each_piece(
        &mut self,
        i: usize,
        piece_bytes: u64,
        f: &mut dyn FnMut(Vec<u8>) -> Result<bool>,
    ) -> Result<bool> {
        let info = self.catalog.storage_of(i)?.clone();
        let chunk_bytes = info.chunk_len.max(1) * info.dtype.size() as u64;
        let per_piece = (piece_bytes / chunk_bytes).max(2);
        let count = info.chunk_count();
        let piece_at = |c: u64| c..(c + per_piece).min(count);
        let mut crc = crc32fast::Hasher::new();
        let mut next = if count > 0 {
            Some(self.fetch_chunks(i, piece_at(0))?)
        } else {
            None
        };
        let mut c = 0;
        while let Some(fetched) = next.take() {
            c = (c + per_piece).min(count);
            let (decoded, following) =
                fetched.decode_while(|| (c < count).then(|| self.fetch_chunks(i, piece_at(c))));
            let piece = decoded?
                .pop()
                .ok_or_else(|| CoreError::new(ErrorKind::NotFound, "chunk range", 0))?;
            next = following.transpose()?;
            crc.update(&piece);
            if !f(piece)? {
                return Ok(false);
            }
        }
        check_tensor_crc_value(&info, crc.finalize(), self.options.verify_checksums)?;
        Ok(true)
    }

    /// Gives back the underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Stored streams read from a file, decodable without it: fetching the next ones can then
/// overlap decoding these.
pub(crate) struct Fetched {
    ranges: Vec<(TensorInfo, Range<u64>)>,
    /// Output bytes per range.
    sizes: Vec<usize>,
    jobs: Vec<ChunkJob>,
    /// Whether each range is a whole tensor, whose CRC is then checked.
    whole: bool,
    verify: bool,
}

impl Fetched {
    /// [`Fetched::decode`] on the thread pool while this thread runs `read` (reading the next
    /// streams): reading and decoding overlap without the reader having to be `Send`.
    pub(crate) fn decode_while<T>(self, read: impl FnOnce() -> T) -> (Result<Vec<Vec<u8>>>, T) {
        let mut decoded = None;
        let other = rayon::in_place_scope(|s| {
            s.spawn(|_| decoded = Some(self.decode()));
            read()
        });
        // The scope returns only once the spawned decode has run.
        let decoded = decoded
            .unwrap_or_else(|| Err(CoreError::new(ErrorKind::NotFound, "decoded batch", 0).into()));
        (decoded, other)
    }

    /// Decodes every chunk in parallel; one output per range (the tensor CRCs checked for
    /// whole tensors).
    pub(crate) fn decode(self) -> Result<Vec<Vec<u8>>> {
        let Fetched {
            ranges,
            sizes,
            jobs,
            whole,
            verify,
        } = self;
        let mut outs: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0u8; n]).collect();
        // Split every output into its chunks, paired with the chunk's job.
        let mut slots: Vec<(&TensorInfo, &mut [u8], &[StoredSection])> =
            Vec::with_capacity(jobs.len());
        let mut job_iter = jobs.iter().peekable();
        for (t, ((info, _), out)) in ranges.iter().zip(outs.iter_mut()).enumerate() {
            let chunk_bytes = (info.chunk_len as usize)
                .saturating_mul(info.dtype.size())
                .max(1);
            for dst in out.chunks_mut(chunk_bytes) {
                match job_iter.next_if(|j| j.0 == t) {
                    Some(j) => slots.push((info, dst, &j.2)),
                    None => {
                        return Err(CoreError::new(ErrorKind::Malformed, "chunk count", 0).into())
                    }
                }
            }
        }
        slots
            .into_par_iter()
            .try_for_each(|(info, dst, streams)| -> elv_core::Result<()> {
                let decoded: Vec<Cow<[u8]>> = streams
                    .iter()
                    .map(|(idx, e, b)| decode_section(*idx, e, b, &StdCodecs, verify))
                    .collect::<elv_core::Result<_>>()?;
                let refs: Vec<&[u8]> = decoded.iter().map(|d| d.as_ref()).collect();
                let base = streams.first().map(|s| s.0).unwrap_or(0);
                let size = info.dtype.size();
                encoding::decode_chunk(info.encoding, info.dtype, dst.len() / size, &refs, dst)
                    .map_err(|e| e.rebase_section(base))
            })?;
        if whole {
            outs.par_iter()
                .zip(ranges.par_iter())
                .try_for_each(|(out, (info, _))| check_tensor_crc(info, out, verify))?;
        }
        Ok(outs)
    }
}
