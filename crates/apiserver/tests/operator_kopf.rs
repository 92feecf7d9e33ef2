//! An operator written with Python's kopf (PyPI `kopf`, which CI installs) reconciles its
//! custom resources against a real server: tests/python/kopf_flows.py runs
//! tests/python/kopf_greeter.py with `kopf run` and checks what it does.

mod common;

use common::TestServer;

#[test]
fn a_kopf_operator_reconciles_its_custom_resources() {
    let server = TestServer::start();
    server.run_python_flows("kopf_flows.py");
}
