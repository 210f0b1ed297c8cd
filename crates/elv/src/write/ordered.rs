//! Work on the thread pool item by item, results handed over in order: no barrier between
//! batches, so a core that finishes early takes the next item instead of waiting for the
//! slowest item of its batch.

use crate::error::{Error, Result};
use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

/// The next finished item. On a thread of a rayon pool (a caller inside `pool.install`) this
/// thread runs queued work while it waits instead of blocking: in a one-thread pool it is the
/// only worker, and blocking would wait forever for items nobody runs.
fn receive<T>(rx: &Receiver<T>) -> Result<T> {
    let vanished = || Error::Internal("a worker vanished");
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(vanished()),
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
        }
        match rayon::yield_now() {
            // Not a pool thread: the pool runs the items; wait for one.
            None => return rx.recv().map_err(|_| vanished()),
            Some(rayon::Yield::Executed) => {}
            // Nothing queued: the items run on other threads; wait a little for one.
            Some(rayon::Yield::Idle) => match rx.recv_timeout(Duration::from_millis(1)) {
                Ok(v) => return Ok(v),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(vanished()),
            },
        }
    }
}

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
            let (k, item, out) = receive(&rx)?;
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

    /// Called from inside a one-thread pool (Python's `threads=1`, a library caller's
    /// `pool.install`), the caller is the pool's only worker: it must run the items itself.
    #[test]
    fn runs_inside_a_one_thread_pool() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let mut sum = 0;
            let mut n = 0;
            let r = pool.install(|| {
                in_order(
                    &mut sum,
                    1 << 20,
                    |_, _| {
                        n += 1;
                        Ok((n <= 50).then_some((n, 1)))
                    },
                    |&i| Ok(i * 2),
                    |sum, _, o| {
                        *sum += o;
                        Ok(())
                    },
                )
            });
            let _ = tx.send(r.map(|()| sum));
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(
            got.expect("finished within a minute").unwrap(),
            2 * (1..=50).sum::<i32>()
        );
    }

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
