//! Admission end to end, with kubectl against a real server: ResourceQuota refuses the
//! create that would exceed it (kubectl's message) and its usage is charged atomically;
//! LimitRange fills defaults and refuses out-of-bounds pods; PodSecurity `restricted`
//! refuses a privileged pod naming the violated rules and `warn` gives kubectl warnings;
//! nothing is created in a missing or terminating namespace; the ServiceAccount plugin
//! mounts the token volume; malformed policy objects get 422 with field paths.

mod common;

use common::TestServer;
use serde_json::Value;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn apply(server: &TestServer, name: &str, yaml: &str) -> std::process::Output {
    let file = server.file(name, yaml);
    server.kubectl_output(&["apply", "-f", file.to_str().unwrap()])
}

fn pod(name: &str, ns: &str, resources: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources: {resources}\n")
}

/// The quota's status once the server has it (this server runs no quota controller, so the
/// test sets `status.hard` as the controller would).
fn quota_with_status(server: &TestServer, ns: &str, name: &str, hard: &str) {
    let yaml = format!("apiVersion: v1\nkind: ResourceQuota\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  hard: {hard}\n");
    let out = apply(server, &format!("{name}.yaml"), &yaml);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = format!("{{\"status\": {{\"hard\": {hard}, \"used\": {{}}}}}}");
    server.kubectl(&[
        "patch",
        "resourcequota",
        name,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status,
    ]);
}

fn used(server: &TestServer, ns: &str, name: &str) -> Value {
    let out = server.kubectl(&["get", "resourcequota", name, "-n", ns, "-o", "json"]);
    serde_json::from_str::<Value>(&out).unwrap()["status"]["used"].clone()
}

#[test]
fn resource_quota_refuses_the_create_that_would_exceed_it() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "q"]);
    quota_with_status(
        &server,
        "q",
        "compute",
        r#"{"pods": "2", "requests.cpu": "1", "limits.cpu": "2"}"#,
    );

    let missing = apply(
        &server,
        "nolimit.yaml",
        &pod("nolimit", "q", "{requests: {cpu: 100m}}"),
    );
    assert!(
        stderr(&missing).contains(
            r#"pods "nolimit" is forbidden: failed quota: compute: must specify limits.cpu for: c"#
        ),
        "{}",
        stderr(&missing)
    );

    for name in ["a", "b"] {
        let out = apply(
            &server,
            &format!("{name}.yaml"),
            &pod(name, "q", "{requests: {cpu: 400m}, limits: {cpu: 500m}}"),
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(
        used(&server, "q", "compute"),
        serde_json::json!({"pods": "2", "requests.cpu": "800m", "limits.cpu": "1"})
    );

    let over = apply(
        &server,
        "c.yaml",
        &pod("c", "q", "{requests: {cpu: 400m}, limits: {cpu: 500m}}"),
    );
    assert!(!over.status.success());
    assert!(
        stderr(&over).contains(r#"Error from server (Forbidden): error when creating "#)
            && stderr(&over).contains(r#"pods "c" is forbidden: exceeded quota: compute, requested: pods=1,requests.cpu=400m, used: pods=2,requests.cpu=800m, limited: pods=2,requests.cpu=1"#),
        "{}",
        stderr(&over)
    );
    // A dry run charges nothing.
    let dry = server.kubectl_output(&["create", "configmap", "d", "-n", "q", "--dry-run=server"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert_eq!(used(&server, "q", "compute")["pods"], "2");
}

#[test]
fn concurrent_creates_never_overshoot_a_quota() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "race"]);
    quota_with_status(&server, "race", "objects", r#"{"configmaps": "3"}"#);
    let handles: Vec<_> = (0..12)
        .map(|i| {
            server
                .kubectl_command(&["create", "configmap", &format!("cm{i}"), "-n", "race"])
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut h in handles {
        h.wait().unwrap();
    }
    let listed = server.kubectl(&["get", "configmaps", "-n", "race", "-o", "name"]);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert_eq!(used(&server, "race", "objects")["configmaps"], "3");
}

#[test]
fn limit_range_fills_defaults_and_refuses_out_of_bounds_pods() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "lr"]);
    let range = "apiVersion: v1\nkind: LimitRange\nmetadata: {name: bounds, namespace: lr}\nspec:\n  limits:\n  - type: Container\n    default: {cpu: 500m, memory: 128Mi}\n    defaultRequest: {cpu: 250m}\n    max: {cpu: '1'}\n    min: {cpu: 100m}\n";
    let out = apply(&server, "range.yaml", range);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = apply(&server, "plain.yaml", &pod("plain", "lr", "{}"));
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Value =
        serde_json::from_str(&server.kubectl(&["get", "pod", "plain", "-n", "lr", "-o", "json"]))
            .unwrap();
    let resources = &got["spec"]["containers"][0]["resources"];
    assert_eq!(
        resources["limits"],
        serde_json::json!({"cpu": "500m", "memory": "128Mi"})
    );
    assert_eq!(
        resources["requests"],
        serde_json::json!({"cpu": "250m", "memory": "128Mi"})
    );
    assert_eq!(
        got["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c"
    );

    let big = apply(
        &server,
        "big.yaml",
        &pod("big", "lr", "{limits: {cpu: '2'}}"),
    );
    assert!(
        stderr(&big).contains(
            r#"pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2"#
        ),
        "{}",
        stderr(&big)
    );
    let small = apply(
        &server,
        "small.yaml",
        &pod("small", "lr", "{requests: {cpu: 50m}}"),
    );
    assert!(stderr(&small).contains(r#"pods "small" is forbidden: minimum cpu usage per Container is 100m, but request is 50m"#), "{}", stderr(&small));
}

#[test]
fn pod_security_restricted_refuses_a_privileged_pod_and_warns() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "locked"]);
    server.kubectl(&[
        "label",
        "namespace",
        "locked",
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    ]);
    let privileged = "apiVersion: v1\nkind: Pod\nmetadata: {name: root, namespace: locked}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    securityContext: {privileged: true}\n";
    let out = apply(&server, "root.yaml", privileged);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(concat!(
        r#"pods "root" is forbidden: violates PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true), "#,
        r#"allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), "#,
        r#"unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), "#,
        r#"runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), "#,
        r#"seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#,
    )), "{}", stderr(&out));

    // A Deployment is only warned about: its pods meet enforce when they are created.
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: locked}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      hostNetwork: true\n      containers:\n      - {name: web, image: nginx}\n";
    let out = apply(&server, "web.yaml", deploy);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(r#"Warning: would violate PodSecurity "restricted:latest": host namespaces (hostNetwork=true), allowPrivilegeEscalation != false (container "web" must set"#), "{}", stderr(&out));

    let hardened = "apiVersion: v1\nkind: Pod\nmetadata: {name: ok, namespace: locked}\nspec:\n  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n  containers:\n  - name: c\n    image: busybox\n    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n";
    let out = apply(&server, "ok.yaml", hardened);
    assert!(
        out.status.success() && stderr(&out).is_empty(),
        "{}",
        stderr(&out)
    );
}

#[test]
fn nothing_is_created_in_a_missing_or_terminating_namespace() {
    let server = TestServer::start();
    let out = server.kubectl_output(&["create", "configmap", "x", "-n", "nowhere"]);
    assert!(
        stderr(&out).contains(r#"namespaces "nowhere" not found"#),
        "{}",
        stderr(&out)
    );

    let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: going, finalizers: [example.com/hold]}\n";
    assert!(apply(&server, "ns.yaml", ns).status.success());
    server.kubectl(&["delete", "namespace", "going", "--wait=false"]);
    assert_eq!(
        server.kubectl(&[
            "get",
            "namespace",
            "going",
            "-o",
            "jsonpath={.status.phase}"
        ]),
        "Terminating"
    );
    let out = server.kubectl_output(&["create", "configmap", "x", "-n", "going"]);
    assert!(
        stderr(&out).contains(r#"configmaps "x" is forbidden: unable to create new content in namespace going because it is being terminated"#),
        "{}",
        stderr(&out)
    );
    server.kubectl(&[
        "patch",
        "namespace",
        "going",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);

    let out = server.kubectl_output(&["delete", "namespace", "kube-system"]);
    assert!(
        stderr(&out).contains(
            r#"namespaces "kube-system" is forbidden: this namespace may not be deleted"#
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pods_run_as_their_service_account_with_a_token_volume() {
    let server = TestServer::start_with(|_, config| config.disabled_admission_plugins.clear());
    server.kubectl(&["create", "namespace", "sa"]);
    let out = apply(&server, "p.yaml", &pod("p", "sa", "{}"));
    assert!(stderr(&out).contains(r#"pods "p" is forbidden: error looking up service account sa/default: serviceaccount "default" not found"#), "{}", stderr(&out));
    let account = apply(
        &server,
        "sa.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: sa}\n",
    );
    assert!(account.status.success(), "{}", stderr(&account));
    let out = apply(&server, "p.yaml", &pod("p", "sa", "{}"));
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Value =
        serde_json::from_str(&server.kubectl(&["get", "pod", "p", "-n", "sa", "-o", "json"]))
            .unwrap();
    assert_eq!(got["spec"]["serviceAccountName"], "default");
    let volume = &got["spec"]["volumes"][0];
    assert!(volume["name"]
        .as_str()
        .unwrap()
        .starts_with("kube-api-access-"));
    assert_eq!(
        volume["projected"]["sources"][1]["configMap"]["name"],
        "kube-root-ca.crt"
    );
    assert_eq!(
        got["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
}

#[test]
fn pods_get_the_priority_of_their_class() {
    let server = TestServer::start();
    let class = "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\npreemptionPolicy: Never\n";
    let out = apply(&server, "pc.yaml", class);
    assert!(out.status.success(), "{}", stderr(&out));
    for (name, class, value) in [
        ("a", "high", 1000),
        ("b", "system-cluster-critical", 2_000_000_000),
    ] {
        let yaml = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  priorityClassName: {class}\n  containers: [{{name: c, image: busybox}}]\n");
        let out = apply(&server, &format!("{name}.yaml"), &yaml);
        assert!(out.status.success(), "{}", stderr(&out));
        let got: Value =
            serde_json::from_str(&server.kubectl(&["get", "pod", name, "-o", "json"])).unwrap();
        assert_eq!(got["spec"]["priority"], value);
    }
    let out = apply(&server, "c.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n  priorityClassName: missing\n  containers: [{name: c, image: busybox}]\n");
    assert!(
        stderr(&out)
            .contains(r#"pods "c" is forbidden: no PriorityClass with name missing was found"#),
        "{}",
        stderr(&out)
    );
}

#[test]
fn malformed_policy_objects_get_422_with_field_paths() {
    let server = TestServer::start();
    let quota = server.file("q.json", r#"{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"bad"},"spec":{"hard":{"pods":"lots"}}}"#);
    let (code, status) = server.request(
        "POST",
        "/api/v1/namespaces/default/resourcequotas",
        "application/json",
        Some(&quota),
    );
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "spec.hard[pods]");
    let range = server.file("r.json", r#"{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"bad"},"spec":{"limits":[{"type":"Container","min":{"cpu":"2"},"max":{"cpu":"1"}}]}}"#);
    let (code, status) = server.request(
        "POST",
        "/api/v1/namespaces/default/limitranges",
        "application/json",
        Some(&range),
    );
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "spec.limits[0].min[cpu]"
    );
    assert_eq!(
        status["details"]["causes"][0]["message"],
        r#"Invalid value: "2": min value 2 is greater than max value 1"#
    );
}

#[test]
fn python_client_sees_admission_as_on_kubernetes() {
    let server = TestServer::start();
    server.run_python_flows("admission_flows.py");
}

#[test]
fn pod_security_audit_annotates_the_audit_event() {
    let server = TestServer::start_with(|dir, config| {
        let policy = dir.join("audit-policy.yaml");
        std::fs::write(&policy, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n").expect("write policy");
        config.audit_policy_file = Some(policy);
        config.audit_log_path = Some(dir.join("audit.log"));
    });
    server.kubectl(&["create", "namespace", "watched"]);
    server.kubectl(&["label", "namespace", "watched", "pod-security.kubernetes.io/audit=baseline"]);
    let out = apply(&server, "h.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: h, namespace: watched}\nspec:\n  hostPID: true\n  containers: [{name: c, image: busybox}]\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(server.dir.path().join("audit.log")).unwrap_or_default();
        let annotated = text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|e| {
            e["verb"] == "create" && e["objectRef"]["resource"] == "pods" && e["stage"] == "ResponseComplete"
        });
        if let Some(event) = annotated {
            assert_eq!(
                event["annotations"]["pod-security.kubernetes.io/audit-violations"],
                r#"would violate PodSecurity "baseline:latest": host namespaces (hostPID=true)"#,
                "{event}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no audit event for the pod create:\n{text}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
