//! `portForward` over WebSocket (`v4.channel.k8s.io`, kubelet's WebSocket port-forward
//! protocol, as the Python client speaks it): for the i-th port of `?ports=`, channel
//! 2i carries data and 2i+1 errors; the server opens each channel with the port number
//! (two bytes, little-endian). Each port is one TCP connection to the pod's address,
//! made when the session opens; the session ends when they have all closed.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::websocket::{self, Message, Writer};

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
                let message = format!("error forwarding port {port} to pod {pod}: dial tcp {pod_ip}:{port}: connect: {e}");
                let _ = writer.channel(error, message.as_bytes()).await;
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
