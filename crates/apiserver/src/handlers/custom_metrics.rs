//! The custom metrics API, `custom.metrics.k8s.io/v1beta2`, as prometheus-adapter
//! serves it to the HPA controller and to `kubectl get --raw`: a `MetricValueList` for
//! `namespaces/<ns>/<resource>/<name|*>/<metric>` (`labelSelector` picks the objects of
//! a `*`, `metricLabelSelector` the series), `namespaces/<ns>/metrics/<metric>` for a
//! namespace, and discovery listing `<resource>/<metric>` for every metric scraped now
//! (and `<resource>/*`, so that the list is never empty).
//!
//! Values come from the agents' `/stats/custom`: the series each agent scraped from the
//! pods of its node annotated `prometheus.io/scrape: "true"` (gauges as read, counters as
//! per-second rates without `_total`). A pod's value is the sum of its series of that
//! name; any other object's is the sum over the pods it selects: a Service's
//! `spec.selector`, a Namespace's every pod, any other kind's `spec.selector` label
//! selector (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, custom kinds). When no
//! value can be had, the answer is a 404 whose message says why (no pods, none
//! annotated, a failed scrape, a counter scraped once, the names the pods do expose).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Value};
use tug_api::{registry, ResourceType};
use tug_store::{KeyRange, RangeRequest};

use super::node_proxy;
use crate::object::{from_kv, now};
use crate::request::{MetricTarget, Query, CUSTOM_METRICS};
use crate::respond;
use crate::selectors::LabelSelector;
use crate::server::AppState;
use crate::status::{ApiError, ApiResult};

/// How long one agent may take to answer a metric request before its node is left out.
const AGENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Discovery asks only Ready nodes, and waits less.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(2);
/// The resources discovery lists each metric for.
const DESCRIBED: [(&str, bool); 6] =
    [("pods", true), ("services", true), ("namespaces", false), ("deployments.apps", true), ("statefulsets.apps", true), ("replicasets.apps", true)];

fn not_found(message: String) -> ApiError {
    ApiError { code: 404, reason: "NotFound", message, details: None }
}

fn built_in(plural: &str) -> ApiResult<&'static ResourceType> {
    registry::find("", "v1", plural).ok_or_else(|| ApiError::internal(format!("{plural} are not served")))
}

/// The type behind `pods` or `deployments.apps`: a built-in kind's storage version or a custom kind.
fn resource_type(state: &AppState, resource: &str) -> ApiResult<&'static ResourceType> {
    let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
    registry::all()
        .iter()
        .filter(|t| t.storage_version && !t.create_only)
        .chain(state.crds.all())
        .find(|t| t.plural == plural && t.group == group)
        .ok_or_else(|| not_found(format!("the server could not find the requested resource: no resource {resource:?} to read custom metrics of")))
}

/// The stored objects of `rt` (in `namespace` when it is namespaced).
async fn objects(state: &AppState, rt: &ResourceType, namespace: Option<&str>) -> ApiResult<Vec<Value>> {
    let response = state.store.range(RangeRequest::new(KeyRange::prefix(rt.prefix(namespace)))).await?;
    response.kvs.iter().map(|kv| from_kv(rt, kv)).collect()
}

/// The Summary-like `/stats/custom` documents of the agents of `nodes`, by pod uid.
async fn scraped(state: &AppState, nodes: BTreeSet<String>, timeout: Duration) -> HashMap<String, Value> {
    let asks = nodes.into_iter().map(|node| async move {
        match tokio::time::timeout(timeout, node_proxy::agent_json(state, &node, "/stats/custom")).await {
            Ok(Ok(doc)) => doc["pods"].as_array().cloned().unwrap_or_default(),
            _ => Vec::new(),
        }
    });
    let docs = futures_util::future::join_all(asks).await;
    docs.into_iter()
        .flatten()
        .filter_map(|pod| Some((pod.pointer("/podRef/uid")?.as_str()?.to_string(), pod)))
        .collect()
}

/// Serves a request for a metric.
pub async fn serve(state: &AppState, method: &Method, query: &Query, target: &MetricTarget) -> ApiResult<Response> {
    if method != Method::GET {
        return Err(ApiError::method_not_allowed("custom metrics are read-only: only get is served"));
    }
    let rt = resource_type(state, &target.resource)?;
    if rt.namespaced != target.namespace.is_some() {
        let scope = if rt.namespaced { "namespaced: use /namespaces/<namespace>/" } else { "cluster-scoped: drop /namespaces/<namespace>/ from" };
        return Err(ApiError::bad_request(format!("{} are {scope} the path", target.resource)));
    }
    let namespace = target.namespace.as_deref();
    let mut described = objects(state, rt, namespace).await?;
    if target.name == "*" {
        let selector = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?;
        described.retain(|o| selector.matches(o));
    } else {
        described.retain(|o| o.pointer("/metadata/name").and_then(Value::as_str) == Some(target.name.as_str()));
        if described.is_empty() {
            return Err(ApiError::not_found(rt, &target.name));
        }
    }
    let series_selector = LabelSelector::parse(query.get("metricLabelSelector").unwrap_or_default())?;
    // The pods of every namespace involved, then what their agents scraped.
    let mut pods_of_namespace: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for object in &described {
        let ns = object_namespace(rt, object);
        if !pods_of_namespace.contains_key(&ns) {
            pods_of_namespace.insert(ns.clone(), objects(state, built_in("pods")?, Some(&ns)).await?);
        }
    }
    let nodes = pods_of_namespace.values().flatten().filter_map(|p| p.pointer("/spec/nodeName")?.as_str().filter(|n| !n.is_empty()).map(str::to_string)).collect();
    let scrapes = scraped(state, nodes, AGENT_TIMEOUT).await;
    let metric = Metric { name: &target.metric, selector: &series_selector, scrapes: &scrapes };
    let mut items = Vec::new();
    let mut why = None;
    for object in &described {
        let pods = match pods_of(rt, object, &pods_of_namespace) {
            Ok(pods) => pods,
            Err(message) => {
                why.get_or_insert(message);
                continue;
            }
        };
        match metric.value(&pods) {
            Ok(found) => items.push(item(rt, object, &target.metric, found)),
            Err(message) => {
                why.get_or_insert(message);
            }
        }
    }
    if items.is_empty() && rt.kind == "Pod" && target.name == "*" && !described.is_empty() {
        why = metric.value(&described.iter().collect::<Vec<_>>()).err();
    }
    if items.is_empty() {
        let what = if target.name == "*" { format!("{} selected by {:?}", target.resource, query.get("labelSelector").unwrap_or_default()) } else { format!("{} {:?}", target.resource, target.name) };
        let why = why.unwrap_or_else(|| format!("no {} match the label selector", target.resource));
        return Err(not_found(format!("the server could not find the metric {} for {what}: {why}", target.metric)));
    }
    Ok(respond::ok(&json!({"kind": "MetricValueList", "apiVersion": format!("{}/{}", CUSTOM_METRICS.0, CUSTOM_METRICS.1), "metadata": {}, "items": items})))
}

fn object_namespace(rt: &ResourceType, object: &Value) -> String {
    let field = if rt.kind == "Namespace" { "/metadata/name" } else { "/metadata/namespace" };
    object.pointer(field).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The pods an object stands for, or why it has none.
fn pods_of<'a>(rt: &ResourceType, object: &Value, pods_of_namespace: &'a BTreeMap<String, Vec<Value>>) -> Result<Vec<&'a Value>, String> {
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let ns = object_namespace(rt, object);
    let all = pods_of_namespace.get(&ns).map(Vec::as_slice).unwrap_or_default();
    let selector = match (rt.group, rt.kind) {
        ("", "Pod") => return Ok(all.iter().filter(|p| p.pointer("/metadata/name").and_then(Value::as_str) == Some(name)).collect()),
        ("", "Namespace") => LabelSelector::default(),
        ("", "Service") => match object.pointer("/spec/selector").filter(|s| s.as_object().is_some_and(|m| !m.is_empty())) {
            Some(map) => LabelSelector::from_object(&json!({"matchLabels": map})).ok_or_else(|| format!("service {name:?} has a selector that is not a map of strings"))?,
            None => return Err(format!("service {name:?} has no spec.selector, so no pods to take the metric from")),
        },
        _ => match object.pointer("/spec/selector") {
            Some(selector) => LabelSelector::from_object(selector).ok_or_else(|| format!("{} {name:?} has a spec.selector this server cannot read", rt.kind))?,
            None => return Err(format!("{} {name:?} has no spec.selector, so no pods to take the metric from", rt.kind)),
        },
    };
    let picked: Vec<&Value> = all.iter().filter(|p| selector.matches(p)).collect();
    if picked.is_empty() {
        return Err(format!("{} {name:?} selects no pods in namespace {ns:?}", rt.kind));
    }
    Ok(picked)
}

/// A metric looked up in the agents' scrapes.
struct Metric<'a> {
    name: &'a str,
    selector: &'a LabelSelector,
    scrapes: &'a HashMap<String, Value>,
}

/// A value found over some pods: the sum, the latest scrape time, the longest rate window.
struct Found {
    value: f64,
    time: String,
    window: Option<f64>,
}

impl Metric<'_> {
    /// The sum of the metric over `pods`, or why no pod has it.
    fn value(&self, pods: &[&Value]) -> Result<Found, String> {
        let mut found: Option<Found> = None;
        for pod in pods {
            let Some(scrape) = pod.pointer("/metadata/uid").and_then(Value::as_str).and_then(|uid| self.scrapes.get(uid)) else { continue };
            let matching: Vec<f64> = scrape["series"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["name"] == self.name && self.selector.matches(&json!({"metadata": {"labels": s["labels"]}})))
                .filter_map(|s| s["value"].as_f64())
                .collect();
            if matching.is_empty() {
                continue;
            }
            let time = scrape["time"].as_str().unwrap_or_default().to_string();
            let window = scrape["windowSeconds"].as_f64();
            let sum: f64 = matching.iter().sum();
            found = Some(match found {
                None => Found { value: sum, time, window },
                Some(f) => Found { value: f.value + sum, time: f.time.max(time), window: match (f.window, window) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                } },
            });
        }
        found.ok_or_else(|| self.missing(pods))
    }

    /// Why none of `pods` has the metric.
    fn missing(&self, pods: &[&Value]) -> String {
        let name_of = |p: &Value| p.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let annotated: Vec<&&Value> = pods.iter().filter(|p| p.pointer("/metadata/annotations/prometheus.io~1scrape").and_then(Value::as_str) == Some("true")).collect();
        if annotated.is_empty() {
            let names: Vec<String> = pods.iter().map(|p| name_of(p)).collect();
            return format!("none of the pods ({}) is annotated prometheus.io/scrape: \"true\", so none is scraped", names.join(", "));
        }
        let scrapes: Vec<(String, &Value)> = annotated.iter().filter_map(|p| Some((name_of(p), self.scrapes.get(p.pointer("/metadata/uid")?.as_str()?)?))).collect();
        if scrapes.is_empty() {
            let names: Vec<String> = annotated.iter().map(|p| name_of(p)).collect();
            return format!("the pods ({}) have not been scraped yet: a pod is scraped every few seconds once it runs", names.join(", "));
        }
        let mut exposed = BTreeSet::new();
        for (pod, scrape) in &scrapes {
            if scrape["pending"].as_array().is_some_and(|p| p.iter().any(|n| n == self.name)) {
                return format!("the counter behind {} has been scraped only once from pod {pod}: its rate shows after the next scrape", self.name);
            }
            exposed.extend(scrape["series"].as_array().into_iter().flatten().filter_map(|s| s["name"].as_str()));
        }
        if exposed.is_empty() {
            if let Some((pod, error)) = scrapes.iter().find_map(|(pod, s)| Some((pod, s["error"].as_str()?))) {
                return format!("scraping pod {pod} failed: {error}");
            }
        }
        let exposed: Vec<&str> = exposed.into_iter().collect();
        let series = if self.selector == &LabelSelector::default() { "series" } else { "series matching metricLabelSelector" };
        format!("the pods expose no {series} named {} (they expose: {})", self.name, if exposed.is_empty() { "nothing".to_string() } else { exposed.join(", ") })
    }
}

/// A value as a quantity in its canonical form, to the thousandth (`2500m`, `3`, `2k`).
fn quantity(value: f64) -> String {
    tug_api::quantity::Quantity::from_millis((value * 1000.0).round() as i128).to_string()
}

fn item(rt: &ResourceType, object: &Value, metric: &str, found: Found) -> Value {
    let mut described = json!({"kind": rt.kind, "name": object.pointer("/metadata/name"), "apiVersion": rt.api_version()});
    if rt.namespaced {
        described["namespace"] = object.pointer("/metadata/namespace").cloned().unwrap_or(Value::Null);
    }
    let mut item = json!({
        "describedObject": described, "metric": {"name": metric},
        "timestamp": if found.time.is_empty() { now() } else { found.time }, "value": quantity(found.value),
    });
    if let Some(window) = found.window {
        item["windowSeconds"] = json!(window.round() as i64);
    }
    item
}

/// `/apis/custom.metrics.k8s.io/v1beta2`: each metric the Ready nodes' agents scraped
/// now, for each resource it can be read of.
pub async fn discovery(state: &AppState) -> ApiResult<Response> {
    let nodes_rt = built_in("nodes")?;
    let ready = |n: &Value| n.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
    let nodes = objects(state, nodes_rt, None).await?.iter().filter(|n| ready(n)).filter_map(|n| n.pointer("/metadata/name")?.as_str().map(str::to_string)).collect();
    let scrapes = scraped(state, nodes, DISCOVERY_TIMEOUT).await;
    let mut names: BTreeSet<&str> = scrapes.values().flat_map(|p| p["series"].as_array().into_iter().flatten()).filter_map(|s| s["name"].as_str()).collect();
    // `<resource>/*`: any metric may be asked for; it also keeps the list from being empty,
    // which clients' discovery treats as a failed group.
    names.insert("*");
    let resources: Vec<Value> = names
        .iter()
        .flat_map(|metric| {
            DESCRIBED.iter().map(move |(resource, namespaced)| json!({"name": format!("{resource}/{metric}"), "singularName": "", "namespaced": namespaced, "kind": "MetricValueList", "verbs": ["get"]}))
        })
        .collect();
    Ok(respond::ok(&json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{}/{}", CUSTOM_METRICS.0, CUSTOM_METRICS.1), "resources": resources})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, uid: &str, labels: Value, scraped: bool) -> Value {
        let annotations = if scraped { json!({"prometheus.io/scrape": "true"}) } else { json!({}) };
        json!({"metadata": {"name": name, "namespace": "ns", "uid": uid, "labels": labels, "annotations": annotations}, "spec": {"nodeName": "n1"}})
    }

    fn scrapes() -> HashMap<String, Value> {
        HashMap::from([
            ("u1".to_string(), json!({"time": "2026-01-01T00:00:05Z", "windowSeconds": 5.0, "pending": [], "series": [
                {"name": "jobs", "labels": {"queue": "a"}, "value": 2.0},
                {"name": "jobs", "labels": {"queue": "b"}, "value": 0.5},
            ]})),
            ("u2".to_string(), json!({"time": "2026-01-01T00:00:06Z", "pending": ["requests"], "series": [{"name": "jobs", "labels": {}, "value": 1.0}]})),
            ("u3".to_string(), json!({"time": "2026-01-01T00:00:06Z", "error": "GET http://10.42.0.9:80/metrics: connection refused"})),
        ])
    }

    fn namespace_pods() -> BTreeMap<String, Vec<Value>> {
        BTreeMap::from([("ns".to_string(), vec![
            pod("a", "u1", json!({"app": "q"}), true),
            pod("b", "u2", json!({"app": "q"}), true),
            pod("c", "u3", json!({"app": "broken"}), true),
            pod("d", "u4", json!({"app": "plain"}), false),
        ])])
    }

    #[test]
    fn a_pod_sums_its_series_and_a_service_its_pods() {
        let all = namespace_pods();
        let scrapes = scrapes();
        let any = LabelSelector::default();
        let metric = Metric { name: "jobs", selector: &any, scrapes: &scrapes };
        let pod_rt = built_in("pods").unwrap();
        let a = metric.value(&pods_of(pod_rt, &all["ns"][0], &all).unwrap()).unwrap();
        assert_eq!((a.value, a.window), (2.5, Some(5.0)));
        let service = json!({"metadata": {"name": "q", "namespace": "ns"}, "spec": {"selector": {"app": "q"}}});
        let found = metric.value(&pods_of(built_in("services").unwrap(), &service, &all).unwrap()).unwrap();
        assert_eq!((found.value, found.time.as_str()), (3.5, "2026-01-01T00:00:06Z"));
        assert_eq!(item(pod_rt, &all["ns"][0], "jobs", a)["value"], "2500m");
        let only_a = LabelSelector::parse("queue=a").unwrap();
        let metric = Metric { name: "jobs", selector: &only_a, scrapes: &scrapes };
        assert_eq!(metric.value(&pods_of(built_in("services").unwrap(), &service, &all).unwrap()).unwrap().value, 2.0);
        let deployment = json!({"metadata": {"name": "q", "namespace": "ns"}, "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["q"]}]}}});
        let apps = registry::find("apps", "v1", "deployments").unwrap();
        assert_eq!(pods_of(apps, &deployment, &all).unwrap().len(), 2);
    }

    #[test]
    fn a_missing_value_says_why() {
        let all = namespace_pods();
        let scrapes = scrapes();
        let any = LabelSelector::default();
        let why = |metric: &str, app: &str| {
            let pods: Vec<&Value> = all["ns"].iter().filter(|p| p["metadata"]["labels"]["app"] == app).collect();
            Metric { name: metric, selector: &any, scrapes: &scrapes }.value(&pods).err().unwrap()
        };
        assert_eq!(why("jobs", "plain"), "none of the pods (d) is annotated prometheus.io/scrape: \"true\", so none is scraped");
        assert_eq!(why("jobs", "broken"), "scraping pod c failed: GET http://10.42.0.9:80/metrics: connection refused");
        assert_eq!(why("requests", "q"), "the counter behind requests has been scraped only once from pod b: its rate shows after the next scrape");
        assert_eq!(why("nope", "q"), "the pods expose no series named nope (they expose: jobs)");
        let service = json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": {"selector": {"app": "none"}}});
        assert_eq!(pods_of(built_in("services").unwrap(), &service, &all).unwrap_err(), "Service \"s\" selects no pods in namespace \"ns\"");
        assert_eq!((quantity(3.0), quantity(0.0004), quantity(10.0 / 3.0), quantity(2000.0)), ("3".into(), "0".into(), "3333m".into(), "2k".into()));
    }
}
