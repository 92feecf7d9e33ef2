//! `create`: from a bundle to a container whose init process waits, fully set up, for
//! `start`. The runtime side of the handshake with [`crate::init`]; on any failure the
//! init process, the cgroup and the state directory are removed again.

use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxResources, Spec};

use crate::bundle::Bundle;
use crate::cgroups::Cgroup;
use crate::channel::{self, Channel, Message};
use crate::error::{Error, IoContext, Result};
use crate::hooks::{self, Point};
use crate::init::Init;
use crate::namespaces::Plan;
use crate::seccomp;
use crate::state::{self, Container, Record, Status};

pub struct CreateOptions {
    /// The runtime root holding every container's state directory.
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: i32,
}

/// Creates the container. The init process is a child of the calling process until
/// that exits (so `run` can wait for it).
pub fn create(opts: &CreateOptions) -> Result<Container> {
    state::validate_id(&opts.id)?;
    let bundle = Bundle::load(&opts.bundle)?;
    let spec = &bundle.spec;
    let plan = Plan::from_spec(spec)?;
    let linux = spec.linux().as_ref();
    let seccomp = linux.and_then(|l| l.seccomp().as_ref()).map(seccomp::compile).transpose()?;
    let cgroup = Cgroup::resolve(linux.and_then(|l| l.cgroups_path().as_deref()), &opts.id)?;

    std::fs::create_dir_all(&opts.root).ctx(|| format!("create runtime root {}", opts.root.display()))?;
    let dir = opts.root.join(&opts.id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(Error::Exists(opts.id.clone())),
        Err(e) => return Err(Error::Io { context: format!("create {}", dir.display()), source: e }),
    }
    let mut undo = Undo { dir: Some(dir.clone()), cgroup: None, pid: None };
    let fifo = dir.join(state::EXEC_FIFO);
    mkfifo(&fifo)?;
    cgroup.create(with_device_access(spec).as_ref())?;
    undo.cgroup = Some(cgroup.clone());

    let (runtime_end, init_end) = channel::pair().ctx(|| "create the init channel".into())?;
    plan.enter_before_clone(spec)?;
    let init = Init {
        spec,
        rootfs: bundle.rootfs.clone(),
        plan: &plan,
        cgroups: cgroup.hierarchies(),
        fifo,
        console_socket: opts.console_socket.clone(),
        seccomp: seccomp.as_ref(),
        preserve_fds: opts.preserve_fds,
    };
    let pid = clone_process(plan.clone_flags).ctx(|| "clone the container's init process".into())?;
    if pid == 0 {
        drop(runtime_end);
        init.run(init_end);
    }
    drop(init_end);
    undo.pid = Some(pid);

    if plan.new_user {
        write_id_maps(pid, spec)?;
    }
    cgroup.add_process(pid)?;
    runtime_end.send(&Message::Go).ctx(|| "start the init process".into())?;
    wait_for(&runtime_end, Message::NamespacesReady)?;

    let record = Record {
        id: opts.id.clone(),
        pid,
        pid_start: state::process_start(pid).map(|(start, _)| start).unwrap_or(0),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        cgroup: cgroup.path().to_path_buf(),
        created: state::rfc3339(std::time::SystemTime::now()),
        owner: String::new(),
        spec: bundle.spec.clone(),
    };
    let container = Container { dir: dir.clone(), record };
    let state_json = serde_json::to_string(&container.oci_state(Status::Created)).unwrap_or_default();
    hooks::run(spec.hooks().as_ref(), Point::Prestart, &state_json)?;
    hooks::run(spec.hooks().as_ref(), Point::CreateRuntime, &state_json)?;
    runtime_end.send(&Message::Continue(state_json)).ctx(|| "resume the init process".into())?;
    wait_for(&runtime_end, Message::Ready)?;

    Container::save(&dir, &container.record)?;
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    undo.disarm();
    Ok(container)
}

/// Waits for `want` from the init process; its failure message or death is the error.
fn wait_for(channel: &Channel, want: Message) -> Result<()> {
    match channel.recv().ctx(|| "wait for the init process".into())? {
        Some(m) if m == want => Ok(()),
        Some(Message::Failed(msg)) => Err(Error::Init(msg)),
        Some(other) => Err(Error::Init(format!("unexpected message {other:?}"))),
        None => Err(Error::Init("init process exited during setup".into())),
    }
}

/// The container's resources, with access granted to the device nodes `linux.devices`
/// asks for (the cgroup layer adds the default nodes every container gets).
fn with_device_access(spec: &Spec) -> Option<LinuxResources> {
    let linux = spec.linux().as_ref()?;
    let mut resources = linux.resources().clone()?;
    let mut rules = resources.devices().clone().unwrap_or_default();
    if rules.is_empty() {
        return Some(resources);
    }
    for device in linux.devices().iter().flatten() {
        let rule = LinuxDeviceCgroupBuilder::default().allow(true).typ(device.typ()).major(device.major()).minor(device.minor()).access("rwm").build();
        rules.extend(rule.ok());
    }
    resources.set_devices(Some(rules));
    Some(resources)
}

/// clone(2) without a new stack: fork semantics plus new namespaces.
fn clone_process(flags: libc::c_int) -> io::Result<libc::pid_t> {
    // SAFETY: without CLONE_VM and with a null stack, clone behaves like fork: the child
    // gets a copy of our (single-threaded) address space and returns 0 here.
    let ret = unsafe { libc::syscall(libc::SYS_clone, (flags | libc::SIGCHLD) as libc::c_ulong, 0usize, 0usize, 0usize, 0usize) };
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret as libc::pid_t) }
}

fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else { return Ok(()) };
    for (file, maps) in [("uid_map", linux.uid_mappings()), ("gid_map", linux.gid_mappings())] {
        let text: String = maps.iter().flatten().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect();
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, &text).ctx(|| format!("linux.{}: write {text:?} to {path}", if file == "uid_map" { "uidMappings" } else { "gidMappings" }))?;
    }
    Ok(())
}

fn mkfifo(path: &Path) -> Result<()> {
    let c = crate::sys::cstr(path).ctx(|| format!("fifo path {}", path.display()))?;
    // SAFETY: c is a valid C string.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o622) } < 0 {
        return Err(Error::Io { context: format!("mkfifo {}", path.display()), source: io::Error::last_os_error() });
    }
    // Writable for the container's root even when a user namespace maps it to another uid.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o622)).ctx(|| format!("chmod {}", path.display()))
}

/// Writes the pid file atomically, as runc does (callers poll for it).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = std::path::absolute(path).ctx(|| format!("pid file {}", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("pid")));
    std::fs::write(&tmp, pid.to_string()).ctx(|| format!("write pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).ctx(|| format!("write pid file {}", path.display()))
}

/// Undoes a half-made container unless disarmed.
struct Undo {
    dir: Option<PathBuf>,
    cgroup: Option<Cgroup>,
    pid: Option<i32>,
}

impl Undo {
    fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.pid = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            // SAFETY: pid is our own child; kill and waitpid take plain integers.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        if let Some(cgroup) = &self.cgroup {
            let _ = cgroup.kill_all(libc::SIGKILL);
            let _ = cgroup.remove();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
