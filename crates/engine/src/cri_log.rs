//! Container logs in the CRI format kubelet reads and writes:
//! `<RFC 3339 nano timestamp> <stdout|stderr> <F|P> <text>\n`, `P` for a line
//! cut short (no newline yet), `F` for the end of a line.

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

/// Copies `source` into `log` line by line, tagged with `stream`, until end of file.
pub fn copy(source: impl std::io::Read, stream: &str, log: &Arc<Mutex<std::fs::File>>) {
    copy_tee(source, stream, log, None);
}

/// [`copy`], also writing each line as it came to `echo` (a foreground container's terminal).
pub fn copy_tee(source: impl std::io::Read, stream: &str, log: &Arc<Mutex<std::fs::File>>, mut echo: Option<std::fs::File>) {
    let mut reader = std::io::BufReader::with_capacity(16 * 1024, source);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if let Some(out) = echo.as_mut() {
            let _ = out.write_all(&line);
        }
        let full = line.last() == Some(&b'\n');
        let text = if full { &line[..line.len() - 1] } else { &line[..] };
        let mut entry = format!("{} {stream} {} ", Timestamp::now(), if full { 'F' } else { 'P' }).into_bytes();
        entry.extend_from_slice(text);
        entry.push(b'\n');
        if let Ok(mut file) = log.lock() {
            let _ = file.write_all(&entry);
        }
    }
}

/// One entry read back: the stream and the text, for `kubectl logs`.
pub fn parse(line: &str) -> Option<(&str, &str, bool, &str)> {
    let (time, rest) = line.split_once(' ')?;
    let (stream, rest) = rest.split_once(' ')?;
    let (tag, text) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((time, stream, tag == "F", text))
}

/// The text of a CRI log file as the container wrote it (joining partial lines).
pub fn text(log: &str) -> String {
    let mut out = String::new();
    for (_, _, full, text) in log.lines().filter_map(parse) {
        out.push_str(text);
        if full {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_tagged_full_or_partial_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let file = Arc::new(Mutex::new(std::fs::File::create(&path).unwrap()));
        copy(&b"hello\nwor"[..], "stdout", &file);
        let log = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = log.lines().collect();
        assert!(lines[0].ends_with(" stdout F hello"), "{log}");
        assert!(lines[1].ends_with(" stdout P wor"), "{log}");
        assert_eq!(text(&log), "hello\nwor");
    }
}
