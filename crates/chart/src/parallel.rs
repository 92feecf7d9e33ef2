//! Sharing a list of independent jobs (parsing templates, reading manifests) between
//! this thread and one more, so a chart renders on two cores. The results keep the
//! order of the jobs, so what is reported first does not depend on timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Runs `job` on every item, on this thread and on one helper thread, while this
/// thread first runs `first`; returns the results in item order and `first`'s.
/// With one core, or when no thread can be started, everything runs here.
pub fn map_alongside<T: Sync, R: Send, A>(
    items: &[T],
    job: impl Fn(&T) -> R + Sync,
    first: impl FnOnce() -> A,
) -> (Vec<R>, A) {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            done.push((i, job(item)));
        }
        done
    };
    std::thread::scope(|s| {
        let helper = (two_cores() && !items.is_empty()).then(|| spawn_helper(s, work)).flatten();
        let other = first();
        let mut done = work();
        if let Some(h) = helper {
            done.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        done.sort_unstable_by_key(|(i, _)| *i);
        (done.into_iter().map(|(_, r)| r).collect(), other)
    })
}

/// Runs `here` on this thread and `there` on a helper thread at the same time (both
/// here with one core, or when no thread can be started); returns both results.
pub fn join<A, B: Send>(here: impl FnOnce() -> A, there: impl FnOnce() -> B + Send) -> (A, B) {
    // Whichever thread takes `there` first runs it: the helper, or this thread when
    // there is no helper.
    let there = Mutex::new(Some(there));
    let run_there = || there.lock().unwrap_or_else(PoisonError::into_inner).take().map(|f| f());
    std::thread::scope(|s| {
        let helper = two_cores().then(|| spawn_helper(s, run_there)).flatten();
        let a = here();
        let b = helper
            .and_then(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .or_else(run_there);
        match b {
            Some(b) => (a, b),
            None => unreachable!("`there` runs on the helper or, failing that, here"),
        }
    })
}

/// Starts `job` on a helper thread, this thread and the helper on different cores.
///
/// Linux queues a new thread on its parent's core: one of the two then often waits
/// until the other's time slice ends or the load balancer moves it, 2 to 4 ms (measured
/// on a 2-core VM), longer than most of our jobs. So this thread yields once, the
/// helper runs and moves itself to another core, and this thread goes on where it was;
/// waking the other core (0.1 ms to several on a VM) delays only the helper.
fn spawn_helper<'s, T: Send + 's>(
    scope: &'s std::thread::Scope<'s, '_>,
    job: impl FnOnce() -> T + Send + 's,
) -> Option<std::thread::ScopedJoinHandle<'s, T>> {
    let parent = cores::current();
    let handle = std::thread::Builder::new()
        .spawn_scoped(scope, move || {
            cores::leave(parent);
            job()
        })
        .ok()?;
    std::thread::yield_now();
    Some(handle)
}

/// Which cores this thread runs on (`sched_setaffinity`).
mod cores {
    use std::mem::size_of_val;

    /// The core this thread runs on.
    pub fn current() -> i32 {
        // SAFETY: sched_getcpu takes no arguments.
        unsafe { libc::sched_getcpu() }
    }

    /// When this thread runs on `core`, moves it to another core it may use, then
    /// allows it all of them again. Best effort: on any failure it stays.
    pub fn leave(core: i32) {
        if current() != core {
            return;
        }
        // SAFETY: cpu_set_t is plain data, valid when zeroed.
        let mut allowed: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `allowed` is a live cpu_set_t of the size passed; 0 is this thread.
        if unsafe { libc::sched_getaffinity(0, size_of_val(&allowed), &mut allowed) } != 0 {
            return;
        }
        let other = (0..libc::CPU_SETSIZE as usize)
            // SAFETY: CPU_ISSET only reads the set; every index is below CPU_SETSIZE.
            .find(|&c| c as i32 != core && unsafe { libc::CPU_ISSET(c, &allowed) });
        let Some(other) = other else { return };
        // SAFETY: as above.
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: CPU_SET writes one bit of `one`; `other` is below CPU_SETSIZE.
        unsafe { libc::CPU_SET(other, &mut one) };
        // SAFETY: both sets are live cpu_set_t values of the size passed.
        unsafe {
            if libc::sched_setaffinity(0, size_of_val(&one), &one) == 0 {
                libc::sched_setaffinity(0, size_of_val(&allowed), &allowed);
            }
        }
    }
}

/// Whether this process may use two cores or more. Asked once: the answer reads the
/// cgroup's CPU quota, a dozen system calls.
fn two_cores() -> bool {
    static TWO: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// [`map_alongside`] with nothing else to do meanwhile.
pub fn map<T: Sync, R: Send>(items: &[T], job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_alongside(items, job, || ()).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_item_order_and_first_runs() {
        let items: Vec<u64> = (0..1000).collect();
        let (out, first) = map_alongside(&items, |i| i * 2, || "done");
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(first, "done");
        assert!(map(&Vec::<u8>::new(), |b| *b).is_empty());
    }

    #[test]
    fn join_runs_both_and_returns_both() {
        let here = std::thread::current().id();
        let (a, b) = join(|| (1, std::thread::current().id()), || (2, std::thread::current().id()));
        assert_eq!((a.0, b.0), (1, 2));
        assert_eq!(a.1, here, "the first closure runs on the calling thread");
        assert_eq!(b.1 != here, two_cores(), "the second runs on a helper when there are two cores");
    }

    #[test]
    fn jobs_run_on_two_threads_when_there_are_two_cores() {
        let items: Vec<u32> = (0..64).collect();
        let ids = map(&items, |_| {
            std::thread::sleep(std::time::Duration::from_millis(1));
            std::thread::current().id()
        });
        let distinct: std::collections::HashSet<_> = ids.into_iter().collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(distinct.len(), cores.min(2));
    }
}
