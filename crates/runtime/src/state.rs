//! A container's record under the runtime root (`<root>/<id>/state.json`) and its live
//! status, worked out from the record and the kernel: is the init process alive (and still
//! the same process), is the start fifo still there, is the cgroup frozen.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::cgroups::Cgroup;
use crate::error::{Error, IoContext, Result};

/// The fifo that holds the container's init process between create and start.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// What the runtime remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Host PID of the container's init process.
    pub pid: i32,
    /// The init process's start time in clock ticks since boot (/proc/<pid>/stat field 22),
    /// so a recycled PID is never mistaken for the container.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Absolute cgroup path, as `Cgroup::open` takes it.
    pub cgroup: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    pub spec: Spec,
}

/// The OCI state document `tug runtime state` prints (plus runc's extra fields).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: Status,
    pub pid: i32,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: std::collections::HashMap<String, String>,
    /// True when the kernel's OOM killer killed a process of the container.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
}

/// A container directory under the runtime root.
pub struct Container {
    pub dir: PathBuf,
    pub record: Record,
}

pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_-.+".contains(c));
    if ok { Ok(()) } else { Err(Error::InvalidId(id.to_string())) }
}

impl Container {
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = root.join(id);
        let path = dir.join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound(id.to_string())),
            Err(e) => return Err(Error::Io { context: format!("read {}", path.display()), source: e }),
        };
        let record = serde_json::from_slice(&data)
            .map_err(|e| Error::State(format!("container {id}: state file {} is damaged ({e}); use `delete --force {id}`", path.display())))?;
        Ok(Container { dir, record })
    }

    /// Writes the record atomically (a crash leaves the old record or the new one).
    pub fn save(dir: &Path, record: &Record) -> Result<()> {
        let tmp = dir.join(".state.json.tmp");
        let data = serde_json::to_vec(record).map_err(|e| Error::State(format!("encode state: {e}")))?;
        fs::write(&tmp, data).ctx(|| format!("write {}", tmp.display()))?;
        fs::rename(&tmp, dir.join(STATE_FILE)).ctx(|| format!("rename {}", tmp.display()))
    }

    /// Every container under the runtime root, by id, skipping directories without a record.
    pub fn list(root: &Path) -> Result<Vec<Container>> {
        let entries = match fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::Io { context: format!("read {}", root.display()), source: e }),
        };
        let mut all: Vec<Container> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|id| Container::load(root, &id).ok())
            .collect();
        all.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        Ok(all)
    }

    pub fn cgroup(&self) -> Result<Cgroup> {
        Ok(Cgroup::open(&self.record.cgroup)?)
    }

    pub fn fifo(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    /// Is the init process this container's and still alive (not a zombie)?
    pub fn init_alive(&self) -> bool {
        self.record.pid > 0 && process_start(self.record.pid).is_some_and(|(start, zombie)| start == self.record.pid_start && !zombie)
    }

    pub fn status(&self) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.cgroup().and_then(|c| Ok(c.is_frozen()?)).unwrap_or(false) {
            return Status::Paused;
        }
        if self.fifo().exists() { Status::Created } else { Status::Running }
    }

    pub fn oci_state(&self, status: Status) -> OciState<'_> {
        let r = &self.record;
        let oom_killed = status == Status::Stopped && self.cgroup().and_then(|c| Ok(c.oom_killed()?)).unwrap_or(false);
        OciState {
            oci_version: r.spec.version(),
            id: &r.id,
            status,
            pid: if status == Status::Stopped { 0 } else { r.pid },
            bundle: &r.bundle,
            rootfs: &r.rootfs,
            created: &r.created,
            owner: &r.owner,
            annotations: r.spec.annotations().clone().unwrap_or_default(),
            oom_killed,
        }
    }
}

/// (start time, is a zombie) of a process, from /proc/<pid>/stat; None if it is gone.
pub fn process_start(pid: i32) -> Option<(u64, bool)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, *state == "Z" || *state == "X"))
}

/// Formats a time as RFC 3339 in UTC with nanoseconds, as runc prints `created`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::new(951_782_400, 5)), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_000_000)), "2026-11-18T11:06:40.000000000Z");
    }

    #[test]
    fn ids_with_slashes_or_dots_first_are_refused() {
        assert!(validate_id("web-1_a.b+c").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "sp ace"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn own_process_is_alive_and_not_a_zombie() {
        let (start, zombie) = process_start(std::process::id() as i32).unwrap();
        assert!(start > 0);
        assert!(!zombie);
    }
}
