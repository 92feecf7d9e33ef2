//! A release's objects in the cluster, through `tug-client`: reading a manifest into
//! typed objects, creating, three-way updating (old manifest, new manifest, live state,
//! with the strategic merge patch `tug apply` uses), deleting and waiting.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tug_client::resources::{Resolver, ResourceInfo};
use tug_client::{patch, PatchType, Session};

use crate::readiness;
use crate::{cluster, Error};

pub const RELEASE_NAME: &str = "meta.helm.sh/release-name";
pub const RELEASE_NAMESPACE: &str = "meta.helm.sh/release-namespace";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const RESOURCE_POLICY: &str = "helm.sh/resource-policy";

/// One object of a manifest, with its type and where it lives.
#[derive(Clone, Debug)]
pub struct Object {
    pub ri: ResourceInfo,
    pub ns: Option<String>,
    pub name: String,
    pub obj: Value,
}

impl Object {
    /// `ConfigMap "x" in namespace "y"` / `ClusterRole "x"`.
    pub fn describe(&self) -> String {
        match &self.ns {
            Some(ns) => format!("{} \"{}\" in namespace \"{ns}\"", self.ri.kind, self.name),
            None => format!("{} \"{}\"", self.ri.kind, self.name),
        }
    }

    /// The identity of the object across manifests.
    pub fn key(&self) -> (String, String, Option<String>, String) {
        (
            self.ri.group.clone(),
            self.ri.kind.clone(),
            self.ns.clone(),
            self.name.clone(),
        )
    }

    /// `helm.sh/resource-policy: keep`.
    pub fn keep(&self) -> bool {
        self.obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(RESOURCE_POLICY))
            .and_then(Value::as_str)
            == Some("keep")
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }
}

fn entry<'a>(obj: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !obj.get(key).is_some_and(Value::is_object) {
        obj[key] = json!({});
    }
    match obj.get_mut(key).and_then(Value::as_object_mut) {
        Some(m) => m,
        None => unreachable!("set to an object just above"),
    }
}

/// Adds Helm's ownership metadata, so a later install or another release can tell
/// whose the object is.
pub fn set_owner(obj: &mut Value, release: &str, ns: &str) {
    let meta = obj.get_mut("metadata").filter(|m| m.is_object());
    let Some(meta) = meta else { return };
    entry(meta, "labels").insert(MANAGED_BY.into(), json!("Helm"));
    let ann = entry(meta, "annotations");
    ann.insert(RELEASE_NAME.into(), json!(release));
    ann.insert(RELEASE_NAMESPACE.into(), json!(ns));
}

/// Why `live` cannot be taken over by the release, if it cannot (Helm's wording).
pub fn ownership_error(live: &Object, release: &str, ns: &str) -> Option<String> {
    let check = |key: &str, want: &str| {
        match live.annotation(key) {
        Some(v) if v == want => None,
        Some(v) => Some(format!(
            "annotation validation error: key \"{key}\" must equal \"{want}\": current value is \"{v}\""
        )),
        None => Some(format!(
            "annotation validation error: missing key \"{key}\": must be set to \"{want}\""
        )),
    }
    };
    let why = check(RELEASE_NAME, release).or_else(|| check(RELEASE_NAMESPACE, ns))?;
    Some(format!(
        "{} exists and cannot be imported into the current release: invalid ownership metadata; {why}",
        live.describe()
    ))
}

/// The cluster, as a release sees it.
pub struct Kube {
    pub session: Session,
}

impl Kube {
    /// Forgets discovered types (after CRDs were created).
    pub fn rediscover(&mut self) {
        self.session.resolver = Resolver::new(self.session.conn.clone());
    }

    /// The objects of a manifest (YAML stream), namespaced ones defaulting to `ns`.
    pub async fn objects(&mut self, manifest: &str, ns: &str) -> Result<Vec<Object>, Error> {
        let docs = tug_client::manifest::parse(manifest, "manifest")
            .map_err(|e| Error::Release(e.to_string()))?;
        let mut out = Vec::new();
        for mut obj in docs {
            let ri = self.session.resolver.for_object(&obj).await.map_err(|e| {
                Error::Release(format!(
                    "unable to build kubernetes objects from release manifest: {e}"
                ))
            })?;
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if name.is_empty() {
                return Err(Error::Release(format!(
                    "a {} in the manifest has no metadata.name",
                    ri.kind
                )));
            }
            let obj_ns = if ri.namespaced {
                let ns = obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or(ns)
                    .to_string();
                obj["metadata"]["namespace"] = json!(ns);
                Some(ns)
            } else {
                None
            };
            out.push(Object {
                ri,
                ns: obj_ns,
                name,
                obj,
            });
        }
        Ok(out)
    }

    /// The live object, `None` when absent.
    pub async fn live(&self, o: &Object) -> Result<Option<Value>, Error> {
        match self.session.conn.get(&o.ri, o.ns.as_deref(), &o.name).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(cluster(&format!("reading {}", o.describe()))(e)),
        }
    }

    pub async fn create(&self, o: &Object) -> Result<(), Error> {
        self.session
            .conn
            .create(&o.ri, o.ns.as_deref(), &o.obj)
            .await
            .map_err(cluster(&format!("creating {}", o.describe())))?;
        Ok(())
    }

    /// Brings the live object from `old` (what the release last applied) to `new`,
    /// keeping changes others made to fields neither manifest sets; creates it when gone.
    pub async fn update(&mut self, old: Option<&Object>, new: &Object) -> Result<(), Error> {
        let Some(live) = self.live(new).await? else {
            return self.create(new).await;
        };
        let ri = &new.ri;
        let strategic = self
            .session
            .schemas(&ri.group, &ri.version)
            .await
            .and_then(|s| s.kind(&ri.group, &ri.version, &ri.kind));
        let pt = if strategic.is_some() {
            PatchType::Strategic
        } else {
            PatchType::Merge
        };
        let p = patch::three_way(old.map(|o| &o.obj), &new.obj, &live, strategic);
        if p.as_object().is_some_and(Map::is_empty) {
            return Ok(());
        }
        self.session
            .conn
            .patch(ri, new.ns.as_deref(), &new.name, pt, &p)
            .await
            .map_err(cluster(&format!("updating {}", new.describe())))?;
        Ok(())
    }

    /// Deletes the object (absent is fine).
    pub async fn delete(&self, o: &Object) -> Result<(), Error> {
        match self
            .session
            .conn
            .delete(&o.ri, o.ns.as_deref(), &o.name, "Background")
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(cluster(&format!("deleting {}", o.describe()))(e)),
        }
    }

    /// Deletes the object and waits until it is gone.
    pub async fn delete_and_wait(&self, o: &Object, deadline: Instant) -> Result<(), Error> {
        self.delete(o).await?;
        while self.live(o).await?.is_some() {
            if Instant::now() > deadline {
                return Err(Error::Release(format!(
                    "timed out waiting for {} to be deleted",
                    o.describe()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// Waits until every object is ready (`--wait`).
    pub async fn wait_ready(&self, objs: &[Object], deadline: Instant) -> Result<(), Error> {
        for o in objs {
            loop {
                let why = match self.live(o).await? {
                    Some(live) => readiness::not_ready(&o.ri.kind, &live),
                    None => Some("it does not exist".into()),
                };
                let Some(why) = why else { break };
                if Instant::now() > deadline {
                    return Err(Error::Release(format!(
                        "timed out waiting for the condition: {} is not ready: {why}",
                        o.describe()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        Ok(())
    }

    /// Waits until a hook has finished; `Err` carries why it failed.
    pub async fn wait_hook(
        &self,
        o: &Object,
        deadline: Instant,
    ) -> Result<Result<(), String>, Error> {
        loop {
            let live = self.live(o).await?.ok_or_else(|| {
                Error::Release(format!("{} disappeared while it ran", o.describe()))
            })?;
            if let Some(done) = readiness::hook_outcome(&o.ri.kind, &live) {
                return Ok(done);
            }
            if Instant::now() > deadline {
                return Ok(Err("timed out waiting for the condition".into()));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(ann: Value) -> Object {
        Object {
            ri: ResourceInfo {
                group: String::new(),
                version: "v1".into(),
                kind: "ConfigMap".into(),
                plural: "configmaps".into(),
                singular: "configmap".into(),
                namespaced: true,
                short_names: vec![],
                verbs: vec![],
                categories: vec![],
            },
            ns: Some("default".into()),
            name: "c".into(),
            obj: json!({"metadata": {"name": "c", "annotations": ann}}),
        }
    }

    #[test]
    fn ownership_as_helm_words_it() {
        let mut o = cm(json!({}));
        set_owner(&mut o.obj, "a", "default");
        assert_eq!(o.obj["metadata"]["labels"][MANAGED_BY], "Helm");
        assert_eq!(ownership_error(&o, "a", "default"), None);
        let e = ownership_error(&o, "b", "default").unwrap();
        assert_eq!(e, "ConfigMap \"c\" in namespace \"default\" exists and cannot be imported into the current release: invalid ownership metadata; annotation validation error: key \"meta.helm.sh/release-name\" must equal \"b\": current value is \"a\"");
        let bare = cm(json!({}));
        assert!(ownership_error(&bare, "a", "default")
            .unwrap()
            .contains("missing key \"meta.helm.sh/release-name\""));
        assert!(cm(json!({RESOURCE_POLICY: "keep"})).keep());
    }
}
