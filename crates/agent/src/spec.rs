//! A container of a pod → the OCI runtime `config.json` tug-runtime runs: the
//! image's entrypoint, command and environment under the pod's command/args/env,
//! the working dir, the user, capabilities, the sandbox's namespaces joined by
//! path, the pod's volumes bind-mounted, resource limits as cgroup limits.
//! A pure function of its inputs.

use k8s_openapi::api::core::v1::{Container, Pod};
use oci_spec::image::ImageConfiguration;
use serde_json::{json, Value};

use tug_api::quantity::Quantity;

/// Default capabilities of a container (the container runtimes' default set).
const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

/// Everything a container's config is made of.
pub struct Inputs<'a> {
    pub pod: &'a Pod,
    pub container: &'a Container,
    pub image: &'a ImageConfiguration,
    /// `NAME=value`, resolved from the pod spec (after the image's own).
    pub env: Vec<String>,
    /// (destination, host source, read-only) of the container's volume mounts.
    pub mounts: Vec<(String, String, bool)>,
    pub sandbox_pid: i32,
    /// Absolute cgroup path of the container.
    pub cgroup: String,
}

/// Kubernetes' `$(VAR)` expansion in command and args; `$$(VAR)` escapes.
pub fn expand(text: &str, env: &[String]) -> String {
    let lookup = |name: &str| env.iter().rev().find_map(|e| e.strip_prefix(name).and_then(|r| r.strip_prefix('='))).map(str::to_string);
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(escaped) = tail.strip_prefix("$$") {
            out.push('$');
            rest = escaped;
        } else if let Some(close) = tail.strip_prefix("$(").and_then(|t| t.find(')')) {
            let name = &tail[2..2 + close];
            match lookup(name) {
                Some(value) => out.push_str(&value),
                None => out.push_str(&tail[..3 + close]),
            }
            rest = &tail[3 + close..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The process args: entrypoint/cmd of the image as overridden by command/args (Kubernetes' rules).
pub fn args(container: &Container, image: &ImageConfiguration, env: &[String]) -> Vec<String> {
    let config = image.config().as_ref();
    let entrypoint = config.and_then(|c| c.entrypoint().clone()).unwrap_or_default();
    let cmd = config.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let expanded = |v: &Vec<String>| v.iter().map(|a| expand(a, env)).collect::<Vec<_>>();
    match (&container.command, &container.args) {
        (Some(command), Some(args)) => [expanded(command), expanded(args)].concat(),
        (Some(command), None) => expanded(command),
        (None, Some(args)) => [entrypoint, expanded(args)].concat(),
        (None, None) => [entrypoint, cmd].concat(),
    }
}

fn limit(container: &Container, resource: &str) -> Option<Quantity> {
    let resources = container.resources.as_ref()?;
    let q = resources.limits.as_ref()?.get(resource)?;
    Quantity::parse(&q.0).ok()
}

fn request(container: &Container, resource: &str) -> Option<Quantity> {
    let resources = container.resources.as_ref()?;
    let q = resources.requests.as_ref().and_then(|r| r.get(resource)).or_else(|| resources.limits.as_ref()?.get(resource))?;
    Quantity::parse(&q.0).ok()
}

/// The pod-level cgroup resources (kubelet's): memory and CPU limits as the sums of the
/// containers' limits when every container has one, CPU shares from the summed requests.
pub fn pod_resources(pod: &Pod) -> Value {
    let containers = pod.spec.as_ref().map(|s| s.containers.clone()).unwrap_or_default();
    let sum = |resource: &str| -> Option<Quantity> {
        let limits: Option<Vec<Quantity>> = containers.iter().map(|c| limit(c, resource)).collect();
        limits.filter(|l| !l.is_empty()).map(|l| l.into_iter().sum())
    };
    let requested = containers.iter().filter_map(|c| request(c, "cpu")).map(|r| r.millis()).sum();
    limits(json!({}), sum("memory"), sum("cpu"), requested)
}

/// The cgroup resources: memory limit, CPU quota from the limit, CPU shares from the request (kubelet's formulas).
pub fn resources(container: &Container) -> Value {
    let requested = request(container, "cpu").map_or(0, |r| r.millis());
    limits(json!({"devices": [{"allow": false, "access": "rwm"}]}), limit(container, "memory"), limit(container, "cpu"), requested)
}

/// `resources` with a memory limit, a CPU quota (100 ms periods) and CPU shares from
/// `cpu_request_millis` (at least 2, kubelet's minimum).
fn limits(mut resources: Value, memory: Option<Quantity>, cpu_limit: Option<Quantity>, cpu_request_millis: i128) -> Value {
    if let Some(memory) = memory {
        resources["memory"] = json!({"limit": memory.value() as i64});
    }
    let mut cpu = json!({"shares": (cpu_request_millis as i64 * 1024 / 1000).max(2)});
    if let Some(cpu_limit) = cpu_limit {
        let period = 100_000i64;
        cpu["quota"] = json!((cpu_limit.millis() as i64 * period / 1000).max(1000));
        cpu["period"] = json!(period);
    }
    resources["cpu"] = cpu;
    resources
}

/// The whole `config.json`.
pub fn config(inputs: &Inputs) -> Value {
    let container = inputs.container;
    let image_config = inputs.image.config().as_ref();
    let mut env: Vec<String> = image_config.and_then(|c| c.env().clone()).unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    env.push(format!("HOSTNAME={}", inputs.pod.metadata.name.as_deref().unwrap_or_default()));
    env.extend(inputs.env.iter().cloned());
    let cwd = container
        .working_dir
        .clone()
        .or_else(|| image_config.and_then(|c| c.working_dir().clone()))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".into());
    let pod_sc = inputs.pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let sc = container.security_context.as_ref();
    let image_user = image_config.and_then(|c| c.user().clone()).unwrap_or_default();
    let (image_uid, image_gid) = image_user.split_once(':').map_or((image_user.as_str(), ""), |(u, g)| (u, g));
    let uid = sc.and_then(|s| s.run_as_user).or_else(|| pod_sc.and_then(|s| s.run_as_user)).or_else(|| image_uid.parse().ok()).unwrap_or(0);
    let gid = sc.and_then(|s| s.run_as_group).or_else(|| pod_sc.and_then(|s| s.run_as_group)).or_else(|| image_gid.parse().ok()).unwrap_or(0);
    let mut groups: Vec<i64> = pod_sc.and_then(|s| s.supplemental_groups.clone()).unwrap_or_default();
    groups.extend(pod_sc.and_then(|s| s.fs_group));
    let privileged = sc.and_then(|s| s.privileged).unwrap_or(false);
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    if let Some(c) = sc.and_then(|s| s.capabilities.as_ref()) {
        let norm = |c: &String| if c.starts_with("CAP_") { c.clone() } else { format!("CAP_{c}") };
        let drop: Vec<String> = c.drop.iter().flatten().map(norm).collect();
        if drop.iter().any(|d| d == "CAP_ALL") {
            caps.clear();
        }
        caps.retain(|c| !drop.contains(c));
        caps.extend(c.add.iter().flatten().map(norm).filter(|a| !caps.contains(a)).collect::<Vec<_>>());
    }
    let no_new_privs = !privileged && sc.and_then(|s| s.allow_privilege_escalation) == Some(false);
    let ns = |kind: &str, name: &str| json!({"type": kind, "path": format!("/proc/{}/ns/{name}", inputs.sandbox_pid)});
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
    ];
    for (destination, source, read_only) in &inputs.mounts {
        let mode = if *read_only { "ro" } else { "rw" };
        mounts.push(json!({"destination": destination, "type": "bind", "source": source, "options": ["rbind", "rprivate", mode]}));
    }
    let mut linux = json!({
        "cgroupsPath": inputs.cgroup,
        "resources": resources(container),
        "namespaces": [{"type": "pid"}, {"type": "mount"}, ns("network", "net"), ns("ipc", "ipc"), ns("uts", "uts")],
    });
    if !privileged {
        linux["maskedPaths"] = json!(["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]);
        linux["readonlyPaths"] = json!(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
    }
    let caps = if privileged { json!(all_caps()) } else { json!(caps) };
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": uid, "gid": gid, "additionalGids": groups},
            "args": args(container, inputs.image, &env),
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": no_new_privs,
        },
        "root": {"path": "rootfs", "readonly": sc.and_then(|s| s.read_only_root_filesystem).unwrap_or(false)},
        "mounts": mounts,
        "linux": linux,
    })
}

/// Every capability, for privileged containers.
pub fn all_caps() -> Vec<String> {
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    caps.extend(
        ["CAP_DAC_READ_SEARCH", "CAP_LINUX_IMMUTABLE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
         "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
         "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_LEASE", "CAP_AUDIT_CONTROL", "CAP_MAC_OVERRIDE",
         "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ"]
            .map(String::from),
    );
    caps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_references_expand_and_escape_as_kubernetes_does() {
        let env = vec!["A=1".to_string(), "B=two".to_string()];
        assert_eq!(expand("x$(A)y$(B)", &env), "x1ytwo");
        assert_eq!(expand("$$(A) $(MISSING) $", &env), "$(A) $(MISSING) $");
    }

    #[test]
    fn limits_become_cgroup_limits() {
        let c: Container = serde_json::from_value(json!({"name": "c", "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "250m"}}})).unwrap();
        let r = resources(&c);
        assert_eq!(r["memory"]["limit"], json!(64 * 1024 * 1024));
        assert_eq!(r["cpu"]["quota"], json!(50_000));
        assert_eq!(r["cpu"]["shares"], json!(256));
    }
}
