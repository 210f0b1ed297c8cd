//! Output buffers for decoded tensors: zeroed by the allocator (fresh pages from the system
//! for a large one, already zero), not by writing every byte before the decoder writes it
//! again, and reserved fallibly: a size this machine cannot hold is an error, not an abort.

use std::alloc::{alloc_zeroed, Layout};

/// A buffer of `len` zero bytes.
pub(crate) fn zeroed(len: u64) -> elv::Result<Vec<u8>> {
    let too_big = || {
        let kind = elv::ErrorKind::LimitExceeded;
        elv::Error::from(
            elv::elv_core::Error::bare(kind, "decoded bytes for this machine")
                .got_expected(len, usize::MAX as u64),
        )
    };
    let n = usize::try_from(len).map_err(|_| too_big())?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let layout = Layout::array::<u8>(n).map_err(|_| too_big())?;
    // SAFETY: `layout` has a non-zero size. A non-null pointer from the global allocator
    // with that layout (alignment 1, `n` bytes, all initialised to zero) is exactly what
    // `Vec::<u8>::from_raw_parts` with length and capacity `n` requires, and the Vec frees
    // it through the same allocator with the same layout.
    unsafe {
        let ptr = alloc_zeroed(layout);
        if ptr.is_null() {
            return Err(too_big());
        }
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}
