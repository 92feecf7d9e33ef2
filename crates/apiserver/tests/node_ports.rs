//! Service node ports with kubectl: NodePort and LoadBalancer Services get a port from
//! 30000-32767, a port another Service holds or one outside the range is refused naming
//! `spec.ports[i].nodePort`, and a port is given back on a type change and on delete.

mod common;

use common::TestServer;

fn service(server: &TestServer, name: &str, type_: &str, node_port: Option<u16>) -> std::process::Output {
    let node_port = node_port.map(|p| format!(", nodePort: {p}")).unwrap_or_default();
    let yaml = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: {type_}\n  selector: {{app: {name}}}\n  ports: [{{name: http, port: 80{node_port}}}]\n"
    );
    let file = server.file(&format!("{name}.yaml"), yaml);
    server.kubectl_output(&["apply", "-f", file.to_str().unwrap()])
}

fn node_port(server: &TestServer, name: &str) -> String {
    server.kubectl(&["get", "service", name, "-o", "jsonpath={.spec.ports[0].nodePort}"])
}

#[test]
fn node_ports_are_allocated_once_and_given_back() {
    let server = TestServer::start();
    assert!(service(&server, "a", "NodePort", None).status.success());
    let a: u16 = node_port(&server, "a").parse().expect("a node port");
    assert!((30086..=32767).contains(&a), "automatic ports leave 30000-30085 to Services that name theirs: {a}");
    assert!(service(&server, "fixed", "NodePort", Some(30000)).status.success(), "the static band is free");
    assert!(service(&server, "lb", "LoadBalancer", None).status.success());
    let lb: u16 = node_port(&server, "lb").parse().expect("lb node port");
    assert_ne!(a, lb);

    let taken = service(&server, "b", "NodePort", Some(a));
    assert!(!taken.status.success());
    let message = String::from_utf8_lossy(&taken.stderr);
    assert!(message.contains("spec.ports[0].nodePort") && message.contains("provided port is already allocated"), "{message}");
    let outside = service(&server, "b", "NodePort", Some(8080));
    let message = String::from_utf8_lossy(&outside.stderr);
    assert!(message.contains("spec.ports[0].nodePort") && message.contains("30000-32767"), "{message}");

    // Re-applying keeps the port; a type change to ClusterIP gives it back.
    assert!(service(&server, "a", "NodePort", None).status.success());
    assert_eq!(node_port(&server, "a"), a.to_string());
    assert!(service(&server, "a", "ClusterIP", None).status.success());
    assert_eq!(node_port(&server, "a"), "");
    assert!(service(&server, "b", "NodePort", Some(a)).status.success(), "the port was given back");

    // Deleting gives it back too.
    server.kubectl(&["delete", "service", "b"]);
    assert!(service(&server, "c", "NodePort", Some(a)).status.success());
}
