//! A classic-BPF interpreter for seccomp programs, for tests: runs a program against a
//! `seccomp_data` the way the kernel would, after checking it the way the kernel does.

use libc::sock_filter;

/// The fields of `seccomp_data` a filter can look at.
#[derive(Clone, Copy, Debug)]
pub(super) struct SeccompData {
    pub(super) nr: u32,
    pub(super) arch: u32,
    pub(super) args: [u64; 6],
}

impl SeccompData {
    /// `struct seccomp_data` as the kernel lays it out (native byte order).
    fn bytes(&self) -> [u8; 64] {
        let mut bytes = [0u8; 64];
        bytes[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        bytes[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        // instruction_pointer (8..16) stays zero.
        for (index, arg) in self.args.iter().enumerate() {
            let start = 16 + 8 * index;
            bytes[start..start + 8].copy_from_slice(&arg.to_ne_bytes());
        }
        bytes
    }
}

/// Panics unless `program` would pass the kernel's checks: 1..=4096 instructions, only
/// the opcodes we emit, every jump inside the program, ending in `ret`.
pub(super) fn check(program: &[sock_filter]) {
    assert!(
        !program.is_empty() && program.len() <= 4096,
        "bad length {}",
        program.len()
    );
    for (pc, insn) in program.iter().enumerate() {
        let code = u32::from(insn.code);
        let next = pc + 1;
        match code {
            c if c == libc::BPF_JMP | libc::BPF_JA => {
                assert!(
                    next + (insn.k as usize) < program.len(),
                    "ja out of range at {pc}"
                );
            }
            c if c & 0x07 == libc::BPF_JMP => {
                let far = next + usize::from(insn.jt.max(insn.jf));
                assert!(far < program.len(), "jump out of range at {pc}");
            }
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                assert!(
                    insn.k % 4 == 0 && insn.k < 64,
                    "bad load offset {} at {pc}",
                    insn.k
                );
            }
            c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => {}
            c if c == libc::BPF_RET | libc::BPF_K => {}
            _ => panic!("unexpected opcode {code:#x} at {pc}"),
        }
    }
    let last = program[program.len() - 1];
    assert_eq!(
        u32::from(last.code),
        libc::BPF_RET | libc::BPF_K,
        "program must end in ret"
    );
}

/// The action `program` returns for `data`.
pub(super) fn run(program: &[sock_filter], data: &SeccompData) -> u32 {
    check(program);
    let bytes = data.bytes();
    let mut accumulator: u32 = 0;
    let mut pc = 0usize;
    loop {
        let insn = program[pc];
        let code = u32::from(insn.code);
        pc += 1;
        if code == libc::BPF_RET | libc::BPF_K {
            return insn.k;
        } else if code == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS {
            let at = insn.k as usize;
            accumulator =
                u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        } else if code == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K {
            accumulator &= insn.k;
        } else if code == libc::BPF_JMP | libc::BPF_JA {
            pc += insn.k as usize;
        } else {
            let taken = match code & !(libc::BPF_JMP | libc::BPF_K) {
                c if c == libc::BPF_JEQ => accumulator == insn.k,
                c if c == libc::BPF_JGT => accumulator > insn.k,
                c if c == libc::BPF_JGE => accumulator >= insn.k,
                c if c == libc::BPF_JSET => accumulator & insn.k != 0,
                _ => panic!("unexpected opcode {code:#x}"),
            };
            pc += usize::from(if taken { insn.jt } else { insn.jf });
        }
    }
}
