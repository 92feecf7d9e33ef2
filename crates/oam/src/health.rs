//! Whether a workload is healthy, from its live object: a Deployment when its available
//! replicas reach the desired count at the current generation, a StatefulSet when its ready
//! replicas do, a DaemonSet when every scheduled pod is ready, a Job once it has succeeded;
//! any other kind once it exists.

use serde_json::Value;

/// A workload's health and the message `status.services[].message` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub healthy: bool,
    pub message: String,
}

/// The health of a live workload object.
pub fn of(workload: &Value) -> Health {
    let int = |path: &str| workload.pointer(path).and_then(Value::as_i64);
    let current = int("/status/observedGeneration").unwrap_or(0) >= int("/metadata/generation").unwrap_or(0);
    let ready = |have: i64, want: i64, what: &str| Health {
        healthy: current && have >= want,
        message: if current { format!("{what}:{have}/{want}") } else { "Updating: the controller has not seen the latest spec yet".into() },
    };
    match workload.get("kind").and_then(Value::as_str).unwrap_or_default() {
        "Deployment" => {
            let want = int("/spec/replicas").unwrap_or(1);
            let updated = int("/status/updatedReplicas").unwrap_or(0) >= want;
            let mut health = ready(int("/status/availableReplicas").unwrap_or(0), want, "Ready");
            health.healthy &= updated;
            health
        }
        "StatefulSet" => {
            let want = int("/spec/replicas").unwrap_or(1);
            let mut health = ready(int("/status/readyReplicas").unwrap_or(0), want, "Ready");
            health.healthy &= int("/status/updatedReplicas").unwrap_or(0) >= want;
            health
        }
        "DaemonSet" => ready(int("/status/numberReady").unwrap_or(0), int("/status/desiredNumberScheduled").unwrap_or(0), "Ready"),
        "Job" => {
            let failed = workload.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().find(|c| c["type"] == "Failed" && c["status"] == "True");
            if let Some(failed) = failed {
                return Health { healthy: false, message: format!("Failed: {}", failed["message"].as_str().unwrap_or_default()) };
            }
            ready(int("/status/succeeded").unwrap_or(0), int("/spec/completions").unwrap_or(1), "Succeeded")
        }
        _ => Health { healthy: true, message: "Ready".into() },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn workloads_are_healthy_when_their_replicas_are_ready() {
        let d = json!({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 1}});
        assert_eq!(of(&d), Health { healthy: false, message: "Ready:1/2".into() });
        let mut d = d;
        d["status"]["availableReplicas"] = json!(2);
        assert!(of(&d).healthy);
        d["metadata"]["generation"] = json!(3);
        assert!(!of(&d).healthy, "a spec the controller has not seen is not healthy yet");
        let s = json!({"kind": "StatefulSet", "spec": {}, "status": {"readyReplicas": 1, "updatedReplicas": 1}});
        assert_eq!(of(&s), Health { healthy: true, message: "Ready:1/1".into() });
        let j = json!({"kind": "Job", "spec": {}, "status": {"succeeded": 0}});
        assert!(!of(&j).healthy);
        let j = json!({"kind": "Job", "spec": {}, "status": {"conditions": [{"type": "Failed", "status": "True", "message": "backoff limit"}]}});
        assert_eq!(of(&j).message, "Failed: backoff limit");
        assert!(of(&json!({"kind": "CronJob"})).healthy);
    }
}
