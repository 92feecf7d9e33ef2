//! What a pod asks for and what a node offers: CPU in millicores, memory and
//! ephemeral storage in bytes, and the pod count.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use tug_api::quantity::Quantity;

/// An amount of every resource the scheduler counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i128,
    pub memory: i128,
    pub ephemeral_storage: i128,
}

impl Resources {
    fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
    }

    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
    }

    fn max(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
    }

    pub fn plus(mut self, other: &Resources) -> Resources {
        self.add(other);
        self
    }

    fn from_list(list: Option<&BTreeMap<String, K8sQuantity>>) -> Resources {
        let get = |name: &str| list.and_then(|l| l.get(name)).and_then(|q| Quantity::parse(&q.0).ok());
        Resources {
            milli_cpu: get("cpu").map_or(0, |q| q.millis()),
            memory: get("memory").map_or(0, |q| q.value()),
            ephemeral_storage: get("ephemeral-storage").map_or(0, |q| q.value()),
        }
    }
}

/// A container's requests; a resource with only a limit requests its limit (API defaulting).
fn container_requests(c: &Container) -> Resources {
    let Some(resources) = &c.resources else {
        return Resources::default();
    };
    let requests = Resources::from_list(resources.requests.as_ref());
    let limits = Resources::from_list(resources.limits.as_ref());
    let pick = |r: i128, l: i128| if r == 0 { l } else { r };
    Resources {
        milli_cpu: pick(requests.milli_cpu, limits.milli_cpu),
        memory: pick(requests.memory, limits.memory),
        ephemeral_storage: pick(requests.ephemeral_storage, limits.ephemeral_storage),
    }
}

/// What a pod requests: the larger of its app containers' sum and any one init container,
/// plus its overhead.
pub fn pod_requests(pod: &Pod) -> Resources {
    let Some(spec) = &pod.spec else {
        return Resources::default();
    };
    let mut total = Resources::default();
    for c in &spec.containers {
        total.add(&container_requests(c));
    }
    for c in spec.init_containers.iter().flatten() {
        total.max(&container_requests(c));
    }
    total.add(&Resources::from_list(spec.overhead.as_ref()));
    total
}

/// The requests the scoring plugins count: a container that requests no CPU or memory counts
/// as 100m and 200Mi, so that empty pods still spread (as kube-scheduler does).
pub fn pod_requests_for_scoring(pod: &Pod) -> Resources {
    let mut r = pod_requests(pod);
    if r.milli_cpu == 0 {
        r.milli_cpu = 100;
    }
    if r.memory == 0 {
        r.memory = 200 << 20;
    }
    r
}

/// What a node offers pods: its allocatable resources (capacity where allocatable is not
/// reported) and how many pods it takes.
pub fn node_allocatable(node: &Node) -> (Resources, i64) {
    let status = node.status.as_ref();
    let list = status
        .and_then(|s| s.allocatable.as_ref())
        .or_else(|| status.and_then(|s| s.capacity.as_ref()));
    let pods = list
        .and_then(|l| l.get("pods"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(110, |q| q.value() as i64);
    (Resources::from_list(list), pods)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let list = |pairs: &[(&str, &str)]| Some(pairs.iter().map(|(k, v)| (k.to_string(), K8sQuantity(v.to_string()))).collect());
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements { requests: list(requests), limits: list(limits), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn pod_requests_take_the_larger_of_apps_and_inits() {
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![container(&[("cpu", "250m"), ("memory", "64Mi")], &[]), container(&[], &[("cpu", "1")])],
                init_containers: Some(vec![container(&[("cpu", "2")], &[])]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = pod_requests(&pod);
        assert_eq!((r.milli_cpu, r.memory), (2000, 64 << 20));
        let empty = Pod { spec: Some(PodSpec { containers: vec![Container::default()], ..Default::default() }), ..Default::default() };
        assert_eq!(pod_requests_for_scoring(&empty).milli_cpu, 100);
    }
}
