//! The custom resources this operator serves, as Rust types: `#[derive(CustomResource)]`
//! generates the Kubernetes kinds and their CustomResourceDefinitions (schema, status and
//! scale subresources, printer columns) from them, so the types are the single source of
//! truth and `crd.yaml` is their output.
//!
//! - [`KeyValueStore`] (`kvs`): a replicated key-value service run as a StatefulSet.
//! - [`KeyValueBackup`] (`kvb`): a copy of each member's data, taken once.
//! - [`KeyValueRestore`] (`kvr`): puts a backup's data back into its store, once.

// One `#[kube(printcolumn(..))]` per column repeats `type_ = ..`, which clippy mistakes
// for a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of every kind here.
pub const GROUP: &str = "example.tugboat.dev";

/// A replicated key-value store: member 0 takes writes, the others serve copies of it.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(group = "example.tugboat.dev", version = "v1", kind = "KeyValueStore", namespaced)]
#[kube(doc = "A replicated key-value store run as a StatefulSet by tug-kv-operator")]
#[kube(status = "KeyValueStoreStatus", shortname = "kvs", category = "kv")]
#[kube(scale(spec_replicas_path = ".spec.replicas", status_replicas_path = ".status.replicas", label_selector_path = ".status.selector"))]
#[kube(printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"))]
#[kube(printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"))]
#[kube(printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"))]
#[kube(printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
#[serde(rename_all = "camelCase")]
pub struct KeyValueStoreSpec {
    /// How many members run (pods NAME-0 … NAME-(replicas-1)).
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 9))]
    pub replicas: i32,
    /// The kv service image (see examples/kv-operator/image).
    #[schemars(length(min = 1))]
    pub image: String,
    /// Settings every member starts with; changing them rolls the members one by one.
    #[serde(default)]
    pub config: KeyValueConfig,
}

fn one() -> i32 {
    1
}

/// The members' configuration, rendered into the ConfigMap NAME-config.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyValueConfig {
    /// Shown by every member's /cgi-bin/info.
    #[serde(default)]
    pub greeting: String,
    /// Larger values are refused with 413.
    #[serde(default = "default_max_value_bytes")]
    #[schemars(range(min = 1, max = 1048576))]
    pub max_value_bytes: u32,
}

fn default_max_value_bytes() -> u32 {
    1024
}

impl Default for KeyValueConfig {
    fn default() -> Self {
        KeyValueConfig { greeting: String::new(), max_value_bytes: default_max_value_bytes() }
    }
}

/// What the operator last saw of a store.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyValueStoreStatus {
    /// Members that exist.
    pub replicas: i32,
    /// Members that are Ready.
    pub ready_replicas: i32,
    /// Members running the current configuration.
    pub updated_replicas: i32,
    /// `Pending`, `Scaling`, `Updating` or `Running`.
    pub phase: String,
    /// The members' label selector (for the scale subresource and `kubectl scale`).
    pub selector: String,
    /// The generation this status describes.
    pub observed_generation: i64,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// Takes a copy of every member's data of `store` onto the store's backup volume.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(group = "example.tugboat.dev", version = "v1", kind = "KeyValueBackup", namespaced)]
#[kube(doc = "A backup of every member of a KeyValueStore, taken once")]
#[kube(status = "JobStatus", shortname = "kvb", category = "kv")]
#[kube(printcolumn(name = "Store", type_ = "string", json_path = ".spec.store"))]
#[kube(printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"))]
#[kube(printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
pub struct KeyValueBackupSpec {
    /// The KeyValueStore to back up, in the same namespace.
    #[schemars(length(min = 1))]
    pub store: String,
}

/// Puts the data of `backup` back into every member of `store` that the backup covers.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(group = "example.tugboat.dev", version = "v1", kind = "KeyValueRestore", namespaced)]
#[kube(doc = "A restore of a KeyValueBackup into its KeyValueStore, done once")]
#[kube(status = "JobStatus", shortname = "kvr", category = "kv")]
#[kube(printcolumn(name = "Store", type_ = "string", json_path = ".spec.store"))]
#[kube(printcolumn(name = "Backup", type_ = "string", json_path = ".spec.backup"))]
#[kube(printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"))]
#[kube(printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
pub struct KeyValueRestoreSpec {
    /// The KeyValueStore to restore into, in the same namespace.
    #[schemars(length(min = 1))]
    pub store: String,
    /// The KeyValueBackup to restore from; it must be Completed.
    #[schemars(length(min = 1))]
    pub backup: String,
}

/// Progress of a backup or a restore: one Job per member.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// `Pending`, `Running`, `Completed` or `Failed`.
    pub phase: String,
    /// How many members it covers (a backup: the store's members when it was taken).
    pub members: i32,
    /// Members done.
    pub succeeded: i32,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A condition as in metav1.Condition, without its timestamps.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// E.g. `Ready`, `Complete`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// One CamelCase word a program can match, e.g. `BackupNotFound`.
    pub reason: String,
    /// What a person reads: what is wrong and how to fix it.
    pub message: String,
}

impl Condition {
    pub fn new(type_: &str, ok: bool, reason: &str, message: impl Into<String>) -> Condition {
        let status = if ok { "True" } else { "False" };
        Condition { type_: type_.into(), status: status.into(), reason: reason.into(), message: message.into() }
    }
}
