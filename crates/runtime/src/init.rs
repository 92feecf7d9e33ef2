//! The container's init process, from clone(2) to execve(2). It joins and creates the
//! namespaces the plan asks for, reports to the runtime over the [`Channel`] at each
//! step (so hooks run at the points the OCI spec sets), builds the root filesystem, drops
//! privileges, then blocks on the exec fifo until `start` and replaces itself with the
//! container's program.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::cgroups::Hierarchy;
use crate::channel::{Channel, Message};
use crate::console;
use crate::error::{Error, IoContext, Result};
use crate::hooks::{self, Point};
use crate::namespaces::{self, Plan};
use crate::process;
use crate::rootfs::Rootfs;
use crate::seccomp::Program;
use crate::sys::Linux;

/// What the init process is handed at clone time.
pub struct Init<'a> {
    pub spec: &'a Spec,
    pub rootfs: PathBuf,
    pub plan: &'a Plan,
    pub cgroups: Vec<Hierarchy>,
    pub fifo: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub seccomp: Option<&'a Program>,
    /// Extra fds (3, 4, …) the program inherits.
    pub preserve_fds: i32,
}

impl Init<'_> {
    /// Runs in the cloned child; never returns.
    pub fn run(self, channel: Channel) -> ! {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.setup_and_exec(&channel)));
        let msg = match result {
            // The runtime wraps the message in Error::Init itself.
            Ok(Err(Error::Init(msg))) => msg,
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(never)) => match never {},
            Err(_) => "init panicked".to_string(),
        };
        // Before Ready the runtime reports it; after, the container's stderr is all we have.
        if channel.send(&Message::Failed(msg.clone())).is_err() {
            eprintln!("tug: container init: {msg}");
        }
        // SAFETY: _exit never returns and is safe to call in a forked child.
        unsafe { libc::_exit(1) }
    }

    fn setup_and_exec(&self, channel: &Channel) -> Result<std::convert::Infallible> {
        // Device nodes and mount points get exactly the modes the config gives them; the
        // process's own umask is set just before it runs.
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(0) };
        expect(channel, |m| matches!(m, Message::Go))?;
        for (typ, path) in &self.plan.joins {
            namespaces::join(path, namespaces::flag(*typ))?;
        }
        if self.plan.unshare_flags != 0 {
            namespaces::unshare(self.plan.unshare_flags).ctx(|| "unshare namespaces".into())?;
        }
        let user_ns = self.plan.new_user || self.plan.joins.iter().any(|(t, _)| *t == LinuxNamespaceType::User);
        if user_ns {
            become_root()?;
        }
        if self.plan.new_cgroup {
            namespaces::unshare(libc::CLONE_NEWCGROUP).ctx(|| "unshare the cgroup namespace".into())?;
        }
        channel.send(&Message::NamespacesReady).ctx(|| "report namespaces".into())?;
        let state = match channel.recv().ctx(|| "wait for the runtime".into())? {
            Some(Message::Continue(state)) => state,
            _ => return Err(Error::Init("runtime went away".into())),
        };

        self.set_hostname()?;
        // The fifo and the console socket live outside the rootfs: hold on to them first.
        let state_dir = self.fifo.parent().unwrap_or(std::path::Path::new("/"));
        let fifo_dir = File::options()
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .read(true)
            .open(state_dir)
            .ctx(|| format!("open {}", state_dir.display()))?;
        let console = self.console_socket.as_deref().map(console::connect).transpose()?;

        let rootfs = Rootfs {
            sys: &Linux,
            root: &self.rootfs,
            spec: self.spec,
            cgroups: &self.cgroups,
            user_ns,
            new_net_ns: self.plan.new_net,
            new_cgroup_ns: self.plan.new_cgroup,
        };
        let hooks = self.spec.hooks().as_ref();
        if self.plan.new_mount {
            rootfs.prepare()?;
            hooks::run(hooks, Point::CreateContainer, &state)?;
            rootfs.pivot()?;
            self.write_sysctls()?;
            rootfs.finish()?;
        } else {
            hooks::run(hooks, Point::CreateContainer, &state)?;
            std::os::unix::fs::chroot(&self.rootfs).ctx(|| format!("chroot to {}", self.rootfs.display()))?;
        }

        let proc = self.spec.process().as_ref().ok_or_else(|| Error::Init("process is missing".into()))?;
        if let Some(console) = &console {
            let size = proc.console_size().map(|b| (b.height(), b.width()));
            console::setup(console, size)?;
        } else if proc.terminal().unwrap_or(false) {
            return Err(Error::Usage("process.terminal is true but no --console-socket was given".into()));
        }
        drop(console);
        let program = process::find_executable(proc)?;
        process::apply(proc, self.seccomp)?;
        close_fds_above(2 + self.preserve_fds);
        channel.send(&Message::Ready).ctx(|| "report ready".into())?;

        // Held open until exec closes it (O_CLOEXEC): `start` waits for that.
        let _started = wait_for_start(&fifo_dir)?;
        hooks::run(hooks, Point::StartContainer, &state)?;
        Err(process::finish(proc, self.seccomp, &program))
    }

    fn set_hostname(&self) -> Result<()> {
        if let Some(name) = self.spec.hostname() {
            let c = CString::new(name.as_str()).map_err(|_| Error::Usage("hostname contains NUL".into()))?;
            // SAFETY: c is valid for name.len() bytes.
            if unsafe { libc::sethostname(c.as_ptr(), name.len()) } < 0 {
                return Err(Error::Io { context: format!("hostname: sethostname {name:?} (needs a uts namespace)"), source: std::io::Error::last_os_error() });
            }
        }
        if let Some(name) = self.spec.domainname() {
            let c = CString::new(name.as_str()).map_err(|_| Error::Usage("domainname contains NUL".into()))?;
            // SAFETY: c is valid for name.len() bytes.
            if unsafe { libc::setdomainname(c.as_ptr(), name.len()) } < 0 {
                return Err(Error::Io { context: format!("domainname: setdomainname {name:?}"), source: std::io::Error::last_os_error() });
            }
        }
        Ok(())
    }

    fn write_sysctls(&self) -> Result<()> {
        let sysctls = self.spec.linux().as_ref().and_then(|l| l.sysctl().as_ref());
        for (key, value) in sysctls.into_iter().flatten() {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value).ctx(|| format!("linux.sysctl {key}: write {value:?} to {path}"))?;
        }
        Ok(())
    }
}

fn expect(channel: &Channel, ok: impl Fn(&Message) -> bool) -> Result<()> {
    match channel.recv().ctx(|| "wait for the runtime".into())? {
        Some(m) if ok(&m) => Ok(()),
        _ => Err(Error::Init("runtime went away".into())),
    }
}

/// In a user namespace: become its root (uid/gid 0 must be mapped).
fn become_root() -> Result<()> {
    // SAFETY: plain integer syscalls.
    if unsafe { libc::setresgid(0, 0, 0) } < 0 || unsafe { libc::setresuid(0, 0, 0) } < 0 {
        return Err(Error::Io { context: "become root in the user namespace (is uid/gid 0 mapped?)".into(), source: std::io::Error::last_os_error() });
    }
    Ok(())
}

/// Blocks until `start` opens the fifo for reading, then tells it we are going. The fifo
/// is opened relative to the state directory, which works whatever the new root holds.
/// The returned write end closes on exec, which tells `start` the program is running.
fn wait_for_start(state_dir: &File) -> Result<File> {
    let name = std::ffi::CString::new(crate::state::EXEC_FIFO).map_err(|_| Error::Init("fifo name".into()))?;
    // SAFETY: state_dir is an open directory fd and name a valid C string.
    let fd = unsafe { libc::openat(state_dir.as_raw_fd(), name.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::Io { context: "open the exec fifo".into(), source: std::io::Error::last_os_error() });
    }
    // SAFETY: fd was just opened and is owned only here.
    let mut writer = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    std::io::Write::write_all(&mut writer, b"0").ctx(|| "write the exec fifo".into())?;
    Ok(writer)
}

/// Marks every fd above `last` close-on-exec so the program inherits only stdio and the
/// preserved fds.
fn close_fds_above(last: i32) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    let fds: Vec<i32> = entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    for fd in fds.into_iter().filter(|fd| *fd > last) {
        // SAFETY: setting FD_CLOEXEC on an fd number; a stale number just fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}
