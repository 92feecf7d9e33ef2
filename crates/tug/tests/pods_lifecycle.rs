//! A container's life as kubelet runs it, on `tug up` with kubectl: readiness, liveness
//! and startup probes (httpGet, exec, tcpSocket) driving Ready and restarts, init
//! containers in order (`Init:N/M`), postStart and preStop hooks, termination messages,
//! QoS classes with their cgroup parents and pod-level limits, and `get -o wide`.
//! Needs root (see `pods.rs`).

use serde_json::Value;
use tug_testkit::Cluster;

const TUG: &str = env!("CARGO_BIN_EXE_tug");

const PROBED: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www; echo ok > /www/index.html; touch /tmp/alive; exec httpd -f -p 8080 -h /www']
    ports: [{name: http, containerPort: 8080}]
    resources: {limits: {cpu: 100m, memory: 32Mi}}
    startupProbe: {tcpSocket: {port: http}, periodSeconds: 1}
    readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1}
    livenessProbe: {exec: {command: [cat, /tmp/alive]}, periodSeconds: 1, failureThreshold: 2}
"#;

fn lifecycle(out_dir: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: init}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{{name: work, emptyDir: {{}}}}]
  initContainers:
  - {{name: first, image: busybox:latest, imagePullPolicy: Never, command: [sh, -c, 'echo one > /work/order'], volumeMounts: [{{name: work, mountPath: /work}}]}}
  - {{name: second, image: busybox:latest, imagePullPolicy: Never, command: [sh, -c, 'sleep 2; echo two >> /work/order'], volumeMounts: [{{name: work, mountPath: /work}}]}}
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'cat /work/order; exec sleep 3600']
    volumeMounts: [{{name: work, mountPath: /work}}]
    resources: {{requests: {{memory: 16Mi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: hooks}}
spec:
  terminationGracePeriodSeconds: 5
  restartPolicy: Never
  volumes: [{{name: out, hostPath: {{path: {out_dir}, type: Directory}}}}]
  containers:
  - name: told
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'until [ -f /tmp/post ]; do sleep 0.1; done; cat /tmp/post > /dev/termination-log']
    lifecycle: {{postStart: {{exec: {{command: [sh, -c, 'echo post-start ran > /tmp/post']}}}}}}
  - name: failing
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'echo boom; exit 2']
    terminationMessagePolicy: FallbackToLogsOnError
  - name: stopper
    image: busybox:latest
    imagePullPolicy: Never
    command: [sleep, '3600']
    volumeMounts: [{{name: out, mountPath: /out}}]
    lifecycle: {{preStop: {{exec: {{command: [sh, -c, 'echo pre-stop ran > /out/prestop']}}}}}}
"#
    )
}

fn condition(pod: &Value, type_: &str) -> (String, String) {
    let c = pod["status"]["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == type_).cloned()).unwrap_or_default();
    (c["status"].as_str().unwrap_or_default().to_string(), c["message"].as_str().unwrap_or_default().to_string())
}

/// The content of `file` in the pod's cgroup directory, in whichever hierarchy has it.
fn cgroup_file(relative: &str, file: &str) -> Option<String> {
    ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"]
        .iter()
        .find_map(|root| std::fs::read_to_string(format!("{root}/{relative}/{file}")).ok())
        .map(|s| s.trim().to_string())
}

#[test]
fn probes_init_containers_hooks_and_qos_follow_kubelet() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let node = Cluster::up(TUG);
    let out_dir = node.dir().join("hook-out");
    std::fs::create_dir_all(&out_dir).unwrap();
    node.apply(PROBED);

    // Readiness: running and started, not Ready until /ready answers.
    node.eventually("probed runs, started, not ready", 30, || {
        let pod = node.pod("probed");
        let s = &pod["status"]["containerStatuses"][0];
        s["state"]["running"].is_object() && s["started"] == true && s["ready"] == false
    });
    let pod = node.pod("probed");
    assert_eq!(condition(&pod, "Ready"), ("False".into(), "containers with unready status: [web]".into()));
    assert_eq!(pod["status"]["qosClass"], "Guaranteed");
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    let node_name = pod["spec"]["nodeName"].as_str().unwrap().to_string();
    let limit = cgroup_file(&format!("tug/{node_name}/pod{uid}"), "memory.limit_in_bytes")
        .or_else(|| cgroup_file(&format!("tug/{node_name}/pod{uid}"), "memory.max"));
    assert_eq!(limit.as_deref(), Some("33554432"), "the pod-level memory limit of a Guaranteed pod");
    node.kubectl(&["exec", "probed", "--", "sh", "-c", "echo y > /www/ready"]);
    node.kubectl(&["wait", "--for=condition=Ready", "pod/probed", "--timeout=20s"]);
    let wide = node.kubectl(&["get", "pod", "probed", "-o", "wide"]);
    let ip = node.pod("probed")["status"]["podIP"].as_str().unwrap().to_string();
    assert!(wide.lines().next().unwrap_or_default().contains("NOMINATED NODE") && wide.contains(&ip) && wide.contains(&node_name), "{wide}");

    // Liveness: a failing check restarts the container, counted, with kubelet's events.
    node.kubectl(&["exec", "probed", "--", "rm", "/tmp/alive"]);
    node.eventually("probed restarted by its liveness probe", 60, || {
        let pod = node.pod("probed");
        pod["status"]["containerStatuses"][0]["restartCount"] == 1 && pod["status"]["containerStatuses"][0]["state"]["running"].is_object()
    });
    let events = node.kubectl(&["get", "events", "--field-selector", "involvedObject.name=probed", "-o", "json"]);
    assert!(events.contains("Liveness probe failed: cat: can't open '/tmp/alive': No such file or directory"), "{events}");
    assert!(events.contains("Container web failed liveness probe, will be restarted"), "{events}");

    // Init containers ran in order before the app container; the pod said so meanwhile.
    node.apply(&lifecycle(out_dir.to_str().unwrap()));
    let mut seen = Vec::new();
    node.eventually("init is Running", 40, || {
        let table = node.kubectl(&["get", "pod", "init", "--no-headers"]);
        let status = table.split_whitespace().nth(2).unwrap_or_default().to_string();
        if !seen.contains(&status) {
            seen.push(status.clone());
        }
        status == "Running"
    });
    assert!(seen.iter().any(|s| s == "Init:1/2"), "statuses seen: {seen:?}");
    let pod = node.pod("init");
    let inits: Vec<&str> = pod["status"]["initContainerStatuses"].as_array().unwrap().iter().map(|s| s["state"]["terminated"]["reason"].as_str().unwrap_or_default()).collect();
    assert_eq!(inits, ["Completed", "Completed"]);
    assert_eq!(condition(&pod, "Initialized").0, "True");
    assert_eq!(pod["status"]["qosClass"], "Burstable");
    assert!(cgroup_file(&format!("tug/{node_name}/burstable/pod{}", pod["metadata"]["uid"].as_str().unwrap()), "cgroup.procs").is_some());
    node.eventually("main logged the order", 10, || node.kubectl(&["logs", "init", "-c", "main"]) == "one\ntwo\n");

    // postStart ran before the container read its file; termination messages from file and log.
    node.eventually("hooks' containers ended", 30, || {
        let pod = node.pod("hooks");
        let s = &pod["status"]["containerStatuses"];
        s[0]["state"]["terminated"].is_object() && s[1]["state"]["terminated"].is_object()
    });
    let pod = node.pod("hooks");
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"], "post-start ran\n");
    assert_eq!(pod["status"]["containerStatuses"][1]["state"]["terminated"]["message"], "boom\n");
    assert_eq!(pod["status"]["qosClass"], "BestEffort");

    // preStop runs at deletion, before the container is stopped.
    node.kubectl(&["delete", "pod", "hooks", "--timeout=30s"]);
    assert_eq!(std::fs::read_to_string(out_dir.join("prestop")).unwrap_or_default(), "pre-stop ran\n");
    node.kubectl(&["delete", "pods", "--all", "--timeout=60s"]);
}
