//! The operating-system calls of the control loop: absolute-deadline sleep,
//! thread CPU time, and the real-time settings (SCHED_FIFO, CPU affinity,
//! `mlockall`, timer slack); and the `eventfd` the Python subscriptions wake
//! their event loop through. This is the only module of `control` with
//! `unsafe` code; each `unsafe` block is the single libc call it names, on a
//! function carrying its own `#[allow(unsafe_code)]`.
//!
//! # Safety
//!
//! Every call passes either plain integers or pointers to stack values that
//! live for the whole call and are of the exact type libc declares. None of
//! the calls keeps a pointer after it returns. Errors are read from `errno`
//! (through [`std::io::Error::last_os_error`]) or from the return value for
//! the `pthread_*` calls, which do not set `errno`.
//!
//! # Limitations
//!
//! Linux only (the crate's target). `mlockall` is process-wide: once applied
//! it stays for the life of the process, whichever loop asked for it.

use std::io;

const NS_PER_SEC: u64 = 1_000_000_000;

fn timespec_from_ns(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / NS_PER_SEC) as libc::time_t,
        tv_nsec: (ns % NS_PER_SEC) as libc::c_long,
    }
}

fn ns_from_timespec(ts: &libc::timespec) -> u64 {
    (ts.tv_sec as u64)
        .saturating_mul(NS_PER_SEC)
        .saturating_add(ts.tv_nsec as u64)
}

#[allow(unsafe_code)]
fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = timespec_from_ns(0);
    // SAFETY: `ts` is a valid, writable `timespec` on this stack frame for the
    // whole call; the clock ids passed here (CLOCK_MONOTONIC,
    // CLOCK_THREAD_CPUTIME_ID) always exist on Linux, and on a failure `ts`
    // simply stays zero.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ns_from_timespec(&ts)
}

/// `CLOCK_MONOTONIC` in nanoseconds, on the kernel's time line.
pub(crate) fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time consumed by the calling thread, in nanoseconds.
pub(crate) fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Sleeps until `CLOCK_MONOTONIC` reaches `deadline_ns` (absolute: a late
/// wake-up does not shift later deadlines). Restarts after a signal.
#[allow(unsafe_code)]
pub(crate) fn sleep_until_monotonic(deadline_ns: u64) {
    let ts = timespec_from_ns(deadline_ns);
    loop {
        // SAFETY: `ts` is a valid `timespec` that outlives the call; with
        // TIMER_ABSTIME the remaining-time pointer is unused, and null is
        // allowed for it.
        let rc = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                std::ptr::null_mut(),
            )
        };
        // clock_nanosleep returns the error number itself, not -1/errno.
        if rc != libc::EINTR {
            return;
        }
    }
}

/// The calling thread's scheduling policy and priority.
#[allow(unsafe_code)]
fn get_sched() -> Result<(libc::c_int, libc::c_int), String> {
    let mut policy: libc::c_int = 0;
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `pthread_self()` is the calling, live thread; `policy` and
    // `param` are valid, writable stack values for the whole call.
    let rc = unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc).to_string());
    }
    Ok((policy, param.sched_priority))
}

#[allow(unsafe_code)]
fn set_sched(policy: libc::c_int, priority: libc::c_int) -> Result<(), String> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `pthread_self()` is the calling, live thread; `param` is a valid
    // `sched_param` that outlives the call, which only reads it.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), policy, &param) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc).to_string());
    }
    Ok(())
}

/// Puts the calling thread under `SCHED_FIFO` at `priority` (1..=99).
pub(crate) fn set_fifo(priority: i32) -> Result<(), String> {
    set_sched(libc::SCHED_FIFO, priority)
}

#[allow(unsafe_code)]
fn get_affinity() -> Result<libc::cpu_set_t, String> {
    // SAFETY: `cpu_set_t` is a plain bit array for which all-zero is a valid
    // (empty) value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed; pid 0
    // is the calling thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    Ok(set)
}

#[allow(unsafe_code)]
fn set_affinity_set(set: &libc::cpu_set_t) -> Result<(), String> {
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed, read only; pid 0
    // is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc != 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    Ok(())
}

/// Pins the calling thread to the given CPUs.
#[allow(unsafe_code)]
pub(crate) fn set_affinity(cpus: &[usize]) -> Result<(), String> {
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: all-zero is the valid empty `cpu_set_t`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= max {
            return Err(format!("cpu {cpu} is beyond the cpu set size {max}"));
        }
        // SAFETY: `set` is a valid `cpu_set_t` and `cpu` was checked above to
        // be below its bit size, so `CPU_SET` writes inside it.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set_affinity_set(&set)
}

/// Locks all current and future pages of the process in memory.
#[allow(unsafe_code)]
pub(crate) fn lock_memory() -> Result<(), String> {
    // SAFETY: `mlockall` takes only flags and touches no memory of ours.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc != 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    Ok(())
}

#[allow(unsafe_code)]
fn get_timer_slack() -> Result<u64, String> {
    // SAFETY: PR_GET_TIMERSLACK takes no pointer; the unused arguments are 0
    // as the man page asks.
    let rc = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    Ok(rc as u64)
}

/// Sets the calling thread's timer slack (must be ≥ 1 ns: 0 means "reset to
/// the default" to the kernel).
#[allow(unsafe_code)]
pub(crate) fn set_timer_slack(ns: u64) -> Result<(), String> {
    // SAFETY: PR_SET_TIMERSLACK takes the slack by value, no pointer; the
    // unused arguments are 0.
    let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    Ok(())
}

/// The calling thread's settings before a loop changed them, so that a loop
/// run on a borrowed thread (`run_for`) can give the thread back as it was.
pub(crate) struct Saved {
    sched: Option<(libc::c_int, libc::c_int)>,
    affinity: Option<libc::cpu_set_t>,
    slack: Option<u64>,
}

impl Saved {
    /// Records the calling thread's policy, affinity and timer slack.
    pub(crate) fn capture() -> Saved {
        Saved {
            sched: get_sched().ok(),
            affinity: get_affinity().ok(),
            slack: get_timer_slack().ok(),
        }
    }

    /// Restores what was recorded (best effort: the thread is the caller's).
    pub(crate) fn restore(&self) {
        if let Some((policy, prio)) = self.sched {
            let _ = set_sched(policy, prio);
        }
        if let Some(set) = &self.affinity {
            let _ = set_affinity_set(set);
        }
        if let Some(slack) = self.slack {
            let _ = set_timer_slack(slack.max(1));
        }
    }
}

/// A new nonblocking, close-on-exec `eventfd` (counter 0): the wake-up
/// descriptor of the Python subscriptions. Writing 8 bytes adds to the
/// counter and makes it readable; one read returns and clears the sum.
#[cfg(all(target_os = "linux", feature = "python"))]
#[allow(unsafe_code)]
pub(crate) fn eventfd() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain integer arguments; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by `eventfd`, is open, and is owned by
    // nothing else: the `OwnedFd` becomes its only owner.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_moves_and_sleep_is_absolute() {
        let a = monotonic_ns();
        sleep_until_monotonic(a + 2_000_000);
        let b = monotonic_ns();
        assert!(b >= a + 2_000_000, "woke before the deadline");
        // A deadline in the past returns at once (no assertion on how fast).
        sleep_until_monotonic(a);
    }

    #[test]
    fn thread_cpu_time_grows_when_spinning() {
        let a = thread_cpu_ns();
        let t = monotonic_ns();
        while monotonic_ns() < t + 3_000_000 {
            std::hint::spin_loop();
        }
        assert!(thread_cpu_ns() > a);
    }

    #[test]
    fn timer_slack_round_trips_and_affinity_rejects_absurd_cpus() {
        let saved = Saved::capture();
        set_timer_slack(1234).unwrap();
        assert_eq!(get_timer_slack().unwrap(), 1234);
        assert!(set_affinity(&[1 << 20]).is_err());
        saved.restore();
        assert_eq!(get_timer_slack().ok(), saved.slack);
    }
}
