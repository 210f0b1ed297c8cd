//! `.elv` in, safetensors out: the `elv decompress` driver. Batches of tensors decode in
//! parallel while the next batch is read and a writer thread writes the previous one; a
//! tensor larger than a batch is decoded in spans.

use crate::convert::safetensors;
use crate::metadata::KEY_SAFETENSORS_HEADER;
use crate::Progress;
use crate::Reader;
use crate::Source;
use crate::Tensor;
use crate::DEFAULT_DECODE_BATCH_BYTES;
use crate::{Error, Result};
use elv_core::DType;
use elv_core::MemberKind;
use std::io::Write;

/// Writes the tensors of an `.elv` as a safetensors file. If the `.elv` carries the original
/// header and it still describes these tensors, it is written verbatim, so a lossless file
/// comes back byte for byte; otherwise a fresh header is built (tensors in file order), with
/// [`Reader::metadata`] as `__metadata__`. A collection (a model folder, SPEC.md §10.1) is
/// not one safetensors file: it is refused, see [`decompress_member`].
///
/// ```
/// let w = [0.5f32, -0.25];
/// let file = elv::serialize([("w", elv::TensorData::f32(&[2], &w))], None, &Default::default())?;
/// let st = elv::decompress_to_safetensors(&elv::Reader::from_bytes(file)?, Vec::new())?;
/// assert_eq!(&st[st.len() - 8..], [&w[0].to_le_bytes()[..], &w[1].to_le_bytes()].concat());
/// # Ok::<(), elv::Error>(())
/// ```
pub fn decompress_to_safetensors<S: Source, W: Write + Send>(
    reader: &Reader<S>,
    out: W,
) -> Result<W> {
    decompress_to_safetensors_with(reader, out, DEFAULT_DECODE_BATCH_BYTES, None)
}

/// [`decompress_to_safetensors`] with `batch_bytes` of tensors decoded together (a larger
/// tensor is decoded in spans of about half this, so memory stays a few times `batch_bytes`) and
/// `progress`, if given, called with (bytes done, bytes total).
pub fn decompress_to_safetensors_with<S: Source, W: Write + Send>(
    reader: &Reader<S>,
    out: W,
    batch_bytes: u64,
    progress: Progress<'_>,
) -> Result<W> {
    if !reader.members().is_empty() {
        return Err(Error::input(
            None,
            format!(
                "a collection of {} files (a model folder) is not one safetensors file: \
                 write it as a folder, each member with decompress_member",
                reader.members().len()
            ),
        ));
    }
    let mut silent = |_: u64, _: u64| {};
    let progress: &mut dyn FnMut(u64, u64) = progress.unwrap_or(&mut silent);
    reader.check_padding()?;
    let tensors: Vec<Tensor<'_, S>> = reader.iter().collect();
    let original = reader
        .metadata_value(KEY_SAFETENSORS_HEADER)
        .filter(|raw| raw.len() as u64 <= safetensors::MAX_HEADER_LEN)
        .and_then(|raw| safetensors::parse_header_json(raw.to_string()).ok());
    let meta = reader.metadata();
    let find = |name: &str| reader.get(name);
    write_safetensors(
        reader,
        &tensors,
        original,
        &meta,
        &find,
        out,
        batch_bytes,
        progress,
    )
}

/// Writes member `m` of a collection (SPEC.md §10.1) to `out`: a safetensors member as its
/// original file (its header verbatim when it still describes the tensors, so a lossless
/// member comes back byte for byte), a file member as its bytes. Reads only that member.
pub fn decompress_member<S: Source, W: Write + Send>(
    reader: &Reader<S>,
    m: usize,
    mut out: W,
    progress: Progress<'_>,
) -> Result<W> {
    let mut silent = |_: u64, _: u64| {};
    let progress: &mut dyn FnMut(u64, u64) = progress.unwrap_or(&mut silent);
    let member = reader
        .members()
        .get(m)
        .ok_or_else(|| Error::input(None, "no such member"))?;
    let tensors: Vec<Tensor<'_, S>> = (member.tensors.start..member.tensors.end)
        .filter_map(|i| reader.tensor(i as usize))
        .collect();
    if member.kind == MemberKind::Folder {
        return Err(Error::input(
            None,
            format!("member {:?} is a folder, not a file", member.path),
        ));
    }
    if member.kind == MemberKind::File {
        let total: u64 = tensors.iter().map(|t| t.byte_len()).sum();
        let which: Vec<usize> = tensors.iter().map(|t| t.index()).collect();
        let (mut done, mut failed) = (0u64, None);
        reader.decode_in_order(&which, DEFAULT_DECODE_BATCH_BYTES, &mut |spans| {
            for p in spans {
                if let Err(e) = out.write_all(&p) {
                    failed = Some(e);
                    return false;
                }
                done += p.len() as u64;
                progress(done, total);
            }
            true
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        out.flush()?;
        return Ok(out);
    }
    // A stored header beyond safetensors' limit is not written back (a fresh one is, as for
    // a whole file): safetensors would refuse the file.
    let original = Some(&member.header)
        .filter(|h| h.len() as u64 <= safetensors::MAX_HEADER_LEN)
        .and_then(|h| safetensors::parse_header_json(h.clone()).ok());
    let find = |name: &str| reader.get_in(m, name);
    let batch = DEFAULT_DECODE_BATCH_BYTES;
    write_safetensors(reader, &tensors, original, &[], &find, out, batch, progress)
}

/// Writes `tensors` (of `reader`) as a safetensors file: with the `original` header verbatim
/// if it describes exactly these tensors (found by name with `find`), else a fresh header
/// (tensors in order, `meta` as `__metadata__`). The tensors are decoded by
/// [`Reader::decode_in_order`] while a thread of its own writes the batch before.
#[allow(clippy::too_many_arguments)]
fn write_safetensors<'r, S: Source, W: Write + Send>(
    reader: &'r Reader<S>,
    tensors: &[Tensor<'r, S>],
    original: Option<safetensors::Header>,
    meta: &[(String, String)],
    find: &dyn Fn(&str) -> Option<Tensor<'r, S>>,
    mut out: W,
    batch_bytes: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<W> {
    let (raw, order) = header_and_order(tensors, original, meta, find)?;
    safetensors::write_header(&mut out, &raw)?;
    let which: Vec<usize> = order
        .iter()
        .filter_map(|&i| tensors.get(i).map(|t| t.index()))
        .collect();
    let total: u64 = tensors.iter().map(|t| t.byte_len()).sum();
    let mut done = 0u64;
    let mut out_slot: Option<W> = None;
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
        // Hands decoded spans to the writer thread; false once it has gone (its error is
        // reported below).
        let mut send = |decoded: Vec<Vec<u8>>| -> bool {
            done += decoded.iter().map(|d| d.len() as u64).sum::<u64>();
            let sent = tx.send(decoded).is_ok();
            progress(done, total);
            sent
        };
        let decoded = reader.decode_in_order(&which, batch_bytes, &mut send);
        drop(tx);
        let written = writer
            .join()
            .map_err(|_| Error::Io(std::io::Error::other("writer thread panicked")))?;
        decoded?;
        out_slot = Some(written?);
        Ok(())
    })?;
    let mut out = out_slot.ok_or_else(|| Error::Io(std::io::Error::other("no output")))?;
    out.flush()?;
    Ok(out)
}

/// The header to write and the order of the tensors in the data area (indices into
/// `tensors`): the `original` header verbatim when it describes exactly these tensors, else
/// a fresh one in file order with `meta` as `__metadata__`.
fn header_and_order<'r, S: Source>(
    tensors: &[Tensor<'r, S>],
    original: Option<safetensors::Header>,
    meta: &[(String, String)],
    find: &dyn Fn(&str) -> Option<Tensor<'r, S>>,
) -> Result<(String, Vec<usize>)> {
    // `__metadata__` is the header's metadata key: safetensors cannot hold such a tensor.
    if let Some(t) = tensors.iter().find(|t| t.name() == "__metadata__") {
        return Err(Error::input(
            Some(t.name()),
            "a safetensors file cannot hold a tensor of this name (it is the metadata key); \
             read it with the library or `elv extract`",
        ));
    }
    let first = tensors.first().map_or(0, |t| t.index());
    let matches = |h: &safetensors::Header| {
        h.entries.len() == tensors.len()
            && h.entries.iter().all(|e| {
                find(&e.name).is_some_and(|t| t.dtype() == e.dtype && t.shape() == e.shape)
            })
    };
    Ok(match original {
        Some(h) if matches(&h) => {
            let order = h
                .entries
                .iter()
                .filter_map(|e| find(&e.name).map(|t| t.index() - first))
                .collect();
            (h.raw, order)
        }
        _ => {
            let list: Vec<(String, DType, Vec<u64>)> = tensors
                .iter()
                .map(|t| (t.name().to_owned(), t.dtype(), t.shape().to_vec()))
                .collect();
            (
                safetensors::build_header(&list, meta),
                (0..tensors.len()).collect(),
            )
        }
    })
}
