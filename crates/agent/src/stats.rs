//! Resource usage of the node and of each running container, as kubelet's Summary API
//! (`GET /stats/summary`) reports it and metrics-server reads it.
//!
//! A sampler reads every [`SAMPLE_EVERY`] each running container's cgroup (its
//! pod's cgroup, `pods::pod_cgroup`, then the container's name; cgroup v1 or v2 through
//! tug-runtime): cumulative CPU time and the memory working set (usage minus inactive
//! file pages, kubelet's definition). The node's CPU time comes from `/proc/stat`, its
//! working set from `/proc/meminfo` (total minus available). CPU in cores is the
//! difference between the last two samples over the time between them, so a container
//! shows CPU once it has been sampled twice. Besides kubelet's fields, each CPU entry
//! carries `windowSeconds`, the span `usageNanoCores` was averaged over, which the API
//! server reports as the metrics' `window`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde_json::{json, Value};

use crate::pods::{self, Node};
use crate::Error;

/// How often usage is sampled (metrics-server's default resolution is 15 s; kubelet's
/// housekeeping 10 s).
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// The node's key in [`Samples`].
const NODE_KEY: &str = "";

/// Cumulative counters read at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    at: Timestamp,
    /// CPU time used since the cgroup (or the machine) started, in nanoseconds.
    cpu_ns: u64,
    working_set: u64,
    usage: u64,
}

/// The last two samples of one cgroup.
#[derive(Debug, Clone, Copy)]
struct Window {
    previous: Option<Sample>,
    last: Sample,
}

impl Window {
    /// CPU cores used between the two samples (in nano-cores) and the span in seconds.
    fn rate(&self) -> Option<(u64, f64)> {
        let previous = self.previous?;
        let span = self.last.at.duration_since(previous.at).as_secs_f64();
        if span <= 0.0 {
            return None;
        }
        let used = self.last.cpu_ns.saturating_sub(previous.cpu_ns) as f64;
        Some(((used / span).round() as u64, span))
    }

    fn cpu(&self) -> Value {
        let mut cpu = json!({"time": self.last.at.to_string(), "usageCoreNanoSeconds": self.last.cpu_ns});
        if let Some((nano_cores, span)) = self.rate() {
            cpu["usageNanoCores"] = json!(nano_cores);
            cpu["windowSeconds"] = json!(span);
        }
        cpu
    }

    fn memory(&self) -> Value {
        json!({"time": self.last.at.to_string(), "workingSetBytes": self.last.working_set, "usageBytes": self.last.usage})
    }
}

/// The samples of the node (key `""`) and of each container (key: its cgroup path).
#[derive(Debug, Default)]
pub struct Samples(Mutex<HashMap<String, Window>>);

impl Samples {
    /// Records `sample` under `key`, the previous last sample becoming the window's start.
    fn record(&self, key: String, sample: Sample) {
        let Ok(mut map) = self.0.lock() else { return };
        let previous = map.get(&key).map(|w| w.last).filter(|p| p.cpu_ns <= sample.cpu_ns);
        map.insert(key, Window { previous, last: sample });
    }

    /// Keeps only the keys in `live` (and the node's).
    fn retain(&self, live: &[String]) {
        if let Ok(mut map) = self.0.lock() {
            map.retain(|k, _| k == NODE_KEY || live.contains(k));
        }
    }

    fn get(&self, key: &str) -> Option<Window> {
        self.0.lock().ok()?.get(key).copied()
    }
}

/// The pods of this node, as a watch keeps them, and their usage samples.
pub struct Stats {
    pods: Store<Pod>,
    samples: Samples,
    /// The custom metrics scraped from the pods that ask for it (`scrape`).
    pub scrapes: crate::scrape::Scrapes,
}

/// Starts watching this node's pods; [`run`] then keeps sampling.
pub fn new(node: &Node) -> (Arc<Stats>, impl std::future::Future<Output = Result<(), Error>>) {
    let (reader, writer) = reflector::store();
    let api: Api<Pod> = Api::all(node.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", node.options.node_name));
    let stream = reflector::reflector(writer, watcher::watcher(api, config)).default_backoff().applied_objects();
    let stats = Arc::new(Stats { pods: reader, samples: Samples::default(), scrapes: Default::default() });
    let watch = async move {
        stream.for_each(|_| async {}).await;
        Err(Error::Internal("the stats pod watch ended".into()))
    };
    (stats, watch)
}

impl Stats {
    /// The pods of this node, as the watch has them now.
    pub fn pods(&self) -> Vec<Arc<Pod>> {
        self.pods.state()
    }
}

/// Samples the node and every running container every [`SAMPLE_EVERY`], forever.
pub async fn run(node: Arc<Node>, stats: Arc<Stats>) -> Result<(), Error> {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tick.tick().await;
        let node = node.clone();
        let stats = stats.clone();
        let _ = tokio::task::spawn_blocking(move || sample_all(&node, &stats)).await;
    }
}

/// The cgroup path of each container of `pod`, by container name.
fn container_cgroups(node_name: &str, pod: &Pod) -> Vec<(String, String)> {
    let pod_cgroup = pods::pod_cgroup(node_name, pod);
    pod.spec.iter().flat_map(|s| &s.containers).map(|c| (c.name.clone(), format!("{pod_cgroup}/{}", c.name))).collect()
}

fn sample_all(node: &Node, stats: &Stats) {
    if let Some(sample) = node_sample(&node.options.data_dir) {
        stats.samples.record(NODE_KEY.to_string(), sample);
    }
    let mut live = Vec::new();
    for pod in stats.pods.state() {
        for (_, cgroup) in container_cgroups(&node.options.node_name, &pod) {
            if let Some(sample) = cgroup_sample(&cgroup) {
                stats.samples.record(cgroup.clone(), sample);
                live.push(cgroup);
            }
        }
    }
    stats.samples.retain(&live);
}

/// A container's counters, or `None` when its cgroup does not exist (not running).
fn cgroup_sample(path: &str) -> Option<Sample> {
    let cgroup = tug_runtime::cgroups::Cgroup::open(Path::new(path)).ok()?;
    if !cgroup.hierarchies().iter().any(|h| h.dir.is_dir()) {
        return None;
    }
    let stats = cgroup.stats().ok()?;
    let memory = &stats.memory;
    // v1 names the hierarchical count total_inactive_file, v2 inactive_file.
    let inactive = memory.raw.get("total_inactive_file").or_else(|| memory.raw.get("inactive_file")).copied().unwrap_or(0);
    Some(Sample {
        at: Timestamp::now(),
        cpu_ns: stats.cpu.usage.total,
        working_set: memory.usage.usage.saturating_sub(inactive),
        usage: memory.usage.usage,
    })
}

/// The machine's counters: CPU time from /proc/stat, memory from /proc/meminfo.
fn node_sample(data_dir: &Path) -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu_ns = busy_cpu_ns(&stat, clock_ticks_per_second())?;
    let resources = crate::machine::Resources::read(data_dir);
    let used = resources.memory_kib.saturating_sub(resources.memory_available_kib) * 1024;
    Some(Sample { at: Timestamp::now(), cpu_ns, working_set: used, usage: used })
}

/// The time all CPUs spent busy (user, nice, system, irq, softirq, steal) from the first
/// line of /proc/stat, in nanoseconds.
fn busy_cpu_ns(stat: &str, ticks_per_second: u64) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|i| fields.get(*i)).sum();
    Some(busy.saturating_mul(1_000_000_000 / ticks_per_second.max(1)))
}

/// USER_HZ, the unit of /proc/stat.
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// The Summary document: the node, and each pod of this node with at least one
/// container sampled.
pub fn summary(node_name: &str, stats: &Stats) -> Value {
    let node = stats.samples.get(NODE_KEY).map_or(json!({}), |w| json!({"cpu": w.cpu(), "memory": w.memory()}));
    let mut node = node;
    node["nodeName"] = json!(node_name);
    let mut pods = Vec::new();
    for pod in stats.pods.state() {
        let containers: Vec<Value> = container_cgroups(node_name, &pod)
            .into_iter()
            .filter_map(|(name, cgroup)| {
                let w = stats.samples.get(&cgroup)?;
                Some(json!({"name": name, "startTime": w.last.at.to_string(), "cpu": w.cpu(), "memory": w.memory()}))
            })
            .collect();
        if containers.is_empty() {
            continue;
        }
        let meta = &pod.metadata;
        pods.push(json!({
            "podRef": {"name": meta.name, "namespace": meta.namespace, "uid": meta.uid},
            "containers": containers,
        }));
    }
    json!({"node": node, "pods": pods})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_secs: i64, cpu_ns: u64) -> Sample {
        Sample { at: Timestamp::from_second(at_secs).unwrap(), cpu_ns, working_set: 10, usage: 20 }
    }

    #[test]
    fn cpu_is_the_difference_of_two_samples_over_their_span() {
        let samples = Samples::default();
        samples.record("c".into(), sample(100, 1_000_000_000));
        let first = samples.get("c").unwrap();
        assert!(first.rate().is_none(), "one sample has no rate");
        assert!(first.cpu().get("usageNanoCores").is_none());
        // 2.5 CPU-seconds over 5 s: half a core.
        samples.record("c".into(), sample(105, 3_500_000_000));
        let window = samples.get("c").unwrap();
        assert_eq!(window.rate(), Some((500_000_000, 5.0)));
        assert_eq!(window.cpu()["usageNanoCores"], 500_000_000);
        assert_eq!(window.memory()["workingSetBytes"], 10);
    }

    #[test]
    fn a_counter_that_went_back_starts_a_new_window() {
        let samples = Samples::default();
        samples.record("c".into(), sample(100, 9_000));
        samples.record("c".into(), sample(105, 10));
        assert!(samples.get("c").unwrap().rate().is_none(), "a restarted container's counter restarts");
        samples.retain(&[]);
        assert!(samples.get("c").is_none());
    }

    #[test]
    fn busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 20 30 5000 70 1 2 3 0 0\ncpu0 50 10 15 2500 35 1 1 2 0 0\n";
        // 100+20+30+1+2+3 = 156 ticks of 10 ms.
        assert_eq!(busy_cpu_ns(stat, 100), Some(1_560_000_000));
        assert_eq!(busy_cpu_ns("intr 1 2", 100), None);
    }
}
