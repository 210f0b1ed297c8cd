//! Output buffers for decoded tensors: zeroed by the allocator (fresh pages from the system
//! for a large one, already zero), not by writing every byte before the decoder writes it
//! again, and reserved fallibly: a size this machine cannot hold is an error, not an abort.
#![allow(unsafe_code)]

use std::alloc::{alloc_zeroed, Layout};

/// A buffer of `len` zero bytes for [`Tensor::decode_into`](crate::Tensor::decode_into)
/// or [`Reader::decode_many_into`](crate::Reader::decode_many_into): zeroed by the
/// allocator (a large one is fresh pages, zero already, so nothing is written twice), and
/// `LimitExceeded` rather than an abort when this machine cannot hold it.
pub fn zeroed_buffer(len: u64) -> crate::Result<Vec<u8>> {
    let too_big = || {
        let kind = elv_core::ErrorKind::LimitExceeded;
        crate::Error::from(
            elv_core::Error::bare(kind, "decoded bytes for this machine")
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

#[cfg(test)]
mod tests {
    use super::zeroed_buffer;

    #[test]
    fn buffers_are_zero_and_impossible_sizes_are_errors() {
        assert!(zeroed_buffer(0).unwrap().is_empty());
        let b = zeroed_buffer(3 << 20).unwrap();
        assert!(b.len() == 3 << 20 && b.iter().all(|&x| x == 0));
        for len in [u64::MAX, isize::MAX as u64] {
            let e = zeroed_buffer(len).unwrap_err();
            assert_eq!(e.kind(), Some(elv_core::ErrorKind::LimitExceeded), "{e}");
        }
    }
}
