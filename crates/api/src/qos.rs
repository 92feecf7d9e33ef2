//! A pod's quality-of-service class (`status.qosClass`), as Kubernetes computes it from
//! its containers' (init containers included) cpu and memory requests and limits:
//! `Guaranteed` when every container limits both and requests what it limits,
//! `BestEffort` when no container requests or limits either, `Burstable` otherwise.
//! Pure; the API server sets it at create and the agent picks cgroup parents by it.

use serde_json::Value;

use crate::quantity::Quantity;

const RESOURCES: [&str; 2] = ["cpu", "memory"];

/// `Guaranteed`, `Burstable` or `BestEffort`.
pub fn class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["/spec/containers", "/spec/initContainers"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .collect();
    let amount = |c: &Value, kind: &str, resource: &str| {
        c.pointer(&format!("/resources/{kind}/{resource}"))
            .and_then(Value::as_str)
            .and_then(|q| Quantity::parse(q).ok())
            .filter(|q| !q.is_zero())
    };
    let any = containers
        .iter()
        .any(|c| RESOURCES.iter().any(|r| amount(c, "requests", r).is_some() || amount(c, "limits", r).is_some()));
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        RESOURCES.iter().all(|r| match (amount(c, "requests", r), amount(c, "limits", r)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(request), Some(limit)) => request == limit,
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(resources: &[Value]) -> Value {
        let containers: Vec<Value> = resources.iter().map(|r| json!({"name": "c", "resources": r})).collect();
        json!({"spec": {"containers": containers}})
    }

    #[test]
    fn classes_follow_kubernetes_rules() {
        assert_eq!(class(&pod(&[json!({})])), "BestEffort");
        let full = json!({"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "0.5", "memory": "64Mi"}});
        assert_eq!(class(&pod(&[full.clone()])), "Guaranteed");
        assert_eq!(class(&pod(&[json!({"limits": {"cpu": "1", "memory": "1Gi"}})])), "Guaranteed");
        assert_eq!(class(&pod(&[full, json!({})])), "Burstable");
        assert_eq!(class(&pod(&[json!({"requests": {"memory": "1Mi"}})])), "Burstable");
        assert_eq!(class(&pod(&[json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}})])), "Burstable");
    }
}
