//! DefaultTolerationSeconds: a created pod that does not tolerate the
//! `node.kubernetes.io/not-ready` or `node.kubernetes.io/unreachable` NoExecute taints
//! gets a toleration for each with `tolerationSeconds: 300`, so it is evicted five minutes
//! after its node stops answering rather than at once.

use serde_json::{json, Value};

use super::{Admit, Operation, Plugin, Request, Review};

const KEYS: [&str; 2] = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];
const SECONDS: i64 = 300;

pub struct DefaultTolerationSeconds;

/// Whether a toleration covers NoExecute taints with `key`.
fn covers(toleration: &Value, key: &str) -> bool {
    let key_ok = match toleration.get("key").and_then(Value::as_str) {
        None | Some("") => toleration.get("operator").and_then(Value::as_str) == Some("Exists"),
        Some(k) => k == key,
    };
    let effect_ok = matches!(toleration.get("effect").and_then(Value::as_str), None | Some("") | Some("NoExecute"));
    key_ok && effect_ok
}

impl Plugin for DefaultTolerationSeconds {
    fn name(&self) -> &'static str {
        "DefaultTolerationSeconds"
    }

    fn mutate<'a>(&'a self, request: &'a Request<'a>, pod: &'a mut Value, _review: &'a mut Review) -> Admit<'a> {
        Box::pin(async move {
            if request.operation != Operation::Create || !request.is("", "Pod") {
                return Ok(());
            }
            let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
                return Ok(());
            };
            let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
            if tolerations.is_null() {
                *tolerations = json!([]);
            }
            let Some(list) = tolerations.as_array_mut() else {
                return Ok(());
            };
            for key in KEYS {
                if !list.iter().any(|t| covers(t, key)) {
                    list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": SECONDS}));
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uncovered_keys_get_the_default() {
        let own = json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2});
        assert!(covers(&own, "node.kubernetes.io/unreachable"));
        assert!(!covers(&own, "node.kubernetes.io/not-ready"));
        assert!(covers(&json!({"operator": "Exists"}), "node.kubernetes.io/not-ready"));
        assert!(!covers(&json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}), "node.kubernetes.io/not-ready"));
    }
}
