//! The resource metrics API, `metrics.k8s.io/v1beta1`, as metrics-server serves it:
//! NodeMetrics and PodMetrics (get and list, label and field selectors on the nodes or
//! pods they describe), read at each request from the agents' `/stats/summary` (the
//! usage each agent samples from cgroups). A node whose agent does not answer, or a pod
//! whose containers have not been sampled twice yet (no CPU rate), is left out, as
//! metrics-server leaves them out; a named one is then a 404.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Value};

use super::{crud, node_proxy, Ctx};
use crate::object::now;
use crate::request::Target;
use crate::respond;
use crate::status::{ApiError, ApiResult};

/// How long one agent may take to answer before its node is left out.
const AGENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves a `metrics.k8s.io` request.
pub async fn serve(ctx: &Ctx<'_>, method: &Method) -> ApiResult<Response> {
    let rt = ctx.target.rt;
    if method != Method::GET || ctx.query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return Err(ApiError::method_not_allowed(format!("{} of {}.{} are read-only: only get and list are served", rt.kind, rt.plural, rt.group)));
    }
    let described = tug_api::registry::find("", "v1", rt.plural).ok_or_else(|| ApiError::internal(format!("{} are not served", rt.plural)))?;
    let target = Target { rt: described, ..ctx.target.clone() };
    let inner = Ctx { target: &target, ..*ctx };
    let objects = match &target.name {
        Some(_) => vec![crud::get(&inner).await.map_err(|e| if e.code == 404 { ApiError::not_found(rt, target.name()) } else { e })?],
        None => crud::list(&inner).await?.0,
    };
    let nodes: BTreeSet<String> = match rt.kind {
        "NodeMetrics" => objects.iter().filter_map(|n| n.pointer("/metadata/name")?.as_str().map(str::to_string)).collect(),
        _ => objects.iter().filter_map(|p| p.pointer("/spec/nodeName")?.as_str().filter(|n| !n.is_empty()).map(str::to_string)).collect(),
    };
    let summaries = summaries(ctx, nodes).await;
    let items: Vec<Value> = objects
        .iter()
        .filter_map(|object| match rt.kind {
            "NodeMetrics" => node_metrics(object, &summaries),
            _ => pod_metrics(object, &summaries),
        })
        .collect();
    if target.name.is_some() {
        return items.into_iter().next().map(|item| respond::ok(&item)).ok_or_else(|| ApiError::not_found(rt, target.name()));
    }
    Ok(respond::ok(&json!({"kind": rt.list_kind, "apiVersion": rt.api_version(), "metadata": {}, "items": items})))
}

/// The Summary of each node that answered in time, by node name.
async fn summaries(ctx: &Ctx<'_>, nodes: BTreeSet<String>) -> HashMap<String, Value> {
    let asks = nodes.into_iter().map(|node| async move {
        let answer = tokio::time::timeout(AGENT_TIMEOUT, node_proxy::agent_json(ctx.state, &node, "/stats/summary")).await;
        match answer {
            Ok(Ok(summary)) => Some((node, summary)),
            _ => None,
        }
    });
    futures_util::future::join_all(asks).await.into_iter().flatten().collect()
}

/// CPU (nano-cores) and memory (working set) of one Summary entry, with its time and window.
fn usage(entry: &Value) -> Option<(Value, String, f64)> {
    let cores = entry.pointer("/cpu/usageNanoCores")?.as_u64()?;
    let window = entry.pointer("/cpu/windowSeconds")?.as_f64()?;
    let time = entry.pointer("/cpu/time")?.as_str()?.to_string();
    let memory = entry.pointer("/memory/workingSetBytes")?.as_u64()?;
    Some((json!({"cpu": format!("{cores}n"), "memory": memory_quantity(memory)}), time, window))
}

/// Bytes as metrics-server prints them: in Ki when whole.
fn memory_quantity(bytes: u64) -> String {
    if bytes % 1024 == 0 { format!("{}Ki", bytes / 1024) } else { bytes.to_string() }
}

/// A window as a Go duration ("5.002s").
fn window(seconds: f64) -> String {
    let text = format!("{seconds:.3}");
    format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
}

fn meta(object: &Value, namespaced: bool) -> Value {
    let mut meta = json!({"name": object.pointer("/metadata/name"), "creationTimestamp": now()});
    if namespaced {
        meta["namespace"] = object.pointer("/metadata/namespace").cloned().unwrap_or(Value::Null);
    }
    if let Some(labels) = object.pointer("/metadata/labels") {
        meta["labels"] = labels.clone();
    }
    meta
}

fn node_metrics(node: &Value, summaries: &HashMap<String, Value>) -> Option<Value> {
    let summary = summaries.get(node.pointer("/metadata/name")?.as_str()?)?;
    let (usage, timestamp, seconds) = usage(summary.get("node")?)?;
    Some(json!({
        "kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": meta(node, false),
        "timestamp": timestamp, "window": window(seconds), "usage": usage,
    }))
}

/// A pod's metrics when every one of its containers has been sampled.
fn pod_metrics(pod: &Value, summaries: &HashMap<String, Value>) -> Option<Value> {
    let summary = summaries.get(pod.pointer("/spec/nodeName")?.as_str()?)?;
    let uid = pod.pointer("/metadata/uid")?.as_str()?;
    let entry = summary.get("pods")?.as_array()?.iter().find(|p| p.pointer("/podRef/uid").and_then(Value::as_str) == Some(uid))?;
    let wanted = pod.pointer("/spec/containers")?.as_array()?.len();
    let sampled = entry.get("containers")?.as_array()?;
    let mut containers = Vec::new();
    let (mut timestamp, mut seconds) = (String::new(), 0.0f64);
    for container in sampled {
        let (usage, time, window) = usage(container)?;
        containers.push(json!({"name": container.get("name")?, "usage": usage}));
        if time > timestamp {
            timestamp = time;
        }
        seconds = seconds.max(window);
    }
    if containers.len() < wanted {
        return None;
    }
    Some(json!({
        "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": meta(pod, true),
        "timestamp": timestamp, "window": window(seconds), "containers": containers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> HashMap<String, Value> {
        let sampled = |cores: u64| json!({"cpu": {"time": "2026-01-01T00:00:05Z", "usageNanoCores": cores, "windowSeconds": 5.0}, "memory": {"workingSetBytes": 2048}});
        let mut web = sampled(250_000_000);
        web["name"] = json!("web");
        let mut unsampled = json!({"name": "side", "cpu": {"time": "2026-01-01T00:00:05Z"}, "memory": {"workingSetBytes": 1}});
        unsampled["memory"]["workingSetBytes"] = json!(1);
        let mut node = sampled(1_500_000_000);
        node["nodeName"] = json!("n1");
        HashMap::from([(
            "n1".to_string(),
            json!({"node": node, "pods": [
                {"podRef": {"uid": "u1"}, "containers": [web]},
                {"podRef": {"uid": "u2"}, "containers": [unsampled]},
            ]}),
        )])
    }

    #[test]
    fn pods_and_nodes_get_metrics_servers_shape() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "a"}}, "spec": {"nodeName": "n1", "containers": [{"name": "web"}]}});
        let m = pod_metrics(&pod, &summary()).unwrap();
        assert_eq!(m["containers"], json!([{"name": "web", "usage": {"cpu": "250000000n", "memory": "2Ki"}}]));
        assert_eq!((m["window"].as_str(), m["metadata"]["labels"]["app"].as_str()), (Some("5s"), Some("a")));
        let node = json!({"metadata": {"name": "n1"}});
        assert_eq!(node_metrics(&node, &summary()).unwrap()["usage"]["cpu"], "1500000000n");
    }

    #[test]
    fn pods_without_a_cpu_rate_or_on_silent_nodes_are_left_out() {
        let unsampled = json!({"metadata": {"name": "q", "uid": "u2"}, "spec": {"nodeName": "n1", "containers": [{"name": "side"}]}});
        assert!(pod_metrics(&unsampled, &summary()).is_none());
        let elsewhere = json!({"metadata": {"name": "r", "uid": "u1"}, "spec": {"nodeName": "n2", "containers": [{"name": "web"}]}});
        assert!(pod_metrics(&elsewhere, &summary()).is_none());
        assert_eq!(window(5.0021), "5.002s");
        assert_eq!(memory_quantity(1000), "1000");
    }
}
