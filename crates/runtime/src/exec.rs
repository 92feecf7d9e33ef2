//! `exec`: runs another process in a running container. A helper child joins the
//! container's cgroup and namespaces, then forks the process itself (so it lands in the
//! container's PID and time namespaces); the runtime adopts it as a child subreaper and,
//! unless detached, waits for it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process};

use crate::channel::{self, Channel, Message};
use crate::console;
use crate::error::{Error, IoContext, Result};
use crate::namespaces::{self, proc_name};
use crate::process;
use crate::seccomp;
use crate::state::{Container, Status};

pub struct ExecOptions {
    pub root: PathBuf,
    pub id: String,
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
}

/// The process `exec` starts when only a command is given: the container's own process
/// settings (user, env, cwd, capabilities) with the command's args.
pub fn base_process(root: &Path, id: &str) -> Result<Process> {
    let container = Container::load(root, id)?;
    let mut process = container.record.spec.process().clone().unwrap_or_default();
    process.set_terminal(Some(false));
    Ok(process)
}

/// Joining order: the user namespace first (it grants the rights to join the others),
/// the mount namespace last (after it, host paths are gone).
const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Mount,
];

/// Runs the process; returns its exit code (128 + signal), or 0 when detached.
pub fn exec(opts: &ExecOptions) -> Result<i32> {
    let container = Container::load(&opts.root, &opts.id)?;
    match container.status() {
        Status::Running | Status::Created => {}
        Status::Paused => return Err(Error::State("cannot exec in a paused container".into())),
        _ => return Err(Error::State("cannot exec in a stopped container".into())),
    }
    let spec = &container.record.spec;
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()).map(seccomp::compile).transpose()?;
    let namespaces = open_namespaces(&container)?;
    let program_check = opts.process.args().as_ref().is_some_and(|a| !a.is_empty());
    if !program_check {
        return Err(Error::Usage("exec needs a command (or process.args in --process)".into()));
    }
    let cgroup = container.cgroup()?;
    // Adopt the process once its helper parent exits.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let (runtime_end, helper_end) = channel::pair().ctx(|| "create the exec channel".into())?;
    // SAFETY: the runtime is single-threaded here, so fork is safe; the child only runs
    // our own code and then execs or exits.
    let helper = unsafe { libc::fork() };
    if helper < 0 {
        return Err(Error::Io { context: "fork".into(), source: std::io::Error::last_os_error() });
    }
    if helper == 0 {
        drop(runtime_end);
        let result = join_and_fork(&helper_end, &namespaces, opts, seccomp.as_ref());
        if let Err(e) = result {
            let _ = helper_end.send(&Message::Failed(e.to_string()));
        }
        // SAFETY: _exit in a forked child.
        unsafe { libc::_exit(0) };
    }
    drop(helper_end);
    drop(namespaces);
    let added = cgroup.add_process(helper);
    let go = added.is_ok() && runtime_end.send(&Message::Go).is_ok();
    // SAFETY: helper is our child.
    unsafe { libc::waitpid(helper, std::ptr::null_mut(), 0) };
    added?;
    if !go {
        return Err(Error::Init("exec helper exited early".into()));
    }
    let pid = match runtime_end.recv().ctx(|| "wait for exec".into())? {
        Some(Message::Started(pid)) => pid,
        Some(Message::Failed(msg)) => return Err(Error::Init(msg)),
        _ => return Err(Error::Init("exec helper exited early".into())),
    };
    // The process closes its end when it execs; a message before that is a failure.
    if let Some(Message::Failed(msg)) = runtime_end.recv().ctx(|| "wait for exec".into())? {
        // SAFETY: pid was adopted by us; reap it.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        return Err(Error::Init(msg));
    }
    if let Some(pid_file) = &opts.pid_file {
        crate::create::write_pid_file(pid_file, pid)?;
    }
    if opts.detach {
        return Ok(0);
    }
    let mut status = 0;
    loop {
        // SAFETY: pid is our adopted child; status is a valid out-parameter.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
            break;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::Io { context: "wait for the exec'd process".into(), source: std::io::Error::last_os_error() });
        }
    }
    Ok(if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) })
}

/// Opens the init process's namespaces (those the container does not share with us).
fn open_namespaces(container: &Container) -> Result<Vec<(libc::c_int, File)>> {
    let pid = container.record.pid;
    let mut files = Vec::new();
    for typ in JOIN_ORDER {
        let name = proc_name(typ);
        let theirs = format!("/proc/{pid}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else { continue };
        if std::os::unix::fs::MetadataExt::ino(&a) == std::os::unix::fs::MetadataExt::ino(&b) {
            continue;
        }
        files.push((namespaces::flag(typ), File::open(&theirs).ctx(|| format!("open {theirs}"))?));
    }
    Ok(files)
}

/// In the helper: join everything, fork the process, report its PID.
fn join_and_fork(channel: &Channel, namespaces: &[(libc::c_int, File)], opts: &ExecOptions, seccomp: Option<&seccomp::Program>) -> Result<()> {
    match channel.recv().ctx(|| "wait for the runtime".into())? {
        Some(Message::Go) => {}
        _ => return Err(Error::Init("runtime went away".into())),
    }
    for (flag, file) in namespaces {
        // SAFETY: file is an open namespace fd.
        if unsafe { libc::setns(file.as_raw_fd(), *flag) } < 0 {
            return Err(Error::Io { context: format!("join namespace {flag:#x}"), source: std::io::Error::last_os_error() });
        }
    }
    let console = opts.console_socket.as_deref().map(console::connect).transpose()?;
    // SAFETY: single-threaded helper; the child execs or exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::Io { context: "fork".into(), source: std::io::Error::last_os_error() });
    }
    if pid == 0 {
        let err = run_process(&opts.process, console.as_ref(), seccomp);
        let _ = channel.send(&Message::Failed(err.to_string()));
        // SAFETY: _exit in a forked child.
        unsafe { libc::_exit(127) };
    }
    channel.send(&Message::Started(pid)).ctx(|| "report the exec'd pid".into())
}

fn run_process(process: &Process, console: Option<&std::os::unix::net::UnixStream>, seccomp: Option<&seccomp::Program>) -> Error {
    let setup = || -> Result<std::ffi::CString> {
        if let Some(console) = console {
            console::setup(console, process.console_size().map(|b| (b.height(), b.width())))?;
        } else if process.terminal().unwrap_or(false) {
            return Err(Error::Usage("a terminal needs --console-socket".into()));
        }
        let program = process::find_executable(process)?;
        process::apply(process, seccomp)?;
        Ok(program)
    };
    match setup() {
        Ok(program) => process::finish(process, seccomp, &program),
        Err(e) => e,
    }
}
