//! Parsing of OCI mount options (`"ro"`, `"nosuid"`, `"rbind"`, `"rslave"`, `"mode=755"`, …)
//! into mount(2) flags, propagation flags and the filesystem-specific data string.

/// A mount's options, split the way mount(2) needs them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount itself (MS_RDONLY, MS_NOSUID, MS_BIND, MS_REC, …).
    pub flags: u64,
    /// Propagation flags (MS_SHARED, MS_SLAVE, …, possibly with MS_REC), applied in a second call.
    pub propagation: u64,
    /// Everything else, comma-joined, as the filesystem's data argument.
    pub data: String,
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags & libc::MS_BIND != 0
    }
}

const FLAGS: &[(&str, bool, u64)] = &[
    // (name, clears the flag, flag)
    ("defaults", false, 0),
    ("ro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("suid", true, libc::MS_NOSUID),
    ("nosuid", false, libc::MS_NOSUID),
    ("dev", true, libc::MS_NODEV),
    ("nodev", false, libc::MS_NODEV),
    ("exec", true, libc::MS_NOEXEC),
    ("noexec", false, libc::MS_NOEXEC),
    ("sync", false, libc::MS_SYNCHRONOUS),
    ("async", true, libc::MS_SYNCHRONOUS),
    ("dirsync", false, libc::MS_DIRSYNC),
    ("remount", false, libc::MS_REMOUNT),
    ("mand", false, libc::MS_MANDLOCK),
    ("nomand", true, libc::MS_MANDLOCK),
    ("atime", true, libc::MS_NOATIME),
    ("noatime", false, libc::MS_NOATIME),
    ("diratime", true, libc::MS_NODIRATIME),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("bind", false, libc::MS_BIND),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
    ("relatime", false, libc::MS_RELATIME),
    ("norelatime", true, libc::MS_RELATIME),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("nostrictatime", true, libc::MS_STRICTATIME),
    ("silent", false, libc::MS_SILENT),
    ("loud", true, libc::MS_SILENT),
];

const PROPAGATION: &[(&str, u64)] = &[
    ("private", libc::MS_PRIVATE),
    ("rprivate", libc::MS_PRIVATE | libc::MS_REC),
    ("shared", libc::MS_SHARED),
    ("rshared", libc::MS_SHARED | libc::MS_REC),
    ("slave", libc::MS_SLAVE),
    ("rslave", libc::MS_SLAVE | libc::MS_REC),
    ("unbindable", libc::MS_UNBINDABLE),
    ("runbindable", libc::MS_UNBINDABLE | libc::MS_REC),
];

/// Options other runtimes accept that have no mount(2) meaning here.
const IGNORED: &[&str] = &["tmpcopyup", "idmap", "ridmap", "copy-symlink"];

/// Parses a mount's option list.
pub fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut parsed = MountOptions::default();
    let mut data = Vec::new();
    for option in options {
        let option = option.as_ref();
        if let Some(&(_, clear, flag)) = FLAGS.iter().find(|(name, _, _)| *name == option) {
            if clear {
                parsed.flags &= !flag;
            } else {
                parsed.flags |= flag;
            }
        } else if let Some(&(_, flag)) = PROPAGATION.iter().find(|(name, _)| *name == option) {
            parsed.propagation |= flag;
        } else if !IGNORED.contains(&option) {
            data.push(option);
        }
    }
    parsed.data = data.join(",");
    parsed
}

/// Parses a `linux.rootfsPropagation` value ("rslave", "shared", …).
pub fn propagation(name: &str) -> Option<u64> {
    PROPAGATION.iter().find(|(n, _)| *n == name).map(|&(_, flag)| flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_data_and_propagation_are_separated() {
        let o = parse(&["nosuid", "noexec", "nodev", "mode=755", "size=65536k", "rslave"]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV);
        assert_eq!(o.propagation, libc::MS_SLAVE | libc::MS_REC);
        assert_eq!(o.data, "mode=755,size=65536k");
    }

    #[test]
    fn later_options_override_earlier_ones() {
        assert_eq!(parse(&["ro", "rw"]).flags, 0);
        assert_eq!(parse(&["rw", "ro"]).flags, libc::MS_RDONLY);
    }

    #[test]
    fn rbind_is_a_recursive_bind() {
        let o = parse(&["rbind", "ro"]);
        assert!(o.is_bind());
        assert_eq!(o.flags, libc::MS_BIND | libc::MS_REC | libc::MS_RDONLY);
    }
}
