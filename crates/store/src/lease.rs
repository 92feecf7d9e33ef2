//! Lease deadlines: which lease expires when, and the wait for the next one.
//!
//! Deadlines live in memory only. The leases themselves (id and time to
//! live) are durable; after a restart each gets its full time to live again,
//! as etcd does, so a keep-alive costs no disk write.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::kv::LeaseId;

#[derive(Debug, Default)]
pub(crate) struct Leases {
    state: Mutex<LeaseState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct LeaseState {
    live: HashMap<LeaseId, Lease>,
    closed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    ttl: Duration,
    deadline: Instant,
}

impl Leases {
    fn lock(&self) -> MutexGuard<'_, LeaseState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the clock of a granted lease.
    pub(crate) fn insert(&self, id: LeaseId, ttl: Duration) {
        self.lock().live.insert(
            id,
            Lease {
                ttl,
                deadline: Instant::now() + ttl,
            },
        );
        self.changed.notify_all();
    }

    /// Restarts a lease's clock; `None` if it is not live (or is expiring).
    pub(crate) fn keep_alive(&self, id: LeaseId) -> Option<Duration> {
        let mut state = self.lock();
        let lease = state.live.get_mut(&id)?;
        lease.deadline = Instant::now() + lease.ttl;
        Some(lease.ttl)
    }

    /// Forgets a revoked lease.
    pub(crate) fn remove(&self, id: LeaseId) {
        self.lock().live.remove(&id);
    }

    /// Wakes [`Leases::next_expired`] for good.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Blocks until a lease expires and returns it (forgotten from then on:
    /// it can no longer be kept alive), or returns `None` once closed.
    pub(crate) fn next_expired(&self) -> Option<LeaseId> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            let now = Instant::now();
            let next = state
                .live
                .iter()
                .min_by_key(|(_, lease)| lease.deadline)
                .map(|(id, l)| (*id, l.deadline));
            match next {
                Some((id, deadline)) if deadline <= now => {
                    state.live.remove(&id);
                    return Some(id);
                }
                Some((_, deadline)) => {
                    state = self
                        .changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                None => {
                    state = self
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_earliest_deadline_expires_first_and_only_once() {
        let leases = Leases::default();
        leases.insert(LeaseId(1), Duration::from_millis(200));
        leases.insert(LeaseId(2), Duration::from_millis(50));
        assert_eq!(leases.next_expired(), Some(LeaseId(2)));
        assert_eq!(leases.keep_alive(LeaseId(2)), None);
        assert_eq!(leases.next_expired(), Some(LeaseId(1)));
    }

    #[test]
    fn keep_alive_postpones_expiry() {
        let leases = Arc::new(Leases::default());
        leases.insert(LeaseId(7), Duration::from_millis(150));
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            leases.keep_alive(LeaseId(7)),
            Some(Duration::from_millis(150))
        );
        assert_eq!(leases.next_expired(), Some(LeaseId(7)));
        assert!(start.elapsed() >= Duration::from_millis(250));
    }

    #[test]
    fn close_wakes_the_waiter() {
        let leases = Arc::new(Leases::default());
        let waiter = {
            let leases = leases.clone();
            std::thread::spawn(move || leases.next_expired())
        };
        std::thread::sleep(Duration::from_millis(20));
        leases.close();
        assert_eq!(waiter.join().ok(), Some(None));
    }
}
