//! A counting global allocator for tests that bound what a reader allocates: a test binary
//! installs it with `#[global_allocator] static A: counting::Counting = counting::Counting;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Counts live bytes and the peak since the last [`peak_during`].
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Held by every measuring test, so that tests running in parallel do not count each other.
pub static SERIAL: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        // A failed allocation (null) takes nothing.
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::SeqCst) + l.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::SeqCst);
        unsafe { System.dealloc(p, l) }
    }
}

/// Peak bytes allocated above the starting level while `f` runs. The global rayon pool is
/// started first: its workers allocate their queues once, on whichever thread first needs
/// them, and that one-time cost (about 100 KiB here) belongs to no reader.
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    rayon::broadcast(|_| ());
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let v = f();
    (v, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}
