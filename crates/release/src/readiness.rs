//! When an object is ready (`--wait`) and when a hook has finished, judged from its
//! live state as Helm's status checker judges it. Pure.

use serde_json::Value;

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn condition(v: &Value, kind: &str) -> Option<bool> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .map(|c| c["status"] == "True")
}

/// Whether the controllers caught up with the latest spec.
fn observed(v: &Value) -> bool {
    let gen = int(v, "/metadata/generation");
    gen == 0 || int(v, "/status/observedGeneration") >= gen
}

/// `None` when the object is ready, else why it is not.
pub fn not_ready(kind: &str, live: &Value) -> Option<String> {
    let replicas = live
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let waiting =
        |what: &str, have: i64, want: i64| Some(format!("{what}: {have} of {want} ready"));
    match kind {
        "Deployment" | "StatefulSet" | "ReplicaSet" => {
            if !observed(live) {
                return Some("its controller has not observed the latest generation".into());
            }
            let updated = if kind == "ReplicaSet" {
                replicas
            } else {
                int(live, "/status/updatedReplicas")
            };
            let ready = int(live, "/status/readyReplicas");
            if updated < replicas || ready < replicas {
                return waiting("replicas", ready.min(updated), replicas);
            }
            None
        }
        "DaemonSet" => {
            let want = int(live, "/status/desiredNumberScheduled");
            let ready = int(live, "/status/numberReady");
            if !observed(live) || ready < want {
                return waiting("pods", ready, want);
            }
            None
        }
        "Pod" => match condition(live, "Ready") {
            Some(true) => None,
            _ if live.pointer("/status/phase") == Some(&Value::from("Succeeded")) => None,
            _ => Some("the pod is not Ready".into()),
        },
        "PersistentVolumeClaim" => match live.pointer("/status/phase").and_then(Value::as_str) {
            Some("Bound") => None,
            _ => Some("the claim is not Bound".into()),
        },
        "Job" => match condition(live, "Complete") {
            Some(true) => None,
            _ => Some("the job has not completed".into()),
        },
        "CustomResourceDefinition" => match condition(live, "Established") {
            Some(true) => None,
            _ => Some("the definition is not Established".into()),
        },
        _ => None,
    }
}

/// For a hook: `None` while it runs, `Some(Ok)` when it succeeded, `Some(Err(why))`
/// when it failed. Kinds other than Job and Pod are done once created.
pub fn hook_outcome(kind: &str, live: &Value) -> Option<Result<(), String>> {
    match kind {
        "Job" => {
            if condition(live, "Complete") == Some(true) {
                return Some(Ok(()));
            }
            if condition(live, "Failed") == Some(true) {
                let reason = live
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|c| c.iter().find(|c| c["type"] == "Failed"))
                    .and_then(|c| c["reason"].as_str())
                    .unwrap_or("Failed");
                return Some(Err(format!("job failed: {reason}")));
            }
            None
        }
        "Pod" => match live.pointer("/status/phase").and_then(Value::as_str) {
            Some("Succeeded") => Some(Ok(())),
            Some("Failed") => Some(Err("pod failed".into())),
            _ => None,
        },
        _ => Some(Ok(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_ready_when_all_replicas_updated_and_ready() {
        let mut d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "updatedReplicas": 2, "readyReplicas": 2}});
        assert!(not_ready("Deployment", &d).is_some(), "old generation");
        d["status"]["observedGeneration"] = json!(2);
        assert_eq!(not_ready("Deployment", &d), None);
        d["status"]["readyReplicas"] = json!(1);
        assert_eq!(
            not_ready("Deployment", &d).as_deref(),
            Some("replicas: 1 of 2 ready")
        );
        assert_eq!(not_ready("ConfigMap", &json!({})), None);
    }

    #[test]
    fn hooks_finish_by_job_condition_or_pod_phase() {
        let running = json!({"status": {"active": 1}});
        assert_eq!(hook_outcome("Job", &running), None);
        let done = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(hook_outcome("Job", &done), Some(Ok(())));
        let failed = json!({"status": {"conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}});
        assert_eq!(
            hook_outcome("Job", &failed),
            Some(Err("job failed: BackoffLimitExceeded".into()))
        );
        assert_eq!(
            hook_outcome("Pod", &json!({"status": {"phase": "Failed"}})),
            Some(Err("pod failed".into()))
        );
        assert_eq!(hook_outcome("ConfigMap", &json!({})), Some(Ok(())));
    }
}
