//! Decoder limits (SPEC.md §11): the most a decoder will accept before it allocates.
//!
//! With them a reader knows, before each step, the most memory the step can take: a chunk
//! is at most `max_chunk_bytes` decoded and each of its streams at most what §7 lets it hold
//! for that chunk; a table or metadata section at most `max_table_bytes`; and the whole
//! output of a file at most `max_decoded_bytes`.

/// Bounds a decoder enforces on what a file declares, checked before anything is allocated.
///
/// The defaults are at least the minimums SPEC.md §11 requires every decoder to support.
/// A value beyond a limit gives [`ErrorKind::LimitExceeded`](crate::ErrorKind::LimitExceeded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most sections in the section table. Default 2^24.
    pub max_sections: u32,
    /// Most tensors. Default 2^20.
    pub max_tensors: u32,
    /// Largest tensor rank. Default 64.
    pub max_rank: u8,
    /// Longest tensor name or metadata key, in bytes. Default 65,535.
    pub max_name_len: u32,
    /// Most metadata entries. Default 2^16.
    pub max_metadata_entries: u32,
    /// Largest decoded length of one section, in bytes. Default 2^32.
    pub max_section_bytes: u64,
    /// Largest decoded tensor, in bytes. Default 2^40.
    pub max_tensor_bytes: u64,
    /// Largest decoded chunk (chunk length × dtype size), in bytes. Default 2^25 (the
    /// reference writer's chunks are 2^20 values: 4 MiB of f32, 8 MiB of f64).
    pub max_chunk_bytes: u64,
    /// Largest decoded tensor table, dedup table or metadata section, in bytes. Default 2^28
    /// (a safetensors header, kept in the metadata, is at most 10^8 bytes).
    pub max_table_bytes: u64,
    /// Most decoded bytes of all the tensors of a file, a dedup reference counting its
    /// original's size again: what decoding the whole file writes. Default 2^41 (2 TiB);
    /// a service lowers it to bound what one file can make it write.
    pub max_decoded_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sections: 1 << 24,
            max_tensors: 1 << 20,
            max_rank: 64,
            max_name_len: 65_535,
            max_metadata_entries: 1 << 16,
            max_section_bytes: 1 << 32,
            max_tensor_bytes: 1 << 40,
            max_chunk_bytes: 1 << 25,
            max_table_bytes: 1 << 28,
            max_decoded_bytes: 1 << 41,
        }
    }
}

/// Checks `value <= limit`, or gives a `LimitExceeded` error naming `what` at `offset`.
pub(crate) fn check(value: u64, limit: u64, what: &'static str, offset: u64) -> crate::Result<()> {
    if value > limit {
        Err(
            crate::Error::new(crate::ErrorKind::LimitExceeded, what, offset)
                .got_expected(value, limit),
        )
    } else {
        Ok(())
    }
}
