//! Defaulting: the fields the Kubernetes API server fills in when a client
//! leaves them out, so that objects read back as they would from a real
//! cluster. Pure functions over the JSON form of an object. (Allocations that
//! need the store, such as a Service's cluster IP, are the API server's.)

use serde_json::{json, Map, Value};

use crate::ResourceType;

/// Fills in the defaults of an object of type `rt`.
pub fn apply(rt: &ResourceType, object: &mut Value) {
    let Some(obj) = object.as_object_mut() else {
        return;
    };
    match (rt.group, rt.kind) {
        ("", "Pod") => pod_spec(field(obj, "spec")),
        ("", "Service") => service_spec(field(obj, "spec")),
        ("", "Secret") => {
            set(obj, "type", json!("Opaque"));
            secret_string_data(obj);
        }
        ("", "Namespace") => set(field(obj, "status"), "phase", json!("Active")),
        ("", "LimitRange") => {
            if let Some(Value::Array(limits)) = field(obj, "spec").get_mut("limits") {
                limits
                    .iter_mut()
                    .filter_map(Value::as_object_mut)
                    .for_each(limit_range_item);
            }
        }
        ("", "ReplicationController") => {
            let spec = field(obj, "spec");
            set(spec, "replicas", json!(1));
            template(spec);
        }
        ("apps", "Deployment") => {
            let spec = field(obj, "spec");
            set(spec, "replicas", json!(1));
            set(spec, "revisionHistoryLimit", json!(10));
            set(spec, "progressDeadlineSeconds", json!(600));
            let strategy = field(spec, "strategy");
            set(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                let rolling = field(strategy, "rollingUpdate");
                set(rolling, "maxUnavailable", json!("25%"));
                set(rolling, "maxSurge", json!("25%"));
            }
            template(spec);
        }
        ("apps", "ReplicaSet") => {
            let spec = field(obj, "spec");
            set(spec, "replicas", json!(1));
            template(spec);
        }
        ("apps", "StatefulSet") => {
            let spec = field(obj, "spec");
            set(spec, "replicas", json!(1));
            set(spec, "podManagementPolicy", json!("OrderedReady"));
            set(spec, "revisionHistoryLimit", json!(10));
            let strategy = field(spec, "updateStrategy");
            set(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                set(field(strategy, "rollingUpdate"), "partition", json!(0));
            }
            template(spec);
        }
        ("apps", "DaemonSet") => {
            let spec = field(obj, "spec");
            set(spec, "revisionHistoryLimit", json!(10));
            let strategy = field(spec, "updateStrategy");
            set(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                let rolling = field(strategy, "rollingUpdate");
                set(rolling, "maxUnavailable", json!(1));
                set(rolling, "maxSurge", json!(0));
            }
            template(spec);
        }
        ("batch", "Job") => job_spec(field(obj, "spec")),
        ("batch", "CronJob") => {
            let spec = field(obj, "spec");
            set(spec, "concurrencyPolicy", json!("Allow"));
            set(spec, "suspend", json!(false));
            set(spec, "successfulJobsHistoryLimit", json!(3));
            set(spec, "failedJobsHistoryLimit", json!(1));
            job_spec(field(field(spec, "jobTemplate"), "spec"));
        }
        _ => {}
    }
}

fn job_spec(spec: &mut Map<String, Value>) {
    set(spec, "parallelism", json!(1));
    set(spec, "backoffLimit", json!(6));
    set(spec, "completionMode", json!("NonIndexed"));
    set(spec, "suspend", json!(false));
    if spec.get("completions").is_none() && spec.get("parallelism") == Some(&json!(1)) {
        spec.insert("completions".into(), json!(1));
    }
    template(spec);
}

/// The pod template of a workload (`spec.template.spec`), if it has one.
fn template(spec: &mut Map<String, Value>) {
    if let Some(Value::Object(pod)) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        pod_spec(pod);
    }
}

fn pod_spec(spec: &mut Map<String, Value>) {
    set(spec, "restartPolicy", json!("Always"));
    set(spec, "dnsPolicy", json!("ClusterFirst"));
    set(spec, "terminationGracePeriodSeconds", json!(30));
    set(spec, "schedulerName", json!("default-scheduler"));
    set(spec, "securityContext", json!({}));
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let Some(Value::Array(containers)) = spec.get_mut(list) else {
            continue;
        };
        for container in containers.iter_mut().filter_map(Value::as_object_mut) {
            container_defaults(container);
        }
    }
}

fn container_defaults(c: &mut Map<String, Value>) {
    let pull = match c.get("image").and_then(Value::as_str) {
        Some(image) if image_tag(image).is_none_or(|t| t == "latest") => "Always",
        _ => "IfNotPresent",
    };
    set(c, "imagePullPolicy", json!(pull));
    set(c, "terminationMessagePath", json!("/dev/termination-log"));
    set(c, "terminationMessagePolicy", json!("File"));
    set(c, "resources", json!({}));
    requests_from_limits(field(c, "resources"));
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            set(port, "protocol", json!("TCP"));
        }
    }
}

/// A container that states a limit but no request for a resource requests its limit.
fn requests_from_limits(resources: &mut Map<String, Value>) {
    let Some(Value::Object(limits)) = resources.get("limits").cloned() else {
        return;
    };
    let requests = field(resources, "requests");
    for (name, amount) in limits {
        requests.entry(name).or_insert(amount);
    }
}

/// A Container limit's defaults: the default limit falls back to the max, the default
/// request to the default limit, then to the min.
fn limit_range_item(item: &mut Map<String, Value>) {
    if item.get("type").and_then(Value::as_str) != Some("Container") {
        return;
    }
    let list = |item: &Map<String, Value>, key: &str| {
        item.get(key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (max, min) = (list(item, "max"), list(item, "min"));
    let mut default = list(item, "default");
    for (k, v) in max {
        default.entry(k).or_insert(v);
    }
    let mut default_request = list(item, "defaultRequest");
    for (k, v) in default.iter().chain(min.iter()) {
        default_request.entry(k.clone()).or_insert(v.clone());
    }
    if !default.is_empty() {
        item.insert("default".into(), Value::Object(default));
    }
    if !default_request.is_empty() {
        item.insert("defaultRequest".into(), Value::Object(default_request));
    }
}

/// The tag of an image reference, if it names one (a digest counts as a tag).
fn image_tag(image: &str) -> Option<&str> {
    if let Some((_, digest)) = image.split_once('@') {
        return Some(digest);
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag)
}

/// `stringData` is write-only: each of its values goes into `data` (base64, replacing a
/// key of the same name), and the field is never stored, as Kubernetes does on decode.
fn secret_string_data(secret: &mut Map<String, Value>) {
    use base64::Engine;
    let Some(Value::Object(strings)) = secret.remove("stringData") else { return };
    let data = field(secret, "data");
    for (key, value) in strings {
        let text = value.as_str().map_or_else(|| value.to_string(), str::to_string);
        data.insert(key, json!(base64::engine::general_purpose::STANDARD.encode(text)));
    }
}

fn service_spec(spec: &mut Map<String, Value>) {
    set(spec, "type", json!("ClusterIP"));
    set(spec, "sessionAffinity", json!("None"));
    let external_name = spec.get("type") == Some(&json!("ExternalName"));
    if !external_name {
        set(spec, "internalTrafficPolicy", json!("Cluster"));
        set(spec, "ipFamilies", json!(["IPv4"]));
        set(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            set(port, "protocol", json!("TCP"));
            if let Some(p) = port.get("port").cloned() {
                set(port, "targetPort", p);
            }
        }
    }
}

/// `obj[key]` as an object, made one if it is absent or null.
fn field<'a>(obj: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = obj.entry(key.to_string()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    }
}

/// Sets `obj[key]` unless it has a value.
fn set(obj: &mut Map<String, Value>, key: &str, value: Value) {
    match obj.get(key) {
        Some(v) if !v.is_null() => {}
        _ => {
            obj.insert(key.to_string(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::by_kind;

    #[test]
    fn deployment_gets_the_real_defaults() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "busybox"}
        ]}}}});
        apply(by_kind("apps/v1", "Deployment").unwrap(), &mut d);
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(
            (
                spec["revisionHistoryLimit"].clone(),
                spec["progressDeadlineSeconds"].clone()
            ),
            (json!(10), json!(600))
        );
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(pod["containers"][1]["imagePullPolicy"], "Always");
    }

    #[test]
    fn secret_string_data_is_folded_into_data() {
        let rt = crate::registry::find("", "v1", "secrets").unwrap();
        let mut secret = json!({"data": {"a": "b2xk", "keep": "eA=="}, "stringData": {"a": "new", "b": "two"}});
        apply(rt, &mut secret);
        assert_eq!(secret, json!({"type": "Opaque", "data": {"a": "bmV3", "keep": "eA==", "b": "dHdv"}}));
    }

    #[test]
    fn service_ports_default_protocol_and_target_port() {
        let mut s = json!({"spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}]}});
        apply(by_kind("v1", "Service").unwrap(), &mut s);
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(s["spec"]["sessionAffinity"], "None");
        assert_eq!(
            s["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(s["spec"]["ports"][1]["targetPort"], "dns");
    }

    #[test]
    fn set_values_are_kept() {
        let mut d = json!({"spec": {"replicas": 3, "strategy": {"type": "Recreate"}}});
        apply(by_kind("apps/v1", "Deployment").unwrap(), &mut d);
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("nginx"), None);
        assert_eq!(image_tag("localhost:5000/nginx"), None);
        assert_eq!(image_tag("localhost:5000/nginx:1"), Some("1"));
        assert_eq!(image_tag("nginx@sha256:ab"), Some("sha256:ab"));
    }
}
