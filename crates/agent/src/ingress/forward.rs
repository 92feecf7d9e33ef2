//! The ingress's data path: the HTTP and HTTPS listeners, and each request forwarded to
//! an endpoint of its route's backend over HTTP/1.1.
//!
//! Endpoints are tried round robin; one that refuses the connection (or does not answer
//! it in [`CONNECT_TIMEOUT`]) is skipped for the next, so a dead pod costs no failed
//! request while another endpoint lives. Connections to endpoints are kept for reuse.
//! The client's `X-Forwarded-*` headers are replaced by the proxy's own (it trusts no
//! one in front of it); hop-by-hop headers stop here, except an `Upgrade` (WebSocket),
//! whose connection becomes a byte pipe between client and endpoint after the `101`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use super::routes::{Table, Target};

type Body = BoxBody<Bytes, hyper::Error>;

/// How long an endpoint may take to accept a connection before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle connections kept per endpoint.
const IDLE_PER_ENDPOINT: usize = 32;

/// What every connection shares: the current route table and the idle connections.
#[derive(Default)]
pub struct Shared {
    pub table: RwLock<Arc<Table>>,
    idle: Mutex<HashMap<SocketAddr, Vec<SendRequest<Incoming>>>>,
}

impl Shared {
    fn table(&self) -> Arc<Table> {
        self.table.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// An idle connection to `addr` that can take a request now.
    fn idle(&self, addr: SocketAddr) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(&addr)?;
        list.retain(|c| !c.is_closed());
        let ready = list.iter().position(SendRequest::is_ready)?;
        Some(list.swap_remove(ready))
    }

    fn keep(&self, addr: SocketAddr, connection: SendRequest<Incoming>) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(addr).or_default();
            if list.len() >= IDLE_PER_ENDPOINT {
                list.remove(0);
            }
            list.push(connection);
        }
    }
}

/// The scheme and port a listener serves, for the `X-Forwarded-*` headers.
#[derive(Clone, Copy)]
struct Listener {
    scheme: &'static str,
    port: u16,
}

/// Binds `addr` (the error names the flag to change).
pub async fn bind(addr: SocketAddr, flag: &str) -> Result<TcpListener, crate::Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| crate::Error::Internal(format!("ingress: listen on {addr} ({flag}): {e}")))
}

/// Serves HTTP on `listener`, or HTTPS when `tls` is given, until the listener fails.
pub async fn serve(listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>, shared: Arc<Shared>) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let at = Listener { scheme, port };
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                eprintln!("tug agent: ingress: accept on port {port}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(forward(&shared, request, peer, at).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(tls) => {
                    let Ok(stream) = tls.accept(tcp).await else { return };
                    let _ = http.serve_connection(TokioIo::new(stream), service).with_upgrades().await;
                }
                None => {
                    let _ = http.serve_connection(TokioIo::new(tcp), service).with_upgrades().await;
                }
            }
        });
    }
}

/// A plain-text answer from the proxy itself.
fn answer(status: StatusCode, message: &str) -> Response<Body> {
    let body = format!("{} {}: {message}\n", status.as_u16(), status.canonical_reason().unwrap_or_default());
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// The host a request is for: the Host header (or the URI's), without its port.
fn host(request: &Request<Incoming>) -> Option<String> {
    let raw = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or(request.uri().host())?;
    let host = match raw.strip_prefix('[') {
        // An IPv6 literal: `[::1]:80`.
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => raw.rsplit_once(':').map_or(raw, |(host, _)| host),
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// Whether the request asks to switch protocols (`Connection: upgrade` and `Upgrade`).
fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
}

/// Removes the hop-by-hop headers (those named in `Connection` too); an upgrade keeps
/// `Upgrade` and `Connection: upgrade`.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [header::CONNECTION, header::TE, header::TRAILER, header::TRANSFER_ENCODING, header::PROXY_AUTHORIZATION, header::UPGRADE] {
        headers.remove(name);
    }
    for name in ["keep-alive", "proxy-connection"] {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// One request: route, pick an endpoint, forward, answer.
async fn forward(shared: &Shared, mut request: Request<Incoming>, peer: SocketAddr, at: Listener) -> Response<Body> {
    let host = host(&request);
    let table = shared.table();
    let Some(backend) = table.route(host.as_deref(), request.uri().path()) else {
        return answer(StatusCode::NOT_FOUND, &format!("no ingress rule for host {:?} and path {}", host.unwrap_or_default(), request.uri().path()));
    };
    if let Target::Unavailable(why) = &backend.target {
        return answer(StatusCode::SERVICE_UNAVAILABLE, why);
    }
    let upgrade = wants_upgrade(request.headers());
    let upgrade_value = request.headers().get(header::UPGRADE).cloned();
    let headers = request.headers_mut();
    strip_hop_by_hop(headers, upgrade);
    if let Some(value) = upgrade_value.filter(|_| upgrade) {
        headers.insert(header::UPGRADE, value);
    }
    let forwarded_host = headers.get(header::HOST).cloned();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set(headers, "x-forwarded-for", &peer.ip().to_string());
    set(headers, "x-real-ip", &peer.ip().to_string());
    set(headers, "x-forwarded-proto", at.scheme);
    set(headers, "x-forwarded-port", &at.port.to_string());
    match forwarded_host {
        Some(value) => {
            headers.insert(HeaderName::from_static("x-forwarded-host"), value);
        }
        None => {
            headers.remove("x-forwarded-host");
        }
    }
    // Endpoints get the origin form (`/path?query`).
    let origin = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if let Ok(uri) = origin.parse() {
        *request.uri_mut() = uri;
    }
    *request.version_mut() = hyper::Version::HTTP_11;
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));

    let mut request = Some(request);
    let mut response = None;
    for addr in backend.order() {
        let Some(outgoing) = request.take() else { break };
        // An idle connection the endpoint closed gives the request back unsent.
        let outgoing = match shared.idle(addr) {
            Some(mut idle) => match idle.try_send_request(outgoing).await {
                Ok(answer) => {
                    response = Some((addr, idle, answer));
                    break;
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) => unsent,
                    None => return answer(StatusCode::BAD_GATEWAY, &format!("endpoint {addr} of {}: {}", backend.name, e.into_error())),
                },
            },
            None => outgoing,
        };
        let mut connection = match connect(addr).await {
            Ok(connection) => connection,
            Err(e) => {
                eprintln!("tug agent: ingress: {} endpoint {addr}: {e}; trying the next", backend.name);
                request = Some(outgoing);
                continue;
            }
        };
        match connection.send_request(outgoing).await {
            Ok(answer) => {
                response = Some((addr, connection, answer));
                break;
            }
            Err(e) => return answer(StatusCode::BAD_GATEWAY, &format!("endpoint {addr} of {}: {e}", backend.name)),
        }
    }
    let Some((addr, connection, mut response)) = response else {
        return answer(StatusCode::BAD_GATEWAY, &format!("no endpoint of {} accepted a connection", backend.name));
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            let endpoint_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                let (Ok(client), Ok(endpoint)) = (client_upgrade.await, endpoint_upgrade.await) else { return };
                let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(endpoint)).await;
            });
        }
        return response.map(|b| b.boxed());
    }
    shared.keep(addr, connection);
    strip_hop_by_hop(response.headers_mut(), false);
    response.map(|b| b.boxed())
}

/// A new HTTP/1.1 connection to `addr`.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Incoming>, String> {
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("no answer in {} s", CONNECT_TIMEOUT.as_secs())),
    };
    let _ = tcp.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_stop_at_the_proxy_but_an_upgrade_passes() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, X-Secret, Upgrade"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(wants_upgrade(&headers));
        let mut plain = headers.clone();
        strip_hop_by_hop(&mut plain, false);
        assert_eq!(plain.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["accept"]);
        strip_hop_by_hop(&mut headers, true);
        assert_eq!(headers.get(header::CONNECTION).unwrap(), "upgrade");
        assert!(!headers.contains_key("x-secret"));
    }
}
