//! Priority: a pod's `priorityClassName` (or else the class marked `globalDefault`) gives its
//! `priority` and `preemptionPolicy`; `system-node-critical` and `system-cluster-critical`
//! are built in. A class that does not exist, or a priority that disagrees with the class,
//! is refused.

use serde_json::{json, Value};

use super::{get, list, Admit, Operation, Plugin, Request, Review};

/// The classes every cluster has, with their values.
const BUILT_IN: [(&str, i64); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

pub struct Priority;

impl Plugin for Priority {
    fn name(&self) -> &'static str {
        "Priority"
    }

    fn mutate<'a>(
        &'a self,
        request: &'a Request<'a>,
        pod: &'a mut Value,
        _review: &'a mut Review,
    ) -> Admit<'a> {
        Box::pin(async move {
            if request.operation != Operation::Create || !request.is("", "Pod") {
                return Ok(());
            }
            let named = pod
                .pointer("/spec/priorityClassName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(str::to_string);
            let (class, value, policy) = match named {
                Some(name) => match BUILT_IN.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => (Some(name), *value, None),
                    None => {
                        let found = get(
                            request.store,
                            "scheduling.k8s.io",
                            "priorityclasses",
                            None,
                            &name,
                        )
                        .await?
                        .ok_or_else(|| {
                            request
                                .forbidden(format!("no PriorityClass with name {name} was found"))
                        })?;
                        (Some(name), value_of(&found), policy_of(&found))
                    }
                },
                None => {
                    let classes =
                        list(request.store, "scheduling.k8s.io", "priorityclasses", None).await?;
                    let default = classes
                        .iter()
                        .map(|(_, c)| c)
                        .filter(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true))
                        .min_by_key(|c| value_of(c));
                    match default {
                        Some(c) => (
                            c.pointer("/metadata/name")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                            value_of(c),
                            policy_of(c),
                        ),
                        None => (None, 0, None),
                    }
                }
            };
            let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
                return Ok(());
            };
            if let Some(given) = spec.get("priority").and_then(Value::as_i64) {
                if given != value {
                    return Err(request.forbidden(format!(
                        "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
                    )));
                }
            }
            if let Some(class) = class {
                spec.insert("priorityClassName".into(), json!(class));
            }
            spec.insert("priority".into(), json!(value));
            spec.entry("preemptionPolicy")
                .or_insert_with(|| json!(policy.unwrap_or_else(|| "PreemptLowerPriority".into())));
            Ok(())
        })
    }
}

fn value_of(class: &Value) -> i64 {
    class.get("value").and_then(Value::as_i64).unwrap_or(0)
}

fn policy_of(class: &Value) -> Option<String> {
    class
        .get("preemptionPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
}
