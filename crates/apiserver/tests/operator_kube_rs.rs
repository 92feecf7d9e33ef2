//! An operator written with kube-rs, as its users write one: a `#[derive(CustomResource)]`
//! kind whose definition kube generates (schema included), and a `Controller` with a
//! finalizer that keeps a ConfigMap per `Echo` in step with it and reports status. It runs
//! against a real server and reconciles creation, a spec change and deletion.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{finalizer, Event};
use kube::runtime::watcher;
use kube::{CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

const NS: &str = "default";
const FINALIZER: &str = "echo.ops.example.com/cleanup";

/// What an Echo asks for: a ConfigMap holding `message`, `times` times over.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(group = "ops.example.com", version = "v1", kind = "Echo", namespaced, status = "EchoStatus", shortname = "ec")]
#[kube(printcolumn = r#"{"name": "Message", "type": "string", "jsonPath": ".spec.message"}"#)]
pub struct EchoSpec {
    message: String,
    #[serde(default)]
    times: u32,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct EchoStatus {
    written: String,
    observed_generation: i64,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(#[from] Box<kube::runtime::finalizer::Error<kube::Error>>),
}

async fn client(server: &TestServer) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(server.kubeconfig()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    kube::Client::try_from(config).expect("kube client")
}

fn output_name(echo: &Echo) -> String {
    format!("{}-echo", echo.name_any())
}

/// Writes the Echo's ConfigMap (owned by it) and its status.
async fn apply(client: &kube::Client, echo: &Echo) -> Result<Action, kube::Error> {
    let text = vec![echo.spec.message.as_str(); echo.spec.times.max(1) as usize].join(" ");
    let owner = echo.controller_owner_ref(&()).expect("an Echo from the API has a uid");
    let config_map = ConfigMap {
        metadata: ObjectMeta { name: Some(output_name(echo)), owner_references: Some(vec![owner]), ..ObjectMeta::default() },
        data: Some([("text".to_string(), text.clone())].into()),
        ..ConfigMap::default()
    };
    let params = PatchParams::apply("echo-operator").force();
    Api::<ConfigMap>::namespaced(client.clone(), NS).patch(&output_name(echo), &params, &Patch::Apply(&config_map)).await?;
    let status = json!({"status": {"written": text, "observed_generation": echo.metadata.generation.unwrap_or_default()}});
    Api::<Echo>::namespaced(client.clone(), NS).patch_status(&echo.name_any(), &PatchParams::default(), &Patch::Merge(&status)).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

async fn cleanup(client: &kube::Client, echo: &Echo) -> Result<Action, kube::Error> {
    match Api::<ConfigMap>::namespaced(client.clone(), NS).delete(&output_name(echo), &DeleteParams::default()).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(Action::await_change()),
        Err(e) => Err(e),
    }
}

async fn reconcile(echo: Arc<Echo>, client: Arc<kube::Client>) -> Result<Action, Error> {
    let api = Api::<Echo>::namespaced((*client).clone(), NS);
    finalizer(&api, FINALIZER, echo, |event| async {
        match event {
            Event::Apply(echo) => apply(&client, &echo).await,
            Event::Cleanup(echo) => cleanup(&client, &echo).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

fn error_policy(_: Arc<Echo>, _: &Error, _: Arc<kube::Client>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

/// Polls `check` until it returns `Some`, for at most 20 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_kube_rs_controller_reconciles_its_custom_resources() {
    let server = TestServer::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = client(&server).await;
        let crds = Api::<CustomResourceDefinition>::all(client.clone());
        crds.create(&PostParams::default(), &Echo::crd()).await.expect("the generated definition is accepted");
        let echoes = Api::<Echo>::namespaced(client.clone(), NS);
        let config_maps = Api::<ConfigMap>::namespaced(client.clone(), NS);
        let controller = Controller::new(echoes.clone(), watcher::Config::default())
            .owns(config_maps.clone(), watcher::Config::default())
            .run(reconcile, error_policy, Arc::new(client.clone()))
            .for_each(|result| async move {
                if let Err(e) = result {
                    eprintln!("reconcile failed (retried): {e}");
                }
            });
        let controller = tokio::spawn(controller);

        let echo = Echo::new("hello", EchoSpec { message: "hi".into(), times: 2 });
        echoes.create(&PostParams::default(), &echo).await.expect("create Echo");
        let text = eventually("the ConfigMap", || async {
            config_maps.get_opt("hello-echo").await.ok().flatten().and_then(|cm| cm.data?.get("text").cloned())
        })
        .await;
        assert_eq!(text, "hi hi");
        let status = eventually("the status", || async { echoes.get("hello").await.ok()?.status.filter(|s| s.observed_generation == 1) }).await;
        assert_eq!(status.written, "hi hi");
        let stored = echoes.get("hello").await.expect("get Echo");
        assert_eq!(stored.finalizers(), [FINALIZER.to_string()]);

        // A spec change is reconciled into the ConfigMap and observed in status.
        echoes.patch("hello", &PatchParams::default(), &Patch::Merge(json!({"spec": {"message": "bye", "times": 3}}))).await.expect("patch Echo");
        eventually("the new text", || async {
            let cm = config_maps.get("hello-echo").await.ok()?;
            (cm.data?.get("text")? == "bye bye bye").then_some(())
        })
        .await;
        eventually("generation 2 observed", || async { echoes.get("hello").await.ok()?.status.filter(|s| s.observed_generation == 2) }).await;

        // Deletion runs the finalizer's cleanup, then the Echo goes.
        echoes.delete("hello", &DeleteParams::default()).await.expect("delete Echo");
        eventually("the Echo to go", || async { echoes.get_opt("hello").await.ok()?.is_none().then_some(()) }).await;
        assert!(config_maps.get_opt("hello-echo").await.expect("get ConfigMap").is_none());
        controller.abort();
    });
}

#[test]
fn the_generated_definition_is_served_with_its_printer_column() {
    let server = TestServer::start();
    let crd = server.file("echo.json", serde_json::to_vec(&Echo::crd()).expect("json"));
    server.kubectl(&["apply", "-f", crd.to_str().expect("utf-8 path")]);
    let echo = server.file("e.yaml", "apiVersion: ops.example.com/v1\nkind: Echo\nmetadata: {name: e1, namespace: default}\nspec: {message: yo}\n");
    server.kubectl(&["apply", "-f", echo.to_str().expect("utf-8 path")]);
    let table = server.kubectl(&["get", "ec"]);
    assert!(table.starts_with("NAME") && table.contains("MESSAGE") && table.contains("yo"), "{table}");
}
