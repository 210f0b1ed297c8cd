//! Adding tensors to a [`ContainerWriter`] (SPEC.md §6, §12): encoded here or by the
//! caller, whole or stream by stream.

use super::*;

impl<S: Sink> ContainerWriter<S> {
    #[doc(hidden)]
    /// Adds a tensor whose streams are already encoded (and possibly compressed): `streams`
    /// are all chunks' streams in order, `crc32` is the CRC of the decoded tensor bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn add_encoded_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        encoding: Encoding,
        chunk_len: u64,
        crc32: u32,
        streams: impl IntoIterator<Item = StoredStream>,
    ) -> core::result::Result<u32, S::Error> {
        self.begin_tensor(name, dtype, shape, encoding, chunk_len)?;
        for s in streams {
            self.push_stream(&s)?;
        }
        self.end_tensor(crc32)
    }

    #[doc(hidden)]
    /// Starts a tensor whose streams follow with [`push_stream`](Self::push_stream), for
    /// writing a large tensor chunk by chunk; [`end_tensor`](Self::end_tensor) completes it.
    pub fn begin_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        encoding: Encoding,
        chunk_len: u64,
    ) -> core::result::Result<(), S::Error> {
        if self.pending.is_some() {
            return Err(Error::bare(ErrorKind::InvalidInput, "a tensor is already open").into());
        }
        self.check_new_name(name)?;
        check_layout(dtype, shape, &self.limits)?;
        // check_layout has checked that the values fill whole bytes within the limit.
        let units = crate::dtype::tensor_bytes(dtype, shape).unwrap_or(0) / dtype.size() as u64;
        crate::tensor::check_chunk_len(encoding, dtype, units, chunk_len, &self.limits).map_err(
            |e| {
                Error::bare(ErrorKind::InvalidInput, e.what())
                    .got_expected(e.got().unwrap_or(chunk_len), e.expected().unwrap_or(0))
            },
        )?;
        let first_stream = self.entries.len() as u32;
        self.pending = Some(TensorInfo {
            name: String::from(name),
            dtype,
            shape: shape.to_vec(),
            encoding,
            error_bound_log2: encoding.error_bound_log2(dtype),
            crc32: 0,
            chunk_len,
            first_stream,
            dedup_of: None,
        });
        Ok(())
    }

    #[doc(hidden)]
    /// Writes the next stream of the open tensor.
    pub fn push_stream(&mut self, s: &StoredStream) -> core::result::Result<(), S::Error> {
        let Some(t) = &self.pending else {
            return Err(Error::bare(ErrorKind::InvalidInput, "no tensor is open").into());
        };
        // The stream's decoded length must be one a reader accepts for its chunk (§7).
        let spc = t.encoding.streams_per_chunk(t.dtype) as u64;
        let rel = self.entries.len() as u64 - u64::from(t.first_stream);
        let (c, k) = (rel / spc.max(1), (rel % spc.max(1)) as usize);
        if c >= t.chunk_count() {
            return Err(
                Error::bare(ErrorKind::InvalidInput, "more streams than the tensor has").into(),
            );
        }
        let n = t.chunk_values(c);
        if !t.encoding.stream_len_ok(t.dtype, n, k, s.decoded_len) {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "stream length impossible for its chunk (SPEC.md §7)",
            )
            .got_expected(s.decoded_len, t.encoding.max_stream_len(t.dtype, n, k))
            .into());
        }
        self.write_section(kind::STREAM, true, s)?;
        Ok(())
    }

    #[doc(hidden)]
    /// Completes the open tensor; `crc32` is the CRC of its decoded bytes. Checks the stream
    /// count against the encoding.
    pub fn end_tensor(&mut self, crc32: u32) -> core::result::Result<u32, S::Error> {
        let mut info = self
            .pending
            .take()
            .ok_or_else(|| Error::bare(ErrorKind::InvalidInput, "no tensor is open"))?;
        info.crc32 = crc32;
        let written = self.entries.len() as u64 - u64::from(info.first_stream);
        if written != info.stream_count() {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "stream count does not match the encoding",
            )
            .got_expected(written, info.stream_count())
            .into());
        }
        Ok(self.push_tensor(info))
    }

    pub(super) fn push_tensor(&mut self, info: TensorInfo) -> u32 {
        let index = self.tensors.len() as u32;
        self.names.insert(info.name.clone(), index);
        self.tensors.push(info);
        index
    }

    /// Encodes and adds a tensor with every stream stored uncompressed (codec `none`).
    pub fn add_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        data: &[u8],
        encoding: Encoding,
        chunk_len: u64,
    ) -> core::result::Result<u32, S::Error> {
        self.encode_and_add(name, dtype, shape, data, None, encoding, chunk_len)
    }

    /// Encodes and adds a tensor as `delta` or `elf_delta` against `base`, its twin's bytes
    /// (as long as `data`), every stream stored uncompressed. Record the twin with
    /// [`add_base_entry`](Self::add_base_entry).
    #[allow(clippy::too_many_arguments)]
    pub fn add_tensor_against(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        data: &[u8],
        base: &[u8],
        encoding: Encoding,
        chunk_len: u64,
    ) -> core::result::Result<u32, S::Error> {
        self.encode_and_add(name, dtype, shape, data, Some(base), encoding, chunk_len)
    }

    #[allow(clippy::too_many_arguments)]
    fn encode_and_add(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        data: &[u8],
        base: Option<&[u8]>,
        encoding: Encoding,
        chunk_len: u64,
    ) -> core::result::Result<u32, S::Error> {
        check_shape(dtype, shape, data.len())?;
        let t = encode_tensor(encoding, dtype, data, base, chunk_len)?;
        self.add_encoded_tensor(
            name,
            dtype,
            shape,
            encoding,
            t.chunk_len,
            t.crc32,
            t.streams.into_iter().map(StoredStream::plain),
        )
    }
}
