//! Ordered read-ahead across threads: positions `0..len` are read by whichever thread takes
//! them, at most `ahead` past the one being consumed, and consumed one after the other in order.
//! The consumer never waits idle while there is a position it may read itself, and never waits
//! for a window only it can move (the hang this module was written to end).

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Positions shared by readers and one consumer.
pub(super) struct ReadAhead<T> {
    len: usize,
    ahead: usize,
    state: Mutex<Progress<T>>,
    ready: Condvar,
}

struct Progress<T> {
    /// The next position no thread has taken.
    next: usize,
    /// The position being consumed.
    consuming: usize,
    /// Read and not yet consumed.
    done: BTreeMap<usize, T>,
    /// A reading thread panicked before putting what it took.
    abandoned: bool,
    /// The consumer stopped (it finished, or it panicked): readers stop too.
    closed: bool,
}

impl<T> ReadAhead<T> {
    pub(super) fn new(len: usize, ahead: usize) -> Self {
        ReadAhead {
            len,
            ahead,
            state: Mutex::new(Progress {
                next: 0,
                consuming: 0,
                done: BTreeMap::new(),
                abandoned: false,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Progress<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'g>(&self, guard: MutexGuard<'g, Progress<T>>) -> MutexGuard<'g, Progress<T>> {
        self.ready.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// Take `next` if it is within the window of `consuming`.
    fn try_take(&self, state: &mut Progress<T>) -> Option<usize> {
        (state.next < self.len && state.next <= state.consuming + self.ahead).then(|| {
            state.next += 1;
            state.next - 1
        })
    }

    /// For a reading thread: read positions until all are taken, waiting while the next one is
    /// too far ahead of the consumer.
    pub(super) fn read_all(&self, mut read: impl FnMut(usize) -> T) {
        loop {
            let pos = {
                let mut state = self.lock();
                loop {
                    // Stop when everything is taken, or when the window can no longer move:
                    // the consumer stopped, or another reader died and the consumer will too.
                    if state.next >= self.len || state.abandoned || state.closed {
                        return;
                    }
                    if let Some(pos) = self.try_take(&mut state) {
                        break pos;
                    }
                    state = self.wait(state);
                }
            };
            let mut guard = Abandon { shared: self };
            let value = read(pos);
            guard.put(pos, value);
        }
    }

    /// For the consumer: the value at `pos` (consumed in order, from 0), reading positions in
    /// the window itself while the one it needs is being read elsewhere.
    pub(super) fn get(&self, pos: usize, mut read: impl FnMut(usize) -> T) -> T {
        let mut state = self.lock();
        if state.consuming != pos {
            state.consuming = pos;
            // The window moved: readers waiting for it may go on.
            self.ready.notify_all();
        }
        loop {
            if let Some(value) = state.done.remove(&pos) {
                return value;
            }
            if let Some(taken) = self.try_take(&mut state) {
                drop(state);
                let value = read(taken);
                state = self.lock();
                state.done.insert(taken, value);
                continue;
            }
            assert!(
                !state.abandoned,
                "a reading thread panicked before handing over what it read"
            );
            // `pos` is being read by another thread, which notifies when it puts it.
            state = self.wait(state);
        }
    }

    /// A guard for the consumer to hold while it consumes: when it drops, also by a panic,
    /// reading threads stop instead of waiting for a window that no longer moves. Hold it in
    /// the scope whose end joins the readers.
    pub(super) fn consuming(&self) -> Consuming<'_, T> {
        Consuming { shared: self }
    }
}

/// See [`ReadAhead::consuming`].
pub(super) struct Consuming<'a, T> {
    shared: &'a ReadAhead<T>,
}

impl<T> Drop for Consuming<'_, T> {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

/// Puts a read value; if the reading thread panics first, tells the consumer rather than
/// leaving it waiting for a position that will never come.
struct Abandon<'a, T> {
    shared: &'a ReadAhead<T>,
}

impl<T> Abandon<'_, T> {
    fn put(&mut self, pos: usize, value: T) {
        let mut state = self.shared.lock();
        state.done.insert(pos, value);
        self.shared.ready.notify_all();
    }
}

impl<T> Drop for Abandon<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared.lock().abandoned = true;
            self.shared.ready.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `readers` reading threads and a consumer over `len` positions with a window of
    /// `ahead`; each read takes a varying short time. Returns what the consumer saw, in order.
    fn run(len: usize, ahead: usize, readers: usize, seed: u64) -> Vec<usize> {
        let shared = ReadAhead::new(len, ahead);
        let slow = |pos: usize| {
            // A cheap varying delay: some reads yield, a few sleep, so threads interleave in
            // every order the scheduler can produce.
            let x = (pos as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58;
            match x {
                0 => std::thread::sleep(Duration::from_micros(50)),
                1..=20 => std::thread::yield_now(),
                _ => {}
            }
            pos
        };
        std::thread::scope(|scope| {
            for _ in 0..readers {
                let shared = &shared;
                scope.spawn(move || shared.read_all(slow));
            }
            let _consuming = shared.consuming();
            (0..len).map(|pos| shared.get(pos, slow)).collect()
        })
    }

    /// Runs `f` on its own thread and fails the test if it has not finished within five
    /// minutes: a hang becomes a failure, not a stuck test run.
    fn within_minutes<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(f());
        });
        finished
            .recv_timeout(Duration::from_secs(300))
            .expect("the read-ahead hung")
    }

    #[test]
    fn every_position_is_consumed_once_in_order_whatever_the_interleaving() {
        // Finishing is part of the check: an earlier version of this hand-over could leave the
        // consumer and the readers all waiting for each other.
        within_minutes(|| {
            for seed in 0..200u64 {
                for (ahead, readers) in [(0, 1), (1, 1), (1, 3), (2, 2), (8, 3), (256, 1)] {
                    let len = 300 + (seed as usize % 7);
                    let seen = run(len, ahead, readers, seed);
                    assert_eq!(
                        seen,
                        (0..len).collect::<Vec<_>>(),
                        "ahead {ahead}, {readers} readers"
                    );
                }
            }
        });
    }

    /// Whether running `consume` against `readers` reading threads (which panic on the first
    /// position they read, if `readers_panic`) over 1,000 positions panics, rather than hangs.
    /// The consumer reads slowly, so readers always take positions it will need.
    fn panics(readers: usize, readers_panic: bool, consume: fn(usize)) -> bool {
        within_minutes(move || {
            std::panic::catch_unwind(|| {
                let shared = ReadAhead::new(1000, 256);
                std::thread::scope(|scope| {
                    for _ in 0..readers {
                        scope.spawn(|| {
                            shared.read_all(|pos| {
                                assert!(!readers_panic, "planted in a reader");
                                pos
                            })
                        });
                    }
                    let _consuming = shared.consuming();
                    for pos in 0..1000 {
                        shared.get(pos, |p| {
                            std::thread::sleep(Duration::from_micros(100));
                            p
                        });
                        consume(pos);
                    }
                })
            })
            .is_err()
        })
    }

    #[test]
    fn a_panic_on_either_side_reaches_the_caller_instead_of_hanging() {
        // A reader dies: the consumer fails when it needs that position, and the other
        // readers stop instead of waiting for a window that will not move.
        for readers in [1, 3] {
            assert!(panics(readers, true, |_| {}), "{readers} reader(s)");
        }
        // The consumer dies with most positions unread: the readers stop too.
        for readers in [1, 3] {
            assert!(
                panics(readers, false, |pos| assert!(
                    pos != 10,
                    "planted in the consumer"
                )),
                "{readers} reader(s)"
            );
        }
    }
}
