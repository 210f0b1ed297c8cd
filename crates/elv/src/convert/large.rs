//! A tensor larger than a batch, compressed from a seekable safetensors input without
//! holding it whole: a first pass when one is needed (the small-value guard, a possible
//! duplicate), trials on two slices, then groups of whole chunks read, encoded in parallel
//! and written; its base twin read piece by piece beside it (SPEC.md §7.7–§7.9).

use crate::base::{twin_base, Base};
use crate::convert::safetensors::Entry;
use crate::error::{Error, Result};
use crate::overlap::overlapped;
use crate::overlap::piece_bytes;
use crate::write::dedup::probe_hash;
use crate::write::options::{WriteOptions, DEFAULT_BATCH_BYTES, DEFAULT_CHUNK_LEN};
use crate::write::pack::{pack_tensor_with, PackedTensor};
use crate::write::policy::{
    candidates_with, choose_by_trial, de_only_if_repeating, elf_allowed, trial_sample,
};
use crate::write::report::TensorReport;
use crate::write::writer::Writer;
use elv_core::elf;
use elv_core::writer::effective_chunk_len;
use rayon::prelude::*;
use std::io::{Read, Seek, SeekFrom, Write};

/// `len` bytes at `at` of tensor `name`, in a fresh buffer ([`read_range_into`]).
fn read_range<R: Read + Seek>(input: &mut R, name: &str, at: u64, len: u64) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    read_range_into(input, name, at, len, &mut data)?;
    Ok(data)
}

/// Reads `len` bytes at `at` (of tensor `name`, for errors) into `buf`, reusing its memory.
/// The pieces of a large tensor are read this way: a fresh multi-MiB buffer per piece is
/// memory the kernel must fault in and zero on first touch, which costs about 1 ms per MiB on
/// this kind of VM. The bytes are read into capacity, not into zeroed memory the read
/// overwrites anyway; the header's ranges were checked against the input's length.
fn read_range_into<R: Read + Seek>(
    input: &mut R,
    name: &str,
    at: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let n = usize::try_from(len)
        .map_err(|_| Error::input(Some(name), "too large for this platform"))?;
    input.seek(SeekFrom::Start(at))?;
    buf.clear();
    buf.reserve(n);
    input.take(len).read_to_end(buf)?;
    if buf.len() != n {
        return Err(Error::input(Some(name), "input ends inside the tensor"));
    }
    Ok(())
}

/// A tensor larger than a batch, streamed so memory does not grow with it: a first pass,
/// when needed, hashes it (if an earlier tensor shares its [`probe_hash`]: a duplicate is
/// then written as a reference) and counts ELF flushes; encodings are tried on two slices;
/// then groups of whole chunks are read, encoded in parallel and written, `progress` told
/// the bytes done after each. The tensors of `following` (the next batch) are read while
/// the last group is encoded, and returned.
#[allow(clippy::too_many_arguments)]
pub(super) fn compress_large<R: Read + Seek + Send, W: Write + Send>(
    input: &mut R,
    data_start: u64,
    e: &Entry,
    w: &mut Writer<W>,
    opts: &WriteOptions,
    model: Option<&dyn Base>,
    following: Option<&[Entry]>,
    progress: &mut dyn FnMut(u64),
) -> Result<(TensorReport, Option<Vec<Vec<u8>>>)> {
    // The base twin, read piece by piece beside the tensor (SPEC.md §7.7-§7.9).
    let twin = twin_base(model, &e.name, e.dtype, &e.shape);
    if let Some(b) = twin {
        if let Some(done) = large_twin_identical(input, data_start, e, w, b, progress)? {
            return Ok((done, None));
        }
    }
    let base = data_start + e.begin;
    let piece = piece_bytes(opts.batch_bytes);
    let size = e.dtype.size() as u64;
    // A first pass over the tensor, only when something needs the whole of it before
    // encoding: the small-value guard, or HD when an earlier large tensor has the same dtype, shape
    // and probe (otherwise the hash is taken while encoding). Most large tensors of a
    // half-precision model need neither, and are then read once.
    let count_small = elf_allowed(e.dtype, opts);
    let probe = if opts.dedup {
        Some((e.dtype, e.shape.clone(), probe_hash(input, base, e.len())?))
    } else {
        None
    };
    let may_repeat = probe.as_ref().is_some_and(|p| w.seen().probed(p));
    let mut hasher = blake3::Hasher::new();
    let mut counts = (0u64, 0u64);
    let mut off = 0;
    // One buffer for every piece of the first pass, then for every other group encoded.
    let mut spare = Vec::new();
    while (count_small || may_repeat) && off < e.len() {
        read_range_into(
            input,
            &e.name,
            base + off,
            piece.min(e.len() - off),
            &mut spare,
        )?;
        let piece = &spare;
        // The hash is sequential; the small-value count runs beside it on the other cores.
        let ((), small) = rayon::join(
            || {
                if may_repeat {
                    hasher.update(piece);
                }
            },
            || -> Result<(u64, u64)> {
                if !count_small {
                    return Ok((0, 0));
                }
                piece
                    .par_chunks(size as usize * (1 << 18))
                    .map(|c| elf::small_count(e.dtype, c).map_err(Error::from))
                    .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))
            },
        );
        let (n, f) = small?;
        counts = (counts.0 + n, counts.1 + f);
        off += piece.len() as u64;
    }
    let report = |encoding, stored, note| {
        TensorReport::of(&e.name, e.dtype, &e.shape, encoding, stored, note)
    };
    if may_repeat {
        let key = (e.dtype, e.shape.clone(), *hasher.finalize().as_bytes());
        if let Some(idx) = w.seen().get(&key) {
            w.add_dedup(&e.name, idx)?;
            return Ok((w.dedup_report(&e.name, e.dtype, &e.shape, idx), None));
        }
    }
    // Without a first pass, the hash is taken while encoding.
    let hash_while_encoding = opts.dedup && !may_repeat;
    let (mut cands, note) = candidates_with(e.dtype, opts, || Ok(counts))?;
    if twin.is_some() {
        cands = crate::write::policy::with_deltas(cands);
    }
    let ranges = trial_sample(e.len(), size, opts.chunk_len);
    let sample = ranges
        .iter()
        .map(|r| read_range(input, &e.name, base + r.start, r.end - r.start))
        .collect::<Result<Vec<_>>>()?;
    let sample: Vec<&[u8]> = sample.iter().map(Vec::as_slice).collect();
    let twin_sample = ranges
        .iter()
        .map(|r| twin_range(twin, &e.name, r.start, r.end - r.start))
        .collect::<Result<Option<Vec<_>>>>()?;
    let twin_sample: Option<Vec<&[u8]>> = twin_sample
        .as_ref()
        .map(|t| t.iter().map(Vec::as_slice).collect());
    let cands = de_only_if_repeating(e.dtype, &sample, cands.into_iter());
    let (best, plan) =
        choose_by_trial(e.dtype, &sample, twin_sample.as_deref(), &cands, opts.level)?;
    let twin = twin.filter(|_| best.needs_base());
    let mut twin_hasher = blake3::Hasher::new();
    let chunk_len = effective_chunk_len(
        best,
        e.dtype,
        usize::try_from(e.len()).unwrap_or(usize::MAX),
        opts.chunk_len,
    )?;
    // Groups of whole chunks, about a piece, at least two chunks so both cores work.
    let group = (piece / (chunk_len * size)).max(2) * chunk_len * size;
    w.begin_tensor(&e.name, e.dtype, &e.shape, best, chunk_len)?;
    let mut crc = crc32fast::Hasher::new();
    let mut stored = 0;
    // While one group is encoded, the next is read (into the buffer of the group before)
    // and the one before is written.
    let first_len = group.min(e.len());
    read_range_into(input, &e.name, base, first_len, &mut spare)?;
    let first_twin = twin_range(twin, &e.name, 0, first_len)?;
    let mut off = first_len;
    let mut ahead = None;
    let mut written = 0;
    let mut add = |w: &mut Writer<W>, data: &[u8], packed: &PackedTensor| -> Result<()> {
        crc.combine(&crc32fast::Hasher::new_with_initial_len(
            packed.crc32,
            data.len() as u64,
        ));
        stored += packed.stored_len();
        written += data.len() as u64;
        progress(written);
        w.push_packed(packed)
    };
    let last = overlapped(
        (std::mem::take(&mut spare), first_twin),
        |previous, (current, current_twin)| {
            if hash_while_encoding {
                hasher.update(current);
            }
            if let Some(t) = current_twin {
                twin_hasher.update(t);
            }
            let mut buf = match previous {
                Some(((data, _), packed)) => {
                    add(w, &data, &packed)?;
                    data
                }
                None => Vec::new(),
            };
            let next_len = group.min(e.len() - off);
            if next_len == 0 {
                ahead = following.map(|b| read_batch(input, data_start, b));
                return Ok(None);
            }
            read_range_into(input, &e.name, base + off, next_len, &mut buf)?;
            let next_twin = twin_range(twin, &e.name, off, next_len)?;
            off += next_len;
            Ok(Some((buf, next_twin)))
        },
        |(data, twin)| pack_tensor_with(e.dtype, data, twin.as_deref(), best, opts, &plan),
    )?;
    if let Some(((data, _), packed)) = last {
        add(w, &data, &packed)?;
    }
    let index = w.end_tensor(crc.finalize())?;
    if twin.is_some() {
        w.add_base_entry(index, *twin_hasher.finalize().as_bytes(), &e.name)?;
    }
    if opts.dedup {
        let key = (e.dtype, e.shape.clone(), *hasher.finalize().as_bytes());
        w.seen().insert(key, index);
    }
    if let Some(p) = probe {
        w.seen().insert_probe(p);
    }
    Ok((report(best, stored, note), ahead.transpose()?))
}

/// `len` bytes from `at` of the twin `name` in `twin`, if there is a twin.
fn twin_range(twin: Option<&dyn Base>, name: &str, at: u64, len: u64) -> Result<Option<Vec<u8>>> {
    twin.map(|b| b.read_range(name, at, len)).transpose()
}

/// For a large tensor with a base twin: if it equals the twin (sampled first, then compared
/// piece by piece), writes it as a `base` reference and gives its report; else `None`.
fn large_twin_identical<R: Read + Seek, W: Write + Send>(
    input: &mut R,
    data_start: u64,
    e: &Entry,
    w: &mut Writer<W>,
    twin: &dyn Base,
    progress: &mut dyn FnMut(u64),
) -> Result<Option<TensorReport>> {
    let at = data_start + e.begin;
    let size = e.dtype.size() as u64;
    for r in trial_sample(e.len(), size, DEFAULT_CHUNK_LEN) {
        let len = r.end - r.start;
        if read_range(input, &e.name, at + r.start, len)?
            != twin.read_range(&e.name, r.start, len)?
        {
            return Ok(None);
        }
    }
    let piece = piece_bytes(DEFAULT_BATCH_BYTES);
    let (mut crc, mut hash) = (crc32fast::Hasher::new(), blake3::Hasher::new());
    let mut off = 0;
    while off < e.len() {
        let len = piece.min(e.len() - off);
        let (mine, theirs) = (
            read_range(input, &e.name, at + off, len)?,
            twin.read_range(&e.name, off, len)?,
        );
        if mine != theirs {
            return Ok(None);
        }
        crc.update(&mine);
        hash.update(&theirs);
        off += len;
    }
    let packed = PackedTensor {
        encoding: elv_core::Encoding::BaseRef,
        chunk_len: 0,
        crc32: crc.finalize(),
        streams: Vec::new(),
        twin_hash: Some(*hash.finalize().as_bytes()),
    };
    w.add_packed(&e.name, e.dtype, &e.shape, packed)?;
    progress(e.len());
    Ok(Some(TensorReport::of(
        &e.name,
        e.dtype,
        &e.shape,
        elv_core::Encoding::BaseRef,
        0,
        None,
    )))
}

/// The bytes of every tensor of batch `b`, in order.
fn read_batch<R: Read + Seek>(input: &mut R, data_start: u64, b: &[Entry]) -> Result<Vec<Vec<u8>>> {
    b.iter().map(|e| read_entry(input, data_start, e)).collect()
}

pub(super) fn read_entry<R: Read + Seek>(
    input: &mut R,
    data_start: u64,
    e: &Entry,
) -> Result<Vec<u8>> {
    read_range(input, &e.name, data_start + e.begin, e.len())
}
