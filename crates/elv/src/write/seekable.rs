//! A tensor larger than memory read from a seekable input (a safetensors file): unlike a
//! stream, it can be looked at whole before it is encoded, so it is checked against its base
//! twin, probed and hashed for HD, and its encoding chosen on slices from its start and
//! middle; then it is encoded a span at a time by a [`TensorWriter`], the next span read while
//! one is encoded (SPEC.md §7.7–§7.9, §9, §12).

use crate::base::Base;
use crate::error::{Error, Result};
use crate::overlap::{overlapped, span_bytes};
use crate::write::dedup::probe_hash;
use crate::write::options::{DEFAULT_BATCH_BYTES, DEFAULT_CHUNK_LEN};
use crate::write::pack::PackedTensor;
use crate::write::policy;
use crate::write::report::{Progress, TensorReport};
use crate::write::tensor_writer::{tensor_bytes, TensorWriter};
use crate::write::writer::{Choice, Writer};
use elv_core::engine::elf;
use elv_core::{DType, Encoding};
use rayon::prelude::*;
use std::io::{Read, Seek, SeekFrom, Write};

/// Where a tensor's bytes lie in a seekable input.
struct Located<'a, R> {
    input: &'a mut R,
    name: &'a str,
    /// Offset of the tensor's first byte.
    at: u64,
    /// The tensor's length in bytes.
    len: u64,
}

impl<R: Read + Seek> Located<'_, R> {
    /// Reads `len` bytes from `offset` of the tensor into `buf`, reusing its memory: a fresh
    /// multi-MiB buffer per span is memory the kernel must fault in and zero on first touch.
    fn read_into(&mut self, offset: u64, len: u64, buf: &mut Vec<u8>) -> Result<()> {
        let n = usize::try_from(len)
            .map_err(|_| Error::input(Some(self.name), "too large for this platform"))?;
        self.input.seek(SeekFrom::Start(self.at + offset))?;
        buf.clear();
        buf.reserve(n);
        (&mut *self.input).take(len).read_to_end(buf)?;
        if buf.len() != n {
            return Err(Error::input(
                Some(self.name),
                "input ends inside the tensor",
            ));
        }
        Ok(())
    }

    /// `len` bytes from `offset` of the tensor, in a fresh buffer.
    fn read(&mut self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_into(offset, len, &mut buf)?;
        Ok(buf)
    }
}

impl<W: Write> Writer<W> {
    /// Adds tensor `name`, whose bytes lie at offset `at` of `input`, without holding it
    /// whole: for tensors larger than memory in a file (a safetensors file's data). Unlike
    /// [`tensor_writer`](Self::tensor_writer), it is read twice where that pays: an identical
    /// base twin is found and stored as a reference, an identical earlier tensor (a cheap
    /// probe of three slices first, then a full hash) as a duplicate, and the encoding is
    /// chosen on slices from the start and the middle. Then it is read, encoded and written a
    /// span at a time, the next span read while one encodes. `progress`, if given, is told
    /// (bytes done, bytes of the tensor).
    pub fn add_tensor_from<R: Read + Seek>(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        input: &mut R,
        at: u64,
        progress: Progress<'_>,
    ) -> Result<TensorReport> {
        self.check_usable()?;
        let mut silent = |_: u64, _: u64| {};
        let progress: &mut dyn FnMut(u64, u64) = progress.unwrap_or(&mut silent);
        let len = tensor_bytes(name, dtype, shape)?;
        let mut src = Located {
            input,
            name,
            at,
            len,
        };
        let twin = self.twin_base(name, dtype, shape);
        if let Some(b) = &twin {
            if let Some(r) = self.add_if_twin_identical(&mut src, dtype, shape, b.as_ref())? {
                progress(len, len);
                return Ok(r);
            }
        }
        let opts = *self.options();
        let first = first_pass(self, &mut src, dtype, shape)?;
        if let Some(idx) = first.duplicate_of {
            self.add_dedup(name, idx)?;
            return Ok(self.dedup_report(name, dtype, shape, idx));
        }
        let (mut cands, note) = policy::candidates_with(dtype, &opts, || Ok(first.small))?;
        if twin.is_some() {
            cands = policy::with_deltas(cands);
        }
        let ranges = policy::trial_sample(len, dtype.size() as u64, opts.chunk_len);
        let sample = ranges
            .iter()
            .map(|r| src.read(r.start, r.end - r.start))
            .collect::<Result<Vec<_>>>()?;
        let sample: Vec<&[u8]> = sample.iter().map(Vec::as_slice).collect();
        let twin_sample = policy::twin_sample(twin.as_deref(), name, &ranges)?;
        let twin_sample: Option<Vec<&[u8]>> = twin_sample
            .as_ref()
            .map(|t| t.iter().map(Vec::as_slice).collect());
        let cands = policy::de_only_if_repeating(dtype, &sample, cands.into_iter());
        let (best, plan) =
            policy::choose_by_trial(dtype, &sample, twin_sample.as_deref(), &cands, opts.level)?;
        let mut tw = TensorWriter::new(self, name, dtype, shape, Choice::Exact(best))?;
        tw.open_as(best, plan, note, twin.filter(|_| best.needs_base()))?;
        tw.probe = first.probe;
        // The content hash, for HD: taken by the first pass, or else while encoding.
        let hash_now = opts.dedup && first.hashed.is_none();
        let mut hasher = first
            .hashed
            .or_else(|| opts.dedup.then(blake3::Hasher::new));
        write_spans(
            &mut tw,
            &mut src,
            hasher.as_mut().filter(|_| hash_now),
            progress,
        )?;
        tw.hash = hasher;
        tw.finish()
    }

    /// For a tensor with a base twin: if it equals the twin (sampled first, then compared
    /// span by span), writes it as a `base` reference and gives its report; else `None`.
    fn add_if_twin_identical<R: Read + Seek>(
        &mut self,
        src: &mut Located<'_, R>,
        dtype: DType,
        shape: &[u64],
        twin: &dyn Base,
    ) -> Result<Option<TensorReport>> {
        let (name, len) = (src.name, src.len);
        for r in policy::trial_sample(len, dtype.size() as u64, DEFAULT_CHUNK_LEN) {
            let n = r.end - r.start;
            if src.read(r.start, n)? != twin.read_range(name, r.start, n)? {
                return Ok(None);
            }
        }
        let span = span_bytes(DEFAULT_BATCH_BYTES);
        let (mut crc, mut hash) = (crc32fast::Hasher::new(), blake3::Hasher::new());
        let mut off = 0;
        while off < len {
            let n = span.min(len - off);
            let (mine, theirs) = (src.read(off, n)?, twin.read_range(name, off, n)?);
            if mine != theirs {
                return Ok(None);
            }
            crc.update(&mine);
            hash.update(&theirs);
            off += n;
        }
        let packed = PackedTensor {
            encoding: Encoding::BaseRef,
            chunk_len: 0,
            crc32: crc.finalize(),
            streams: Vec::new(),
            twin_hash: Some(*hash.finalize().as_bytes()),
        };
        self.add_packed(name, dtype, shape, packed)?;
        let report = TensorReport::of(name, dtype, shape, Encoding::BaseRef, 0, None);
        Ok(Some(report))
    }
}

/// What the first pass over a tensor learned.
struct FirstPass {
    /// (non-zero values, values below 2^-16), for the small-value guard.
    small: (u64, u64),
    /// The tensor's probe, when dedup is on.
    probe: Option<(DType, Vec<u64>, u128)>,
    /// An earlier tensor with the same content.
    duplicate_of: Option<u32>,
    /// The content hash, when the pass took it.
    hashed: Option<blake3::Hasher>,
}

/// A first pass over the tensor, only when something needs the whole of it before encoding:
/// the small-value guard, or HD when an earlier large tensor has the same dtype, shape and
/// probe (otherwise the hash is taken while encoding). Most large tensors of a
/// half-precision model need neither, and are then read once.
fn first_pass<R: Read + Seek, W: Write>(
    w: &mut Writer<W>,
    src: &mut Located<'_, R>,
    dtype: DType,
    shape: &[u64],
) -> Result<FirstPass> {
    let opts = *w.options();
    let count_small = policy::elf_allowed(dtype, &opts);
    let probe = match opts.dedup {
        true => Some((
            dtype,
            shape.to_vec(),
            probe_hash(src.input, src.at, src.len)?,
        )),
        false => None,
    };
    let may_repeat = probe.as_ref().is_some_and(|p| w.seen().probed(p));
    let mut hasher = blake3::Hasher::new();
    let mut small = (0u64, 0u64);
    let mut off = 0;
    let span = span_bytes(opts.batch_bytes);
    let size = dtype.size();
    let mut buf = Vec::new();
    while (count_small || may_repeat) && off < src.len {
        src.read_into(off, span.min(src.len - off), &mut buf)?;
        let data = &buf;
        // The hash is sequential; the small-value count runs beside it on the other cores.
        let ((), counted) = rayon::join(
            || {
                if may_repeat {
                    hasher.update(data);
                }
            },
            || -> Result<(u64, u64)> {
                if !count_small {
                    return Ok((0, 0));
                }
                data.par_chunks(size * (1 << 18))
                    .map(|c| elf::small_count(dtype, c).map_err(Error::from))
                    .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))
            },
        );
        let (n, f) = counted?;
        small = (small.0 + n, small.1 + f);
        off += data.len() as u64;
    }
    let duplicate_of = match may_repeat {
        true => w
            .seen()
            .get(&(dtype, shape.to_vec(), *hasher.finalize().as_bytes())),
        false => None,
    };
    Ok(FirstPass {
        small,
        probe,
        duplicate_of,
        hashed: may_repeat.then_some(hasher),
    })
}

/// Reads, encodes and writes the tensor a span at a time: while one span is encoded on the
/// pool, the one before is written and the next read (into the buffer of the one before).
/// `hasher`, if given, takes the bytes as they go by.
fn write_spans<R: Read + Seek, W: Write>(
    tw: &mut TensorWriter<'_, W>,
    src: &mut Located<'_, R>,
    mut hasher: Option<&mut blake3::Hasher>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<()> {
    let (encoder, span) = tw.encoder()?;
    let span = span as u64;
    let len = src.len;
    let first_len = span.min(len);
    let mut first = Vec::new();
    src.read_into(0, first_len, &mut first)?;
    let first_twin = tw.twin_span(0, first_len)?;
    let mut off = first_len;
    let last = overlapped(
        (first, first_twin),
        |previous, (current, _)| {
            if let Some(h) = &mut hasher {
                h.update(current);
            }
            let mut buf = match previous {
                Some(((data, _), packed)) => {
                    tw.push_span(data.len() as u64, &packed)?;
                    progress(tw.written(), len);
                    data
                }
                None => Vec::new(),
            };
            let next_len = span.min(len - off);
            if next_len == 0 {
                return Ok(None);
            }
            src.read_into(off, next_len, &mut buf)?;
            let next_twin = tw.twin_span(off, next_len)?;
            off += next_len;
            Ok(Some((buf, next_twin)))
        },
        |(data, twin): &(Vec<u8>, Option<Vec<u8>>)| encoder.pack(data, twin.as_deref()),
    )?;
    if let Some(((data, _), packed)) = last {
        tw.push_span(data.len() as u64, &packed)?;
        progress(tw.written(), len);
    }
    Ok(())
}
