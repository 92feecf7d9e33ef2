//! RUN: the command runs in a real container made by `tug-runtime` on an overlay of the
//! image below (a fresh upper directory), in the host's network namespace (so only
//! what the host reaches), with the build's environment, user and working directory.
//! The upper directory becomes the step's layer. The container, its cgroup, its state
//! and the mount are gone when this returns, whatever happened.

use std::fs;
use std::path::{Component, Path, PathBuf};

use serde_json::json;
use tug_runtime::create::CreateOptions;

use super::layers::Tree;
use super::users;
use crate::error::{Error, IoContext, Result};
use crate::overlay;
use crate::sys;

/// Docker's default capabilities for build and run containers (`tug run`'s too).
pub const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SYS_CHROOT",
    "CAP_MKNOD",
    "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
];

/// What to run.
pub struct RunSpec<'a> {
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// `USER` as written (name or id, optional group), empty for root.
    pub user: &'a str,
    /// Absolute working directory.
    pub cwd: &'a str,
    /// Send the command's output to /dev/null instead of the caller's stdout/stderr
    /// (its stdin is /dev/null always).
    pub quiet: bool,
}

/// Runs `spec` over `snapshots` in a container under `work` (a private directory
/// removed by the caller). Returns the upper directory holding the changes.
pub fn run(snapshots: &[PathBuf], work: &Path, id: &str, spec: &RunSpec<'_>) -> Result<PathBuf> {
    let tree = Tree { snapshots };
    let (uid, gid) = if spec.user.is_empty() {
        (0, 0)
    } else {
        users::resolve(spec.user, &|p| tree.read(p))
            .map_err(|e| Error::Build(format!("USER {}: {e}", spec.user)))?
    };
    let container_dir = work.join("container");
    let mount = overlay::mount_layers(snapshots, &container_dir)?;
    let result = (|| {
        make_workdir(mount.target(), spec.cwd, uid, gid)?;
        let bundle = work.join("bundle");
        fs::create_dir_all(&bundle).ctx("create", &bundle)?;
        let config = bundle_config(mount.target(), spec, uid, gid);
        let path = bundle.join("config.json");
        fs::write(&path, config.to_string()).ctx("write", &path)?;
        let opts = CreateOptions {
            root: work.join("runtime"),
            id: id.to_string(),
            bundle,
            pid_file: None,
            console_socket: None,
            preserve_fds: 0,
        };
        // stdin is never the user's terminal; output is theirs unless the build is quiet.
        let fds: &[libc::c_int] = if spec.quiet { &[0, 1, 2] } else { &[0] };
        let null = sys::NullStdio::new(fds)
            .with_ctx(|| "failed to point the RUN step's stdio at /dev/null".into())?;
        let code = tug_runtime::run::run(&opts, false);
        drop(null);
        let code = code?;
        if code != 0 {
            return Err(Error::RunFailed {
                at: String::new(),
                command: created_by(&spec.args),
                code,
            });
        }
        Ok(())
    })();
    let upper = mount.upper().to_path_buf();
    let unmounted = mount.unmount();
    result?;
    unmounted?;
    Ok(upper)
}

/// The command as the image history records it.
pub fn created_by(args: &[String]) -> String {
    args.join(" ")
}

/// The OCI runtime config: the runtime's defaults, then the build's process, a writable
/// root, Docker's capabilities, and no network namespace of its own.
fn bundle_config(rootfs: &Path, spec: &RunSpec<'_>, uid: u32, gid: u32) -> serde_json::Value {
    let mut config = tug_runtime::bundle::default_config();
    let caps = json!(CAPABILITIES);
    config["process"] = json!({
        "terminal": false,
        "user": {"uid": uid, "gid": gid},
        "args": spec.args,
        "env": spec.env,
        "cwd": spec.cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": false
    });
    config["root"] = json!({"path": rootfs, "readonly": false});
    config["hostname"] = json!("tug-build");
    if let Some(ns) = config["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
    }
    config
}

/// Creates the working directory inside the root filesystem without leaving it: `..`
/// is dropped and creation stops at a symlink (the container resolves that itself).
pub fn make_workdir(rootfs: &Path, cwd: &str, uid: u32, gid: u32) -> Result<()> {
    let mut path = rootfs.to_path_buf();
    for c in Path::new(cwd).components() {
        let Component::Normal(name) = c else { continue };
        path.push(name);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => return Ok(()),
            Ok(_) => {
                return Err(Error::Build(format!(
                    "WORKDIR {cwd}: {} is not a directory",
                    path.display()
                )))
            }
            Err(_) => {
                fs::create_dir(&path).ctx("create", &path)?;
                std::os::unix::fs::lchown(&path, Some(uid), Some(gid)).ctx("chown", &path)?;
            }
        }
    }
    Ok(())
}
