//! The pods/binding subresource, as the scheduler uses it: a pod is bound to a
//! node once, with its PodScheduled condition; a second binding is a conflict.

mod common;

use common::TestServer;

const POD: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}"#;

#[test]
fn binding_assigns_a_pod_once() {
    let server = TestServer::start();
    let pod = server.file("pod.json", POD);
    let (code, _) = server.request("POST", "/api/v1/namespaces/default/pods", "application/json", Some(&pod));
    assert_eq!(code, 201);
    let binding_path = "/api/v1/namespaces/default/pods/web/binding";
    let to = |node: &str, kind: &str| {
        server.file(
            &format!("binding-{node}.json"),
            format!(r#"{{"apiVersion": "v1", "kind": "Binding", "metadata": {{"name": "web"}}, "target": {{"kind": "{kind}", "name": "{node}"}}}}"#),
        )
    };

    let (code, body) = server.request("POST", binding_path, "application/json", Some(&to("n1", "Pod")));
    assert_eq!(code, 422, "{body}");
    assert!(body["message"].as_str().unwrap().contains("target.kind: Unsupported value"), "{body}");

    let (code, body) = server.request("POST", binding_path, "application/json", Some(&to("n1", "Node")));
    assert_eq!((code, body["status"].as_str()), (201, Some("Success")), "{body}");
    let pod = server.kubectl(&["get", "pod", "web", "-o", "json"]);
    let pod: serde_json::Value = serde_json::from_str(&pod).unwrap();
    assert_eq!(pod["spec"]["nodeName"], "n1");
    let conditions = pod["status"]["conditions"].as_array().unwrap();
    assert!(conditions.iter().any(|c| c["type"] == "PodScheduled" && c["status"] == "True"), "{pod}");

    let (code, body) = server.request("POST", binding_path, "application/json", Some(&to("n2", "Node")));
    assert_eq!(code, 409, "{body}");
    assert_eq!(
        body["message"],
        r#"Operation cannot be fulfilled on pods "web": pod web is already assigned to node "n1""#
    );
    let (code, _) = server.request("POST", "/api/v1/namespaces/default/pods/nothere/binding", "application/json", Some(&to("n1", "Node")));
    assert_eq!(code, 404);
}
