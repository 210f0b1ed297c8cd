//! Part of a tensor: a byte range or a run of rows of its first axis, decoding only the
//! chunks that hold it (tensor-parallel loading, base twins read by range).

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use crate::error::{Error, Result};
use crate::read::fetch::decode_span;
use crate::read::source::Source;
use crate::read::tensor::Tensor;

impl<S: Source> Tensor<'_, S> {
    /// Values per chunk as stored (SPEC.md §6.4), the unit [`read_rows`](Self::read_rows)
    /// and [`read_range`](Self::read_range) decode in (the original's for a `dedup` tensor);
    /// 0 for an empty tensor or one stored as `base`, which has no chunks of its own.
    pub fn chunk_len(&self) -> u64 {
        self.storage().map_or(0, |s| s.chunk_len)
    }

    /// `len` bytes of the decoded tensor from byte `offset`, decoding only the chunks that
    /// hold them: a row range of a sharded weight, a span of a base twin. Each section read
    /// is checked against its CRC; the tensor's own CRC covers the whole tensor, so it is
    /// checked by [`to_vec`](Self::to_vec) and [`Reader::verify`](crate::Reader::verify),
    /// not here. A range beyond the tensor is `InvalidInput`.
    pub fn read_range(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let info = self.storage()?;
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= info.byte_len())
            .ok_or_else(|| {
                let size = info.byte_len();
                let why = format!("bytes {offset}..+{len} lie beyond the tensor's {size}");
                Error::input(Some(self.name()), why)
            })?;
        if len == 0 {
            return Ok(Vec::new());
        }
        if let Some(twin) = self.base_ref()? {
            return twin.with_range(offset, len, <[u8]>::to_vec);
        }
        let chunk_bytes = info.chunk_len.max(1) * info.dtype.size() as u64;
        let first = offset / chunk_bytes;
        let span = self
            .reader
            .span(self.index, first..end.div_ceil(chunk_bytes))?;
        let mut out = crate::buffer::zeroed_buffer(span.decoded_len())?;
        let verify = self.reader.verify_checksums();
        decode_span(self.reader.catalog().index(), &span, &mut out, verify)?;
        let skip = usize::try_from(offset - first * chunk_bytes)
            .map_err(|_| Error::Internal("range start beyond a span"))?;
        out.drain(..skip.min(out.len()));
        out.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(out)
    }

    /// Rows `rows` of the tensor's first axis (each row the product of the other axes'
    /// lengths, in values), decoding only the chunks that hold them: a rank's shard in
    /// tensor-parallel loading. As [`read_range`](Self::read_range) over those rows' bytes; a
    /// row range beyond the first axis, or a scalar, is `InvalidInput`.
    ///
    /// ```
    /// use elv::{Choice, DType, Reader, WriteOptions, Writer};
    /// let values: Vec<u8> = (0..12i32).flat_map(|v| v.to_le_bytes()).collect();
    /// let mut w = Writer::new(Vec::new(), WriteOptions::lossless())?;
    /// w.add_tensor("w", DType::I32, &[4, 3], &values, Choice::Auto)?;
    /// let reader = Reader::from_bytes(w.finish()?)?;
    /// let rows = reader.get("w").unwrap().read_rows(1..3)?;
    /// assert_eq!(rows, values[12..36]); // rows 1 and 2: values 3..9
    /// # Ok::<(), elv::Error>(())
    /// ```
    pub fn read_rows(&self, rows: std::ops::Range<u64>) -> Result<Vec<u8>> {
        let shape = self.shape();
        let Some(&first) = shape.first() else {
            return Err(Error::input(Some(self.name()), "a scalar has no rows"));
        };
        if rows.start > rows.end || rows.end > first {
            let why = format!(
                "rows {}..{} of a first axis of {first}",
                rows.start, rows.end
            );
            return Err(Error::input(Some(self.name()), why));
        }
        // The byte length was checked at open, so a row is an exact part of it, except for
        // sub-byte values (F4, F6), whose rows may not fill whole bytes.
        let row_bytes = self.byte_len().checked_div(first).unwrap_or(0);
        if row_bytes.saturating_mul(first) != self.byte_len() {
            let why = format!(
                "a row of {} values does not fill whole bytes",
                self.dtype().name()
            );
            return Err(Error::input(Some(self.name()), why));
        }
        self.read_range(rows.start * row_bytes, (rows.end - rows.start) * row_bytes)
    }
}
