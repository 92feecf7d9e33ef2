//! Seccomp: compiles an OCI `linux.seccomp` profile into a classic BPF program and installs it.
//!
//! [`compile`] is pure (no syscalls), so the runtime calls it in the parent before forking and
//! bad profiles fail early; [`Program::install`] is the one syscall, made in the container
//! process just before exec.
//!
//! Semantics of a compiled profile:
//! - Rules apply in the order of `syscalls[]`: for one syscall the first rule whose arguments
//!   all match decides; if none matches, `defaultAction` does.
//! - Argument conditions compare the full 64-bit value, unsigned (only the low 32 bits on
//!   32-bit ABIs, which is all the kernel passes on).
//! - Syscall names unknown for an ABI are skipped, as runc and crun do (profiles list
//!   syscalls of newer kernels and of other architectures); names that cannot be syscall
//!   names at all are an error.
//! - The native ABI is always covered; other ABIs this host can run (i386 and x32 on x86_64)
//!   are covered when `architectures` names them. A syscall from any other ABI kills the
//!   process, like libseccomp's default bad-architecture action. Following `defaultAction`
//!   instead would let a deny-list profile (default `SCMP_ACT_ALLOW`) be bypassed by making
//!   the denied syscall through the i386 entry point under its i386 number.
//! - `SCMP_ACT_NOTIFY` (a seccomp agent) is not supported.
//!
//! Layout of the program: check `arch` and branch to the section of that ABI; each section
//! loads `nr` and walks a binary search tree of the syscall numbers that have rules, into
//! per-syscall rule chains; unmatched syscalls return the default action.

mod abi;
mod bpf;
mod codegen;
mod syscalls;

#[cfg(test)]
mod interpreter;
#[cfg(test)]
mod tests;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

/// The kernel's limit on the length of one seccomp program (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;

/// Largest errno the kernel returns for `SECCOMP_RET_ERRNO` (`MAX_ERRNO`).
const MAX_ERRNO: u32 = 4095;

/// Number of syscall arguments in `seccomp_data`.
const SYSCALL_ARGS: usize = 6;

/// Why a profile could not be compiled or installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("invalid syscall name {name:?} in linux.seccomp.syscalls[{rule}].names")]
    InvalidSyscallName { rule: usize, name: String },
    #[error("unsupported seccomp action {action} in {field}")]
    UnsupportedAction {
        field: String,
        action: LinuxSeccompAction,
    },
    #[error("{field} is {value}, more than the largest allowed value {max}")]
    ReturnValueOutOfRange { field: String, value: u32, max: u32 },
    #[error(
        "argument index {index} in linux.seccomp.syscalls[{rule}].args[{arg}] is out of range \
         (syscalls have {SYSCALL_ARGS} arguments)"
    )]
    ArgumentIndexOutOfRange {
        rule: usize,
        arg: usize,
        index: usize,
    },
    #[error("seccomp is not supported on this architecture")]
    UnsupportedHost,
    #[error(
        "seccomp program has {len} instructions, more than the kernel limit of {MAX_INSTRUCTIONS}"
    )]
    ProgramTooLong { len: usize },
    #[error("failed to install seccomp filter: {0}")]
    Install(#[source] std::io::Error),
    #[error("failed to install seccomp filter: thread {tid} could not be synchronized")]
    ThreadSync { tid: i64 },
}

/// A compiled seccomp filter, ready to install.
#[derive(Clone)]
pub struct Program {
    instructions: Vec<libc::sock_filter>,
    /// `SECCOMP_FILTER_FLAG_*` bits for `seccomp(SECCOMP_SET_MODE_FILTER, ...)`.
    flags: libc::c_ulong,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("len", &self.instructions.len())
            .field("flags", &self.flags)
            .finish()
    }
}

/// Compiles `seccomp` into a BPF program for the ABIs of this host (pure, no syscalls).
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Program, SeccompError> {
    let profile = Profile::from_spec(seccomp)?;
    let instructions = codegen::generate(&profile);
    if instructions.len() > MAX_INSTRUCTIONS {
        return Err(SeccompError::ProgramTooLong {
            len: instructions.len(),
        });
    }
    Ok(Program {
        instructions,
        flags: filter_flags(seccomp.flags().as_deref().unwrap_or(&[])),
    })
}

impl Program {
    /// Installs the filter on the calling thread (on all threads of the process with
    /// `SECCOMP_FILTER_FLAG_TSYNC`). The caller must have set no_new_privs or hold
    /// CAP_SYS_ADMIN. Does not allocate, so it is safe to call between fork and exec.
    pub fn install(&self) -> Result<(), SeccompError> {
        let fprog = libc::sock_fprog {
            // compile() keeps programs at most MAX_INSTRUCTIONS long, which fits in u16.
            len: self.instructions.len() as libc::c_ushort,
            filter: self.instructions.as_ptr().cast_mut(),
        };
        // SAFETY: `fprog` points at `self.instructions`, which outlives the call; the kernel
        // only reads the program (and copies it) during the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &fprog as *const libc::sock_fprog,
            )
        };
        match rc {
            0 => Ok(()),
            rc if rc < 0 => Err(SeccompError::Install(std::io::Error::last_os_error())),
            tid => Err(SeccompError::ThreadSync { tid }),
        }
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.instructions.len()
    }

    /// Always false: a program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.instructions.is_empty()
    }
}

/// The `SECCOMP_FILTER_FLAG_*` bits for the spec's flags.
fn filter_flags(flags: &[LinuxSeccompFilterFlag]) -> libc::c_ulong {
    flags
        .iter()
        .map(|flag| match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // Only changes how a seccomp agent receives notifications; without
            // SCMP_ACT_NOTIFY there is none, and the kernel rejects the flag on its own.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        })
        .fold(0, |all, flag| all | flag)
}

/// A profile checked and reduced to what the code generator needs.
#[derive(Debug)]
struct Profile {
    /// `SECCOMP_RET_*` value for syscalls no rule matches.
    default_action: u32,
    /// ABIs to build sections for, native first.
    abis: Vec<&'static abi::Abi>,
    /// Rules in spec order.
    rules: Vec<Rule>,
}

/// One entry of `syscalls[]`.
#[derive(Debug)]
struct Rule {
    names: Vec<String>,
    /// `SECCOMP_RET_*` value when the rule matches.
    action: u32,
    /// Conditions that must all hold.
    args: Vec<ArgCondition>,
}

/// One entry of `syscalls[].args`.
#[derive(Clone, Copy, Debug)]
struct ArgCondition {
    index: u32,
    op: LinuxSeccompOperator,
    value: u64,
    /// Second operand; the datum of `SCMP_CMP_MASKED_EQ` (whose mask is `value`).
    value_two: u64,
}

impl Profile {
    fn from_spec(seccomp: &LinuxSeccomp) -> Result<Self, SeccompError> {
        if abi::HOST.is_empty() {
            return Err(SeccompError::UnsupportedHost);
        }
        let default_action = action_value(
            seccomp.default_action(),
            seccomp.default_errno_ret(),
            "linux.seccomp.defaultAction",
            "linux.seccomp.defaultErrnoRet",
        )?;
        let rules = seccomp
            .syscalls()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .map(|(position, syscall)| Rule::from_spec(position, syscall))
            .collect::<Result<_, _>>()?;
        let abis = abi::selected(seccomp.architectures().as_deref().unwrap_or(&[]));
        Ok(Profile {
            default_action,
            abis,
            rules,
        })
    }
}

impl Rule {
    fn from_spec(
        position: usize,
        syscall: &oci_spec::runtime::LinuxSyscall,
    ) -> Result<Self, SeccompError> {
        for name in syscall.names() {
            if !is_syscall_name(name) {
                return Err(SeccompError::InvalidSyscallName {
                    rule: position,
                    name: name.clone(),
                });
            }
        }
        let action = action_value(
            syscall.action(),
            syscall.errno_ret(),
            &format!("linux.seccomp.syscalls[{position}].action"),
            &format!("linux.seccomp.syscalls[{position}].errnoRet"),
        )?;
        let args = syscall
            .args()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .map(|(arg, condition)| {
                let index = condition.index();
                if index >= SYSCALL_ARGS {
                    return Err(SeccompError::ArgumentIndexOutOfRange {
                        rule: position,
                        arg,
                        index,
                    });
                }
                Ok(ArgCondition {
                    // Checked just above to be below 6.
                    index: index as u32,
                    op: condition.op(),
                    value: condition.value(),
                    value_two: condition.value_two().unwrap_or(0),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Rule {
            names: syscall.names().clone(),
            action,
            args,
        })
    }
}

/// Whether `name` has the shape of a syscall name (lowercase letters, digits, underscores).
fn is_syscall_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The `SECCOMP_RET_*` value of an action. `action_field` and `errno_field` name the spec
/// fields for error messages.
fn action_value(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    action_field: &str,
    errno_field: &str,
) -> Result<u32, SeccompError> {
    let data = |max: u32| {
        let value = errno_ret.unwrap_or(libc::EPERM as u32);
        if value > max {
            return Err(SeccompError::ReturnValueOutOfRange {
                field: errno_field.to_string(),
                value,
                max,
            });
        }
        Ok(value)
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            libc::SECCOMP_RET_KILL_THREAD
        }
        LinuxSeccompAction::ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => libc::SECCOMP_RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => libc::SECCOMP_RET_ERRNO | data(MAX_ERRNO)?,
        LinuxSeccompAction::ScmpActTrace => libc::SECCOMP_RET_TRACE | data(libc::SECCOMP_RET_DATA)?,
        LinuxSeccompAction::ScmpActLog => libc::SECCOMP_RET_LOG,
        LinuxSeccompAction::ScmpActAllow => libc::SECCOMP_RET_ALLOW,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::UnsupportedAction {
                field: action_field.to_string(),
                action,
            })
        }
    })
}
