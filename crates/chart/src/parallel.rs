//! Sharing a list of independent jobs (reading files, parsing and executing templates)
//! between this thread and one more, so a chart renders on two cores, and starting a
//! job ahead on that other thread (compiling schemas). The results keep the order of
//! the jobs, so what is reported first does not depend on timing.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rayon_core::ThreadPool;

/// Runs `job` on every item, on this thread and on the helper thread, while this
/// thread first runs `first`; returns the results in item order and `first`'s.
/// With one core, or when the helper could not be started, everything runs here.
///
/// Items are taken costliest first (by `cost`, an estimate), so that the last jobs are
/// short and neither thread waits long for the other at the end.
pub fn map_alongside<T: Sync, R: Send, A>(
    items: &[T],
    cost: impl Fn(&T) -> usize,
    job: impl Fn(&T) -> R + Sync,
    first: impl FnOnce() -> A,
) -> (Vec<R>, A) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
            done.push((i, job(&items[i])));
        }
        done
    };
    let mut theirs = Vec::new();
    let (mut done, other) = match helper().filter(|_| !items.is_empty()) {
        Some(pool) => lend(
            pool,
            || theirs = work(),
            || {
                let other = first();
                (work(), other)
            },
        ),
        None => {
            let other = first();
            (work(), other)
        }
    };
    done.append(&mut theirs);
    done.sort_unstable_by_key(|(i, _)| *i);
    (done.into_iter().map(|(_, r)| r).collect(), other)
}

/// The helper thread's id (0 until it runs).
static HELPER: AtomicI32 = AtomicI32::new(0);

/// Batches of jobs handed to the helper so far: a change ends its wait for the next.
static BATCHES: AtomicUsize = AtomicUsize::new(0);

/// Runs `there` on the helper thread while this thread runs `here`; returns once both
/// are done. Meanwhile this thread stays on its core and the helper on another; the
/// helper then stays awake for the next batch.
///
/// Left to itself, Linux often woke this thread, after it waited for the helper, on
/// the helper's core, or the helper on this thread's: the two then shared one core
/// for 0.3 to 2.5 ms (a 2-core VM) until the load balancer moved one of them. Done
/// first, this thread busy-waits for the helper up to 1 ms rather than sleep: waking
/// it took 0.1 to 0.2 ms.
fn lend<R>(pool: &ThreadPool, there: impl FnOnce() + Send, here: impl FnOnce() -> R) -> R {
    BATCHES.fetch_add(1, Ordering::Release);
    let apart = cores::apart(HELPER.load(Ordering::Relaxed));
    let finished = AtomicBool::new(false);
    let r = pool.in_place_scope(|s| {
        s.spawn(|_| {
            there();
            finished.store(true, Ordering::Release);
        });
        let r = here();
        let until = Instant::now() + Duration::from_millis(1);
        while !finished.load(Ordering::Acquire) && Instant::now() < until {
            std::hint::spin_loop();
        }
        r
    });
    drop(apart);
    stay_awake(pool);
    r
}

/// Keeps the helper busy-waiting for the next batch, up to 2 ms: a chart hands it
/// three batches a few tenths of a millisecond apart, and waking it from sleep took
/// 20 µs to 0.35 ms. (OpenMP runtimes spin between parallel regions for the same
/// reason.)
fn stay_awake(pool: &ThreadPool) {
    let batch = BATCHES.load(Ordering::Acquire);
    pool.spawn(move || wait_for_next(batch));
}

/// Busy-waits up to 2 ms while `batch` is the latest batch.
fn wait_for_next(batch: usize) {
    let until = Instant::now() + Duration::from_millis(2);
    while BATCHES.load(Ordering::Acquire) == batch && Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// A job started ahead on the helper thread, whose result is wanted later.
pub enum Ahead<R> {
    Done(R),
    Running(std::sync::mpsc::Receiver<R>),
}

/// Starts `job` on the helper thread (runs it here with one core, or when the helper
/// could not be started); the helper then stays awake for the next batch.
pub fn ahead<R: Send + 'static>(job: impl FnOnce() -> R + Send + 'static) -> Ahead<R> {
    let Some(pool) = helper() else {
        return Ahead::Done(job());
    };
    let batch = BATCHES.fetch_add(1, Ordering::AcqRel) + 1;
    let (done, result) = std::sync::mpsc::sync_channel(1);
    pool.spawn(move || {
        // The receiver may be gone (an error came first); the result is then not wanted.
        let _ = done.send(job());
        wait_for_next(batch);
    });
    Ahead::Running(result)
}

impl<R> Ahead<R> {
    /// The job's result, once it is done.
    pub fn wait(self) -> R {
        match self {
            Ahead::Done(r) => r,
            Ahead::Running(result) => match result.recv() {
                Ok(r) => r,
                // A job that panics on a rayon thread aborts the process.
                Err(_) => unreachable!("the helper sends every result of a job it ran"),
            },
        }
    }
}

/// Starts the helper thread now, so that it is running by the time a chart has jobs
/// for it (`tug chart` calls this before parsing its command line); the first job
/// starts it otherwise.
pub fn start_helper() {
    helper();
}

/// The helper thread, started on first use (none with one core, or when it could not
/// be started): one thread for the whole process rather than one per batch of jobs
/// (starting a thread took 0.1 to 0.45 ms and waiting for one to end 0.1 to 0.3 ms,
/// three times per chart). Starting it does not wait for it to run.
///
/// Linux queues a new thread on its parent's core, where it often waits until the
/// parent's time slice ends or the load balancer moves it, 2 to 4 ms. So this thread
/// yields once, and the helper moves itself to another core before anything else.
fn helper() -> Option<&'static ThreadPool> {
    static POOL: OnceLock<Option<ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        if !two_cores() {
            return None;
        }
        let parent = cores::current();
        let pool = rayon_core::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "chart-helper".into())
            .start_handler(move |_| {
                cores::leave(parent);
                HELPER.store(cores::thread_id(), Ordering::Relaxed);
            })
            .build()
            .ok()?;
        std::thread::yield_now();
        stay_awake(&pool);
        Some(pool)
    })
    .as_ref()
}

/// Which cores threads run on (`sched_setaffinity`). Best effort: where a call fails,
/// threads run where the scheduler puts them.
mod cores {
    use libc::cpu_set_t;
    use std::mem::size_of_val;

    /// The core this thread runs on (none if the kernel does not say, or if it is
    /// beyond what a cpu_set_t holds).
    pub fn current() -> Option<usize> {
        // SAFETY: sched_getcpu takes no arguments.
        let core = unsafe { libc::sched_getcpu() };
        usize::try_from(core).ok().filter(|&c| c < libc::CPU_SETSIZE as usize)
    }

    /// This thread's id, as `sched_setaffinity` takes it.
    pub fn thread_id() -> i32 {
        // SAFETY: gettid takes no arguments.
        unsafe { libc::gettid() }
    }

    /// This thread kept on its core and another thread on another core, until dropped:
    /// then this thread may run on the cores it was allowed before.
    pub struct Apart(Option<cpu_set_t>);

    impl Drop for Apart {
        fn drop(&mut self) {
            if let Some(allowed) = &self.0 {
                restrict(0, allowed);
            }
        }
    }

    /// Keeps this thread on its core and thread `other` (0: none yet) on another one
    /// this thread may use.
    pub fn apart(other: i32) -> Apart {
        let pin = || {
            let here = current()?;
            let allowed = allowed()?;
            let there = another(&allowed, here)?;
            restrict(other, &only(there));
            restrict(0, &only(here));
            Some(allowed)
        };
        Apart(if other == 0 { None } else { pin() })
    }

    /// Moves this thread to a core other than `core`, for good.
    pub fn leave(core: Option<usize>) {
        if let Some(there) = core.zip(allowed()).and_then(|(core, a)| another(&a, core)) {
            restrict(0, &only(there));
        }
    }

    /// Lets thread `tid` (0: this one) run on `cores` only.
    fn restrict(tid: i32, cores: &cpu_set_t) {
        // SAFETY: `cores` is a live cpu_set_t of the size passed.
        unsafe { libc::sched_setaffinity(tid, size_of_val(cores), cores) };
    }

    /// How many cores `set` holds.
    pub fn count(set: &cpu_set_t) -> u32 {
        // SAFETY: CPU_COUNT only reads the set.
        u32::try_from(unsafe { libc::CPU_COUNT(set) }).unwrap_or(0)
    }

    /// The cores this thread may run on.
    pub fn allowed() -> Option<cpu_set_t> {
        // SAFETY: cpu_set_t is plain data, valid when zeroed.
        let mut set: cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a live cpu_set_t of the size passed; 0 is this thread.
        let ok = unsafe { libc::sched_getaffinity(0, size_of_val(&set), &mut set) } == 0;
        ok.then_some(set)
    }

    /// A core of `set` other than `core`.
    fn another(set: &cpu_set_t, core: usize) -> Option<usize> {
        // SAFETY: CPU_ISSET only reads the set; every index is below CPU_SETSIZE.
        (0..libc::CPU_SETSIZE as usize).find(|&c| c != core && unsafe { libc::CPU_ISSET(c, set) })
    }

    /// The set of `core` alone.
    fn only(core: usize) -> cpu_set_t {
        // SAFETY: cpu_set_t is plain data, valid when zeroed.
        let mut set: cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: CPU_SET writes one bit of `set`; `core` is below CPU_SETSIZE (see
        // `current` and `another`).
        unsafe { libc::CPU_SET(core, &mut set) };
        set
    }
}

/// Whether this thread may run on two cores or more. (A cgroup's CPU quota is not
/// asked: reading it took a dozen system calls, 0.15 ms; under a quota of less than
/// two cores the two threads share it.)
fn two_cores() -> bool {
    cores::allowed().is_some_and(|set| cores::count(&set) > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_item_order_and_first_runs() {
        let items: Vec<u64> = (0..1000).collect();
        let (out, first) = map_alongside(&items, |i| *i as usize % 7, |i| i * 2, || "done");
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(first, "done");
        let (none, _) = map_alongside(&Vec::<u8>::new(), |_| 0, |b| *b, || ());
        assert!(none.is_empty());
    }

    #[test]
    fn lending_gives_this_thread_its_cores_back() {
        let before = cores::allowed().map(|s| cores::count(&s));
        let (out, first) = map_alongside(&[1, 2, 3], |_| 0, |i| i + 1, || "first");
        assert_eq!((out, first), (vec![2, 3, 4], "first"));
        assert_eq!(cores::allowed().map(|s| cores::count(&s)), before);
    }

    #[test]
    fn a_job_started_ahead_runs_on_the_helper() {
        let here = std::thread::current().id();
        let ahead = ahead(move || std::thread::current().id());
        let there = ahead.wait();
        assert_eq!(there != here, two_cores(), "it runs on the helper when there are two cores");
    }

    #[test]
    fn jobs_run_on_two_threads_when_there_are_two_cores() {
        let items: Vec<u32> = (0..64).collect();
        let (ids, _) = map_alongside(
            &items,
            |_| 0,
            |_| {
                std::thread::sleep(std::time::Duration::from_millis(1));
                std::thread::current().id()
            },
            || (),
        );
        let distinct: std::collections::HashSet<_> = ids.into_iter().collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(distinct.len(), cores.min(2));
    }
}
