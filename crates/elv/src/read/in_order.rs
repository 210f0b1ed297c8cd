//! The pipelined reader (SPEC.md §13): many tensors decoded in the order asked, batches of
//! small ones decoded in parallel while the next batch is read, a large one streamed in
//! spans of whole chunks, so memory stays a few batches whatever the tensor sizes.

use crate::error::{Error, Result};
use crate::overlap::{overlapped, span_bytes};
use crate::read::reader::Reader;
use crate::read::source::Source;
use crate::read::tensor::{for_each_span, Tensor};

impl<S: Source> Reader<S> {
    /// Decodes the tensors `which` (indices in file order, in the order they are wanted) and
    /// hands their bytes to `each`, in that order: small tensors together, about `batch_bytes`
    /// a batch, decoded in parallel while the next batch is read; a tensor larger than a batch
    /// in spans of whole chunks of about half of it. The spans `each` receives, joined in the
    /// order received, are the tensors' bytes one after another (a small tensor is always one
    /// span). Every tensor's CRC is checked. `each` returns `false` to stop; the result says
    /// whether every tensor was handed over.
    ///
    /// ```
    /// let w = [0.5f32, -0.25, 3.0];
    /// let file = elv::serialize(
    ///     [("a", elv::TensorData::f32(&[3], &w)), ("b", elv::TensorData::f32(&[1], &w[..1]))],
    ///     None,
    ///     &elv::WriteOptions::lossless(),
    /// )?;
    /// let reader = elv::Reader::from_bytes(file)?;
    /// let mut bytes = Vec::new();
    /// reader.decode_in_order(&[1, 0], 1 << 20, &mut |spans| {
    ///     spans.iter().for_each(|p| bytes.extend_from_slice(p));
    ///     true
    /// })?;
    /// assert_eq!(bytes.len(), 16); // b, then a
    /// assert_eq!(&bytes[..4], &0.5f32.to_le_bytes());
    /// # Ok::<(), elv::Error>(())
    /// ```
    pub fn decode_in_order(
        &self,
        which: &[usize],
        batch_bytes: u64,
        each: &mut dyn FnMut(Vec<Vec<u8>>) -> bool,
    ) -> Result<bool> {
        let tensors = which
            .iter()
            .map(|&i| {
                self.tensor(i)
                    .ok_or_else(|| Error::input(None, format!("no tensor {i}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let batches = plan_batches(&tensors, batch_bytes);
        let absolute = |b: &[usize]| -> Vec<usize> {
            b.iter().filter_map(|&k| which.get(k).copied()).collect()
        };
        let large_of = |b: &[usize]| match b {
            [k] if tensors.get(*k).is_some_and(|t| t.byte_len() > batch_bytes) => tensors.get(*k),
            _ => None,
        };
        let engine = self.engine();
        let mut bi = 0;
        while let Some(b) = batches.get(bi) {
            bi += 1;
            if let Some(t) = large_of(b) {
                if !for_each_span(t, span_bytes(batch_bytes), &mut |p| Ok(each(vec![p])))? {
                    return Ok(false);
                }
                continue;
            }
            // A run of batches of small tensors: each decodes while the next is read and the
            // one before is handed over.
            let mut stopped = false;
            let last = overlapped(
                engine.read_batch(&absolute(b))?,
                |previous, _| {
                    if let Some((_, decoded)) = previous {
                        if !each(decoded) {
                            stopped = true;
                            return Ok(None);
                        }
                    }
                    match batches.get(bi) {
                        Some(nb) if large_of(nb).is_none() => {
                            bi += 1;
                            engine.read_batch(&absolute(nb)).map(Some)
                        }
                        _ => Ok(None),
                    }
                },
                |batch| batch.decode(),
            )?;
            if stopped {
                return Ok(false);
            }
            if let Some((_, decoded)) = last {
                if !each(decoded) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

/// `tensors` (by position) in batches of about `batch_bytes`; a tensor larger than a batch
/// is a batch alone, streamed by spans.
fn plan_batches<S: Source>(tensors: &[Tensor<'_, S>], batch_bytes: u64) -> Vec<Vec<usize>> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0u64;
    for (i, t) in tensors.iter().enumerate() {
        let len = t.byte_len();
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
    batches
}
