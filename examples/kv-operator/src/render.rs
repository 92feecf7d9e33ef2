//! What a KeyValueStore should look like in the cluster, as pure functions of the custom
//! resource (and of what the StatefulSet reports): the ConfigMap, the headless Service,
//! the StatefulSet, and the store's status. No IO here, so all of it is unit-tested; the
//! reconciler in `store.rs` applies the results.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::resources::{Condition, KeyValueStore, KeyValueStoreStatus};

/// The pod template annotation that carries the configuration's hash: a new hash is a new
/// pod template, so the StatefulSet replaces its members one at a time.
pub const CONFIG_HASH: &str = "example.tugboat.dev/config-hash";
/// The port every member serves on.
pub const PORT: i32 = 8080;

/// The labels of everything made for the store `name`, `component` saying what it is
/// (`member`: the pods of the StatefulSet and their claims; `backup`, `restore`).
pub fn labels(name: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "kv".to_string()),
        ("app.kubernetes.io/instance".to_string(), name.to_string()),
        ("app.kubernetes.io/component".to_string(), component.to_string()),
        ("app.kubernetes.io/managed-by".to_string(), MANAGED_BY.to_string()),
    ])
}

/// The value of `app.kubernetes.io/managed-by` on everything the operator makes.
pub const MANAGED_BY: &str = "tug-kv-operator";

/// The members' label selector, as `kubectl get -l` takes it.
pub fn selector(name: &str) -> String {
    labels(name, "member").iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// The name of the ConfigMap with the members' settings.
pub fn config_map_name(store: &str) -> String {
    format!("{store}-config")
}

/// The claim holding member `ordinal`'s data (the StatefulSet's `data` template).
pub fn data_claim(store: &str, ordinal: i32) -> String {
    format!("data-{store}-{ordinal}")
}

/// The member settings, as environment variables the kv service reads.
pub fn config_data(kvs: &KeyValueStore) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("KV_GREETING".to_string(), kvs.spec.config.greeting.clone()),
        ("KV_MAX_VALUE_BYTES".to_string(), kvs.spec.config.max_value_bytes.to_string()),
    ])
}

/// A short hash of the settings (stable: the map is sorted).
pub fn config_hash(data: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    for (k, v) in data {
        hasher.update(k.as_bytes());
        hasher.update([0]);
        hasher.update(v.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn metadata(name: &str, store: &str, owner: &OwnerReference) -> Value {
    json!({"name": name, "labels": labels(store, "member"), "ownerReferences": [owner]})
}

/// The ConfigMap NAME-config.
pub fn config_map(kvs: &KeyValueStore, name: &str, owner: &OwnerReference) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(&config_map_name(name), name, owner),
        "data": config_data(kvs),
    })
}

/// The headless Service NAME that gives each member its DNS name NAME-N.NAME.
pub fn service(name: &str, owner: &OwnerReference) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, name, owner),
        "spec": {
            "clusterIP": "None",
            "selector": labels(name, "member"),
            "ports": [{"name": "http", "port": PORT, "targetPort": PORT}],
        },
    })
}

/// The StatefulSet NAME: one pod per member with its own `data` volume.
pub fn stateful_set(kvs: &KeyValueStore, name: &str, owner: &OwnerReference) -> Value {
    let hash = config_hash(&config_data(kvs));
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(name, name, owner),
        "spec": {
            "replicas": kvs.spec.replicas,
            "serviceName": name,
            "selector": {"matchLabels": labels(name, "member")},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels(name, "member"), "annotations": {CONFIG_HASH: hash}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "kv",
                        "image": kvs.spec.image,
                        "imagePullPolicy": "IfNotPresent",
                        "ports": [{"name": "http", "containerPort": PORT}],
                        "envFrom": [{"configMapRef": {"name": config_map_name(name)}}],
                        "readinessProbe": {
                            "httpGet": {"path": "/cgi-bin/healthz", "port": PORT},
                            "periodSeconds": 1,
                        },
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }],
                },
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data", "labels": labels(name, "member")},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
            }],
        },
    })
}

/// The store's status from its StatefulSet (None: not made yet).
pub fn store_status(kvs: &KeyValueStore, name: &str, set: Option<&StatefulSet>) -> KeyValueStoreStatus {
    let desired = kvs.spec.replicas;
    let observed = set.and_then(|s| s.status.as_ref());
    let replicas = observed.map_or(0, |s| s.replicas);
    let ready = observed.and_then(|s| s.ready_replicas).unwrap_or(0);
    let updated = observed.and_then(|s| s.updated_replicas).unwrap_or(0);
    // Until the StatefulSet controller has seen the latest spec its counts describe the
    // previous one.
    let caught_up = set.is_some_and(|s| observed.and_then(|o| o.observed_generation) == s.metadata.generation);
    let (phase, message) = if !caught_up {
        ("Pending", "waiting for the StatefulSet controller".to_string())
    } else if replicas != desired {
        ("Scaling", format!("{replicas} members exist, {desired} wanted"))
    } else if updated < desired {
        ("Updating", format!("{updated}/{desired} members run the current configuration"))
    } else if ready < desired {
        ("Pending", format!("{ready}/{desired} members ready"))
    } else {
        ("Running", format!("{ready}/{desired} members ready"))
    };
    let ready_condition = Condition::new("Ready", phase == "Running", phase, message);
    KeyValueStoreStatus {
        replicas,
        ready_replicas: ready,
        updated_replicas: updated,
        phase: phase.to_string(),
        selector: selector(name),
        observed_generation: kvs.metadata.generation.unwrap_or_default(),
        conditions: vec![ready_condition],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{KeyValueConfig, KeyValueStoreSpec};
    use k8s_openapi::api::apps::v1::StatefulSetStatus;

    fn store(replicas: i32, greeting: &str) -> KeyValueStore {
        let mut kvs = KeyValueStore::new(
            "cache",
            KeyValueStoreSpec { replicas, image: "kv:1".into(), config: KeyValueConfig { greeting: greeting.into(), max_value_bytes: 64 } },
        );
        kvs.metadata.generation = Some(4);
        kvs
    }

    fn owner() -> OwnerReference {
        OwnerReference { api_version: "example.tugboat.dev/v1".into(), kind: "KeyValueStore".into(), name: "cache".into(), uid: "u1".into(), controller: Some(true), ..OwnerReference::default() }
    }

    #[test]
    fn a_config_change_changes_the_pod_template_and_nothing_else_does() {
        let a = stateful_set(&store(1, "hi"), "cache", &owner());
        let scaled = stateful_set(&store(3, "hi"), "cache", &owner());
        let changed = stateful_set(&store(1, "bonjour"), "cache", &owner());
        assert_eq!(a["spec"]["template"], scaled["spec"]["template"], "scaling keeps the template: no roll");
        assert_ne!(a["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH], changed["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH]);
        assert_eq!(scaled["spec"]["replicas"], 3);
    }

    #[test]
    fn rendered_objects_are_valid_kubernetes_objects_owned_by_the_store() {
        let kvs = store(2, "hi");
        let set: StatefulSet = serde_json::from_value(stateful_set(&kvs, "cache", &owner())).unwrap();
        let spec = set.spec.unwrap();
        assert_eq!(spec.service_name.as_deref(), Some("cache"));
        assert_eq!(spec.volume_claim_templates.unwrap()[0].metadata.name.as_deref(), Some("data"));
        assert_eq!(set.metadata.owner_references.unwrap()[0].uid, "u1");
        let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(config_map(&kvs, "cache", &owner())).unwrap();
        assert_eq!(cm.metadata.name.as_deref(), Some("cache-config"));
        assert_eq!(cm.data.unwrap()["KV_MAX_VALUE_BYTES"], "64");
        let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(service("cache", &owner())).unwrap();
        assert_eq!(svc.spec.unwrap().cluster_ip.as_deref(), Some("None"));
    }

    fn set(generation: i64, observed: i64, replicas: i32, ready: i32, updated: i32) -> StatefulSet {
        let mut set = StatefulSet::default();
        set.metadata.generation = Some(generation);
        set.status = Some(StatefulSetStatus {
            observed_generation: Some(observed),
            replicas,
            ready_replicas: Some(ready),
            updated_replicas: Some(updated),
            ..StatefulSetStatus::default()
        });
        set
    }

    #[test]
    fn status_says_what_the_members_are_doing() {
        let kvs = store(3, "hi");
        let phase = |s: Option<&StatefulSet>| store_status(&kvs, "cache", s).phase;
        assert_eq!(phase(None), "Pending");
        assert_eq!(phase(Some(&set(2, 1, 3, 3, 3))), "Pending", "the controller has not seen generation 2");
        assert_eq!(phase(Some(&set(2, 2, 1, 1, 1))), "Scaling");
        assert_eq!(phase(Some(&set(2, 2, 3, 3, 1))), "Updating");
        assert_eq!(phase(Some(&set(2, 2, 3, 2, 3))), "Pending");
        let running = store_status(&kvs, "cache", Some(&set(2, 2, 3, 3, 3)));
        assert_eq!(running.phase, "Running");
        assert_eq!(running.conditions, [Condition::new("Ready", true, "Running", "3/3 members ready")]);
        assert_eq!(running.observed_generation, 4);
        assert_eq!(running.selector, "app.kubernetes.io/component=member,app.kubernetes.io/instance=cache,app.kubernetes.io/managed-by=tug-kv-operator,app.kubernetes.io/name=kv");
    }
}
