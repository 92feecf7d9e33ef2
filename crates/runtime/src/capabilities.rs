//! Capabilities: sets the bounding, effective, permitted, inheritable and ambient
//! capability sets of the container process from the OCI `process.capabilities`.
//!
//! The runtime calls, in the container process: [`drop_bounding`] (while still privileged),
//! [`set_keep_caps`]`(true)` before switching to the container user, then [`apply`].
//! An absent set in the spec means an empty set. Capabilities the running kernel does not
//! know (probed with PR_CAPBSET_READ) are skipped.
//!
//! Nothing here allocates on success, so every function is safe to call between fork and
//! exec.

use std::io;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit capability sets passed as two 32-bit halves.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Capability names by number, for messages.
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A capability number shown with its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapabilityNumber(pub u32);

impl std::fmt::Display for CapabilityNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match NAMES.get(self.0 as usize) {
            Some(name) => f.write_str(name),
            None => write!(f, "capability {}", self.0),
        }
    }
}

/// Why capabilities could not be read or set.
#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    #[error("failed to find the last capability the kernel knows: {0}")]
    LastCap(#[source] io::Error),
    #[error("failed to drop {cap} from the bounding set: {source}")]
    DropBounding {
        cap: CapabilityNumber,
        source: io::Error,
    },
    #[error("failed to set the effective, permitted and inheritable capabilities: {0}")]
    Set(#[source] io::Error),
    #[error("failed to clear the ambient capabilities: {0}")]
    ClearAmbient(#[source] io::Error),
    #[error(
        "failed to raise ambient capability {cap} (it must be permitted and inheritable): {source}"
    )]
    RaiseAmbient {
        cap: CapabilityNumber,
        source: io::Error,
    },
    #[error("failed to set keep-capabilities to {on}: {source}")]
    KeepCaps { on: bool, source: io::Error },
}

/// Drops from the bounding set every capability not in `caps.bounding`.
pub fn drop_bounding(caps: &LinuxCapabilities) -> Result<(), CapabilityError> {
    let last = last_cap()?;
    let keep = mask(caps.bounding().as_ref(), last);
    for cap in (0..=last).filter(|cap| keep & (1 << cap) == 0) {
        // SAFETY: PR_CAPBSET_DROP takes a capability number and no pointers.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
        if rc != 0 {
            let source = io::Error::last_os_error();
            return Err(CapabilityError::DropBounding {
                cap: CapabilityNumber(cap),
                source,
            });
        }
    }
    Ok(())
}

/// Sets the effective, permitted and inheritable sets (capset) and then the ambient set
/// (cleared, then each capability raised). Called after switching to the final user with
/// keep-capabilities on.
pub fn apply(caps: &LinuxCapabilities) -> Result<(), CapabilityError> {
    let last = last_cap()?;
    set_sets(
        mask(caps.effective().as_ref(), last),
        mask(caps.permitted().as_ref(), last),
        mask(caps.inheritable().as_ref(), last),
    )?;
    set_ambient(mask(caps.ambient().as_ref(), last), last)
}

/// Turns keep-capabilities (PR_SET_KEEPCAPS) on or off: whether permitted capabilities
/// survive a switch from uid 0 to non-zero uids.
pub fn set_keep_caps(on: bool) -> Result<(), CapabilityError> {
    // SAFETY: PR_SET_KEEPCAPS takes a flag and no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0, 0, 0) };
    if rc != 0 {
        return Err(CapabilityError::KeepCaps {
            on,
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// The kernel's number for `cap`.
pub fn number(cap: &Capability) -> u32 {
    match cap {
        Capability::Chown => 0,
        Capability::DacOverride => 1,
        Capability::DacReadSearch => 2,
        Capability::Fowner => 3,
        Capability::Fsetid => 4,
        Capability::Kill => 5,
        Capability::Setgid => 6,
        Capability::Setuid => 7,
        Capability::Setpcap => 8,
        Capability::LinuxImmutable => 9,
        Capability::NetBindService => 10,
        Capability::NetBroadcast => 11,
        Capability::NetAdmin => 12,
        Capability::NetRaw => 13,
        Capability::IpcLock => 14,
        Capability::IpcOwner => 15,
        Capability::SysModule => 16,
        Capability::SysRawio => 17,
        Capability::SysChroot => 18,
        Capability::SysPtrace => 19,
        Capability::SysPacct => 20,
        Capability::SysAdmin => 21,
        Capability::SysBoot => 22,
        Capability::SysNice => 23,
        Capability::SysResource => 24,
        Capability::SysTime => 25,
        Capability::SysTtyConfig => 26,
        Capability::Mknod => 27,
        Capability::Lease => 28,
        Capability::AuditWrite => 29,
        Capability::AuditControl => 30,
        Capability::Setfcap => 31,
        Capability::MacOverride => 32,
        Capability::MacAdmin => 33,
        Capability::Syslog => 34,
        Capability::WakeAlarm => 35,
        Capability::BlockSuspend => 36,
        Capability::AuditRead => 37,
        Capability::Perfmon => 38,
        Capability::Bpf => 39,
        Capability::CheckpointRestore => 40,
    }
}

/// The set `caps` (absent = empty) as a bit mask, without capabilities above `last`.
fn mask(caps: Option<&Capabilities>, last: u32) -> u64 {
    caps.into_iter()
        .flatten()
        .map(number)
        .filter(|&cap| cap <= last)
        .fold(0, |mask, cap| mask | 1 << cap)
}

/// The highest capability number the running kernel knows, from
/// `/proc/sys/kernel/cap_last_cap` (read without allocating).
fn last_cap() -> Result<u32, CapabilityError> {
    // PR_CAPBSET_READ fails with EINVAL for capabilities the kernel does not know. Probing
    // needs no /proc, which a container's root may lack.
    (0..64u32)
        .rev()
        // SAFETY: PR_CAPBSET_READ only reads a flag of the calling thread.
        .find(|&cap| unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } >= 0)
        .ok_or_else(|| CapabilityError::LastCap(io::Error::last_os_error()))
}

/// Reads up to `buffer.len()` bytes of the file at `path`; returns how many were read.
#[cfg(test)]
fn read_small_file(path: &std::ffi::CStr, buffer: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `path` is NUL-terminated; the returned descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `buffer` is valid for writes of `buffer.len()` bytes.
    let read = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
    let result = if read < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(read as usize)
    };
    // SAFETY: `fd` was opened above and is not used after this.
    unsafe { libc::close(fd) };
    result
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`: one 32-bit half of each set.
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// capset(2) of the calling thread with 64-bit sets.
fn set_sets(effective: u64, permitted: u64, inheritable: u64) -> Result<(), CapabilityError> {
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |shift: u32| CapData {
        effective: (effective >> shift) as u32,
        permitted: (permitted >> shift) as u32,
        inheritable: (inheritable >> shift) as u32,
    };
    let data = [half(0), half(32)];
    // SAFETY: header and data have the kernel's layout for version 3, which reads exactly two
    // CapData entries; both outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if rc != 0 {
        return Err(CapabilityError::Set(io::Error::last_os_error()));
    }
    Ok(())
}

/// Clears the ambient set, then raises each capability of `ambient` (up to `last`).
fn set_ambient(ambient: u64, last: u32) -> Result<(), CapabilityError> {
    let clear_all = libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong;
    // SAFETY: PR_CAP_AMBIENT takes numbers and no pointers.
    let rc = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, clear_all, 0, 0, 0) };
    if rc != 0 {
        return Err(CapabilityError::ClearAmbient(io::Error::last_os_error()));
    }
    let raise = libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong;
    for cap in (0..=last).filter(|cap| ambient & (1 << cap) != 0) {
        // SAFETY: as above.
        let rc =
            unsafe { libc::prctl(libc::PR_CAP_AMBIENT, raise, libc::c_ulong::from(cap), 0, 0) };
        if rc != 0 {
            let source = io::Error::last_os_error();
            return Err(CapabilityError::RaiseAmbient {
                cap: CapabilityNumber(cap),
                source,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashSet;

    use oci_spec::runtime::LinuxCapabilitiesBuilder;

    fn set(caps: &[Capability]) -> Capabilities {
        caps.iter().copied().collect()
    }

    fn bits(caps: &[Capability]) -> u64 {
        caps.iter().fold(0, |mask, cap| mask | 1 << number(cap))
    }

    #[test]
    fn numbers_match_the_kernel_header() {
        let Ok(header) = std::fs::read_to_string("/usr/include/linux/capability.h") else {
            eprintln!("skipped: linux/capability.h not installed");
            return;
        };
        let defined = |name: &str| {
            header.lines().find_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["#define", defined, value, ..] if *defined == name => {
                        value.parse::<usize>().ok()
                    }
                    _ => None,
                }
            })
        };
        for (value, name) in NAMES.iter().enumerate() {
            assert_eq!(defined(name), Some(value), "{name} in linux/capability.h");
        }
    }

    #[test]
    fn every_capability_has_a_distinct_number_and_name() {
        let all: Vec<Capability> = NAMES
            .iter()
            .map(|name| serde_json::from_value(serde_json::json!(name)).expect("known name"))
            .collect();
        let numbers: HashSet<u32> = all.iter().map(number).collect();
        assert_eq!(numbers.len(), NAMES.len());
        for (value, cap) in all.iter().enumerate() {
            assert_eq!(number(cap) as usize, value, "{cap:?}");
        }
        assert_eq!(CapabilityNumber(12).to_string(), "CAP_NET_ADMIN");
        assert_eq!(CapabilityNumber(63).to_string(), "capability 63");
    }

    #[test]
    fn masks_skip_capabilities_the_kernel_does_not_know() {
        let caps = set(&[
            Capability::Chown,
            Capability::Bpf,
            Capability::CheckpointRestore,
        ]);
        assert_eq!(mask(Some(&caps), 40), 1 | 1 << 39 | 1 << 40);
        assert_eq!(mask(Some(&caps), 38), 1);
        assert_eq!(mask(None, 40), 0);
    }

    #[test]
    fn last_cap_is_read_from_proc() {
        let expected = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        assert_eq!(last_cap().ok(), expected);
    }

    /// The capability lines of a forked child's /proc/self/status, or its exit code.
    struct ChildStatus {
        exit_code: i32,
        status: String,
    }

    impl ChildStatus {
        /// The hexadecimal mask on the `field:` line.
        fn mask(&self, field: &str) -> u64 {
            let line = self.status.lines().find(|line| line.starts_with(field));
            let value = line.and_then(|line| line.split_whitespace().nth(1));
            let mask = value.and_then(|value| u64::from_str_radix(value, 16).ok());
            mask.unwrap_or_else(|| panic!("no {field} in status:\n{}", self.status))
        }
    }

    /// Forks a child that runs `body` (plain syscalls only: the test harness is
    /// multi-threaded), then sends its /proc/self/status through a pipe if `body` returned 0.
    fn in_child(body: impl FnOnce() -> i32) -> ChildStatus {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let [read_end, write_end] = fds;
        // SAFETY: the child only makes async-signal-safe calls and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = body();
            if code == 0 {
                let mut buffer = [0u8; 8192];
                match read_small_file(c"/proc/self/status", &mut buffer) {
                    // SAFETY: writes the bytes just read from a valid buffer.
                    Ok(read) => unsafe {
                        libc::write(write_end, buffer.as_ptr().cast(), read);
                    },
                    // SAFETY: ends the child without running the test harness's code.
                    Err(_) => unsafe { libc::_exit(99) },
                }
            }
            // SAFETY: ends the child without running the test harness's code.
            unsafe { libc::_exit(code) };
        }
        // SAFETY: closes the parent's copy of the write end, which it does not use.
        unsafe { libc::close(write_end) };
        let mut status_text = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            // SAFETY: `buffer` is valid for writes of its length.
            let read = unsafe { libc::read(read_end, buffer.as_mut_ptr().cast(), buffer.len()) };
            if read <= 0 {
                break;
            }
            status_text.extend_from_slice(&buffer[..read as usize]);
        }
        // SAFETY: `read_end` is ours and not used after this.
        unsafe { libc::close(read_end) };
        let mut wait_status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut wait_status, 0) }, pid);
        assert!(libc::WIFEXITED(wait_status), "child died: {wait_status:#x}");
        ChildStatus {
            exit_code: libc::WEXITSTATUS(wait_status),
            status: String::from_utf8_lossy(&status_text).into_owned(),
        }
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    const KEPT: [Capability; 4] = [
        Capability::Chown,
        Capability::Kill,
        Capability::NetBindService,
        Capability::NetRaw,
    ];
    const INHERITED: [Capability; 2] = [Capability::Kill, Capability::NetBindService];
    const AMBIENT: [Capability; 1] = [Capability::NetBindService];

    fn small_set() -> LinuxCapabilities {
        let mut bounding = KEPT.to_vec();
        bounding.push(Capability::Setuid);
        LinuxCapabilitiesBuilder::default()
            .bounding(set(&bounding))
            .effective(set(&KEPT))
            .permitted(set(&KEPT))
            .inheritable(set(&INHERITED))
            .ambient(set(&AMBIENT))
            .build()
            .expect("valid capabilities")
    }

    #[test]
    fn root_process_ends_with_exactly_the_configured_sets() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let caps = small_set();
        let child = in_child(|| match drop_bounding(&caps).and_then(|()| apply(&caps)) {
            Ok(()) => 0,
            Err(_) => 10,
        });
        assert_eq!(child.exit_code, 0);
        let mut bounding = KEPT.to_vec();
        bounding.push(Capability::Setuid);
        assert_eq!(child.mask("CapBnd:"), bits(&bounding));
        assert_eq!(child.mask("CapPrm:"), bits(&KEPT));
        assert_eq!(child.mask("CapEff:"), bits(&KEPT));
        assert_eq!(child.mask("CapInh:"), bits(&INHERITED));
        assert_eq!(child.mask("CapAmb:"), bits(&AMBIENT));
    }

    #[test]
    fn capabilities_survive_the_switch_to_another_user_with_keep_caps() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let caps = small_set();
        let child = in_child(|| {
            if drop_bounding(&caps).is_err() || set_keep_caps(true).is_err() {
                return 10;
            }
            // SAFETY: changes only this child's credentials.
            if unsafe { libc::setresuid(65534, 65534, 65534) } != 0 {
                return 11;
            }
            if set_keep_caps(false).is_err() || apply(&caps).is_err() {
                return 12;
            }
            0
        });
        assert_eq!(child.exit_code, 0);
        assert!(child
            .status
            .lines()
            .any(|line| line.starts_with("Uid:\t65534")));
        assert_eq!(child.mask("CapEff:"), bits(&KEPT));
        assert_eq!(child.mask("CapPrm:"), bits(&KEPT));
        assert_eq!(child.mask("CapAmb:"), bits(&AMBIENT));
    }

    #[test]
    fn capability_missing_from_bounding_cannot_be_used_or_regained() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let caps = small_set();
        let child = in_child(|| {
            if drop_bounding(&caps).is_err() {
                return 10;
            }
            // SAFETY: PR_CAPBSET_READ takes a number and no pointers.
            if unsafe { libc::prctl(libc::PR_CAPBSET_READ, 21, 0, 0, 0) } != 0 {
                return 11; // CAP_SYS_ADMIN still in the bounding set
            }
            if apply(&caps).is_err() {
                return 12;
            }
            // SAFETY: unshare only affects this child; it must fail without CAP_SYS_ADMIN.
            if unsafe { libc::unshare(libc::CLONE_NEWUTS) } == 0 {
                return 13;
            }
            // Asking for CAP_SYS_ADMIN back must fail.
            let with_admin = bits(&KEPT) | 1 << 21;
            match set_sets(with_admin, with_admin, 0) {
                Err(CapabilityError::Set(error)) if error.raw_os_error() == Some(libc::EPERM) => 0,
                _ => 14,
            }
        });
        assert_eq!(child.exit_code, 0);
        assert_eq!(child.mask("CapBnd:") & 1 << 21, 0);
    }

    #[test]
    fn raising_an_ambient_capability_that_is_not_inheritable_fails_clearly() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let mut caps = small_set();
        caps.set_ambient(Some(set(&[Capability::NetRaw])));
        let child = in_child(|| match apply(&caps) {
            Err(CapabilityError::RaiseAmbient {
                cap: CapabilityNumber(13),
                ..
            }) => 0,
            _ => 10,
        });
        assert_eq!(child.exit_code, 0);
        let error = CapabilityError::RaiseAmbient {
            cap: CapabilityNumber(13),
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert!(error.to_string().starts_with(
            "failed to raise ambient capability CAP_NET_RAW (it must be permitted and inheritable): "
        ));
    }
}
