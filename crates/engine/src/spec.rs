//! The OCI runtime config of a `tug run` container: the runtime's defaults, then the
//! process from the image config and the options (entrypoint + command, environment,
//! user, working directory), Docker's capabilities, volumes as bind mounts, limits, the
//! root filesystem (read-only with `--read-only`) and the network namespace (new,
//! another container's by path, or none of its own with `--network host`).

use std::path::Path;

use oci_spec::image::ImageConfiguration;
use serde_json::{json, Value};

use crate::options::RunOptions;
use crate::{Error, Result};

/// The PATH a container gets when its image sets none (Docker's default).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Entrypoint + command, as Docker combines them: `--entrypoint` replaces the image's
/// entrypoint and drops its CMD; arguments after the image replace its CMD.
pub fn args(image: &ImageConfiguration, options: &RunOptions) -> Result<Vec<String>> {
    let config = image.config().clone().unwrap_or_default();
    let entrypoint = match &options.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => config.entrypoint().clone().unwrap_or_default(),
    };
    let command = if !options.command.is_empty() {
        options.command.clone()
    } else if options.entrypoint.is_some() {
        Vec::new()
    } else {
        config.cmd().clone().unwrap_or_default()
    };
    let args: Vec<String> = entrypoint.into_iter().chain(command).collect();
    if args.is_empty() {
        return Err(Error::State(format!(
            "no command specified: image {} has no CMD or ENTRYPOINT; give a command after the image name",
            options.image
        )));
    }
    Ok(args)
}

/// The environment: PATH default, the image's, HOSTNAME, then `-e` (later wins).
pub fn env(image: &ImageConfiguration, options: &RunOptions, hostname: &str) -> Vec<String> {
    let mut env: Vec<String> = vec![DEFAULT_PATH.to_string()];
    let image_env = image.config().as_ref().and_then(|c| c.env().clone()).unwrap_or_default();
    let extra = [format!("HOSTNAME={hostname}")];
    for entry in image_env.iter().chain(&extra).chain(&options.env) {
        let key = entry.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    env
}

/// The user as written (`-u` or the image's USER), empty for root.
pub fn user(image: &ImageConfiguration, options: &RunOptions) -> String {
    options
        .user
        .clone()
        .or_else(|| image.config().as_ref().and_then(|c| c.user().clone()))
        .unwrap_or_default()
}

/// The working directory (`-w` or the image's WORKDIR, `/` by default).
pub fn cwd(image: &ImageConfiguration, options: &RunOptions) -> String {
    options
        .workdir
        .clone()
        .or_else(|| image.config().as_ref().and_then(|c| c.working_dir().clone()))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into())
}

/// What the process is.
pub struct Process {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub uid: u32,
    pub gid: u32,
    pub cwd: String,
}

/// The container's network namespace.
pub enum Net {
    /// The host's (`--network host`).
    Host,
    /// A new one, made by the runtime.
    New,
    /// Another container's, by path (`--network container:NAME`).
    Join(std::path::PathBuf),
}

/// The whole `config.json` for container `id`.
pub fn config(id: &str, options: &RunOptions, process: &Process, rootfs: &Path, hostname: &str, net: &Net) -> Value {
    let mut config = tug_runtime::bundle::default_config();
    let caps = json!(tug_image::build::CAPABILITIES);
    config["process"] = json!({
        "terminal": false,
        "user": {"uid": process.uid, "gid": process.gid},
        "args": process.args,
        "env": process.env,
        "cwd": process.cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": false
    });
    config["root"] = json!({"path": rootfs, "readonly": options.read_only});
    config["hostname"] = json!(hostname);
    if let Some(mounts) = config["mounts"].as_array_mut() {
        for v in &options.volumes {
            mounts.push(json!({
                "destination": v.container, "type": "bind", "source": v.host,
                "options": ["rbind", if v.read_only { "ro" } else { "rw" }],
            }));
        }
    }
    let linux = &mut config["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
        match net {
            Net::Host => {}
            Net::New => ns.push(json!({"type": "network"})),
            Net::Join(path) => ns.push(json!({"type": "network", "path": path})),
        }
    }
    linux["cgroupsPath"] = json!(format!("/tug-run-{id}"));
    let mut resources = json!({});
    if let Some(limit) = options.memory {
        resources["memory"] = json!({"limit": limit});
    }
    if let Some(cpus) = options.cpus {
        resources["cpu"] = json!({"quota": (cpus * 100_000.0) as i64, "period": 100_000});
    }
    if let Some(limit) = options.pids_limit {
        resources["pids"] = json!({"limit": limit});
    }
    linux["resources"] = resources;
    config
}
