//! `portForward`, kubelet's two protocols:
//!
//! - SPDY (`portforward.k8s.io`, what kubectl speaks: raw after `Upgrade: SPDY/3.1`, or
//!   tunnelled through a WebSocket as `SPDY/3.1+portforward.k8s.io`): for each local
//!   connection the client opens an `error` and a `data` stream with the same
//!   `requestid` and the pod's `port`; once both are open the agent connects to the
//!   pod and copies between it and the data stream. A failure is written on the error
//!   stream; both streams are closed when the pod's side ends.
//! - WebSocket `v4.channel.k8s.io` (the Python client's): for the i-th port of
//!   `?ports=`, channel 2i carries data and 2i+1 errors; the server opens each channel
//!   with the port number (two bytes, little-endian). Each port is one TCP connection
//!   to the pod's address, made when the session opens; the session ends when they
//!   have all closed.

use std::collections::HashMap;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use tokio::sync::mpsc;

use crate::spdy::{self, Frame};
use crate::websocket::{self, Message, Writer};

/// The SPDY sub-protocol of port forwarding (`X-Stream-Protocol-Version`).
pub const SPDY_PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket subprotocol kubectl tunnels SPDY port forwarding in.
pub const TUNNELLED: &str = "SPDY/3.1+portforward.k8s.io";

/// The ports asked for (`ports=8080,9090` or repeated `ports=`), or why they are wrong.
pub fn ports(query: &[(String, String)]) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for (_, value) in query.iter().filter(|(k, _)| k == "ports") {
        for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => return Err(format!("invalid port {p:?}: must be a number from 1 to 65535")),
            }
        }
    }
    if ports.is_empty() {
        return Err("query parameter \"port\" is required".into());
    }
    Ok(ports)
}

/// Forwards each port to `pod_ip` until every connection has closed or the client leaves.
pub async fn run<R, W>(mut reader: R, writer: Writer<W>, pod: &str, pod_ip: &str, ports: Vec<u16>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let (data, error) = ((2 * i) as u8, (2 * i + 1) as u8);
        let prefix = port.to_le_bytes();
        if writer.channel(data, &prefix).await.is_err() || writer.channel(error, &prefix).await.is_err() {
            return;
        }
        match tokio::net::TcpStream::connect((pod_ip, *port)).await {
            Ok(stream) => {
                let (mut from_pod, to_pod) = stream.into_split();
                inputs.push(Some(to_pod));
                let writer = writer.clone();
                outputs.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n) = from_pod.read(&mut buf).await {
                        if n == 0 || writer.channel(data, &buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }));
            }
            Err(e) => {
                inputs.push(None);
                let _ = writer.channel(error, dial_error(pod, pod_ip, *port, &e).as_bytes()).await;
            }
        }
    }
    let pumping = async {
        loop {
            match websocket::read(&mut reader).await {
                Ok(Message::Data(data)) => {
                    let Some((&channel, rest)) = data.split_first() else { continue };
                    let i = usize::from(channel / 2);
                    if channel % 2 == 0 {
                        if let Some(Some(to_pod)) = inputs.get_mut(i) {
                            if to_pod.write_all(rest).await.is_err() {
                                inputs[i] = None;
                            }
                        }
                    }
                }
                Ok(Message::Ping(data)) => {
                    let _ = writer.pong(&data).await;
                }
                Ok(Message::Close) | Err(_) => return,
            }
        }
    };
    let all_closed = async {
        for output in outputs {
            let _ = output.await;
        }
    };
    tokio::select! {
        _ = pumping => {}
        _ = all_closed => {}
    }
    let _ = writer.close().await;
}

fn dial_error(pod: &str, pod_ip: &str, port: u16, e: &std::io::Error) -> String {
    format!("error forwarding port {port} to pod {pod}: dial tcp {pod_ip}:{port}: connect: {e}")
}

/// The two streams of one forwarded connection, as they are opened.
#[derive(Default)]
struct Pair {
    data: Option<u32>,
    error: Option<u32>,
    port: String,
}

/// Serves kubectl's SPDY port-forward session on `connection` until the client leaves.
pub async fn run_spdy<S>(connection: S, pod: &str, pod_ip: &str)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = tokio::io::split(connection);
    let mut frames = spdy::Reader::new(reader);
    let writer = spdy::Writer::new(writer);
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    // What the client sends on each data stream, to its connection's task (None: FIN).
    let mut inputs: HashMap<u32, mpsc::Sender<Option<Vec<u8>>>> = HashMap::new();
    while let Ok(Some(frame)) = frames.next().await {
        match frame {
            Frame::SynStream { stream, headers } => {
                let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).unwrap_or_default();
                let kind = header("streamtype");
                if kind != "error" && kind != "data" {
                    let _ = writer.reset(stream, spdy::PROTOCOL_ERROR).await;
                    continue;
                }
                let request = header("requestid");
                let pair = pairs.entry(request.clone()).or_default();
                if kind == "error" {
                    pair.error = Some(stream);
                } else {
                    pair.data = Some(stream);
                }
                pair.port = header("port");
                if writer.reply(stream).await.is_err() {
                    break;
                }
                if pair.data.is_none() || pair.error.is_none() {
                    continue;
                }
                if let Some(Pair { data: Some(data), error: Some(error), port }) = pairs.remove(&request) {
                    let (tx, rx) = mpsc::channel(64);
                    inputs.insert(data, tx);
                    let streams = Streams { writer: writer.clone(), data, error };
                    tokio::spawn(forward(streams, pod.to_string(), pod_ip.to_string(), port, rx));
                }
            }
            Frame::Data { stream, fin, data } => {
                if let Some(input) = inputs.get(&stream) {
                    if (!data.is_empty() && input.send(Some(data)).await.is_err()) || fin {
                        if let Some(input) = inputs.remove(&stream) {
                            let _ = input.send(None).await;
                        }
                    }
                }
            }
            Frame::RstStream { stream } => {
                inputs.remove(&stream);
            }
            Frame::Ping(id) => {
                if writer.ping(id).await.is_err() {
                    break;
                }
            }
            Frame::GoAway => break,
            Frame::Other => {}
        }
    }
}

/// The streams of one forwarded connection.
struct Streams<W> {
    writer: spdy::Writer<W>,
    data: u32,
    error: u32,
}

/// One forwarded connection: the pod's `port` and the data stream copied into each
/// other until the pod's side ends (and the client's, or a second more); then both
/// streams are closed.
async fn forward<W>(streams: Streams<W>, pod: String, pod_ip: String, port: String, mut input: mpsc::Receiver<Option<Vec<u8>>>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Streams { writer, data, error } = streams;
    let connected = match port.parse::<u16>() {
        Ok(n) if n > 0 => tokio::net::TcpStream::connect((pod_ip.as_str(), n)).await.map_err(|e| dial_error(&pod, &pod_ip, n, &e)),
        _ => Err(format!("invalid port {port:?} for pod {pod}: must be a number from 1 to 65535")),
    };
    match connected {
        Err(message) => {
            let _ = writer.data(error, message.as_bytes(), true).await;
            let _ = writer.data(data, &[], true).await;
        }
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            let (mut from_pod, mut to_pod) = stream.into_split();
            let upstream = async {
                while let Some(Some(bytes)) = input.recv().await {
                    if to_pod.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                let _ = to_pod.shutdown().await;
            };
            let downstream = async {
                let mut buf = vec![0u8; 32 * 1024];
                while let Ok(n) = from_pod.read(&mut buf).await {
                    if n == 0 || writer.data(data, &buf[..n], false).await.is_err() {
                        break;
                    }
                }
                let _ = writer.data(data, &[], true).await;
            };
            // Once the pod has closed its side, the client has a second to finish
            // sending (kubectl closes its half only when its local peer does).
            tokio::pin!(upstream, downstream);
            tokio::select! {
                _ = &mut upstream => downstream.await,
                _ = &mut downstream => {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), upstream).await;
                }
            }
            let _ = writer.data(error, &[], true).await;
        }
    }
}

/// The byte stream carried in a WebSocket's binary messages (kubectl tunnels SPDY so),
/// as a stream of its own; pings are answered, and a close ends it.
pub fn tunnel<R, W>(mut reader: R, writer: Writer<W>) -> tokio::io::DuplexStream
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (mut from_session, mut to_session) = tokio::io::split(theirs);
    let pongs = writer.clone();
    tokio::spawn(async move {
        loop {
            match websocket::read(&mut reader).await {
                Ok(Message::Data(bytes)) => {
                    if to_session.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Ok(Message::Ping(payload)) => {
                    let _ = pongs.pong(&payload).await;
                }
                Ok(Message::Close) | Err(_) => break,
            }
        }
        let _ = to_session.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from_session.read(&mut buf).await {
            if n == 0 || writer.binary(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = writer.close().await;
    });
    ours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_parsed_in_order_and_checked() {
        let q = |v: &str| vec![("ports".to_string(), v.to_string())];
        assert_eq!(ports(&q("8080,9090")), Ok(vec![8080, 9090]));
        assert_eq!(ports(&q("http")), Err("invalid port \"http\": must be a number from 1 to 65535".into()));
        assert_eq!(ports(&[]), Err("query parameter \"port\" is required".into()));
    }
}
