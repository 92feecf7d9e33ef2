//! What an object consumes against a ResourceQuota, as Kubernetes' quota
//! evaluators count it: object counts (`pods`, `count/deployments.apps`, …),
//! compute (`requests.cpu`, `limits.memory`, …) and storage. Pure functions:
//! the API server's ResourceQuota admission charges one object's usage, and the
//! quota controller sums it over every object to recompute `status.used`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::quantity::{Format, Quantity};

/// Resource names and amounts, sorted by name as Kubernetes prints them.
pub type ResourceList = BTreeMap<String, Quantity>;

/// The compute resources counted for pods.
const COMPUTE: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];

/// The core kinds that also have a bare quota name (`pods`, `secrets`, …) besides `count/<plural>`.
const LEGACY_COUNTS: [&str; 7] = [
    "pods",
    "services",
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
];

/// A quota's resource list (`spec.hard`, `status.used`) read from JSON; amounts that are
/// not quantities are left out (validation refuses them on write).
pub fn parse_list(value: Option<&Value>) -> ResourceList {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), Quantity::parse(v.as_str()?).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A resource list as JSON.
pub fn to_json(list: &ResourceList) -> Value {
    Value::Object(
        list.iter()
            .map(|(k, v)| (k.clone(), json!(v.to_string())))
            .collect(),
    )
}

/// `count/pods`, `count/deployments.apps`: the object-count name of a resource.
pub fn count_name(group: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }
}

/// `a=1,b=2`: how quota messages print a list.
pub fn pretty(list: &ResourceList) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn one() -> Quantity {
    Quantity::from_value(1, Format::DecimalSi)
}

/// What one object of `plural` in `group` uses.
pub fn usage(group: &str, plural: &str, object: &Value) -> ResourceList {
    let mut used = ResourceList::new();
    if group.is_empty() && plural == "pods" {
        used.insert(count_name(group, plural), one());
        if pod_is_terminal(object) {
            return used;
        }
        used.insert("pods".into(), one());
        let (requests, limits) = pod_requests_limits(object);
        for (name, amount) in requests {
            if name == "cpu" || name == "memory" {
                used.insert(name.clone(), amount);
            }
            used.insert(format!("requests.{name}"), amount);
        }
        for (name, amount) in limits {
            used.insert(format!("limits.{name}"), amount);
        }
        return used;
    }
    used.insert(count_name(group, plural), one());
    if !group.is_empty() || !LEGACY_COUNTS.contains(&plural) {
        return used;
    }
    used.insert(plural.to_string(), one());
    match plural {
        "services" => {
            let ports = object
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map_or(0, Vec::len) as i128;
            match object.pointer("/spec/type").and_then(Value::as_str) {
                Some("LoadBalancer") => {
                    used.insert("services.loadbalancers".into(), one());
                    used.insert(
                        "services.nodeports".into(),
                        Quantity::from_value(ports, Format::DecimalSi),
                    );
                }
                Some("NodePort") => {
                    used.insert(
                        "services.nodeports".into(),
                        Quantity::from_value(ports, Format::DecimalSi),
                    );
                }
                _ => {}
            }
        }
        "persistentvolumeclaims" => {
            let storage = object
                .pointer("/spec/resources/requests/storage")
                .and_then(Value::as_str)
                .and_then(|s| Quantity::parse(s).ok());
            if let Some(storage) = storage {
                used.insert("requests.storage".into(), storage);
            }
            if let Some(class) = object
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
            {
                let prefix = format!("{class}.storageclass.storage.k8s.io");
                used.insert(format!("{prefix}/persistentvolumeclaims"), one());
                if let Some(storage) = storage {
                    used.insert(format!("{prefix}/requests.storage"), storage);
                }
            }
        }
        _ => {}
    }
    used
}

/// A pod that has finished (Succeeded or Failed) no longer counts against compute quota.
pub fn pod_is_terminal(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

fn container_list(container: &Value, field: &str) -> ResourceList {
    parse_list(container.pointer(&format!("/resources/{field}")))
}

/// A pod's effective requests and limits for cpu, memory and ephemeral storage: the sum over
/// its containers, at least the largest init container's, plus the pod overhead.
pub fn pod_requests_limits(pod: &Value) -> (ResourceList, ResourceList) {
    let containers = |list: &str| {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (main, init) = (containers("containers"), containers("initContainers"));
    let overhead = parse_list(pod.pointer("/spec/overhead"));
    let effective = |field: &str| {
        let mut total = ResourceList::new();
        for c in &main {
            for (k, v) in container_list(c, field) {
                if COMPUTE.contains(&k.as_str()) {
                    let t = total.entry(k).or_default();
                    *t = *t + v;
                }
            }
        }
        for c in &init {
            for (k, v) in container_list(c, field) {
                if COMPUTE.contains(&k.as_str()) && total.get(&k).is_none_or(|t| v > *t) {
                    total.insert(k, v);
                }
            }
        }
        for (k, v) in &overhead {
            if let Some(t) = total.get_mut(k) {
                *t = *t + *v;
            }
        }
        total
    };
    (effective("requests"), effective("limits"))
}

/// The quota names that make every container state its own request or limit: a quota on
/// `cpu`/`requests.cpu` needs each container's cpu request, one on `limits.memory` its memory
/// limit. Returns `limits.cpu for: a,b; requests.memory for: c` when some are missing.
pub fn missing_container_resources(hard: &ResourceList, pod: &Value) -> Option<String> {
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let required: Vec<&str> = [
        "cpu",
        "memory",
        "requests.cpu",
        "requests.memory",
        "limits.cpu",
        "limits.memory",
    ]
    .into_iter()
    .filter(|r| hard.contains_key(*r))
    .collect();
    if required.is_empty() {
        return None;
    }
    for list in ["containers", "initContainers"] {
        for c in pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let requests = container_list(c, "requests");
            let limits = container_list(c, "limits");
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            for r in &required {
                let present = match r.split_once('.') {
                    Some(("limits", k)) => limits.contains_key(k),
                    Some((_, k)) => requests.contains_key(k),
                    None => requests.contains_key(*r),
                };
                if !present {
                    missing.entry(r).or_default().push(name.clone());
                }
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    Some(
        missing
            .into_iter()
            .map(|(r, mut names)| {
                names.sort();
                names.dedup();
                format!("{r} for: {}", names.join(","))
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Whether a quota with `spec.scopes` tracks `object` (the pod scopes Terminating,
/// NotTerminating, BestEffort and NotBestEffort; a quota with scopes tracks pods only).
pub fn scopes_match(quota: &Value, group: &str, plural: &str, object: &Value) -> bool {
    let scopes: Vec<&str> = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if scopes.is_empty() {
        return true;
    }
    if !group.is_empty() || plural != "pods" {
        return false;
    }
    let terminating = object
        .pointer("/spec/activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null());
    let (requests, limits) = pod_requests_limits(object);
    let best_effort = requests.is_empty() && limits.is_empty();
    scopes.iter().all(|scope| match *scope {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => best_effort,
        "NotBestEffort" => !best_effort,
        _ => false,
    })
}

/// Keeps only the names in `keep`.
pub fn mask(list: &ResourceList, keep: &ResourceList) -> ResourceList {
    list.iter()
        .filter(|(k, _)| keep.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// `a + b`, name by name.
pub fn add(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut sum = a.clone();
    for (k, v) in b {
        let total = sum.get(k).copied().unwrap_or_default() + *v;
        sum.insert(k.clone(), total);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn pods_count_their_containers_requests_and_the_largest_init_container() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m"}}},
                {"name": "b", "resources": {"requests": {"cpu": "150m"}}}
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1"}}}]
        }});
        let used = usage("", "pods", &pod);
        assert_eq!(used["pods"], q("1"));
        assert_eq!(used["count/pods"], q("1"));
        assert_eq!(used["requests.cpu"], q("1"));
        assert_eq!(used["cpu"], q("1"));
        assert_eq!(used["requests.memory"], q("64Mi"));
        assert_eq!(used["limits.cpu"], q("200m"));
    }

    #[test]
    fn finished_pods_count_only_as_objects() {
        let pod = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}, "status": {"phase": "Succeeded"}});
        let used = usage("", "pods", &pod);
        assert_eq!(used.keys().collect::<Vec<_>>(), ["count/pods"]);
    }

    #[test]
    fn services_count_load_balancers_and_node_ports() {
        let svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}});
        let used = usage("", "services", &svc);
        assert_eq!(used["services.nodeports"], q("2"));
        assert!(!used.contains_key("services.loadbalancers"));
        assert_eq!(
            usage("apps", "deployments", &json!({}))
                .keys()
                .collect::<Vec<_>>(),
            ["count/deployments.apps"]
        );
    }

    #[test]
    fn claims_count_storage_by_class() {
        let pvc = json!({"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}}});
        let used = usage("", "persistentvolumeclaims", &pvc);
        assert_eq!(used["requests.storage"], q("1Gi"));
        assert_eq!(
            used["fast.storageclass.storage.k8s.io/requests.storage"],
            q("1Gi")
        );
    }

    #[test]
    fn containers_without_required_limits_are_named() {
        let hard: ResourceList = [
            ("limits.cpu".to_string(), q("1")),
            ("requests.memory".to_string(), q("1Gi")),
        ]
        .into();
        let pod = json!({"spec": {"containers": [
            {"name": "b", "resources": {"requests": {"memory": "1Mi"}}},
            {"name": "a", "resources": {}}
        ]}});
        assert_eq!(
            missing_container_resources(&hard, &pod).as_deref(),
            Some("limits.cpu for: a,b; requests.memory for: a")
        );
    }

    #[test]
    fn scoped_quotas_track_matching_pods_only() {
        let quota = json!({"spec": {"scopes": ["BestEffort"]}});
        let best_effort = json!({"spec": {"containers": [{"name": "a"}]}});
        let burstable = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}});
        assert!(scopes_match(&quota, "", "pods", &best_effort));
        assert!(!scopes_match(&quota, "", "pods", &burstable));
        assert!(!scopes_match(&quota, "", "configmaps", &best_effort));
    }
}
