//! Tests of the seccomp compiler: against an interpreter (every case, including random
//! profiles checked against a direct reading of the spec) and against the real kernel in
//! forked children.

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompOperator};
use serde_json::{json, Value};

use super::interpreter::{self, SeccompData};
use super::{abi, compile, Program, SeccompError};

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const KILL_THREAD: u32 = libc::SECCOMP_RET_KILL_THREAD;

fn errno(value: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | value as u32
}

fn spec(value: Value) -> LinuxSeccomp {
    serde_json::from_value(value).expect("test profile must parse")
}

fn compiled(value: Value) -> Program {
    let program = compile(&spec(value)).expect("test profile must compile");
    interpreter::check(&program.instructions);
    program
}

/// Number of syscall `name` in the native ABI.
fn nr(name: &str) -> u32 {
    abi::HOST[0].number(name).expect("syscall known natively")
}

fn native_arch() -> u32 {
    abi::HOST[0].audit_arch
}

/// Runs `program` for native syscall `name` with `args`.
fn decide(program: &Program, name: &str, args: [u64; 6]) -> u32 {
    interpreter::run(
        &program.instructions,
        &SeccompData {
            nr: nr(name),
            arch: native_arch(),
            args,
        },
    )
}

fn arg0(value: u64) -> [u64; 6] {
    [value, 0, 0, 0, 0, 0]
}

// ---------------------------------------------------------------------------------------
// Actions and defaults

#[test]
fn default_action_applies_to_syscalls_without_rules() {
    let program = compiled(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}));
    assert_eq!(decide(&program, "getppid", [0; 6]), errno(38));
    let program = compiled(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    assert_eq!(decide(&program, "getppid", [0; 6]), ALLOW);
}

#[test]
fn every_action_maps_to_its_kernel_value() {
    let cases = [
        ("SCMP_ACT_KILL", None, KILL_THREAD),
        ("SCMP_ACT_KILL_THREAD", None, KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", None, KILL_PROCESS),
        ("SCMP_ACT_TRAP", None, libc::SECCOMP_RET_TRAP),
        ("SCMP_ACT_ERRNO", None, errno(libc::EPERM)),
        ("SCMP_ACT_ERRNO", Some(0), errno(0)),
        ("SCMP_ACT_ERRNO", Some(4095), errno(4095)),
        ("SCMP_ACT_TRACE", None, libc::SECCOMP_RET_TRACE | 1),
        (
            "SCMP_ACT_TRACE",
            Some(0xffff),
            libc::SECCOMP_RET_TRACE | 0xffff,
        ),
        ("SCMP_ACT_LOG", None, libc::SECCOMP_RET_LOG),
        ("SCMP_ACT_ALLOW", None, ALLOW),
    ];
    for (action, errno_ret, expected) in cases {
        let mut rule = json!({"names": ["getppid"], "action": action});
        if let Some(value) = errno_ret {
            rule["errnoRet"] = json!(value);
        }
        let program = compiled(json!({"defaultAction": "SCMP_ACT_LOG", "syscalls": [rule]}));
        assert_eq!(
            decide(&program, "getppid", [0; 6]),
            expected,
            "{action} {errno_ret:?}"
        );
        assert_eq!(decide(&program, "getpid", [0; 6]), libc::SECCOMP_RET_LOG);
    }
}

#[test]
fn notify_action_is_rejected_with_its_location() {
    let error = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                     {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    })))
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "unsupported seccomp action SCMP_ACT_NOTIFY in linux.seccomp.syscalls[1].action"
    );
}

#[test]
fn errno_beyond_max_errno_is_rejected() {
    let error = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4096
    })))
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "linux.seccomp.defaultErrnoRet is 4096, more than the largest allowed value 4095"
    );
}

#[test]
fn argument_index_beyond_six_is_rejected() {
    let error = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                               {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]
    })))
    .unwrap_err();
    assert!(matches!(
        error,
        SeccompError::ArgumentIndexOutOfRange {
            rule: 0,
            arg: 1,
            index: 6
        }
    ));
}

#[test]
fn filter_flags_are_passed_to_the_kernel() {
    let program = compiled(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    }));
    assert_eq!(program.flags, 0b111);
}

// ---------------------------------------------------------------------------------------
// Names

#[test]
fn unknown_syscall_names_are_skipped() {
    let program = compiled(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["some_future_syscall", "getppid", "arm_fadvise64_64"],
                      "action": "SCMP_ACT_ALLOW"}]
    }));
    assert_eq!(decide(&program, "getppid", [0; 6]), ALLOW);
    assert_eq!(decide(&program, "getpid", [0; 6]), errno(libc::EPERM));
}

#[test]
fn malformed_syscall_names_are_rejected() {
    for name in ["", "Read", "open at", "9p", "read;"] {
        let error = compile(&spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"},
                         {"names": ["write", name], "action": "SCMP_ACT_ERRNO"}]
        })))
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("invalid syscall name {name:?} in linux.seccomp.syscalls[1].names")
        );
    }
}

#[test]
fn syscall_tables_have_well_known_numbers() {
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(nr("read"), 0);
        assert_eq!(nr("getppid"), 110);
        assert_eq!(nr("clone3"), 435);
        assert_eq!(nr("file_setattr"), 469);
        let x86 = abi::HOST
            .iter()
            .find(|abi| abi.oci == oci_spec::runtime::Arch::ScmpArchX86);
        assert_eq!(x86.and_then(|abi| abi.number("getppid")), Some(64));
        let x32 = abi::HOST.iter().find(|abi| abi.x32);
        assert_eq!(
            x32.and_then(|abi| abi.number("getppid")),
            Some(0x4000_0000 + 110)
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        assert_eq!(nr("read"), 63);
        assert_eq!(nr("getppid"), 173);
        assert_eq!(abi::HOST[0].number("open"), None);
    }
    for table_abi in abi::HOST {
        assert_eq!(table_abi.number("no_such_syscall"), None);
    }
}

// ---------------------------------------------------------------------------------------
// Architectures

#[cfg(target_arch = "x86_64")]
mod x86_64_abis {
    use super::*;

    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

    fn run(program: &Program, arch: u32, nr: u32) -> u32 {
        interpreter::run(
            &program.instructions,
            &SeccompData {
                nr,
                arch,
                args: [0; 6],
            },
        )
    }

    fn profile(architectures: Value) -> Program {
        compiled(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": architectures,
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ALLOW"}]
        }))
    }

    #[test]
    fn syscalls_of_unlisted_abis_kill_the_process() {
        let program = profile(json!(["SCMP_ARCH_X86_64"]));
        assert_eq!(run(&program, native_arch(), 110), ALLOW);
        assert_eq!(run(&program, AUDIT_ARCH_I386, 64), KILL_PROCESS);
        assert_eq!(run(&program, AUDIT_ARCH_AARCH64, 173), KILL_PROCESS);
        assert_eq!(run(&program, 0, 110), KILL_PROCESS);
        // x32: the x86_64 arch value with bit 30 set in the number.
        assert_eq!(
            run(&program, native_arch(), 0x4000_0000 + 110),
            KILL_PROCESS
        );
        assert_eq!(run(&program, native_arch(), 0x7fff_ffff), KILL_PROCESS);
    }

    #[test]
    fn native_abi_is_covered_even_when_not_listed() {
        let program = profile(json!(["SCMP_ARCH_X86"]));
        assert_eq!(run(&program, native_arch(), 110), ALLOW);
        assert_eq!(run(&program, AUDIT_ARCH_I386, 64), ALLOW);
        let program = profile(json!(["SCMP_ARCH_NATIVE"]));
        assert_eq!(run(&program, native_arch(), 110), ALLOW);
        assert_eq!(run(&program, AUDIT_ARCH_I386, 64), KILL_PROCESS);
    }

    #[test]
    fn listed_compat_abis_use_their_own_numbers() {
        let program = profile(json!([
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X32"
        ]));
        assert_eq!(run(&program, native_arch(), 110), ALLOW);
        assert_eq!(run(&program, native_arch(), 64), errno(libc::EPERM));
        assert_eq!(run(&program, AUDIT_ARCH_I386, 64), ALLOW);
        assert_eq!(run(&program, AUDIT_ARCH_I386, 110), errno(libc::EPERM));
        assert_eq!(run(&program, native_arch(), 0x4000_0000 + 110), ALLOW);
        assert_eq!(
            run(&program, native_arch(), 0x4000_0000 + 64),
            errno(libc::EPERM)
        );
        assert_eq!(run(&program, AUDIT_ARCH_AARCH64, 173), KILL_PROCESS);
    }

    #[test]
    fn invalid_numbers_above_the_x32_range_get_the_default_action() {
        let program = profile(json!(["SCMP_ARCH_X86_64"]));
        assert_eq!(run(&program, native_arch(), u32::MAX), errno(libc::EPERM));
        assert_eq!(
            run(&program, native_arch(), 0x8000_0000),
            errno(libc::EPERM)
        );
    }

    #[test]
    fn arguments_of_32_bit_abis_compare_the_low_word_only() {
        let program = compiled(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86"],
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]
        }));
        let i386 = |arg: u64| {
            interpreter::run(
                &program.instructions,
                &SeccompData {
                    nr: 136,
                    arch: AUDIT_ARCH_I386,
                    args: arg0(arg),
                },
            )
        };
        assert_eq!(i386(8), errno(libc::EPERM));
        assert_eq!(i386(0xdead_0000_0000_0008), errno(libc::EPERM));
        assert_eq!(i386(9), ALLOW);
        assert_eq!(
            decide(&program, "personality", arg0(0xdead_0000_0000_0008)),
            ALLOW
        );
        assert_eq!(decide(&program, "personality", arg0(8)), errno(libc::EPERM));
    }
}

// ---------------------------------------------------------------------------------------
// Rules and arguments

#[test]
fn first_matching_rule_wins_and_unmatched_rules_fall_through() {
    let program = compiled(json!({
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
             "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_LT"}]},
            {"names": ["personality", "getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
             "args": [{"index": 1, "value": 5, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getppid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4}
        ]
    }));
    assert_eq!(decide(&program, "personality", arg0(1)), errno(1));
    assert_eq!(decide(&program, "personality", arg0(2)), errno(2));
    assert_eq!(
        decide(&program, "personality", [20, 5, 0, 0, 0, 0]),
        errno(3)
    );
    assert_eq!(decide(&program, "personality", arg0(20)), KILL_PROCESS);
    assert_eq!(decide(&program, "getppid", [0, 5, 0, 0, 0, 0]), errno(3));
    assert_eq!(decide(&program, "getppid", [0; 6]), ALLOW);
}

#[test]
fn all_conditions_of_a_rule_must_hold() {
    let program = compiled(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mmap"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 2, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"},
                               {"index": 5, "value": 0x1_0000_0000u64, "op": "SCMP_CMP_GE"},
                               {"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]}]
    }));
    assert_eq!(
        decide(&program, "mmap", [1, 0, 7, 0, 0, 0x1_0000_0000]),
        errno(libc::EPERM)
    );
    assert_eq!(
        decide(&program, "mmap", [1, 0, 3, 0, 0, 0x1_0000_0000]),
        ALLOW
    );
    assert_eq!(
        decide(&program, "mmap", [1, 0, 7, 0, 0, 0xffff_ffff]),
        ALLOW
    );
    assert_eq!(
        decide(&program, "mmap", [0, 0, 7, 0, 0, 0x1_0000_0000]),
        ALLOW
    );
}

/// Values around the 32-bit word boundary and the ends of the range.
const EDGES: [u64; 16] = [
    0,
    1,
    2,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0001,
    0x1_ffff_ffff,
    0x1_8000_0000,
    0x8000_0000_0000_0000,
    0xffff_ffff_0000_0000,
    0xffff_fffe_ffff_ffff,
    0xffff_ffff_ffff_fffe,
    u64::MAX,
];

/// What a condition means, read straight from the runtime spec.
fn holds(op: LinuxSeccompOperator, arg: u64, value: u64, value_two: u64) -> bool {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => arg != value,
        LinuxSeccompOperator::ScmpCmpLt => arg < value,
        LinuxSeccompOperator::ScmpCmpLe => arg <= value,
        LinuxSeccompOperator::ScmpCmpEq => arg == value,
        LinuxSeccompOperator::ScmpCmpGe => arg >= value,
        LinuxSeccompOperator::ScmpCmpGt => arg > value,
        LinuxSeccompOperator::ScmpCmpMaskedEq => arg & value == value_two,
    }
}

const OPS: [LinuxSeccompOperator; 7] = [
    LinuxSeccompOperator::ScmpCmpNe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
];

#[test]
fn every_operator_compares_64_bit_values_across_the_word_boundary() {
    for op in OPS {
        for value in EDGES {
            let value_two = value & 0xffff_0000_ffff_0001;
            let program = compiled(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                              "args": [{"index": 3, "value": value, "valueTwo": value_two,
                                        "op": op}]}]
            }));
            let candidates = EDGES.iter().flat_map(|edge| {
                [
                    *edge,
                    value.wrapping_add(1),
                    value.wrapping_sub(1),
                    value ^ (1 << 32),
                    value ^ 1,
                ]
            });
            for arg in candidates {
                let expected = if holds(op, arg, value, value_two) {
                    errno(1)
                } else {
                    ALLOW
                };
                let args = [0, 0, 0, arg, 0, 0];
                assert_eq!(
                    decide(&program, "personality", args),
                    expected,
                    "{op:?} value {value:#x} valueTwo {value_two:#x} arg {arg:#x}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Long programs

#[test]
fn jumps_over_more_than_255_instructions_use_trampolines() {
    // Two syscalls with 300 conditional rules each (4 instructions a rule): the search tree
    // must jump over one whole chain to reach the other, and rules far from the shared
    // default return need their own.
    let conditional = |name: &str, errno_base: u64| -> Vec<Value> {
        (0..300u64)
            .map(|i| {
                json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_base + i,
                       "args": [{"index": 0, "value": (i + 1) << 32 | i, "op": "SCMP_CMP_EQ"}]})
            })
            .collect()
    };
    let mut rules = conditional("personality", 1);
    rules.extend(conditional("ioctl", 1001));
    rules.push(
        json!({"names": ["getppid", "read", "write", "close", "openat"],
                      "action": "SCMP_ACT_ALLOW"}),
    );
    let program = compiled(json!({"defaultAction": "SCMP_ACT_TRAP", "syscalls": rules}));
    assert!(
        program.len() > 2400,
        "program has {} instructions",
        program.len()
    );
    let has_long_jump = program
        .instructions
        .iter()
        .any(|insn| u32::from(insn.code) == libc::BPF_JMP | libc::BPF_JA && insn.k > 255);
    assert!(
        has_long_jump,
        "expected at least one ja over 255 instructions"
    );

    for i in 0..300u64 {
        let value = (i + 1) << 32 | i;
        assert_eq!(
            decide(&program, "personality", arg0(value)),
            errno(i as i32 + 1)
        );
        assert_eq!(
            decide(&program, "ioctl", arg0(value)),
            errno(i as i32 + 1001)
        );
        assert_eq!(
            decide(&program, "personality", arg0(i)),
            libc::SECCOMP_RET_TRAP
        );
        assert_eq!(
            decide(&program, "ioctl", arg0(value + 1)),
            libc::SECCOMP_RET_TRAP
        );
    }
    for name in ["getppid", "read", "write", "close", "openat"] {
        assert_eq!(decide(&program, name, [0; 6]), ALLOW);
    }
    assert_eq!(decide(&program, "getpid", [0; 6]), libc::SECCOMP_RET_TRAP);
}

#[test]
fn programs_over_4096_instructions_are_rejected() {
    let rules: Vec<Value> = (0..1100u64)
        .map(|i| {
            json!({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 1, "value": i << 32 | i, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let error = compile(&spec(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules}),
    ))
    .unwrap_err();
    assert!(
        matches!(error, SeccompError::ProgramTooLong { len } if len > 4096),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------
// Random profiles against the spec's meaning

/// xorshift64*: small deterministic random numbers for test data.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn value(&mut self, near: &[u64]) -> u64 {
        match self.below(4) {
            0 => self.pick(&EDGES),
            1 if !near.is_empty() => {
                let base = self.pick(near);
                base.wrapping_add(self.below(3) as u64).wrapping_sub(1)
            }
            2 => self.next() & 0xff,
            _ => self.next(),
        }
    }
}

const NAMES: [&str; 10] = [
    "read",
    "write",
    "personality",
    "getppid",
    "mkdirat",
    "ioctl",
    "socket",
    "clone",
    "fcntl",
    "some_future_syscall",
];
const ACTIONS: [&str; 8] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
];
const OP_NAMES: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

fn random_profile(random: &mut Random) -> Value {
    let rules: Vec<Value> = (0..random.below(30))
        .map(|_| {
            let names: Vec<&str> = (0..1 + random.below(3))
                .map(|_| random.pick(&NAMES))
                .collect();
            let args: Vec<Value> = (0..random.below(4))
                .map(|_| {
                    json!({"index": random.below(6), "value": random.value(&[]),
                           "valueTwo": random.value(&[]), "op": random.pick(&OP_NAMES)})
                })
                .collect();
            let mut rule = json!({"names": names, "action": random.pick(&ACTIONS), "args": args});
            if random.below(2) == 0 {
                rule["errnoRet"] = json!(random.below(4096));
            }
            rule
        })
        .collect();
    let architectures: Vec<&str> = [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
    ]
    .into_iter()
    .filter(|_| random.below(2) == 0)
    .collect();
    json!({"defaultAction": random.pick(&ACTIONS), "defaultErrnoRet": random.below(100),
           "architectures": architectures, "syscalls": rules})
}

/// The action the spec prescribes, read directly from it (no code shared with the compiler
/// except the syscall tables).
fn prescribed(seccomp: &LinuxSeccomp, data: &SeccompData) -> u32 {
    let architectures = seccomp.architectures().clone().unwrap_or_default();
    let x32_number = (0x4000_0000..0x8000_0000).contains(&data.nr);
    let abi = abi::selected(&architectures).into_iter().find(|abi| {
        abi.audit_arch == data.arch && (abi.x32 == x32_number || !shares_arch_with_x32(abi))
    });
    let Some(abi) = abi else { return KILL_PROCESS };
    for rule in seccomp.syscalls().as_deref().unwrap_or(&[]) {
        let named = rule
            .names()
            .iter()
            .any(|name| abi.number(name) == Some(data.nr));
        let conditions_hold = rule
            .args()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .all(|condition| {
                let word = |v: u64| if abi.wide_args { v } else { v & 0xffff_ffff };
                holds(
                    condition.op(),
                    word(data.args[condition.index()]),
                    word(condition.value()),
                    word(condition.value_two().unwrap_or(0)),
                )
            });
        if named && conditions_hold {
            return rule.action().as_u32(rule.errno_ret());
        }
    }
    seccomp.default_action().as_u32(seccomp.default_errno_ret())
}

fn shares_arch_with_x32(candidate: &abi::Abi) -> bool {
    abi::HOST
        .iter()
        .any(|other| other.x32 && other.audit_arch == candidate.audit_arch)
}

fn random_data(random: &mut Random, seccomp: &LinuxSeccomp) -> SeccompData {
    let archs: Vec<u32> = abi::HOST
        .iter()
        .map(|abi| abi.audit_arch)
        .chain([0xc000_00b7, 7])
        .collect();
    let arch = random.pick(&archs);
    let numbers: Vec<u32> = abi::HOST
        .iter()
        .filter(|abi| abi.audit_arch == arch)
        .flat_map(|abi| NAMES.iter().filter_map(|name| abi.number(name)))
        .collect();
    let nr = match random.below(5) {
        0 => random.next() as u32,
        _ if !numbers.is_empty() => random.pick(&numbers),
        _ => random.below(500) as u32,
    };
    let near: Vec<u64> = seccomp
        .syscalls()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .flat_map(|rule| rule.args().as_deref().unwrap_or(&[]).to_vec())
        .flat_map(|condition| [condition.value(), condition.value_two().unwrap_or(0)])
        .collect();
    let args = [(); 6].map(|_| random.value(&near));
    SeccompData { nr, arch, args }
}

#[test]
fn random_profiles_decide_as_the_spec_prescribes() {
    let mut random = Random(0x5eed_cafe_f00d_0001);
    for _ in 0..400 {
        let seccomp = spec(random_profile(&mut random));
        let program = compile(&seccomp).expect("random profiles are valid");
        interpreter::check(&program.instructions);
        for _ in 0..300 {
            let data = random_data(&mut random, &seccomp);
            assert_eq!(
                interpreter::run(&program.instructions, &data),
                prescribed(&seccomp, &data),
                "profile {}\ndata {data:?}",
                serde_json::to_string(&seccomp).unwrap_or_default()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// A realistic profile

/// A profile shaped like the usual container default: deny by default, a long allow list,
/// a few argument-filtered rules. (Written for these tests; see `testdata/`.)
fn container_default_profile() -> Value {
    serde_json::from_str(include_str!("testdata/container-default.json"))
        .expect("fixture is valid JSON")
}

#[test]
fn container_default_profile_compiles_compactly() {
    let program = compiled(container_default_profile());
    assert!(
        program.len() < 1500,
        "program has {} instructions",
        program.len()
    );
    assert_eq!(decide(&program, "read", [0; 6]), ALLOW);
    assert_eq!(decide(&program, "mount", [0; 6]), errno(libc::EPERM));
    assert_eq!(decide(&program, "clone3", [0; 6]), errno(libc::ENOSYS));
    assert_eq!(decide(&program, "personality", arg0(0)), ALLOW);
    assert_eq!(
        decide(&program, "personality", arg0(0x0040_0000)),
        errno(libc::EPERM)
    );
    assert_eq!(decide(&program, "clone", arg0(libc::SIGCHLD as u64)), ALLOW);
    let new_user = (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64;
    assert_eq!(
        decide(&program, "clone", arg0(new_user)),
        errno(libc::EPERM)
    );
}

// ---------------------------------------------------------------------------------------
// The real kernel

/// How a forked child ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Exited(i32),
    Signaled(i32),
}

/// Forks a child that sets no_new_privs, installs `program` and exits with `body()`'s
/// result. `body` runs between fork and exit in a copy of a multi-threaded process, so it
/// may only make plain syscalls (no allocation, no locks).
fn in_child(program: &Program, body: impl FnOnce() -> i32) -> Ended {
    // SAFETY: the child only makes async-signal-safe calls (prctl, setrlimit, seccomp, the
    // syscalls in `body`) and leaves with _exit, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain syscalls on this process with valid arguments.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(120);
            }
        }
        let code = match program.install() {
            Ok(()) => body(),
            Err(_) => 121,
        };
        // SAFETY: ends the child without running the parent's destructors or atexit hooks.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked; `status` is a valid out pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(
        waited,
        pid,
        "waitpid failed: {}",
        std::io::Error::last_os_error()
    );
    if libc::WIFEXITED(status) {
        Ended::Exited(libc::WEXITSTATUS(status))
    } else {
        Ended::Signaled(libc::WTERMSIG(status))
    }
}

/// `-errno` of the last failed call, or the result itself.
fn outcome(result: libc::c_long) -> i32 {
    if result < 0 {
        -std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        result as i32
    }
}

#[test]
fn kernel_returns_the_chosen_errno() {
    let program = compiled(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]
    }));
    let ended = in_child(&program, || {
        // SAFETY: the path is a valid NUL-terminated string.
        let result = unsafe { libc::mkdir(c"/tmp/tug-seccomp-never-created".as_ptr(), 0o700) };
        outcome(result.into()).abs()
    });
    assert_eq!(ended, Ended::Exited(42));
}

#[test]
fn kernel_kills_with_sigsys() {
    for action in ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS"] {
        let program = compiled(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": action}]
        }));
        // SAFETY: getppid has no preconditions.
        let ended = in_child(&program, || unsafe { libc::getppid() } & 0x3f);
        assert_eq!(ended, Ended::Signaled(libc::SIGSYS), "{action}");
    }
}

#[test]
fn kernel_allows_what_the_profile_allows() {
    let program = compiled(json!({
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "syscalls": [{"names": ["getppid", "exit", "exit_group"], "action": "SCMP_ACT_ALLOW"}]
    }));
    let parent = std::process::id() as i32;
    // SAFETY: getppid has no preconditions.
    let ended = in_child(&program, move || {
        i32::from(unsafe { libc::getppid() } == parent)
    });
    assert_eq!(ended, Ended::Exited(1));
}

#[test]
fn kernel_applies_argument_filters() {
    // Deny personality(PER_LINUX32) only; querying (0xffffffff) stays allowed.
    let program = compiled(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                      "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]
    }));
    let ended = in_child(&program, || {
        // SAFETY: personality only changes this child's execution domain.
        let denied = outcome(unsafe { libc::syscall(libc::SYS_personality, 8u64) });
        // SAFETY: as above; 0xffffffff only queries.
        let query = outcome(unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu64) });
        if denied == -13 && query >= 0 {
            0
        } else {
            1
        }
    });
    assert_eq!(ended, Ended::Exited(0));
}

#[test]
fn busy_child_runs_under_the_container_default_profile() {
    let program = compiled(container_default_profile());
    let shell = c"/bin/sh";
    let script = c"ls / >/dev/null && cat /proc/self/status >/dev/null && /bin/true";
    let argv = [
        shell.as_ptr(),
        c"-c".as_ptr(),
        script.as_ptr(),
        std::ptr::null(),
    ];
    let ended = in_child(&program, || {
        // SAFETY: the mount point and type are valid strings; the call is expected to fail.
        let mount = unsafe {
            libc::mount(
                c"none".as_ptr(),
                c"/mnt".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if outcome(mount.into()) != -libc::EPERM {
            return 90;
        }
        // SAFETY: argv is a NULL-terminated array of valid strings built before fork.
        unsafe { libc::execv(shell.as_ptr(), argv.as_ptr()) };
        91
    });
    assert_eq!(ended, Ended::Exited(0));
}
