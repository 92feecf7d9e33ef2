//! `containerLogs`: a container's CRI log file read back as `kubectl logs` shows it,
//! with kubelet's options: `previous` (the attempt before the current one),
//! `tailLines`, `sinceSeconds`/`sinceTime`, `timestamps`, `limitBytes`, and `follow`
//! (new lines as they are written, until that attempt of the container ends).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use tokio::sync::mpsc;

use crate::cri_log;
use crate::pods::{self, Attempt};

/// How often a followed log is looked at for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// What the client asked for.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<usize>,
    pub since: Option<Timestamp>,
    pub limit_bytes: Option<usize>,
}

impl Options {
    /// From the query parameters kubelet takes (and the API server passes on).
    pub fn parse(query: &[(String, String)]) -> Result<Options, String> {
        let mut options = Options::default();
        for (key, value) in query {
            let flag = || value.is_empty() || value == "true" || value == "1";
            let number = |name: &str| value.parse::<i64>().map_err(|_| format!("{name}: invalid value {value:?}: must be an integer"));
            match key.as_str() {
                "follow" => options.follow = flag(),
                "previous" => options.previous = flag(),
                "timestamps" => options.timestamps = flag(),
                "tailLines" => options.tail_lines = Some(number("tailLines")?.max(0) as usize),
                "limitBytes" => {
                    let n = number("limitBytes")?;
                    if n < 1 {
                        return Err(format!("limitBytes: Invalid value: {n}: must be greater than 0"));
                    }
                    options.limit_bytes = Some(n as usize);
                }
                "sinceSeconds" => {
                    let n = number("sinceSeconds")?;
                    if n < 1 {
                        return Err(format!("sinceSeconds: Invalid value: {n}: must be greater than 0"));
                    }
                    options.since = Timestamp::now().checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(n)).ok();
                }
                "sinceTime" => {
                    options.since = Some(value.parse().map_err(|_| format!("sinceTime: invalid value {value:?}: must be an RFC 3339 time"))?);
                }
                _ => {}
            }
        }
        Ok(options)
    }
}

/// Why no log can be shown, in kubelet's words (a 400 on the API).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LogError(pub String);

/// The attempt whose log is wanted: the latest one that started, or the one before it.
pub fn pick(pod_dir: &Path, pod: &str, container: &str, previous: bool) -> Result<(Attempt, PathBuf), LogError> {
    let started: Vec<Attempt> = pods::attempts(pod_dir, container)
        .into_iter()
        .filter(|a| pods::log_path(pod_dir, container, a.number).exists())
        .collect();
    let chosen = if previous { started.len().checked_sub(2).map(|i| &started[i]) } else { started.last() };
    match chosen {
        Some(a) => Ok((a.clone(), pods::log_path(pod_dir, container, a.number))),
        None if previous => Err(LogError(format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"))),
        None => Err(LogError(format!("container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"))),
    }
}

/// Formats whole CRI entries per the options; `None` for an entry left out.
fn entry(line: &str, options: &Options) -> Option<Vec<u8>> {
    let (time, _stream, full, text) = cri_log::parse(line)?;
    if let Some(since) = options.since {
        if time.parse::<Timestamp>().is_ok_and(|t| t < since) {
            return None;
        }
    }
    let mut out = Vec::with_capacity(text.len() + 40);
    if options.timestamps {
        out.extend_from_slice(time.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(text.as_bytes());
    if full {
        out.push(b'\n');
    }
    Some(out)
}

/// Streams the log of `attempt` into `tx` (ends when the client goes away, or, when
/// following, when that attempt of the container has ended and its log is drained).
pub async fn stream(pod_dir: PathBuf, container: String, attempt: u32, path: PathBuf, options: Options, tx: mpsc::Sender<Vec<u8>>) {
    let mut budget = options.limit_bytes.unwrap_or(usize::MAX);
    let mut send = async |mut chunk: Vec<u8>| -> bool {
        if chunk.is_empty() {
            return true;
        }
        if chunk.len() > budget {
            chunk.truncate(budget);
        }
        budget -= chunk.len();
        tx.send(chunk).await.is_ok() && budget > 0
    };
    let Ok(mut file) = std::fs::File::open(&path) else { return };
    let mut data = String::new();
    if file.read_to_string(&mut data).is_err() {
        return;
    }
    // Only whole lines of the file count; a line still being written waits for the next read.
    let complete = data.rfind('\n').map_or(0, |i| i + 1);
    let mut entries: Vec<Vec<u8>> = data[..complete].lines().filter_map(|l| entry(l, &options)).collect();
    if let Some(n) = options.tail_lines {
        entries.drain(..entries.len().saturating_sub(n));
    }
    if !send(entries.concat()).await || !options.follow {
        return;
    }
    let mut offset = complete as u64;
    loop {
        let ended = pods::attempts(&pod_dir, &container)
            .iter()
            .find(|a| a.number == attempt)
            .is_none_or(|a| a.exit_code().is_some());
        let mut fresh = String::new();
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = file.read_to_string(&mut fresh);
        }
        let complete = fresh.rfind('\n').map_or(0, |i| i + 1);
        offset += complete as u64;
        let chunk: Vec<u8> = fresh[..complete].lines().filter_map(|l| entry(l, &options)).flatten().collect();
        if !send(chunk).await {
            return;
        }
        if ended && complete == 0 {
            return;
        }
        if complete == 0 {
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_EVERY) => {}
                _ = tx.closed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_partial_lines_and_add_timestamps() {
        let options = Options { timestamps: true, ..Options::default() };
        assert_eq!(entry("2026-01-01T00:00:00.5Z stdout F hi", &options).unwrap(), b"2026-01-01T00:00:00.5Z hi\n");
        let plain = Options::default();
        assert_eq!(entry("2026-01-01T00:00:00Z stderr P wor", &plain).unwrap(), b"wor");
        let since = Options { since: Some("2026-01-02T00:00:00Z".parse().unwrap()), ..Options::default() };
        assert!(entry("2026-01-01T00:00:00Z stdout F old", &since).is_none());
    }

    #[test]
    fn bad_options_name_the_parameter() {
        let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(Options::parse(&q("tailLines", "x")).unwrap_err(), "tailLines: invalid value \"x\": must be an integer");
        assert!(Options::parse(&q("limitBytes", "0")).unwrap_err().starts_with("limitBytes: Invalid value: 0"));
        assert_eq!(Options::parse(&q("tailLines", "3")).unwrap().tail_lines, Some(3));
    }
}
