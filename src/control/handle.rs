//! A loop on a thread of its own: [`ControlLoop::spawn`] and the [`Handle`]
//! it returns.
//!
//! # Waiting without holding a lock
//!
//! Every method of [`Handle`] takes `&self`, so one handle can be shared
//! (in an `Arc`) by any number of threads: one stopping the loop while
//! others poll [`is_running`](Handle::is_running) or read
//! [`stats`](Handle::stats), and the loop's own tick reading them too. No
//! method holds a lock across a wait for the loop thread:
//!
//! - `is_running`, `stats` and `request_stop` are atomics only.
//! - `wait` sleeps on a condition variable whose mutex guards one `bool`;
//!   the loop thread takes that mutex only to set the `bool` when it ends,
//!   after it has dropped its tick (and whatever foreign objects the tick
//!   held).
//! - `stop` waits as `wait` does, then takes the thread's `JoinHandle` out
//!   of its mutex and joins it with no lock held; the outcome is kept so
//!   that every later `stop` returns the same.
//!
//! A timeout too large to add to `Instant::now()` waits for ever.

use super::runner::{panic_message, run, ControlLoop, Startup, Tick, TickResult};
use super::stats::{LoopCounters, LoopStats};
use super::LoopConfig;
use crate::sync::{lock, Arc, Condvar, Mutex};
use crate::Error;
use std::time::{Duration, Instant};

impl<F: FnMut(&Tick) -> TickResult + Send + 'static> ControlLoop<F> {
    /// Starts a loop on a new thread named `config.name`. Returns once the
    /// real-time settings are applied: [`Error::RealTime`] under the strict
    /// policy if one was refused (the thread has then exited).
    pub fn spawn(config: LoopConfig, tick: F) -> Result<Handle, Error> {
        Self::spawn_gated(config, tick).map(|(handle, _gate)| handle)
    }

    /// As [`spawn`](Self::spawn), but the first tick waits until the
    /// returned [`Gate`] is dropped: the caller can store the handle where
    /// the tick will look for it (its own loop's statistics) first.
    pub fn spawn_gated(config: LoopConfig, tick: F) -> Result<(Handle, Gate), Error> {
        let (config, mut tick, counters) = ControlLoop::new(config, tick)?.into_parts();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), Error>>(1);
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let done = Arc::new(Done {
            finished: Mutex::new(false),
            cv: Condvar::new(),
        });
        let thread_counters = counters.clone();
        let thread_done = done.clone();
        let join = std::thread::Builder::new()
            .name(config.name.clone())
            .spawn(move || {
                // Signals `done` however the thread ends, a panic included.
                let signal = DoneGuard(thread_done);
                let startup = Startup {
                    ready: ready_tx,
                    gate: gate_rx,
                };
                let result = run(&config, &mut tick, &thread_counters, None, Some(startup));
                // The tick may hold foreign objects: drop it before waiters
                // are told the thread is done.
                drop(tick);
                drop(signal);
                result
            })
            .map_err(|e| Error::RealTime {
                setting: "thread",
                reason: format!("cannot spawn the loop thread: {e}"),
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok((
                Handle {
                    counters,
                    done,
                    join: Mutex::new(Joined::Running(join)),
                },
                Gate {
                    _open_on_drop: gate_tx,
                },
            )),
            Ok(Err(e)) => {
                let _ = join.join();
                Err(e)
            }
            Err(_) => {
                // The thread ended without a word: it can only have panicked.
                let msg = match join.join() {
                    Err(p) => panic_message(p.as_ref()),
                    Ok(_) => "the loop thread exited before starting".to_string(),
                };
                Err(Error::Panicked(msg))
            }
        }
    }
}

/// Holds a spawned loop before its first tick; dropping it lets the loop
/// tick (see [`ControlLoop::spawn_gated`]).
#[derive(Debug)]
pub struct Gate {
    _open_on_drop: std::sync::mpsc::Sender<()>,
}

impl Gate {
    /// Lets the loop tick (the same as dropping the gate).
    pub fn open(self) {}
}

/// Whether the loop thread has ended, and a condition variable to wait on.
struct Done {
    finished: Mutex<bool>,
    cv: Condvar,
}

/// Signals `Done` when dropped.
struct DoneGuard(Arc<Done>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        *lock(&self.0.finished) = true;
        self.0.cv.notify_all();
    }
}

/// The loop thread, before and after it is joined.
enum Joined {
    Running(std::thread::JoinHandle<Result<(), Error>>),
    /// Being joined by a `stop` (no lock held while it joins).
    Joining,
    Done(Result<(), Error>),
}

/// A loop running on its own thread. Every method takes `&self` and none
/// holds a lock across a wait (see the module docs), so the handle can be
/// shared between threads. Dropping it asks the loop to stop and detaches
/// the thread without waiting.
pub struct Handle {
    counters: Arc<LoopCounters>,
    done: Arc<Done>,
    join: Mutex<Joined>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// The loop's statistics now (atomics only: callable from any thread,
    /// the loop's own tick included).
    pub fn stats(&self) -> LoopStats {
        self.counters.snapshot()
    }

    /// Whether the loop thread is still ticking (one atomic load). Once it
    /// reads `false`, [`stats`](Self::stats) shows the final figures.
    pub fn is_running(&self) -> bool {
        self.counters.is_running()
    }

    /// Asks the loop to stop after the current tick; does not wait.
    pub fn request_stop(&self) {
        self.counters.request_stop();
    }

    /// Waits up to `timeout` for the loop thread to end (without asking it
    /// to); whether it has. A `timeout` too large to represent waits for
    /// ever.
    pub fn wait(&self, timeout: Duration) -> bool {
        let give_up = Instant::now().checked_add(timeout);
        let mut finished = lock(&self.done.finished);
        while !*finished {
            let left = match give_up {
                None => Duration::from_secs(3600),
                Some(t) => {
                    let now = Instant::now();
                    if now >= t {
                        return false;
                    }
                    t - now
                }
            };
            finished = match self.done.cv.wait_timeout(finished, left) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    /// Asks the loop to stop and waits up to `timeout` for its thread to end
    /// (a `timeout` too large to represent waits for ever). Returns the
    /// final statistics; [`Error::Panicked`] if the tick panicked (the
    /// statistics stay readable through [`stats`](Self::stats));
    /// [`Error::Timeout`] if the thread is still inside a tick after
    /// `timeout` (the handle stays usable: call `stop` again). Any number of
    /// threads may call it at once; each gets the same outcome.
    pub fn stop(&self, timeout: Duration) -> Result<LoopStats, Error> {
        self.request_stop();
        if !self.wait(timeout) {
            return Err(Error::Timeout(timeout));
        }
        let mut guard = lock(&self.join);
        let result = match std::mem::replace(&mut *guard, Joined::Joining) {
            Joined::Running(join) => {
                drop(guard);
                // The thread has signalled `done`: joining only waits for
                // it to exit. No lock is held.
                let r = match join.join() {
                    Ok(r) => r,
                    Err(p) => Err(Error::Panicked(panic_message(p.as_ref()))),
                };
                *lock(&self.join) = Joined::Done(r.clone());
                r
            }
            other => {
                let r = match &other {
                    Joined::Done(r) => r.clone(),
                    // Another `stop` is joining the finished thread.
                    _ => Ok(()),
                };
                *guard = other;
                r
            }
        };
        result.map(|()| self.counters.snapshot())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.request_stop();
    }
}
