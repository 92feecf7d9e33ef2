//! The node lifecycle, volume binding, Job and CronJob controllers against a real API
//! server (in-process, on loopback, over a temporary SQLite store): a node that stops
//! heartbeating is tainted and its pods evicted; claims bind to pre-created volumes and
//! local-path provisions per node; a ReplicaSet's pod on a lost node is replaced on the
//! other node (the scheduler runs too); Jobs run their completions or give up; CronJobs
//! start Jobs on schedule unless suspended.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::Client;
use serde_json::json;

mod common;
use common::{cluster, cluster_with, eventually};

/// A Node with Ready=True and its Lease, as an agent registers them.
async fn node(client: &Client, name: &str, labels: serde_json::Value) {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let node = serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    set_ready(client, name).await;
    renew(client, name).await;
}

/// Reports the node Ready, as its agent would.
async fn set_ready(client: &Client, name: &str) {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let status = json!({"status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}, "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
        "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}]}});
    nodes.patch_status(name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(status)).await.unwrap();
}

/// Renews (or creates) the node's Lease: one heartbeat of a simulated agent.
async fn renew(client: &Client, name: &str) {
    use k8s_openapi::api::coordination::v1::Lease;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now}})).unwrap();
    match leases.get_opt(name).await.unwrap() {
        None => drop(leases.create(&PostParams::default(), &lease).await.unwrap()),
        Some(mut old) => {
            old.spec = lease.spec;
            leases.replace(name, &PostParams::default(), &old).await.unwrap();
        }
    }
}

fn bound_pod(name: &str, node: &str, tolerations: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"nodeName": node, "tolerations": tolerations,
        "containers": [{"name": "c", "image": "busybox"}]}}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_heartbeating_is_tainted_and_its_pods_evicted() {
    use k8s_openapi::api::core::v1::Node;
    let c = cluster_with(Duration::from_secs(2)).await;
    node(&c.client, "alive", json!({})).await;
    node(&c.client, "dead", json!({})).await;
    // The simulated agent of "alive" keeps its Lease fresh; "dead" says nothing more.
    let heart = c.client.clone();
    let beating = tokio::spawn(async move {
        loop {
            renew(&heart, "alive").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let unreachable = |seconds: Option<i64>| json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}]);
    pods.create(&PostParams::default(), &bound_pod("short", "dead", unreachable(Some(1)))).await.unwrap();
    pods.create(&PostParams::default(), &bound_pod("forever", "dead", unreachable(None))).await.unwrap();
    let defaulted = pods.create(&PostParams::default(), &bound_pod("defaulted", "dead", json!([]))).await.unwrap();
    pods.create(&PostParams::default(), &bound_pod("elsewhere", "alive", json!([]))).await.unwrap();
    // DefaultTolerationSeconds: five minutes for not-ready and unreachable.
    let tolerations = serde_json::to_value(defaulted.spec.unwrap().tolerations).unwrap();
    assert_eq!(tolerations, json!([
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    ]));

    let nodes: Api<Node> = Api::all(c.client.clone());
    let dead = eventually("the dead node is Unknown and tainted", || async {
        let n = nodes.get("dead").await.unwrap();
        let taints = n.spec.clone()?.taints?;
        (taints.len() == 2).then_some(n)
    })
    .await;
    let ready = dead.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("Unknown", Some("NodeStatusUnknown")));
    let taints: Vec<(String, String)> = dead.spec.unwrap().taints.unwrap().into_iter().map(|t| (t.key, t.effect)).collect();
    assert!(taints.contains(&("node.kubernetes.io/unreachable".into(), "NoExecute".into())), "{taints:?}");

    let deleting = |name: &'static str| {
        let pods = pods.clone();
        async move { pods.get(name).await.ok().and_then(|p| p.metadata.deletion_timestamp).map(|_| ()) }
    };
    eventually("the pod tolerating 1 s is evicted", || deleting("short")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for name in ["forever", "defaulted", "elsewhere"] {
        assert!(deleting(name).await.is_none(), "{name} must stay");
    }
    let alive = nodes.get("alive").await.unwrap();
    assert!(alive.spec.and_then(|s| s.taints).is_none_or(|t| t.is_empty()));

    // The agent comes back: Ready again, the taints go.
    renew(&c.client, "dead").await;
    set_ready(&c.client, "dead").await;
    beating.abort();
    eventually("the taints are removed", || async {
        let n = nodes.get("dead").await.unwrap();
        n.spec.and_then(|s| s.taints).is_none_or(|t| t.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_bind_to_precreated_volumes_and_local_path_provisions_per_node() {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let c = cluster().await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(c.client.clone(), "default");
    let volumes: Api<PersistentVolume> = Api::all(c.client.clone());
    // A volume made by hand binds a claim that asks for no class.
    let pv = serde_json::from_value(json!({"metadata": {"name": "manual"}, "spec": {"capacity": {"storage": "1Gi"},
        "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": "/tmp/manual"}}})).unwrap();
    volumes.create(&PostParams::default(), &pv).await.unwrap();
    let claim = |name: &str, class: Option<&str>| -> PersistentVolumeClaim {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"storageClassName": class,
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "100Mi"}}}})).unwrap()
    };
    claims.create(&PostParams::default(), &claim("by-hand", Some(""))).await.unwrap();
    eventually("the claim is Bound to the volume", || async {
        let pvc = claims.get("by-hand").await.unwrap();
        let pv = volumes.get("manual").await.unwrap();
        let bound = pvc.status?.phase? == "Bound" && pv.status?.phase? == "Bound";
        (bound && pvc.spec?.volume_name.as_deref() == Some("manual")).then_some(())
    })
    .await;
    claims.delete("by-hand", &DeleteParams::default()).await.unwrap();
    eventually("the volume is Released and kept", || async {
        (volumes.get("manual").await.unwrap().status?.phase? == "Released").then_some(())
    })
    .await;

    // The default class waits for a consumer: nothing happens until a node is selected.
    node(&c.client, "n1", json!({"kubernetes.io/hostname": "n1"})).await;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(c.client.clone());
    let root = json!({"metadata": {"annotations": {"tugboat.dev/local-path-root": "/var/lib/tug-test/storage"}}});
    nodes.patch("n1", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(root)).await.unwrap();
    let created = claims.create(&PostParams::default(), &claim("data", None)).await.unwrap();
    assert_eq!(created.spec.unwrap().storage_class_name.as_deref(), Some("local-path"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(claims.get("data").await.unwrap().status.unwrap().phase.as_deref(), Some("Pending"));
    let selected = json!({"metadata": {"annotations": {"volume.kubernetes.io/selected-node": "n1"}}});
    claims.patch("data", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(selected)).await.unwrap();
    let pvc = eventually("the claim is Bound to a provisioned volume", || async {
        let pvc = claims.get("data").await.unwrap();
        (pvc.status.clone()?.phase? == "Bound").then_some(pvc)
    })
    .await;
    let name = pvc.spec.unwrap().volume_name.unwrap();
    let pv = volumes.get(&name).await.unwrap();
    let spec = pv.spec.clone().unwrap();
    let uid = pvc.metadata.uid.unwrap();
    assert_eq!(spec.host_path.unwrap().path, format!("/var/lib/tug-test/storage/pvc-{uid}_default_data"));
    assert_eq!(spec.persistent_volume_reclaim_policy.as_deref(), Some("Delete"));
    let affinity = serde_json::to_value(spec.node_affinity).unwrap();
    assert_eq!(affinity["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"], json!(["n1"]));
    // Reclaim Delete: the volume is deleted, and waits for its node's agent to remove the directory.
    claims.delete("data", &DeleteParams::default()).await.unwrap();
    eventually("the volume is being deleted", || async {
        volumes.get(&name).await.unwrap().metadata.deletion_timestamp.map(|_| ())
    })
    .await;
    assert_eq!(volumes.get(&name).await.unwrap().metadata.finalizers, Some(vec!["tugboat.dev/local-path-cleanup".to_string()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_its_completions_and_one_that_keeps_failing_gives_up() {
    use k8s_openapi::api::batch::v1::Job;
    let c = cluster().await;
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let job = |name: &str, completions: i32, parallelism: i32, backoff: i32| -> Job {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"completions": completions, "parallelism": parallelism,
            "backoffLimit": backoff, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}))
        .unwrap()
    };
    // A simulated node finishes pods with this phase.
    let finish = |job: &'static str, phase: &'static str| {
        let pods = pods.clone();
        async move {
            let list = pods.list(&kube::api::ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"))).await.unwrap();
            let running: Vec<Pod> = list.items.into_iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()).is_none_or(|p| p == "Pending")).collect();
            for p in &running {
                let status = json!({"status": {"phase": phase}});
                pods.patch_status(p.metadata.name.as_deref().unwrap(), &kube::api::PatchParams::default(), &kube::api::Patch::Merge(status)).await.unwrap();
            }
            running.len()
        }
    };
    jobs.create(&PostParams::default(), &job("work", 3, 2, 6)).await.unwrap();
    let active = eventually("two pods at once", || async {
        let s = jobs.get("work").await.unwrap().status?;
        (s.active == Some(2)).then_some(())
    });
    active.await;
    let status = eventually("the Job is Complete after three successes", || async {
        finish("work", "Succeeded").await;
        let s = jobs.get("work").await.unwrap().status?;
        s.conditions.clone()?.iter().any(|c| c.type_ == "Complete" && c.status == "True").then_some(s)
    })
    .await;
    assert_eq!((status.succeeded, status.active.unwrap_or(0)), (Some(3), 0));
    assert!(status.completion_time.is_some());

    jobs.create(&PostParams::default(), &job("flaky", 1, 1, 1)).await.unwrap();
    let status = eventually("the failing Job gives up", || async {
        finish("flaky", "Failed").await;
        let s = jobs.get("flaky").await.unwrap().status?;
        s.conditions.clone()?.iter().any(|c| c.type_ == "Failed" && c.reason.as_deref() == Some("BackoffLimitExceeded")).then_some(s)
    })
    .await;
    assert_eq!(status.failed, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cronjob_starts_a_job_at_the_next_minute_and_a_suspended_one_does_not() {
    use k8s_openapi::api::batch::v1::{CronJob, Job};
    let c = cluster().await;
    let cronjobs: Api<CronJob> = Api::namespaced(c.client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), "default");
    let cronjob = |name: &str, suspend: bool| -> CronJob {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"schedule": "* * * * *", "suspend": suspend,
            "concurrencyPolicy": "Forbid", "jobTemplate": {"metadata": {"labels": {"from": name}}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}}))
        .unwrap()
    };
    cronjobs.create(&PostParams::default(), &cronjob("tick", false)).await.unwrap();
    cronjobs.create(&PostParams::default(), &cronjob("asleep", true)).await.unwrap();
    // The next minute boundary is at most a minute away.
    let deadline = Instant::now() + Duration::from_secs(75);
    let job = loop {
        let list = jobs.list(&kube::api::ListParams::default().labels("from=tick")).await.unwrap();
        if let Some(job) = list.items.into_iter().next() {
            break job;
        }
        assert!(Instant::now() < deadline, "no Job within 75 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let name = job.metadata.name.clone().unwrap();
    let scheduled: k8s_openapi::jiff::Timestamp = job.metadata.annotations.unwrap()["batch.kubernetes.io/cronjob-scheduled-timestamp"].parse().unwrap();
    assert_eq!(name, format!("tick-{}", scheduled.as_second() / 60));
    assert_eq!(scheduled.as_second() % 60, 0);
    assert_eq!(job.metadata.owner_references.unwrap()[0].name, "tick");
    let status = eventually("the CronJob lists its active Job", || async {
        let s = cronjobs.get("tick").await.unwrap().status?;
        (s.active.as_ref()?.first()?.name.as_deref() == Some(name.as_str())).then_some(s)
    })
    .await;
    assert_eq!(status.last_schedule_time.unwrap().0, scheduled);
    let asleep = jobs.list(&kube::api::ListParams::default().labels("from=asleep")).await.unwrap();
    assert!(asleep.items.is_empty(), "a suspended CronJob started a Job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicaset_pod_on_a_lost_node_is_recreated_on_the_other_node() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    let c = cluster_with(Duration::from_secs(2)).await;
    tokio::spawn(tug_scheduler::run(c.client.clone(), tug_scheduler::Options::default()));
    // Only "doomed" exists when the ReplicaSet's pod is placed.
    node(&c.client, "doomed", json!({"kubernetes.io/hostname": "doomed"})).await;
    let sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let rs: ReplicaSet = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"replicas": 1,
        "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
        "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}],
        "containers": [{"name": "c", "image": "busybox"}]}}}}))
    .unwrap();
    sets.create(&PostParams::default(), &rs).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let placed = |node: &'static str| {
        let pods = pods.clone();
        async move {
            let list = pods.list(&kube::api::ListParams::default().labels("app=web")).await.unwrap();
            list.items.into_iter().find(|p| p.metadata.deletion_timestamp.is_none() && p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        }
    };
    let first = eventually("the pod is placed on doomed", || placed("doomed")).await;
    // "safe" joins and keeps heartbeating; "doomed" never renews its Lease again.
    node(&c.client, "safe", json!({"kubernetes.io/hostname": "safe"})).await;
    let heart = c.client.clone();
    let beating = tokio::spawn(async move {
        loop {
            renew(&heart, "safe").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let replacement = eventually("a replacement pod runs on safe", || placed("safe")).await;
    assert_ne!(replacement.metadata.uid, first.metadata.uid);
    let evicted = pods.get(first.metadata.name.as_deref().unwrap()).await.unwrap();
    assert!(evicted.metadata.deletion_timestamp.is_some(), "the pod on the lost node is evicted");
    beating.abort();
}
