//! The official Python `kubernetes` client (PyPI `kubernetes`, which CI
//! installs) runs its create/read/replace/patch/delete, selector, paging,
//! watch and error flows against a real server: tests/python/client_flows.py.

mod common;

use std::process::Command;

use common::TestServer;

#[test]
fn python_kubernetes_client_flows() {
    let server = TestServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_flows.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(server.kubeconfig())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "client_flows.py failed (is the PyPI `kubernetes` package installed? `pip install kubernetes`):\n{stdout}{stderr}"
    );
}
