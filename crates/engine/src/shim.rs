//! The supervisor of one container: a small process of its own (the `tug` binary
//! in a hidden mode, in its own session) that creates and starts the container
//! with tug-runtime, copies its stdout and stderr into a CRI log file, waits for
//! it, records how it ended and deletes it. It outlives the agent, so an agent
//! restart never touches running containers: the agent reads the record back.
//! `tug run` uses the same supervisor: detached in its own process, or in the `tug`
//! process itself for a container in the foreground ([`Attach`]: the caller's stdin,
//! output echoed to the caller's terminal as well as logged).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde_json::{json, Value};

/// Where the supervisor of one container keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// tug-runtime's state root.
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub log: PathBuf,
    /// The record: `{"pid", "supervisor", "startedAt"}` while running, then `exitCode`, `finishedAt`, `reason`, `message`.
    pub record: PathBuf,
}

/// The FIFO in the bundle that, when present, is the container's standard input.
pub const STDIN_FIFO: &str = "stdin";

/// Writes the record atomically.
fn write_record(path: &Path, record: &Value) {
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, record.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// Reads a record back (`None` while the supervisor has not written one).
pub fn read_record(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn pipe() -> std::io::Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: fds is a valid two-int array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these two descriptors, owned by nobody else.
    Ok(unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) })
}

fn redirect(from: &impl std::os::fd::AsRawFd, to: i32) {
    // SAFETY: both are open descriptors; dup2 replaces `to` atomically.
    unsafe { libc::dup2(from.as_raw_fd(), to) };
}

/// How a supervisor is attached to the caller's stdio.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// The container reads the caller's stdin (`-i`) instead of /dev/null.
    pub stdin: bool,
    /// The container's output also goes to the caller's stdout and stderr.
    pub echo: bool,
}

/// Runs the container to its end, detached from any terminal; the process's exit code.
pub fn supervise(paths: &Paths) -> i32 {
    supervise_with(paths, Attach::default(), Hooks::default())
}

/// The caller's work at points of the container's life.
pub struct Hooks<'a> {
    /// After create, before start, with the init's PID: wire its namespaces up (an
    /// error is a `StartError`).
    pub created: Box<dyn FnOnce(i32) -> Result<(), String> + 'a>,
    /// Once it runs. The container is cloned from this process, so threads of the
    /// caller's own must wait for this: a clone taken while another thread holds a
    /// lock would inherit it held.
    pub started: Box<dyn FnOnce(i32) + 'a>,
    /// Once it is gone (or failed to start), before the final record is written, so
    /// whoever waits for the record finds the caller's cleanup done.
    pub ended: Box<dyn FnOnce() + 'a>,
}

impl Default for Hooks<'_> {
    fn default() -> Self {
        Hooks { created: Box::new(|_| Ok(())), started: Box::new(|_| {}), ended: Box::new(|| {}) }
    }
}

/// Duplicates a descriptor (close-on-exec), so it survives `redirect` over the original.
fn keep(fd: i32) -> Option<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_DUPFD_CLOEXEC on an open descriptor returns a new one we own.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    // SAFETY: copy was just returned by fcntl and belongs to nobody else.
    (copy >= 0).then(|| unsafe { std::fs::File::from_raw_fd(copy) })
}

/// [`supervise`] with the caller's stdio attached as `attach` says and its `hooks` called.
pub fn supervise_with(paths: &Paths, attach: Attach, hooks: Hooks<'_>) -> i32 {
    let Hooks { created: on_created, started, ended } = hooks;
    let echoes = if attach.echo { [keep(1), keep(2)] } else { [None, None] };
    let started_at = Timestamp::now();
    let mut ended = Some(ended);
    let mut failed = |reason: &str, message: String| {
        if let Some(ended) = ended.take() {
            ended();
        }
        write_record(&paths.record, &json!({
            "exitCode": 128, "reason": reason, "message": message,
            "startedAt": started_at.to_string(), "finishedAt": Timestamp::now().to_string(),
        }));
        1
    };
    let log = match std::fs::OpenOptions::new().create(true).append(true).open(&paths.log) {
        Ok(file) => Arc::new(Mutex::new(file)),
        Err(e) => return failed("StartError", format!("failed to open log {}: {e}", paths.log.display())),
    };
    let (Ok((out_r, out_w)), Ok((err_r, err_w))) = (pipe(), pipe()) else {
        return failed("StartError", "failed to create the output pipes".into());
    };
    let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") else {
        return failed("StartError", "failed to open /dev/null".into());
    };
    // The container's init inherits descriptors 0-2 of this process: the caller's stdin
    // (`tug run -i`), or a stdin FIFO in the bundle (a pod's `stdin: true`, opened for
    // reading and writing so the container never sees its end while clients attach and
    // leave), or /dev/null.
    let fifo = paths.bundle.join(STDIN_FIFO);
    if !attach.stdin && fifo.exists() {
        match std::fs::OpenOptions::new().read(true).write(true).open(&fifo) {
            Ok(stdin) => redirect(&stdin, 0),
            Err(e) => return failed("StartError", format!("failed to open the stdin FIFO {}: {e}", fifo.display())),
        }
    } else if !attach.stdin {
        redirect(&null, 0);
    }
    redirect(&out_w, 1);
    redirect(&err_w, 2);
    let options = tug_runtime::create::CreateOptions {
        root: paths.root.clone(),
        id: paths.id.clone(),
        bundle: paths.bundle.clone(),
        pid_file: None,
        console_socket: None,
        preserve_fds: 0,
    };
    let created = tug_runtime::create::create(&options);
    let started_ok = created.as_ref().map_err(|e| e.to_string()).and_then(|c| {
        on_created(c.record.pid)?;
        tug_runtime::start::start(&paths.root, &paths.id).map(|()| c.record.pid).map_err(|e| e.to_string())
    });
    match &echoes {
        [Some(out), Some(err)] => {
            redirect(out, 1);
            redirect(err, 2);
        }
        _ => {
            redirect(&null, 1);
            redirect(&null, 2);
        }
    }
    drop((out_w, err_w));
    let pid = match started_ok {
        Ok(pid) => pid,
        Err(message) => {
            let _ = tug_runtime::delete::delete(&paths.root, &paths.id, true);
            return failed("StartError", message);
        }
    };
    write_record(&paths.record, &json!({"pid": pid, "supervisor": std::process::id(), "startedAt": started_at.to_string()}));
    started(pid);
    let [echo_out, echo_err] = echoes;
    let copiers = [("stdout", out_r, echo_out), ("stderr", err_r, echo_err)].map(|(stream, source, echo)| {
        let log = log.clone();
        std::thread::spawn(move || crate::cri_log::copy_tee(source, stream, &log, echo))
    });
    let mut status = 0;
    loop {
        // SAFETY: pid is our child (create cloned it); status is a valid out-parameter.
        let ret = unsafe { libc::waitpid(pid, &mut status, 0) };
        if ret == pid || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    for copier in copiers {
        let _ = copier.join();
    }
    let oom = tug_runtime::query::oom_killed(&paths.root, &paths.id).unwrap_or(false);
    let _ = tug_runtime::delete::delete(&paths.root, &paths.id, true);
    if let Some(ended) = ended.take() {
        ended();
    }
    let code = if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) };
    let reason = if oom { "OOMKilled" } else if code == 0 { "Completed" } else { "Error" };
    write_record(&paths.record, &json!({
        "pid": pid, "exitCode": code, "reason": reason,
        "startedAt": started_at.to_string(), "finishedAt": Timestamp::now().to_string(),
    }));
    0
}
