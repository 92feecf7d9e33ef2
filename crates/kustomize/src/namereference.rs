//! Name references: when a ConfigMap, Secret, Service, ServiceAccount, PVC,
//! Role... is renamed (prefix, suffix, content hash), every field that
//! refers to it by name follows.
//!
//! The fix-up runs after each kustomization level's transforms, so a
//! reference is resolved against the resources of the same subtree; a
//! referrer's value is matched first against the referral's name at the start
//! of the level, then against any earlier name.

use std::collections::HashMap;

use serde_json::Value;

use crate::config::Config;
use crate::error::Result;
use crate::fieldspec::visit;
use crate::resource::Resource;

struct Candidate {
    group: String,
    version: String,
    name: String,
    namespace: String,
}

/// The resources of one kind, findable by their level-start and earlier names.
#[derive(Default)]
struct KindIndex {
    cands: Vec<Candidate>,
    by_level_name: HashMap<String, Vec<usize>>,
    by_earlier_name: HashMap<String, Vec<usize>>,
}

/// Updates every reference to a renamed resource.
pub fn fix(resources: &mut [Resource], config: &Config) -> Result<()> {
    if resources.iter().all(|r| r.level_name == r.name()) {
        return Ok(());
    }
    let mut by_kind: HashMap<String, KindIndex> = HashMap::new();
    for r in resources.iter() {
        let idx = by_kind.entry(r.kind().to_string()).or_default();
        let i = idx.cands.len();
        idx.cands.push(Candidate {
            group: r.group().to_string(),
            version: r.version().to_string(),
            name: r.name().to_string(),
            namespace: r.namespace().to_string(),
        });
        idx.by_level_name.entry(r.level_name.clone()).or_default().push(i);
        for e in &r.prev_names {
            idx.by_earlier_name.entry(e.clone()).or_default().push(i);
        }
    }
    for res in resources.iter_mut() {
        let ns = res.namespace().to_string();
        for entry in &config.name_reference {
            let Some(index) = by_kind.get(&entry.kind) else { continue };
            let lookup = Lookup { index, group: &entry.group, version: &entry.version };
            for spec in &entry.field_specs {
                if !spec.applies_to(res) {
                    continue;
                }
                let mut segs = spec.segments();
                let Some(field) = segs.pop() else { continue };
                visit(&mut res.obj, &segs, false, &mut |parent| {
                    update(parent, &field, &entry.kind, &lookup, &ns);
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

/// Finds the referral a name points at, within one name-reference entry.
struct Lookup<'a> {
    index: &'a KindIndex,
    group: &'a str,
    version: &'a str,
}

impl Lookup<'_> {
    /// The referral's current name: matched first by its name at the start
    /// of the level, then by any earlier name; same namespace preferred.
    fn resolve(&self, value: &str, ns: &str) -> Option<String> {
        let eligible = |i: &&usize| {
            let c = &self.index.cands[**i];
            (self.group.is_empty() || self.group == c.group)
                && (self.version.is_empty() || self.version == c.version)
        };
        for map in [&self.index.by_level_name, &self.index.by_earlier_name] {
            let hits: Vec<&Candidate> = map
                .get(value)
                .map(|v| v.iter().filter(eligible).map(|i| &self.index.cands[*i]).collect())
                .unwrap_or_default();
            if let Some(c) = hits.iter().find(|c| c.namespace == ns).or(hits.first()) {
                return Some(c.name.clone());
            }
        }
        None
    }
}

fn update(parent: &mut Value, field: &str, kind: &str, lookup: &Lookup, referrer_ns: &str) {
    let Value::Object(m) = parent else { return };
    if let Some(k) = m.get("kind").and_then(Value::as_str) {
        if k != kind {
            return;
        }
    }
    let ns = m
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or(referrer_ns)
        .to_string();
    match m.get_mut(field) {
        Some(Value::String(s)) => {
            if let Some(n) = lookup.resolve(s, &ns) {
                *s = n;
            }
        }
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::String(s) = item {
                    if let Some(n) = lookup.resolve(s, &ns) {
                        *s = n;
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renamed_configmap_is_followed_by_volumes_and_env_refs() {
        let mut cm = Resource::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}));
        let dep = Resource::new(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {
                "volumes": [{"name": "v", "configMap": {"name": "cfg"}}],
                "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}}],
                                "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "other", "key": "k"}}}]}]}}}}));
        cm.set_name("p-cfg");
        let mut all = vec![cm, dep];
        fix(&mut all, &Config::defaults()).unwrap();
        let spec = &all[1].obj["spec"]["template"]["spec"];
        assert_eq!(spec["volumes"][0]["configMap"]["name"], "p-cfg");
        assert_eq!(spec["containers"][0]["envFrom"][0]["configMapRef"]["name"], "p-cfg");
        assert_eq!(spec["containers"][0]["env"][0]["valueFrom"]["configMapKeyRef"]["name"], "other");
    }

    #[test]
    fn role_binding_follows_only_the_kind_it_names() {
        let mut role = Resource::new(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}}));
        role.set_name("x-r");
        let rb = Resource::new(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb"},
            "roleRef": {"kind": "ClusterRole", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "r"}]}));
        let mut all = vec![role, rb];
        fix(&mut all, &Config::defaults()).unwrap();
        assert_eq!(all[1].obj["roleRef"]["name"], "r");
        assert_eq!(all[1].obj["subjects"][0]["name"], "r");
    }
}
