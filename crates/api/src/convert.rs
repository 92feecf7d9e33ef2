//! Conversion between the versions one kind is served in. Objects are stored
//! once, in their storage version (see [`ResourceType::storage`]); a read
//! through another version converts the stored object to that version, a
//! write through it converts the object to the storage version.
//!
//! - autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler: v1 has one
//!   metric, `targetCPUUtilizationPercentage` (v2's cpu `Resource` metric with a
//!   `Utilization` target). As the real API server does, what v1 cannot hold
//!   (other metrics, behavior, current metrics, conditions) rides in
//!   annotations, so a read-modify-write through v1 keeps it.
//! - events.k8s.io/v1 Event <-> core/v1 Event: renamed fields (note/message,
//!   regarding/involvedObject, deprecatedSource/source, ...).
//!
//! - custom resources: the `None` strategy, only `apiVersion` changes.
//!
//! Conversions are pure functions on JSON objects; the object's own
//! `apiVersion` says what it is, so objects stored before a conversion
//! existed read correctly too.

use serde_json::{json, Map, Value};

use crate::registry::ResourceType;

/// Annotations carrying what autoscaling/v1 cannot express (JSON of the v2 fields).
pub const HPA_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
pub const HPA_BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";
pub const HPA_CURRENT_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
pub const HPA_CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";

/// `object` as `to`'s version. Objects of a version with no conversion to
/// `to` (or already in it) come back unchanged.
pub fn convert(object: Value, to: &ResourceType) -> Value {
    let from = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
    let to_version = to.api_version();
    if from == to_version {
        return object;
    }
    match (to.kind, from.as_str(), to_version.as_str()) {
        ("HorizontalPodAutoscaler", "autoscaling/v2", "autoscaling/v1") => hpa_v2_to_v1(object),
        ("HorizontalPodAutoscaler", "autoscaling/v1", "autoscaling/v2") => hpa_v1_to_v2(object),
        ("Event", "v1", "events.k8s.io/v1") => event_core_to_events(object),
        ("Event", "events.k8s.io/v1", "v1") => event_events_to_core(object),
        _ if to.custom => crate::crd::convert_none(object, &to_version),
        _ => object,
    }
}

/// `object` (of `rt`'s version) as it is stored.
pub fn to_storage(object: Value, rt: &'static ResourceType) -> Value {
    convert(object, rt.storage())
}

fn take(fields: &mut Map<String, Value>, key: &str) -> Option<Value> {
    fields.remove(key).filter(|v| !v.is_null())
}

fn annotations(meta: &mut Value) -> &mut Map<String, Value> {
    if !meta.is_object() {
        *meta = json!({});
    }
    let meta = meta.as_object_mut().expect("made an object above");
    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
    if !annotations.is_object() {
        *annotations = json!({});
    }
    annotations.as_object_mut().expect("made an object above")
}

/// Removes annotation `key` and returns its value parsed as JSON.
fn take_annotation(meta: &mut Value, key: &str) -> Option<Value> {
    let annotations = meta.get_mut("annotations")?.as_object_mut()?;
    let value = annotations.remove(key)?;
    if annotations.is_empty() {
        meta.as_object_mut()?.remove("annotations");
    }
    serde_json::from_str(value.as_str()?).ok()
}

fn is_cpu_utilization(metric: &Value, field: &str) -> bool {
    metric.get("type").and_then(Value::as_str) == Some("Resource")
        && metric.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
        && match field {
            "target" => metric.pointer("/resource/target/type").and_then(Value::as_str) == Some("Utilization"),
            _ => metric.pointer("/resource/current/averageUtilization").is_some(),
        }
}

fn hpa_v2_to_v1(object: Value) -> Value {
    let Value::Object(mut fields) = object else { return object };
    let mut meta = take(&mut fields, "metadata").unwrap_or_else(|| json!({}));
    let mut spec = take(&mut fields, "spec").and_then(|s| s.as_object().cloned()).unwrap_or_default();
    let mut v1_spec = Map::new();
    for key in ["scaleTargetRef", "minReplicas", "maxReplicas"] {
        if let Some(v) = take(&mut spec, key) {
            v1_spec.insert(key.to_string(), v);
        }
    }
    let mut metrics = take(&mut spec, "metrics").and_then(|m| m.as_array().cloned()).unwrap_or_default();
    if let Some(i) = metrics.iter().position(|m| is_cpu_utilization(m, "target")) {
        let cpu = metrics.remove(i);
        if let Some(u) = cpu.pointer("/resource/target/averageUtilization") {
            v1_spec.insert("targetCPUUtilizationPercentage".into(), u.clone());
        }
    }
    if !metrics.is_empty() {
        annotations(&mut meta).insert(HPA_METRICS_ANNOTATION.into(), json!(Value::Array(metrics).to_string()));
    }
    if let Some(behavior) = take(&mut spec, "behavior") {
        annotations(&mut meta).insert(HPA_BEHAVIOR_ANNOTATION.into(), json!(behavior.to_string()));
    }
    let status = take(&mut fields, "status").and_then(|s| s.as_object().cloned()).map(|mut status| {
        let mut v1 = Map::new();
        for key in ["observedGeneration", "lastScaleTime", "desiredReplicas"] {
            if let Some(v) = take(&mut status, key) {
                v1.insert(key.to_string(), v);
            }
        }
        v1.insert("currentReplicas".into(), take(&mut status, "currentReplicas").unwrap_or(json!(0)));
        v1.entry("desiredReplicas").or_insert(json!(0));
        let mut current = take(&mut status, "currentMetrics").and_then(|m| m.as_array().cloned()).unwrap_or_default();
        if let Some(i) = current.iter().position(|m| is_cpu_utilization(m, "current")) {
            let cpu = current.remove(i);
            if let Some(u) = cpu.pointer("/resource/current/averageUtilization") {
                v1.insert("currentCPUUtilizationPercentage".into(), u.clone());
            }
        }
        if !current.is_empty() {
            annotations(&mut meta).insert(HPA_CURRENT_METRICS_ANNOTATION.into(), json!(Value::Array(current).to_string()));
        }
        if let Some(conditions) = take(&mut status, "conditions") {
            annotations(&mut meta).insert(HPA_CONDITIONS_ANNOTATION.into(), json!(conditions.to_string()));
        }
        Value::Object(v1)
    });
    fields.insert("apiVersion".into(), json!("autoscaling/v1"));
    fields.insert("metadata".into(), meta);
    fields.insert("spec".into(), Value::Object(v1_spec));
    if let Some(status) = status {
        fields.insert("status".into(), status);
    }
    Value::Object(fields)
}

fn hpa_v1_to_v2(object: Value) -> Value {
    let Value::Object(mut fields) = object else { return object };
    let mut meta = take(&mut fields, "metadata").unwrap_or_else(|| json!({}));
    let mut spec = take(&mut fields, "spec").and_then(|s| s.as_object().cloned()).unwrap_or_default();
    let mut v2_spec = Map::new();
    for key in ["scaleTargetRef", "minReplicas", "maxReplicas"] {
        if let Some(v) = take(&mut spec, key) {
            v2_spec.insert(key.to_string(), v);
        }
    }
    let mut metrics = Vec::new();
    if let Some(cpu) = take(&mut spec, "targetCPUUtilizationPercentage") {
        metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}));
    }
    if let Some(Value::Array(other)) = take_annotation(&mut meta, HPA_METRICS_ANNOTATION) {
        metrics.extend(other);
    }
    if !metrics.is_empty() {
        v2_spec.insert("metrics".into(), Value::Array(metrics));
    }
    if let Some(behavior) = take_annotation(&mut meta, HPA_BEHAVIOR_ANNOTATION) {
        v2_spec.insert("behavior".into(), behavior);
    }
    let current_metrics = take_annotation(&mut meta, HPA_CURRENT_METRICS_ANNOTATION);
    let conditions = take_annotation(&mut meta, HPA_CONDITIONS_ANNOTATION);
    let status = take(&mut fields, "status").and_then(|s| s.as_object().cloned()).map(|mut status| {
        let mut v2 = Map::new();
        for key in ["observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"] {
            if let Some(v) = take(&mut status, key) {
                v2.insert(key.to_string(), v);
            }
        }
        let mut current = Vec::new();
        if let Some(cpu) = take(&mut status, "currentCPUUtilizationPercentage") {
            current.push(json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu}}}));
        }
        if let Some(Value::Array(other)) = current_metrics {
            current.extend(other);
        }
        if !current.is_empty() {
            v2.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(conditions) = conditions {
            v2.insert("conditions".into(), conditions);
        }
        Value::Object(v2)
    });
    fields.insert("apiVersion".into(), json!("autoscaling/v2"));
    fields.insert("metadata".into(), meta);
    fields.insert("spec".into(), Value::Object(v2_spec));
    if let Some(status) = status {
        fields.insert("status".into(), status);
    }
    Value::Object(fields)
}

/// core/v1 field <-> events.k8s.io/v1 field, where the names differ.
const EVENT_RENAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

fn rename(object: Value, api_version: &str, core_to_events: bool) -> Value {
    let Value::Object(fields) = object else { return object };
    let renamed = fields
        .into_iter()
        .map(|(key, value)| {
            let new = EVENT_RENAMES
                .iter()
                .find_map(|(core, events)| match core_to_events {
                    true if key == *core => Some(*events),
                    false if key == *events => Some(*core),
                    _ => None,
                })
                .map(str::to_string)
                .unwrap_or(key);
            (new, value)
        })
        .filter(|(_, v)| !v.is_null())
        .collect::<Map<_, _>>();
    let mut object = Value::Object(renamed);
    object["apiVersion"] = json!(api_version);
    object
}

fn event_core_to_events(object: Value) -> Value {
    rename(object, "events.k8s.io/v1", true)
}

fn event_events_to_core(object: Value) -> Value {
    rename(object, "v1", false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::by_kind;

    fn v1() -> &'static ResourceType {
        by_kind("autoscaling/v1", "HorizontalPodAutoscaler").unwrap()
    }
    fn v2() -> &'static ResourceType {
        by_kind("autoscaling/v2", "HorizontalPodAutoscaler").unwrap()
    }

    fn hpa_v2() -> Value {
        json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1, "maxReplicas": 5,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
                    {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}
            },
            "status": {
                "currentReplicas": 2, "desiredReplicas": 3,
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 75}}}],
                "conditions": [{"type": "AbleToScale", "status": "True"}]
            }
        })
    }

    #[test]
    fn hpa_v2_reads_as_a_valid_v1_object() {
        let v1_object = convert(hpa_v2(), v1());
        assert_eq!(v1_object["apiVersion"], "autoscaling/v1");
        assert_eq!(v1_object["spec"]["targetCPUUtilizationPercentage"], 60);
        assert_eq!(v1_object["spec"]["scaleTargetRef"]["name"], "web");
        assert_eq!((v1_object["spec"]["minReplicas"].clone(), v1_object["spec"]["maxReplicas"].clone()), (json!(1), json!(5)));
        assert!(v1_object["spec"].get("metrics").is_none());
        assert_eq!(v1_object["status"]["currentCPUUtilizationPercentage"], 75);
        assert_eq!(v1_object["status"]["currentReplicas"], 2);
        // The real type accepts it.
        (v1().decode)(&v1_object).expect("a valid autoscaling/v1 object");
        let annotations = &v1_object["metadata"]["annotations"];
        assert!(annotations[HPA_METRICS_ANNOTATION].as_str().unwrap().contains("qps"));
        assert!(annotations[HPA_BEHAVIOR_ANNOTATION].is_string());
    }

    #[test]
    fn hpa_round_trips_through_v1() {
        let back = to_storage(convert(hpa_v2(), v1()), v1());
        assert_eq!(back, hpa_v2());
        (v2().decode)(&back).expect("a valid autoscaling/v2 object");
    }

    #[test]
    fn hpa_v1_is_stored_as_v2() {
        let v1_object = json!({
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3, "targetCPUUtilizationPercentage": 50}
        });
        let stored = to_storage(v1_object, v1());
        assert_eq!(stored["apiVersion"], "autoscaling/v2");
        assert_eq!(stored["spec"]["metrics"][0]["resource"]["target"], json!({"type": "Utilization", "averageUtilization": 50}));
        assert!(stored["metadata"].get("annotations").is_none());
        (v2().decode)(&stored).expect("a valid autoscaling/v2 object");
    }

    #[test]
    fn events_convert_both_ways() {
        let events_v1 = by_kind("events.k8s.io/v1", "Event").unwrap();
        let core = json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started", "message": "started",
            "source": {"component": "kubelet"}, "count": 3, "type": "Normal",
            "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:01:00Z",
            "reportingComponent": "kubelet", "reportingInstance": "n1"
        });
        let new = convert(core.clone(), events_v1);
        assert_eq!(new["apiVersion"], "events.k8s.io/v1");
        assert_eq!(new["note"], "started");
        assert_eq!(new["regarding"]["name"], "p");
        assert_eq!(new["deprecatedSource"]["component"], "kubelet");
        assert_eq!(new["deprecatedCount"], 3);
        assert_eq!(new["deprecatedFirstTimestamp"], "2024-01-01T00:00:00Z");
        assert_eq!(new["reportingController"], "kubelet");
        assert!(new.get("message").is_none() && new.get("involvedObject").is_none());
        (events_v1.decode)(&new).expect("a valid events.k8s.io/v1 Event");
        assert_eq!(to_storage(new, events_v1), core);
        assert_eq!(events_v1.storage().api_version(), "v1");
        assert_eq!(events_v1.key(Some("default"), "e1"), "/registry/core/events/default/e1");
    }
}
