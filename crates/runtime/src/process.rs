//! The last steps before a container process runs its program, shared by a container's
//! init and by `exec`: rlimits, oom_score_adj, umask, user and groups, capabilities,
//! no_new_privs, seccomp, working directory, and execve with PATH lookup.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{PosixRlimitType, Process};

use crate::capabilities;
use crate::error::{Error, IoContext, Result};
use crate::seccomp::Program;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Applies everything but seccomp-with-no_new_privs (installed last by [`finish`]).
pub fn apply(process: &Process, seccomp: Option<&Program>) -> Result<()> {
    for rl in process.rlimits().iter().flatten() {
        let limit = libc::rlimit { rlim_cur: rl.soft(), rlim_max: rl.hard() };
        // SAFETY: limit is a valid rlimit; pid 0 is the calling process.
        if unsafe { libc::prlimit(0, rlimit_resource(rl.typ()), &limit, std::ptr::null_mut()) } < 0 {
            return Err(Error::Io { context: format!("process.rlimits {:?}: setrlimit soft {} hard {}", rl.typ(), rl.soft(), rl.hard()), source: io::Error::last_os_error() });
        }
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).ctx(|| format!("process.oomScoreAdj: write {adj} to /proc/self/oom_score_adj"))?;
    }
    let user = process.user();
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(user.umask().unwrap_or(0o022) as libc::mode_t) };
    let nnp = process.no_new_privileges().unwrap_or(false);
    if nnp {
        // SAFETY: plain prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
            return Err(Error::Io { context: "process.noNewPrivileges: prctl".into(), source: io::Error::last_os_error() });
        }
    } else if let Some(program) = seccomp {
        // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while we have it.
        program.install()?;
    }
    let caps = process.capabilities().as_ref();
    if let Some(caps) = caps {
        capabilities::drop_bounding(caps)?;
        capabilities::set_keep_caps(true)?;
    }
    set_user(user.uid(), user.gid(), user.additional_gids().as_deref().unwrap_or_default())?;
    if let Some(caps) = caps {
        capabilities::apply(caps)?;
        capabilities::set_keep_caps(false)?;
    }
    std::env::set_current_dir(process.cwd()).ctx(|| format!("process.cwd: chdir to {}", process.cwd().display()))
}

/// Installs seccomp where [`apply`] left it for last, then replaces this process with the
/// program. Returns only on failure.
pub fn finish(process: &Process, seccomp: Option<&Program>, program: &CString) -> Error {
    if process.no_new_privileges().unwrap_or(false) {
        if let Some(p) = seccomp {
            if let Err(e) = p.install() {
                return e.into();
            }
        }
    }
    exec(process, program)
}

fn exec(process: &Process, program: &CString) -> Error {
    let to_c = |s: &String| CString::new(s.as_bytes()).unwrap_or_default();
    let args: Vec<CString> = process.args().iter().flatten().map(to_c).collect();
    let env: Vec<CString> = process.env().iter().flatten().map(to_c).collect();
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: program, argv and envp are NUL-terminated and outlive the call.
    unsafe { libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Error::Io { context: format!("exec {:?}", program), source: io::Error::last_os_error() }
}

/// Finds the program to run, as execvp would with the process's own PATH, so that a
/// missing program fails `create` rather than `start`.
pub fn find_executable(process: &Process) -> Result<CString> {
    let arg0 = process.args().as_ref().and_then(|a| a.first()).ok_or_else(|| Error::Spec {
        path: "config.json".into(),
        msg: "process.args must name the program to run".into(),
    })?;
    let candidates: Vec<PathBuf> = if arg0.contains('/') {
        vec![process.cwd().join(arg0)]
    } else {
        let path = process.env().iter().flatten().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
        path.split(':').map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(arg0)).collect()
    };
    for candidate in &candidates {
        if is_executable(candidate) {
            return CString::new(candidate.as_os_str().as_bytes()).map_err(|_| Error::Usage(format!("process.args[0] {arg0:?} contains NUL")));
        }
    }
    Err(Error::Init(format!("exec: {arg0:?}: executable file not found in $PATH")))
}

fn is_executable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: c is a valid C string.
    let ok = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
    ok && std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

fn set_user(uid: u32, gid: u32, additional: &[u32]) -> Result<()> {
    let groups: Vec<libc::gid_t> = additional.to_vec();
    // setgroups is refused in a user namespace where setgroups is denied; that is only
    // an error when groups were asked for.
    // SAFETY: groups is valid for groups.len() entries.
    if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } < 0 && !groups.is_empty() {
        return Err(Error::Io { context: "process.user.additionalGids: setgroups".into(), source: io::Error::last_os_error() });
    }
    // SAFETY: plain integer syscalls.
    if unsafe { libc::setresgid(gid, gid, gid) } < 0 {
        return Err(Error::Io { context: format!("process.user.gid: setgid {gid}"), source: io::Error::last_os_error() });
    }
    // SAFETY: plain integer syscalls.
    if unsafe { libc::setresuid(uid, uid, uid) } < 0 {
        return Err(Error::Io { context: format!("process.user.uid: setuid {uid}"), source: io::Error::last_os_error() });
    }
    Ok(())
}

fn rlimit_resource(typ: PosixRlimitType) -> libc::__rlimit_resource_t {
    (match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }) as libc::__rlimit_resource_t
}
