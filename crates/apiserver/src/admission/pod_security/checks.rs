//! The Pod Security Standards' checks over a pod's metadata and spec, each returning the
//! violation as Kubernetes words it: a reason (`privileged`) and details
//! (`container "c" must not set securityContext.privileged=true`). Baseline checks come
//! first, then restricted ones, in Kubernetes' order.

use serde_json::Value;

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    pub fn parse(text: &str) -> Option<Level> {
        match text {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// One failed check: `reason (detail; detail)`.
#[derive(Debug, PartialEq)]
pub struct Violation {
    pub reason: &'static str,
    pub details: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason, self.details.join("; "))
    }
}

/// The capabilities baseline lets a container add.
const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

const SAFE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

const RESTRICTED_VOLUME_SOURCES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// `container "a"` or `containers "a", "b"`.
fn containers_phrase(names: &[String]) -> String {
    format!(
        "{} {}",
        if names.len() == 1 {
            "container"
        } else {
            "containers"
        },
        quote(names)
    )
}

fn quote(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every container of the spec: init, regular, ephemeral.
fn containers(spec: &Value) -> Vec<&Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten()
        .collect()
}

fn name(c: &Value) -> String {
    c.get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The names of the containers for which `bad` holds.
fn bad_containers(spec: &Value, bad: impl Fn(&Value) -> bool) -> Vec<String> {
    containers(spec)
        .into_iter()
        .filter(|c| bad(c))
        .map(name)
        .collect()
}

fn sc<'v>(c: &'v Value, field: &str) -> Option<&'v Value> {
    c.get("securityContext")?.get(field)
}

fn one(reason: &'static str, detail: String) -> Option<Violation> {
    Some(Violation {
        reason,
        details: vec![detail],
    })
}

fn capability_adds(c: &Value) -> Vec<String> {
    c.pointer("/securityContext/capabilities/add")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn non_default_capabilities(spec: &Value) -> Option<Violation> {
    let mut names = Vec::new();
    let mut caps: Vec<String> = Vec::new();
    for c in containers(spec) {
        let bad: Vec<String> = capability_adds(c)
            .into_iter()
            .filter(|a| !BASELINE_CAPABILITIES.contains(&a.as_str()))
            .collect();
        if !bad.is_empty() {
            names.push(name(c));
            caps.extend(
                bad.into_iter()
                    .filter(|b| !caps.contains(b))
                    .collect::<Vec<_>>(),
            );
        }
    }
    (!names.is_empty()).then(|| Violation {
        reason: "non-default capabilities",
        details: vec![format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&names),
            quote(&caps)
        )],
    })
}

fn host_namespaces(spec: &Value) -> Option<Violation> {
    let set: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|f| spec.get(**f).and_then(Value::as_bool) == Some(true))
        .map(|f| format!("{f}=true"))
        .collect();
    (!set.is_empty()).then(|| Violation {
        reason: "host namespaces",
        details: vec![set.join(", ")],
    })
}

fn volumes_with(
    spec: &Value,
    bad: impl Fn(&serde_json::Map<String, Value>) -> Option<String>,
) -> (Vec<String>, Vec<String>) {
    let mut names = Vec::new();
    let mut kinds: Vec<String> = Vec::new();
    for v in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        if let Some(kind) = bad(v) {
            names.push(
                v.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            );
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    (names, kinds)
}

fn host_path_volumes(spec: &Value) -> Option<Violation> {
    let (names, _) = volumes_with(spec, |v| {
        v.contains_key("hostPath").then(|| "hostPath".to_string())
    });
    (!names.is_empty()).then(|| Violation {
        reason: "hostPath volumes",
        details: vec![format!(
            "{} {}",
            if names.len() == 1 {
                "volume"
            } else {
                "volumes"
            },
            quote(&names)
        )],
    })
}

fn host_ports(spec: &Value) -> Option<Violation> {
    let mut names = Vec::new();
    let mut ports = Vec::new();
    for c in containers(spec) {
        let used: Vec<String> = c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("hostPort").and_then(Value::as_i64))
            .filter(|p| *p != 0)
            .map(|p| p.to_string())
            .collect();
        if !used.is_empty() {
            names.push(name(c));
            ports.extend(used);
        }
    }
    if names.is_empty() {
        return None;
    }
    let verb = if names.len() == 1 { "uses" } else { "use" };
    let noun = if ports.len() == 1 {
        "hostPort"
    } else {
        "hostPorts"
    };
    one(
        "hostPort",
        format!(
            "{} {verb} {noun} {}",
            containers_phrase(&names),
            ports.join(", ")
        ),
    )
}

fn privileged(spec: &Value) -> Option<Violation> {
    let names = bad_containers(spec, |c| {
        sc(c, "privileged").and_then(Value::as_bool) == Some(true)
    });
    (!names.is_empty()).then(|| Violation {
        reason: "privileged",
        details: vec![format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&names)
        )],
    })
}

fn proc_mount(spec: &Value) -> Option<Violation> {
    let names = bad_containers(spec, |c| {
        sc(c, "procMount")
            .and_then(Value::as_str)
            .is_some_and(|m| m != "Default")
    });
    (!names.is_empty()).then(|| Violation {
        reason: "procMount",
        details: vec![format!(
            "{} must not set securityContext.procMount to \"Unmasked\"",
            containers_phrase(&names)
        )],
    })
}

fn seccomp_type(v: Option<&Value>) -> Option<&str> {
    v?.get("seccompProfile")?.get("type")?.as_str()
}

fn seccomp_baseline(spec: &Value) -> Option<Violation> {
    let mut details = Vec::new();
    if seccomp_type(spec.get("securityContext")) == Some("Unconfined") {
        details.push(
            "pod must not set securityContext.seccompProfile.type to \"Unconfined\"".to_string(),
        );
    }
    let names = bad_containers(spec, |c| {
        seccomp_type(c.get("securityContext")) == Some("Unconfined")
    });
    if !names.is_empty() {
        details.push(format!(
            "{} must not set securityContext.seccompProfile.type to \"Unconfined\"",
            containers_phrase(&names)
        ));
    }
    (!details.is_empty()).then_some(Violation {
        reason: "seccompProfile",
        details,
    })
}

fn sysctls(spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = spec
        .pointer("/securityContext/sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .map(str::to_string)
        .collect();
    (!bad.is_empty()).then(|| Violation {
        reason: "forbidden sysctls",
        details: vec![bad.join(", ")],
    })
}

fn allow_privilege_escalation(spec: &Value) -> Option<Violation> {
    let names = bad_containers(spec, |c| {
        sc(c, "allowPrivilegeEscalation").and_then(Value::as_bool) != Some(false)
    });
    (!names.is_empty()).then(|| Violation {
        reason: "allowPrivilegeEscalation != false",
        details: vec![format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&names)
        )],
    })
}

fn unrestricted_capabilities(spec: &Value) -> Option<Violation> {
    let no_drop = bad_containers(spec, |c| {
        !c.pointer("/securityContext/capabilities/drop")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x.as_str() == Some("ALL")))
    });
    let mut adders = Vec::new();
    let mut caps: Vec<String> = Vec::new();
    for c in containers(spec) {
        let bad: Vec<String> = capability_adds(c)
            .into_iter()
            .filter(|a| a != "NET_BIND_SERVICE")
            .collect();
        if !bad.is_empty() {
            adders.push(name(c));
            for b in bad {
                if !caps.contains(&b) {
                    caps.push(b);
                }
            }
        }
    }
    let mut details = Vec::new();
    if !no_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&no_drop)
        ));
    }
    if !adders.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adders),
            quote(&caps)
        ));
    }
    (!details.is_empty()).then_some(Violation {
        reason: "unrestricted capabilities",
        details,
    })
}

fn restricted_volumes(spec: &Value) -> Option<Violation> {
    let (names, kinds) = volumes_with(spec, |v| {
        v.keys()
            .find(|k| *k != "name" && !RESTRICTED_VOLUME_SOURCES.contains(&k.as_str()))
            .cloned()
    });
    if names.is_empty() {
        return None;
    }
    let detail = if names.len() == 1 {
        format!(
            "volume {} uses restricted volume type {}",
            quote(&names),
            quote(&kinds)
        )
    } else {
        let noun = if kinds.len() == 1 { "type" } else { "types" };
        format!(
            "volumes {} use restricted volume {noun} {}",
            quote(&names),
            quote(&kinds)
        )
    };
    one("restricted volume types", detail)
}

fn run_as_non_root(spec: &Value) -> Option<Violation> {
    let pod = spec
        .pointer("/securityContext/runAsNonRoot")
        .and_then(Value::as_bool);
    let mut details = Vec::new();
    if pod == Some(false) {
        details.push("pod must not set securityContext.runAsNonRoot=false".to_string());
    }
    let explicit_false = bad_containers(spec, |c| {
        sc(c, "runAsNonRoot").and_then(Value::as_bool) == Some(false)
    });
    if !explicit_false.is_empty() {
        details.push(format!(
            "{} must not set securityContext.runAsNonRoot=false",
            containers_phrase(&explicit_false)
        ));
    }
    if pod != Some(true) {
        let unset = bad_containers(spec, |c| sc(c, "runAsNonRoot").is_none_or(Value::is_null));
        if !unset.is_empty() {
            details.push(format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&unset)
            ));
        }
    }
    (!details.is_empty()).then_some(Violation {
        reason: "runAsNonRoot != true",
        details,
    })
}

fn run_as_user(spec: &Value) -> Option<Violation> {
    let mut details = Vec::new();
    if spec
        .pointer("/securityContext/runAsUser")
        .and_then(Value::as_i64)
        == Some(0)
    {
        details.push("pod must not set runAsUser=0".to_string());
    }
    let names = bad_containers(spec, |c| {
        sc(c, "runAsUser").and_then(Value::as_i64) == Some(0)
    });
    if !names.is_empty() {
        details.push(format!(
            "{} must not set runAsUser=0",
            containers_phrase(&names)
        ));
    }
    (!details.is_empty()).then_some(Violation {
        reason: "runAsUser=0",
        details,
    })
}

fn seccomp_restricted(spec: &Value) -> Option<Violation> {
    let allowed = |t: Option<&str>| matches!(t, Some("RuntimeDefault" | "Localhost"));
    let pod = seccomp_type(spec.get("securityContext"));
    let mut details = Vec::new();
    if pod.is_some() && !allowed(pod) {
        details.push(format!(
            "pod must not set securityContext.seccompProfile.type to \"{}\"",
            pod.unwrap_or_default()
        ));
    }
    let mut explicit = Vec::new();
    let mut unset = Vec::new();
    for c in containers(spec) {
        match seccomp_type(c.get("securityContext")) {
            None if !allowed(pod) => unset.push(name(c)),
            Some(t) if !allowed(Some(t)) => explicit.push((name(c), t.to_string())),
            _ => {}
        }
    }
    if !explicit.is_empty() {
        let names: Vec<String> = explicit.iter().map(|(n, _)| n.clone()).collect();
        let types: Vec<String> = explicit.iter().map(|(_, t)| t.clone()).collect();
        details.push(format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            containers_phrase(&names),
            quote(&types)
        ));
    }
    if !unset.is_empty() {
        details.push(format!("pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"", containers_phrase(&unset)));
    }
    (!details.is_empty()).then_some(Violation {
        reason: "seccompProfile",
        details,
    })
}

/// The checks of `level` that `spec` fails, in Kubernetes' order.
pub fn evaluate(level: Level, spec: &Value) -> Vec<Violation> {
    type Check = fn(&Value) -> Option<Violation>;
    let baseline: [Check; 7] = [
        non_default_capabilities,
        host_namespaces,
        host_path_volumes,
        host_ports,
        privileged,
        proc_mount,
        seccomp_baseline,
    ];
    let restricted: [Check; 6] = [
        allow_privilege_escalation,
        unrestricted_capabilities,
        restricted_volumes,
        run_as_non_root,
        run_as_user,
        seccomp_restricted,
    ];
    match level {
        Level::Privileged => Vec::new(),
        Level::Baseline => baseline
            .iter()
            .chain([sysctls as Check].iter())
            .filter_map(|c| c(spec))
            .collect(),
        Level::Restricted => {
            // The restricted volume and seccomp checks replace their baseline versions.
            let kept = [
                non_default_capabilities as Check,
                host_namespaces,
                host_ports,
                privileged,
                proc_mount,
                sysctls,
            ];
            kept.iter()
                .chain(restricted.iter())
                .filter_map(|c| c(spec))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(level: Level, spec: Value) -> String {
        evaluate(level, &spec)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn a_privileged_pod_fails_restricted_with_kubernetes_words() {
        let spec = json!({"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": true}}]});
        assert_eq!(message(Level::Restricted, spec), concat!(
            "privileged (container \"c\" must not set securityContext.privileged=true), ",
            "allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), ",
            "unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), ",
            "runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), ",
            "seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        ));
    }

    #[test]
    fn baseline_names_host_namespaces_volumes_and_ports() {
        let spec = json!({"hostNetwork": true, "hostPID": true, "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "containers": [{"name": "a", "ports": [{"containerPort": 80, "hostPort": 80}]}, {"name": "b", "securityContext": {"capabilities": {"add": ["NET_ADMIN", "CHOWN"]}}}]});
        assert_eq!(message(Level::Baseline, spec), concat!(
            "non-default capabilities (container \"b\" must not include \"NET_ADMIN\" in securityContext.capabilities.add), ",
            "host namespaces (hostNetwork=true, hostPID=true), hostPath volumes (volume \"h\"), hostPort (container \"a\" uses hostPort 80)"
        ));
    }

    #[test]
    fn a_hardened_pod_passes_restricted() {
        let spec = json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "t", "projected": {"sources": []}}],
            "containers": [{"name": "a", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]});
        assert!(evaluate(Level::Restricted, &spec).is_empty());
    }
}
