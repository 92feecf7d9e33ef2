//! The WebSocket protocol (RFC 6455), server side, as far as the streaming
//! subresources need it: the handshake's accept key, client frames read (masked,
//! possibly fragmented; pings answered by the caller), server frames written
//! (unmasked, one frame per message), and the Kubernetes channel protocols on top:
//! `v5.channel.k8s.io` and `v4.channel.k8s.io` (a message's first byte names its
//! channel: 0 stdin, 1 stdout, 2 stderr, 3 the error/status channel, 4 terminal resize;
//! v5 adds 255, a client closing one of its channels).

use std::sync::Arc;

use base64::Engine;
use sha1::Digest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

/// The subprotocols served, most preferred first.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
/// v5: the client closes the channel named in the next byte.
pub const CLOSE: u8 = 255;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// A client's message larger than this is refused (stdin chunks and resize events are small).
const MAX_MESSAGE: usize = 16 << 20;

/// The `Sec-WebSocket-Accept` answer to a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut hash = sha1::Sha1::new();
    hash.update(key.trim().as_bytes());
    hash.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(hash.finalize())
}

/// What the client sent.
#[derive(Debug, PartialEq)]
pub enum Message {
    /// A text or binary message's payload.
    Data(Vec<u8>),
    Ping(Vec<u8>),
    Close,
}

/// Reads the next message, joining fragments; `Close` at end of stream.
pub async fn read<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Message> {
    let mut message = Vec::new();
    loop {
        let mut head = [0u8; 2];
        if reader.read_exact(&mut head).await.is_err() {
            return Ok(Message::Close);
        }
        let fin = head[0] & 0x80 != 0;
        let opcode = head[0] & 0x0f;
        let masked = head[1] & 0x80 != 0;
        let len = match head[1] & 0x7f {
            126 => u64::from(reader.read_u16().await?),
            127 => reader.read_u64().await?,
            n => u64::from(n),
        };
        if len as usize > MAX_MESSAGE || message.len() + len as usize > MAX_MESSAGE {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "websocket message too large"));
        }
        let mut mask = [0u8; 4];
        if masked {
            reader.read_exact(&mut mask).await?;
        }
        let mut payload = vec![0u8; len as usize];
        reader.read_exact(&mut payload).await?;
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        match opcode {
            OP_CLOSE => return Ok(Message::Close),
            OP_PING => return Ok(Message::Ping(payload)),
            OP_PONG => continue,
            OP_TEXT | OP_BINARY | OP_CONTINUATION => {
                message.extend_from_slice(&payload);
                if fin {
                    return Ok(Message::Data(message));
                }
            }
            other => {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("unknown websocket opcode {other}")))
            }
        }
    }
}

fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// The server's half of a connection, shared by the tasks that write channels.
pub struct Writer<W> {
    inner: Arc<Mutex<W>>,
}

impl<W> Clone for Writer<W> {
    fn clone(&self) -> Self {
        Writer { inner: self.inner.clone() }
    }
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    pub fn new(inner: W) -> Writer<W> {
        Writer { inner: Arc::new(Mutex::new(inner)) }
    }

    async fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut inner = self.inner.lock().await;
        inner.write_all(bytes).await?;
        inner.flush().await
    }

    /// `data` on `channel` as one binary message.
    pub async fn channel(&self, channel: u8, data: &[u8]) -> std::io::Result<()> {
        let mut payload = Vec::with_capacity(data.len() + 1);
        payload.push(channel);
        payload.extend_from_slice(data);
        self.send(&frame(OP_BINARY, &payload)).await
    }

    /// A binary message with no channel byte (a tunnelled byte stream's next bytes).
    pub async fn binary(&self, data: &[u8]) -> std::io::Result<()> {
        self.send(&frame(OP_BINARY, data)).await
    }

    pub async fn pong(&self, data: &[u8]) -> std::io::Result<()> {
        self.send(&frame(OP_PONG, data)).await
    }

    /// A normal close (status 1000).
    pub async fn close(&self) -> std::io::Result<()> {
        self.send(&frame(OP_CLOSE, &1000u16.to_be_bytes())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_is_rfc_6455s_example() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[tokio::test]
    async fn masked_fragments_join_into_one_message_and_frames_read_back() {
        let mask = [1u8, 2, 3, 4];
        let masked = |fin: bool, op: u8, data: &[u8]| {
            let mut f = vec![if fin { 0x80 | op } else { op }, 0x80 | data.len() as u8];
            f.extend_from_slice(&mask);
            f.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            f
        };
        let mut input = masked(false, OP_BINARY, b"\x00hel");
        input.extend(masked(true, OP_CONTINUATION, b"lo"));
        input.extend(masked(true, OP_PING, b"p"));
        let mut reader = &input[..];
        assert_eq!(read(&mut reader).await.unwrap(), Message::Data(b"\x00hello".to_vec()));
        assert_eq!(read(&mut reader).await.unwrap(), Message::Ping(b"p".to_vec()));
        assert_eq!(read(&mut reader).await.unwrap(), Message::Close);
        let big = vec![7u8; 70_000];
        let mut reader = &frame(OP_BINARY, &big)[..];
        assert_eq!(read(&mut reader).await.unwrap(), Message::Data(big));
    }
}
