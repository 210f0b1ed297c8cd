//! Output buffers for decoded tensors: zeroed by the allocator (fresh pages from the system
//! for a large one, already zero), not by writing every byte before the decoder writes it
//! again, and reserved fallibly: a size this machine cannot hold is an error, not an abort.
#![allow(unsafe_code)]

use std::alloc::{alloc_zeroed, Layout};

/// A buffer of `len` zero bytes for [`Tensor::decode_into`](crate::Tensor::decode_into)
/// or [`Reader::decode_many_into`](crate::Reader::decode_many_into): zeroed by the
/// allocator (a large one is fresh pages, zero already, so nothing is written twice), and
/// `LimitExceeded` rather than an abort when this machine cannot hold it. On Linux a buffer
/// of 4 MiB or more asks for transparent huge pages (`MADV_HUGEPAGE`).
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
        advise_huge_pages(ptr, n);
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}

/// Buffers at least this large ask for huge pages.
const HUGE_PAGE_MIN: usize = 4 << 20;

/// Asks the kernel to back the whole 2 MiB pages inside a fresh buffer with huge pages
/// (Linux, where transparent huge pages are `madvise`d): its first touch then costs a fault
/// per 2 MiB, not per 4 KiB, which was the larger part of filling a fresh buffer here. Only
/// advice: where the kernel declines, the buffer is the same.
#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *mut u8, n: usize) {
    const HUGE: usize = 2 << 20;
    if n < HUGE_PAGE_MIN {
        return;
    }
    let addr = ptr as usize;
    let start = addr.next_multiple_of(HUGE);
    let end = (addr + n) & !(HUGE - 1);
    if end > start {
        // SAFETY: `start..end` lies inside the allocation of `n` bytes at `ptr`, which the
        // caller owns; MADV_HUGEPAGE changes how its pages are backed, never their contents.
        let _ = unsafe {
            rustix::mm::madvise(
                start as *mut std::ffi::c_void,
                end - start,
                rustix::mm::Advice::LinuxHugepage,
            )
        };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_ptr: *mut u8, _n: usize) {}

#[cfg(test)]
mod tests {
    use super::zeroed_buffer;

    #[test]
    fn buffers_are_zero_and_impossible_sizes_are_errors() {
        assert!(zeroed_buffer(0).unwrap().is_empty());
        // Below and above the size that asks for huge pages, at odd lengths: the advice
        // covers only whole 2 MiB pages inside the buffer and leaves its bytes zero.
        for len in [3 << 20, (9 << 20) + 4095] {
            let mut b = zeroed_buffer(len).unwrap();
            assert!(b.len() == len as usize && b.iter().all(|&x| x == 0));
            b.iter_mut().enumerate().for_each(|(i, x)| *x = i as u8);
            assert!(b.iter().enumerate().all(|(i, &x)| x == i as u8));
        }
        for len in [u64::MAX, isize::MAX as u64] {
            let e = zeroed_buffer(len).unwrap_err();
            assert_eq!(e.kind(), Some(elv_core::ErrorKind::LimitExceeded), "{e}");
        }
    }
}
