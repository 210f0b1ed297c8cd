//! safetensors in, `.elv` out: the `elv compress` driver. Tensors go through the
//! [`Writer`] in batches encoded in parallel, reading the next batch and writing the previous
//! one while a batch encodes; a tensor larger than a batch is streamed in spans.

use crate::convert::folder::MemberInput;
use crate::convert::pytorch::{Checkpoint, Converted};
use crate::convert::safetensors::{self, Entry};
use crate::metadata::{member_mtimes_value, KEY_MEMBER_MTIMES};
use crate::metadata::{stored_metadata, KEY_SAFETENSORS_HEADER};
use crate::Base;
use crate::TensorData;
use crate::WriteOptions;
use crate::{Error, Result};
use crate::{Layout, Writer};
use crate::{Progress, Report, TensorReport};
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

/// Splits the entries into batches of about `batch_bytes`; a larger tensor is a batch alone
/// (streamed by [`Writer::add_tensor_from`]).
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

/// Compresses a safetensors stream into `.elv`. Tensors are read in batches of about 8 MiB
/// and encoded in parallel; reading the next batch and writing the previous one overlap the
/// encoding, and tensors are written in file order. The original header is kept in the
/// metadata so that a lossless file decompresses to the same bytes.
///
/// ```
/// use std::io::Cursor;
/// let st = std::fs::read("../../testdata/sample/minilm_sample.safetensors")?;
/// let (file, report) =
///     elv::compress_safetensors(Cursor::new(st), Vec::new(), &elv::WriteOptions::lossless())?;
/// assert_eq!(report.output_bytes, file.len() as u64);
/// assert!(report.tensors.iter().all(|t| t.error_bound_log2 == 0)); // every bit kept
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compress_safetensors<R: Read + Seek + Send, W: Write + Send>(
    input: R,
    output: W,
    opts: &WriteOptions,
) -> Result<(W, Report)> {
    compress_safetensors_with(input, output, opts, None, None)
}

/// [`compress_safetensors`] against a base model (SPEC.md §7.7–§7.9): each tensor with a twin
/// in `base` (same name, dtype and shape) is stored as a reference when identical, else as a
/// delta when that is smaller. Decoding the output needs the same base. `progress`, if
/// given, is called with (bytes done, bytes total).
pub fn compress_safetensors_with<R: Read + Seek + Send, W: Write + Send>(
    mut input: R,
    output: W,
    opts: &WriteOptions,
    base: Option<Arc<dyn Base>>,
    progress: Progress<'_>,
) -> Result<(W, Report)> {
    let mut silent = |_: u64, _: u64| {};
    let progress: &mut dyn FnMut(u64, u64) = progress.unwrap_or(&mut silent);
    let len = input.seek(SeekFrom::End(0))?;
    input.seek(SeekFrom::Start(0))?;
    let header = safetensors::read_header(&mut input, Some(len))?;
    let layout = Layout {
        collection: false,
        base,
    };
    let mut w = Writer::with_layout(output, *opts, layout)?;
    let mut meta = vec![(KEY_SAFETENSORS_HEADER.to_string(), header.raw.clone())];
    meta.extend(stored_metadata(header.metadata.iter().cloned()));
    let mut report = Report {
        input_bytes: len,
        ..Report::default()
    };
    add_safetensors(&mut w, &mut input, &header, opts, progress, &mut report)?;
    w.set_metadata(meta)?;
    let (out, written) = w.finish_len()?;
    report.output_bytes = written;
    Ok((out, report))
}

/// [`compress_safetensors_with`] for a PyTorch checkpoint (`torch.save`'s zip format:
/// `.bin`, `.pt`, `.pth`), read without torch and without running its pickle
/// ([`Checkpoint`]): the output is what compressing the equivalent safetensors file gives,
/// and decompresses to that file. The report's `input_bytes` is the checkpoint's size.
pub fn compress_pytorch_with<R: Read + Seek + Send, W: Write + Send>(
    mut input: R,
    output: W,
    opts: &WriteOptions,
    base: Option<Arc<dyn Base>>,
    progress: Progress<'_>,
) -> Result<(W, Report)> {
    let len = input.seek(SeekFrom::End(0))?;
    input.seek(SeekFrom::Start(0))?;
    let checkpoint = Checkpoint::open(input)?;
    let (out, mut report) = compress_safetensors_with(checkpoint, output, opts, base, progress)?;
    report.input_bytes = len;
    Ok((out, report))
}

/// Compresses weights in either format `compress` reads, told apart by their first bytes:
/// a PyTorch zip checkpoint ([`compress_pytorch_with`]) or safetensors
/// ([`compress_safetensors_with`]).
pub fn compress_weights_with<R: Read + Seek + Send, W: Write + Send>(
    mut input: R,
    output: W,
    opts: &WriteOptions,
    base: Option<Arc<dyn Base>>,
    progress: Progress<'_>,
) -> Result<(W, Report)> {
    let mut head = Vec::with_capacity(4);
    (&mut input).take(4).read_to_end(&mut head)?;
    input.seek(SeekFrom::Start(0))?;
    if crate::convert::pytorch::looks_like_zip(&head) {
        compress_pytorch_with(input, output, opts, base, progress)
    } else {
        compress_safetensors_with(input, output, opts, base, progress)
    }
}

/// Compresses several files into one `.elv` collection (a model folder: shards, index,
/// configs; SPEC.md §10.1): safetensors files as members whose tensors are encoded as by
/// [`compress_safetensors`], with dedup across all of them; other files byte for byte,
/// compressed. Memory stays bounded as for one file. `base` as in
/// [`compress_safetensors_with`], and so is `progress`.
pub fn compress_collection<W: Write + Send>(
    inputs: Vec<MemberInput>,
    output: W,
    opts: &WriteOptions,
    base: Option<Arc<dyn Base>>,
    progress: Progress<'_>,
) -> Result<(W, Report)> {
    let mut silent = |_: u64, _: u64| {};
    let progress: &mut dyn FnMut(u64, u64) = progress.unwrap_or(&mut silent);
    let layout = Layout {
        collection: true,
        base,
    };
    let mut w = Writer::with_layout(output, *opts, layout)?;
    if let Some(mtimes) = member_mtimes_value(inputs.iter().map(|m| (m.path.as_str(), m.modified)))
    {
        w.set_metadata(vec![(KEY_MEMBER_MTIMES.to_string(), mtimes)])?;
    }
    let mut inputs = inputs;
    let mut converted = crate::convert::pytorch::convert_in_folder(&mut inputs)?;
    let mut report = Report::default();
    let mut sizes = Vec::with_capacity(inputs.len());
    for m in &inputs {
        sizes.push(match &m.file {
            Some(f) => f.metadata()?.len(),
            None => 0,
        });
    }
    let total: u64 = sizes.iter().sum();
    let mut done = 0u64;
    for (m, len) in inputs.into_iter().zip(sizes) {
        report.input_bytes += len;
        let mut tick = |d: u64, _| progress(done + d, total);
        let Some(mut file) = m.file else {
            w.add_folder(&m.path)?;
            continue;
        };
        file.seek(SeekFrom::Start(0))?;
        if let Some(converted) = converted.remove(&m.path) {
            match converted {
                Converted::Checkpoint(mut c) => {
                    let header = c.header().clone();
                    w.begin_safetensors_member(&m.path, &header.raw)?;
                    add_safetensors(&mut w, &mut c, &header, opts, &mut tick, &mut report)
                        .map_err(|e| e.in_file(&m.path))?;
                }
                Converted::Index(bytes) => report.tensors.push(w.add_file(&m.path, &bytes)?),
            }
        } else if m.path.ends_with(".safetensors") {
            let header =
                safetensors::read_header(&mut file, Some(len)).map_err(|e| e.in_file(&m.path))?;
            w.begin_safetensors_member(&m.path, &header.raw)?;
            add_safetensors(&mut w, &mut file, &header, opts, &mut tick, &mut report)
                .map_err(|e| e.in_file(&m.path))?;
        } else if len > opts.batch_bytes {
            // A large file (a PyTorch checkpoint beside the safetensors, say) is streamed.
            let mut tw = w.file_writer(&m.path, len)?;
            std::io::copy(&mut (&mut file).take(len), &mut tw)?;
            report.tensors.push(tw.finish()?);
        } else {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            report.tensors.push(w.add_file(&m.path, &bytes)?);
        }
        done += len;
        progress(done, total);
    }
    let (out, written) = w.finish_len()?;
    report.output_bytes = written;
    Ok((out, report))
}

/// Adds the tensors of the safetensors stream `input` (whose header is `header`) to `w`, in
/// batches encoded in parallel while the next is read and the previous written; a tensor
/// larger than a batch is streamed in spans (its base twin, if any, beside it).
fn add_safetensors<R: Read + Seek + Send, W: Write + Send>(
    w: &mut Writer<W>,
    input: &mut R,
    header: &safetensors::Header,
    opts: &WriteOptions,
    progress: &mut dyn FnMut(u64, u64),
    report: &mut Report,
) -> Result<()> {
    let data_start = header.data_start();
    let total = header.data_len();
    let is_large = |b: &[Entry]| matches!(b, [e] if e.len() > opts.batch_bytes);
    let list = batches(&header.entries, opts.batch_bytes);
    let mut bi = 0;
    while let Some(&batch) = list.get(bi) {
        bi += 1;
        if is_large(batch) {
            for e in batch {
                let mut tick = |done: u64, _| progress(e.begin + done, total);
                let at = data_start + e.begin;
                let r =
                    w.add_tensor_from(&e.name, e.dtype, &e.shape, input, at, Some(&mut tick))?;
                report.tensors.push(r);
            }
            continue;
        }
        // A run of small tensors, up to the next large one: each is encoded on the pool as
        // soon as a core is free (no barrier between batches), read ahead up to two batches,
        // and written in file order.
        let mut run: Vec<&Entry> = batch.iter().collect();
        while let Some(&b) = list.get(bi).filter(|b| !is_large(b)) {
            run.extend(b);
            bi += 1;
        }
        let from = run.first().map_or(0, |e| e.begin);
        let tensors = run.into_iter().map(|e| {
            let data = read_entry(input, data_start, e)?;
            Ok((&e.name, TensorData::new(e.dtype, &e.shape, data)))
        });
        let mut done = from;
        let mut written = |r: &TensorReport| {
            done += r.original;
            progress(done, total);
        };
        report.tensors.extend(w.try_add_all(tensors, &mut written)?);
    }
    progress(total, total);
    Ok(())
}

/// The bytes of tensor `e` of a safetensors input whose data starts at `data_start`.
fn read_entry<R: Read + Seek>(input: &mut R, data_start: u64, e: &Entry) -> Result<Vec<u8>> {
    let len = usize::try_from(e.len())
        .map_err(|_| Error::input(Some(&e.name), "too large for this platform"))?;
    input.seek(SeekFrom::Start(data_start + e.begin))?;
    let mut data = Vec::new();
    data.try_reserve_exact(len)
        .map_err(|_| Error::input(Some(&e.name), "not enough memory"))?;
    input.take(e.len()).read_to_end(&mut data)?;
    if data.len() != len {
        return Err(Error::input(Some(&e.name), "input ends inside the tensor"));
    }
    Ok(data)
}
