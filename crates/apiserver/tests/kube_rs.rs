//! kube-rs against a real server: a `watcher` + reflector over ConfigMaps stays
//! in sync across a server restart (same port, same data dir), whether it
//! resumes its watch from a resourceVersion or lists afresh.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::TestServer;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};

const NS: &str = "kube-rs";

async fn client(server: &TestServer) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(server.kubeconfig()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    kube::Client::try_from(config).expect("kube client")
}

fn config_map(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("value".to_string(), value.to_string())])),
        ..ConfigMap::default()
    }
}

/// name -> (value, resourceVersion)
type State = BTreeMap<String, (String, String)>;

fn state<'a>(objects: impl Iterator<Item = &'a ConfigMap>) -> State {
    objects
        .map(|cm| {
            let value = cm
                .data
                .as_ref()
                .and_then(|d| d.get("value"))
                .cloned()
                .unwrap_or_default();
            (
                cm.metadata.name.clone().unwrap_or_default(),
                (
                    value,
                    cm.metadata.resource_version.clone().unwrap_or_default(),
                ),
            )
        })
        .collect()
}

/// Starts a reflector over the ConfigMaps of NS, polled by a task of the current runtime.
fn reflect(api: Api<ConfigMap>) -> Store<ConfigMap> {
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    tokio::spawn(stream.for_each(|_| std::future::ready(())));
    reader
}

/// Waits until `reader` holds exactly the server's ConfigMaps in NS (names, values and resourceVersions).
async fn converges(reader: &Store<ConfigMap>, api: &Api<ConfigMap>, what: &str) -> State {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let server_state = state(
            api.list(&ListParams::default())
                .await
                .expect("list")
                .items
                .iter(),
        );
        let reflected = state(reader.state().iter().map(|cm| cm.as_ref()));
        if reflected == server_state {
            return server_state;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the reflector did not converge\nreflector: {reflected:?}\nserver:    {server_state:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn reflector_stays_in_sync_across_a_restart() {
    let mut server = TestServer::start();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");

    let (api, resumed) = client_rt.block_on(async {
        let client = client(&server).await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(NS.to_string()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace");
        let api: Api<ConfigMap> = Api::namespaced(client, NS);
        for (name, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
            api.create(&PostParams::default(), &config_map(name, value))
                .await
                .expect("create");
        }
        let reader = reflect(api.clone());
        reader.wait_until_ready().await.expect("reflector ready");
        let seen = converges(&reader, &api, "before the restart").await;
        assert_eq!(seen.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        // One more change seen over the watch (not the initial list).
        api.create(&PostParams::default(), &config_map("d", "4"))
            .await
            .expect("create d");
        converges(&reader, &api, "a watch event before the restart").await;
        (api, reader)
    });

    server.restart();

    client_rt.block_on(async {
        // Changes after the restart: the running reflector resumes (its watch
        // reconnects from its last resourceVersion, which the store kept).
        let mut b = api.get("b").await.expect("get b after the restart");
        b.data = Some(BTreeMap::from([("value".to_string(), "20".to_string())]));
        api.replace("b", &PostParams::default(), &b)
            .await
            .expect("replace b");
        api.delete("c", &DeleteParams::default())
            .await
            .expect("delete c");
        api.create(&PostParams::default(), &config_map("e", "5"))
            .await
            .expect("create e");
        let after = converges(&resumed, &api, "the resumed reflector after the restart").await;
        assert_eq!(after.keys().collect::<Vec<_>>(), ["a", "b", "d", "e"]);
        assert_eq!(after["b"].0, "20");

        // A new reflector lists afresh and follows further changes too.
        let fresh = reflect(api.clone());
        fresh
            .wait_until_ready()
            .await
            .expect("fresh reflector ready");
        converges(&fresh, &api, "a fresh reflector after the restart").await;
        api.delete("a", &DeleteParams::default())
            .await
            .expect("delete a");
        api.create(&PostParams::default(), &config_map("f", "6"))
            .await
            .expect("create f");
        let end = converges(&fresh, &api, "the fresh reflector").await;
        assert_eq!(
            converges(&resumed, &api, "the resumed reflector").await,
            end
        );
        assert_eq!(end.keys().collect::<Vec<_>>(), ["b", "d", "e", "f"]);
    });

    // A watch from a resourceVersion taken before a restart resumes after it.
    let rv_before = client_rt.block_on(async {
        api.get("d")
            .await
            .expect("get d")
            .metadata
            .resource_version
            .expect("rv")
    });
    server.restart();
    client_rt.block_on(async {
        api.create(&PostParams::default(), &config_map("g", "7"))
            .await
            .expect("create g");
        let params = kube::api::WatchParams::default().timeout(5);
        let mut events = api
            .watch(&params, &rv_before)
            .await
            .expect("watch from an old rv")
            .boxed();
        let mut names = Vec::new();
        while let Some(event) = events.next().await {
            match event.expect("watch event") {
                kube::api::WatchEvent::Added(cm) | kube::api::WatchEvent::Modified(cm) => {
                    names.push(cm.metadata.name.unwrap_or_default());
                }
                kube::api::WatchEvent::Deleted(cm) => {
                    names.push(format!("-{}", cm.metadata.name.unwrap_or_default()))
                }
                kube::api::WatchEvent::Bookmark(_) => {}
                kube::api::WatchEvent::Error(e) => panic!("watch error: {e:?}"),
            }
            if names.last().map(String::as_str) == Some("g") {
                break;
            }
        }
        // d was the last write before rv_before's read... everything after it, in order.
        assert_eq!(names, ["b", "-c", "e", "-a", "f", "g"]);
    });
    drop(client_rt);
}
