//! A pod's streaming subresources — `log`, `exec`, `attach`, `portforward` — forwarded to the agent
//! of the pod's node, as kube-apiserver forwards them to the kubelet: the container
//! is defaulted or checked here, the node's address and port come from its status
//! (`InternalIP`, `daemonEndpoints.kubeletEndpoint.Port`), the request goes over
//! HTTPS with the API server's kubelet client certificate, and the answer comes back
//! streamed — or, for an upgrade (WebSocket, or SPDY for port forwarding), the two
//! upgraded connections are spliced.

use std::sync::Arc;

use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;

use super::{crud, Ctx};
use crate::object::from_kv;
use crate::server::AppState;
use crate::status::{ApiError, ApiResult};

/// Headers an upgrade (WebSocket, or SPDY for port forwarding) carries to the agent.
const UPGRADE_HEADERS: [&str; 6] = [
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
];

/// The agent's serving certificate is self-signed (kubelet's default), so, as
/// kube-apiserver without `--kubelet-certificate-authority`, its chain is not checked;
/// the handshake's signatures still are. The agent authenticates us by our client
/// certificate.
#[derive(Debug)]
struct AnyAgentCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyAgentCertificate {
    fn verify_server_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client the API server reaches agents with.
pub fn connector(pki: &crate::tls::Pki) -> Result<tokio_rustls::TlsConnector, crate::tls::TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (certs, key) = pki.kubelet_client()?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyAgentCertificate(provider)))
        .with_client_auth_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The container a request means: the one named, or the pod's only one.
fn container_of(pod: &Value, name: &str, wanted: Option<&str>) -> ApiResult<String> {
    let names = |list: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    };
    let (containers, init) = (names("containers"), names("initContainers"));
    match wanted.filter(|w| !w.is_empty()) {
        Some(w) if containers.iter().chain(&init).any(|c| c == w) => Ok(w.to_string()),
        Some(w) => Err(ApiError::bad_request(format!("container {w} is not valid for pod {name}"))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut message = format!("a container name must be specified for pod {name}, choose one of: [{}]", containers.join(" "));
            if !init.is_empty() {
                message.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            Err(ApiError::bad_request(message))
        }
    }
}

/// The agent's address and port from the Node's status.
async fn agent_of(state: &AppState, node_name: &str) -> ApiResult<(String, u16)> {
    let nodes = tug_api::registry::find("", "v1", "nodes").ok_or_else(|| ApiError::internal("nodes are not served"))?;
    let kv = state
        .store
        .get(&nodes.key(None, node_name))
        .await?
        .ok_or_else(|| ApiError::not_found(nodes, node_name))?;
    let node = from_kv(nodes, &kv)?;
    let addresses = node.pointer("/status/addresses").and_then(Value::as_array).cloned().unwrap_or_default();
    let address = addresses
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .or_else(|| addresses.first())
        .and_then(|a| a["address"].as_str())
        .ok_or_else(|| ApiError::bad_request(format!("node {node_name} reports no address to reach its agent at")))?;
    let port = node.pointer("/status/daemonEndpoints/kubeletEndpoint/Port").and_then(Value::as_u64).unwrap_or(10250);
    Ok((address.to_string(), port as u16))
}

/// An HTTP/1 connection over TLS to the agent at `address:port`, made with the API
/// server's kubelet client certificate.
async fn dial(state: &AppState, address: &str, port: u16) -> ApiResult<hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>> {
    let dial_error = |e: &dyn std::fmt::Display| ApiError::internal(format!("error dialing backend: {address}:{port}: {e}"));
    let tcp = tokio::net::TcpStream::connect((address, port)).await.map_err(|e| dial_error(&e))?;
    let _ = tcp.set_nodelay(true);
    let server_name = ServerName::try_from(address.to_string()).map_err(|e| dial_error(&e))?;
    let tls = state.node_tls.connect(server_name, tcp).await.map_err(|e| dial_error(&e))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .map_err(|e| dial_error(&e))?;
    tokio::spawn(connection.with_upgrades());
    Ok(sender)
}

/// GETs `path` from the agent of `node_name` and reads the answer as JSON.
pub(super) async fn agent_json(state: &AppState, node_name: &str, path: &str) -> ApiResult<Value> {
    use http_body_util::BodyExt;
    let (address, port) = agent_of(state, node_name).await?;
    let failed = |e: &dyn std::fmt::Display| ApiError::internal(format!("GET {path} from the agent of node {node_name} ({address}:{port}): {e}"));
    let mut sender = dial(state, &address, port).await?;
    let request = hyper::Request::builder()
        .uri(path)
        .header(header::HOST, format!("{address}:{port}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| failed(&e))?;
    let response = sender.send_request(request).await.map_err(|e| failed(&e))?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|e| failed(&e))?.to_bytes();
    if !status.is_success() {
        return Err(failed(&format!("{status}: {}", String::from_utf8_lossy(&body))));
    }
    serde_json::from_slice(&body).map_err(|e| failed(&e))
}

/// Forwards `sub` of the pod in `ctx` to its node's agent.
pub async fn forward(ctx: &Ctx<'_>, method: &Method, sub: &str, raw_query: &str, client_upgrade: Option<OnUpgrade>) -> ApiResult<Response> {
    let pod = crud::get(ctx).await?;
    let name = ctx.target.name();
    let namespace = ctx.target.namespace.as_deref().unwrap_or("default");
    let container = match sub {
        "portforward" => None,
        _ => Some(container_of(&pod, name, ctx.query.get("container"))?),
    };
    let node_name = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("pod {name} does not have a host assigned")))?;
    let (address, port) = agent_of(ctx.state, node_name).await?;
    let uri = match (sub, container) {
        ("log", Some(container)) => format!("/containerLogs/{namespace}/{name}/{container}?{raw_query}"),
        (_, Some(container)) => format!("/{sub}/{namespace}/{name}/{container}?{raw_query}"),
        (_, None) => format!("/portForward/{namespace}/{name}?{raw_query}"),
    };
    let dial_error = |e: &dyn std::fmt::Display| ApiError::internal(format!("error dialing backend: {address}:{port}: {e}"));
    let mut sender = dial(ctx.state, &address, port).await?;
    let mut request = hyper::Request::builder().method(method.clone()).uri(&uri).header(header::HOST, format!("{address}:{port}"));
    let upgrading = client_upgrade.is_some() && ctx.headers.contains_key(header::UPGRADE);
    if upgrading {
        for name in UPGRADE_HEADERS {
            for value in ctx.headers.get_all(name) {
                request = request.header(name, value);
            }
        }
    }
    let request = request
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| ApiError::internal(format!("build the request to the agent: {e}")))?;
    let mut response = sender.send_request(request).await.map_err(|e| dial_error(&e))?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let (Some(client_upgrade), backend_upgrade) = (client_upgrade, hyper::upgrade::on(&mut response)) else {
            return Err(ApiError::internal("the agent switched protocols on a request that asked for none"));
        };
        tokio::spawn(async move {
            let (Ok(client), Ok(backend)) = (client_upgrade.await, backend_upgrade.await) else { return };
            let mut client = hyper_util::rt::TokioIo::new(client);
            let mut backend = hyper_util::rt::TokioIo::new(backend);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
        });
        let mut answer = Response::new(axum::body::Body::empty());
        *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        copy_headers(response.headers(), answer.headers_mut());
        return Ok(answer);
    }
    Ok(response.map(axum::body::Body::new))
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        to.append(name, value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_container_is_named_or_the_only_one() {
        let one = json!({"spec": {"containers": [{"name": "c"}]}});
        assert_eq!(container_of(&one, "p", None).unwrap(), "c");
        let two = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        assert_eq!(container_of(&two, "p", Some("i")).unwrap(), "i");
        let e = container_of(&two, "p", None).unwrap_err().to_status();
        assert_eq!(e["message"], "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]");
        let e = container_of(&two, "p", Some("x")).unwrap_err().to_status();
        assert_eq!(e["message"], "container x is not valid for pod p");
    }
}
