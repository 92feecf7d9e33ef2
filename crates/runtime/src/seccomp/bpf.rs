//! A classic-BPF program builder for seccomp filters.
//!
//! The program is built back to front: every jump of classic BPF goes forward, so when
//! instructions are emitted from the last one to the first, the target of each jump already
//! exists and its distance is known. Conditional jumps reach at most 255 instructions ahead;
//! when a target is farther, the builder places a trampoline right after the jump (a fresh
//! `ret` when the target is a return, otherwise an unconditional `ja`, whose offset is 32 bits).
//! There is no fix-up pass and no label table.

use std::collections::HashMap;

use libc::sock_filter;

/// Offset of `seccomp_data.nr`.
pub(super) const OFFSET_NR: u32 = 0;
/// Offset of `seccomp_data.arch`.
pub(super) const OFFSET_ARCH: u32 = 4;
/// Offset of `seccomp_data.args[0]`; each argument is 8 bytes.
const OFFSET_ARGS: u32 = 16;

/// Farthest forward distance a conditional jump can express.
const MAX_SHORT_JUMP: usize = u8::MAX as usize;

/// Offsets of the low and high 32-bit words of syscall argument `index` in `seccomp_data`.
pub(super) fn arg_word_offsets(index: u32) -> (u32, u32) {
    let base = OFFSET_ARGS + 8 * index;
    if cfg!(target_endian = "little") {
        (base, base + 4)
    } else {
        (base + 4, base)
    }
}

/// An instruction already emitted, identified by its distance from the end of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Label(usize);

/// Where a jump goes: an emitted instruction, or "return this action" (the builder reuses a
/// nearby `ret` of the same action or emits one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    At(Label),
    Return(u32),
}

/// Conditional jump operators of classic BPF (all compare the accumulator, unsigned, with `k`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Cond {
    Eq,
    Gt,
    Ge,
}

impl Cond {
    fn code(self) -> u32 {
        match self {
            Cond::Eq => libc::BPF_JEQ,
            Cond::Gt => libc::BPF_JGT,
            Cond::Ge => libc::BPF_JGE,
        }
    }
}

/// Builds a program from its last instruction to its first.
#[derive(Default)]
pub(super) struct Builder {
    /// Instructions in reverse order: `reversed[0]` is the last instruction of the program.
    reversed: Vec<sock_filter>,
    /// For each action, the most recently emitted `ret` of it (the nearest to new code).
    returns: HashMap<u32, Label>,
}

impl Builder {
    /// The finished program, first instruction first, starting at `entry`.
    pub(super) fn finish(mut self, entry: Target) -> Vec<sock_filter> {
        self.fall_through_to(entry);
        self.reversed.reverse();
        self.reversed
    }

    /// Emits `ld [offset]` (a 32-bit word of `seccomp_data`), continuing at `next`.
    pub(super) fn load(&mut self, offset: u32, next: Target) -> Label {
        self.fall_through_to(next);
        self.push(stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset))
    }

    /// Emits `and #mask`, continuing at `next`.
    pub(super) fn and(&mut self, mask: u32, next: Target) -> Label {
        self.fall_through_to(next);
        self.push(stmt(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, mask))
    }

    /// Emits `j<cond> #k, then, otherwise`, with trampolines for far targets.
    pub(super) fn jump(&mut self, cond: Cond, k: u32, then: Target, otherwise: Target) -> Label {
        // Resolving `otherwise` may still add one instruction, so `then` must stay reachable
        // from one instruction farther away.
        let then = self.reachable(then, 1);
        let otherwise = self.reachable(otherwise, 0);
        let jt = self.distance(then);
        let jf = self.distance(otherwise);
        debug_assert!(jt <= MAX_SHORT_JUMP && jf <= MAX_SHORT_JUMP);
        let code = (libc::BPF_JMP | cond.code() | libc::BPF_K) as u16;
        // The resolution above guarantees both distances fit in a byte.
        self.push(sock_filter {
            code,
            jt: jt as u8,
            jf: jf as u8,
            k,
        })
    }

    /// Makes `next` the instruction that follows the one about to be emitted.
    fn fall_through_to(&mut self, next: Target) {
        match next {
            Target::At(label) if self.distance(label) != 0 => {
                self.jump_always(label);
            }
            Target::Return(action)
                if self
                    .returns
                    .get(&action)
                    .is_none_or(|&label| self.distance(label) != 0) =>
            {
                self.ret(action);
            }
            _ => {}
        }
    }

    /// A label for `target` that a jump emitted after `extra` more instructions can reach.
    fn reachable(&mut self, target: Target, extra: usize) -> Label {
        match target {
            Target::At(label) if self.distance(label) + extra <= MAX_SHORT_JUMP => label,
            Target::At(label) => self.jump_always(label),
            Target::Return(action) => match self.returns.get(&action) {
                Some(&label) if self.distance(label) + extra <= MAX_SHORT_JUMP => label,
                _ => self.ret(action),
            },
        }
    }

    /// Emits `ja label`.
    fn jump_always(&mut self, label: Label) -> Label {
        // A program never gets near 2^32 instructions (the kernel takes 4096).
        let k = u32::try_from(self.distance(label)).unwrap_or(u32::MAX);
        self.push(stmt(libc::BPF_JMP | libc::BPF_JA, k))
    }

    /// Emits `ret action`.
    fn ret(&mut self, action: u32) -> Label {
        let label = self.push(stmt(libc::BPF_RET | libc::BPF_K, action));
        self.returns.insert(action, label);
        label
    }

    /// How many instructions lie between the next instruction to be emitted and `label`.
    fn distance(&self, label: Label) -> usize {
        self.reversed.len() - label.0 - 1
    }

    fn push(&mut self, insn: sock_filter) -> Label {
        self.reversed.push(insn);
        Label(self.reversed.len() - 1)
    }
}

/// A non-jump instruction.
fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}
