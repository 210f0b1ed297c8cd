//! The ELVES pipeline (paper §6.2, made exact): dedup identical tensors, then per tensor
//! pick the encoding whose stored size after the entropy stage is smallest, among those the
//! mode allows; safetensors in, `.elv` out, and back.

use crate::codec;
use crate::error::{Error, Result};
use crate::reader::Reader;
use crate::safetensors::{self, Entry};
use crate::writer::{pack_tensor, pack_tensor_with, PackedTensor, WriteOptions, Writer};
use elv_core::section::ENTRY_LEN;
use elv_core::writer::{effective_chunk_len, encode_chunk_checked};
use elv_core::{elf, Codec, DType, Encoding};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom, Write};

/// Metadata key holding the original safetensors header text verbatim (SPEC.md §10).
pub const KEY_SAFETENSORS_HEADER: &str = "safetensors.header";
/// Prefix of metadata keys carrying `__metadata__` entries.
pub const KEY_SAFETENSORS_METADATA: &str = "safetensors.metadata.";

/// How lossy the pipeline may be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompressOptions {
    /// Everything exact (no ELF anywhere).
    pub lossless: bool,
    /// Allow ELF on F16 and BF16 (bounds 2^-11 and 2^-8; off by default).
    pub elf_half: bool,
    /// Keep a tensor lossless when ELF would flush more than this fraction of its non-zero
    /// values to zero (default 0.001).
    pub max_flush_fraction: f64,
    /// Store identical tensors once (default true).
    pub dedup: bool,
    /// Layout and entropy-stage options.
    pub write: WriteOptions,
    /// Input bytes encoded together (default 32 MiB); a larger tensor is streamed in pieces of
    /// half this. Peak memory is a few times this, whatever the model or tensor size.
    pub batch_bytes: u64,
}

impl Default for CompressOptions {
    fn default() -> Self {
        CompressOptions {
            lossless: false,
            elf_half: false,
            max_flush_fraction: 0.001,
            dedup: true,
            write: WriteOptions::default(),
            batch_bytes: DEFAULT_BATCH_BYTES,
        }
    }
}

/// What happened to one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorReport {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Encoding chosen.
    pub encoding: Encoding,
    /// Original bytes.
    pub original: u64,
    /// Stored stream bytes (0 for a dedup reference).
    pub stored: u64,
    /// k where the error bound is 2^-k (0: exact).
    pub error_bound_log2: u8,
    /// Why a lossy-capable tensor was kept lossless, if it was.
    pub note: Option<&'static str>,
}

impl TensorReport {
    /// The report for safetensors entry `e` stored with `encoding` in `stored` bytes; `note`
    /// (why ELF was ruled out) is kept only when the tensor did not end up lossy.
    fn of(e: &Entry, encoding: Encoding, stored: u64, note: Option<&'static str>) -> Self {
        TensorReport {
            name: e.name.clone(),
            dtype: e.dtype,
            shape: e.shape.clone(),
            encoding,
            original: e.len(),
            stored,
            error_bound_log2: encoding.error_bound_log2(e.dtype),
            note: note.filter(|_| encoding != Encoding::Elf),
        }
    }
}

/// The report for `e` written as a reference to tensor `canon`: as lossy as its original.
fn dedup_report<W: Write>(w: &Writer<W>, e: &Entry, canon: u32) -> TensorReport {
    let mut r = TensorReport::of(e, Encoding::Dedup, 0, None);
    r.error_bound_log2 = w
        .tensors()
        .get(canon as usize)
        .map_or(0, |t| t.error_bound_log2);
    r
}

/// Which encodings the mode allows for a tensor, and why ELF was ruled out if it was.
pub fn candidates(
    dtype: DType,
    data: &[u8],
    opts: &CompressOptions,
) -> Result<(Vec<Encoding>, Option<&'static str>)> {
    candidates_with(dtype, opts, || Ok(elf::flush_count(dtype, data)?))
}

/// [`candidates`] given a way to count (non-zero values, values ELF would flush to zero),
/// called only when ELF is allowed.
fn candidates_with(
    dtype: DType,
    opts: &CompressOptions,
    flush: impl FnOnce() -> Result<(u64, u64)>,
) -> Result<(Vec<Encoding>, Option<&'static str>)> {
    let mut c = vec![Encoding::Raw];
    if Encoding::De.applies_to(dtype) {
        c.push(Encoding::De);
    }
    if Encoding::BytePlanes.applies_to(dtype) {
        c.push(Encoding::BytePlanes);
    }
    if Encoding::FloatPlanes.applies_to(dtype) {
        c.push(Encoding::FloatPlanes);
    }
    let mut note = None;
    if elf_allowed(dtype, opts) {
        let (nonzero, flushed) = flush()?;
        if nonzero > 0 && flushed as f64 > opts.max_flush_fraction * nonzero as f64 {
            note = Some("kept lossless: ELF would flush too many small values to zero");
        } else {
            c.push(Encoding::Elf);
        }
    }
    Ok((c, note))
}

/// Whether the mode lets ELF be tried on `dtype` (before the flush guard).
fn elf_allowed(dtype: DType, opts: &CompressOptions) -> bool {
    !opts.lossless
        && match dtype {
            DType::F32 | DType::F64 => true,
            DType::F16 | DType::BF16 => opts.elf_half,
            _ => false,
        }
}

/// Index-entry bytes plus average alignment padding each stream section costs.
const SECTION_OVERHEAD: u64 = ENTRY_LEN as u64 + 4;

/// Values per trial slice when choosing an encoding.
const TRIAL_VALUES: u64 = 1 << 15;

/// Byte ranges of the sample an encoding is chosen on, for a tensor of `len` bytes of
/// `size`-byte values cut in chunks of `chunk_len` values: slices of 2^15 values (at most a
/// chunk) from the start and the middle, or the whole tensor if it is no larger than two.
// A one-range sample (the whole tensor) is meant, not the range's values.
#[allow(clippy::single_range_in_vec_init)]
fn trial_sample(len: u64, size: u64, chunk_len: u64) -> Vec<core::ops::Range<u64>> {
    let slice = TRIAL_VALUES.min(chunk_len.max(1)) * size;
    if len <= 2 * slice {
        return vec![0..len];
    }
    let middle = len / 2 / size * size;
    vec![0..slice, middle..middle + slice]
}

/// Values per trial slice in the first, screening round of choosing an encoding.
const SCREEN_VALUES: usize = 1 << 13;

/// Candidates whose screening cost is within this fraction of the best go to the full trial.
const SCREEN_MARGIN: f64 = 0.05;

/// Fraction of repeated values a sample needs before DE is worth a trial: a distinct value
/// costs its full width plus a flag bit, so DE only wins when most values repeat nearby.
const DE_MIN_REPEATS: f64 = 0.5;

/// Fraction of the first 2^16 values of `sample` that repeat an earlier one, or of the first
/// 2^13 values if fewer than [`DE_SCREEN_REPEATS`] of those repeat (sorting 2^16 values for
/// every tensor showed as 5% of compression time, and trained weights rarely repeat).
fn repeat_fraction(dtype: DType, sample: &[u8]) -> f64 {
    let screen = repeats_in_first(dtype, sample, 1 << 13);
    if screen < DE_SCREEN_REPEATS {
        return screen;
    }
    repeats_in_first(dtype, sample, 1 << 16)
}

/// Fraction of repeats the first 2^13 values of a sample need before the full count is done:
/// well below [`DE_MIN_REPEATS`], as a short prefix holds fewer repeats than a long one.
const DE_SCREEN_REPEATS: f64 = 0.1;

/// Fraction of the first `count` values of `sample` that repeat an earlier one, counted in an
/// open-addressing set at most half full (sorting the values took three times as long).
fn repeats_in_first(dtype: DType, sample: &[u8], count: usize) -> f64 {
    let size = dtype.size();
    let n = (sample.len() / size.max(1)).min(count);
    if n == 0 {
        return 0.0;
    }
    let bits = (2 * n).next_power_of_two().trailing_zeros().max(4);
    let mask = (1usize << bits) - 1;
    // `EMPTY` marks a free slot; the value equal to it is tracked apart.
    const EMPTY: u64 = u64::MAX;
    let mut slots = vec![EMPTY; mask + 1];
    let (mut repeats, mut seen_empty) = (0usize, false);
    for c in sample.chunks_exact(size).take(n) {
        let v = c.iter().rev().fold(0u64, |a, &b| a << 8 | u64::from(b));
        if v == EMPTY {
            repeats += usize::from(seen_empty);
            seen_empty = true;
            continue;
        }
        let mut i = (v.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize;
        while let Some(slot) = slots.get_mut(i) {
            if *slot == v {
                repeats += 1;
                break;
            }
            if *slot == EMPTY {
                *slot = v;
                break;
            }
            i = (i + 1) & mask;
        }
    }
    repeats as f64 / n as f64
}

/// The result of one candidate's trial.
struct Trial {
    /// Stored bytes of the sample plus section overhead.
    cost: u64,
    /// Per stream position, the codecs worth trying on the whole tensor.
    plan: Vec<codec::Try>,
    /// Per stream position, whether zstd was tried and came within [`SCREEN_MARGIN`] of the
    /// best on some slice.
    zstd_close: Vec<bool>,
}

/// The trial of one candidate on `sample`. zstd is tried at a stream position only if
/// `zstd_at` is `None` or holds `true` (or nothing) for it.
fn trial(
    enc: Encoding,
    dtype: DType,
    sample: &[&[u8]],
    level: i32,
    zstd_at: Option<&[bool]>,
) -> Result<Trial> {
    let mut cost = 0u64;
    // Per stream position: did ans win on some sample chunk, did zstd, was zstd close?
    let mut won: Vec<(bool, bool, bool)> = Vec::new();
    for chunk in sample {
        let c = encode_chunk_checked(enc, dtype, chunk)?;
        won.resize(c.streams.len(), (false, false, false));
        for (i, (s, w)) in c.streams.iter().zip(won.iter_mut()).enumerate() {
            let try_zstd = zstd_at.is_none_or(|z| z.get(i).copied().unwrap_or(true));
            let e = codec::estimate(s, level, try_zstd);
            cost += e.best() + SECTION_OVERHEAD;
            w.0 |= e.codec() == Codec::Ans;
            w.1 |= e.codec() == Codec::Zstd;
            w.2 |= e
                .zstd
                .is_some_and(|z| z as f64 <= e.best() as f64 * (1.0 + SCREEN_MARGIN));
        }
    }
    let plan = won
        .iter()
        .map(|w| match (w.0, w.1) {
            (true, false) => codec::Try::Ans,
            (false, true) => codec::Try::Zstd,
            // Both won somewhere, or neither did (the entropy check is then cheap).
            _ => codec::Try::Both,
        })
        .collect();
    let zstd_close = won.iter().map(|w| w.2).collect();
    Ok(Trial {
        cost,
        plan,
        zstd_close,
    })
}

/// Chooses the candidate whose stored size on a sample (slices of 2^15 values from the start
/// and the middle; the whole tensor if smaller) after the entropy stage, plus section
/// overhead, is smallest; then packs the whole tensor with it, trying for each stream only
/// the codecs that won that stream position in the trial.
pub fn choose_and_pack(
    dtype: DType,
    data: &[u8],
    cands: &[Encoding],
    opts: &WriteOptions,
) -> Result<PackedTensor> {
    if cands.len() == 1 || data.is_empty() {
        return pack_tensor(
            dtype,
            data,
            cands.first().copied().unwrap_or(Encoding::Raw),
            opts,
        );
    }
    let ranges = trial_sample(data.len() as u64, dtype.size() as u64, opts.chunk_len);
    let whole = ranges.len() == 1;
    let sample: Vec<&[u8]> = ranges
        .into_iter()
        .filter_map(|r| data.get(r.start as usize..r.end as usize))
        .collect();
    let cands = de_only_if_repeating(dtype, &sample, cands.iter().copied());
    if whole {
        let packed: Vec<PackedTensor> = cands
            .par_iter()
            .map(|&e| pack_tensor(dtype, data, e, opts))
            .collect::<Result<_>>()?;
        let cost = |p: &PackedTensor| p.stored_len() + SECTION_OVERHEAD * p.streams.len() as u64;
        return packed
            .into_iter()
            .min_by_key(|p| (cost(p), p.encoding.code()))
            .ok_or_else(|| Error::Safetensors("no candidate encoding".into()));
    }
    let (best, plan) = choose_by_trial(dtype, &sample, &cands, opts.level)?;
    pack_tensor_with(dtype, data, best, opts, &plan)
}

/// `cands` without DE unless some slice of `sample` repeats enough values for it to win.
fn de_only_if_repeating(
    dtype: DType,
    sample: &[&[u8]],
    cands: impl Iterator<Item = Encoding>,
) -> Vec<Encoding> {
    let de_ok = sample
        .iter()
        .any(|s| repeat_fraction(dtype, s) >= DE_MIN_REPEATS);
    cands.filter(|&e| e != Encoding::De || de_ok).collect()
}

/// The candidate whose trial on `sample` (slices of up to 2^15 values) costs least, and its
/// per-stream codec plan. Every candidate is first screened on the first 2^13 values of each
/// slice; only those within [`SCREEN_MARGIN`] of the best get the full trial (trials were 40%
/// of compression time, and candidates usually differ by far more than the margin). The full
/// trial runs zstd only on the stream positions where it came within that margin in the
/// screen: on weight planes it rarely does, and running it anyway was a tenth of compression
/// time. A short slice flatters zstd against `ans`, whose tables cost more per byte there.
fn choose_by_trial(
    dtype: DType,
    sample: &[&[u8]],
    cands: &[Encoding],
    level: i32,
) -> Result<(Encoding, Vec<codec::Try>)> {
    let screen_len = SCREEN_VALUES * dtype.size();
    let screen: Vec<&[u8]> = sample
        .iter()
        .map(|s| &s[..screen_len.min(s.len())])
        .collect();
    let screened: Vec<(Trial, Encoding)> = cands
        .par_iter()
        .map(|&e| trial(e, dtype, &screen, level, None).map(|t| (t, e)))
        .collect::<Result<_>>()?;
    let floor = screened.iter().map(|t| t.0.cost).min().unwrap_or(0);
    let finalists: Vec<(Vec<bool>, Encoding)> = screened
        .into_iter()
        .filter(|(t, _)| t.cost as f64 <= floor as f64 * (1.0 + SCREEN_MARGIN))
        .map(|(t, e)| (t.zstd_close, e))
        .collect();
    let trials: Vec<(Trial, Encoding)> = finalists
        .par_iter()
        .map(|(close, e)| trial(*e, dtype, sample, level, Some(close)).map(|t| (t, *e)))
        .collect::<Result<_>>()?;
    trials
        .into_iter()
        .min_by_key(|(t, e)| (t.cost, e.code()))
        .map(|(t, e)| (e, t.plan))
        .ok_or_else(|| Error::Safetensors("no candidate encoding".into()))
}

/// What identifies a tensor's content for HD: dtype, shape and a 128-bit xxh3 of the bytes
/// (a hint only; bytes are compared before a match is trusted).
type ContentKey = (DType, Vec<u64>, u128);

/// What HD knows of the tensors kept so far.
#[derive(Default)]
struct Seen {
    /// Content key of each tensor kept, with its index and the offset of its bytes in the
    /// input (to compare bytes before trusting a hash match).
    full: HashMap<ContentKey, Vec<(u32, u64)>>,
    /// Dtype, shape and [`probe_hash`] of each large tensor kept.
    probes: HashSet<ContentKey>,
}

/// Bytes hashed at each of the start, middle and end of a large tensor by [`probe_hash`].
const PROBE_BYTES: u64 = 64 << 10;

/// A hash of three slices of a large tensor (start, middle, end): tensors whose probes differ
/// cannot be equal, so a tensor whose probe no earlier one shares is not read whole just to
/// be hashed for HD.
fn probe_hash<R: Read + Seek>(input: &mut R, base: u64, len: u64) -> Result<u128> {
    let n = PROBE_BYTES.min(len);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for at in [0, (len - n) / 2, len - n] {
        h.update(&read_range(input, base + at, n)?);
    }
    Ok(h.digest128())
}

/// Summary of a compression run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// One entry per tensor, in file order.
    pub tensors: Vec<TensorReport>,
    /// Size of the input file.
    pub input_bytes: u64,
    /// Size of the `.elv` written.
    pub output_bytes: u64,
}

/// Default bytes of tensors compressed together: a batch is encoded in parallel and written
/// in order; a larger tensor is streamed in pieces of half this.
pub const DEFAULT_BATCH_BYTES: u64 = 32 << 20;

/// Default bytes of tensors decoded together by [`decompress_to_safetensors`]. Smaller than
/// the encoder's: decoding costs less per byte, so a small batch (still two f32 chunks) keeps
/// the cores busy, and less memory in flight means fewer fresh pages to fault in. Against
/// 32 MiB, on the four corpus models, about 8% faster; on a 1.09 GB model, peak RSS
/// 193–209 → 131–154 MiB.
pub const DEFAULT_DECODE_BATCH_BYTES: u64 = 8 << 20;

/// Piece size for streaming a large tensor: half a batch, a multiple of 8 bytes.
fn piece_bytes(batch_bytes: u64) -> u64 {
    (batch_bytes / 16).max(1) * 8
}

/// A batch packed and waiting to be written: its entries, duplicate decisions and packings.
type PackedBatch<'a> = (
    &'a [Entry],
    Vec<Option<u32>>,
    Vec<Option<(PackedTensor, Option<&'static str>)>>,
);

/// Writes a packed batch in file order and gives its report lines.
fn write_batch<W: Write>(w: &mut Writer<W>, batch: PackedBatch<'_>) -> Result<Vec<TensorReport>> {
    let (entries, dup_of, packed) = batch;
    let mut out = Vec::with_capacity(entries.len());
    for ((e, dup), p) in entries.iter().zip(dup_of).zip(packed) {
        match (dup, p) {
            (Some(canon), _) => {
                w.add_dedup(&e.name, canon)?;
                out.push(dedup_report(w, e, canon));
            }
            (None, Some((packed, note))) => {
                let (encoding, stored) = (packed.encoding, packed.stored_len());
                w.add_packed(&e.name, e.dtype, &e.shape, packed)?;
                out.push(TensorReport::of(e, encoding, stored, note));
            }
            (None, None) => {
                return Err(Error::Safetensors(
                    "internal: tensor neither packed nor deduplicated".into(),
                ))
            }
        }
    }
    Ok(out)
}

/// Splits the entries into batches of about `batch_bytes`; a larger tensor is a batch alone
/// (streamed by [`compress_large`]).
fn batches(entries: &[Entry], batch_bytes: u64) -> Vec<&[Entry]> {
    let mut out = Vec::new();
    let mut rest = entries;
    while let Some(first) = rest.first() {
        let mut take = 1;
        let mut bytes = first.len();
        if first.len() <= batch_bytes {
            while take < rest.len() && bytes + rest[take].len() <= batch_bytes {
                bytes += rest[take].len();
                take += 1;
            }
        }
        let (batch, after) = rest.split_at(take);
        out.push(batch);
        rest = after;
    }
    out
}

/// Compresses a safetensors stream into `.elv`. Tensors are read in batches of about 32 MiB
/// and encoded in parallel; reading the next batch and writing the previous one overlap the
/// encoding, and tensors are written in file order. The original header is kept in the
/// metadata so that a lossless file decompresses to the same bytes. `progress` is called with
/// (bytes done, bytes total).
pub fn compress_safetensors<R: Read + Seek + Send, W: Write + Send>(
    mut input: R,
    output: W,
    opts: &CompressOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(W, Report)> {
    let len = input.seek(SeekFrom::End(0))?;
    input.seek(SeekFrom::Start(0))?;
    let header = safetensors::read_header(&mut input, Some(len))?;
    let data_start = 8 + header.raw.len() as u64;
    let mut w = Writer::new(output, opts.write)?;
    let mut meta = vec![(KEY_SAFETENSORS_HEADER.to_string(), header.raw.clone())];
    meta.extend(
        header
            .metadata
            .iter()
            .map(|(k, v)| (format!("{KEY_SAFETENSORS_METADATA}{k}"), v.clone())),
    );
    let mut report = Report {
        input_bytes: len,
        ..Report::default()
    };
    let mut seen = Seen::default();
    let total = header.data_len();
    let is_large = |b: &[Entry]| matches!(b, [e] if e.len() > opts.batch_bytes);
    let list = batches(&header.entries, opts.batch_bytes);
    let mut pending: Option<PackedBatch<'_>> = None;
    let mut next_data: Option<Vec<Vec<u8>>> = None;
    for (bi, &batch) in list.iter().enumerate() {
        if is_large(batch) {
            if let Some(p) = pending.take() {
                report.tensors.extend(write_batch(&mut w, p)?);
            }
            let following = list.get(bi + 1).copied().filter(|b| !is_large(b));
            for e in batch {
                let (r, ahead) = compress_large(
                    &mut input, data_start, e, &mut w, opts, &mut seen, following,
                )?;
                report.tensors.push(r);
                next_data = ahead;
                progress(e.end, total);
            }
            continue;
        }
        let data = match next_data.take() {
            Some(d) => d,
            None => read_batch(&mut input, data_start, batch)?,
        };
        // HD: decide duplicates in order (a duplicate may repeat a tensor of this batch).
        // This batch's first tensor index: those written plus those still pending.
        let first_index =
            w.tensors().len() as u32 + pending.as_ref().map_or(0, |p| p.0.len() as u32);
        let hashes: Vec<u128> = data
            .par_iter()
            .map(|d| xxhash_rust::xxh3::xxh3_128(d))
            .collect();
        let mut dup_of: Vec<Option<u32>> = vec![None; batch.len()];
        for (k, e) in batch.iter().enumerate() {
            if !opts.dedup || data[k].is_empty() {
                continue;
            }
            let key = (e.dtype, e.shape.clone(), hashes[k]);
            if let Some(same) = seen.full.get(&key) {
                for &(idx, begin) in same {
                    // A hash match is only a hint: compare the bytes before trusting it.
                    let other = match batch.iter().position(|b| b.begin == begin) {
                        Some(m) => data[m] == data[k],
                        None => {
                            read_entry(
                                &mut input,
                                data_start,
                                &Entry {
                                    begin,
                                    end: begin + e.len(),
                                    ..e.clone()
                                },
                            )? == data[k]
                        }
                    };
                    if other {
                        dup_of[k] = Some(idx);
                        break;
                    }
                }
            }
            if dup_of[k].is_none() {
                seen.full
                    .entry(key)
                    .or_default()
                    .push((first_index + k as u32, e.begin));
            }
        }
        let following = list.get(bi + 1).copied().filter(|b| !is_large(b));
        let to_write = pending.take();
        let (packed, (read, written)) = rayon::join(
            || -> Result<Vec<_>> {
                batch
                    .par_iter()
                    .zip(data.par_iter())
                    .zip(dup_of.par_iter())
                    .map(|((e, d), dup)| -> Result<_> {
                        if dup.is_some() {
                            return Ok(None);
                        }
                        let (cands, note) = candidates(e.dtype, d, opts)?;
                        Ok(Some((
                            choose_and_pack(e.dtype, d, &cands, &opts.write)?,
                            note,
                        )))
                    })
                    .collect()
            },
            || {
                let read = following
                    .map(|b| read_batch(&mut input, data_start, b))
                    .transpose();
                let written = to_write.map(|p| write_batch(&mut w, p)).transpose();
                (read, written)
            },
        );
        report.tensors.extend(written?.unwrap_or_default());
        next_data = read?;
        pending = Some((batch, dup_of, packed?));
        drop(data);
        if let Some(e) = batch.last() {
            progress(e.end, total);
        }
    }
    if let Some(p) = pending.take() {
        report.tensors.extend(write_batch(&mut w, p)?);
    }
    progress(total, total);
    w.set_metadata(meta)?;
    let (out, written) = w.finish_len()?;
    report.output_bytes = written;
    Ok((out, report))
}

fn read_range<R: Read + Seek>(input: &mut R, at: u64, len: u64) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    read_range_into(input, at, len, &mut data)?;
    Ok(data)
}

/// Reads `len` bytes at `at` into `buf`, reusing its memory. The pieces of a large tensor are
/// read this way: a fresh multi-MiB buffer per piece is memory the kernel must fault in and
/// zero on first touch, which costs about 1 ms per MiB on this kind of VM.
fn read_range_into<R: Read + Seek>(
    input: &mut R,
    at: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let len = usize::try_from(len)
        .map_err(|_| Error::Safetensors("tensor too large for this platform".into()))?;
    input.seek(SeekFrom::Start(at))?;
    buf.resize(len, 0);
    input.read_exact(buf)?;
    Ok(())
}

/// A tensor larger than a batch, streamed so memory does not grow with it: a first pass,
/// when needed, hashes it (if an earlier tensor shares its [`probe_hash`]) and counts ELF
/// flushes; a duplicate is confirmed piece by piece; encodings are tried on two slices; then
/// groups of whole chunks are read, encoded in parallel and written. The tensors of
/// `following` (the next batch) are read while the last group is encoded, and returned.
fn compress_large<R: Read + Seek + Send, W: Write + Send>(
    input: &mut R,
    data_start: u64,
    e: &Entry,
    w: &mut Writer<W>,
    opts: &CompressOptions,
    seen: &mut Seen,
    following: Option<&[Entry]>,
) -> Result<(TensorReport, Option<Vec<Vec<u8>>>)> {
    let base = data_start + e.begin;
    let piece = piece_bytes(opts.batch_bytes);
    let size = e.dtype.size() as u64;
    // A first pass over the tensor, only when something needs the whole of it before
    // encoding: the flush guard, or HD when an earlier large tensor has the same dtype, shape
    // and probe (otherwise the hash is taken while encoding). Most large tensors of a
    // half-precision model need neither, and are then read once.
    let count_flush = elf_allowed(e.dtype, opts);
    let probe = if opts.dedup {
        Some((e.dtype, e.shape.clone(), probe_hash(input, base, e.len())?))
    } else {
        None
    };
    let may_repeat = probe.as_ref().is_some_and(|p| seen.probes.contains(p));
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut counts = (0u64, 0u64);
    let mut off = 0;
    // One buffer for every piece of the first pass and of a duplicate check, then for every
    // other group encoded.
    let mut spare = Vec::new();
    while (count_flush || may_repeat) && off < e.len() {
        read_range_into(input, base + off, piece.min(e.len() - off), &mut spare)?;
        let piece = &spare;
        // The hash is sequential; the flush count runs beside it on the other cores.
        let ((), flush) = rayon::join(
            || {
                if may_repeat {
                    hasher.update(piece);
                }
            },
            || -> Result<(u64, u64)> {
                if !count_flush {
                    return Ok((0, 0));
                }
                piece
                    .par_chunks(size as usize * (1 << 18))
                    .map(|c| elf::flush_count(e.dtype, c).map_err(Error::from))
                    .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))
            },
        );
        let (n, f) = flush?;
        counts = (counts.0 + n, counts.1 + f);
        off += piece.len() as u64;
    }
    let report = |encoding, stored, note| TensorReport::of(e, encoding, stored, note);
    if may_repeat {
        let key = (e.dtype, e.shape.clone(), hasher.digest128());
        let mut other = Vec::new();
        for &(idx, begin) in seen.full.get(&key).map(Vec::as_slice).unwrap_or_default() {
            let mut same = true;
            let mut off = 0;
            while same && off < e.len() {
                let n = piece.min(e.len() - off);
                read_range_into(input, base + off, n, &mut spare)?;
                read_range_into(input, data_start + begin + off, n, &mut other)?;
                same = spare == other;
                off += n;
            }
            if same {
                w.add_dedup(&e.name, idx)?;
                return Ok((dedup_report(w, e, idx), None));
            }
        }
    }
    // Without a first pass, the hash is taken while encoding.
    let hash_while_encoding = opts.dedup && !may_repeat;
    let index = w.tensors().len() as u32;
    let (cands, note) = candidates_with(e.dtype, opts, || Ok(counts))?;
    let sample = trial_sample(e.len(), size, opts.write.chunk_len)
        .into_iter()
        .map(|r| read_range(input, base + r.start, r.end - r.start))
        .collect::<Result<Vec<_>>>()?;
    let sample: Vec<&[u8]> = sample.iter().map(Vec::as_slice).collect();
    let cands = de_only_if_repeating(e.dtype, &sample, cands.into_iter());
    let (best, plan) = choose_by_trial(e.dtype, &sample, &cands, opts.write.level)?;
    let chunk_len = effective_chunk_len(
        best,
        e.dtype,
        usize::try_from(e.len()).unwrap_or(usize::MAX),
        opts.write.chunk_len,
    )?;
    // Groups of whole chunks, about a piece, at least two chunks so both cores work.
    let group = (piece / (chunk_len * size)).max(2) * chunk_len * size;
    w.begin_tensor(&e.name, e.dtype, &e.shape, best, chunk_len)?;
    let mut crc = crc32fast::Hasher::new();
    let mut stored = 0;
    // While one group is encoded, the next is read and the previous one written.
    let mut off = group.min(e.len());
    let mut data = read_range(input, base, off)?;
    let mut pending: Option<PackedTensor> = None;
    let mut ahead = None;
    while !data.is_empty() {
        let next_len = group.min(e.len() - off);
        let to_write = pending.take();
        // The next group goes into the buffer of the group before this one.
        let (packed, (next, written)) = rayon::join(
            || pack_tensor_with(e.dtype, &data, best, &opts.write, &plan),
            || {
                if hash_while_encoding {
                    hasher.update(&data);
                }
                let next = read_range_into(input, base + off, next_len, &mut spare);
                if next_len == 0 {
                    ahead = following.map(|b| read_batch(input, data_start, b));
                }
                let written = to_write.map(|p| w.push_packed(&p)).transpose();
                (next, written)
            },
        );
        written?;
        let packed = packed?;
        crc.combine(&crc32fast::Hasher::new_with_initial_len(
            packed.crc32,
            data.len() as u64,
        ));
        stored += packed.stored_len();
        pending = Some(packed);
        next?;
        std::mem::swap(&mut data, &mut spare);
        off += next_len;
    }
    if let Some(p) = pending {
        w.push_packed(&p)?;
    }
    w.end_tensor(crc.finalize())?;
    if opts.dedup {
        let key = (e.dtype, e.shape.clone(), hasher.digest128());
        seen.full.entry(key).or_default().push((index, e.begin));
    }
    seen.probes.extend(probe);
    Ok((report(best, stored, note), ahead.transpose()?))
}

/// The bytes of every tensor of batch `b`, in order.
fn read_batch<R: Read + Seek>(input: &mut R, data_start: u64, b: &[Entry]) -> Result<Vec<Vec<u8>>> {
    b.iter().map(|e| read_entry(input, data_start, e)).collect()
}

fn read_entry<R: Read + Seek>(input: &mut R, data_start: u64, e: &Entry) -> Result<Vec<u8>> {
    let len = usize::try_from(e.len())
        .map_err(|_| Error::Safetensors(format!("{:?} is too large for this platform", e.name)))?;
    input.seek(SeekFrom::Start(data_start + e.begin))?;
    let mut data = vec![0u8; len];
    input.read_exact(&mut data)?;
    Ok(data)
}

/// Decodes a large tensor piece by piece and sends each piece to the writer; the tensor CRC
/// is checked over all pieces. Gives `false` if the writer has gone.
fn stream_large<R: Read + Seek>(
    reader: &mut Reader<R>,
    i: usize,
    piece: u64,
    tx: &std::sync::mpsc::SyncSender<Vec<Vec<u8>>>,
    done: &mut u64,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<bool> {
    reader.for_each_piece(i, piece, &mut |p| {
        *done += p.len() as u64;
        let sent = tx.send(vec![p]).is_ok();
        progress(*done, total);
        Ok(sent)
    })
}

/// Writes the tensors of an `.elv` as a safetensors file. If the `.elv` carries the original
/// header and it still describes these tensors, it is written verbatim, so a lossless file
/// comes back byte for byte; otherwise a fresh header is built (tensors in file order).
pub fn decompress_to_safetensors<R: Read + Seek, W: Write + Send>(
    reader: &mut Reader<R>,
    out: W,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<W> {
    decompress_to_safetensors_with(reader, out, DEFAULT_DECODE_BATCH_BYTES, progress)
}

/// [`decompress_to_safetensors`] with `batch_bytes` of tensors decoded together; a larger
/// tensor is decoded in pieces of half this, so memory stays a few times `batch_bytes`.
pub fn decompress_to_safetensors_with<R: Read + Seek, W: Write + Send>(
    reader: &mut Reader<R>,
    mut out: W,
    batch_bytes: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<W> {
    let mut out_slot: Option<W> = None;
    reader.check_padding()?;
    let tensors = reader.tensors().to_vec();
    let by_name: HashMap<&str, usize> = tensors
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let original = reader
        .metadata_value(KEY_SAFETENSORS_HEADER)
        .and_then(|raw| safetensors::parse_header_json(raw.to_string()).ok());
    let matches = |h: &safetensors::Header| {
        h.entries.len() == tensors.len()
            && h.entries.iter().all(|e| {
                by_name
                    .get(e.name.as_str())
                    .is_some_and(|&i| tensors[i].dtype == e.dtype && tensors[i].shape == e.shape)
            })
    };
    let (raw, order): (String, Vec<usize>) = match original {
        Some(h) if matches(&h) => {
            let order = h
                .entries
                .iter()
                .filter_map(|e| by_name.get(e.name.as_str()).copied())
                .collect();
            (h.raw, order)
        }
        _ => {
            let meta: Vec<(String, String)> = reader
                .metadata()
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix(KEY_SAFETENSORS_METADATA)
                        .map(|k| (k.to_string(), v.clone()))
                })
                .collect();
            let list: Vec<(String, DType, Vec<u64>)> = tensors
                .iter()
                .map(|t| (t.name.clone(), t.dtype, t.shape.clone()))
                .collect();
            (
                safetensors::build_header(&list, &meta),
                (0..tensors.len()).collect(),
            )
        }
    };
    safetensors::write_header(&mut out, &raw)?;
    let total: u64 = tensors.iter().map(|t| t.byte_len()).sum();
    // Decode batches of about `batch_bytes` in parallel while a writer thread writes the
    // previous batch: decoding and output overlap, and memory stays near two batches.
    // Small tensors go in batches; a tensor larger than a batch is streamed by chunk groups.
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0u64;
    for i in order {
        let len = tensors[i].byte_len();
        match batches.last_mut() {
            Some(b) if bytes + len <= batch_bytes && len <= batch_bytes => b.push(i),
            _ => {
                batches.push(vec![i]);
                bytes = 0;
            }
        }
        bytes += len;
        if len > batch_bytes {
            bytes = batch_bytes + 1; // nothing joins a streamed tensor's batch
        }
    }
    let mut done = 0u64;
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(1);
        let writer = scope.spawn(move || -> Result<W> {
            for batch in rx {
                for t in batch {
                    out.write_all(&t)?;
                }
            }
            Ok(out)
        });
        let mut send_err = None;
        let large_of = |b: &[usize]| match b {
            [i] if tensors[*i].byte_len() > batch_bytes => Some(*i),
            _ => None,
        };
        // The stored streams of the next batch, read while this one decodes.
        let mut prefetched = None;
        'batches: for (bi, b) in batches.iter().enumerate() {
            if let Some(i) = large_of(b) {
                match stream_large(
                    reader,
                    i,
                    piece_bytes(batch_bytes),
                    &tx,
                    &mut done,
                    total,
                    progress,
                ) {
                    Ok(true) => continue,
                    Ok(false) => break 'batches, // the writer failed
                    Err(e) => {
                        send_err = Some(e);
                        break;
                    }
                }
            }
            let fetched = match prefetched
                .take()
                .map_or_else(|| reader.fetch_tensors(b), Ok)
            {
                Ok(f) => f,
                Err(e) => {
                    send_err = Some(e);
                    break;
                }
            };
            let following = batches.get(bi + 1).filter(|nb| large_of(nb).is_none());
            let (decoded, next) =
                fetched.decode_while(|| following.map(|nb| reader.fetch_tensors(nb)));
            let decoded = match (decoded, next.transpose()) {
                (Ok(d), Ok(n)) => {
                    prefetched = n;
                    d
                }
                (Err(e), _) | (_, Err(e)) => {
                    send_err = Some(e);
                    break;
                }
            };
            done += decoded.iter().map(|d| d.len() as u64).sum::<u64>();
            if tx.send(decoded).is_err() {
                break; // the writer failed; its error is reported below
            }
            progress(done, total);
        }
        drop(tx);
        let written = writer
            .join()
            .map_err(|_| Error::Io(std::io::Error::other("writer thread panicked")))?;
        if let Some(e) = send_err {
            return Err(e);
        }
        out_slot = Some(written?);
        Ok(())
    })?;
    let mut out = out_slot.ok_or_else(|| Error::Io(std::io::Error::other("no output")))?;
    out.flush()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sort-and-dedup count the set replaced.
    fn by_sorting(dtype: DType, sample: &[u8], count: usize) -> f64 {
        let mut v: Vec<&[u8]> = sample.chunks_exact(dtype.size()).take(count).collect();
        let n = v.len();
        v.sort_unstable();
        v.dedup();
        if n == 0 {
            0.0
        } else {
            1.0 - v.len() as f64 / n as f64
        }
    }

    #[test]
    fn repeat_counts_match_sorting() {
        let mut x = 1u64;
        let mut noise = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut cases: Vec<(DType, Vec<u8>)> = Vec::new();
        // Distinct, all equal, few distinct, and all-ones values (the set's empty marker).
        cases.push((
            DType::F32,
            (0..5000)
                .flat_map(|_| (noise() as u32).to_le_bytes())
                .collect(),
        ));
        cases.push((DType::F16, vec![7; 2 * 3000]));
        cases.push((
            DType::BF16,
            (0..9000)
                .flat_map(|_| ((noise() % 5) as u16).to_le_bytes())
                .collect(),
        ));
        cases.push((
            DType::F64,
            (0..4000)
                .flat_map(|_| {
                    if noise() % 3 == 0 {
                        u64::MAX
                    } else {
                        noise() % 50
                    }
                    .to_le_bytes()
                })
                .collect(),
        ));
        cases.push((DType::U8, (0..20000).map(|_| noise() as u8).collect()));
        cases.push((DType::F32, vec![1, 2, 3]));
        for (dtype, data) in &cases {
            for count in [0, 1, 100, 1 << 13, 1 << 16] {
                let got = repeats_in_first(*dtype, data, count);
                let want = by_sorting(*dtype, data, count);
                assert!(
                    (got - want).abs() < 1e-12,
                    "{dtype:?} {count}: {got} vs {want}"
                );
            }
        }
    }
}
