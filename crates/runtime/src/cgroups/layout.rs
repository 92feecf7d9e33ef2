//! Which cgroup hierarchies this machine mounts, and where a container's cgroup goes.
//!
//! Everything here is a pure function over the text of `/proc/self/mountinfo` and
//! `/proc/self/cgroup`, except [`Layout::detect`] and [`own_cgroup`] which read them.

/// Where containers' cgroups go when the config names no cgroupsPath.
pub(super) const DEFAULT_PARENT: &str = "/tug";

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use super::error::{CgroupError, Result};
use super::fs;

const MOUNTINFO: &str = "/proc/self/mountinfo";
const PROC_CGROUP: &str = "/proc/self/cgroup";

/// Controllers a v1 `cgroup` mount can carry in its super options; every other
/// super option (rw, noprefix, xattr, release_agent=..., ...) is not a controller.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "debug",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// v1: the controllers from the super options, in kernel order (e.g. `net_cls`,
    /// `net_prio`, or `name=systemd`); empty for cgroup2.
    pub controllers: Vec<String>,
    /// Where the hierarchy is mounted, e.g. /sys/fs/cgroup/cpu.
    pub mount_point: PathBuf,
    /// The cgroup (as this process's cgroup namespace names it) seen at the mount point.
    pub root: PathBuf,
    /// True for a cgroup2 mount.
    pub v2: bool,
}

impl Mount {
    /// True if this v1 hierarchy carries `controller` (e.g. "memory", "name=systemd").
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// The directory of `cgroup` (an absolute cgroup path) in this hierarchy.
    ///
    /// The mount's root is stripped first, so a hierarchy mounted from a sub-cgroup
    /// (as inside another container) still finds its cgroups; a path outside that
    /// root is taken as relative to the mount point.
    pub fn dir_of(&self, cgroup: &Path) -> PathBuf {
        self.mount_point.join(self.relative(cgroup))
    }

    /// The directories from the mount point down to `cgroup`'s, both included.
    pub fn dirs_down_to(&self, cgroup: &Path) -> Vec<PathBuf> {
        let mut dir = self.mount_point.clone();
        let mut dirs = vec![dir.clone()];
        for component in self.relative(cgroup).components() {
            dir.push(component);
            dirs.push(dir.clone());
        }
        dirs
    }

    fn relative<'a>(&self, cgroup: &'a Path) -> &'a Path {
        cgroup
            .strip_prefix(&self.root)
            .or_else(|_| cgroup.strip_prefix("/"))
            .unwrap_or(cgroup)
    }
}

/// How the machine mounts its cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 hierarchies carry the controllers; a cgroup2 mount (usually
    /// /sys/fs/cgroup/unified) only tracks processes.
    Hybrid,
    /// One cgroup2 hierarchy carries every controller.
    Unified,
}

/// The cgroup hierarchies mounted on this machine, one entry per hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    mounts: Vec<Mount>,
}

impl Layout {
    /// Reads /proc/self/mountinfo.
    pub fn detect() -> Result<Layout> {
        let path = Path::new(MOUNTINFO);
        Layout::from_mountinfo(path, &fs::read(path)?)
    }

    /// Builds a layout from mountinfo text. A hierarchy mounted more than once
    /// (same device number) counts once, at its first mount point.
    pub fn from_mountinfo(path: &Path, text: &str) -> Result<Layout> {
        let mut devices = HashSet::new();
        let mut mounts = Vec::new();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            if let Some((device, mount)) = parse_mountinfo_line(path, line)? {
                if devices.insert(device) {
                    mounts.push(mount);
                }
            }
        }
        Layout::from_mounts(mounts)
    }

    /// A layout of exactly these hierarchies.
    pub fn from_mounts(mounts: Vec<Mount>) -> Result<Layout> {
        if mounts.is_empty() {
            return Err(CgroupError::NotMounted);
        }
        Ok(Layout { mounts })
    }

    /// Every hierarchy, in mount order.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// v1, hybrid or unified.
    pub fn mode(&self) -> Mode {
        let v1_controllers = self
            .mounts
            .iter()
            .any(|m| !m.v2 && m.controllers.iter().any(|c| !c.starts_with("name=")));
        match (v1_controllers, self.v2().is_some()) {
            (true, true) => Mode::Hybrid,
            (false, true) => Mode::Unified,
            (_, false) => Mode::Legacy,
        }
    }

    /// The v1 hierarchy carrying `controller`, if mounted.
    pub fn v1(&self, controller: &str) -> Option<&Mount> {
        self.mounts.iter().find(|m| !m.v2 && m.has(controller))
    }

    /// The cgroup2 hierarchy, if mounted.
    pub fn v2(&self) -> Option<&Mount> {
        self.mounts.iter().find(|m| m.v2)
    }
}

/// Parses one mountinfo line, returning the device ("major:minor") and the
/// hierarchy for `cgroup` and `cgroup2` mounts, `None` for any other filesystem.
///
/// Format: `id parent major:minor root mount-point options [optional...] - fstype source super-options`.
fn parse_mountinfo_line(path: &Path, line: &str) -> Result<Option<(String, Mount)>> {
    let malformed = || CgroupError::Parse {
        path: path.to_path_buf(),
        reason: format!("malformed mountinfo line {line:?}"),
    };
    let fields: Vec<&str> = line.split(' ').collect();
    let separator = fields
        .iter()
        .position(|f| *f == "-")
        .ok_or_else(malformed)?;
    if separator < 6 || fields.len() < separator + 4 {
        return Err(malformed());
    }
    let v2 = match fields[separator + 1] {
        "cgroup2" => true,
        "cgroup" => false,
        _ => return Ok(None),
    };
    let controllers = if v2 {
        Vec::new()
    } else {
        v1_controllers(fields[separator + 3])
    };
    let mount = Mount {
        controllers,
        mount_point: PathBuf::from(unescape(fields[4])),
        root: PathBuf::from(unescape(fields[3])),
        v2,
    };
    Ok(Some((fields[2].to_string(), mount)))
}

/// The controllers among a v1 mount's super options ("rw,nosuid,cpu,cpuacct").
fn v1_controllers(super_options: &str) -> Vec<String> {
    super_options
        .split(',')
        .filter(|option| option.starts_with("name=") || V1_CONTROLLERS.contains(option))
        .map(str::to_string)
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                out.push(
                    digits
                        .iter()
                        .fold(0u8, |n, d| n.wrapping_mul(8) + (d - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The calling process's own cgroup, read from /proc/self/cgroup.
///
/// Its cgroup can differ between v1 hierarchies; relative `cgroupsPath` values
/// are resolved against one reference so that a container has one absolute path
/// in every hierarchy: the cgroup2 entry when cgroup2 is mounted, else the
/// `name=systemd` entry, else the first entry.
pub(crate) fn own_cgroup(layout: &Layout) -> Result<PathBuf> {
    let path = Path::new(PROC_CGROUP);
    reference_cgroup(path, &fs::read(path)?, layout.v2().is_some())
}

/// Picks the reference cgroup out of /proc/self/cgroup text (see [`own_cgroup`]).
fn reference_cgroup(path: &Path, text: &str, prefer_v2: bool) -> Result<PathBuf> {
    let mut entries = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let mut fields = line.splitn(3, ':');
        match (fields.next(), fields.next(), fields.next()) {
            (Some(_id), Some(controllers), Some(cgroup)) => entries.push((controllers, cgroup)),
            _ => {
                return Err(CgroupError::Parse {
                    path: path.to_path_buf(),
                    reason: format!("malformed line {line:?}"),
                })
            }
        }
    }
    let v2 = entries
        .iter()
        .find(|(controllers, _)| prefer_v2 && controllers.is_empty());
    let systemd = || {
        entries
            .iter()
            .find(|(controllers, _)| controllers.split(',').any(|c| c == "name=systemd"))
    };
    v2.or_else(systemd)
        .or(entries.first())
        .map(|(_, cgroup)| PathBuf::from(cgroup))
        .ok_or_else(|| CgroupError::Parse {
            path: path.to_path_buf(),
            reason: "no cgroup listed".into(),
        })
}

/// The absolute cgroup path of container `id` (see `Cgroup::resolve`).
///
/// `own` gives the caller's own cgroup and is only asked for a relative path.
pub(crate) fn resolve_path(
    cgroups_path: Option<&Path>,
    id: &str,
    own: impl FnOnce() -> Result<PathBuf>,
) -> Result<PathBuf> {
    let requested = match cgroups_path.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => path,
        None => return default_path(id),
    };
    if is_systemd_style(requested) {
        return Err(CgroupError::InvalidPath {
            path: requested.to_path_buf(),
            reason: "systemd \"slice:prefix:name\" paths need the systemd cgroup driver, \
                     and tug manages cgroups without systemd"
                .into(),
        });
    }
    let full = if requested.is_absolute() {
        requested.to_path_buf()
    } else {
        own()?.join(requested)
    };
    normalize(&full).ok_or_else(|| CgroupError::InvalidPath {
        path: requested.to_path_buf(),
        reason: "must name a cgroup below the root, without \"..\"".into(),
    })
}

/// "/tug/<id>", for a container without `linux.cgroupsPath`.
fn default_path(id: &str) -> Result<PathBuf> {
    let path = Path::new(DEFAULT_PARENT).join(id);
    if id.is_empty() || id == "." || id == ".." || id.contains('/') {
        return Err(CgroupError::InvalidPath {
            path,
            reason: format!("container id {id:?} is not a plain name"),
        });
    }
    Ok(path)
}

/// True for systemd's "slice:prefix:name" form, e.g. "system.slice:docker:abc".
fn is_systemd_style(path: &Path) -> bool {
    let text = path.to_string_lossy();
    !text.starts_with('/') && text.split(':').count() == 3
}

/// `path` with "." dropped, or `None` if it has ".." or names the root itself.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => out.push(name),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (out != Path::new("/")).then_some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A v1-only machine, with combined cpu,cpuacct and net_cls,net_prio mounts.
    pub const V1: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
33 31 0:29 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
36 31 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
37 31 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,net_cls,net_prio
38 31 0:34 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,memory
39 31 0:35 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,cpuset,clone_children
";

    /// This kind of machine: v1 controllers plus an empty cgroup2 at .../unified.
    pub const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
43 31 0:40 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
";

    /// A pure v2 machine (and a bind mount of the same hierarchy elsewhere).
    pub const UNIFIED: &str = "\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
90 28 0:24 /user.slice /mnt/my\\040cgroup rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
";

    fn layout(text: &str) -> Layout {
        Layout::from_mountinfo(Path::new("mountinfo"), text).unwrap()
    }

    #[test]
    fn v1_layout_lists_each_hierarchy_with_its_controllers() {
        let layout = layout(V1);
        assert_eq!(layout.mode(), Mode::Legacy);
        let controllers: Vec<_> = layout
            .mounts()
            .iter()
            .map(|m| m.controllers.join(","))
            .collect();
        assert_eq!(
            controllers,
            [
                "name=systemd",
                "cpu,cpuacct",
                "net_cls,net_prio",
                "memory",
                "cpuset"
            ]
        );
        assert_eq!(
            layout.v1("cpuacct").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert!(layout.v1("pids").is_none());
        assert!(layout.v2().is_none());
    }

    #[test]
    fn hybrid_layout_has_v1_controllers_and_the_unified_hierarchy() {
        let layout = layout(HYBRID);
        assert_eq!(layout.mode(), Mode::Hybrid);
        assert_eq!(layout.mounts().len(), 8);
        assert_eq!(
            layout.v2().unwrap().mount_point,
            Path::new("/sys/fs/cgroup/unified")
        );
        assert!(layout.v1("name=systemd").is_some());
        assert!(layout.v1("net_prio").unwrap().has("net_cls"));
    }

    #[test]
    fn unified_layout_counts_a_bind_mounted_hierarchy_once() {
        let layout = layout(UNIFIED);
        assert_eq!(layout.mode(), Mode::Unified);
        assert_eq!(layout.mounts().len(), 1);
        assert_eq!(layout.mounts()[0].mount_point, Path::new("/sys/fs/cgroup"));
        assert!(layout.mounts()[0].controllers.is_empty());
    }

    #[test]
    fn mount_points_are_unescaped() {
        let line = "90 28 0:24 /a\\040b /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw";
        let (_, mount) = parse_mountinfo_line(Path::new("m"), line).unwrap().unwrap();
        assert_eq!(mount.mount_point, Path::new("/mnt/my cgroup"));
        assert_eq!(mount.root, Path::new("/a b"));
    }

    #[test]
    fn no_cgroup_mount_is_an_error_and_garbage_is_a_parse_error() {
        let only_sysfs = "22 28 0:21 / /sys rw shared:7 - sysfs sysfs rw\n";
        assert!(matches!(
            Layout::from_mountinfo(Path::new("m"), only_sysfs),
            Err(CgroupError::NotMounted)
        ));
        assert!(matches!(
            Layout::from_mountinfo(Path::new("m"), "not a mountinfo line\n"),
            Err(CgroupError::Parse { .. })
        ));
    }

    #[test]
    fn a_mount_of_a_sub_cgroup_strips_its_root() {
        let mount = Mount {
            controllers: vec!["memory".into()],
            mount_point: PathBuf::from("/sys/fs/cgroup/memory"),
            root: PathBuf::from("/docker/abc"),
            v2: false,
        };
        assert_eq!(
            mount.dir_of(Path::new("/docker/abc/tug/x")),
            Path::new("/sys/fs/cgroup/memory/tug/x")
        );
        assert_eq!(
            mount.dir_of(Path::new("/tug/x")),
            Path::new("/sys/fs/cgroup/memory/tug/x")
        );
        assert_eq!(
            mount.dirs_down_to(Path::new("/tug/x")),
            [
                PathBuf::from("/sys/fs/cgroup/memory"),
                PathBuf::from("/sys/fs/cgroup/memory/tug"),
                PathBuf::from("/sys/fs/cgroup/memory/tug/x"),
            ]
        );
    }

    const PROC_CGROUP_HYBRID: &str = "\
11:net_cls,net_prio:/
9:name=systemd:/user.slice/session-1.scope
4:memory:/process_api/e967c5a1
1:cpu:/
0::/user.slice/session-1.scope
";

    #[test]
    fn own_cgroup_prefers_cgroup2_then_systemd_then_the_first_entry() {
        let path = Path::new("/proc/self/cgroup");
        let pick = |text, v2| reference_cgroup(path, text, v2).unwrap();
        assert_eq!(
            pick(PROC_CGROUP_HYBRID, true),
            Path::new("/user.slice/session-1.scope")
        );
        assert_eq!(
            pick("3:cpu:/a\n2:name=systemd:/b\n", false),
            Path::new("/b")
        );
        assert_eq!(pick("3:cpu:/a\n2:memory:/c\n", false), Path::new("/a"));
        assert_eq!(pick("0::/init.scope\n", true), Path::new("/init.scope"));
        assert!(reference_cgroup(path, "", true).is_err());
        assert!(reference_cgroup(path, "garbage\n", true).is_err());
    }

    fn resolve(path: Option<&str>, id: &str) -> Result<PathBuf> {
        resolve_path(path.map(Path::new), id, || {
            Ok(PathBuf::from("/user.slice/me"))
        })
    }

    #[test]
    fn cgroups_path_resolves_absolute_relative_and_default() {
        assert_eq!(resolve(None, "abc").unwrap(), Path::new("/tug/abc"));
        assert_eq!(resolve(Some(""), "abc").unwrap(), Path::new("/tug/abc"));
        assert_eq!(resolve(Some("/a/b"), "abc").unwrap(), Path::new("/a/b"));
        assert_eq!(resolve(Some("/a/./b/"), "abc").unwrap(), Path::new("/a/b"));
        assert_eq!(
            resolve(Some("a/b"), "abc").unwrap(),
            Path::new("/user.slice/me/a/b")
        );
    }

    #[test]
    fn cgroups_path_refuses_systemd_style_escapes_and_the_root() {
        let err = resolve(Some("system.slice:tug:abc"), "abc").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("invalid linux.cgroupsPath system.slice:tug:abc: systemd"));
        assert!(resolve(Some("/a/../../etc"), "abc").is_err());
        assert!(resolve(Some("/"), "abc").is_err());
        assert!(resolve(None, "..").is_err());
        assert!(resolve(None, "a/b").is_err());
        assert!(resolve(None, "").is_err());
    }
}
