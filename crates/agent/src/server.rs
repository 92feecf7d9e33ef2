//! The agent's HTTPS endpoint (kubelet's port 10250), where the API server forwards
//! pods' `log`, `exec` and `attach` subresources: `/containerLogs/<ns>/<pod>/<container>`,
//! `/exec/<ns>/<pod>/<container>?command=…`, `/attach/<ns>/<pod>/<container>`,
//! `/portForward/<ns>/<pod>[?ports=…]` (WebSocket, or SPDY for port forwarding), and
//! the node's and its containers' resource usage at `/stats/summary` (`stats`), and the
//! custom metrics scraped from its pods at `/stats/custom` (`scrape`).
//!
//! Security as kubelet's with `--anonymous-auth=false` and webhook authorization:
//! the TLS handshake requires a client certificate signed by the cluster CA (the API
//! server presents one), and each request is authorized by a SubjectAccessReview for
//! the certificate's user and groups on `nodes/proxy` of this node (`get` for GET,
//! `create` for POST; `nodes/stats` for `/stats/…`, as kubelet's). The serving certificate is self-signed at start, as kubelet's
//! default is.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use tokio::sync::mpsc;

use crate::pods::{self, Node};
use crate::session::Streams;
use crate::websocket::{self, Writer};
use crate::stats::{self, Stats};
use crate::{attach, exec, logs, portforward, Error};

type Body = BoxBody<Bytes, Infallible>;

/// Who is asking: the client certificate's common name and organizations.
#[derive(Debug, Clone)]
struct Identity {
    user: String,
    groups: Vec<String>,
}

fn identity(der: &CertificateDer<'_>) -> Option<Identity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let subject = cert.subject();
    let user = subject.iter_common_name().next()?.as_str().ok()?.to_string();
    let groups = subject.iter_organization().filter_map(|o| o.as_str().ok().map(str::to_string)).collect();
    Some(Identity { user, groups })
}

/// The TLS configuration: a fresh self-signed serving certificate; client certificates
/// required and verified against `client_ca`.
fn tls_config(node: &Node) -> Result<rustls::ServerConfig, Error> {
    let internal = |what: &str, e: &dyn std::fmt::Display| Error::Internal(format!("agent server: {what}: {e}"));
    let mut names = vec![node.options.node_name.clone(), "localhost".to_string()];
    names.push(node.options.node_ip.to_string());
    let key = rcgen::KeyPair::generate().map_err(|e| internal("generate a key", &e))?;
    let params = rcgen::CertificateParams::new(names).map_err(|e| internal("certificate names", &e))?;
    let cert = params.self_signed(&key).map_err(|e| internal("sign the serving certificate", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for der in &node.options.client_ca {
        roots.add(CertificateDer::from(der.clone())).map_err(|e| internal("the client CA", &e))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| internal("the client CA", &e))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| internal("TLS versions", &e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert.der().clone()], key)
        .map_err(|e| internal("the serving certificate", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves until the listener fails.
pub async fn serve(node: Arc<Node>, usage: Arc<Stats>) -> Result<(), Error> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(&node)?));
    let addr = SocketAddr::from(([0, 0, 0, 0], node.options.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Internal(format!("listen on {addr} (--agent-port): {e}")))?;
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let node = node.clone();
        let usage = usage.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else { return };
            let who = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(identity);
            let service = hyper::service::service_fn(move |request| {
                let node = node.clone();
                let usage = usage.clone();
                let who = who.clone();
                async move { Ok::<_, Infallible>(handle(node, usage, who, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")));
    response
}

/// A `metav1.Status` failure.
fn failure(status: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": status.as_u16(),
    });
    full(status, "application/json", body.to_string())
}

fn bad_request(message: &str) -> Response<Body> {
    failure(StatusCode::BAD_REQUEST, "BadRequest", message)
}

async fn authorized(node: &Node, who: &Identity, verb: &str, subresource: &str) -> Result<bool, kube::Error> {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(who.user.clone()),
            groups: Some(who.groups.clone()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_string()),
                resource: Some("nodes".into()),
                subresource: Some(subresource.into()),
                name: Some(node.options.node_name.clone()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let reviews: Api<SubjectAccessReview> = Api::all(node.client.clone());
    let answer = reviews.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

fn query_pairs(request: &Request<Incoming>) -> Vec<(String, String)> {
    form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes()).into_owned().collect()
}

async fn handle(node: Arc<Node>, usage: Arc<Stats>, who: Option<Identity>, request: Request<Incoming>) -> Response<Body> {
    let Some(who) = who else {
        return failure(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    };
    let verb = if request.method() == Method::POST { "create" } else { "get" };
    let subresource = if request.uri().path().starts_with("/stats/") { "stats" } else { "proxy" };
    match authorized(&node, &who, verb, subresource).await {
        Ok(true) => {}
        Ok(false) => {
            let message = format!("Forbidden (user={}, verb={verb}, resource=nodes, subresource={subresource})", who.user);
            return failure(StatusCode::FORBIDDEN, "Forbidden", &message);
        }
        Err(e) => return failure(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &format!("failed to authorize the request: {e}")),
    }
    let path: Vec<String> = request.uri().path().trim_matches('/').split('/').map(str::to_string).collect();
    match path.as_slice() {
        [kind, ns, pod, container] if kind == "containerLogs" => container_logs(&node, ns, pod, container, &query_pairs(&request)).await,
        [kind, ns, pod, container] if kind == "exec" || kind == "attach" => {
            let kind = kind.clone();
            stream(&node, &kind, ns, pod, container, request).await
        }
        [kind, ns, pod] if kind == "portForward" => port_forward(&node, ns, pod, request).await,
        [kind, what] if kind == "stats" && what == "summary" => {
            full(StatusCode::OK, "application/json", stats::summary(&node.options.node_name, &usage).to_string())
        }
        [kind, what] if kind == "stats" && what == "custom" => full(StatusCode::OK, "application/json", usage.scrapes.document().to_string()),
        _ => failure(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource"),
    }
}

/// The pod (bound to this node) and its directory, or the answer saying why not.
async fn find_pod(node: &Node, ns: &str, name: &str, container: Option<&str>) -> Result<(Pod, std::path::PathBuf), Response<Body>> {
    let pods: Api<Pod> = Api::namespaced(node.client.clone(), ns);
    let pod = match pods.get_opt(name).await {
        Ok(Some(pod)) => pod,
        Ok(None) => return Err(failure(StatusCode::NOT_FOUND, "NotFound", &format!("pods \"{name}\" not found"))),
        Err(e) => return Err(failure(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &format!("failed to get pod {ns}/{name}: {e}"))),
    };
    let spec = pod.spec.clone().unwrap_or_default();
    if spec.node_name.as_deref() != Some(node.options.node_name.as_str()) {
        return Err(failure(StatusCode::NOT_FOUND, "NotFound", &format!("pod {ns}/{name} does not run on node {}", node.options.node_name)));
    }
    if let Some(container) = container {
        let known = spec.containers.iter().chain(spec.init_containers.iter().flatten()).any(|c| c.name == container);
        if !known {
            return Err(bad_request(&format!("container {container} is not valid for pod {name}")));
        }
    }
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let dir = node.pod_dir(&uid);
    Ok((pod, dir))
}

async fn container_logs(node: &Node, ns: &str, name: &str, container: &str, query: &[(String, String)]) -> Response<Body> {
    let options = match logs::Options::parse(query) {
        Ok(o) => o,
        Err(message) => return bad_request(&message),
    };
    let pod_dir = match find_pod(node, ns, name, Some(container)).await {
        Ok((_, dir)) => dir,
        Err(response) => return response,
    };
    let (attempt, path) = match logs::pick(&pod_dir, name, container, options.previous) {
        Ok(found) => found,
        Err(logs::LogError(message)) => return bad_request(&message),
    };
    let (tx, rx) = mpsc::channel::<Vec<u8>>(16);
    tokio::spawn(logs::stream(pod_dir, container.to_string(), attempt.number, path, options, tx));
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, Infallible>(Frame::data(Bytes::from(chunk))), rx))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// `exec` or `attach`: the WebSocket handshake answered, the session run on the upgraded connection.
async fn stream(node: &Arc<Node>, kind: &str, ns: &str, name: &str, container: &str, mut request: Request<Incoming>) -> Response<Body> {
    let query = query_pairs(&request);
    let streams = Streams::parse(&query);
    // The pod and container first: a client falling back to SPDY after a refused
    // WebSocket upgrade gets the same reason again.
    let (pod, pod_dir) = match find_pod(node, ns, name, Some(container)).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let Some(running) = pods::attempts(&pod_dir, container).into_iter().rev().find(pods::Attempt::running) else {
        return bad_request(&format!("container {container} is not running in pod {ns}/{name}"));
    };
    let (key, protocol) = match handshake(kind, request.headers(), &websocket::PROTOCOLS) {
        Ok(h) => h,
        Err(message) => return bad_request(&message),
    };
    let command: Vec<String> = query.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.clone()).collect();
    if kind == "exec" && command.is_empty() {
        return bad_request("you must specify at least 1 command");
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    let node = node.clone();
    let kind = kind.to_string();
    let container = container.to_string();
    let v5 = protocol == websocket::PROTOCOLS[0];
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let (reader, writer) = tokio::io::split(hyper_util::rt::TokioIo::new(upgraded));
        let writer = Writer::new(writer);
        if kind == "exec" {
            let id = pods::runtime_id(&uid, &container, running.number);
            let request = exec::Request { exe: &node.options.sandbox_exe, runtime_root: &node.runtime_root, id, command, streams };
            exec::run(reader, writer, v5, request).await;
        } else {
            let fifo = pods::stdin_fifo(&pod_dir, &container, running.number);
            let target = attach::Target { pod_dir, container, attempt: running.number, stdin: fifo.exists().then_some(fifo) };
            attach::run(reader, writer, v5, target, streams).await;
        }
    });
    switching(&key, protocol)
}

/// The client's WebSocket key and the subprotocol chosen from `served`, or why not (a 400).
fn handshake(kind: &str, headers: &hyper::HeaderMap, served: &[&'static str]) -> Result<(String, &'static str), String> {
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let key = header(header::SEC_WEBSOCKET_KEY);
    if !header(header::UPGRADE).eq_ignore_ascii_case("websocket") || key.is_empty() {
        return Err(format!("{kind} needs a WebSocket upgrade with one of the subprotocols {}", served.join(", ")));
    }
    let offered = header(header::SEC_WEBSOCKET_PROTOCOL);
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    match served.iter().find(|p| offered.contains(p)) {
        Some(protocol) => Ok((key, protocol)),
        None => Err(format!("{kind}: none of the offered WebSocket subprotocols is served; use one of {}", served.join(", "))),
    }
}

/// The 101 answer to a WebSocket handshake.
fn switching(key: &str, protocol: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()).boxed());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&websocket::accept_key(key)) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    response
}

/// `portForward`: kubectl's SPDY (raw after `Upgrade: SPDY/3.1`, or tunnelled in a
/// WebSocket) or the Python client's WebSocket `v4.channel.k8s.io` with `?ports=`.
async fn port_forward(node: &Node, ns: &str, name: &str, mut request: Request<Incoming>) -> Response<Body> {
    let pod = match find_pod(node, ns, name, None).await {
        Ok((pod, _)) => pod,
        Err(response) => return response,
    };
    let Some(pod_ip) = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).filter(|ip| !ip.is_empty()) else {
        return bad_request(&format!("pod {ns}/{name} has no address yet"));
    };
    let pod_name = format!("{ns}/{name}");
    let headers = request.headers();
    let upgrade = headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if upgrade.eq_ignore_ascii_case("SPDY/3.1") {
        let offered = headers.get_all("x-stream-protocol-version").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|p| p.trim() == portforward::SPDY_PROTOCOL);
        if !offered {
            return bad_request(&format!("portforward over SPDY needs X-Stream-Protocol-Version: {}", portforward::SPDY_PROTOCOL));
        }
        let on_upgrade = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else { return };
            portforward::run_spdy(hyper_util::rt::TokioIo::new(upgraded), &pod_name, &pod_ip).await;
        });
        let mut response = Response::new(Full::new(Bytes::new()).boxed());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        headers.insert("x-stream-protocol-version", HeaderValue::from_static(portforward::SPDY_PROTOCOL));
        return response;
    }
    let (key, protocol) = match handshake("portforward", headers, &[portforward::TUNNELLED, websocket::PROTOCOLS[1]]) {
        Ok(h) => h,
        Err(message) => return bad_request(&message),
    };
    let ports = if protocol == portforward::TUNNELLED {
        Vec::new()
    } else {
        match portforward::ports(&query_pairs(&request)) {
            Ok(p) => p,
            Err(message) => return bad_request(&message),
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let (reader, writer) = tokio::io::split(hyper_util::rt::TokioIo::new(upgraded));
        if protocol == portforward::TUNNELLED {
            portforward::run_spdy(portforward::tunnel(reader, Writer::new(writer)), &pod_name, &pod_ip).await;
        } else {
            portforward::run(reader, Writer::new(writer), &pod_name, &pod_ip, ports).await;
        }
    });
    switching(&key, protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_preferred_offered_subprotocol_is_chosen() {
        let mut headers = hyper::HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="));
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("v4.channel.k8s.io, v5.channel.k8s.io"));
        let (_, protocol) = handshake("exec", &headers, &websocket::PROTOCOLS).unwrap();
        assert_eq!(protocol, "v5.channel.k8s.io");
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("SPDY/3.1+portforward.k8s.io"));
        let refused = handshake("portforward", &headers, &[websocket::PROTOCOLS[1]]).unwrap_err();
        assert_eq!(refused, "portforward: none of the offered WebSocket subprotocols is served; use one of v4.channel.k8s.io");
        headers.remove(header::UPGRADE);
        assert!(handshake("exec", &headers, &websocket::PROTOCOLS).is_err(), "SPDY or plain requests are refused");
    }
}
