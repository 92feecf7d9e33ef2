//! One streaming session (exec or attach) over a WebSocket channel protocol: the
//! streams the client asked for, the client's input dispatched to the process
//! (stdin, terminal resizes, v5's stdin close), outputs copied onto their channels,
//! and the closing `Status` on the error channel as kubelet sends it.

use std::os::fd::{AsRawFd, OwnedFd};

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::websocket::{self, Message, Writer};

/// The streams of a session, from the query (`stdin`, `stdout`, `stderr`, `tty`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl Streams {
    pub fn parse(query: &[(String, String)]) -> Streams {
        let on = |name: &str| query.iter().any(|(k, v)| k == name && (v == "true" || v == "1" || v.is_empty()));
        let tty = on("tty");
        // A terminal merges stderr into stdout, as kubelet does.
        Streams { stdin: on("stdin"), stdout: on("stdout"), stderr: on("stderr") && !tty, tty }
    }
}

/// Where the client's input goes.
pub struct Input<S> {
    pub stdin: Option<S>,
    /// The terminal's master side, for resizes.
    pub terminal: Option<std::sync::Arc<OwnedFd>>,
}

/// Reads the client's messages until it closes the connection.
pub async fn pump_input<R, W, S>(mut reader: R, writer: Writer<W>, mut input: Input<S>, v5: bool)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    S: AsyncWrite + Unpin,
{
    loop {
        let message = match websocket::read(&mut reader).await {
            Ok(m) => m,
            Err(_) => Message::Close,
        };
        match message {
            Message::Close => return,
            Message::Ping(data) => {
                let _ = writer.pong(&data).await;
            }
            Message::Data(data) => match data.split_first() {
                Some((&websocket::STDIN, rest)) => {
                    if let Some(stdin) = input.stdin.as_mut() {
                        if stdin.write_all(rest).await.is_err() || stdin.flush().await.is_err() {
                            input.stdin = None;
                        }
                    }
                }
                Some((&websocket::RESIZE, rest)) => {
                    if let (Some(fd), Ok(size)) = (&input.terminal, serde_json::from_slice::<Value>(rest)) {
                        resize(fd, &size);
                    }
                }
                Some((&websocket::CLOSE, [websocket::STDIN])) if v5 => {
                    // The client's stdin ended: the process sees end of file.
                    if let Some(mut stdin) = input.stdin.take() {
                        let _ = stdin.shutdown().await;
                    }
                }
                _ => {}
            },
        }
    }
}

/// Sets the terminal's size from a resize message (`{"Width": w, "Height": h}`).
fn resize(fd: &OwnedFd, size: &Value) {
    let dimension = |key: &str| size.get(key).and_then(Value::as_u64).unwrap_or(0).min(u64::from(u16::MAX)) as u16;
    let winsize = libc::winsize { ws_row: dimension("Height"), ws_col: dimension("Width"), ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: fd is an open terminal master; winsize is a valid struct for TIOCSWINSZ.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &winsize) };
}

/// Copies `source` onto `channel` until end of file.
pub async fn pump_output<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(mut source: R, channel: u8, writer: Writer<W>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match source.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if writer.channel(channel, &buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The Status kubelet ends a session with: success, a non-zero exit code, or an error.
pub fn status(command: &[String], outcome: Result<i32, String>) -> Value {
    match outcome {
        Ok(0) => json!({"metadata": {}, "status": "Success"}),
        Ok(code) => json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command {command:?}, exit code {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Err(message) => json!({
            "metadata": {}, "status": "Failure",
            "message": message, "reason": "InternalError", "code": 500,
        }),
    }
}

/// Sends the closing Status and closes the connection.
pub async fn finish<W: AsyncWrite + Unpin>(writer: &Writer<W>, status: &Value) {
    let _ = writer.channel(websocket::ERROR, status.to_string().as_bytes()).await;
    let _ = writer.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_merges_stderr_and_exit_codes_are_causes() {
        let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let s = Streams::parse(&q(&[("stdout", "true"), ("stderr", "true"), ("tty", "true")]));
        assert!(s.stdout && !s.stderr && s.tty && !s.stdin);
        let failed = status(&["sh".into()], Ok(3));
        assert_eq!(failed["details"]["causes"][0], json!({"reason": "ExitCode", "message": "3"}));
        assert_eq!(status(&[], Ok(0))["status"], "Success");
    }
}
