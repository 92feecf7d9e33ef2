//! Code generation: a checked [`Profile`] to BPF instructions.
//!
//! Everything is emitted back to front (see [`bpf`]): first the parts control reaches last
//! (rule chains), then what jumps into them (the syscall-number search tree, the arch checks).

use std::collections::BTreeMap;

use oci_spec::runtime::{Arch, LinuxSeccompOperator as Op};

use super::abi::{Abi, X32_SYSCALL_BIT};
use super::bpf::{self, Builder, Cond, Target};
use super::{ArgCondition, Profile, Rule};

/// Action for syscalls of an ABI the program has no section for.
const BAD_ARCH_ACTION: u32 = libc::SECCOMP_RET_KILL_PROCESS;

/// Search-tree nodes with at most this many syscalls test them one by one.
const LINEAR_SEARCH_MAX: usize = 3;

/// The instructions of `profile`'s filter, first instruction first.
pub(super) fn generate(profile: &Profile) -> Vec<libc::sock_filter> {
    let mut builder = Builder::default();
    let default = Target::Return(profile.default_action);

    // x32 shares x86_64's arch value; its section is reached from x86_64's by number.
    let x32 = match profile.abis.iter().find(|abi| abi.x32) {
        Some(abi) => emit_syscall_search(&mut builder, abi, &profile.rules, default),
        None => Target::Return(BAD_ARCH_ACTION),
    };

    let mut next_arch = Target::Return(BAD_ARCH_ACTION);
    for abi in profile.abis.iter().rev().filter(|abi| !abi.x32) {
        let search = emit_syscall_search(&mut builder, abi, &profile.rules, default);
        let section = if abi.oci == Arch::ScmpArchX86_64 {
            emit_x32_split(&mut builder, search, x32)
        } else {
            Target::At(builder.load(bpf::OFFSET_NR, search))
        };
        next_arch = Target::At(builder.jump(Cond::Eq, abi.audit_arch, section, next_arch));
    }
    let entry = builder.load(bpf::OFFSET_ARCH, next_arch);
    builder.finish(Target::At(entry))
}

/// Loads `nr` and sends x32 numbers (`0x4000_0000..0x8000_0000`) to `x32`, the rest to
/// `native`. Numbers above that range are invalid for both and get the native default.
fn emit_x32_split(builder: &mut Builder, native: Target, x32: Target) -> Target {
    let above_x32 = builder.jump(Cond::Ge, 2 * X32_SYSCALL_BIT, native, x32);
    let split = builder.jump(Cond::Ge, X32_SYSCALL_BIT, Target::At(above_x32), native);
    Target::At(builder.load(bpf::OFFSET_NR, Target::At(split)))
}

/// The code deciding a syscall of `abi` (with `nr` in the accumulator): a search for its
/// number among those with rules, then its rule chain; `default` when nothing matches.
fn emit_syscall_search(
    builder: &mut Builder,
    abi: &Abi,
    rules: &[Rule],
    default: Target,
) -> Target {
    let chains: Vec<(u32, Target)> = rules_by_number(abi, rules)
        .into_iter()
        .map(|(nr, rules)| (nr, emit_rule_chain(builder, &rules, abi.wide_args, default)))
        .collect();
    emit_search_tree(builder, &chains, default)
}

/// For each syscall number of `abi` that rules name, those rules in spec order.
fn rules_by_number<'a>(abi: &Abi, rules: &'a [Rule]) -> BTreeMap<u32, Vec<&'a Rule>> {
    let mut by_number: BTreeMap<u32, Vec<&Rule>> = BTreeMap::new();
    for rule in rules {
        for nr in rule.names.iter().filter_map(|name| abi.number(name)) {
            let entry = by_number.entry(nr).or_default();
            // A name listed twice in one rule adds the rule once.
            if !entry.last().is_some_and(|last| std::ptr::eq(*last, rule)) {
                entry.push(rule);
            }
        }
    }
    by_number
}

/// A binary search over `chains` (sorted by number) comparing the accumulator (`nr`).
fn emit_search_tree(builder: &mut Builder, chains: &[(u32, Target)], default: Target) -> Target {
    if chains.len() <= LINEAR_SEARCH_MAX {
        return chains
            .iter()
            .rev()
            .fold(default, |otherwise, &(nr, chain)| {
                Target::At(builder.jump(Cond::Eq, nr, chain, otherwise))
            });
    }
    let middle = chains.len() / 2;
    let upper = emit_search_tree(builder, &chains[middle..], default);
    let lower = emit_search_tree(builder, &chains[..middle], default);
    Target::At(builder.jump(Cond::Ge, chains[middle].0, upper, lower))
}

/// The rules of one syscall, tried in order: the first whose conditions hold returns its
/// action; when none does, `default`.
fn emit_rule_chain(
    builder: &mut Builder,
    rules: &[&Rule],
    wide_args: bool,
    default: Target,
) -> Target {
    // Rules after one without conditions can never be reached.
    let reachable = rules
        .iter()
        .position(|rule| rule.args.is_empty())
        .map_or(rules.len(), |i| i + 1);
    rules[..reachable]
        .iter()
        .rev()
        .fold(default, |next_rule, rule| {
            rule.args
                .iter()
                .rev()
                .fold(Target::Return(rule.action), |pass, condition| {
                    emit_condition(builder, condition, wide_args, pass, next_rule)
                })
        })
}

/// Tests one argument condition, continuing at `pass` or `fail`.
///
/// 64-bit values are compared a word at a time: the high words decide unless they are
/// equal, in which case the low words do (the same unsigned order, lexicographically).
fn emit_condition(
    builder: &mut Builder,
    condition: &ArgCondition,
    wide_args: bool,
    pass: Target,
    fail: Target,
) -> Target {
    let (low_offset, high_offset) = bpf::arg_word_offsets(condition.index);
    let (value_high, value_low) = split(condition.value);
    let (datum_high, datum_low) = split(condition.value_two);

    let low = match condition.op {
        Op::ScmpCmpMaskedEq => {
            let test = builder.jump(Cond::Eq, datum_low, pass, fail);
            Target::At(builder.and(value_low, Target::At(test)))
        }
        op => {
            let (cond, when_true, when_false) = low_word_test(op, pass, fail);
            Target::At(builder.jump(cond, value_low, when_true, when_false))
        }
    };
    let low = Target::At(builder.load(low_offset, low));
    if !wide_args {
        return low;
    }

    let high = match condition.op {
        Op::ScmpCmpMaskedEq => {
            let test = builder.jump(Cond::Eq, datum_high, low, fail);
            Target::At(builder.and(value_high, Target::At(test)))
        }
        Op::ScmpCmpEq => Target::At(builder.jump(Cond::Eq, value_high, low, fail)),
        Op::ScmpCmpNe => Target::At(builder.jump(Cond::Eq, value_high, low, pass)),
        Op::ScmpCmpGt | Op::ScmpCmpGe => emit_high_word_order(builder, value_high, low, pass, fail),
        Op::ScmpCmpLt | Op::ScmpCmpLe => emit_high_word_order(builder, value_high, low, fail, pass),
    };
    Target::At(builder.load(high_offset, high))
}

/// The low-word test of a comparison: jump condition against the value's low word, and
/// where to go when it is true and when false.
fn low_word_test(op: Op, pass: Target, fail: Target) -> (Cond, Target, Target) {
    match op {
        Op::ScmpCmpEq | Op::ScmpCmpMaskedEq => (Cond::Eq, pass, fail),
        Op::ScmpCmpNe => (Cond::Eq, fail, pass),
        Op::ScmpCmpGt => (Cond::Gt, pass, fail),
        Op::ScmpCmpGe => (Cond::Ge, pass, fail),
        Op::ScmpCmpLt => (Cond::Ge, fail, pass),
        Op::ScmpCmpLe => (Cond::Gt, fail, pass),
    }
}

/// High word of an ordering comparison: above the value's high word goes to `above`, equal
/// to `equal` (the low-word test), below to `below`.
fn emit_high_word_order(
    builder: &mut Builder,
    value_high: u32,
    equal: Target,
    above: Target,
    below: Target,
) -> Target {
    let is_equal = builder.jump(Cond::Eq, value_high, equal, below);
    Target::At(builder.jump(Cond::Gt, value_high, above, Target::At(is_equal)))
}

/// The high and low 32-bit words of `value`.
fn split(value: u64) -> (u32, u32) {
    ((value >> 32) as u32, value as u32)
}
