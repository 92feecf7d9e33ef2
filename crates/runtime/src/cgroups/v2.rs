//! cgroup v2: one hierarchy, controllers enabled from the parent's
//! cgroup.subtree_control, limits in `<controller>.<knob>` files.
//!
//! Not supported on v2, by design:
//! - device rules: v2 controls devices only through an eBPF program attached to
//!   the cgroup, which this module does not load, so `linux.resources.devices` is
//!   skipped (device nodes in the container are still limited to what it mounts);
//! - network class IDs and priorities: v2 has no net_cls/net_prio (use eBPF);
//! - memory swappiness, disableOOMKiller, kernel memory and blkio leaf weights:
//!   v2 has no such knobs, they are ignored;
//! - swap limits without swap accounting (no memory.swap.max): skipped;
//! - realtime cpu budgets: refused with an error, since v2 cannot honour them.

use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources, LinuxThrottleDevice,
};

use super::error::{CgroupError, Result};
use super::fs::{self, write_in};
use super::layout::Mount;
use super::v1;

/// Turns on every available controller for the children of each ancestor of
/// `cgroup`, top down, so that the leaf gets its controller files.
///
/// A controller the kernel refuses to enable (say, because an ancestor outside
/// our control holds processes) is left off rather than failing creation: a limit
/// that needs it then fails in `apply` naming the missing file, and its statistics
/// read as zero.
pub fn enable_controllers(mount: &Mount, cgroup: &Path) -> Result<()> {
    let dirs = mount.dirs_down_to(cgroup);
    for dir in &dirs[..dirs.len().saturating_sub(1)] {
        let available = fs::read(&dir.join("cgroup.controllers"))?;
        let enabled = fs::read(&dir.join("cgroup.subtree_control"))?;
        let control = dir.join("cgroup.subtree_control");
        for controller in available.split_whitespace() {
            if !enabled.split_whitespace().any(|c| c == controller) {
                // Best effort, as documented above.
                let _ = fs::write(&control, &format!("+{controller}"));
            }
        }
    }
    Ok(())
}

/// Applies `resources` to the cgroup directory `dir`.
pub fn apply(dir: &Path, resources: &LinuxResources) -> Result<()> {
    if let Some(memory) = resources.memory() {
        apply_memory(dir, memory)?;
    }
    if let Some(cpu) = resources.cpu() {
        apply_cpu(dir, cpu)?;
    }
    if let Some(pids) = resources.pids() {
        write_in(dir, "pids.max", &v1::pids_limit(pids.limit()))?;
    }
    if let Some(block_io) = resources.block_io() {
        apply_io(dir, block_io)?;
    }
    if let Some(limits) = resources.hugepage_limits() {
        apply_hugetlb(dir, limits)?;
    }
    for (file, value) in resources.unified().iter().flatten() {
        write_unified(dir, file, value)?;
    }
    Ok(())
}

/// A v2 limit: negative means unlimited, which v2 files spell "max".
pub fn limit(value: i64) -> String {
    if value < 0 {
        fs::MAX.into()
    } else {
        value.to_string()
    }
}

/// OCI's shares (2..262144, default 1024) as a v2 cpu.weight (1..10000, default
/// 100), with the same linear mapping runc uses.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// A v1 blkio weight (10..1000) as a v2 io.weight (1..10000).
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight).clamp(10, 1000) - 10) * 9999 / 990
}

fn apply_memory(dir: &Path, memory: &LinuxMemory) -> Result<()> {
    let memory_limit = memory.limit().filter(|l| *l != 0);
    if let Some(value) = memory_limit {
        write_in(dir, "memory.max", &limit(value))?;
    }
    if let Some(reservation) = memory.reservation().filter(|r| *r != 0) {
        write_in(dir, "memory.low", &limit(reservation))?;
    }
    if let Some(value) = swap_max(memory_limit, memory.swap().filter(|s| *s != 0))? {
        let path = dir.join("memory.swap.max");
        // Without swap accounting the file is missing and swap cannot be limited:
        // skipped, as on v1.
        if path.exists() {
            fs::write(&path, &value)?;
        }
    }
    Ok(())
}

/// memory.swap.max from OCI's memory+swap total: swap alone is total - limit.
pub fn swap_max(memory: Option<i64>, swap: Option<i64>) -> Result<Option<String>> {
    let Some(swap) = swap else { return Ok(None) };
    if swap < 0 {
        return Ok(Some(fs::MAX.into()));
    }
    match memory {
        Some(memory) if memory > 0 && swap >= memory => Ok(Some((swap - memory).to_string())),
        Some(memory) if memory > 0 => Err(CgroupError::InvalidResource {
            field: "memory.swap",
            reason: format!("memory+swap {swap} is below the memory limit {memory}"),
        }),
        _ => Err(CgroupError::InvalidResource {
            field: "memory.swap",
            reason: "a memory+swap limit needs a memory limit on cgroup v2".into(),
        }),
    }
}

fn apply_cpu(dir: &Path, cpu: &LinuxCpu) -> Result<()> {
    if cpu.realtime_runtime().is_some_and(|r| r != 0)
        || cpu.realtime_period().is_some_and(|p| p != 0)
    {
        return Err(CgroupError::Unsupported(
            "linux.resources.cpu realtime limits need cgroup v1, and this machine uses cgroup v2"
                .into(),
        ));
    }
    if let Some(shares) = cpu.shares().filter(|s| *s != 0) {
        write_in(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
    }
    let quota = cpu.quota().filter(|q| *q != 0);
    let period = cpu.period().filter(|p| *p != 0);
    if quota.is_some() || period.is_some() {
        let path = dir.join("cpu.max");
        let current = fs::read(&path)?;
        fs::write(&path, &cpu_max(&current, quota, period))?;
    }
    if let Some(burst) = cpu.burst() {
        write_in(dir, "cpu.max.burst", &burst.to_string())?;
    }
    if let Some(idle) = cpu.idle() {
        write_in(dir, "cpu.idle", &idle.to_string())?;
    }
    for (file, value) in [("cpuset.cpus", cpu.cpus()), ("cpuset.mems", cpu.mems())] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            write_in(dir, file, value)?;
        }
    }
    Ok(())
}

/// The new cpu.max ("quota period"), keeping the current half that is not given.
pub fn cpu_max(current: &str, quota: Option<i64>, period: Option<u64>) -> String {
    let mut fields = current.split_whitespace();
    let current_quota = fields.next().unwrap_or(fs::MAX);
    let current_period = fields.next().unwrap_or("100000");
    let quota = quota.map_or(current_quota.to_string(), limit);
    let period = period.map_or(current_period.to_string(), |p| p.to_string());
    format!("{quota} {period}")
}

fn apply_io(dir: &Path, block_io: &LinuxBlockIo) -> Result<()> {
    // BFQ takes v1-style weights in io.bfq.weight; otherwise io.weight, rescaled.
    let bfq = dir.join("io.bfq.weight").exists();
    let (weight_file, scale): (&str, fn(u16) -> u64) = if bfq {
        ("io.bfq.weight", u64::from)
    } else {
        ("io.weight", blkio_weight_to_io_weight)
    };
    if let Some(weight) = block_io.weight().filter(|w| *w != 0) {
        write_in(dir, weight_file, &format!("default {}", scale(weight)))?;
    }
    for device in block_io.weight_device().iter().flatten() {
        if let Some(weight) = device.weight() {
            let rule = format!("{}:{} {}", device.major(), device.minor(), scale(weight));
            write_in(dir, weight_file, &rule)?;
        }
    }
    let throttles = [
        ("rbps", block_io.throttle_read_bps_device()),
        ("wbps", block_io.throttle_write_bps_device()),
        ("riops", block_io.throttle_read_iops_device()),
        ("wiops", block_io.throttle_write_iops_device()),
    ];
    for (key, devices) in throttles {
        for device in devices.iter().flatten() {
            write_in(dir, "io.max", &io_max_rule(key, device))?;
        }
    }
    Ok(())
}

/// One io.max line, e.g. "8:0 rbps=1048576"; a rate of 0 removes the limit.
pub fn io_max_rule(key: &str, device: &LinuxThrottleDevice) -> String {
    let rate = match device.rate() {
        0 => fs::MAX.to_string(),
        rate => rate.to_string(),
    };
    format!("{}:{} {key}={rate}", device.major(), device.minor())
}

fn apply_hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for hugepage in limits {
        let file = format!("hugetlb.{}.max", v1::page_size(hugepage)?);
        write_in(dir, &file, &limit(hugepage.limit()))?;
    }
    Ok(())
}

/// Writes one `linux.resources.unified` entry, whose key must be a plain file name.
fn write_unified(dir: &Path, file: &str, value: &str) -> Result<()> {
    if file.is_empty() || file.contains('/') || file.starts_with('.') {
        return Err(CgroupError::InvalidResource {
            field: "unified",
            reason: format!("{file:?} is not a cgroup file name"),
        });
    }
    write_in(dir, file, value)
}

/// Freezes the cgroup and waits for cgroup.events to say "frozen 1".
pub fn freeze(dir: &Path) -> Result<()> {
    write_in(dir, "cgroup.freeze", "1")?;
    fs::wait_until(&dir.join("cgroup.events"), "frozen 1", || is_frozen(dir))
}

/// Thaws the cgroup and waits for cgroup.events to say "frozen 0".
pub fn thaw(dir: &Path) -> Result<()> {
    write_in(dir, "cgroup.freeze", "0")?;
    fs::wait_until(&dir.join("cgroup.events"), "frozen 0", || {
        Ok(!is_frozen(dir)?)
    })
}

/// True if cgroup.events says "frozen 1".
pub fn is_frozen(dir: &Path) -> Result<bool> {
    Ok(fs::read_key(&dir.join("cgroup.events"), "frozen")? == Some(1))
}

/// True if memory.events counts an OOM kill (false without the memory controller).
pub fn oom_killed(dir: &Path) -> Result<bool> {
    Ok(fs::read_key(&dir.join("memory.events"), "oom_kill")?.unwrap_or(0) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxThrottleDeviceBuilder;

    #[test]
    fn shares_map_to_weight_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1 << 20), 10_000);
    }

    #[test]
    fn blkio_weights_rescale_to_io_weights() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap_max_is_memory_plus_swap_minus_memory() {
        let mib = 1 << 20;
        assert_eq!(
            swap_max(Some(20 * mib), Some(30 * mib)).unwrap().unwrap(),
            "10485760"
        );
        assert_eq!(
            swap_max(Some(20 * mib), Some(20 * mib)).unwrap().unwrap(),
            "0"
        );
        assert_eq!(swap_max(Some(20 * mib), Some(-1)).unwrap().unwrap(), "max");
        assert_eq!(swap_max(None, Some(-1)).unwrap().unwrap(), "max");
        assert_eq!(swap_max(Some(20 * mib), None).unwrap(), None);
        assert!(swap_max(Some(20 * mib), Some(10 * mib)).is_err());
        assert!(swap_max(None, Some(10 * mib)).is_err());
        assert!(swap_max(Some(-1), Some(10 * mib)).is_err());
    }

    #[test]
    fn cpu_max_keeps_the_half_not_given() {
        assert_eq!(cpu_max("max 100000\n", Some(50_000), None), "50000 100000");
        assert_eq!(
            cpu_max("50000 100000\n", None, Some(200_000)),
            "50000 200000"
        );
        assert_eq!(
            cpu_max("50000 100000\n", Some(-1), Some(10_000)),
            "max 10000"
        );
        assert_eq!(limit(-1), "max");
        assert_eq!(limit(4096), "4096");
    }

    #[test]
    fn io_max_rules_name_the_device_and_zero_means_no_limit() {
        let device = |rate: u64| {
            LinuxThrottleDeviceBuilder::default()
                .major(8)
                .minor(16)
                .rate(rate)
                .build()
                .unwrap()
        };
        assert_eq!(io_max_rule("rbps", &device(1 << 20)), "8:16 rbps=1048576");
        assert_eq!(io_max_rule("wiops", &device(0)), "8:16 wiops=max");
    }
}
