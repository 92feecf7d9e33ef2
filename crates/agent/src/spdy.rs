//! SPDY/3.1 framing, the part kubelet's port-forward protocol uses: `kubectl
//! port-forward` speaks it raw after an `Upgrade: SPDY/3.1` handshake, or tunnelled
//! in the binary messages of a WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl
//! 1.31 and later). The client opens streams (SYN_STREAM, answered with SYN_REPLY),
//! both sides send DATA on them and half-close them with the FIN flag; PING is echoed.
//!
//! Header blocks form one zlib stream per direction over the whole session, made with
//! SPDY/3's preset dictionary ([`DICTIONARY`]): the client's are inflated with it, and
//! ours are sent as stored (uncompressed) deflate blocks, each followed by an empty
//! one as a sync flush is, which any inflater reads without the dictionary. Flow
//! control (WINDOW_UPDATE) is not enforced, as Go's spdystream, kubectl's side, does
//! not enforce it either.

use std::sync::{Arc, LazyLock};

use flate2::{Decompress, FlushDecompress};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

/// The FIN flag: the sender's half of the stream ends with this frame.
const FLAG_FIN: u8 = 0x01;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
/// RST_STREAM's status for a stream the receiver cannot take.
pub const PROTOCOL_ERROR: u32 = 1;
/// The largest header block accepted once inflated.
const MAX_HEADERS: usize = 1 << 20;

/// SPDY/3's header dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): each of these
/// words with its length as four big-endian bytes, then [`DICTIONARY_TAIL`].
const DICTIONARY_WORDS: [&str; 65] = [
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location",
    "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
    "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
    "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
    "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
    "public", "set-cookie", "keep-alive", "origin",
];
const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// The preset dictionary of every SPDY/3 header block.
pub static DICTIONARY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut out = Vec::with_capacity(1423);
    for word in DICTIONARY_WORDS {
        out.extend_from_slice(&(word.len() as u32).to_be_bytes());
        out.extend_from_slice(word.as_bytes());
    }
    out.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    out
});

/// A frame as the server needs it.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// The client opens a stream.
    SynStream { stream: u32, headers: Vec<(String, String)> },
    /// The client gives a stream up.
    RstStream { stream: u32 },
    Ping(u32),
    /// The client ends the session.
    GoAway,
    Data { stream: u32, fin: bool, data: Vec<u8> },
    /// SYN_REPLY, SETTINGS, HEADERS, WINDOW_UPDATE and types this server has no use for.
    Other,
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// The big-endian 32-bit word at `at` of a frame's body.
fn word(body: &[u8], at: usize) -> std::io::Result<u32> {
    body.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| invalid(format!("SPDY frame too short: {} bytes", body.len())))
}

/// Reads the client's frames.
pub struct Reader<R> {
    inner: R,
    inflate: Decompress,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub fn new(inner: R) -> Reader<R> {
        Reader { inner, inflate: Decompress::new(true) }
    }

    /// The next frame; `None` once the client has closed the connection.
    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        let mut head = [0u8; 8];
        match self.inner.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let flags = head[4];
        let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        let mut body = vec![0u8; len];
        self.inner.read_exact(&mut body).await?;
        if head[0] & 0x80 == 0 {
            let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
            return Ok(Some(Frame::Data { stream, fin: flags & FLAG_FIN != 0, data: body }));
        }
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != 3 {
            return Err(invalid(format!("SPDY version {version} is not served; use 3")));
        }
        let frame = match u16::from_be_bytes([head[2], head[3]]) {
            SYN_STREAM => {
                let stream = word(&body, 0)? & 0x7fff_ffff;
                let headers = self.headers(body.get(10..).unwrap_or_default())?;
                Frame::SynStream { stream, headers }
            }
            // Their header blocks are read all the same: the zlib stream runs through them.
            SYN_REPLY | HEADERS => {
                self.headers(body.get(4..).unwrap_or_default())?;
                Frame::Other
            }
            RST_STREAM => Frame::RstStream { stream: word(&body, 0)? & 0x7fff_ffff },
            PING => Frame::Ping(word(&body, 0)?),
            GOAWAY => Frame::GoAway,
            _ => Frame::Other,
        };
        Ok(Some(frame))
    }

    /// Inflates one header block and reads its name/value pairs.
    fn headers(&mut self, mut block: &[u8]) -> std::io::Result<Vec<(String, String)>> {
        let mut out = Vec::with_capacity(block.len() * 4 + 64);
        loop {
            if out.len() == out.capacity() {
                if out.len() >= MAX_HEADERS {
                    return Err(invalid("SPDY header block too large".into()));
                }
                out.reserve(out.len());
            }
            let before = self.inflate.total_in();
            let result = self.inflate.decompress_vec(block, &mut out, FlushDecompress::Sync);
            block = &block[(self.inflate.total_in() - before) as usize..];
            match result {
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(&DICTIONARY).map_err(|e| invalid(format!("SPDY header dictionary: {e}")))?;
                }
                Err(e) => return Err(invalid(format!("SPDY header block: {e}"))),
                Ok(_) if block.is_empty() && out.len() < out.capacity() => break,
                Ok(_) => {}
            }
        }
        parse_block(&out)
    }
}

/// The name/value pairs of an inflated header block (a value may hold several, NUL-separated).
fn parse_block(block: &[u8]) -> std::io::Result<Vec<(String, String)>> {
    let mut at = 4;
    let count = word(block, 0)?;
    let mut text = || -> std::io::Result<String> {
        let len = word(block, at)? as usize;
        let bytes = block.get(at + 4..at + 4 + len).ok_or_else(|| invalid("SPDY header block cut short".into()))?;
        at += 4 + len;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    };
    let mut pairs = Vec::new();
    for _ in 0..count {
        let name = text()?;
        let value = text()?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// A control frame of `kind` with `body`.
fn control(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&(0x8003u16).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

/// Writes the server's frames; clones share the connection.
pub struct Writer<W> {
    inner: Arc<Mutex<(W, bool)>>,
}

impl<W> Clone for Writer<W> {
    fn clone(&self) -> Self {
        Writer { inner: self.inner.clone() }
    }
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    pub fn new(inner: W) -> Writer<W> {
        Writer { inner: Arc::new(Mutex::new((inner, false))) }
    }

    async fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        let mut inner = self.inner.lock().await;
        inner.0.write_all(frame).await?;
        inner.0.flush().await
    }

    /// Accepts a stream the client opened (SYN_REPLY with no headers).
    pub async fn reply(&self, stream: u32) -> std::io::Result<()> {
        // The header block: zero pairs, as a stored deflate block; the zlib header
        // (no dictionary) goes before the session's first. Made and sent under one lock,
        // so the blocks reach the client in the order of the stream they belong to.
        let mut inner = self.inner.lock().await;
        let mut body = stream.to_be_bytes().to_vec();
        if !inner.1 {
            body.extend_from_slice(&[0x78, 0x01]);
            inner.1 = true;
        }
        let pairs = 0u32.to_be_bytes();
        body.push(0x00);
        body.extend_from_slice(&(pairs.len() as u16).to_le_bytes());
        body.extend_from_slice(&(!(pairs.len() as u16)).to_le_bytes());
        body.extend_from_slice(&pairs);
        // An empty stored block, as a sync flush ends with: Go's inflater hands out a
        // stored block's bytes only when the next block begins.
        body.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
        inner.0.write_all(&control(SYN_REPLY, 0, &body)).await?;
        inner.0.flush().await
    }

    /// `data` on `stream`; `fin` ends the server's half of it.
    pub async fn data(&self, stream: u32, data: &[u8], fin: bool) -> std::io::Result<()> {
        let mut frame = Vec::with_capacity(8 + data.len());
        frame.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        frame.push(if fin { FLAG_FIN } else { 0 });
        frame.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        frame.extend_from_slice(data);
        self.send(&frame).await
    }

    pub async fn reset(&self, stream: u32, status: u32) -> std::io::Result<()> {
        let mut body = stream.to_be_bytes().to_vec();
        body.extend_from_slice(&status.to_be_bytes());
        self.send(&control(RST_STREAM, 0, &body)).await
    }

    /// Echoes the client's PING.
    pub async fn ping(&self, id: u32) -> std::io::Result<()> {
        self.send(&control(PING, 0, &id.to_be_bytes())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    /// A header block as a client makes it: zlib with the dictionary, sync-flushed.
    fn client_block(z: &mut Compress, pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = (pairs.len() as u32).to_be_bytes().to_vec();
        for (name, value) in pairs {
            for text in [name, value] {
                raw.extend_from_slice(&(text.len() as u32).to_be_bytes());
                raw.extend_from_slice(text.as_bytes());
            }
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        z.compress_vec(&raw, &mut out, FlushCompress::Sync).unwrap();
        out
    }

    #[test]
    fn the_dictionary_is_spdy3s() {
        // Its length, and the Adler-32 that a client's zlib header names it by (DICTID).
        assert_eq!(DICTIONARY.len(), 1423);
        let mut z = Compress::new(Compression::best(), true);
        z.set_dictionary(&DICTIONARY).unwrap();
        let block = client_block(&mut z, &[]);
        assert_eq!(block[1] & 0x20, 0x20, "FDICT");
        assert_eq!(u32::from_be_bytes(block[2..6].try_into().unwrap()), 0xe3c6_a7c2);
    }

    #[tokio::test]
    async fn streams_opened_with_compressed_headers_are_read() {
        let mut z = Compress::new(Compression::best(), true);
        z.set_dictionary(&DICTIONARY).unwrap();
        let mut wire = Vec::new();
        for (stream, kind) in [(1u32, "error"), (3, "data")] {
            let mut body = stream.to_be_bytes().to_vec();
            body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            body.extend(client_block(&mut z, &[("port", "8080"), ("requestid", "0"), ("streamtype", kind)]));
            wire.extend(control(SYN_STREAM, 0, &body));
        }
        wire.extend(control(PING, 0, &1u32.to_be_bytes()));
        wire.extend_from_slice(&[0, 0, 0, 3, FLAG_FIN, 0, 0, 2, b'h', b'i']);
        let mut reader = Reader::new(&wire[..]);
        let pairs = |kind: &str| vec![("port".into(), "8080".into()), ("requestid".into(), "0".into()), ("streamtype".into(), kind.to_string())];
        assert_eq!(reader.next().await.unwrap(), Some(Frame::SynStream { stream: 1, headers: pairs("error") }));
        assert_eq!(reader.next().await.unwrap(), Some(Frame::SynStream { stream: 3, headers: pairs("data") }));
        assert_eq!(reader.next().await.unwrap(), Some(Frame::Ping(1)));
        assert_eq!(reader.next().await.unwrap(), Some(Frame::Data { stream: 3, fin: true, data: b"hi".to_vec() }));
        assert_eq!(reader.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn replies_inflate_without_the_dictionary() {
        let (client, server) = tokio::io::duplex(4096);
        let writer = Writer::new(server);
        writer.reply(1).await.unwrap();
        writer.reply(3).await.unwrap();
        drop(writer);
        let mut wire = Vec::new();
        let mut client = client;
        client.read_to_end(&mut wire).await.unwrap();
        // Two SYN_REPLY frames; their header blocks are one zlib stream.
        let mut z = Decompress::new(true);
        let mut at = 0;
        for stream in [1u32, 3] {
            assert_eq!(u16::from_be_bytes([wire[at + 2], wire[at + 3]]), SYN_REPLY);
            let len = u32::from_be_bytes([0, wire[at + 5], wire[at + 6], wire[at + 7]]) as usize;
            let body = &wire[at + 8..at + 8 + len];
            assert_eq!(word(body, 0).unwrap(), stream);
            let mut out = Vec::with_capacity(64);
            z.decompress_vec(&body[4..], &mut out, FlushDecompress::Sync).unwrap();
            assert_eq!(parse_block(&out).unwrap(), Vec::<(String, String)>::new());
            at += 8 + len;
        }
        assert_eq!(at, wire.len());
    }
}
