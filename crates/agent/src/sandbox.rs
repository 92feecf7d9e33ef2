//! The pod sandbox: a tiny holder process (the `tug` binary in a hidden mode, in
//! its own session) that owns the pod's network, UTS and IPC namespaces, with the
//! pod's name as host name and loopback up. The pod's containers join these
//! namespaces through `/proc/<pid>/ns/*`; killing the holder ends them.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Error;

/// Becomes the sandbox: new namespaces, host name, loopback; then waits for a signal
/// forever. A `hostNetwork` pod's sandbox keeps the node's network and UTS namespaces
/// (its containers see the node's interfaces and host name) and owns only its IPC one.
pub fn hold(hostname: &str, host_network: bool) -> Result<std::convert::Infallible, Error> {
    let flags = if host_network { libc::CLONE_NEWIPC } else { libc::CLONE_NEWNET | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC };
    // SAFETY: unshare takes flags only; this process is single-threaded here.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(Error::Internal(format!("unshare the pod's namespaces: {}", std::io::Error::last_os_error())));
    }
    if !host_network {
        // SAFETY: the pointer and length describe the hostname's bytes.
        if unsafe { libc::sethostname(hostname.as_ptr().cast(), hostname.len()) } != 0 {
            return Err(Error::Internal(format!("set host name {hostname}: {}", std::io::Error::last_os_error())));
        }
        tug_network::run("ip", &["link", "set", "lo", "up"])?;
    }
    // Tell the agent the namespaces are ready, then let go of the pipe.
    println!("ready");
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: both descriptors are open; dup2 replaces stdout atomically.
        unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1) };
    }
    loop {
        // SAFETY: pause only waits for a signal.
        unsafe { libc::pause() };
    }
}

/// Starts a holder for a pod named `hostname` (on the node's network if `host_network`); returns its PID once its namespaces exist.
pub fn start(exe: &Path, hostname: &str, host_network: bool) -> Result<i32, Error> {
    let mut command = Command::new(exe);
    command.args(["pod-sandbox", "--hostname", hostname]);
    if host_network {
        command.arg("--host-network");
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        })
    };
    let mut child = command.spawn().map_err(|e| Error::Internal(format!("start the pod sandbox {}: {e}", exe.display())))?;
    let pid = child.id() as i32;
    let mut ready = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut ready);
    }
    if ready.trim() != "ready" {
        let mut message = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut message);
        }
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::Internal(format!("the pod sandbox for {hostname} did not start: {}", message.trim())));
    }
    drop(child.stderr.take());
    std::thread::spawn(move || child.wait());
    Ok(pid)
}

/// Whether the holder `pid` is still alive.
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// Ends the holder.
pub fn stop(pid: i32) {
    if alive(pid) {
        // SAFETY: kill takes plain integers; pid is the holder we started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}
