//! `/metrics` in the Prometheus text format: request counts and latencies by
//! verb, resource and code, open watches, and the store's revision.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
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
