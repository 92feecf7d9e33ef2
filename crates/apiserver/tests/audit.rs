//! The audit log end to end: a server with `audit_log_path` and a policy file,
//! driven by kubectl and curl (admin, a denied user, no credentials); the log
//! holds the expected audit.k8s.io/v1 Events, and no Secret value appears in it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestServer;
use serde_json::Value;

const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["configmaps", "secrets"]
- level: Metadata
  omitStages: ["RequestReceived"]
"#;

const SECRET_VALUE: &str = "hunter2-TOPSECRET";

fn configure(dir: &Path, config: &mut tug_apiserver::Config) {
    let policy = dir.join("audit-policy.yaml");
    std::fs::write(&policy, POLICY).expect("write policy");
    config.audit_policy_file = Some(policy);
    config.audit_log_path = Some(dir.join("audit.log"));
    // Requests without credentials are 401s here, so the log's unauthenticated case shows.
    config.anonymous_auth = false;
}

/// The log's events, once `done` holds for them (the writer flushes off the request path).
fn events(server: &TestServer, done: impl Fn(&[Value]) -> bool) -> (Vec<Value>, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(server.dir.path().join("audit.log")).unwrap_or_default();
        let events: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        if done(&events) {
            return (events, text);
        }
        assert!(Instant::now() < deadline, "the audit log never had what was expected:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn find<'a>(events: &'a [Value], stage: &str, verb: &str, resource: &str, code: Option<u64>) -> Option<&'a Value> {
    events.iter().find(|e| {
        e["stage"] == stage
            && e["verb"] == verb
            && e["objectRef"]["resource"] == resource
            && code.is_none_or(|c| e["responseStatus"]["code"] == c)
    })
}

#[test]
fn audit_log_records_requests_by_policy_and_never_secret_values() {
    let server = TestServer::start_with(configure);
    server.kubectl(&["create", "configmap", "settings", "--from-literal=a=1"]);
    server.kubectl(&["create", "secret", "generic", "creds", &format!("--from-literal=password={SECRET_VALUE}")]);
    let secret_json = server.file(
        "secret.json",
        format!(r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"raw"}},"stringData":{{"password":"{SECRET_VALUE}"}}}}"#),
    );
    let (code, _) = server.request("POST", "/api/v1/namespaces/default/secrets", "application/json", Some(&secret_json));
    assert_eq!(code, 201);
    server.kubectl(&["get", "secret", "creds", "-o", "yaml"]);
    server.kubectl(&["get", "pods"]);
    let (code, _) = server.request_as("GET", "/api/v1/namespaces/default/pods", "application/json", None, false);
    assert_eq!(code, 401);
    server.request("GET", "/healthz", "application/json", None);
    // A body past the limit is still 413 when the audit layer keeps bodies.
    let big = server.file("big.json", vec![b' '; 3 * 1024 * 1024 + 10]);
    let (code, _) = server.request("POST", "/api/v1/namespaces/default/configmaps", "application/json", Some(&big));
    assert_eq!(code, 413);

    // A user without rights: the 403 is audited with the decision.
    let pki = tug_apiserver::tls::Pki::load_or_create(server.dir.path()).expect("pki");
    let nobody = server.file("nobody.kubeconfig", pki.user_kubeconfig(&server.url(""), "nobody", &[]).expect("kubeconfig"));
    let out = std::process::Command::new("kubectl")
        .env("KUBECONFIG", &nobody)
        .args(["get", "secrets"])
        .output()
        .expect("kubectl runs");
    assert!(!out.status.success());

    let (events, text) = events(&server, |events| {
        find(events, "ResponseComplete", "list", "secrets", Some(403)).is_some()
            && find(events, "ResponseComplete", "list", "pods", Some(401)).is_some()
    });

    // The configmap create, at RequestResponse: both stages, both bodies.
    let created = find(&events, "ResponseComplete", "create", "configmaps", Some(201)).expect("configmap create");
    assert_eq!(created["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(created["kind"], "Event");
    assert_eq!(created["level"], "RequestResponse");
    assert_eq!(created["user"]["username"], "admin");
    assert_eq!(created["user"]["groups"][0], "system:masters");
    assert_eq!(created["sourceIPs"][0], "127.0.0.1");
    assert!(created["userAgent"].as_str().unwrap_or_default().starts_with("kubectl"), "{created}");
    assert_eq!(created["objectRef"]["namespace"], "default");
    assert_eq!(created["objectRef"]["apiVersion"], "v1");
    assert_eq!(created["responseObject"]["data"]["a"], "1", "{created}");
    assert_eq!(created["annotations"]["authorization.k8s.io/decision"], "allow");
    assert!(created["requestReceivedTimestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    let id = created["auditID"].as_str().expect("auditID");
    let stages: Vec<&Value> = events.iter().filter(|e| e["auditID"] == id).map(|e| &e["stage"]).collect();
    assert_eq!(stages, ["RequestReceived", "ResponseComplete"]);

    // Secrets: the policy asks for RequestResponse, the server logs Metadata only.
    let secret = find(&events, "ResponseComplete", "create", "secrets", Some(201)).expect("secret create");
    assert_eq!(secret["level"], "Metadata");
    assert!(secret.get("requestObject").is_none() && secret.get("responseObject").is_none());
    let read = find(&events, "ResponseComplete", "get", "secrets", Some(200)).expect("secret get");
    assert_eq!(read["objectRef"]["name"], "creds");
    assert!(!text.contains(SECRET_VALUE), "a secret value is in the audit log");
    assert!(!text.contains("aHVudGVyMi1UT1BTRUNSRVQ"), "a base64 secret value is in the audit log");

    // Metadata rules leave out RequestReceived; 401s have no user; 403s say why.
    let pods = find(&events, "ResponseComplete", "list", "pods", Some(200)).expect("pods list");
    assert_eq!(pods["level"], "Metadata");
    assert!(find(&events, "RequestReceived", "list", "pods", None).is_none());
    let unauthenticated = find(&events, "ResponseComplete", "list", "pods", Some(401)).expect("401");
    assert_eq!(unauthenticated["user"], serde_json::json!({}));
    let denied = find(&events, "ResponseComplete", "list", "secrets", Some(403)).expect("403");
    assert_eq!(denied["user"]["username"], "nobody");
    assert_eq!(denied["annotations"]["authorization.k8s.io/decision"], "forbid");
    assert_eq!(denied["responseStatus"]["reason"], "Forbidden");
    assert!(!events.iter().any(|e| e["requestURI"].as_str().is_some_and(|u| u.starts_with("/healthz"))));
}

#[test]
fn a_bad_policy_file_stops_the_server_with_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "rules:\n- level: Everything\n").expect("write");
    let store = std::sync::Arc::new(tug_store::SqliteStore::open(dir.path().join("db")).expect("store"));
    let mut config = tug_apiserver::Config::new(dir.path(), std::net::SocketAddr::from(([127, 0, 0, 1], 0)), store);
    config.audit_log_path = Some(dir.path().join("audit.log"));
    config.audit_policy_file = Some(policy.clone());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let error = match runtime.block_on(tug_apiserver::start(config)) {
        Ok(_) => panic!("a bad policy was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains(&policy.display().to_string()) && error.contains("RequestResponse"), "{error}");
}
