//! LimitRanger: the namespace's LimitRanges fill in each container's missing requests and
//! limits (`defaultRequest`, `default`), then bound them: `min`, `max` and
//! `maxLimitRequestRatio` per Container, per Pod (summed) and per PersistentVolumeClaim,
//! refused in Kubernetes' words (`maximum cpu usage per Container is 1, but limit is 2`).

use serde_json::{json, Map, Value};
use tug_api::quota::{parse_list, pod_requests_limits, ResourceList};

use super::{list, Admit, Operation, Plugin, Request, Review};

pub struct LimitRanger;

/// The limit items of every LimitRange in the request's namespace.
async fn items(request: &Request<'_>) -> crate::status::ApiResult<Vec<Value>> {
    let ranges = list(request.store, "", "limitranges", request.namespace).await?;
    Ok(ranges
        .into_iter()
        .flat_map(|(_, range)| {
            range
                .pointer("/spec/limits")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect())
}

fn applies(request: &Request<'_>) -> bool {
    request.operation == Operation::Create
        && (request.is("", "Pod") || request.is("", "PersistentVolumeClaim"))
}

impl Plugin for LimitRanger {
    fn name(&self) -> &'static str {
        "LimitRanger"
    }

    fn mutate<'a>(
        &'a self,
        request: &'a Request<'a>,
        object: &'a mut Value,
        _review: &'a mut Review,
    ) -> Admit<'a> {
        Box::pin(async move {
            if !applies(request) || !request.is("", "Pod") {
                return Ok(());
            }
            let items = items(request).await?;
            let mut set = Vec::new();
            for item in items
                .iter()
                .filter(|i| i.get("type").and_then(Value::as_str) == Some("Container"))
            {
                let limits = item.get("default").and_then(Value::as_object);
                let requests = item.get("defaultRequest").and_then(Value::as_object);
                for list in ["initContainers", "containers"] {
                    let Some(containers) = object
                        .pointer_mut(&format!("/spec/{list}"))
                        .and_then(Value::as_array_mut)
                    else {
                        continue;
                    };
                    for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                        let kind = if list == "containers" {
                            "container"
                        } else {
                            "init container"
                        };
                        let name = container
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        let resources = entry(container, "resources");
                        for (field, defaults, word) in [
                            ("requests", requests, "request"),
                            ("limits", limits, "limit"),
                        ] {
                            let mut filled = merge(entry(resources, field), defaults);
                            if !filled.is_empty() {
                                filled.sort();
                                set.push(format!("{} {word} for {kind} {name}", filled.join(", ")));
                            }
                        }
                    }
                }
            }
            if !set.is_empty() {
                let annotations = entry(crate::object::meta_mut(object), "annotations");
                annotations.insert(
                    "kubernetes.io/limit-ranger".into(),
                    json!(format!("LimitRanger plugin set: {}", set.join("; "))),
                );
            }
            Ok(())
        })
    }

    fn validate<'a>(
        &'a self,
        request: &'a Request<'a>,
        object: &'a Value,
        _review: &'a mut Review,
    ) -> Admit<'a> {
        Box::pin(async move {
            if !applies(request) {
                return Ok(());
            }
            let mut errors = Vec::new();
            for item in items(request).await? {
                let bounds = Bounds::of(&item);
                match (item.get("type").and_then(Value::as_str), request.rt.kind) {
                    (Some("Container"), "Pod") => {
                        for list in ["initContainers", "containers"] {
                            for c in object
                                .pointer(&format!("/spec/{list}"))
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                            {
                                let requests = parse_list(c.pointer("/resources/requests"));
                                let limits = parse_list(c.pointer("/resources/limits"));
                                bounds.check("Container", &requests, &limits, &mut errors);
                            }
                        }
                    }
                    (Some("Pod"), "Pod") => {
                        let (requests, limits) = pod_requests_limits(object);
                        bounds.check("Pod", &requests, &limits, &mut errors);
                    }
                    (Some("PersistentVolumeClaim"), "PersistentVolumeClaim") => {
                        let requests = parse_list(object.pointer("/spec/resources/requests"));
                        let limits = parse_list(object.pointer("/spec/resources/limits"));
                        bounds.check("PersistentVolumeClaim", &requests, &limits, &mut errors);
                    }
                    _ => {}
                }
            }
            match errors.as_slice() {
                [] => Ok(()),
                [one] => Err(request.forbidden(one)),
                many => Err(request.forbidden(format!("[{}]", many.join(", ")))),
            }
        })
    }
}

/// `map[key]` as an object, made one if absent.
fn entry<'m>(map: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = map.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("made an object above")
}

/// Copies the defaults `list` lacks into it; returns the names filled in.
fn merge(list: &mut Map<String, Value>, defaults: Option<&Map<String, Value>>) -> Vec<String> {
    let mut filled = Vec::new();
    for (name, amount) in defaults.into_iter().flatten() {
        if !list.contains_key(name) {
            list.insert(name.clone(), amount.clone());
            filled.push(name.clone());
        }
    }
    filled
}

/// One limit item's bounds.
struct Bounds {
    min: ResourceList,
    max: ResourceList,
    ratio: ResourceList,
}

impl Bounds {
    fn of(item: &Value) -> Bounds {
        Bounds {
            min: parse_list(item.get("min")),
            max: parse_list(item.get("max")),
            ratio: parse_list(item.get("maxLimitRequestRatio")),
        }
    }

    /// Kubernetes' checks and messages, in its order: min, max, ratio for each resource.
    fn check(
        &self,
        per: &str,
        requests: &ResourceList,
        limits: &ResourceList,
        errors: &mut Vec<String>,
    ) {
        for (name, min) in &self.min {
            match (requests.get(name), limits.get(name)) {
                (None, _) => errors.push(format!(
                    "minimum {name} usage per {per} is {min}.  No request is specified"
                )),
                (Some(r), _) if r < min => errors.push(format!(
                    "minimum {name} usage per {per} is {min}, but request is {r}"
                )),
                (_, Some(l)) if l < min => errors.push(format!(
                    "minimum {name} usage per {per} is {min}, but limit is {l}"
                )),
                _ => {}
            }
        }
        for (name, max) in &self.max {
            match (requests.get(name), limits.get(name)) {
                (_, None) => errors.push(format!(
                    "maximum {name} usage per {per} is {max}.  No limit is specified"
                )),
                (_, Some(l)) if l > max => errors.push(format!(
                    "maximum {name} usage per {per} is {max}, but limit is {l}"
                )),
                (Some(r), _) if r > max => errors.push(format!(
                    "maximum {name} usage per {per} is {max}, but request is {r}"
                )),
                _ => {}
            }
        }
        for (name, ratio) in &self.ratio {
            match (requests.get(name).filter(|r| !r.is_zero()), limits.get(name).filter(|l| !l.is_zero())) {
                (None, _) => errors.push(format!("{name} max limit to request ratio per {per} is {ratio}, but no request is specified or request is 0")),
                (_, None) => errors.push(format!("{name} max limit to request ratio per {per} is {ratio}, but no limit is specified or limit is 0")),
                (Some(r), Some(l)) => {
                    // limit / request > ratio, exactly: limit > ratio × request.
                    if l.millis() * 1000 > ratio.millis() * r.millis() {
                        let observed = l.millis() as f64 / r.millis() as f64;
                        errors.push(format!("{name} max limit to request ratio per {per} is {ratio}, but provided ratio is {observed:.6}"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tug_api::quantity::Quantity;

    use super::*;

    fn list(pairs: &[(&str, &str)]) -> ResourceList {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity::parse(v).unwrap()))
            .collect()
    }

    #[test]
    fn bounds_are_worded_as_kubernetes_words_them() {
        let bounds = Bounds::of(
            &json!({"min": {"cpu": "100m"}, "max": {"cpu": "1", "memory": "1Gi"}, "maxLimitRequestRatio": {"cpu": "2"}}),
        );
        let mut errors = Vec::new();
        bounds.check(
            "Container",
            &list(&[("cpu", "50m")]),
            &list(&[("cpu", "2"), ("memory", "2Gi")]),
            &mut errors,
        );
        assert_eq!(errors, [
            "minimum cpu usage per Container is 100m, but request is 50m",
            "maximum cpu usage per Container is 1, but limit is 2",
            "maximum memory usage per Container is 1Gi, but limit is 2Gi",
            "cpu max limit to request ratio per Container is 2, but provided ratio is 40.000000",
        ]);
    }
}
