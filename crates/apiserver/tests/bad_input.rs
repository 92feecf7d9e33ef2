//! Bad requests get the Status a Kubernetes API server gives: the right
//! code and reason, a message naming the field or position at fault; and
//! one client's garbage does not stop the server serving others.

mod common;

use std::io::Write;
use std::net::TcpStream;

use common::TestServer;
use serde_json::{json, Value};
use tug_store::Store;

const CM: &str = "/api/v1/namespaces/default/configmaps";

fn assert_status(response: &(u16, Value), code: u16, reason: &str, mentions: &str) {
    let (got, body) = response;
    assert_eq!(*got, code, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(mentions),
        "message {message:?} does not mention {mentions:?}"
    );
}

#[test]
fn malformed_json_and_yaml_are_bad_requests_naming_the_position() {
    let server = TestServer::start();
    let json_body = server.file(
        "bad.json",
        "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",, }",
    );
    assert_status(
        &server.request("POST", CM, "application/json", Some(&json_body)),
        400,
        "BadRequest",
        "line 1 column",
    );
    let yaml_body = server.file(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: [name: x\n",
    );
    assert_status(
        &server.request("POST", CM, "application/yaml", Some(&yaml_body)),
        400,
        "BadRequest",
        "line",
    );
    let wrong_type = server.file(
        "type.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": 5}}"#,
    );
    assert_status(
        &server.request("POST", CM, "application/json", Some(&wrong_type)),
        400,
        "BadRequest",
        "data.k",
    );
}

#[test]
fn unknown_resources_are_not_found() {
    let server = TestServer::start();
    assert_status(
        &server.request("GET", "/api/v1/widgets", "application/json", None),
        404,
        "NotFound",
        "could not find the requested resource",
    );
    assert_status(
        &server.request(
            "GET",
            "/apis/nope.example.com/v1/things",
            "application/json",
            None,
        ),
        404,
        "NotFound",
        "could not find",
    );
    assert_status(
        &server.request("GET", &format!("{CM}/missing"), "application/json", None),
        404,
        "NotFound",
        "configmaps \"missing\" not found",
    );
    let in_missing_ns = server.file("cm.json", r#"{"metadata": {"name": "a"}}"#);
    assert_status(
        &server.request(
            "POST",
            "/api/v1/namespaces/nowhere/configmaps",
            "application/json",
            Some(&in_missing_ns),
        ),
        404,
        "NotFound",
        "namespaces \"nowhere\" not found",
    );
}

#[test]
fn invalid_names_and_labels_are_422_with_causes() {
    let server = TestServer::start();
    let body = server.file("invalid.json", r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name", "labels": {"bad key": "ok", "k": "-bad-"}}}"#);
    let response = server.request("POST", CM, "application/json", Some(&body));
    assert_status(
        &response,
        422,
        "Invalid",
        "ConfigMap \"Bad_Name\" is invalid",
    );
    let causes = response.1["details"]["causes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let fields: Vec<&str> = causes.iter().filter_map(|c| c["field"].as_str()).collect();
    assert_eq!(
        fields,
        ["metadata.name", "metadata.labels", "metadata.labels"],
        "{causes:?}"
    );
    assert!(causes.iter().all(|c| c["reason"] == "FieldValueInvalid"));

    let deployment = server.file("deploy.json", json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"app": "a"}},
        "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}).to_string());
    let response = server.request(
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        "application/json",
        Some(&deployment),
    );
    assert_status(&response, 422, "Invalid", "spec.template.metadata.labels");
}

#[test]
fn bodies_over_three_mebibytes_are_413() {
    let server = TestServer::start();
    let big = format!(
        r#"{{"metadata": {{"name": "big"}}, "data": {{"k": "{}"}}}}"#,
        "x".repeat(3 * 1024 * 1024 + 10)
    );
    let body = server.file("big.json", big);
    assert_status(
        &server.request("POST", CM, "application/json", Some(&body)),
        413,
        "RequestEntityTooLarge",
        "limit is 3145728",
    );
}

#[test]
fn stale_updates_and_duplicate_creates_are_409() {
    let server = TestServer::start();
    let body = server.file(
        "cm.json",
        r#"{"metadata": {"name": "a"}, "data": {"k": "1"}}"#,
    );
    let (code, created) = server.request("POST", CM, "application/json", Some(&body));
    assert_eq!(code, 201, "{created}");
    assert_status(
        &server.request("POST", CM, "application/json", Some(&body)),
        409,
        "AlreadyExists",
        "configmaps \"a\" already exists",
    );

    let mut update = created.clone();
    update["data"]["k"] = json!("2");
    let update_file = server.file("update.json", update.to_string());
    let (code, _) = server.request(
        "PUT",
        &format!("{CM}/a"),
        "application/json",
        Some(&update_file),
    );
    assert_eq!(code, 200);
    // The same resourceVersion again is now stale.
    assert_status(
        &server.request(
            "PUT",
            &format!("{CM}/a"),
            "application/json",
            Some(&update_file),
        ),
        409,
        "Conflict",
        "the object has been modified",
    );
}

#[test]
fn a_watch_at_a_compacted_revision_gets_410_expired() {
    let server = TestServer::start();
    let body = server.file("cm.json", r#"{"metadata": {"name": "a"}}"#);
    for _ in 0..3 {
        server.request("POST", CM, "application/json", Some(&body));
        server.request("DELETE", &format!("{CM}/a"), "application/json", None);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let revision = runtime
        .block_on(server.store.current_revision())
        .expect("revision");
    runtime
        .block_on(server.store.compact(revision))
        .expect("compact");
    let (code, body) = server.request(
        "GET",
        &format!("{CM}?watch=true&resourceVersion=2&timeoutSeconds=2"),
        "application/json",
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(body["type"], "ERROR", "{body}");
    assert_eq!(
        (
            body["object"]["code"].as_i64(),
            body["object"]["reason"].as_str()
        ),
        (Some(410), Some("Expired")),
        "{body}"
    );
    let (code, listed) = server.request(
        "GET",
        &format!("{CM}?resourceVersion=2&resourceVersionMatch=Exact"),
        "application/json",
        None,
    );
    assert_eq!((code, listed["reason"].as_str()), (410, Some("Expired")));
}

#[test]
fn requests_without_credentials_are_anonymous_and_forbidden_except_health_and_version() {
    let server = TestServer::start();
    assert_status(
        &server.request_as("GET", "/api/v1/namespaces", "application/json", None, false),
        403,
        "Forbidden",
        "namespaces is forbidden: User \"system:anonymous\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope",
    );
    let closed = TestServer::start_with(|_, config| config.anonymous_auth = false);
    assert_status(
        &closed.request_as("GET", "/api/v1/namespaces", "application/json", None, false),
        401,
        "Unauthorized",
        "Unauthorized",
    );
    for open in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(
            server.request_as("GET", open, "application/json", None, false),
            (200, Value::String("ok".into()))
        );
    }
    let (code, version) = server.request_as("GET", "/version", "application/json", None, false);
    assert_eq!(
        (code, version["gitVersion"].as_str()),
        (200, Some("v1.33.0"))
    );
    let (code, metrics) = server.request("GET", "/metrics", "text/plain", None);
    assert_eq!(code, 200);
    assert!(
        metrics
            .as_str()
            .unwrap_or_default()
            .contains("tug_store_revision"),
        "{metrics}"
    );
}

#[test]
fn the_server_keeps_serving_while_a_client_sends_garbage() {
    let server = TestServer::start();
    let mut garbage = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        let _ = stream.write_all(b"\x16\x03\x01 this is not TLS \r\n\r\n");
        garbage.push(stream);
    }
    let mut half_open = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let _ = half_open.write_all(b"\x16\x03\x01\x02\x00");
    let (code, list) = server.request("GET", "/api/v1/namespaces", "application/json", None);
    assert_eq!((code, list["kind"].as_str()), (200, Some("NamespaceList")));
    assert_eq!(list["items"].as_array().map(Vec::len), Some(4));
    drop(garbage);
}
