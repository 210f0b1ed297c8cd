//! Decoder limits (SPEC.md §11): the most a decoder will accept before it allocates.

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
