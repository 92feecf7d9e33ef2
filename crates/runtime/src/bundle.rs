//! Reading an OCI bundle: `config.json` parsed with the field path of any error, checked
//! for what the runtime needs, and the root filesystem located.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

/// A bundle ready to run.
pub struct Bundle {
    /// Absolute bundle directory.
    pub dir: PathBuf,
    pub spec: Spec,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::path::absolute(dir).map_err(|e| Error::Io { context: format!("bundle {}", dir.display()), source: e })?;
        let path = dir.join("config.json");
        let bad = |msg: String| Error::Spec { path: path.clone(), msg };
        let data = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => bad("no such file: pass the bundle directory with --bundle, or write a config there with `tug runtime spec`".into()),
            _ => bad(e.to_string()),
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&data);
        let spec: Spec = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            if field == "." || field.is_empty() {
                bad(format!("not a valid runtime spec: {inner}"))
            } else {
                bad(format!("field {field}: {inner}"))
            }
        })?;
        if spec.version().is_empty() {
            return Err(bad("field ociVersion is required: set it to the runtime spec version, e.g. \"1.2.0\"".into()));
        }
        if !spec.version().starts_with("1.") {
            return Err(bad(format!("field ociVersion {:?}: only runtime spec 1.x is supported", spec.version())));
        }
        let root = spec.root().as_ref().ok_or_else(|| bad("field root is required: set root.path to the root filesystem directory".into()))?;
        let rootfs = dir.join(root.path());
        if !rootfs.is_dir() {
            return Err(bad(format!("field root.path: rootfs {} does not exist or is not a directory", rootfs.display())));
        }
        let process = spec.process().as_ref().ok_or_else(|| bad("field process is required to create a container".into()))?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(bad("field process.args must name the program to run".into()));
        }
        if !process.cwd().is_absolute() {
            return Err(bad(format!("field process.cwd {:?} must be an absolute path", process.cwd())));
        }
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// The `config.json` that `tug runtime spec` writes: a shell in a busybox-style rootfs
/// with the usual namespaces, mounts, masked paths and a small capability set.
pub fn default_config() -> serde_json::Value {
    let caps = serde_json::json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    serde_json::json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "tug",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                            "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(name: &str, config: &str, with_rootfs: bool) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tug-bundle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if with_rootfs {
            std::fs::create_dir(dir.join("rootfs")).unwrap();
        }
        std::fs::write(dir.join("config.json"), config).unwrap();
        dir
    }

    fn error_of(name: &str, config: &str, with_rootfs: bool) -> String {
        let dir = bundle(name, config, with_rootfs);
        let err = Bundle::load(&dir).err().expect("load must fail").to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        err
    }

    #[test]
    fn the_default_config_loads() {
        let dir = bundle("default", &default_config().to_string(), true);
        let b = Bundle::load(&dir).unwrap();
        assert_eq!(b.rootfs, dir.join("rootfs"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn config_that_is_not_json_names_the_file_and_position() {
        let err = error_of("notjson", "{ this is not json", true);
        assert!(err.contains("config.json") && err.contains("line 1"), "{err}");
    }

    #[test]
    fn missing_or_mistyped_fields_are_named() {
        let err = error_of("nover", r#"{"root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}}}"#, true);
        assert!(err.contains("ociVersion"), "{err}");
        let err = error_of("uidtype", r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":"root","gid":0}}}"#, true);
        assert!(err.contains("field process.user.uid"), "{err}");
    }

    #[test]
    fn missing_rootfs_is_named_with_its_path() {
        let mut config = default_config();
        config["root"]["path"] = "nowhere".into();
        let err = error_of("norootfs", &config.to_string(), false);
        assert!(err.contains("root.path") && err.contains("nowhere"), "{err}");
    }
}
