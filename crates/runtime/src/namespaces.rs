//! Which namespaces a container gets, and how: created new with clone(2) or unshare(2),
//! or joined by path with setns(2) (how a pod's containers share one network, UTS and IPC
//! namespace). PID and time namespaces only apply to children, so the runtime joins or
//! creates those itself just before it clones the container's init process.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, IoContext, Result};

/// The namespace plan for one container.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    /// CLONE_NEW* flags passed to clone(2) for the init process.
    pub clone_flags: libc::c_int,
    /// CLONE_NEW* flags the init process unshares after joining `joins`.
    pub unshare_flags: libc::c_int,
    /// Namespaces the init process joins, user namespace first.
    pub joins: Vec<(LinuxNamespaceType, PathBuf)>,
    /// Joined by the runtime before clone (they only affect children).
    pub pid_path: Option<PathBuf>,
    pub time_path: Option<PathBuf>,
    pub new_time: bool,
    pub new_user: bool,
    pub new_net: bool,
    pub new_mount: bool,
    pub new_cgroup: bool,
    pub new_uts: bool,
}

pub fn flag(typ: LinuxNamespaceType) -> libc::c_int {
    match typ {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// The name of a namespace type in /proc/<pid>/ns/.
pub fn proc_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

impl Plan {
    pub fn from_spec(spec: &Spec) -> Result<Plan> {
        let bad = |msg: String| Error::Spec { path: "config.json".into(), msg };
        let mut plan = Plan::default();
        let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
        let mut seen = 0;
        for ns in namespaces.into_iter().flatten() {
            let typ = ns.typ();
            if seen & flag(typ) != 0 {
                return Err(bad(format!("linux.namespaces: {} namespace listed twice; keep one entry", proc_name(typ))));
            }
            seen |= flag(typ);
            match (typ, ns.path()) {
                (LinuxNamespaceType::Pid, Some(p)) => plan.pid_path = Some(p.clone()),
                (LinuxNamespaceType::Time, Some(p)) => plan.time_path = Some(p.clone()),
                (LinuxNamespaceType::Time, None) => plan.new_time = true,
                (LinuxNamespaceType::User, Some(p)) => plan.joins.insert(0, (typ, p.clone())),
                (_, Some(p)) => plan.joins.push((typ, p.clone())),
                (LinuxNamespaceType::Cgroup, None) => plan.new_cgroup = true,
                (_, None) => plan.clone_flags |= flag(typ),
            }
            if let Some(p) = ns.path() {
                if !p.exists() {
                    return Err(bad(format!("linux.namespaces: {} namespace path {} does not exist", proc_name(typ), p.display())));
                }
            }
        }
        plan.new_user = plan.clone_flags & libc::CLONE_NEWUSER != 0;
        plan.new_net = plan.clone_flags & libc::CLONE_NEWNET != 0;
        plan.new_mount = plan.clone_flags & libc::CLONE_NEWNS != 0;
        plan.new_uts = plan.clone_flags & libc::CLONE_NEWUTS != 0;
        // Namespaces made after joining someone else's user namespace must belong to it.
        if plan.joins.first().is_some_and(|(t, _)| *t == LinuxNamespaceType::User) {
            plan.unshare_flags = plan.clone_flags & !libc::CLONE_NEWPID;
            plan.clone_flags &= libc::CLONE_NEWPID;
        }
        let has_mappings = spec.linux().as_ref().is_some_and(|l| l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()));
        if has_mappings && !plan.new_user {
            return Err(bad("linux.uidMappings are set but there is no new user namespace: add {\"type\": \"user\"} to linux.namespaces".into()));
        }
        if plan.new_user && !has_mappings {
            return Err(bad("a new user namespace needs linux.uidMappings and linux.gidMappings".into()));
        }
        Ok(plan)
    }

    /// Runs in the runtime just before clone: joins or creates the PID and time
    /// namespaces the container's init will be born into.
    pub fn enter_before_clone(&self, spec: &Spec) -> Result<()> {
        if let Some(p) = &self.pid_path {
            join(p, libc::CLONE_NEWPID)?;
        }
        if let Some(p) = &self.time_path {
            join(p, libc::CLONE_NEWTIME)?;
        }
        if self.new_time {
            unshare(libc::CLONE_NEWTIME).ctx(|| "unshare the time namespace".into())?;
            let offsets = spec.linux().as_ref().and_then(|l| l.time_offsets().as_ref());
            let mut text = String::new();
            for (clock, off) in offsets.into_iter().flatten() {
                text.push_str(&format!("{clock} {} {}\n", off.secs().unwrap_or(0), off.nanosecs().unwrap_or(0)));
            }
            if !text.is_empty() {
                std::fs::write("/proc/self/timens_offsets", &text).ctx(|| format!("linux.timeOffsets: write {text:?} to /proc/self/timens_offsets"))?;
            }
        }
        Ok(())
    }
}

/// setns(2) into the namespace at `path`.
pub fn join(path: &Path, nstype: libc::c_int) -> Result<()> {
    let file = File::open(path).ctx(|| format!("open namespace {}", path.display()))?;
    // SAFETY: file is an open namespace fd for the duration of the call.
    if unsafe { libc::setns(file.as_raw_fd(), nstype) } < 0 {
        return Err(Error::Io { context: format!("join namespace {}", path.display()), source: io::Error::last_os_error() });
    }
    Ok(())
}

pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes only flags.
    if unsafe { libc::unshare(flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(&format!(r#"{{"ociVersion":"1.0.2","linux":{{{json}}}}}"#)).unwrap()
    }

    #[test]
    fn new_namespaces_go_to_clone_and_paths_are_joined() {
        let plan = Plan::from_spec(&spec(r#""namespaces":[{"type":"pid"},{"type":"mount"},{"type":"network","path":"/proc/self/ns/net"},{"type":"cgroup"}]"#)).unwrap();
        assert_eq!(plan.clone_flags, libc::CLONE_NEWPID | libc::CLONE_NEWNS);
        assert_eq!(plan.joins, vec![(LinuxNamespaceType::Network, PathBuf::from("/proc/self/ns/net"))]);
        assert!(plan.new_cgroup);
    }

    #[test]
    fn joining_a_user_namespace_moves_new_ones_after_it() {
        let plan = Plan::from_spec(&spec(r#""namespaces":[{"type":"ipc"},{"type":"pid"},{"type":"user","path":"/proc/self/ns/user"}]"#)).unwrap();
        assert_eq!(plan.clone_flags, libc::CLONE_NEWPID);
        assert_eq!(plan.unshare_flags, libc::CLONE_NEWIPC);
        assert_eq!(plan.joins[0].0, LinuxNamespaceType::User);
    }

    #[test]
    fn duplicates_and_missing_paths_are_refused_with_the_field() {
        let err = Plan::from_spec(&spec(r#""namespaces":[{"type":"ipc"},{"type":"ipc"}]"#)).unwrap_err();
        assert!(err.to_string().contains("linux.namespaces: ipc namespace listed twice"), "{err}");
        let err = Plan::from_spec(&spec(r#""namespaces":[{"type":"network","path":"/nonexistent/ns"}]"#)).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ns does not exist"), "{err}");
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let err = Plan::from_spec(&spec(r#""namespaces":[{"type":"user"}]"#)).unwrap_err();
        assert!(err.to_string().contains("uidMappings"), "{err}");
    }
}
