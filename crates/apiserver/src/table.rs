//! `meta.k8s.io/v1` Table output (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`),
//! so that `kubectl get` prints the columns a real cluster prints.

use serde_json::{json, Value};
use tug_api::crd::{PrinterColumn, Version};
use tug_api::ResourceType;

use crate::object::age;

/// What a Table row carries besides its cells (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub fn parse(value: Option<&str>) -> Include {
        match value {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

/// Whether the client asked for a Table.
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// A Table of `objects`, with the list's metadata; a custom kind's columns are its
/// definition's `additionalPrinterColumns` (`custom`); `-o wide`'s columns have priority 1.
pub fn table(rt: &ResourceType, custom: Option<&Version>, objects: &[Value], list_meta: Value, include: Include) -> Value {
    let columns: Vec<Value> = match custom {
        Some(version) => custom_columns(version)
            .iter()
            .map(|c| json!({"name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority}))
            .collect(),
        None => columns(rt)
            .iter()
            .map(|c| (c, 0))
            .chain(wide_columns(rt).iter().map(|c| (c, 1)))
            .map(|((name, kind), priority)| json!({"name": name, "type": kind, "format": if *name == "Name" { "name" } else { "" }, "description": "", "priority": priority}))
            .collect(),
    };
    let rows: Vec<Value> = objects.iter().map(|o| row(rt, custom, o, include)).collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": columns, "rows": rows})
}

/// A custom kind's columns: Name, then its printer columns (Age when it declares none).
fn custom_columns(version: &Version) -> Vec<PrinterColumn> {
    let column = |name: &str, kind: &str, format: &str, path: &str| PrinterColumn {
        name: name.into(),
        kind: kind.into(),
        format: format.into(),
        description: String::new(),
        priority: 0,
        json_path: path.into(),
    };
    let mut columns = vec![column("Name", "string", "name", ".metadata.name")];
    if version.columns.is_empty() {
        columns.push(column("Age", "date", "", ".metadata.creationTimestamp"));
    } else {
        columns.extend(version.columns.iter().cloned());
    }
    columns
}

/// A printer column's cell: dates as ages (as kube-apiserver prints them), the rest as found.
fn custom_cell(column: &PrinterColumn, object: &Value) -> Value {
    match tug_api::crd::json_path(object, &column.json_path) {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(time)) if column.kind == "date" => {
            json!(age(&json!({"metadata": {"creationTimestamp": time}})))
        }
        Some(value @ (Value::Object(_) | Value::Array(_))) => json!(value.to_string()),
        Some(value) => value.clone(),
    }
}

fn row(rt: &ResourceType, custom: Option<&Version>, object: &Value, include: Include) -> Value {
    let cells = match custom {
        Some(version) => custom_columns(version).iter().map(|c| custom_cell(c, object)).collect(),
        None => cells(rt, object),
    };
    let mut row = json!({"cells": cells});
    match include {
        Include::None => {}
        Include::Object => row["object"] = object.clone(),
        Include::Metadata => {
            row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object.get("metadata").cloned().unwrap_or(json!({}))})
        }
    }
    row
}

/// The columns `kubectl get -o wide` adds (priority 1), after the others.
fn wide_columns(rt: &ResourceType) -> &'static [(&'static str, &'static str)] {
    match (rt.group, rt.kind) {
        ("", "Pod") => &[
            ("IP", "string"),
            ("Node", "string"),
            ("Nominated Node", "string"),
            ("Readiness Gates", "string"),
        ],
        _ => &[],
    }
}

fn columns(rt: &ResourceType) -> Vec<(&'static str, &'static str)> {
    let extra: &[(&str, &str)] = match (rt.group, rt.kind) {
        ("", "Pod") => &[
            ("Ready", "string"),
            ("Status", "string"),
            ("Restarts", "string"),
        ],
        ("apps", "Deployment") => &[
            ("Ready", "string"),
            ("Up-to-date", "integer"),
            ("Available", "integer"),
        ],
        ("", "Service") => &[
            ("Type", "string"),
            ("Cluster-IP", "string"),
            ("External-IP", "string"),
            ("Port(s)", "string"),
        ],
        ("", "ConfigMap") => &[("Data", "integer")],
        ("", "Secret") => &[("Type", "string"), ("Data", "integer")],
        ("", "Namespace") => &[("Status", "string")],
        ("apps", "ReplicaSet") => &[
            ("Desired", "integer"),
            ("Current", "integer"),
            ("Ready", "integer"),
        ],
        ("apps", "StatefulSet") => &[("Ready", "string")],
        ("", "Node") => &[("Status", "string"), ("Roles", "string")],
        _ => &[],
    };
    let mut cols = vec![("Name", "string")];
    cols.extend_from_slice(extra);
    cols.push(("Age", "string"));
    if (rt.group, rt.kind) == ("", "Node") {
        cols.push(("Version", "string"));
    }
    cols
}

fn int(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn string<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn count(object: &Value, pointer: &str) -> usize {
    object
        .pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

fn cells(rt: &ResourceType, o: &Value) -> Vec<Value> {
    let mut cells = vec![json!(string(o, "/metadata/name"))];
    match (rt.group, rt.kind) {
        ("", "Pod") => {
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = statuses
                .iter()
                .filter(|s| s.get("ready") == Some(&json!(true)))
                .count();
            let init_statuses = o.pointer("/status/initContainerStatuses").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let restarts: i64 = statuses.iter().chain(init_statuses).map(|s| int(s, "/restartCount")).sum();
            let mut status = string(o, "/status/phase").to_string();
            if status.is_empty() {
                status = "Pending".into();
            }
            // As kubectl: an init container's state, else a container's waiting or terminated
            // reason, stands for the pod.
            match init_status(o) {
                Some(init) => status = init,
                None => {
                    for s in statuses {
                        for state in ["/state/waiting/reason", "/state/terminated/reason"] {
                            let reason = string(s, state);
                            if !reason.is_empty() && reason != "Completed" {
                                status = reason.to_string();
                            }
                        }
                    }
                }
            }
            if o.pointer("/metadata/deletionTimestamp").is_some() {
                status = "Terminating".into();
            }
            cells.extend([
                json!(format!("{ready}/{total}")),
                json!(status),
                json!(restarts.to_string()),
            ]);
        }
        ("apps", "Deployment") => {
            cells.extend([
                json!(format!(
                    "{}/{}",
                    int(o, "/status/readyReplicas"),
                    int(o, "/spec/replicas")
                )),
                json!(int(o, "/status/updatedReplicas")),
                json!(int(o, "/status/availableReplicas")),
            ]);
        }
        ("", "Service") => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| {
                    let node_port = p
                        .get("nodePort")
                        .and_then(Value::as_i64)
                        .map(|n| format!(":{n}"))
                        .unwrap_or_default();
                    format!(
                        "{}{node_port}/{}",
                        int(p, "/port"),
                        p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                    )
                })
                .collect();
            let external = o
                .pointer("/spec/externalIPs")
                .and_then(Value::as_array)
                .map(|ips| {
                    ips.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                });
            let external = match (external.filter(|e| !e.is_empty()), string(o, "/spec/type")) {
                (Some(e), _) => e,
                (None, "LoadBalancer") => "<pending>".to_string(),
                (None, "ExternalName") => string(o, "/spec/externalName").to_string(),
                _ => "<none>".to_string(),
            };
            let ports = if ports.is_empty() {
                "<none>".to_string()
            } else {
                ports.join(",")
            };
            cells.extend([
                json!(string(o, "/spec/type")),
                json!(string(o, "/spec/clusterIP")),
                json!(external),
                json!(ports),
            ]);
        }
        ("", "ConfigMap") => cells.push(json!(count(o, "/data") + count(o, "/binaryData"))),
        ("", "Secret") => cells.extend([json!(string(o, "/type")), json!(count(o, "/data"))]),
        ("", "Namespace") => {
            let phase = if o.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating"
            } else {
                string(o, "/status/phase")
            };
            cells.push(json!(phase));
        }
        ("apps", "ReplicaSet") => cells.extend([
            json!(int(o, "/spec/replicas")),
            json!(int(o, "/status/replicas")),
            json!(int(o, "/status/readyReplicas")),
        ]),
        ("apps", "StatefulSet") => cells.push(json!(format!(
            "{}/{}",
            int(o, "/status/readyReplicas"),
            int(o, "/spec/replicas")
        ))),
        ("", "Node") => {
            let ready = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| c.get("type") == Some(&json!("Ready"))))
                .map(|c| string(c, "/status") == "True");
            let mut status = match ready {
                Some(true) => "Ready".to_string(),
                Some(false) => "NotReady".to_string(),
                None => "Unknown".to_string(),
            };
            if o.pointer("/spec/unschedulable") == Some(&json!(true)) {
                status.push_str(",SchedulingDisabled");
            }
            let roles: Vec<&str> = o
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|l| l.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/")).collect())
                .unwrap_or_default();
            let roles = if roles.is_empty() { "<none>".to_string() } else { roles.join(",") };
            cells.extend([json!(status), json!(roles)]);
        }
        _ => {}
    }
    cells.push(json!(age(o)));
    if (rt.group, rt.kind) == ("", "Node") {
        cells.push(json!(string(o, "/status/nodeInfo/kubeletVersion")));
    }
    if (rt.group, rt.kind) == ("", "Pod") {
        let or_none = |pointer: &str| match string(o, pointer) {
            "" => "<none>".to_string(),
            text => text.to_string(),
        };
        let gates = o.pointer("/spec/readinessGates").and_then(Value::as_array).map_or(0, Vec::len);
        let gates_true = o
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| c["status"] == "True")
            .filter(|c| {
                o.pointer("/spec/readinessGates")
                    .and_then(Value::as_array)
                    .is_some_and(|g| g.iter().any(|g| g["conditionType"] == c["type"]))
            })
            .count();
        cells.extend([
            json!(or_none("/status/podIP")),
            json!(or_none("/spec/nodeName")),
            json!(or_none("/status/nominatedNodeName")),
            json!(if gates == 0 { "<none>".to_string() } else { format!("{gates_true}/{gates}") }),
        ]);
    }
    cells
}

/// The STATUS of a pod whose init containers have not all succeeded, as kubectl words
/// it (`Init:1/2`, `Init:CrashLoopBackOff`, `Init:Error`, `Init:ExitCode:3`); `None` once they have.
fn init_status(o: &Value) -> Option<String> {
    let total = o.pointer("/spec/initContainers").and_then(Value::as_array).map_or(0, Vec::len);
    let statuses = o.pointer("/status/initContainerStatuses").and_then(Value::as_array)?;
    for (i, s) in statuses.iter().enumerate() {
        let terminated = s.pointer("/state/terminated");
        let waiting = string(s, "/state/waiting/reason");
        match terminated {
            Some(t) if int(t, "/exitCode") == 0 => continue,
            Some(t) => {
                return Some(match string(t, "/reason") {
                    "" => format!("Init:ExitCode:{}", int(t, "/exitCode")),
                    reason => format!("Init:{reason}"),
                })
            }
            None if !waiting.is_empty() && waiting != "PodInitializing" => return Some(format!("Init:{waiting}")),
            None => return Some(format!("Init:{i}/{total}")),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use tug_api::registry::by_kind;

    #[test]
    fn services_print_type_ip_and_ports() {
        let svc = json!({"metadata": {"name": "web"}, "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.2", "ports": [{"port": 80, "protocol": "TCP"}]}});
        let t = table(
            by_kind("v1", "Service").unwrap(),
            None,
            &[svc],
            json!({}),
            Include::None,
        );
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age"
            ]
        );
        assert_eq!(
            t["rows"][0]["cells"].as_array().unwrap()[..5],
            [
                json!("web"),
                json!("ClusterIP"),
                json!("10.43.0.2"),
                json!("<none>"),
                json!("80/TCP")
            ]
        );
    }

    #[test]
    fn table_is_wanted_only_when_asked_first() {
        assert!(wanted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wanted("application/json"));
    }
}
