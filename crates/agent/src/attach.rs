//! `attach`: the running container's own streams over a WebSocket session. Its
//! output is followed from its CRI log (from now on, each line on the channel of the
//! stream that wrote it); its input, for a container with `stdin: true`, goes into the
//! FIFO its supervisor gave the container as standard input ([`crate::shim`]).
//! The session ends when that attempt of the container ends.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::cri_log;
use crate::pods;
use crate::session::{self, Input, Streams};
use crate::websocket::{self, Writer};

const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// The attempt of a container being attached to.
pub struct Target {
    pub pod_dir: PathBuf,
    pub container: String,
    pub attempt: u32,
    /// The FIFO the container reads its standard input from, if it has one.
    pub stdin: Option<PathBuf>,
}

/// Follows the container's output and feeds its input until it ends or the client leaves.
pub async fn run<R, W>(reader: R, writer: Writer<W>, v5: bool, target: Target, streams: Streams)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let stdin = match (&target.stdin, streams.stdin) {
        (Some(fifo), true) => tokio::fs::OpenOptions::new().write(true).open(fifo).await.ok(),
        _ => None,
    };
    let input = tokio::spawn(session::pump_input(reader, writer.clone(), Input { stdin, terminal: None }, v5));
    let log = pods::log_path(&target.pod_dir, &target.container, target.attempt);
    let mut offset = std::fs::metadata(&log).map_or(0, |m| m.len());
    loop {
        let ended = pods::attempts(&target.pod_dir, &target.container)
            .iter()
            .find(|a| a.number == target.attempt)
            .is_none_or(|a| a.exit_code().is_some());
        let mut fresh = String::new();
        if let Ok(mut file) = std::fs::File::open(&log) {
            if file.seek(SeekFrom::Start(offset)).is_ok() {
                let _ = file.read_to_string(&mut fresh);
            }
        }
        let complete = fresh.rfind('\n').map_or(0, |i| i + 1);
        offset += complete as u64;
        for (_, stream, full, text) in fresh[..complete].lines().filter_map(cri_log::parse) {
            let channel = if stream == "stderr" && !streams.tty { websocket::STDERR } else { websocket::STDOUT };
            let wanted = if channel == websocket::STDERR { streams.stderr } else { streams.stdout };
            if !wanted {
                continue;
            }
            let mut data = text.as_bytes().to_vec();
            if full {
                data.push(b'\n');
            }
            if writer.channel(channel, &data).await.is_err() {
                input.abort();
                return;
            }
        }
        if ended && complete == 0 {
            break;
        }
        if input.is_finished() {
            // The client left.
            return;
        }
        if complete == 0 {
            tokio::time::sleep(FOLLOW_EVERY).await;
        }
    }
    input.abort();
    session::finish(&writer, &session::status(&[], Ok(0))).await;
}
