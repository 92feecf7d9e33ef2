//! The syscall ABIs a filter can tell apart on this host, with their syscall tables.
//!
//! The kernel reports the ABI of each syscall in `seccomp_data.arch` (an `AUDIT_ARCH_*`
//! value). x32 is the exception: it shares `AUDIT_ARCH_X86_64` with x86_64 and marks its
//! syscall numbers with bit 30 (`__X32_SYSCALL_BIT`) instead.

use oci_spec::runtime::Arch;

use super::syscalls;

/// `AUDIT_ARCH_X86_64` (`EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386` (`EM_386 | __AUDIT_ARCH_LE`).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64` (`EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

/// Bit 30 of the syscall number marks an x32 syscall on x86_64.
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// One syscall ABI.
#[derive(Debug)]
pub(super) struct Abi {
    /// The name the OCI spec uses for it in `linux.seccomp.architectures`.
    pub(super) oci: Arch,
    /// The `seccomp_data.arch` value of its syscalls.
    pub(super) audit_arch: u32,
    /// Syscall names and numbers, sorted by name.
    table: &'static [(&'static str, u32)],
    /// Whether syscall arguments are 64 bits wide (otherwise only the low word is meaningful).
    pub(super) wide_args: bool,
    /// Whether this is x32, told apart from x86_64 by the number rather than the arch.
    pub(super) x32: bool,
}

impl Abi {
    /// The number of syscall `name`, if this ABI has it.
    pub(super) fn number(&self, name: &str) -> Option<u32> {
        self.table
            .binary_search_by(|(candidate, _)| candidate.cmp(&name))
            .ok()
            .map(|index| self.table[index].1)
    }
}

#[cfg(target_arch = "x86_64")]
const X86_64: Abi = Abi {
    oci: Arch::ScmpArchX86_64,
    audit_arch: AUDIT_ARCH_X86_64,
    table: syscalls::x86_64::SYSCALLS,
    wide_args: true,
    x32: false,
};

#[cfg(target_arch = "x86_64")]
const X86: Abi = Abi {
    oci: Arch::ScmpArchX86,
    audit_arch: AUDIT_ARCH_I386,
    table: syscalls::x86::SYSCALLS,
    wide_args: false,
    x32: false,
};

#[cfg(target_arch = "x86_64")]
const X32: Abi = Abi {
    oci: Arch::ScmpArchX32,
    audit_arch: AUDIT_ARCH_X86_64,
    table: syscalls::x32::SYSCALLS,
    wide_args: true,
    x32: true,
};

#[cfg(target_arch = "aarch64")]
const AARCH64: Abi = Abi {
    oci: Arch::ScmpArchAarch64,
    audit_arch: AUDIT_ARCH_AARCH64,
    table: syscalls::aarch64::SYSCALLS,
    wide_args: true,
    x32: false,
};

/// The ABIs a process on this host can use, native first. (32-bit arm on aarch64 hosts has
/// no table yet, so its syscalls are treated as coming from an unknown architecture.)
#[cfg(target_arch = "x86_64")]
pub(super) const HOST: &[Abi] = &[X86_64, X86, X32];
#[cfg(target_arch = "aarch64")]
pub(super) const HOST: &[Abi] = &[AARCH64];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(super) const HOST: &[Abi] = &[];

/// The host ABIs a profile covers: the native one always (as libseccomp does), and every
/// other one named in `architectures`. Names of ABIs this host cannot run are ignored:
/// no syscall can arrive from them.
pub(super) fn selected(architectures: &[Arch]) -> Vec<&'static Abi> {
    HOST.iter()
        .enumerate()
        .filter(|(position, abi)| *position == 0 || architectures.contains(&abi.oci))
        .map(|(_, abi)| abi)
        .collect()
}
