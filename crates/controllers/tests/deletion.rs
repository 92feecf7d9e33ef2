//! Cascading deletion and namespace deletion against a real in-process API server with
//! the controllers running: background, foreground (`foregroundDeletion` until the
//! dependents are gone) and orphan propagation; a deleted namespace is Terminating until
//! its contents are gone, then goes itself.

mod common;

use common::{cluster, eventually, simulated_kubelet};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}))
    .unwrap()
}

async fn count(client: &Client, ns: &str, app: &str) -> (usize, usize) {
    let lp = ListParams::default().labels(&format!("app={app}"));
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), ns).list(&lp).await.unwrap().items.len();
    let pods = Api::<Pod>::namespaced(client.clone(), ns).list(&lp).await.unwrap().items.len();
    (sets, pods)
}

async fn running(client: &Client, ns: &str, name: &str) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    deployments.create(&PostParams::default(), &deployment(name)).await.unwrap();
    eventually("the deployment's pods", || async { (count(client, ns, name).await == (1, 2)).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_owner_cascades_in_background_foreground_or_not_at_all() {
    let c = cluster().await;
    simulated_kubelet(c.client.clone());
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");

    // Background (the default): the Deployment goes at once, its set and pods after it.
    running(&c.client, "default", "bg").await;
    deployments.delete("bg", &DeleteParams::background()).await.unwrap();
    assert!(deployments.get_opt("bg").await.unwrap().is_none());
    eventually("set and pods collected", || async { (count(&c.client, "default", "bg").await == (0, 0)).then_some(()) }).await;

    // Orphan: the set and pods stay, no longer owned.
    running(&c.client, "default", "or").await;
    deployments.delete("or", &DeleteParams::orphan()).await.unwrap();
    eventually("the orphaning owner gone", || async { deployments.get_opt("or").await.unwrap().is_none().then_some(()) }).await;
    let sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let left = sets.list(&ListParams::default().labels("app=or")).await.unwrap().items;
    assert_eq!(left.len(), 1);
    assert!(left[0].owner_references().is_empty(), "{:?}", left[0].owner_references());
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(count(&c.client, "default", "or").await, (1, 2), "orphans were collected");

    // Foreground: the Deployment stays, marked, until its set and pods are gone.
    running(&c.client, "default", "fg").await;
    let marked = deployments.delete("fg", &DeleteParams::foreground()).await.unwrap();
    let marked = marked.left().expect("the deployment is kept while its dependents go");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(marked.finalizers().contains(&"foregroundDeletion".to_string()));
    eventually("the foreground owner gone last", || async { deployments.get_opt("fg").await.unwrap().is_none().then_some(()) }).await;
    assert_eq!(count(&c.client, "default", "fg").await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_namespace_terminates_empties_and_goes() {
    let c = cluster().await;
    simulated_kubelet(c.client.clone());
    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    let created = namespaces.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(created.spec.unwrap().finalizers, Some(vec!["kubernetes".to_string()]));
    let maps: Api<ConfigMap> = Api::namespaced(c.client.clone(), "doomed");
    let map: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "settings"}, "data": {"a": "1"}})).unwrap();
    maps.create(&PostParams::default(), &map).await.unwrap();
    running(&c.client, "doomed", "web").await;
    // A custom resource in the namespace goes with it too.
    let crds: Api<CustomResourceDefinition> = Api::all(c.client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({"metadata": {"name": "notes.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
        "names": {"plural": "notes", "kind": "Note"},
        "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let note_kind = ApiResource { group: "example.com".into(), version: "v1".into(), api_version: "example.com/v1".into(), kind: "Note".into(), plural: "notes".into() };
    let notes: Api<DynamicObject> = Api::namespaced_with(c.client.clone(), "doomed", &note_kind);
    let note: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Note", "metadata": {"name": "n1"}, "text": "hi"})).unwrap();
    notes.create(&PostParams::default(), &note).await.unwrap();

    let deleted = namespaces.delete("doomed", &DeleteParams::background()).await.unwrap();
    let deleted = deleted.left().expect("kept while its contents go");
    assert_eq!(deleted.status.unwrap().phase.as_deref(), Some("Terminating"));
    eventually("the namespace gone", || async { namespaces.get_opt("doomed").await.unwrap().is_none().then_some(()) }).await;
    assert!(maps.get_opt("settings").await.unwrap().is_none());
    assert!(notes.get_opt("n1").await.unwrap().is_none());
    assert_eq!(count(&c.client, "doomed", "web").await, (0, 0));

    // The name can be used again, empty.
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    assert!(maps.list(&ListParams::default()).await.unwrap().items.iter().all(|m| m.name_any() != "settings"));
}
