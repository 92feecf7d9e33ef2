//! Kinds served in two versions are stored once, in the storage version, and
//! converted on every read and write: autoscaling/v1 <-> v2
//! HorizontalPodAutoscalers and events.k8s.io/v1 <-> core/v1 Events.

mod common;

use common::TestServer;
use serde_json::Value;
use tug_store::Store;

/// The object as the store holds it.
fn stored(server: &TestServer, key: &str) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let kv = runtime.block_on(server.store.get(key)).expect("store get").expect("stored");
    serde_json::from_slice(&kv.value).expect("JSON")
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("kubectl prints JSON")
}

const HPA_V2: &str = r#"apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: default
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 7
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 65}
  - type: Pods
    pods:
      metric: {name: qps}
      target: {type: AverageValue, averageValue: "10"}
"#;

const HPA_V1: &str = r#"apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: api
  namespace: default
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  maxReplicas: 4
  targetCPUUtilizationPercentage: 40
"#;

#[test]
fn hpa_is_stored_as_v2_and_served_as_v1_too() {
    let server = TestServer::start();
    let v2 = server.file("hpa-v2.yaml", HPA_V2);
    server.kubectl(&["apply", "-f", v2.to_str().unwrap()]);

    // Read through v1: a valid v1 object with the cpu target.
    // (`hpa.v1.autoscaling` would not do: kubectl expands the short name and drops the version.)
    let yaml = server.kubectl(&["get", "horizontalpodautoscalers.v1.autoscaling", "web", "-o", "yaml"]);
    assert!(yaml.contains("apiVersion: autoscaling/v1"), "{yaml}");
    assert!(yaml.contains("targetCPUUtilizationPercentage: 65"), "{yaml}");
    let v1 = json(&server.kubectl(&["get", "horizontalpodautoscalers.v1.autoscaling", "web", "-o", "json"]));
    assert_eq!(v1["spec"]["scaleTargetRef"]["name"], "web");
    assert_eq!((v1["spec"]["minReplicas"].as_i64(), v1["spec"]["maxReplicas"].as_i64()), (Some(2), Some(7)));
    assert!(v1["spec"].get("metrics").is_none());
    let list = json(&server.kubectl(&["get", "horizontalpodautoscalers.v1.autoscaling", "-o", "json"]));
    assert_eq!(list["items"][0]["apiVersion"], "autoscaling/v1");
    assert_eq!(list["items"][0]["spec"]["targetCPUUtilizationPercentage"], 65);
    let (code, watch) = server.request(
        "GET",
        "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers?watch=1&timeoutSeconds=1",
        "application/json",
        None,
    );
    let watch = match watch {
        Value::String(lines) => lines,
        one => one.to_string(),
    };
    assert_eq!(code, 200);
    assert!(watch.contains(r#""apiVersion":"autoscaling/v1""#) && watch.contains(r#""targetCPUUtilizationPercentage":65"#), "{watch}");

    // A write through v1 keeps what only v2 can say.
    server.kubectl(&["patch", "horizontalpodautoscalers.v1.autoscaling", "web", "--type=merge", "-p", r#"{"spec":{"maxReplicas":9}}"#]);
    let raw = stored(&server, "/registry/autoscaling/horizontalpodautoscalers/default/web");
    assert_eq!(raw["apiVersion"], "autoscaling/v2");
    assert_eq!(raw["spec"]["maxReplicas"], 9);
    assert_eq!(raw["spec"]["metrics"].as_array().map(Vec::len), Some(2), "{raw}");
    assert!(raw["metadata"].get("annotations").is_none_or(|a| a.get("autoscaling.alpha.kubernetes.io/metrics").is_none()));

    // Created through v1: stored as v2 with the cpu Resource metric.
    let v1_file = server.file("hpa-v1.yaml", HPA_V1);
    server.kubectl(&["apply", "-f", v1_file.to_str().unwrap()]);
    let raw = stored(&server, "/registry/autoscaling/horizontalpodautoscalers/default/api");
    assert_eq!(raw["apiVersion"], "autoscaling/v2");
    assert_eq!(raw["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 40);
    let as_v2 = json(&server.kubectl(&["get", "horizontalpodautoscalers.v2.autoscaling", "api", "-o", "json"]));
    assert_eq!(as_v2["spec"]["metrics"][0]["resource"]["name"], "cpu");
    let as_v1 = json(&server.kubectl(&["get", "horizontalpodautoscalers.v1.autoscaling", "api", "-o", "json"]));
    assert_eq!(as_v1["spec"]["targetCPUUtilizationPercentage"], 40);
}

const EVENT: &str = r#"apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: web.1
  namespace: default
eventTime: "2024-05-01T10:00:00.000000Z"
reportingController: example.com/controller
reportingInstance: controller-1
action: Scaling
reason: Scaled
note: scaled up to 3
type: Normal
regarding: {apiVersion: apps/v1, kind: Deployment, name: web, namespace: default}
"#;

#[test]
fn events_are_one_object_in_both_groups() {
    let server = TestServer::start();
    let file = server.file("event.yaml", EVENT);
    server.kubectl(&["create", "-f", file.to_str().unwrap()]);

    let core = json(&server.kubectl(&["get", "events.v1.", "web.1", "-o", "json"]));
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["message"], "scaled up to 3");
    assert_eq!(core["involvedObject"]["name"], "web");
    assert_eq!(core["reportingComponent"], "example.com/controller");
    let raw = stored(&server, "/registry/core/events/default/web.1");
    assert_eq!(raw["apiVersion"], "v1");
    assert_eq!(raw["message"], "scaled up to 3");

    // A core write is read back through events.k8s.io.
    server.kubectl(&["patch", "events.v1.", "web.1", "--type=merge", "-p", r#"{"message":"scaled up to 4","count":2}"#]);
    let new = json(&server.kubectl(&["get", "events.v1.events.k8s.io", "web.1", "-o", "json"]));
    assert_eq!(new["apiVersion"], "events.k8s.io/v1");
    assert_eq!(new["note"], "scaled up to 4");
    assert_eq!(new["deprecatedCount"], 2);
    assert_eq!(new["regarding"]["kind"], "Deployment");
    assert!(new.get("message").is_none());
    let list = json(&server.kubectl(&["get", "events.v1.events.k8s.io", "-o", "json"]));
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}
