//! The controllers against a real API server (in-process, on loopback, over a temporary
//! SQLite store, every admission plugin on): a new namespace gets its `default`
//! ServiceAccount and `kube-root-ca.crt` ConfigMap, so pods can be created there; a
//! quota's status counts creates and gives quota back on deletes.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ResourceQuota, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

mod common;
use common::{cluster, eventually};

fn pod(name: &str, cpu: &str) -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox",
        "resources": {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}}]}}),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_namespaces_get_the_default_account_and_the_cluster_ca() {
    let c = cluster().await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "fresh"}})).unwrap();
    Api::<Namespace>::all(c.client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    // The ServiceAccount admission plugin waits for the default account, so this works at once.
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "fresh");
    let created = pods
        .create(&PostParams::default(), &pod("p", "100m"))
        .await
        .expect("pod in a fresh namespace");
    assert_eq!(
        created.spec.unwrap().service_account_name.as_deref(),
        Some("default")
    );

    let accounts: Api<ServiceAccount> = Api::namespaced(c.client.clone(), "fresh");
    assert!(accounts.get_opt("default").await.unwrap().is_some());
    let maps: Api<ConfigMap> = Api::namespaced(c.client.clone(), "fresh");
    let ca = eventually("kube-root-ca.crt", || async {
        maps.get_opt("kube-root-ca.crt").await.unwrap()
    })
    .await;
    assert_eq!(ca.data.unwrap()["ca.crt"], c.ca);

    // Deleted: made again.
    accounts
        .delete("default", &DeleteParams::default())
        .await
        .unwrap();
    eventually("default account again", || async {
        accounts.get_opt("default").await.unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_status_counts_creates_and_gives_back_deletes() {
    let c = cluster().await;
    let quotas: Api<ResourceQuota> = Api::namespaced(c.client.clone(), "default");
    let quota: ResourceQuota = serde_json::from_value(json!({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "2", "requests.cpu": "1", "limits.cpu": "1"}}})).unwrap();
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    let used = |want: serde_json::Value| {
        let quotas = quotas.clone();
        async move {
            let q = quotas.get("q").await.unwrap();
            let used = serde_json::to_value(q.status.and_then(|s| s.used)).unwrap();
            (used == want).then_some(())
        }
    };
    eventually("status.used zeroed", || {
        used(json!({"pods": "0", "requests.cpu": "0", "limits.cpu": "0"}))
    })
    .await;

    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    pods.create(&PostParams::default(), &pod("a", "400m"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("b", "400m"))
        .await
        .unwrap();
    eventually("usage of two pods", || {
        used(json!({"pods": "2", "requests.cpu": "800m", "limits.cpu": "800m"}))
    })
    .await;
    let refused = pods
        .create(&PostParams::default(), &pod("c", "100m"))
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"),
        "{refused}"
    );

    pods.delete("a", &DeleteParams::default()).await.unwrap();
    eventually("usage after a delete", || {
        used(json!({"pods": "1", "requests.cpu": "400m", "limits.cpu": "400m"}))
    })
    .await;
    pods.create(&PostParams::default(), &pod("c", "100m"))
        .await
        .expect("quota given back");
}
