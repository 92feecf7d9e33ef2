//! The audit log writer: a thread that appends events as JSON lines in the
//! order they were sent, buffered, flushing whenever no event is waiting.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;

use serde_json::Value;

/// The sending end; the thread ends (after a last flush) when it is dropped.
pub struct Writer {
    events: mpsc::Sender<Value>,
}

impl Writer {
    pub fn open(path: &Path) -> std::io::Result<Writer> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let (events, received) = mpsc::channel::<Value>();
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(file);
                while let Ok(event) = received.recv() {
                    let mut next = Some(event);
                    while let Some(event) = next {
                        let _ = serde_json::to_writer(&mut out, &event);
                        let _ = out.write_all(b"\n");
                        next = received.try_recv().ok();
                    }
                    let _ = out.flush();
                }
            })?;
        Ok(Writer { events })
    }

    pub fn send(&self, event: Value) {
        // The thread only ends when this sender is gone.
        let _ = self.events.send(event);
    }
}
