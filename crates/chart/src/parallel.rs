//! Sharing a list of independent jobs (parsing templates, reading manifests) between
//! this thread and one more, so a chart renders on two cores. The results keep the
//! order of the jobs, so what is reported first does not depend on timing.

use std::sync::atomic::{AtomicUsize, Ordering};

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
    let two_cores = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    std::thread::scope(|s| {
        let helper = (two_cores && !items.is_empty())
            .then(|| std::thread::Builder::new().spawn_scoped(s, work).ok())
            .flatten();
        let other = first();
        let mut done = work();
        if let Some(h) = helper {
            done.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        done.sort_unstable_by_key(|(i, _)| *i);
        (done.into_iter().map(|(_, r)| r).collect(), other)
    })
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
