//! Choosing an encoding per tensor (paper §6.2, made exact): among the encodings the mode
//! allows, the one whose stored size after the entropy stage is smallest, measured on a
//! sample (SPEC.md §12, informative part).

use crate::codec;
use crate::error::{Error, Result};
use crate::write::options::WriteOptions;
use crate::write::pack::{pack_tensor, pack_tensor_with, PackedTensor};
use elv_core::engine::elf;
use elv_core::engine::section::ENTRY_LEN;
use elv_core::engine::writer::encode_chunk_checked;
use elv_core::{Codec, DType, Encoding};
use rayon::prelude::*;

/// Which encodings the mode allows for a tensor, and why ELF was ruled out if it was.
pub(crate) fn candidates(
    dtype: DType,
    data: &[u8],
    opts: &WriteOptions,
) -> Result<(Vec<Encoding>, Option<&'static str>)> {
    candidates_with(dtype, opts, || Ok(elf::small_count(dtype, data)?))
}

/// `cands` for a tensor with a base twin: plus the lossless delta, and the ELF delta
/// wherever ELF itself is allowed (same bound, SPEC.md §7.8).
pub(crate) fn with_deltas(mut cands: Vec<Encoding>) -> Vec<Encoding> {
    cands.push(Encoding::Delta);
    if cands.contains(&Encoding::Elf) {
        cands.push(Encoding::ElfDelta);
    }
    cands
}

/// Why the optimizer-state guard kept a tensor lossless.
pub(crate) const SMALL_VALUES_NOTE: &str =
    "kept lossless: more of its values than max_small_fraction are below 2^-16, where ELF's error is large relative to them (like optimizer state)";

/// [`candidates`] given a way to count (non-zero values, small values: below 2^-16), called
/// only when ELF is allowed.
pub(crate) fn candidates_with(
    dtype: DType,
    opts: &WriteOptions,
    small: impl FnOnce() -> Result<(u64, u64)>,
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
        let (nonzero, small) = small()?;
        if nonzero > 0 && small as f64 > opts.max_small_fraction * nonzero as f64 {
            note = Some(SMALL_VALUES_NOTE);
        } else {
            c.push(Encoding::Elf);
        }
    }
    Ok((c, note))
}

/// Whether the mode lets ELF be tried on `dtype` (before the optimizer-state guard).
pub(crate) fn elf_allowed(dtype: DType, opts: &WriteOptions) -> bool {
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
pub(crate) fn trial_sample(len: u64, size: u64, chunk_len: u64) -> Vec<core::ops::Range<u64>> {
    let slice = TRIAL_VALUES.min(chunk_len.max(1)) * size;
    if len <= 2 * slice {
        return vec![0..len];
    }
    let middle = len / 2 / size * size;
    vec![0..slice, middle..middle + slice]
}

/// The base twin's bytes at the sample's `ranges` (of tensor `name`), read by range, when the
/// tensor has a twin in `base`: what the deltas are tried against.
pub(crate) fn twin_sample(
    base: Option<&dyn crate::base::Base>,
    name: &str,
    ranges: &[core::ops::Range<u64>],
) -> Result<Option<Vec<Vec<u8>>>> {
    base.map(|b| {
        ranges
            .iter()
            .map(|r| b.read_range(name, r.start, r.end - r.start))
            .collect()
    })
    .transpose()
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
    twin: Option<&[&[u8]]>,
    level: i32,
    zstd_at: Option<&[bool]>,
) -> Result<Trial> {
    let mut cost = 0u64;
    // Per stream position: did ans win on some sample chunk, did zstd, was zstd close?
    let mut won: Vec<(bool, bool, bool)> = Vec::new();
    for (k, chunk) in sample.iter().enumerate() {
        let base = twin.and_then(|t| t.get(k).copied());
        let c = encode_chunk_checked(enc, dtype, chunk, base)?;
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
pub(crate) fn choose_and_pack(
    dtype: DType,
    data: &[u8],
    twin: Option<&[u8]>,
    cands: &[Encoding],
    opts: &WriteOptions,
) -> Result<PackedTensor> {
    if cands.len() == 1 || data.is_empty() {
        return pack_tensor(
            dtype,
            data,
            twin,
            cands.first().copied().unwrap_or(Encoding::Raw),
            opts,
        );
    }
    let ranges = trial_sample(data.len() as u64, dtype.size() as u64, opts.chunk_len);
    let whole = ranges.len() == 1;
    fn slice<'b>(b: &'b [u8], r: &core::ops::Range<u64>) -> Option<&'b [u8]> {
        b.get(r.start as usize..r.end as usize)
    }
    let sample: Vec<&[u8]> = ranges.iter().filter_map(|r| slice(data, r)).collect();
    let twin_sample: Option<Vec<&[u8]>> =
        twin.map(|t| ranges.iter().filter_map(|r| slice(t, r)).collect());
    let cands = de_only_if_repeating(dtype, &sample, cands.iter().copied());
    if whole {
        let packed: Vec<PackedTensor> = cands
            .par_iter()
            .map(|&e| pack_tensor(dtype, data, twin, e, opts))
            .collect::<Result<_>>()?;
        let cost = |p: &PackedTensor| p.stored_len() + SECTION_OVERHEAD * p.streams.len() as u64;
        return packed
            .into_iter()
            .min_by_key(|p| (cost(p), p.encoding.code()))
            .ok_or(Error::Internal("no candidate encoding"));
    }
    let (best, plan) = choose_by_trial(dtype, &sample, twin_sample.as_deref(), &cands, opts.level)?;
    pack_tensor_with(dtype, data, twin, best, opts, &plan)
}

/// `cands` without DE unless some slice of `sample` repeats enough values for it to win.
pub(crate) fn de_only_if_repeating(
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
pub(crate) fn choose_by_trial(
    dtype: DType,
    sample: &[&[u8]],
    twin: Option<&[&[u8]]>,
    cands: &[Encoding],
    level: i32,
) -> Result<(Encoding, Vec<codec::Try>)> {
    let screen_len = SCREEN_VALUES * dtype.size();
    fn cut<'b>(s: &[&'b [u8]], len: usize) -> Vec<&'b [u8]> {
        s.iter().map(|s| &s[..len.min(s.len())]).collect()
    }
    let screen = cut(sample, screen_len);
    let twin_screen = twin.map(|t| cut(t, screen_len));
    let screened: Vec<(Trial, Encoding)> = cands
        .par_iter()
        .map(|&e| trial(e, dtype, &screen, twin_screen.as_deref(), level, None).map(|t| (t, e)))
        .collect::<Result<_>>()?;
    let floor = screened.iter().map(|t| t.0.cost).min().unwrap_or(0);
    let finalists: Vec<(Vec<bool>, Encoding)> = screened
        .into_iter()
        .filter(|(t, _)| t.cost as f64 <= floor as f64 * (1.0 + SCREEN_MARGIN))
        .map(|(t, e)| (t.zstd_close, e))
        .collect();
    let trials: Vec<(Trial, Encoding)> = finalists
        .par_iter()
        .map(|(close, e)| trial(*e, dtype, sample, twin, level, Some(close)).map(|t| (t, *e)))
        .collect::<Result<_>>()?;
    trials
        .into_iter()
        .min_by_key(|(t, e)| (t.cost, e.code()))
        .map(|(t, e)| (e, t.plan))
        .ok_or(Error::Internal("no candidate encoding"))
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
