//! Syscall name → number tables, one per ABI, generated from kernel headers by
//! `generate.py` in this directory (which also says which kernel they cover).
//! Only the tables of ABIs the host can run are compiled.

#[cfg(target_arch = "aarch64")]
pub(super) mod aarch64;
#[cfg(target_arch = "x86_64")]
pub(super) mod x32;
#[cfg(target_arch = "x86_64")]
pub(super) mod x86;
#[cfg(target_arch = "x86_64")]
pub(super) mod x86_64;
