//! The objects an Application renders to, as the API reaches them: how kube-rs finds each
//! kind (the built-in registry, else discovery for custom kinds), server-side apply under
//! the controller's field manager with the Application as controlling owner, reads and
//! deletes; and the references (`status.appliedResources`) that say what was applied.

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kube::Client;
use serde_json::{json, Value};

/// The field manager the controller applies with.
pub const MANAGER: &str = "tug-application-controller";

/// One object an Application applied: what `status.appliedResources` lists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ref {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub component: String,
}

impl Ref {
    /// The reference of a rendered object of `component`.
    pub fn of(object: &Value, component: &str) -> Ref {
        let s = |path: &str| object.pointer(path).and_then(Value::as_str).unwrap_or_default().to_string();
        Ref {
            api_version: s("/apiVersion"),
            kind: s("/kind"),
            namespace: object.pointer("/metadata/namespace").and_then(Value::as_str).map(String::from),
            name: s("/metadata/name"),
            component: component.to_string(),
        }
    }

    /// Read back from `status.appliedResources`.
    pub fn from_status(value: &Value) -> Option<Ref> {
        let s = |key: &str| value.get(key).and_then(Value::as_str).map(String::from);
        Some(Ref { api_version: s("apiVersion")?, kind: s("kind")?, namespace: s("namespace"), name: s("name")?, component: s("component").unwrap_or_default() })
    }

    pub fn to_status(&self) -> Value {
        let mut v = json!({"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "component": self.component});
        if let Some(ns) = &self.namespace {
            v["namespace"] = json!(ns);
        }
        v
    }

    /// The same object, whichever component rendered it.
    pub fn same_object(&self, other: &Ref) -> bool {
        (&self.api_version, &self.kind, &self.namespace, &self.name) == (&other.api_version, &other.kind, &other.namespace, &other.name)
    }
}

impl std::fmt::Display for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// How the API reaches one kind.
async fn api_for(client: &Client, api_version: &str, kind: &str, namespace: Option<&str>) -> Result<Api<DynamicObject>, kube::Error> {
    let (resource, namespaced) = match tug_api::registry::by_kind(api_version, kind) {
        Some(rt) => (crate::kinds::api_resource(rt), rt.namespaced),
        None => {
            let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
            let (resource, caps) = kube::discovery::pinned_kind(client, &GroupVersionKind::gvk(group, version, kind)).await?;
            (resource, caps.scope == Scope::Namespaced)
        }
    };
    Ok(api_with(client, &resource, if namespaced { namespace } else { None }, namespaced))
}

fn api_with(client: &Client, resource: &ApiResource, namespace: Option<&str>, namespaced: bool) -> Api<DynamicObject> {
    match (namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, resource),
        (true, None) => Api::default_namespaced_with(client.clone(), resource),
        (false, _) => Api::all_with(client.clone(), resource),
    }
}

/// Server-side applies `object`, owned by the application `owner` (its ownerReference)
/// when the object's kind is namespaced; returns the live object.
pub async fn apply(client: &Client, object: &Value, owner: &Value) -> Result<Value, kube::Error> {
    let r = Ref::of(object, "");
    let api = api_for(client, &r.api_version, &r.kind, r.namespace.as_deref()).await?;
    let mut object = object.clone();
    if api.resource_url().contains("/namespaces/") {
        object["metadata"]["ownerReferences"] = json!([owner]);
    } else if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("namespace");
    }
    let live = api.patch(&r.name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&object)).await?;
    Ok(serde_json::to_value(live).unwrap_or_default())
}

/// The live object, if it exists.
pub async fn get(client: &Client, r: &Ref) -> Result<Option<Value>, kube::Error> {
    let api = api_for(client, &r.api_version, &r.kind, r.namespace.as_deref()).await?;
    Ok(api.get_opt(&r.name).await?.map(|o| serde_json::to_value(o).unwrap_or_default()))
}

/// Deletes the object (its dependents in the background); gone already is fine.
pub async fn delete(client: &Client, r: &Ref) -> Result<(), kube::Error> {
    let api = match api_for(client, &r.api_version, &r.kind, r.namespace.as_deref()).await {
        Ok(api) => api,
        // A kind no longer served has no objects left to delete.
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(e) => return Err(e),
    };
    match api.delete(&r.name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
