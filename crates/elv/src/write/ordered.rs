//! Work on the thread pool item by item, results handed over in order: no barrier between
//! batches, so a core that finishes early takes the next item instead of waiting for the
//! slowest item of its batch.

use crate::error::{Error, Result};
use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::channel;

/// Runs `work` on each item `next` gives, on the pool, while this thread fetches the next
/// items and hands finished ones to `done` in the order `next` gave them. At most `limit`
/// bytes (as `next` counts them) are fetched and not yet done, but always at least one item.
/// `next` is told how many items are fetched and not yet done. `state` is lent to `next`
/// and `done`, which run on this thread. The first error stops fetching and is returned
/// once the items already running have finished.
pub(crate) fn in_order<S, I: Send, O: Send>(
    state: &mut S,
    limit: u64,
    mut next: impl FnMut(&mut S, usize) -> Result<Option<(I, u64)>>,
    work: impl Fn(&I) -> Result<O> + Sync,
    mut done: impl FnMut(&mut S, I, O) -> Result<()>,
) -> Result<()> {
    let (tx, rx) = channel::<(usize, I, Result<O>)>();
    let work = &work;
    rayon::in_place_scope(|scope| {
        let mut sizes = VecDeque::new();
        let mut finished = BTreeMap::new();
        let (mut in_flight, mut fetched, mut handed) = (0u64, 0usize, 0usize);
        let mut exhausted = false;
        loop {
            while !exhausted && (in_flight < limit || fetched == handed) {
                let Some((item, bytes)) = next(state, fetched - handed)? else {
                    exhausted = true;
                    break;
                };
                in_flight += bytes;
                sizes.push_back(bytes);
                let (tx, k) = (tx.clone(), fetched);
                fetched += 1;
                scope.spawn(move |_| {
                    // A panic becomes an error here, or this thread would wait for its result
                    // forever.
                    let out = catch_unwind(AssertUnwindSafe(|| work(&item)))
                        .unwrap_or(Err(Error::Internal("a worker panicked")));
                    // The receiver outlives the scope, so the send cannot fail.
                    let _ = tx.send((k, item, out));
                });
            }
            if handed == fetched {
                return Ok(());
            }
            let (k, item, out) = rx
                .recv()
                .map_err(|_| Error::Internal("a worker vanished"))?;
            finished.insert(k, (item, out));
            while let Some((item, out)) = finished.remove(&handed) {
                done(state, item, out?)?;
                in_flight -= sizes.pop_front().unwrap_or(0);
                handed += 1;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_results_over_in_order_within_the_limit() {
        // Items that take longer the earlier they come, so they finish out of order.
        let mut log: Vec<(usize, usize)> = Vec::new();
        let mut n = 0;
        in_order(
            &mut log,
            30,
            |_, ahead| {
                assert!(ahead * 10 <= 30 || ahead == 0, "{ahead} items ahead");
                n += 1;
                Ok((n <= 20).then_some((n, 10)))
            },
            |&i| {
                std::thread::sleep(std::time::Duration::from_millis((20 - i as u64) / 4));
                Ok(i * 2)
            },
            |log, i, o| {
                log.push((i, o));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(log, (1..=20).map(|i| (i, 2 * i)).collect::<Vec<_>>());
    }

    #[test]
    fn an_error_or_panic_stops_it_and_is_returned() {
        for bad in [7, 9] {
            let mut done = 0;
            let mut n = 0;
            let r = in_order(
                &mut done,
                1 << 20,
                |_, _| {
                    n += 1;
                    Ok((n <= 100).then_some((n, 1)))
                },
                |&i| {
                    if i == 7 && bad == 7 {
                        return Err(Error::Internal("item 7"));
                    }
                    if i == 9 && bad == 9 {
                        panic!("item 9");
                    }
                    Ok(i)
                },
                |done, _, _| {
                    *done += 1;
                    Ok(())
                },
            );
            assert!(r.is_err(), "item {bad}");
            assert_eq!(done, bad - 1, "items before {bad} are handed over");
        }
    }
}
