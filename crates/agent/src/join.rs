//! Joining a cluster with a bootstrap token: the agent asks the API server (trusted by
//! the cluster CA given to it, never on first use) for its node's credentials at
//! `POST /tug/v1/node-credentials`, authenticated by the token, and gets a kubeconfig
//! with a client certificate for `system:node:<name>` in `system:nodes`.

use kube::Client;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::Error;

/// The kubeconfig of node `node_name`, from the server at `server` trusted by `ca_pem`.
pub async fn join(server: &str, token: &str, ca_pem: &[u8], node_name: &str) -> Result<String, Error> {
    let uri: http::Uri = server.parse().map_err(|e| Error::Internal(format!("--server {server:?} is not a URL: {e}")))?;
    let roots: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(ca_pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Internal(format!("the cluster CA is not PEM certificates: {e}")))?;
    if roots.is_empty() {
        return Err(Error::Internal("the cluster CA file holds no certificate".into()));
    }
    let mut config = kube::Config::new(uri);
    config.root_cert = Some(roots);
    config.auth_info.token = Some(token.to_string().into());
    let client = Client::try_from(config).map_err(|e| Error::api(format!("reach {server}"), e))?;
    let body = serde_json::json!({"nodeName": node_name}).to_string().into_bytes();
    let request = http::Request::post("/tug/v1/node-credentials")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| Error::Internal(format!("build the join request: {e}")))?;
    client
        .request_text(request)
        .await
        .map_err(|e| Error::api(format!("join {server} as node {node_name} with the bootstrap token"), e))
}
