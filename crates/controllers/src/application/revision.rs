//! ApplicationRevisions: a snapshot per distinct Application spec, named `<app>-v<N>` with
//! N counting up, holding the spec (`spec.application`) and what it rendered to
//! (`spec.resources`). A spec equal to an earlier revision's (a rollback, an edit undone)
//! reuses that revision instead of making a new one.

use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::Client;
use serde_json::{json, Value};

use tug_oam::APP_LABEL;

fn resource() -> ApiResource {
    ApiResource {
        group: "core.oam.dev".into(),
        version: "v1beta1".into(),
        api_version: "core.oam.dev/v1beta1".into(),
        kind: "ApplicationRevision".into(),
        plural: "applicationrevisions".into(),
    }
}

/// The revisions of application `app` in `namespace`.
pub fn api(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &resource())
}

/// The revision's name for number `n`.
pub fn name(app: &str, n: i64) -> String {
    format!("{app}-v{n}")
}

/// The revision holding `spec` (found or made): its name and number.
pub async fn ensure(client: &Client, app: &Value, rendered: &[&Value], owner: &Value) -> Result<(String, i64), kube::Error> {
    let app_name = app.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let namespace = app.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
    let api = api(client, namespace);
    let list = api.list(&ListParams::default().labels(&format!("{APP_LABEL}={app_name}"))).await?;
    let mut highest = 0;
    for rev in list.items {
        let rev = serde_json::to_value(rev).unwrap_or_default();
        let n = rev.pointer("/spec/revision").and_then(Value::as_i64).unwrap_or(0);
        highest = highest.max(n);
        if rev.pointer("/spec/application/spec") == app.get("spec") {
            return Ok((name(app_name, n), n));
        }
    }
    let n = highest + 1;
    let revision = json!({
        "apiVersion": "core.oam.dev/v1beta1", "kind": "ApplicationRevision",
        "metadata": {"name": name(app_name, n), "namespace": namespace, "labels": {APP_LABEL: app_name}, "ownerReferences": [owner]},
        "spec": {
            "revision": n,
            "application": {"apiVersion": "core.oam.dev/v1beta1", "kind": "Application", "metadata": {"name": app_name, "namespace": namespace}, "spec": app.get("spec")},
            "resources": rendered,
        },
    });
    let object: DynamicObject = serde_json::from_value(revision).map_err(kube::Error::SerdeError)?;
    api.create(&PostParams::default(), &object).await?;
    Ok((name(app_name, n), n))
}

/// The spec recorded in revision `n` of `app`, if there is one.
pub async fn spec_of(client: &Client, namespace: &str, app: &str, n: i64) -> Result<Option<Value>, kube::Error> {
    let rev = api(client, namespace).get_opt(&name(app, n)).await?;
    Ok(rev.and_then(|r| serde_json::to_value(r).ok()).and_then(|r| r.pointer("/spec/application/spec").cloned()))
}
