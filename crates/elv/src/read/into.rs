//! Many tensors decoded straight into the caller's buffers, reading the next spans while the
//! pool decodes the current ones: a load from a source slower than memory (a network, a
//! throttled disk) costs about the larger of reading and decoding, not their sum.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use crate::error::{Error, Result};
use crate::overlap::{overlapped, span_bytes};
use crate::read::engine::Engine;
use crate::read::fetch::{decode_spans, Span};
use crate::read::reader::Reader;
use crate::read::source::Source;
use crate::read::tensor::chunks_per_span;
use elv_core::engine::decode::check_tensor_crc_value;
use elv_core::Encoding;
use std::ops::Range;
use std::sync::Mutex;

/// A run of whole chunks of one tensor and where they decode to.
struct Piece<'o> {
    /// Position in the caller's list.
    k: usize,
    tensor: usize,
    chunks: Range<u64>,
    dst: &'o mut [u8],
}

/// Pieces read together (about a batch of decoded bytes) and decoded together.
struct Work<'r, 'o> {
    spans: Vec<Span<'r>>,
    ks: Vec<usize>,
    dsts: Mutex<Vec<&'o mut [u8]>>,
}

impl<S: Source> Reader<S> {
    /// Decodes the tensors `which` (indices in file order) into `outs`, each exactly its
    /// tensor's [`byte_len`](crate::Tensor::byte_len) bytes, with no buffer in between:
    /// pieces of about `batch_bytes` are read in order on this thread while the pool
    /// decodes the previous ones, so reading and decoding overlap. Every tensor's CRC is
    /// checked. What [`to_vec`](crate::Tensor::to_vec) of each would give, faster from a
    /// slow source and without its copies.
    pub fn decode_many_into(
        &self,
        which: &[usize],
        outs: &mut [&mut [u8]],
        batch_bytes: u64,
    ) -> Result<()> {
        if which.len() != outs.len() {
            let why = format!("{} tensors but {} buffers", which.len(), outs.len());
            return Err(Error::input(None, why));
        }
        let engine = self.engine();
        let mut pieces = Vec::new();
        // The running CRC of each tensor the pieces carry; `None` for one decoded whole.
        let mut crcs = Vec::with_capacity(which.len());
        for (k, (&i, out)) in which.iter().zip(outs.iter_mut()).enumerate() {
            let t = self
                .tensor(i)
                .ok_or_else(|| Error::input(None, format!("no tensor {i}")))?;
            if out.len() as u64 != t.byte_len() {
                let why = format!("a buffer of {} bytes for {} bytes", out.len(), t.byte_len());
                return Err(Error::input(Some(t.name()), why));
            }
            let info = engine.catalog().storage_of(i)?;
            if info.encoding == Encoding::BaseRef || info.chunk_count() == 0 {
                // The twin's bytes, or nothing to decode: the tensor's own path.
                t.decode_into(out)?;
                crcs.push(None);
                continue;
            }
            split(k, i, info, out, span_bytes(batch_bytes), &mut pieces)?;
            crcs.push(Some(crc32fast::Hasher::new()));
        }
        let mut works = group(pieces, batch_bytes).into_iter();
        let Some(first) = works.next() else {
            return Ok(());
        };
        let mut combine = |work: &Work<'_, '_>, got: Vec<(u32, u64)>| {
            for (&k, (crc, len)) in work.ks.iter().zip(got) {
                if let Some(Some(h)) = crcs.get_mut(k) {
                    h.combine(&crc32fast::Hasher::new_with_initial_len(crc, len));
                }
            }
        };
        let index = engine.catalog().index();
        let verify = engine.verify_checksums();
        let last = overlapped(
            read(engine, first)?,
            |previous, _| {
                if let Some((work, got)) = previous {
                    combine(&work, got);
                }
                works.next().map(|w| read(engine, w)).transpose()
            },
            |work| {
                let mut dsts = work
                    .dsts
                    .lock()
                    .map_err(|_| Error::Internal("decode buffers poisoned"))?;
                let spans: Vec<&Span<'_>> = work.spans.iter().collect();
                let lens: Vec<u64> = dsts.iter().map(|d| d.len() as u64).collect();
                let got = decode_spans(index, &spans, &mut dsts, verify)?;
                Ok(got.into_iter().zip(lens).collect::<Vec<_>>())
            },
        )?;
        if let Some((work, got)) = last {
            combine(&work, got);
        }
        for (&i, crc) in which.iter().zip(crcs) {
            if let Some(crc) = crc {
                let info = engine.catalog().storage_of(i)?;
                check_tensor_crc_value(info, crc.finalize(), verify)?;
            }
        }
        Ok(())
    }
}

/// Cuts tensor `i`'s buffer `out` into pieces of whole chunks of about `span_bytes`.
fn split<'o>(
    k: usize,
    i: usize,
    info: &elv_core::TensorInfo,
    out: &'o mut [u8],
    span_bytes: u64,
    pieces: &mut Vec<Piece<'o>>,
) -> Result<()> {
    let chunk_bytes = info.chunk_len.max(1) * info.dtype.size() as u64;
    let per = chunks_per_span(info, span_bytes);
    let count = info.chunk_count();
    let mut rest = out;
    let mut c = 0;
    while c < count {
        let chunks = c..(c + per).min(count);
        let bytes = (chunks.end * chunk_bytes).min(info.byte_len()) - chunks.start * chunk_bytes;
        let at = usize::try_from(bytes).map_err(|_| Error::Internal("piece beyond memory"))?;
        if at > rest.len() {
            return Err(Error::Internal("piece beyond its buffer"));
        }
        let (dst, tail) = std::mem::take(&mut rest).split_at_mut(at);
        rest = tail;
        c = chunks.end;
        pieces.push(Piece {
            k,
            tensor: i,
            chunks,
            dst,
        });
    }
    Ok(())
}

/// Pieces grouped in order into works of about `batch_bytes` decoded bytes (not yet read).
fn group(pieces: Vec<Piece<'_>>, batch_bytes: u64) -> Vec<Vec<Piece<'_>>> {
    let mut works: Vec<Vec<Piece<'_>>> = Vec::new();
    let mut bytes = u64::MAX;
    for p in pieces {
        let len = p.dst.len() as u64;
        match works.last_mut() {
            Some(w) if bytes.saturating_add(len) <= batch_bytes => w.push(p),
            _ => {
                works.push(vec![p]);
                bytes = 0;
            }
        }
        bytes = bytes.saturating_add(len);
    }
    works
}

/// Stored bytes a piece may have to be read together with its neighbours; larger pieces
/// are read alone, into their own buffer.
const COALESCE_BELOW: u64 = 1 << 20;
/// Bytes of the file between two pieces that are read rather than cost a second read.
const COALESCE_GAP: u64 = 4 << 10;

/// Reads the stored sections of a work's pieces: small pieces that lie together in the file
/// (the small tensors of a model, written one after another) in one positioned read, which
/// matters where each read has a cost of its own (a range request over HTTP).
fn read<'r, 'o, S: Source>(engine: &'r Engine<S>, pieces: Vec<Piece<'o>>) -> Result<Work<'r, 'o>> {
    let ranges = pieces
        .iter()
        .map(|p| engine.stored_range(p.tensor, &p.chunks))
        .collect::<Result<Vec<_>>>()?;
    let mut spans = Vec::with_capacity(pieces.len());
    let mut ks = Vec::with_capacity(pieces.len());
    let mut dsts = Vec::with_capacity(pieces.len());
    let mut pieces = pieces.into_iter().zip(ranges).peekable();
    while let Some((p, r)) = pieces.next() {
        // The run of small pieces starting here, each close after the one before.
        let mut run = vec![(p, r.clone())];
        let mut end = r.end;
        while let Some((_, next)) = pieces.peek() {
            let small = |r: &Range<u64>| r.end - r.start < COALESCE_BELOW;
            let close = next.start >= end && next.start - end <= COALESCE_GAP;
            if !(small(&r) && small(next) && close) {
                break;
            }
            end = next.end;
            run.extend(pieces.next());
        }
        let start = r.start;
        let bytes = engine.read_at(start, end - start)?;
        let single = run.len() == 1;
        let mut bytes = Some(bytes);
        for (p, r) in run {
            let own = if single {
                bytes.take().unwrap_or_default()
            } else {
                let from = usize::try_from(r.start - start).unwrap_or(usize::MAX);
                let to = usize::try_from(r.end - start).unwrap_or(usize::MAX);
                let all = bytes.as_deref().unwrap_or_default();
                all.get(from..to)
                    .ok_or(Error::Internal("piece beyond its read"))?
                    .to_vec()
            };
            spans.push(engine.span_from(p.tensor, p.chunks, (r.start, own))?);
            ks.push(p.k);
            dsts.push(p.dst);
        }
    }
    Ok(Work {
        spans,
        ks,
        dsts: Mutex::new(dsts),
    })
}
