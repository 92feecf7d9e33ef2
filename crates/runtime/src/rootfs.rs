//! The container's filesystem view: mounts from the config, /dev with its default device
//! nodes, /sys/fs/cgroup, pivot_root (chroot only where pivot_root cannot work), masked and
//! read-only paths, root propagation and a read-only root. Runs in the container's init
//! process, inside its fresh mount namespace; every syscall goes through [`Syscall`].

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::cgroups::Hierarchy;
use crate::error::{Error, IoContext, Result};
use crate::mount_options::{self, MountOptions};
use crate::scoped_path;
use crate::sys::Syscall;

/// Everything the filesystem setup needs to know about the container.
pub struct Rootfs<'a> {
    pub sys: &'a dyn Syscall,
    /// Absolute host path of the root filesystem.
    pub root: &'a Path,
    pub spec: &'a Spec,
    /// The container's cgroup in each hierarchy, for `cgroup` mounts.
    pub cgroups: &'a [Hierarchy],
    /// In a new user namespace: device nodes are bind-mounted, not created.
    pub user_ns: bool,
    /// sysfs can only be mounted by the owner of the network namespace.
    pub new_net_ns: bool,
    pub new_cgroup_ns: bool,
}

/// The device nodes every container gets: (path, major, minor).
const DEFAULT_DEVICES: &[(&str, i64, i64)] =
    &[("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)];

const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
];

impl Rootfs<'_> {
    /// Before pivot_root: isolates mount propagation, makes the root a mount point, mounts
    /// everything the config asks for and populates /dev.
    pub fn prepare(&self) -> Result<()> {
        let linux = self.spec.linux().as_ref();
        let propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
            Some(name) => mount_options::propagation(name).ok_or_else(|| Error::Spec {
                path: "config.json".into(),
                msg: format!("linux.rootfsPropagation {name:?} is not one of shared, slave, private, unbindable (optionally with an r prefix)"),
            })?,
            None => libc::MS_SLAVE | libc::MS_REC,
        };
        // Nothing we mount may propagate back to the host, and the rootfs must stay bindable;
        // shared and unbindable are applied to the new root after pivot.
        let isolate = if propagation & (libc::MS_SHARED | libc::MS_UNBINDABLE) != 0 { libc::MS_SLAVE | libc::MS_REC } else { propagation };
        self.mount(None, Path::new("/"), None, isolate, None)?;
        self.mount(Some(self.root), self.root, Some("bind"), libc::MS_BIND | libc::MS_REC, None)?;

        let mut dev_is_bound = false;
        for m in self.spec.mounts().iter().flatten() {
            let options = mount_options::parse(m.options().as_deref().unwrap_or_default());
            if m.destination() == Path::new("/dev") && options.is_bind() {
                dev_is_bound = true;
            }
            self.mount_entry(m, &options)?;
        }
        if !dev_is_bound {
            self.create_devices()?;
        }
        Ok(())
    }

    /// Makes the root filesystem `/`. Falls back to chroot only where pivot_root cannot work
    /// (a root on the initial ramfs), and says so on stderr.
    pub fn pivot(&self) -> Result<()> {
        self.sys.chdir(self.root).ctx(|| format!("chdir to rootfs {}", self.root.display()))?;
        match self.sys.pivot_root(Path::new("."), Path::new(".")) {
            Ok(()) => {
                // The old root is now stacked under the new one; detach it.
                self.mount(None, Path::new("."), None, libc::MS_SLAVE | libc::MS_REC, None)?;
                self.sys.umount(Path::new("."), libc::MNT_DETACH).ctx(|| "unmount the old root".into())?;
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                eprintln!("tug: pivot_root is not possible for {} ({e}); using chroot, which is weaker isolation", self.root.display());
                self.mount(Some(self.root), Path::new("/"), None, libc::MS_MOVE, None)?;
                self.sys.chroot(Path::new(".")).ctx(|| format!("chroot to {}", self.root.display()))?;
            }
            Err(e) => return Err(Error::Io { context: format!("pivot_root to {}", self.root.display()), source: e }),
        }
        self.sys.chdir(Path::new("/")).ctx(|| "chdir to / in the container".into())
    }

    /// After pivot_root: masked and read-only paths, root propagation, read-only root.
    pub fn finish(&self) -> Result<()> {
        if let Some(linux) = self.spec.linux() {
            for path in linux.masked_paths().iter().flatten() {
                self.mask(Path::new(path))?;
            }
            for path in linux.readonly_paths().iter().flatten() {
                self.make_readonly(Path::new(path))?;
            }
            if let Some(flag) = linux.rootfs_propagation().as_deref().and_then(mount_options::propagation) {
                self.mount(None, Path::new("/"), None, flag, None)?;
            }
        }
        if self.spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
            let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked_flags(Path::new("/"));
            self.mount(None, Path::new("/"), None, flags, None)?;
        }
        Ok(())
    }

    fn mount(&self, source: Option<&Path>, target: &Path, fstype: Option<&str>, flags: u64, data: Option<&str>) -> Result<()> {
        self.sys.mount(source, target, fstype, flags, data).ctx(|| {
            let what = source.map_or_else(|| fstype.unwrap_or("none").to_string(), |s| s.display().to_string());
            format!("mount {what} on {} (flags {flags:#x})", target.display())
        })
    }

    fn in_root(&self, path: &Path) -> Result<PathBuf> {
        scoped_path::resolve(self.root, path).ctx(|| format!("resolve {} inside the rootfs", path.display()))
    }

    fn mount_entry(&self, m: &Mount, options: &MountOptions) -> Result<()> {
        let fstype = m.typ().as_deref().unwrap_or(if options.is_bind() { "bind" } else { "none" });
        let dest = self.in_root(m.destination())?;
        let data = (!options.data.is_empty()).then_some(options.data.as_str());
        match fstype {
            "cgroup" | "cgroup2" => return self.mount_cgroups(&dest, options),
            "sysfs" if self.user_ns && !self.new_net_ns => {
                // Only the owner of the network namespace may mount sysfs: bind the host's.
                self.sys.mkdir_all(&dest, 0o755).ctx(|| format!("create mount point {}", dest.display()))?;
                self.mount(Some(Path::new("/sys")), &dest, None, libc::MS_BIND | libc::MS_REC, None)?;
                return self.remount(&dest, options.flags | libc::MS_BIND);
            }
            _ => {}
        }
        if options.is_bind() {
            let source = m.source().as_deref().ok_or_else(|| Error::Spec {
                path: "config.json".into(),
                msg: format!("mounts[{}].source is required for a bind mount", m.destination().display()),
            })?;
            let source_meta = std::fs::metadata(source).ctx(|| format!("bind mount source {} for {}", source.display(), m.destination().display()))?;
            self.create_mount_point(&dest, source_meta.is_dir())?;
            self.mount(Some(source), &dest, None, options.flags & (libc::MS_BIND | libc::MS_REC), None)?;
            if options.flags & !(libc::MS_BIND | libc::MS_REC) != 0 {
                self.remount(&dest, options.flags)?;
            }
        } else {
            self.create_mount_point(&dest, true)?;
            let source = m.source().as_deref().unwrap_or_else(|| Path::new(fstype));
            self.mount(Some(source), &dest, Some(fstype), options.flags, data).or_else(|e| {
                // A mqueue or similar that the kernel refuses in a user namespace: bind the host's.
                if self.user_ns && fstype == "mqueue" {
                    self.mount(Some(Path::new("/dev/mqueue")), &dest, None, libc::MS_BIND | libc::MS_REC, None)
                } else {
                    Err(e)
                }
            })?;
        }
        if options.propagation != 0 {
            self.mount(None, &dest, None, options.propagation, None)?;
        }
        Ok(())
    }

    /// Re-applies per-mount flags to a bind mount (a bind ignores them the first time).
    fn remount(&self, dest: &Path, flags: u64) -> Result<()> {
        let flags = flags | libc::MS_REMOUNT | libc::MS_BIND | locked_flags(dest);
        self.mount(None, dest, None, flags & !libc::MS_REC, None)
    }

    fn create_mount_point(&self, dest: &Path, dir: bool) -> Result<()> {
        if dir {
            return self.sys.mkdir_all(dest, 0o755).ctx(|| format!("create mount point {}", dest.display()));
        }
        if let Some(parent) = dest.parent() {
            self.sys.mkdir_all(parent, 0o755).ctx(|| format!("create mount point {}", parent.display()))?;
        }
        self.sys.create_file(dest).ctx(|| format!("create mount point {}", dest.display()))
    }

    /// /sys/fs/cgroup: on pure v2 the cgroup2 filesystem itself (when the container has its
    /// own cgroup namespace) or a bind of its cgroup; on v1 and hybrid a tmpfs holding a bind
    /// of the container's cgroup from each hierarchy.
    fn mount_cgroups(&self, dest: &Path, options: &MountOptions) -> Result<()> {
        let flags = options.flags & !(libc::MS_BIND | libc::MS_REC);
        self.sys.mkdir_all(dest, 0o755).ctx(|| format!("create mount point {}", dest.display()))?;
        if let [only] = self.cgroups {
            if only.v2 && only.name.is_empty() {
                if self.new_cgroup_ns {
                    return self.mount(Some(Path::new("cgroup2")), dest, Some("cgroup2"), flags, None);
                }
                self.mount(Some(&only.dir), dest, None, libc::MS_BIND | libc::MS_REC, None)?;
                return self.remount(dest, flags);
            }
        }
        self.mount(Some(Path::new("tmpfs")), dest, Some("tmpfs"), flags & !libc::MS_RDONLY, Some("mode=755"))?;
        for h in self.cgroups {
            let sub = dest.join(&h.name);
            self.sys.mkdir_all(&sub, 0o755).ctx(|| format!("create mount point {}", sub.display()))?;
            self.mount(Some(&h.dir), &sub, None, libc::MS_BIND | libc::MS_REC, None)?;
            self.remount(&sub, flags)?;
            // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct".
            if h.name.contains(',') {
                for alias in h.name.split(',') {
                    let link = dest.join(alias);
                    self.sys.symlink(Path::new(&h.name), &link).ctx(|| format!("symlink {}", link.display()))?;
                }
            }
        }
        if flags & libc::MS_RDONLY != 0 {
            self.remount(dest, flags)?;
        }
        Ok(())
    }

    fn create_devices(&self) -> Result<()> {
        let dev = self.in_root(Path::new("/dev"))?;
        self.sys.mkdir_all(&dev, 0o755).ctx(|| format!("create {}", dev.display()))?;
        for &(path, major, minor) in DEFAULT_DEVICES {
            self.create_device(Path::new(path), LinuxDeviceType::C, major, minor, 0o666, 0, 0)?;
        }
        let configured = self.spec.linux().as_ref().and_then(|l| l.devices().as_ref());
        for d in configured.into_iter().flatten() {
            self.create_configured_device(d)?;
        }
        for &(target, link) in DEV_SYMLINKS {
            let link = self.in_root(Path::new(link))?;
            if std::fs::symlink_metadata(&link).is_err() {
                self.sys.symlink(Path::new(target), &link).ctx(|| format!("symlink {}", link.display()))?;
            }
        }
        let ptmx = self.in_root(Path::new("/dev/ptmx"))?;
        let _ = std::fs::remove_file(&ptmx);
        self.sys.symlink(Path::new("pts/ptmx"), &ptmx).ctx(|| format!("symlink {}", ptmx.display()))
    }

    fn create_configured_device(&self, d: &LinuxDevice) -> Result<()> {
        let mode = d.file_mode().unwrap_or(0o666);
        self.create_device(d.path(), d.typ(), d.major(), d.minor(), mode, d.uid().unwrap_or(0), d.gid().unwrap_or(0))
    }

    #[allow(clippy::too_many_arguments)]
    fn create_device(&self, path: &Path, typ: LinuxDeviceType, major: i64, minor: i64, mode: u32, uid: u32, gid: u32) -> Result<()> {
        let dest = self.in_root(path)?;
        if let Some(parent) = dest.parent() {
            self.sys.mkdir_all(parent, 0o755).ctx(|| format!("create {}", parent.display()))?;
        }
        if self.user_ns {
            // mknod is not allowed in a user namespace: bind the host's node.
            self.sys.create_file(&dest).ctx(|| format!("create {}", dest.display()))?;
            return self.mount(Some(path), &dest, None, libc::MS_BIND, None);
        }
        let kind = match typ {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Spec { path: "config.json".into(), msg: format!("linux.devices {}: type \"a\" is only valid in cgroup rules", path.display()) })
            }
        };
        let _ = std::fs::remove_file(&dest);
        let dev = libc::makedev(major as u32, minor as u32);
        self.sys.mknod(&dest, kind | (mode & 0o7777), dev).ctx(|| format!("mknod {}", dest.display()))?;
        self.sys.chown(&dest, uid, gid).ctx(|| format!("chown {}", dest.display()))
    }

    fn mask(&self, path: &Path) -> Result<()> {
        let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
        if meta.is_dir() {
            self.mount(Some(Path::new("tmpfs")), path, Some("tmpfs"), libc::MS_RDONLY, None)
        } else {
            self.mount(Some(Path::new("/dev/null")), path, None, libc::MS_BIND, None)
        }
    }

    fn make_readonly(&self, path: &Path) -> Result<()> {
        if std::fs::symlink_metadata(path).is_err() {
            return Ok(());
        }
        self.mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None)?;
        self.remount(path, libc::MS_RDONLY)
    }
}

/// Flags a remount must keep (a user namespace cannot clear nosuid/nodev/noexec/atime
/// flags it inherited).
fn locked_flags(path: &Path) -> u64 {
    let Ok(c) = crate::sys::cstr(path) else { return 0 };
    // SAFETY: an all-zero statvfs is a valid out-parameter; c is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    let f = st.f_flag;
    let mut flags = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f & st_flag != 0 {
            flags |= ms_flag;
        }
    }
    flags & !libc::MS_RDONLY
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::io;

    /// Records every call instead of making it; creates directories for real (in a temp
    /// dir) so path resolution sees them.
    #[derive(Default)]
    struct Recorder {
        calls: RefCell<Vec<String>>,
    }

    impl Recorder {
        fn log(&self, s: String) -> io::Result<()> {
            self.calls.borrow_mut().push(s);
            Ok(())
        }
    }

    impl Syscall for Recorder {
        fn mount(&self, source: Option<&Path>, target: &Path, fstype: Option<&str>, flags: u64, data: Option<&str>) -> io::Result<()> {
            self.log(format!("mount {:?} {} {:?} {flags:#x} {:?}", source, target.display(), fstype, data))
        }
        fn umount(&self, target: &Path, _flags: i32) -> io::Result<()> {
            self.log(format!("umount {}", target.display()))
        }
        fn pivot_root(&self, new_root: &Path, _put_old: &Path) -> io::Result<()> {
            self.log(format!("pivot_root {}", new_root.display()))
        }
        fn chroot(&self, path: &Path) -> io::Result<()> {
            self.log(format!("chroot {}", path.display()))
        }
        fn chdir(&self, path: &Path) -> io::Result<()> {
            self.log(format!("chdir {}", path.display()))
        }
        fn mknod(&self, path: &Path, mode: u32, dev: u64) -> io::Result<()> {
            self.log(format!("mknod {} {mode:o} {dev}", path.display()))
        }
        fn chown(&self, _path: &Path, _uid: u32, _gid: u32) -> io::Result<()> {
            Ok(())
        }
        fn symlink(&self, original: &Path, link: &Path) -> io::Result<()> {
            self.log(format!("symlink {} {}", original.display(), link.display()))
        }
        fn mkdir_all(&self, path: &Path, _mode: u32) -> io::Result<()> {
            std::fs::create_dir_all(path)
        }
        fn create_file(&self, path: &Path) -> io::Result<()> {
            std::fs::write(path, b"")
        }
    }

    fn spec(json: serde_json::Value) -> Spec {
        serde_json::from_value(json).unwrap()
    }

    fn rootfs_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tug-rootfs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        dir
    }

    #[test]
    fn prepare_isolates_binds_root_then_mounts_in_order_and_makes_devices() {
        let root = rootfs_dir("order");
        let spec = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "ro", "nosuid"]}
            ]
        }));
        let sys = Recorder::default();
        let rootfs = Rootfs { sys: &sys, root: &root, spec: &spec, cgroups: &[], user_ns: false, new_net_ns: true, new_cgroup_ns: true };
        rootfs.prepare().unwrap();
        let calls = sys.calls.into_inner();
        let r = root.display();
        assert_eq!(calls[0], format!("mount None / None {:#x} None", libc::MS_SLAVE | libc::MS_REC));
        assert_eq!(calls[1], format!("mount Some({r:?}) {r} Some(\"bind\") {:#x} None", libc::MS_BIND | libc::MS_REC).replace(&format!("{r:?}"), &format!("\"{r}\"")));
        assert_eq!(calls[2], format!("mount Some(\"proc\") {r}/proc Some(\"proc\") 0x0 None"));
        assert!(calls[3].starts_with(&format!("mount Some(\"/tmp\") {r}/data None {:#x}", libc::MS_BIND | libc::MS_REC)), "{}", calls[3]);
        // A bind ignores flags: they come in a remount.
        assert!(calls[4].starts_with(&format!("mount None {r}/data None ")), "{}", calls[4]);
        let remount_flags = u64::from_str_radix(calls[4].split_whitespace().nth(4).unwrap().trim_start_matches("0x"), 16).unwrap();
        assert!(remount_flags & libc::MS_REMOUNT != 0 && remount_flags & libc::MS_RDONLY != 0 && remount_flags & libc::MS_NOSUID != 0);
        assert!(calls.iter().any(|c| c == &format!("mknod {r}/dev/null 20666 {}", libc::makedev(1, 3))), "{calls:#?}");
        assert!(calls.iter().any(|c| c == &format!("symlink pts/ptmx {r}/dev/ptmx")));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_mount_through_a_symlink_lands_inside_the_rootfs() {
        let root = rootfs_dir("symlink");
        std::os::unix::fs::symlink("/", root.join("escape")).unwrap();
        let spec = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [{"destination": "/escape/etc/target", "type": "tmpfs", "source": "tmpfs"}]
        }));
        let sys = Recorder::default();
        let rootfs = Rootfs { sys: &sys, root: &root, spec: &spec, cgroups: &[], user_ns: false, new_net_ns: true, new_cgroup_ns: true };
        rootfs.prepare().unwrap();
        let calls = sys.calls.into_inner();
        assert!(calls[2].contains(&format!("{}/etc/target", root.display())), "{}", calls[2]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn in_a_user_namespace_devices_are_bound_not_created() {
        let root = rootfs_dir("userns");
        let spec = spec(serde_json::json!({"ociVersion": "1.0.2"}));
        let sys = Recorder::default();
        let rootfs = Rootfs { sys: &sys, root: &root, spec: &spec, cgroups: &[], user_ns: true, new_net_ns: true, new_cgroup_ns: true };
        rootfs.prepare().unwrap();
        let calls = sys.calls.into_inner();
        assert!(!calls.iter().any(|c| c.starts_with("mknod")), "{calls:#?}");
        assert!(calls.iter().any(|c| c.starts_with(&format!("mount Some(\"/dev/null\") {}/dev/null", root.display()))), "{calls:#?}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
