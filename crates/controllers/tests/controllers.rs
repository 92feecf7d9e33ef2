//! The controllers against a real API server (in-process, on loopback, over a temporary
//! SQLite store, every admission plugin on): a new namespace gets its `default`
//! ServiceAccount and `kube-root-ca.crt` ConfigMap, so pods can be created there; a
//! quota's status counts creates and gives quota back on deletes; Services' Endpoints and
//! EndpointSlices follow their pods' readiness, named ports and deletion.

use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Namespace, Pod, ResourceQuota, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
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

/// A pod labelled `app=web` serving the named port `http` on `port`, with the status an
/// agent would write: an IP and the Ready condition.
async fn web_pod(pods: &Api<Pod>, name: &str, port: i32, ip: &str, ready: bool) {
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"hostname": name, "subdomain": "web", "containers": [{"name": "c", "image": "busybox",
        "ports": [{"name": "http", "containerPort": port}]}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    set_ready(pods, name, ip, ready).await;
}

async fn set_ready(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_and_slices_follow_readiness_named_ports_and_deletion() {
    let c = cluster().await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    web_pod(&pods, "a", 8080, "10.42.0.5", true).await;
    web_pod(&pods, "b", 9090, "10.42.0.6", false).await;
    let services: Api<Service> = Api::namespaced(c.client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"},
        "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}}))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();

    let endpoints: Api<Endpoints> = Api::namespaced(c.client.clone(), "default");
    let subsets = |want: serde_json::Value| {
        let endpoints = endpoints.clone();
        async move {
            let ep = endpoints.get_opt("web").await.unwrap()?;
            let got: Vec<serde_json::Value> = ep.subsets.unwrap_or_default().iter().map(|s| json!({
                "ready": s.addresses.iter().flatten().map(|a| (a.ip.clone(), a.hostname.clone())).collect::<Vec<_>>(),
                "notReady": s.not_ready_addresses.iter().flatten().map(|a| a.ip.clone()).collect::<Vec<_>>(),
                "ports": s.ports.iter().flatten().map(|p| (p.name.clone(), p.port)).collect::<Vec<_>>(),
            })).collect();
            (json!(got) == want).then_some(())
        }
    };
    // Named ports resolve per pod: two subsets; b is not Ready.
    eventually("two subsets", || subsets(json!([
        {"ready": [["10.42.0.5", "a"]], "notReady": [], "ports": [["web", 8080]]},
        {"ready": [], "notReady": ["10.42.0.6"], "ports": [["web", 9090]]},
    ]))).await;

    let slices: Api<EndpointSlice> = Api::namespaced(c.client.clone(), "default");
    let slice_state = |want: serde_json::Value| {
        let slices = slices.clone();
        async move {
            let list = slices.list(&ListParams::default().labels("kubernetes.io/service-name=web")).await.unwrap();
            let mut got: Vec<serde_json::Value> = list.items.iter().map(|s| json!({
                "ports": s.ports.iter().flatten().map(|p| p.port).collect::<Vec<_>>(),
                "endpoints": s.endpoints.iter().map(|e| (e.addresses[0].clone(),
                    e.conditions.as_ref().and_then(|c| c.ready))).collect::<Vec<_>>(),
                "owner": s.metadata.owner_references.as_ref().map(|o| o[0].name.clone()),
            })).collect();
            got.sort_by_key(|v| v.to_string());
            (json!(got) == want).then_some(())
        }
    };
    eventually("two slices", || slice_state(json!([
        {"endpoints": [["10.42.0.5", true]], "owner": "web", "ports": [8080]},
        {"endpoints": [["10.42.0.6", false]], "owner": "web", "ports": [9090]},
    ]))).await;

    // b turns Ready; a goes away.
    set_ready(&pods, "b", "10.42.0.6", true).await;
    pods.delete("a", &DeleteParams::default().grace_period(0)).await.unwrap();
    eventually("only b, ready", || subsets(json!([
        {"ready": [["10.42.0.6", "b"]], "notReady": [], "ports": [["web", 9090]]},
    ]))).await;
    eventually("one slice", || slice_state(json!([
        {"endpoints": [["10.42.0.6", true]], "owner": "web", "ports": [9090]},
    ]))).await;

    // publishNotReadyAddresses: a not-ready pod is listed as ready.
    set_ready(&pods, "b", "10.42.0.6", false).await;
    eventually("b not ready", || subsets(json!([
        {"ready": [], "notReady": ["10.42.0.6"], "ports": [["web", 9090]]},
    ]))).await;
    let publish = json!({"spec": {"publishNotReadyAddresses": true}});
    services.patch("web", &PatchParams::default(), &Patch::Merge(&publish)).await.unwrap();
    eventually("b published", || subsets(json!([
        {"ready": [["10.42.0.6", "b"]], "notReady": [], "ports": [["web", 9090]]},
    ]))).await;

    // The Service goes: so do its Endpoints and slices.
    services.delete("web", &DeleteParams::default()).await.unwrap();
    eventually("endpoints removed", || async { endpoints.get_opt("web").await.unwrap().is_none().then_some(()) }).await;
    eventually("slices removed", || slice_state(json!([]))).await;
}
