//! OCI lifecycle hooks: each hook is a program run with the container's state JSON on its
//! stdin, optional args (args[0] is argv[0]) and env, and an optional timeout in seconds.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};

use crate::error::{Error, Result};

/// The hook points of the OCI runtime spec.
#[derive(Debug, Clone, Copy)]
pub enum Point {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Point {
    pub fn name(self) -> &'static str {
        match self {
            Point::Prestart => "prestart",
            Point::CreateRuntime => "createRuntime",
            Point::CreateContainer => "createContainer",
            Point::StartContainer => "startContainer",
            Point::Poststart => "poststart",
            Point::Poststop => "poststop",
        }
    }

    fn hooks(self, hooks: &Hooks) -> &[Hook] {
        let list = match self {
            Point::Prestart => hooks.prestart(),
            Point::CreateRuntime => hooks.create_runtime(),
            Point::CreateContainer => hooks.create_container(),
            Point::StartContainer => hooks.start_container(),
            Point::Poststart => hooks.poststart(),
            Point::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

/// Runs every hook of `point` in order; the first failure stops the rest.
pub fn run(hooks: Option<&Hooks>, point: Point, state_json: &str) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    for hook in point.hooks(hooks) {
        run_one(hook, point, state_json)?;
    }
    Ok(())
}

/// Runs every hook of `point`; a failure is a warning on stderr and the rest still run
/// (the spec's rule for poststart and poststop).
pub fn run_warn(hooks: Option<&Hooks>, point: Point, state_json: &str) {
    let Some(hooks) = hooks else { return };
    for hook in point.hooks(hooks) {
        if let Err(e) = run_one(hook, point, state_json) {
            eprintln!("tug: warning: {e}");
        }
    }
}

fn run_one(hook: &Hook, point: Point, state_json: &str) -> Result<()> {
    let fail = |msg: String| Error::Hook { hook: point.name(), path: hook.path().clone(), msg };
    let args = hook.args().as_deref().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear().stdin(Stdio::piped());
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.spawn().map_err(|e| fail(format!("cannot run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let Some(timeout) = hook.timeout().filter(|t| *t > 0) else {
        return match child.wait() {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(fail(format!("exited with {status}"))),
            Err(e) => Err(fail(format!("wait: {e}"))),
        };
    };
    let deadline = Instant::now() + Duration::from_secs(timeout as u64);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(fail(format!("exited with {status}"))),
            Ok(None) => {}
            Err(e) => return Err(fail(format!("wait: {e}"))),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("timed out after {timeout}s")));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
