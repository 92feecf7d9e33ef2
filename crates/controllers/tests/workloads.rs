//! The ReplicaSet and Deployment controllers against a real in-process API server, with a
//! stand-in kubelet that marks pods Ready: exact replica counts, replacement, adoption and
//! release; rolling updates within maxSurge/maxUnavailable, revisions, rollback,
//! proportional scaling, Recreate; malformed objects never stop the good ones.

mod common;

use std::collections::BTreeSet;

use common::{cluster, eventually, simulated_kubelet};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};

use kube::{Client, ResourceExt};
use serde_json::{json, Value};

fn object<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("object")
}

fn template(app: &str, value: &str) -> Value {
    json!({"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "busybox",
        "env": [{"name": "VERSION", "value": value}]}]}})
}

/// The active pods (not being deleted) with `app=<app>`.
async fn active_pods(client: &Client, app: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

fn owner_name(pod: &Pod) -> Option<String> {
    pod.owner_references().iter().find(|r| r.controller == Some(true)).map(|r| r.name.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_keeps_its_count_replaces_adopts_and_releases() {
    let c = cluster().await;
    simulated_kubelet(c.client.clone());
    let sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let rs = object(json!({"metadata": {"name": "web"}, "spec": {"replicas": 3,
        "selector": {"matchLabels": {"app": "web"}}, "template": template("web", "1")}}));
    sets.create(&PostParams::default(), &rs).await.unwrap();
    let status_says = |want: i32| {
        let sets = sets.clone();
        async move {
            let s = sets.get("web").await.unwrap();
            let st = s.status.clone().unwrap_or_default();
            (st.replicas == want && st.ready_replicas == Some(want) && st.available_replicas == Some(want)
                && st.observed_generation == s.metadata.generation)
                .then_some(())
        }
    };
    eventually("3 ready replicas in status", || status_says(3)).await;
    let first = active_pods(&c.client, "web").await;
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|p| owner_name(p).as_deref() == Some("web")));

    // A deleted pod is replaced.
    let victim = first[0].name_any();
    pods.delete(&victim, &DeleteParams::default()).await.unwrap();
    eventually("a replacement", || async {
        let now = active_pods(&c.client, "web").await;
        (now.len() == 3 && now.iter().all(|p| p.name_any() != victim)).then_some(())
    })
    .await;

    // An orphan that matches is adopted, and the set deletes one surplus pod: the orphan is
    // not ready, so it goes first.
    let orphan: Pod = object(json!({"metadata": {"name": "orphan", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}));
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    eventually("back to 3 after adopting", || async {
        let now = active_pods(&c.client, "web").await;
        (now.len() == 3 && now.iter().all(|p| owner_name(p).as_deref() == Some("web"))).then_some(())
    })
    .await;

    // A pod relabelled out of the selector is released and replaced.
    let keep = active_pods(&c.client, "web").await[0].name_any();
    pods.patch(&keep, &PatchParams::default(), &Patch::Merge(&json!({"metadata": {"labels": {"app": "debug"}}})))
        .await
        .unwrap();
    eventually("released and replaced", || async {
        let p = pods.get(&keep).await.unwrap();
        (owner_name(&p).is_none() && active_pods(&c.client, "web").await.len() == 3).then_some(())
    })
    .await;

    // Scale down keeps exactly the count; events say what happened, as Kubernetes words it.
    sets.patch("web", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 1}})))
        .await
        .unwrap();
    eventually("1 replica", || status_says(1)).await;
    assert_eq!(active_pods(&c.client, "web").await.len(), 1);
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(c.client.clone(), "default");
    let reasons: Vec<(String, String)> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some("web"))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect();
    assert!(reasons.iter().any(|(r, m)| r == "SuccessfulCreate" && m.starts_with("Created pod: web-")), "{reasons:?}");
    assert!(reasons.iter().any(|(r, m)| r == "SuccessfulDelete" && m.starts_with("Deleted pod: ")), "{reasons:?}");
}

/// Watches every pod event until `stop` resolves and checks, at each one, that the
/// non-terminating pods never exceed `max_total` and the ready ones never drop below
/// `min_ready` once the first rollout finished; returns the number of events seen.
async fn watch_bounds(client: Client, app: &'static str, max_total: usize, min_ready: usize, stop: tokio::sync::oneshot::Receiver<()>) -> usize {
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut live = std::collections::BTreeMap::<String, Pod>::new();
    let mut stream = watcher::watcher(pods, watcher::Config::default().labels(&format!("app={app}"))).boxed();
    let mut stop = stop;
    let mut events = 0;
    let mut listed = false;
    loop {
        tokio::select! {
            _ = &mut stop => return events,
            Some(Ok(event)) = stream.next() => {
                match event {
                    watcher::Event::Init => live.clear(),
                    watcher::Event::InitApply(pod) | watcher::Event::Apply(pod) => {
                        live.insert(pod.name_any(), pod);
                    }
                    watcher::Event::Delete(pod) => {
                        live.remove(&pod.name_any());
                    }
                    watcher::Event::InitDone => listed = true,
                }
                if !listed {
                    continue;
                }
                events += 1;
                live.retain(|_, p| p.metadata.deletion_timestamp.is_none());
                let ready = live.values().filter(|p| tug_controllers::owned_pods::is_ready(p)).count();
                assert!(live.len() <= max_total, "{} pods exceed replicas + maxSurge = {max_total}", live.len());
                assert!(ready >= min_ready, "{ready} ready pods are fewer than replicas - maxUnavailable = {min_ready}");
            }
        }
    }
}

fn revision_of(rs: &ReplicaSet) -> String {
    rs.annotations().get("deployment.kubernetes.io/revision").cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_stays_within_surge_and_unavailable_and_rolls_back() {
    let c = cluster().await;
    simulated_kubelet(c.client.clone());
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let d = object(json!({"metadata": {"name": "app"}, "spec": {"replicas": 4,
        "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
        "selector": {"matchLabels": {"app": "app"}}, "template": template("app", "1")}}));
    deployments.create(&PostParams::default(), &d).await.unwrap();
    let complete = |revision: &'static str| {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get("app").await.unwrap();
            let s = d.status.clone().unwrap_or_default();
            let progressing = s.conditions.iter().flatten().find(|c| c.type_ == "Progressing").and_then(|c| c.reason.clone());
            (s.observed_generation == d.metadata.generation
                && s.updated_replicas == Some(4) && s.replicas == Some(4) && s.available_replicas == Some(4)
                && progressing.as_deref() == Some("NewReplicaSetAvailable")
                && d.annotations().get("deployment.kubernetes.io/revision").map(String::as_str) == Some(revision))
                .then_some(d)
        }
    };
    let first = eventually("revision 1 available", || complete("1")).await;
    let available = first.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Available").unwrap();
    assert_eq!((available.status.as_str(), available.reason.as_deref()), ("True", Some("MinimumReplicasAvailable")));

    // Roll to a new template, checking the bounds at every pod event: 4 + 1 at most, 4 - 1 ready at least.
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let watcher = tokio::spawn(watch_bounds(c.client.clone(), "app", 5, 3, stopped));
    let patch = json!({"spec": {"template": template("app", "2")}});
    deployments.patch("app", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    eventually("revision 2 available", || complete("2")).await;
    stop.send(()).unwrap();
    let seen = watcher.await.expect("the bounds held at every pod event");
    assert!(seen > 8, "only {seen} pod events watched");
    let pods = active_pods(&c.client, "app").await;
    assert_eq!(pods.len(), 4);
    let env = |p: &Pod| p.spec.as_ref().unwrap().containers[0].env.as_ref().unwrap()[0].value.clone().unwrap();
    assert!(pods.iter().all(|p| env(p) == "2"));

    let mut all = sets.list(&ListParams::default()).await.unwrap().items;
    all.sort_by_key(revision_of);
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().map(revision_of).collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(all[0].spec.as_ref().unwrap().replicas, Some(0));
    for rs in &all {
        let hash = &rs.labels()["pod-template-hash"];
        assert_eq!(rs.name_any(), format!("app-{hash}"));
    }

    // Rollback as kubectl does it: the old set's template back in the Deployment; the old
    // set becomes revision 3, with 1 in its history.
    let mut old_template = serde_json::to_value(all[0].spec.as_ref().unwrap().template.as_ref().unwrap()).unwrap();
    old_template["metadata"]["labels"].as_object_mut().unwrap().remove("pod-template-hash");
    deployments
        .patch("app", &PatchParams::default(), &Patch::Json::<()>(serde_json::from_value(json!([{"op": "replace", "path": "/spec/template", "value": old_template}])).unwrap()))
        .await
        .unwrap();
    eventually("revision 3 available", || complete("3")).await;
    let back = sets.get(&all[0].name_any()).await.unwrap();
    assert_eq!(revision_of(&back), "3");
    assert_eq!(back.annotations().get("deployment.kubernetes.io/revision-history").map(String::as_str), Some("1"));
    assert!(active_pods(&c.client, "app").await.iter().all(|p| env(p) == "1"));

    // Events name the scaling as Kubernetes does.
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(c.client.clone(), "default");
    let messages: BTreeSet<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("ScalingReplicaSet"))
        .filter_map(|e| e.message)
        .collect();
    let first_set = all[0].name_any();
    assert!(messages.contains(&format!("Scaled up replica set {first_set} from 0 to 4")), "{messages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_deployments_scale_proportionally_and_recreate_empties_first() {
    let c = cluster().await;
    simulated_kubelet(c.client.clone());
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let d = object(json!({"metadata": {"name": "p"}, "spec": {"replicas": 10,
        "strategy": {"rollingUpdate": {"maxSurge": 3, "maxUnavailable": 0}},
        "selector": {"matchLabels": {"app": "p"}}, "template": template("p", "1")}}));
    deployments.create(&PostParams::default(), &d).await.unwrap();
    eventually("10 available", || async {
        let s = deployments.get("p").await.unwrap().status.unwrap_or_default();
        (s.available_replicas == Some(10)).then_some(())
    })
    .await;
    // Pause, change the template (nothing rolls), resume: surge pods appear; pause mid-way.
    let pause = |paused: bool| json!({"spec": {"paused": paused}});
    deployments.patch("p", &PatchParams::default(), &Patch::Merge(&pause(true))).await.unwrap();
    deployments.patch("p", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"template": template("p", "2")}}))).await.unwrap();
    let paused = eventually("Progressing: DeploymentPaused", || async {
        let d = deployments.get("p").await.unwrap();
        let s = d.status.clone().unwrap_or_default();
        let reason = s.conditions.iter().flatten().find(|c| c.type_ == "Progressing").and_then(|c| c.reason.clone());
        (reason.as_deref() == Some("DeploymentPaused") && s.observed_generation == d.metadata.generation).then_some(s)
    })
    .await;
    assert_eq!(sets.list(&ListParams::default()).await.unwrap().items.len(), 1, "a paused deployment made a new set");
    // No set has the new template yet: none of the pods is updated.
    assert_eq!((paused.updated_replicas, paused.available_replicas), (Some(0), Some(10)));

    // A blocked rollout (the stand-in kubelet leaves the new pods unready) with two
    // sets holding pods, then a resize while paused: the shares are kept.
    let d = object::<Deployment>(json!({"metadata": {"name": "p2"}, "spec": {"replicas": 10,
        "strategy": {"rollingUpdate": {"maxSurge": 3, "maxUnavailable": 0}},
        "selector": {"matchLabels": {"app": "p2"}}, "template": template("p2", "1")}}));
    deployments.create(&PostParams::default(), &d).await.unwrap();
    eventually("p2 available", || async {
        (deployments.get("p2").await.unwrap().status.unwrap_or_default().available_replicas == Some(10)).then_some(())
    })
    .await;
    let never_ready = json!({"spec": {"template": {"metadata": {"annotations": {common::NEVER_READY: "true"}}}}});
    deployments.patch("p2", &PatchParams::default(), &Patch::Merge(&never_ready)).await.unwrap();
    let sizes = || async {
        let mut v: Vec<i32> = sets.list(&ListParams::default().labels("app=p2")).await.unwrap().items.iter()
            .map(|rs| rs.spec.as_ref().unwrap().replicas.unwrap()).collect();
        v.sort();
        v
    };
    eventually("3 surge pods in the new set", || async { (sizes().await == vec![3, 10]).then_some(()) }).await;
    deployments.patch("p2", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"paused": true, "replicas": 20}}))).await.unwrap();
    // 13 → 23 (20 + surge 3): 10:3 becomes 18:5.
    eventually("proportional sizes 5 and 18", || async { (sizes().await == vec![5, 18]).then_some(()) }).await;

    // Recreate: every old pod is gone before the new set gets any.
    let d = object::<Deployment>(json!({"metadata": {"name": "r"}, "spec": {"replicas": 2, "strategy": {"type": "Recreate"},
        "selector": {"matchLabels": {"app": "r"}}, "template": template("r", "1")}}));
    deployments.create(&PostParams::default(), &d).await.unwrap();
    eventually("r available", || async {
        (deployments.get("r").await.unwrap().status.unwrap_or_default().available_replicas == Some(2)).then_some(())
    })
    .await;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let client = c.client.clone();
    let checker = tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client, "default");
        let mut live = std::collections::BTreeMap::<String, Pod>::new();
        let mut stream = watcher::watcher(pods, watcher::Config::default().labels("app=r")).touched_objects().boxed();
        let mut stopped = stopped;
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                Some(Ok(pod)) = stream.next() => {
                    live.insert(pod.name_any(), pod);
                    live.retain(|_, p| p.metadata.deletion_timestamp.is_none());
                    let versions: BTreeSet<_> = live.values().map(|p| p.spec.as_ref().unwrap().containers[0].env.as_ref().unwrap()[0].value.clone()).collect();
                    assert!(versions.len() <= 1, "old and new pods at once under Recreate: {versions:?}");
                }
            }
        }
    });
    deployments.patch("r", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"template": template("r", "2")}}))).await.unwrap();
    eventually("r rolled", || async {
        let d = deployments.get("r").await.unwrap();
        let s = d.status.unwrap_or_default();
        (s.updated_replicas == Some(2) && s.available_replicas == Some(2) && s.replicas == Some(2)).then_some(())
    })
    .await;
    stop.send(()).unwrap();
    checker.await.expect("never old and new pods together");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_objects_are_refused_or_reported_and_good_ones_still_reconcile() {
    let c = cluster().await;
    simulated_kubelet(c.client.clone());
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let spec = |extra: Value| {
        let mut d = json!({"metadata": {"name": "bad"}, "spec": {"replicas": 1,
            "selector": {"matchLabels": {"app": "bad"}}, "template": template("bad", "1")}});
        merge(&mut d["spec"], extra);
        d
    };
    // Refused by validation, each with its field path, as Kubernetes words it.
    let refused = [
        (spec(json!({"selector": {"matchLabels": {"app": "other"}}})), "spec.template.metadata.labels: Invalid value"),
        (spec(json!({"replicas": -1})), "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
        (spec(json!({"strategy": {"rollingUpdate": {"maxSurge": "abc"}}})), "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"abc\""),
        (spec(json!({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}})), "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"),
    ];
    for (bad, message) in refused {
        let err = deployments.create(&PostParams::default(), &object::<Deployment>(bad)).await.unwrap_err();
        match err {
            kube::Error::Api(s) => {
                assert_eq!(s.code, 422);
                assert!(s.message.contains(message), "{}", s.message);
                assert!(s.message.starts_with("Deployment.apps \"bad\" is invalid"), "{}", s.message);
            }
            other => panic!("{other}"),
        }
    }
    // Accepted but unworkable: a set whose second pod the quota refuses; a pod owned by a
    // set that does not exist. Both are handled, not looped on.
    let quota: k8s_openapi::api::core::v1::ResourceQuota = object(json!({"metadata": {"name": "one-pod"}, "spec": {"hard": {"pods": "1"}}}));
    let quotas: Api<k8s_openapi::api::core::v1::ResourceQuota> = Api::namespaced(c.client.clone(), "default");
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    let broken: ReplicaSet = object(json!({"metadata": {"name": "broken"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "broken"}}, "template": template("broken", "1")}}));
    sets.create(&PostParams::default(), &broken).await.unwrap();
    let failure = eventually("ReplicaFailure on the broken set", || async {
        let rs = sets.get("broken").await.unwrap();
        rs.status?.conditions?.into_iter().find(|c| c.type_ == "ReplicaFailure")
    })
    .await;
    assert_eq!(failure.reason.as_deref(), Some("FailedCreate"));
    assert!(failure.message.unwrap().contains("exceeded quota: one-pod"));
    quotas.delete("one-pod", &DeleteParams::default()).await.unwrap();
    let dangling: Pod = object(json!({"metadata": {"name": "dangling", "labels": {"app": "lost"}, "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "gone", "uid": "00000000-0000-0000-0000-000000000000", "controller": true}]},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}));
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    pods.create(&PostParams::default(), &dangling).await.unwrap();

    // A good Deployment next to them reconciles fully.
    let good = object::<Deployment>(json!({"metadata": {"name": "good"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "good"}}, "template": template("good", "1")}}));
    deployments.create(&PostParams::default(), &good).await.unwrap();
    eventually("the good deployment available", || async {
        (deployments.get("good").await.unwrap().status.unwrap_or_default().available_replicas == Some(2)).then_some(())
    })
    .await;
    eventually("the dangling pod collected", || async { pods.get_opt("dangling").await.unwrap().is_none().then_some(()) }).await;
    // With the quota gone the set recovers, and its failure condition is cleared.
    eventually("the broken set recovered", || async {
        let st = sets.get("broken").await.unwrap().status.unwrap_or_default();
        (st.ready_replicas == Some(2) && st.conditions.is_none_or(|c| c.is_empty())).then_some(())
    })
    .await;
}

/// Merges `extra` into `target` (objects key by key, anything else replaced).
fn merge(target: &mut Value, extra: Value) {
    match (target, extra) {
        (Value::Object(t), Value::Object(e)) => {
            for (k, v) in e {
                merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, e) => *t = e,
    }
}
