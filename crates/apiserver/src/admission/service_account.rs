//! ServiceAccount: a pod runs as `default` unless it names another ServiceAccount, which must
//! exist; unless automounting is turned off (on the pod, else on the ServiceAccount) it gets
//! the projected `kube-api-access-*` volume (a bound token, the cluster CA from the
//! `kube-root-ca.crt` ConfigMap, its namespace) mounted in every container.

use std::time::Duration;

use serde_json::{json, Value};

use super::{get, Admit, Operation, Plugin, Request, Review};
use crate::object::generate_name;

/// Where containers find the token, CA and namespace.
const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The default ServiceAccount is made by a controller just after its namespace: a pod created
/// right away waits this often, this long, for it (as kube-apiserver does).
const DEFAULT_ACCOUNT_POLLS: u32 = 10;
const DEFAULT_ACCOUNT_POLL: Duration = Duration::from_millis(100);

pub struct ServiceAccount;

impl Plugin for ServiceAccount {
    fn name(&self) -> &'static str {
        "ServiceAccount"
    }

    fn mutate<'a>(
        &'a self,
        request: &'a Request<'a>,
        pod: &'a mut Value,
        _review: &'a mut Review,
    ) -> Admit<'a> {
        Box::pin(async move {
            if request.operation != Operation::Create
                || !request.is("", "Pod")
                || is_mirror_pod(pod)
            {
                return Ok(());
            }
            let ns = request.namespace.unwrap_or_default();
            let name = pod
                .pointer("/spec/serviceAccountName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or("default")
                .to_string();
            let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
                return Ok(());
            };
            spec.insert("serviceAccountName".into(), json!(name));
            spec.insert("serviceAccount".into(), json!(name));
            let account = lookup(request, ns, &name).await?.ok_or_else(|| {
                request.forbidden(format!(
                    "error looking up service account {ns}/{name}: serviceaccount \"{name}\" not found"
                ))
            })?;
            let automount = spec
                .get("automountServiceAccountToken")
                .and_then(Value::as_bool)
                .or_else(|| {
                    account
                        .get("automountServiceAccountToken")
                        .and_then(Value::as_bool)
                })
                .unwrap_or(true);
            if automount {
                mount_token(spec);
            }
            Ok(())
        })
    }
}

/// The ServiceAccount, waiting a moment for `default` to be made.
async fn lookup(
    request: &Request<'_>,
    ns: &str,
    name: &str,
) -> crate::status::ApiResult<Option<Value>> {
    let polls = if name == "default" {
        DEFAULT_ACCOUNT_POLLS
    } else {
        1
    };
    for poll in 0..polls {
        if poll > 0 {
            tokio::time::sleep(DEFAULT_ACCOUNT_POLL).await;
        }
        if let Some(account) = get(request.store, "", "serviceaccounts", Some(ns), name).await? {
            return Ok(Some(account));
        }
    }
    Ok(None)
}

fn is_mirror_pod(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
}

/// Adds the token volume and mounts it in every container that has nothing at its path.
fn mount_token(spec: &mut serde_json::Map<String, Value>) {
    let has_mount = |c: &Value| {
        c.get("volumeMounts")
            .and_then(Value::as_array)
            .is_some_and(|m| {
                m.iter()
                    .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH))
            })
    };
    let lists = ["initContainers", "containers"];
    let needing: usize = lists
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .map(|cs| cs.iter().filter(|c| !has_mount(c)).count())
        .sum();
    if needing == 0 {
        return;
    }
    let volume = generate_name("kube-api-access-");
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    if let Some(volumes) = volumes.as_array_mut() {
        volumes.push(json!({
            "name": volume,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]
            }
        }));
    }
    for list in lists {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers.iter_mut().filter(|c| !has_mount(c)) {
            let Some(fields) = container.as_object_mut() else {
                continue;
            };
            let mounts = fields.entry("volumeMounts").or_insert_with(|| json!([]));
            if let Some(mounts) = mounts.as_array_mut() {
                mounts.push(json!({"name": volume, "readOnly": true, "mountPath": MOUNT_PATH}));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_container_mounts_one_token_volume() {
        let mut pod = json!({"containers": [{"name": "a"}, {"name": "b", "volumeMounts": [{"name": "x", "mountPath": MOUNT_PATH}]}], "initContainers": [{"name": "i"}]});
        let spec = pod.as_object_mut().unwrap();
        mount_token(spec);
        let volume = spec["volumes"][0]["name"].as_str().unwrap().to_string();
        assert!(
            volume.starts_with("kube-api-access-") && volume.len() == "kube-api-access-".len() + 5
        );
        assert_eq!(
            spec["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]
                ["expirationSeconds"],
            3607
        );
        assert_eq!(
            spec["containers"][0]["volumeMounts"][0]["name"],
            volume.as_str()
        );
        assert_eq!(
            spec["containers"][1]["volumeMounts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            spec["initContainers"][0]["volumeMounts"][0]["mountPath"],
            MOUNT_PATH
        );
    }
}
