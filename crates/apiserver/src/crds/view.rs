//! The served custom kinds: an in-memory view of the stored CustomResourceDefinitions
//! (listed at start, then followed with a store watch, as RBAC's view is), indexed by
//! group/version/plural. Only the served versions of Established definitions are found.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tug_api::crd::{self, Definition, Version};
use tug_api::ResourceType;
use tug_store::{KeyValue, Store};

use crate::authz::reflector::{self, Change};

/// Where definitions are stored.
pub const PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";

/// A stored definition: what it says and whether it is served.
struct Stored {
    definition: Arc<Definition>,
    established: bool,
    /// Deleted, waiting for its objects' finalizers; still served, but takes no new objects.
    terminating: bool,
}

#[derive(Default)]
struct Index {
    /// store key → definition.
    definitions: HashMap<String, Stored>,
    /// (group, version, plural) → served version.
    served: HashMap<(String, String, String), Arc<Version>>,
}

impl Index {
    fn put(&mut self, kv: &KeyValue) {
        let Ok(object) = serde_json::from_slice::<Value>(&kv.value) else {
            return;
        };
        // A stored definition that no longer reads (written by an older tug) is not served.
        let Ok(definition) = crd::read(&object) else {
            self.definitions.remove(&kv.key);
            return;
        };
        let established = object
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| c.get("type").and_then(Value::as_str) == Some("Established") && c.get("status").and_then(Value::as_str) == Some("True"));
        let terminating = object.pointer("/metadata/deletionTimestamp").is_some();
        self.definitions.insert(kv.key.clone(), Stored { definition: Arc::new(definition), established, terminating });
    }

    fn reindex(&mut self) {
        self.served = self
            .definitions
            .values()
            .filter(|s| s.established)
            .flat_map(|s| s.definition.versions.iter().filter(|v| v.served))
            .map(|v| ((v.rt.group.to_string(), v.rt.version.to_string(), v.rt.plural.to_string()), Arc::new(v.clone())))
            .collect();
    }
}

/// The custom kinds a server serves.
pub struct CustomKinds {
    index: RwLock<Index>,
    revision: tokio::sync::watch::Sender<i64>,
}

/// No custom kinds (for callers without a server's view).
impl Default for CustomKinds {
    fn default() -> CustomKinds {
        CustomKinds { index: RwLock::new(Index::default()), revision: tokio::sync::watch::Sender::new(0) }
    }
}

impl CustomKinds {
    /// Lists the stored definitions, then keeps following them.
    pub async fn start(store: Arc<dyn Store>) -> tug_store::Result<Arc<CustomKinds>> {
        let (kvs, revision) = reflector::list(store.as_ref(), PREFIX).await?;
        let kinds = Arc::new(CustomKinds {
            index: RwLock::new(Index::default()),
            revision: tokio::sync::watch::Sender::new(revision),
        });
        kinds.apply(Change::Replace(kvs), revision);
        let follower = kinds.clone();
        reflector::follow(store, PREFIX.to_string(), revision, move |change, at| follower.apply(change, at));
        Ok(kinds)
    }

    fn apply(&self, change: Change, revision: i64) {
        {
            let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
            match change {
                Change::Replace(kvs) => {
                    index.definitions.clear();
                    kvs.iter().for_each(|kv| index.put(kv));
                }
                Change::Put(kv) => index.put(&kv),
                Change::Delete(key) => {
                    index.definitions.remove(&key);
                }
            }
            index.reindex();
        }
        self.revision.send_replace(revision);
    }

    /// Waits (briefly) until the view has seen a write of a definition at `revision`, so
    /// that a client which just created one finds its kind at once.
    pub async fn written(&self, key: &str, revision: i64) {
        if key.starts_with(PREFIX) {
            let mut seen = self.revision.subscribe();
            let _ = tokio::time::timeout(Duration::from_secs(2), seen.wait_for(|r| *r >= revision)).await;
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The served type at `/apis/<group>/<version>/<plural>`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
        self.read().served.get(&(group.to_string(), version.to_string(), plural.to_string())).map(|v| v.rt)
    }

    /// The served version behind a custom type (its schema, columns and scale paths).
    pub fn version(&self, rt: &ResourceType) -> Option<Arc<Version>> {
        self.read().served.get(&(rt.group.to_string(), rt.version.to_string(), rt.plural.to_string())).cloned()
    }

    /// Every served custom type, ordered by group, then version, then plural.
    pub fn all(&self) -> Vec<&'static ResourceType> {
        let mut all: Vec<&'static ResourceType> = self.read().served.values().map(|v| v.rt).collect();
        all.sort_by_key(|t| (t.group, t.version, t.plural));
        all
    }

    /// The custom groups with their served versions, the storage version first (discovery's
    /// preferred version), then the others in the definitions' order.
    pub fn groups(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        let index = self.read();
        let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
        let mut definitions: Vec<&Stored> = index.definitions.values().filter(|s| s.established).collect();
        definitions.sort_by(|a, b| a.definition.group.cmp(&b.definition.group).then(a.definition.plural.cmp(&b.definition.plural)));
        for stored in definitions {
            let mut versions: Vec<&Version> = stored.definition.versions.iter().filter(|v| v.served).collect();
            versions.sort_by_key(|v| !v.storage);
            let Some(first) = versions.first() else { continue };
            let entry = match groups.iter_mut().position(|(g, _)| *g == first.rt.group) {
                Some(i) => &mut groups[i].1,
                None => {
                    groups.push((first.rt.group, Vec::new()));
                    &mut groups.last_mut().expect("pushed above").1
                }
            };
            for v in versions {
                if !entry.contains(&v.rt.version) {
                    entry.push(v.rt.version);
                }
            }
        }
        groups
    }

    /// Whether the definition stored at `key` is being deleted.
    pub fn terminating(&self, key: &str) -> bool {
        self.read().definitions.get(key).is_some_and(|s| s.terminating)
    }

    /// The stored definitions other than `except` (a store key), for name conflict checks.
    pub fn others(&self, except: &str) -> Vec<Arc<Definition>> {
        self.read().definitions.iter().filter(|(k, _)| *k != except).map(|(_, s)| s.definition.clone()).collect()
    }
}
