//! The ELVES pipeline (paper §6.2, made exact): dedup identical tensors, then per tensor
//! pick the encoding whose stored size after the entropy stage is smallest, among those the
//! mode allows; safetensors in, `.elv` out, and back.

use crate::codec;
use crate::error::{Error, Result};
use crate::reader::Reader;
use crate::safetensors::{self, Entry};
use crate::writer::{pack_tensor, PackedTensor, WriteOptions, Writer};
use elv_core::section::ENTRY_LEN;
use elv_core::writer::{effective_chunk_len, encode_chunk_checked};
use elv_core::{elf, DType, Encoding};
use rayon::prelude::*;
use std::collections::HashMap;
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
}

impl Default for CompressOptions {
    fn default() -> Self {
        CompressOptions {
            lossless: false,
            elf_half: false,
            max_flush_fraction: 0.001,
            dedup: true,
            write: WriteOptions::default(),
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

/// Which encodings the mode allows for a tensor, and why ELF was ruled out if it was.
pub fn candidates(
    dtype: DType,
    data: &[u8],
    opts: &CompressOptions,
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
    let elf_allowed = !opts.lossless
        && match dtype {
            DType::F32 | DType::F64 => true,
            DType::F16 | DType::BF16 => opts.elf_half,
            _ => false,
        };
    if elf_allowed {
        let (nonzero, flushed) = elf::flush_count(dtype, data)?;
        if nonzero > 0 && flushed as f64 > opts.max_flush_fraction * nonzero as f64 {
            note = Some("kept lossless: ELF would flush too many small values to zero");
        } else {
            c.push(Encoding::Elf);
        }
    }
    Ok((c, note))
}

/// Index-entry bytes plus average alignment padding each stream section costs.
const SECTION_OVERHEAD: u64 = ENTRY_LEN as u64 + 4;

/// Encodes `data` with every candidate on a sample of chunks and packs the whole tensor with
/// the one whose stored size (streams after the entropy stage, plus section overhead) is
/// smallest. When the sample is the whole tensor the trial result is kept.
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
    let chunk_len = effective_chunk_len(Encoding::Raw, dtype, data.len(), opts.chunk_len)?;
    let chunk_bytes = chunk_len as usize * dtype.size();
    let chunks: Vec<&[u8]> = data.chunks(chunk_bytes).collect();
    let whole = chunks.len() <= 2;
    let sample: Vec<&[u8]> = if whole {
        chunks.clone()
    } else {
        vec![chunks[0], chunks[chunks.len() / 2]]
    };
    let cost = |enc: Encoding| -> Result<u64> {
        sample
            .par_iter()
            .map(|chunk| -> Result<u64> {
                let c = encode_chunk_checked(enc, dtype, chunk)?;
                Ok(c.streams
                    .into_iter()
                    .map(|s| codec::pack(s, opts.level).stored.len() as u64 + SECTION_OVERHEAD)
                    .sum())
            })
            .sum()
    };
    let costs: Vec<(u64, Encoding)> = cands
        .par_iter()
        .map(|&e| cost(e).map(|c| (c, e)))
        .collect::<Result<_>>()?;
    let best = costs
        .iter()
        .min_by_key(|(c, e)| (*c, e.code()))
        .map(|(_, e)| *e)
        .unwrap_or(Encoding::Raw);
    pack_tensor(dtype, data, best, opts)
}

/// What identifies a tensor's content for HD: dtype, shape and a 128-bit xxh3 of the bytes
/// (a hint only; bytes are compared before a match is trusted).
type ContentKey = (DType, Vec<u64>, u128);

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

/// Compresses a safetensors stream into `.elv`, tensor by tensor (one tensor in memory at a
/// time). The original header is kept in the metadata so that a lossless file decompresses
/// to the same bytes. `progress` is called with (bytes done, bytes total).
pub fn compress_safetensors<R: Read + Seek, W: Write>(
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
    let mut seen: HashMap<ContentKey, Vec<(u32, u64)>> = HashMap::new();
    let total = header.data_len();
    for e in &header.entries {
        let data = read_entry(&mut input, data_start, e)?;
        progress(e.begin, total);
        if opts.dedup && !data.is_empty() {
            let key = (e.dtype, e.shape.clone(), xxhash_rust::xxh3::xxh3_128(&data));
            if let Some(same) = seen.get(&key) {
                let mut found = None;
                for &(idx, begin) in same {
                    // A hash match is only a hint: compare the bytes before trusting it.
                    let other = read_entry(
                        &mut input,
                        data_start,
                        &Entry {
                            begin,
                            end: begin + e.len(),
                            ..e.clone()
                        },
                    )?;
                    if other == data {
                        found = Some(idx);
                        break;
                    }
                }
                if let Some(canon) = found {
                    w.add_dedup(&e.name, canon)?;
                    report.tensors.push(TensorReport {
                        name: e.name.clone(),
                        dtype: e.dtype,
                        shape: e.shape.clone(),
                        encoding: Encoding::Dedup,
                        original: e.len(),
                        stored: 0,
                        error_bound_log2: 0,
                        note: None,
                    });
                    continue;
                }
            }
            let idx = w.tensors().len() as u32;
            seen.entry(key).or_default().push((idx, e.begin));
        }
        let (cands, note) = candidates(e.dtype, &data, opts)?;
        let packed = choose_and_pack(e.dtype, &data, &cands, &opts.write)?;
        let (encoding, stored) = (packed.encoding, packed.stored_len());
        w.add_packed(&e.name, e.dtype, &e.shape, packed)?;
        let note = if encoding == Encoding::Elf {
            None
        } else {
            note
        };
        report.tensors.push(TensorReport {
            name: e.name.clone(),
            dtype: e.dtype,
            shape: e.shape.clone(),
            encoding,
            original: e.len(),
            stored,
            error_bound_log2: encoding.error_bound_log2(e.dtype),
            note,
        });
    }
    progress(total, total);
    w.set_metadata(meta)?;
    let (out, written) = w.finish_len()?;
    report.output_bytes = written;
    Ok((out, report))
}

fn read_entry<R: Read + Seek>(input: &mut R, data_start: u64, e: &Entry) -> Result<Vec<u8>> {
    let len = usize::try_from(e.len())
        .map_err(|_| Error::Safetensors(format!("{:?} is too large for this platform", e.name)))?;
    input.seek(SeekFrom::Start(data_start + e.begin))?;
    let mut data = vec![0u8; len];
    input.read_exact(&mut data)?;
    Ok(data)
}

/// Writes the tensors of an `.elv` as a safetensors file. If the `.elv` carries the original
/// header and it still describes these tensors, it is written verbatim, so a lossless file
/// comes back byte for byte; otherwise a fresh header is built (tensors in file order).
pub fn decompress_to_safetensors<R: Read + Seek, W: Write>(
    reader: &mut Reader<R>,
    mut out: W,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<W> {
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
    let mut done = 0;
    for i in order {
        let data = reader.read_tensor(i)?;
        out.write_all(&data)?;
        done += data.len() as u64;
        progress(done, total);
    }
    out.flush()?;
    Ok(out)
}
