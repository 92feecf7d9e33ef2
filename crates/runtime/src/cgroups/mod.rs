//! Container cgroups on cgroup v1, hybrid and pure v2 machines, detected at run time.
//!
//! - `layout` reads /proc/self/mountinfo and /proc/self/cgroup: which hierarchies
//!   exist, and where a container's cgroup goes (pure functions over their text);
//! - `v1` and `v2` write limits and drive the freezer in each kind of hierarchy;
//! - `stats` reads usage back in the shape `runc events --stats` prints;
//! - this file ties them into [`Cgroup`], what the lifecycle verbs use.
//!
//! A container has one absolute cgroup path (e.g. `/tug/<id>`), the same in every
//! hierarchy. On v1 and hybrid machines its directory is made in every mounted
//! hierarchy (each controller, `name=systemd`, and the unified one) and limits go
//! to the v1 controllers; on pure v2 it is one directory with the controllers
//! enabled from above. Device rules are enforced on v1 only (see v2.rs).

mod error;
mod fs;
mod layout;
mod stats;
mod v1;
mod v2;

use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

pub use error::{CgroupError, Result};
use layout::{Layout, Mode, Mount};
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryEntry, MemoryStats, PidsStats,
    Stats, Throttling,
};

/// A container's cgroup: one absolute cgroup path on this machine's hierarchies.
#[derive(Debug, Clone)]
pub struct Cgroup {
    layout: Layout,
    path: PathBuf,
}

/// One hierarchy as a container's /sys/fs/cgroup should show it.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// v1: the mount's controllers, e.g. "cpu", "net_cls,net_prio", "name=systemd";
    /// "" for cgroup2.
    pub controllers: String,
    /// Where to mount it under the container's /sys/fs/cgroup, e.g. "cpu",
    /// "net_cls,net_prio", "systemd", "unified"; "" on pure v2 (mount at /sys/fs/cgroup).
    pub name: String,
    /// The host mount point, e.g. /sys/fs/cgroup/cpu.
    pub mount_point: PathBuf,
    /// The host directory of this container's cgroup in it.
    pub dir: PathBuf,
    /// True for cgroup2.
    pub v2: bool,
}

/// Which freezer a cgroup uses: v1's freezer controller, else cgroup2's core freezer.
enum Freezer {
    V1(PathBuf),
    V2(PathBuf),
}

impl Freezer {
    fn freeze(&self) -> Result<()> {
        match self {
            Freezer::V1(dir) => v1::freeze(dir),
            Freezer::V2(dir) => v2::freeze(dir),
        }
    }

    fn thaw(&self) -> Result<()> {
        match self {
            Freezer::V1(dir) => v1::thaw(dir),
            Freezer::V2(dir) => v2::thaw(dir),
        }
    }

    fn is_frozen(&self) -> Result<bool> {
        match self {
            Freezer::V1(dir) => v1::is_frozen(dir),
            Freezer::V2(dir) => v2::is_frozen(dir),
        }
    }
}

impl Cgroup {
    /// Where container `id`'s cgroup lives. `cgroups_path` is `linux.cgroupsPath`:
    /// absolute ("/a/b") = from each hierarchy's root; relative ("a/b") = below
    /// the caller's own cgroup; `None` = "/tug/<id>". Creates nothing.
    ///
    /// The caller's own cgroup can differ between v1 hierarchies; a relative path
    /// is resolved against one of them (cgroup2's entry, else name=systemd's, else
    /// the first) so the container has one path everywhere and [`Cgroup::path`]
    /// round-trips through [`Cgroup::open`]. A systemd "slice:prefix:name" value
    /// is refused: tug manages cgroups without systemd.
    pub fn resolve(cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup> {
        let layout = Layout::detect()?;
        let path = layout::resolve_path(cgroups_path, id, || layout::own_cgroup(&layout))?;
        Ok(Cgroup { layout, path })
    }

    /// Re-opens a cgroup from the path [`Cgroup::path`] returned.
    pub fn open(path: &Path) -> Result<Cgroup> {
        if !path.is_absolute() {
            return Err(CgroupError::InvalidPath {
                path: path.to_path_buf(),
                reason: "a stored cgroup path must be absolute".into(),
            });
        }
        let layout = Layout::detect()?;
        let path = layout::resolve_path(Some(path), "", || Ok(PathBuf::from("/")))?;
        Ok(Cgroup { layout, path })
    }

    /// A cgroup on a given layout (tests point it at one hierarchy).
    #[cfg(test)]
    pub(crate) fn with_layout(layout: Layout, path: &Path) -> Cgroup {
        Cgroup {
            layout,
            path: path.to_path_buf(),
        }
    }

    /// The absolute cgroup path (e.g. "/tug/abc") to keep in the container's state.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True on a pure cgroup v2 machine.
    pub fn is_unified(&self) -> bool {
        self.layout.mode() == Mode::Unified
    }

    /// What a container's /sys/fs/cgroup should show: one entry per hierarchy.
    pub fn hierarchies(&self) -> Vec<Hierarchy> {
        let unified = self.is_unified();
        self.layout
            .mounts()
            .iter()
            .map(|mount| Hierarchy {
                controllers: mount.controllers.join(","),
                name: if mount.v2 && unified {
                    String::new()
                } else {
                    base_name(&mount.mount_point)
                },
                mount_point: mount.mount_point.clone(),
                dir: mount.dir_of(&self.path),
                v2: mount.v2,
            })
            .collect()
    }

    /// Makes the cgroup's directory in every hierarchy, prepares it (cpuset
    /// cpus/mems copied down on v1, controllers enabled from above on v2) and
    /// applies `resources`. On error, removes the directories it made.
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        let mut created = Vec::new();
        let result = self
            .make_dirs(&mut created)
            .and_then(|()| self.prepare())
            .and_then(|()| resources.map_or(Ok(()), |r| self.apply(r)));
        if result.is_err() {
            for dir in created.iter().rev() {
                // Best effort: the error that made us clean up is the one to report.
                let _ = std::fs::remove_dir(dir);
            }
        }
        result
    }

    /// Makes the missing directories down to the cgroup in every hierarchy,
    /// recording each one made in `created`, parents first.
    fn make_dirs(&self, created: &mut Vec<PathBuf>) -> Result<()> {
        for mount in self.layout.mounts() {
            // A concurrent `remove` may take away the shared "/tug" parent between our
            // mkdirs: start again from the top (a few times) when a parent vanishes.
            let mut attempts = 0;
            'again: loop {
                for dir in mount.dirs_down_to(&self.path).into_iter().skip(1) {
                    match std::fs::create_dir(&dir) {
                        Ok(()) => created.push(dir),
                        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(err) if err.kind() == io::ErrorKind::NotFound && attempts < 3 => {
                            attempts += 1;
                            continue 'again;
                        }
                        Err(cause) => return Err(CgroupError::Create { path: dir, cause }),
                    }
                }
                break;
            }
        }
        Ok(())
    }

    fn prepare(&self) -> Result<()> {
        match self.layout.mode() {
            Mode::Unified => match self.layout.v2() {
                Some(mount) => v2::enable_controllers(mount, &self.path),
                None => Ok(()),
            },
            Mode::Legacy | Mode::Hybrid => match self.layout.v1("cpuset") {
                Some(mount) => v1::inherit_cpuset(mount, &self.path),
                None => Ok(()),
            },
        }
    }

    /// Applies limits, at creation and for `update`. v1 and hybrid: memory
    /// (limit, reservation, memory+swap, swappiness, disableOOMKiller), cpu
    /// (shares, quota/period, burst, idle, realtime), cpuset, pids, blkio,
    /// hugetlb, net_cls/net_prio and device rules (followed by the OCI default
    /// devices), each in the hierarchy that has the controller if it is mounted;
    /// swap limits are skipped where swap accounting is off. Pure v2: memory.max/low/swap.max,
    /// cpu.weight/max, cpuset, pids.max, io.weight/io.max, hugetlb and
    /// `unified` entries; v2.rs lists what v2 cannot do. Kernel memory limits
    /// are ignored everywhere. A value the kernel refuses gives an error naming
    /// the file and the value.
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        match self.unified_dir() {
            Some(dir) => v2::apply(&dir, resources),
            None => v1::apply(&self.layout, &self.path, resources),
        }
    }

    /// Moves `pid` into the cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        for mount in self.layout.mounts() {
            fs::write_in(&mount.dir_of(&self.path), "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Freezes every process of the cgroup and waits until they are frozen.
    pub fn freeze(&self) -> Result<()> {
        self.freezer()?.freeze()
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<()> {
        self.freezer()?.thaw()
    }

    /// True if the cgroup is frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        self.freezer()?.is_frozen()
    }

    /// Every pid in the cgroup and its child cgroups, sorted.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mount = self.process_mount()?;
        let mut pids = Vec::new();
        for dir in fs::walk(&mount.dir_of(&self.path))? {
            pids.extend(fs::read_procs(&dir)?);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Sends `signal` to every process in the cgroup. The cgroup is frozen
    /// meanwhile (when it has a freezer) so that no fork escapes the signal;
    /// afterwards it is thawed, unless it was frozen before and the signal is
    /// not SIGKILL (killed processes need to run to die). Processes that exit
    /// on their own meanwhile are not an error, nor is a cgroup that is empty
    /// or already removed.
    pub fn kill_all(&self, signal: i32) -> Result<()> {
        if self.pids()?.is_empty() {
            return Ok(());
        }
        let freezer = self.freezer().ok();
        let was_frozen = match &freezer {
            Some(freezer) => freezer.is_frozen()?,
            None => false,
        };
        if let Some(freezer) = &freezer {
            // Freezing only closes the fork race; signal even if it fails.
            let _ = freezer.freeze();
        }
        let signalled = self.signal_each(signal);
        match &freezer {
            Some(freezer) if !was_frozen || signal == libc::SIGKILL => {
                signalled.and_then(|()| freezer.thaw())
            }
            _ => signalled,
        }
    }

    fn signal_each(&self, signal: i32) -> Result<()> {
        for pid in self.pids()? {
            // SAFETY: kill(2) takes plain integers and touches no memory of ours.
            if unsafe { libc::kill(pid, signal) } != 0 {
                let cause = io::Error::last_os_error();
                if cause.raw_os_error() != Some(libc::ESRCH) {
                    return Err(CgroupError::Signal { pid, signal, cause });
                }
            }
        }
        Ok(())
    }

    /// True if the kernel OOM-killed a process in this cgroup; false when the
    /// memory controller is not there to tell.
    pub fn oom_killed(&self) -> Result<bool> {
        match (self.unified_dir(), self.layout.v1("memory")) {
            (Some(dir), _) => v2::oom_killed(&dir),
            (None, Some(memory)) => v1::oom_killed(&memory.dir_of(&self.path)),
            (None, None) => Ok(false),
        }
    }

    /// Resource usage, as `events --stats` reports it.
    pub fn stats(&self) -> Result<Stats> {
        match self.unified_dir() {
            Some(dir) => stats::v2(&dir),
            None => stats::v1(&self.layout, &self.path),
        }
    }

    /// Removes the cgroup's directory, and any child cgroups made inside it,
    /// from every hierarchy, deepest first. The default parent "/tug" goes too once
    /// empty; other parents stay. A
    /// directory that is already gone is fine; a busy one is retried briefly
    /// (a killed process may still be exiting). Every hierarchy is tried; the
    /// first error is returned.
    pub fn remove(&self) -> Result<()> {
        let mut first_error = None;
        for mount in self.layout.mounts() {
            if let Err(err) = remove_tree(&mount.dir_of(&self.path)) {
                first_error.get_or_insert(err);
            }
            if self.path.parent() == Some(Path::new(layout::DEFAULT_PARENT)) {
                // Fails (harmlessly) while other containers still live there.
                let _ = std::fs::remove_dir(mount.dir_of(Path::new(layout::DEFAULT_PARENT)));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The cgroup's directory when limits live in cgroup2 (pure v2 only).
    fn unified_dir(&self) -> Option<PathBuf> {
        match self.layout.mode() {
            Mode::Unified => self.layout.v2().map(|m| m.dir_of(&self.path)),
            Mode::Legacy | Mode::Hybrid => None,
        }
    }

    fn freezer(&self) -> Result<Freezer> {
        if let Some(mount) = self.layout.v1("freezer") {
            return Ok(Freezer::V1(mount.dir_of(&self.path)));
        }
        match self.layout.v2() {
            Some(mount) => Ok(Freezer::V2(mount.dir_of(&self.path))),
            None => Err(CgroupError::Unsupported(
                "cannot freeze: neither a v1 freezer nor cgroup2 is mounted".into(),
            )),
        }
    }

    /// The hierarchy whose cgroup.procs lists the processes: pids, else
    /// freezer, else cgroup2, else any.
    fn process_mount(&self) -> Result<&Mount> {
        self.layout
            .v1("pids")
            .or_else(|| self.layout.v1("freezer"))
            .or_else(|| self.layout.v2())
            .or_else(|| self.layout.mounts().first())
            .ok_or(CgroupError::NotMounted)
    }
}

/// Removes `dir` and every cgroup below it, deepest first.
fn remove_tree(dir: &Path) -> Result<()> {
    for dir in fs::walk(dir)?.iter().rev() {
        fs::remove_dir(dir)?;
    }
    Ok(())
}

/// The last component of a mount point ("/sys/fs/cgroup/cpu" gives "cpu").
fn base_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
