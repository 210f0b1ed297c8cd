//! The pipelined writer (SPEC.md §12): tensors taken from an iterator as room allows, each
//! encoded on the pool as soon as a core is free, written in the order given, dedup (HD,
//! §9) decided in that order as each is taken.

use crate::error::{Error, Result};
use crate::write::dedup;
use crate::write::ordered::in_order;
use crate::write::report::TensorReport;
use crate::write::serialize::TensorData;
use crate::write::writer::{pack_choice, twin_of, Choice, NamedTensor, Writer};
use elv_core::engine::writer::check_shape;
use std::io::Write;

impl<W: Write> Writer<W> {
    /// Adds `tensors` in the order given, with automatic choice, as [`serialize`] does:
    /// encoded in parallel as cores free up (about two batches of
    /// [`WriteOptions::batch_bytes`](crate::WriteOptions::batch_bytes) ahead at most), so
    /// memory stays bounded however many tensors the iterator yields.
    ///
    /// [`serialize`]: crate::serialize()
    ///
    /// ```
    /// use elv::{TensorData, WriteOptions, Writer};
    /// let rows: Vec<Vec<f32>> = (0..8).map(|r| vec![r as f32 / 8.0; 256]).collect();
    /// let mut writer = Writer::new(Vec::new(), WriteOptions::lossless())?;
    /// let tensors = rows.iter().enumerate().map(|(i, r)| (format!("row{i}"), TensorData::f32(&[256], r)));
    /// let reports = writer.add_all(tensors)?;
    /// assert_eq!(reports.len(), 8);
    /// let reader = elv::Reader::from_bytes(writer.finish()?)?;
    /// assert_eq!(reader.get("row3").unwrap().to_values::<f32>()?, rows[3]);
    /// # Ok::<(), elv::Error>(())
    /// ```
    pub fn add_all<'a, N: AsRef<str> + Send>(
        &mut self,
        tensors: impl IntoIterator<Item = (N, TensorData<'a>)>,
    ) -> Result<Vec<TensorReport>> {
        self.try_add_all(tensors.into_iter().map(Ok), &mut |_| {})
    }

    /// [`add_all`](Self::add_all) over tensors that may fail to arrive (read from a file, say):
    /// the first error stops the writer and is returned. `written` is told each tensor's
    /// report as it is written, in order.
    pub fn try_add_all<'a, N: AsRef<str> + Send>(
        &mut self,
        tensors: impl IntoIterator<Item = Result<(N, TensorData<'a>)>>,
        written: &mut dyn FnMut(&TensorReport),
    ) -> Result<Vec<TensorReport>> {
        self.check_usable()?;
        let opts = *self.options();
        let base = self.base_arc();
        let mut tensors = tensors.into_iter();
        let mut reports = Vec::new();
        in_order(
            self,
            2 * opts.batch_bytes,
            |w, ahead| {
                let Some(next) = tensors.next() else {
                    return Ok(None);
                };
                let (name, t) = next?;
                check_shape(t.dtype, &t.shape, t.data.len())
                    .map_err(|e| Error::input(Some(name.as_ref()), e))?;
                // HD in the order given: this tensor's index follows those written and ahead.
                let mut dup = None;
                if opts.dedup && !t.data.is_empty() {
                    let key = dedup::content_key(t.dtype, &t.shape, &t.data);
                    let index = (w.tensor_count() + ahead) as u32;
                    match w.seen().get(&key) {
                        Some(canon) => dup = Some(canon),
                        None => w.seen().insert(key, index),
                    }
                }
                let len = t.data.len() as u64;
                Ok(Some(((name, t, dup), len)))
            },
            |(name, t, dup)| {
                if dup.is_some() {
                    return Ok(None);
                }
                let t = NamedTensor {
                    name: name.as_ref(),
                    dtype: t.dtype,
                    shape: &t.shape,
                    data: &t.data,
                };
                let twin = twin_of(base.as_deref(), &t)?;
                pack_choice(&t, twin.as_deref(), Choice::Auto, &opts)
                    .map(Some)
                    .map_err(Error::from_writer(Some(t.name)))
            },
            |w, (name, t, dup), packed| {
                let r = w.write_one(name.as_ref(), t.dtype, &t.shape, dup, packed)?;
                written(&r);
                reports.push(r);
                Ok(())
            },
        )?;
        Ok(reports)
    }
}
