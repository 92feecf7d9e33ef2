//! The official Python `kubernetes` client (PyPI `kubernetes`, which CI
//! installs) runs its create/read/replace/patch/delete, selector, paging,
//! watch and error flows against a real server: tests/python/client_flows.py.

mod common;

use common::TestServer;

#[test]
fn python_kubernetes_client_flows() {
    let server = TestServer::start();
    server.run_python_flows("client_flows.py");
}
