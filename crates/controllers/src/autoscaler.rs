//! The HorizontalPodAutoscaler controller (autoscaling/v2; v1 objects are the same
//! objects, converted by the API server). Every [`SYNC_PERIOD`] each HPA's target is
//! found by discovery (any kind with a `scale` subresource: Deployments, ReplicaSets,
//! StatefulSets, custom resources), its scale read, the pods its selector picks and
//! their usage from `metrics.k8s.io` (or custom metrics) gathered, each metric's replica count computed
//! (`autoscale_replicas`), the highest taken, and `behavior` applied
//! (`autoscale_behavior`); then the scale is written, `SuccessfulRescale` recorded,
//! and the status (currentMetrics, desiredReplicas, lastScaleTime, and the conditions
//! AbleToScale, ScalingActive and ScalingLimited with kube-controller-manager's reasons)
//! patched.
//!
//! Metrics: `Resource` (cpu, memory; Utilization of the pods' requests or AverageValue)
//! and `ContainerResource` (one container's) from the resource metrics API; `Pods`
//! (AverageValue over the target's pods, which count as they report, ready or not) and
//! `Object` (Value, or AverageValue per replica) from the custom metrics API
//! (`custom.metrics.k8s.io/v1beta2`), read as any client reads it. A metric that cannot
//! be read makes `ScalingActive` False (`FailedGetPodsMetric`, `FailedGetObjectMetric`,
//! …) with the API's message when no other metric could be; `External` metrics are not
//! served (`FailedGetExternalMetric`).
//!
//! The recommendations and scale events `behavior` looks back on are kept in memory per
//! HPA, as kube-controller-manager keeps them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, MetricIdentifier, MetricSpec, MetricTarget, ObjectMetricSource, PodsMetricSource};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use tug_api::quantity::Quantity;

use crate::autoscale_behavior::{self as behavior, Behavior, Dated, Limit};
use crate::autoscale_replicas::{self as replicas, PodSample, Target};
use crate::owned_pods::{is_ready, record_event, selector_query};
use crate::reconciler::{self, ReconcileError};

const COMPONENT: &str = "horizontal-pod-autoscaler";
/// kube-controller-manager's `--horizontal-pod-autoscaler-sync-period`.
pub const SYNC_PERIOD: Duration = Duration::from_secs(15);
/// How long recommendations and scale events are kept (longer than any window or period may be).
const MEMORY_SECONDS: f64 = 3600.0;

/// What the controller remembers of one HPA.
#[derive(Debug, Default, Clone)]
struct History {
    recommendations: Vec<Dated>,
    up_events: Vec<Dated>,
    down_events: Vec<Dated>,
}

type Memory = Arc<Mutex<HashMap<String, History>>>;

/// Runs the controller until its watch ends.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let controller = Controller::new(Api::<HorizontalPodAutoscaler>::all(client.clone()), watcher::Config::default());
    let memory: Memory = Arc::default();
    reconciler::run("horizontalpodautoscaler", controller, move |hpa, _| reconcile(client.clone(), memory.clone(), hpa)).await
}

/// A condition as the status carries it.
fn condition(type_: &str, ok: bool, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": if ok { "True" } else { "False" }, "reason": reason, "message": message})
}

/// The target's scale and how to reach it, or the reason it cannot be had.
struct Scalable {
    api: Api<DynamicObject>,
    replicas: i32,
    selector: String,
}

async fn target_scale(client: &Client, hpa: &HorizontalPodAutoscaler) -> Result<Scalable, String> {
    let namespace = hpa.namespace().unwrap_or_else(|| "default".into());
    let target = &hpa.spec.as_ref().ok_or("the HPA has no spec")?.scale_target_ref;
    let (group, version) = match target.api_version.as_deref().unwrap_or("").split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), target.api_version.clone().unwrap_or_else(|| "v1".into())),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, &target.kind);
    let (resource, capabilities) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|_| format!("the HPA controller was unable to get the target's current scale: no matches for kind \"{}\" in group \"{group}\"", target.kind))?;
    if !capabilities.subresources.iter().any(|(r, _)| r.plural == "scale") {
        return Err(format!(
            "the HPA controller was unable to get the target's current scale: {} of kind {} has no scale subresource; scaleTargetRef must name a Deployment, ReplicaSet, StatefulSet or a resource with a scale subresource",
            resource.plural, target.kind
        ));
    }
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
    let scale = api.get_scale(&target.name).await.map_err(|e| match e {
        kube::Error::Api(status) if status.code == 404 => {
            let plural = if group.is_empty() { resource.plural.clone() } else { format!("{}.{group}", resource.plural) };
            format!("the HPA controller was unable to get the target's current scale: {plural} \"{}\" not found", target.name)
        }
        e => format!("the HPA controller was unable to get the target's current scale: {e}"),
    })?;
    Ok(Scalable {
        api,
        replicas: scale.spec.and_then(|s| s.replicas).unwrap_or(0),
        selector: scale.status.and_then(|s| s.selector).unwrap_or_default(),
    })
}

/// The metric's replica count and its `currentMetrics` entry, or (reason, message).
type Evaluated = Result<(i32, Value, String), (&'static str, String)>;

/// The pods the selector picks (neither failed nor being deleted) and their metrics, by pod name.
async fn pods_and_usage(client: &Client, namespace: &str, selector: &str) -> Result<(Vec<Pod>, HashMap<String, Value>), kube::Error> {
    let params = ListParams::default().labels(selector);
    let pods = Api::<Pod>::namespaced(client.clone(), namespace).list(&params).await?;
    let pods: Vec<Pod> = pods
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Failed"))
        .collect();
    let resource = ApiResource {
        group: "metrics.k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "metrics.k8s.io/v1beta1".into(),
        kind: "PodMetrics".into(),
        plural: "pods".into(),
    };
    let metrics = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource).list(&params).await?;
    let usage = metrics.items.into_iter().map(|m| (m.name_any(), m.data)).collect();
    Ok((pods, usage))
}

/// A quantity in its base unit (cores, bytes) as a float.
fn amount(text: &str) -> Option<f64> {
    Quantity::parse(text).ok().map(|q| q.millis() as f64 / 1000.0).or_else(|| text.strip_suffix('n')?.parse::<f64>().ok().map(|n| n / 1e9))
}

/// Evaluates a `Resource` or `ContainerResource` metric.
fn resource_metric(spec: &MetricSpec, current: i32, pods: &[Pod], usage: &HashMap<String, Value>) -> Evaluated {
    let (name, target, container) = match (&spec.resource, &spec.container_resource) {
        (Some(r), _) => (r.name.clone(), &r.target, None),
        (None, Some(c)) => (c.name.clone(), &c.target, Some(c.container.clone())),
        _ => return Err(("InvalidMetricSourceType", format!("the {} metric has no source", spec.type_))),
    };
    let failed = if container.is_some() { "FailedGetContainerResourceMetric" } else { "FailedGetResourceMetric" };
    let wanted = |c: &str| container.as_deref().is_none_or(|w| w == c);
    let (goal, describe) = resource_target(target, &name).map_err(|m| (failed, m))?;
    let mut samples = Vec::new();
    for pod in pods {
        let pod_name = pod.name_any();
        let mut request = 0.0;
        if matches!(goal, Target::Utilization(_)) {
            for c in pod.spec.iter().flat_map(|s| &s.containers).filter(|c| wanted(&c.name)) {
                let asked = c.resources.as_ref().and_then(|r| r.requests.as_ref()).and_then(|r| r.get(&name));
                match asked.and_then(|q| amount(&q.0)) {
                    Some(a) => request += a,
                    None => return Err((failed, format!("failed to get {name} utilization: missing request for {name} in container {} of Pod {pod_name}", c.name))),
                }
            }
        }
        let value = usage.get(&pod_name).and_then(|m| m.get("containers")).and_then(Value::as_array).map(|containers| {
            containers
                .iter()
                .filter(|c| c["name"].as_str().is_some_and(wanted))
                .filter_map(|c| c["usage"][name.as_str()].as_str().and_then(amount))
                .sum::<f64>()
        });
        samples.push(PodSample { value, ready: is_ready(pod), request });
    }
    let unready_counts = name != "cpu";
    let proposal = replicas::replicas(current, &samples, goal, unready_counts)
        .ok_or_else(|| (failed, format!("failed to get {name} utilization: unable to get metrics for resource {name}: no metrics returned from resource metrics API")))?;
    let kind = if container.is_some() { "ContainerResource" } else { "Resource" };
    let mut source = json!({"name": name});
    if let Some(c) = &container {
        source["container"] = json!(c);
    }
    source["current"] = match goal {
        Target::Utilization(_) => {
            let average: f64 = samples.iter().filter_map(|s| s.value).sum::<f64>() / samples.iter().filter(|s| s.value.is_some()).count().max(1) as f64;
            json!({"averageUtilization": proposal.current.round() as i64, "averageValue": quantity(&name, average)})
        }
        Target::AverageValue(_) => json!({"averageValue": quantity(&name, proposal.current)}),
    };
    let field = if container.is_some() { "containerResource" } else { "resource" };
    Ok((proposal.replicas, json!({"type": kind, field: source}), describe))
}

/// A resource amount printed as the API prints it: millicores for CPU, bytes otherwise.
fn quantity(name: &str, value: f64) -> String {
    if name == "cpu" { format!("{}m", (value * 1000.0).round() as i64) } else { format!("{}", value.round() as i64) }
}

/// The target of a resource metric and how the rescale reason names it.
fn resource_target(target: &MetricTarget, name: &str) -> Result<(Target, String), String> {
    match (target.type_.as_str(), target.average_utilization, target.average_value.as_ref()) {
        ("Utilization", Some(u), _) => Ok((Target::Utilization(f64::from(u)), format!("{name} resource utilization (percentage of request)"))),
        ("AverageValue", _, Some(v)) => {
            let v = amount(&v.0).ok_or_else(|| format!("invalid averageValue {:?} for {name}", v.0))?;
            Ok((Target::AverageValue(v), format!("{name} resource")))
        }
        (kind, _, _) => Err(format!("invalid resource metric target for {name}: type {kind:?} needs averageUtilization (Utilization) or averageValue (AverageValue)")),
    }
}

/// What a metric is evaluated against: the target's pods and their resource usage.
struct Observed<'a> {
    client: &'a Client,
    namespace: &'a str,
    /// The target's pod selector (from its scale).
    selector: &'a str,
    current: i32,
    pods: &'a [Pod],
    usage: &'a HashMap<String, Value>,
}

/// Evaluates one metric of the spec.
async fn evaluate(spec: &MetricSpec, seen: &Observed<'_>) -> Evaluated {
    match (spec.type_.as_str(), &spec.pods, &spec.object) {
        ("Resource" | "ContainerResource", _, _) => resource_metric(spec, seen.current, seen.pods, seen.usage),
        ("Pods", Some(source), _) => pods_metric(source, seen).await,
        ("Object", _, Some(source)) => object_metric(source, seen).await,
        ("Pods" | "Object", _, _) => Err(("InvalidMetricSourceType", format!("the {} metric has no {} source", spec.type_, spec.type_.to_lowercase()))),
        ("External", _, _) => Err((
            "FailedGetExternalMetric",
            "unable to get External metric: this cluster serves no external metrics API (external.metrics.k8s.io); use Pods or Object metrics from custom.metrics.k8s.io".into(),
        )),
        (other, _, _) => Err(("InvalidMetricSourceType", format!("unknown metric source type {other:?}"))),
    }
}

/// The path of the custom metrics API that answers for `resource/name/metric` in `namespace`.
const CUSTOM_METRICS: &str = "/apis/custom.metrics.k8s.io/v1beta2";

/// The items of a `MetricValueList` from the custom metrics API, or the API's message.
async fn metric_values(client: &Client, path: &str, query: &[(&str, String)]) -> Result<Vec<Value>, String> {
    let mut url = format!("{CUSTOM_METRICS}/{path}");
    let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(query.iter().filter(|(_, v)| !v.is_empty())).finish();
    if !encoded.is_empty() {
        url = format!("{url}?{encoded}");
    }
    let request = http::Request::get(url).body(Vec::new()).map_err(|e| e.to_string())?;
    let list: Value = client.request(request).await.map_err(|e| match e {
        kube::Error::Api(status) => status.message.clone(),
        e => e.to_string(),
    })?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// A metric's series selector as a query, and as `currentMetrics` names the metric.
fn identifier(metric: &MetricIdentifier) -> (String, Value) {
    let selector = metric.selector.as_ref().map(selector_query).unwrap_or_default();
    let mut named = json!({"name": metric.name});
    if let Some(s) = &metric.selector {
        named["selector"] = json!(s);
    }
    (selector, named)
}

/// A custom value as a quantity, to the thousandth (`500m`, `3`).
fn custom_quantity(value: f64) -> String {
    Quantity::from_millis((value * 1000.0).round() as i128).to_string()
}

/// The target value of a custom metric of the given type (`Value` or `AverageValue`).
fn custom_target(target: &MetricTarget, name: &str) -> Result<(bool, f64), String> {
    let parsed = |q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| amount(&q.0).filter(|v| *v > 0.0).ok_or_else(|| format!("invalid target {:?} for metric {name}: a positive quantity is needed", q.0));
    match (target.type_.as_str(), target.value.as_ref(), target.average_value.as_ref()) {
        ("Value", Some(v), _) => Ok((false, parsed(v)?)),
        ("AverageValue", _, Some(v)) => Ok((true, parsed(v)?)),
        (kind, _, _) => Err(format!("invalid metric target for {name}: type {kind:?} needs value (Value) or averageValue (AverageValue)")),
    }
}

/// Evaluates a `Pods` metric: its average over the target's pods against an AverageValue.
async fn pods_metric(source: &PodsMetricSource, seen: &Observed<'_>) -> Evaluated {
    let failed = "FailedGetPodsMetric";
    let name = &source.metric.name;
    let goal = match custom_target(&source.target, name).map_err(|m| (failed, m))? {
        (true, goal) => goal,
        (false, _) => return Err((failed, format!("invalid pods metric target for {name}: Pods metrics take an AverageValue target"))),
    };
    let (series, named) = identifier(&source.metric);
    let query = [("labelSelector", seen.selector.to_string()), ("metricLabelSelector", series)];
    let items = metric_values(seen.client, &format!("namespaces/{}/pods/*/{name}", seen.namespace), &query)
        .await
        .map_err(|e| (failed, format!("unable to get metric {name}: unable to fetch metrics from custom metrics API: {e}")))?;
    let values: HashMap<&str, f64> = items.iter().filter_map(|i| Some((i.pointer("/describedObject/name")?.as_str()?, amount(i["value"].as_str()?)?))).collect();
    let samples: Vec<PodSample> = seen.pods.iter().map(|p| PodSample { value: values.get(p.name_any().as_str()).copied(), ready: is_ready(p), request: 0.0 }).collect();
    let proposal = replicas::replicas(seen.current, &samples, Target::AverageValue(goal), true)
        .ok_or_else(|| (failed, format!("unable to get metric {name}: no metrics returned from custom metrics API for the target's pods")))?;
    let entry = json!({"type": "Pods", "pods": {"metric": named, "current": {"averageValue": custom_quantity(proposal.current)}}});
    Ok((proposal.replicas, entry, format!("pods metric {name}")))
}

/// Evaluates an `Object` metric: one object's value against a Value, or per replica against an AverageValue.
async fn object_metric(source: &ObjectMetricSource, seen: &Observed<'_>) -> Evaluated {
    let failed = "FailedGetObjectMetric";
    let name = &source.metric.name;
    let object = &source.described_object;
    let (per_replica, goal) = custom_target(&source.target, name).map_err(|m| (failed, m))?;
    let unable = |why: String| (failed, format!("unable to get metric {name}: {} {}/{}: {why}", object.kind, seen.namespace, object.name));
    let api_version = object.api_version.clone().unwrap_or_else(|| "v1".into());
    let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
    let (resource, _) = kube::discovery::pinned_kind(seen.client, &GroupVersionKind::gvk(group, version, &object.kind))
        .await
        .map_err(|_| unable(format!("no matches for kind {:?} in version {api_version:?}", object.kind)))?;
    let plural = if group.is_empty() { resource.plural.clone() } else { format!("{}.{group}", resource.plural) };
    let (series, named) = identifier(&source.metric);
    let items = metric_values(seen.client, &format!("namespaces/{}/{plural}/{}/{name}", seen.namespace, object.name), &[("metricLabelSelector", series)])
        .await
        .map_err(|e| unable(format!("unable to fetch metrics from custom metrics API: {e}")))?;
    let value = items.first().and_then(|i| amount(i["value"].as_str()?)).ok_or_else(|| unable("no metrics returned from custom metrics API".into()))?;
    let (replicas, current) = if per_replica {
        let replicas = replicas::object_average(seen.current, value, goal).ok_or_else(|| unable("the target must be positive".into()))?;
        (replicas, json!({"averageValue": custom_quantity(value / f64::from(seen.current.max(1)))}))
    } else {
        if seen.pods.is_empty() {
            return Err(unable("no pods returned by selector while calculating replica count".into()));
        }
        let ready = seen.pods.iter().filter(|p| is_ready(p) && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).count();
        let replicas = replicas::object_value(seen.current, value, goal, ready).ok_or_else(|| unable("the target must be positive".into()))?;
        (replicas, json!({"value": custom_quantity(value)}))
    };
    let described = json!({"apiVersion": api_version, "kind": object.kind, "name": object.name});
    let entry = json!({"type": "Object", "object": {"describedObject": described, "metric": named, "current": current}});
    Ok((replicas, entry, format!("{} metric {name}", object.kind)))
}

fn seconds(t: Timestamp) -> f64 {
    t.as_nanosecond() as f64 / 1e9
}

async fn reconcile(client: Client, memory: Memory, hpa: Arc<HorizontalPodAutoscaler>) -> Result<Action, ReconcileError> {
    let Some(spec) = hpa.spec.clone() else { return Ok(Action::await_change()) };
    let namespace = hpa.namespace().unwrap_or_else(|| "default".into());
    let key = format!("{namespace}/{}", hpa.name_any());
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &namespace);
    let now = Timestamp::now();
    let old = hpa.status.clone().unwrap_or_default();
    let mut status = json!({
        "observedGeneration": hpa.metadata.generation,
        "currentReplicas": old.current_replicas.unwrap_or(0),
        "desiredReplicas": old.desired_replicas,
        "currentMetrics": old.current_metrics,
        "lastScaleTime": old.last_scale_time,
    });
    let scalable = match target_scale(&client, &hpa).await {
        Ok(s) => s,
        Err(message) => {
            record_event(&client, COMPONENT, hpa.as_ref(), "Warning", "FailedGetScale", &message).await;
            status["conditions"] = json!([
                condition("AbleToScale", false, "FailedGetScale", &message),
            ]);
            write_status(&hpas, &hpa, status).await?;
            return Ok(Action::requeue(SYNC_PERIOD));
        }
    };
    let current = scalable.replicas;
    status["currentReplicas"] = json!(current);
    let min = spec.min_replicas.unwrap_or(1);
    let max = spec.max_replicas;
    let able = condition("AbleToScale", true, "SucceededGetScale", "the HPA controller was able to get the target's current scale");
    if current == 0 && min != 0 {
        status["desiredReplicas"] = json!(0);
        status["conditions"] = json!([able, condition("ScalingActive", false, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")]);
        write_status(&hpas, &hpa, status).await?;
        return Ok(Action::requeue(SYNC_PERIOD));
    }
    // Out of range already: back into it first, as kube-controller-manager does.
    let (proposed, reason, active) = if current > max || current < min {
        let bound = current.clamp(min, max);
        let why = if current > max { "Current number of replicas above Spec.MaxReplicas" } else { "Current number of replicas below Spec.MinReplicas" };
        (bound, why.to_string(), condition("ScalingActive", true, "ValidMetricFound", "the HPA was able to successfully calculate a replica count"))
    } else {
        match compute(&client, &namespace, &scalable, &spec, current).await {
            Ok((replicas, metrics, describe)) => {
                status["currentMetrics"] = json!(metrics);
                let message = format!("the HPA was able to successfully calculate a replica count from {describe}");
                let reason = if replicas > current { format!("{describe} above target") } else { "All metrics below target".to_string() };
                (replicas, reason, condition("ScalingActive", true, "ValidMetricFound", &message))
            }
            Err((why, message)) => {
                record_event(&client, COMPONENT, hpa.as_ref(), "Warning", why, &message).await;
                status["desiredReplicas"] = json!(current);
                status["conditions"] = json!([able, condition("ScalingActive", false, why, &message)]);
                write_status(&hpas, &hpa, status).await?;
                return Ok(Action::requeue(SYNC_PERIOD));
            }
        }
    };
    let rules = Behavior::of(spec.behavior.as_ref());
    let at = seconds(now);
    let mut history = memory.lock().map(|m| m.get(&key).cloned().unwrap_or_default()).unwrap_or_default();
    history.recommendations.retain(|r| r.at > at - MEMORY_SECONDS);
    let (stabilized, held) = behavior::stabilize(&rules, &history.recommendations, at, current, proposed);
    history.recommendations.push(Dated { at, replicas: proposed });
    let (desired, limit) = behavior::limit_rate(&rules, &history.up_events, &history.down_events, at, current, stabilized, min, max);
    let able = if desired != current {
        let patch = Patch::Merge(json!({"spec": {"replicas": desired}}));
        let target_name = &spec.scale_target_ref.name;
        if let Err(e) = scalable.api.patch_scale(target_name, &PatchParams::default(), &patch).await {
            let message = format!("the HPA controller was unable to update the target scale: {e}");
            record_event(&client, COMPONENT, hpa.as_ref(), "Warning", "FailedRescale", &message).await;
            status["conditions"] = json!([condition("AbleToScale", false, "FailedUpdateScale", &message), active]);
            write_status(&hpas, &hpa, status).await?;
            return Ok(Action::requeue(SYNC_PERIOD));
        }
        let change = Dated { at, replicas: (desired - current).abs() };
        if desired > current { history.up_events.push(change) } else { history.down_events.push(change) }
        record_event(&client, COMPONENT, hpa.as_ref(), "Normal", "SuccessfulRescale", &format!("New size: {desired}; reason: {reason}")).await;
        status["lastScaleTime"] = json!(now.to_string());
        condition("AbleToScale", true, "SucceededRescale", &format!("the HPA controller was able to update the target scale to {desired}"))
    } else if held {
        condition("AbleToScale", true, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation")
    } else {
        condition("AbleToScale", true, "ReadyForNewScale", "recommended size matches current size")
    };
    history.up_events.retain(|e| e.at > at - MEMORY_SECONDS);
    history.down_events.retain(|e| e.at > at - MEMORY_SECONDS);
    if let Ok(mut m) = memory.lock() {
        m.insert(key, history);
    }
    let (limit_reason, limit_message) = limit.reason();
    status["desiredReplicas"] = json!(desired);
    status["conditions"] = json!([able, active, condition("ScalingLimited", limit != Limit::None, limit_reason, limit_message)]);
    write_status(&hpas, &hpa, status).await?;
    Ok(Action::requeue(SYNC_PERIOD))
}

/// The highest replica count the metrics ask for, their `currentMetrics`, and which
/// metric asked; an error only when no metric could be evaluated.
async fn compute(client: &Client, namespace: &str, scalable: &Scalable, spec: &k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerSpec, current: i32) -> Result<(i32, Vec<Value>, String), (&'static str, String)> {
    if scalable.selector.is_empty() {
        return Err(("InvalidSelector", "the HPA target's scale is missing a selector".into()));
    }
    let (pods, usage) = pods_and_usage(client, namespace, &scalable.selector)
        .await
        .map_err(|e| ("FailedGetResourceMetric", format!("unable to get metrics: {e}")))?;
    let default_metric = [MetricSpec {
        type_: "Resource".into(),
        resource: Some(k8s_openapi::api::autoscaling::v2::ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget { type_: "Utilization".into(), average_utilization: Some(80), ..Default::default() },
        }),
        ..Default::default()
    }];
    let metrics = spec.metrics.as_deref().filter(|m| !m.is_empty()).unwrap_or(&default_metric);
    let seen = Observed { client, namespace, selector: &scalable.selector, current, pods: &pods, usage: &usage };
    let mut best: Option<(i32, String)> = None;
    let mut current_metrics = Vec::new();
    let mut first_error = None;
    for metric in metrics {
        match evaluate(metric, &seen).await {
            Ok((replicas, entry, describe)) => {
                current_metrics.push(entry);
                if best.as_ref().is_none_or(|(r, _)| replicas > *r) {
                    best = Some((replicas, describe));
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (best, first_error) {
        // A failed metric may not make a scale-down: it might have asked for more.
        (Some((replicas, _)), Some(e)) if replicas < current => Err(e),
        (Some((replicas, describe)), _) => Ok((replicas, current_metrics, describe)),
        (None, Some(e)) => Err(e),
        (None, None) => Err(("InvalidMetricSourceType", "the HPA has no metrics".into())),
    }
}

async fn write_status(hpas: &Api<HorizontalPodAutoscaler>, hpa: &HorizontalPodAutoscaler, mut status: Value) -> Result<(), kube::Error> {
    // Keep each condition's lastTransitionTime while its status stays.
    let now = Timestamp::now().to_string();
    let old = hpa.status.as_ref().and_then(|s| s.conditions.as_ref());
    if let Some(conditions) = status["conditions"].as_array_mut() {
        for c in conditions {
            let same = old.and_then(|o| o.iter().find(|o| c["type"] == o.type_.as_str() && c["status"] == o.status.as_str()));
            c["lastTransitionTime"] = json!(same.and_then(|o| o.last_transition_time.as_ref()).map_or(now.clone(), |t| t.0.to_string()));
        }
    }
    if status["lastScaleTime"].is_null() {
        status.as_object_mut().map(|s| s.remove("lastScaleTime"));
    }
    hpas.patch_status(&hpa.name_any(), &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::autoscaling::v2::ResourceMetricSource;

    fn pod(name: &str, cpu_request: Option<&str>, ready: bool) -> Pod {
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "resources": {}}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        }))
        .unwrap();
        if let Some(r) = cpu_request {
            pod.spec.as_mut().unwrap().containers[0].resources = serde_json::from_value(json!({"requests": {"cpu": r}})).unwrap();
        }
        pod
    }

    fn cpu(utilization: i32) -> MetricSpec {
        MetricSpec {
            type_: "Resource".into(),
            resource: Some(ResourceMetricSource { name: "cpu".into(), target: MetricTarget { type_: "Utilization".into(), average_utilization: Some(utilization), ..Default::default() } }),
            ..Default::default()
        }
    }

    #[test]
    fn cpu_utilization_is_usage_over_requests() {
        let pods = [pod("a", Some("100m"), true), pod("b", Some("100m"), true)];
        let usage = HashMap::from([
            ("a".to_string(), json!({"containers": [{"name": "c", "usage": {"cpu": "90000000n", "memory": "1Ki"}}]})),
            ("b".to_string(), json!({"containers": [{"name": "c", "usage": {"cpu": "90m", "memory": "1Ki"}}]})),
        ]);
        let (replicas, entry, describe) = resource_metric(&cpu(50), 2, &pods, &usage).unwrap();
        assert_eq!(replicas, 4);
        assert_eq!(entry, json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 90, "averageValue": "90m"}}}));
        assert_eq!(describe, "cpu resource utilization (percentage of request)");
    }

    #[test]
    fn a_missing_request_is_a_clear_failure() {
        let pods = [pod("a", None, true)];
        let (reason, message) = resource_metric(&cpu(50), 1, &pods, &HashMap::new()).unwrap_err();
        assert_eq!(reason, "FailedGetResourceMetric");
        assert_eq!(message, "failed to get cpu utilization: missing request for cpu in container c of Pod a");
    }

    #[test]
    fn custom_targets_and_series_selectors() {
        let target = |t: Value| custom_target(&serde_json::from_value(t).unwrap(), "jobs");
        assert_eq!(target(json!({"type": "AverageValue", "averageValue": "500m"})), Ok((true, 0.5)));
        assert_eq!(target(json!({"type": "Value", "value": "2k"})), Ok((false, 2000.0)));
        assert_eq!(target(json!({"type": "Value", "value": "0"})).unwrap_err(), "invalid target \"0\" for metric jobs: a positive quantity is needed");
        assert_eq!(target(json!({"type": "Utilization", "averageUtilization": 50})).unwrap_err(), "invalid metric target for jobs: type \"Utilization\" needs value (Value) or averageValue (AverageValue)");
        let metric: MetricIdentifier = serde_json::from_value(json!({"name": "jobs", "selector": {"matchLabels": {"queue": "a"}}})).unwrap();
        let (query, named) = identifier(&metric);
        assert_eq!(query, "queue=a");
        assert_eq!(named, json!({"name": "jobs", "selector": {"matchLabels": {"queue": "a"}}}));
        assert_eq!((custom_quantity(2.5), custom_quantity(12.0)), ("2500m".to_string(), "12".to_string()));
    }
}
