//! The one overlap of the drivers: while an item is worked on (encoded or decoded, on the
//! thread pool), this thread hands over the previous item's output (writes it) and fetches
//! the next item (reads ahead).

use crate::error::{Error, Result};

/// Runs `work` on `first` and each item after it while `io` runs beside it: `io` is given
/// the previous item with its output (to write the output and reuse the item's buffers) and
/// the item being worked on, and gives the next item, or `None` to stop. Gives the last item
/// with its output, which `io` has not seen. Errors from `work` come before errors from `io`.
/// With one worker thread the two run one after the other, in the same order.
pub(crate) fn overlapped<I: Send + Sync, O: Send>(
    first: I,
    mut io: impl FnMut(Option<(I, O)>, &I) -> Result<Option<I>>,
    work: impl Fn(&I) -> Result<O> + Sync,
) -> Result<Option<(I, O)>> {
    let mut current = Some(first);
    let mut previous = None;
    while let Some(item) = current.take() {
        let handed = previous.take();
        // `work` goes to the pool; `io` runs on this thread, so it need not be `Send` (the
        // input and output it holds usually are not shared).
        let mut out = None;
        let next = rayon::in_place_scope(|s| {
            s.spawn(|_| out = Some(work(&item)));
            io(handed, &item)
        });
        // The scope returns only once the spawned work has run.
        let out = out.ok_or(Error::Internal("overlapped work did not run"))??;
        current = next?;
        previous = Some((item, out));
    }
    Ok(previous)
}

/// Span size for streaming a large tensor: half a batch, a multiple of 8 bytes.
pub(crate) fn span_bytes(batch_bytes: u64) -> u64 {
    (batch_bytes / 16).max(1) * 8
}
