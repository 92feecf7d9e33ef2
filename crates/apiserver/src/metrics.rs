//! `/metrics` in the Prometheus text format: request counts and latencies by
//! verb, resource and code, authorization decisions and their time, open
//! watches, and the store's revision.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What a request was, for the metrics: set by the API handler on its response.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestLabels {
    pub verb: &'static str,
    pub resource: String,
}

#[derive(Debug, Default)]
struct Counts {
    requests: u64,
    seconds: f64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(RequestLabels, u16), Counts>>,
    watches: AtomicI64,
    /// (count, nanoseconds) of allowed and denied authorization decisions.
    allowed: (AtomicU64, AtomicU64),
    denied: (AtomicU64, AtomicU64),
}

impl Metrics {
    pub fn record(&self, labels: RequestLabels, code: u16, elapsed: Duration) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let counts = requests.entry((labels, code)).or_default();
        counts.requests += 1;
        counts.seconds += elapsed.as_secs_f64();
    }

    /// Counts one authorization decision and the time it took.
    pub fn record_authorization(&self, allowed: bool, elapsed: Duration) {
        let (count, nanos) = if allowed { &self.allowed } else { &self.denied };
        count.fetch_add(1, Ordering::Relaxed);
        nanos.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts an open watch until the guard drops.
    pub fn watch_started(self: &std::sync::Arc<Self>) -> WatchGuard {
        self.watches.fetch_add(1, Ordering::Relaxed);
        WatchGuard(self.clone())
    }

    pub fn render(&self, store_revision: i64) -> String {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Requests by verb, resource and HTTP code.\n# TYPE apiserver_request_total counter\n");
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for ((labels, code), counts) in requests.iter() {
            out.push_str(&format!(
                "apiserver_request_total{{verb=\"{}\",resource=\"{}\",code=\"{code}\"}} {}\n",
                labels.verb, labels.resource, counts.requests
            ));
        }
        out.push_str("# HELP apiserver_request_duration_seconds_sum Time spent serving requests by verb, resource and HTTP code.\n# TYPE apiserver_request_duration_seconds_sum counter\n");
        for ((labels, code), counts) in requests.iter() {
            out.push_str(&format!("apiserver_request_duration_seconds_sum{{verb=\"{}\",resource=\"{}\",code=\"{code}\"}} {:.6}\n", labels.verb, labels.resource, counts.seconds));
        }
        out.push_str("# HELP apiserver_authorization_decisions_total Authorization decisions.\n# TYPE apiserver_authorization_decisions_total counter\n");
        let decisions = [("allowed", &self.allowed), ("denied", &self.denied)];
        for (decision, (count, _)) in decisions {
            out.push_str(&format!("apiserver_authorization_decisions_total{{decision=\"{decision}\"}} {}\n", count.load(Ordering::Relaxed)));
        }
        out.push_str("# HELP tug_authorization_duration_seconds_sum Time spent deciding authorization.\n# TYPE tug_authorization_duration_seconds_sum counter\n");
        for (decision, (_, nanos)) in decisions {
            out.push_str(&format!("tug_authorization_duration_seconds_sum{{decision=\"{decision}\"}} {:.9}\n", nanos.load(Ordering::Relaxed) as f64 / 1e9));
        }
        out.push_str(&format!("# HELP apiserver_registered_watchers Open watches.\n# TYPE apiserver_registered_watchers gauge\napiserver_registered_watchers {}\n", self.watches.load(Ordering::Relaxed)));
        out.push_str(&format!("# HELP tug_store_revision The store's current revision.\n# TYPE tug_store_revision gauge\ntug_store_revision {store_revision}\n"));
        out
    }
}

/// Decrements the open-watch gauge when dropped.
pub struct WatchGuard(std::sync::Arc<Metrics>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.watches.fetch_sub(1, Ordering::Relaxed);
    }
}
