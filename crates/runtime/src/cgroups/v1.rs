//! cgroup v1: one hierarchy per controller (or group of controllers), each with
//! its own files. Resources are applied only in hierarchies that are mounted.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxHugepageLimit, LinuxMemory,
    LinuxNetwork, LinuxResources, LinuxThrottleDevice,
};

use super::error::{CgroupError, Result};
use super::fs::{self, write_in};
use super::layout::{Layout, Mount};

/// Devices every container may use whatever its rules say (the OCI runtime spec's
/// default devices): null, zero, full, random, urandom, tty, console, ptmx, ptys.
const DEFAULT_DEVICE_RULES: &[&str] = &[
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// Applies `resources` to `cgroup` in every mounted hierarchy that has the controller.
pub fn apply(layout: &Layout, cgroup: &Path, resources: &LinuxResources) -> Result<()> {
    if resources
        .unified()
        .as_ref()
        .is_some_and(|map| !map.is_empty())
    {
        return Err(CgroupError::Unsupported(
            "linux.resources.unified needs cgroup v2, and this machine uses cgroup v1".into(),
        ));
    }
    let dir = |controller: &str| layout.v1(controller).map(|m| m.dir_of(cgroup));
    if let (Some(memory), Some(dir)) = (resources.memory(), dir("memory")) {
        apply_memory(&dir, memory)?;
    }
    if let Some(cpu) = resources.cpu() {
        if let Some(dir) = dir("cpu") {
            apply_cpu(&dir, cpu)?;
        }
        if let Some(dir) = dir("cpuset") {
            apply_cpuset(&dir, cpu)?;
        }
    }
    if let (Some(pids), Some(dir)) = (resources.pids(), dir("pids")) {
        write_in(&dir, "pids.max", &pids_limit(pids.limit()))?;
    }
    if let (Some(block_io), Some(dir)) = (resources.block_io(), dir("blkio")) {
        apply_blkio(&dir, block_io)?;
    }
    if let (Some(limits), Some(dir)) = (resources.hugepage_limits(), dir("hugetlb")) {
        apply_hugetlb(&dir, limits)?;
    }
    if let Some(network) = resources.network() {
        apply_network(dir("net_cls"), dir("net_prio"), network)?;
    }
    if let (Some(rules), Some(dir)) = (resources.devices(), dir("devices")) {
        apply_devices(&dir, rules)?;
    }
    Ok(())
}

/// A v1 limit: negative means unlimited, which v1 files spell "-1".
pub fn limit(value: i64) -> String {
    if value < 0 {
        "-1".into()
    } else {
        value.to_string()
    }
}

/// pids.max: zero or negative means no limit.
pub fn pids_limit(value: i64) -> String {
    if value <= 0 {
        fs::MAX.into()
    } else {
        value.to_string()
    }
}

/// OCI uses 0 for "not set" in most numeric fields, as runc does.
fn set<T: Default + PartialEq>(value: Option<T>) -> Option<T> {
    value.filter(|v| *v != T::default())
}

fn apply_memory(dir: &Path, memory: &LinuxMemory) -> Result<()> {
    set_memory_and_swap(dir, set(memory.limit()), set(memory.swap()))?;
    if let Some(reservation) = set(memory.reservation()) {
        write_in(dir, "memory.soft_limit_in_bytes", &limit(reservation))?;
    }
    if let Some(swappiness) = memory.swappiness() {
        write_in(dir, "memory.swappiness", &swappiness.to_string())?;
    }
    if let Some(disable) = memory.disable_oom_killer() {
        write_in(dir, "memory.oom_control", if disable { "1" } else { "0" })?;
    }
    Ok(())
}

/// Sets memory.limit_in_bytes and memory.memsw.limit_in_bytes (memory+swap).
///
/// The kernel insists on limit <= memsw after every write, so when the new limit
/// is above the current memsw, memsw goes first; otherwise the limit goes first.
/// Making memory unlimited without a swap value makes memory+swap unlimited too.
fn set_memory_and_swap(dir: &Path, memory: Option<i64>, swap: Option<i64>) -> Result<()> {
    let swap = match (memory, swap) {
        (Some(memory), None) if memory < 0 => Some(-1),
        (_, swap) => swap,
    };
    let write_memory = |value| write_in(dir, "memory.limit_in_bytes", &limit(value));
    let write_swap = |value| write_swap_limit(&dir.join("memory.memsw.limit_in_bytes"), value);
    match (memory, swap) {
        (None, None) => Ok(()),
        (Some(memory), None) => write_memory(memory),
        (None, Some(swap)) => write_swap(swap),
        (Some(memory), Some(swap)) => {
            let current_swap = fs::read_u64_or_zero(&dir.join("memory.memsw.limit_in_bytes"))?;
            if as_bytes(memory) > current_swap {
                write_swap(swap)?;
                write_memory(memory)
            } else {
                write_memory(memory)?;
                write_swap(swap)
            }
        }
    }
}

/// memsw files exist only with swap accounting (swapaccount=1). Without it swap
/// cannot be limited at all, and the limit is skipped as Docker does, so that
/// configs which always set memory+swap still run there.
fn write_swap_limit(path: &Path, value: i64) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    fs::write(path, &limit(value))
}

/// A limit in bytes, unlimited as the largest value.
fn as_bytes(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

fn apply_cpu(dir: &Path, cpu: &LinuxCpu) -> Result<()> {
    if let Some(shares) = set(cpu.shares()) {
        write_in(dir, "cpu.shares", &shares.to_string())?;
    }
    write_pair(
        dir,
        (
            "cpu.cfs_period_us",
            set(cpu.period()).map(|p| p.to_string()),
        ),
        ("cpu.cfs_quota_us", set(cpu.quota()).map(limit)),
    )?;
    if let Some(burst) = cpu.burst() {
        write_in(dir, "cpu.cfs_burst_us", &burst.to_string())?;
    }
    if let Some(idle) = cpu.idle() {
        write_in(dir, "cpu.idle", &idle.to_string())?;
    }
    apply_realtime(dir, set(cpu.realtime_period()), set(cpu.realtime_runtime()))
}

/// cpu.rt_period_us and cpu.rt_runtime_us exist only with CONFIG_RT_GROUP_SCHED.
fn apply_realtime(dir: &Path, period: Option<u64>, runtime: Option<i64>) -> Result<()> {
    if period.is_none() && runtime.is_none() {
        return Ok(());
    }
    if !dir.join("cpu.rt_runtime_us").exists() {
        return Err(CgroupError::Unsupported(format!(
            "linux.resources.cpu realtime limits need a kernel with CONFIG_RT_GROUP_SCHED: \
             {} is missing",
            dir.join("cpu.rt_runtime_us").display()
        )));
    }
    write_pair(
        dir,
        ("cpu.rt_period_us", period.map(|p| p.to_string())),
        ("cpu.rt_runtime_us", runtime.map(|r| r.to_string())),
    )
}

/// Writes two related files (a period and its budget). The kernel checks each
/// write against the other's current value, so if the first order is refused the
/// other order is tried; the first order's error is reported if both fail.
fn write_pair(
    dir: &Path,
    first: (&str, Option<String>),
    second: (&str, Option<String>),
) -> Result<()> {
    let write = |(file, value): &(&str, Option<String>)| match value {
        Some(value) => write_in(dir, file, value),
        None => Ok(()),
    };
    match write(&first).and_then(|()| write(&second)) {
        Ok(()) => Ok(()),
        Err(err) => write(&second).and_then(|()| write(&first)).map_err(|_| err),
    }
}

fn apply_cpuset(dir: &Path, cpu: &LinuxCpu) -> Result<()> {
    for (file, value) in [("cpuset.cpus", cpu.cpus()), ("cpuset.mems", cpu.mems())] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            write_in(dir, file, value)?;
        }
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with no cpus and no mems, and no process can
/// join it until they are set: copy them down from the parent at every level.
pub fn inherit_cpuset(mount: &Mount, cgroup: &Path) -> Result<()> {
    let dirs = mount.dirs_down_to(cgroup);
    for pair in dirs.windows(2) {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let own = fs::read(&pair[1].join(file))?;
            if own.trim().is_empty() {
                let parent = fs::read(&pair[0].join(file))?;
                write_in(&pair[1], file, parent.trim())?;
            }
        }
    }
    Ok(())
}

fn apply_blkio(dir: &Path, block_io: &LinuxBlockIo) -> Result<()> {
    let weight_file = existing_or_first(dir, &["blkio.weight", "blkio.bfq.weight"]);
    if let Some(weight) = set(block_io.weight()) {
        fs::write(&weight_file, &weight.to_string())?;
    }
    if let Some(leaf_weight) = set(block_io.leaf_weight()) {
        write_in(dir, "blkio.leaf_weight", &leaf_weight.to_string())?;
    }
    let weight_device_file =
        existing_or_first(dir, &["blkio.weight_device", "blkio.bfq.weight_device"]);
    for device in block_io.weight_device().iter().flatten() {
        let id = format!("{}:{}", device.major(), device.minor());
        if let Some(weight) = device.weight() {
            fs::write(&weight_device_file, &format!("{id} {weight}"))?;
        }
        if let Some(leaf_weight) = device.leaf_weight() {
            write_in(
                dir,
                "blkio.leaf_weight_device",
                &format!("{id} {leaf_weight}"),
            )?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            block_io.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            block_io.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            block_io.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            block_io.throttle_write_iops_device(),
        ),
    ];
    for (file, devices) in throttles {
        for device in devices.iter().flatten() {
            write_in(dir, file, &throttle_rule(device))?;
        }
    }
    Ok(())
}

/// "major:minor rate"; a rate of 0 removes the device's limit.
fn throttle_rule(device: &LinuxThrottleDevice) -> String {
    format!("{}:{} {}", device.major(), device.minor(), device.rate())
}

/// The first of `files` that exists in `dir` (CFQ and BFQ name weights differently),
/// or the first name, so that the error names what was expected.
fn existing_or_first(dir: &Path, files: &[&str]) -> PathBuf {
    files
        .iter()
        .map(|file| dir.join(file))
        .find(|path| path.exists())
        .unwrap_or_else(|| dir.join(files[0]))
}

fn apply_hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for hugepage in limits {
        let file = format!("hugetlb.{}.limit_in_bytes", page_size(hugepage)?);
        write_in(dir, &file, &limit(hugepage.limit()))?;
    }
    Ok(())
}

/// A hugepage size such as "2MB", checked to be a plain file-name part.
pub fn page_size(hugepage: &LinuxHugepageLimit) -> Result<&str> {
    let size = hugepage.page_size().as_str();
    if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(CgroupError::InvalidResource {
            field: "hugepageLimits.pageSize",
            reason: format!("{size:?} is not a page size like \"2MB\""),
        });
    }
    Ok(size)
}

fn apply_network(
    net_cls: Option<PathBuf>,
    net_prio: Option<PathBuf>,
    network: &LinuxNetwork,
) -> Result<()> {
    if let (Some(class_id), Some(dir)) = (network.class_id(), &net_cls) {
        write_in(dir, "net_cls.classid", &class_id.to_string())?;
    }
    if let Some(dir) = &net_prio {
        for priority in network.priorities().iter().flatten() {
            let rule = format!("{} {}", priority.name(), priority.priority());
            write_in(dir, "net_prio.ifpriomap", &rule)?;
        }
    }
    Ok(())
}

/// Writes the device rules in order, then allows the default devices.
fn apply_devices(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for rule in rules {
        if let Some(text) = device_rule(rule) {
            let file = if rule.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            write_in(dir, file, &text)?;
        }
    }
    for rule in DEFAULT_DEVICE_RULES {
        write_in(dir, "devices.allow", rule)?;
    }
    Ok(())
}

/// "type major:minor access" as devices.allow/deny read it, with "*" for any.
/// v1 knows only a (all), b and c devices: u (unbuffered character) is a
/// character device and p (fifo) is not controlled, so it gives `None`.
pub fn device_rule(rule: &LinuxDeviceCgroup) -> Option<String> {
    let kind = match rule.typ().unwrap_or_default() {
        LinuxDeviceType::A => "a",
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => return None,
    };
    let number = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map_or("*".to_string(), |n| n.to_string())
    };
    let access = rule
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    Some(format!(
        "{kind} {}:{} {access}",
        number(rule.major()),
        number(rule.minor())
    ))
}

/// Freezes the cgroup and waits until the kernel reports every task frozen.
/// Writing FROZEN again while it still reads FREEZING retries tasks that were busy.
pub fn freeze(dir: &Path) -> Result<()> {
    let state = dir.join("freezer.state");
    fs::write(&state, "FROZEN")?;
    fs::wait_until(&state, "FROZEN", || {
        if is_frozen(dir)? {
            return Ok(true);
        }
        fs::write(&state, "FROZEN")?;
        Ok(false)
    })
}

/// Thaws the cgroup.
pub fn thaw(dir: &Path) -> Result<()> {
    write_in(dir, "freezer.state", "THAWED")
}

/// True once freezer.state reads FROZEN (not while still FREEZING).
pub fn is_frozen(dir: &Path) -> Result<bool> {
    Ok(fs::read(&dir.join("freezer.state"))?.trim() == "FROZEN")
}

/// True if the kernel OOM-killed a process here (memory.oom_control "oom_kill N").
pub fn oom_killed(dir: &Path) -> Result<bool> {
    Ok(fs::read_key(&dir.join("memory.oom_control"), "oom_kill")?.unwrap_or(0) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxHugepageLimitBuilder};

    #[test]
    fn unlimited_values_are_spelled_as_v1_and_pids_expect() {
        assert_eq!(limit(-1), "-1");
        assert_eq!(limit(-5), "-1");
        assert_eq!(limit(20 << 20), "20971520");
        assert_eq!(pids_limit(0), "max");
        assert_eq!(pids_limit(-1), "max");
        assert_eq!(pids_limit(64), "64");
    }

    #[test]
    fn device_rules_use_stars_for_missing_numbers_and_skip_fifos() {
        let rule = |typ, major, minor, access: Option<&str>| {
            let mut builder = LinuxDeviceCgroupBuilder::default().allow(true).typ(typ);
            if let Some(major) = major {
                builder = builder.major(major);
            }
            if let Some(minor) = minor {
                builder = builder.minor(minor);
            }
            if let Some(access) = access {
                builder = builder.access(access);
            }
            device_rule(&builder.build().unwrap())
        };
        assert_eq!(
            rule(LinuxDeviceType::A, None, None, None).unwrap(),
            "a *:* rwm"
        );
        assert_eq!(
            rule(LinuxDeviceType::C, Some(1), Some(3), Some("rw")).unwrap(),
            "c 1:3 rw"
        );
        assert_eq!(
            rule(LinuxDeviceType::B, Some(8), None, Some("m")).unwrap(),
            "b 8:* m"
        );
        assert_eq!(
            rule(LinuxDeviceType::U, Some(4), Some(1), None).unwrap(),
            "c 4:1 rwm"
        );
        assert!(rule(LinuxDeviceType::P, None, None, None).is_none());
    }

    #[test]
    fn hugepage_sizes_must_be_plain_names() {
        let hugepage = |size: &str| {
            LinuxHugepageLimitBuilder::default()
                .page_size(size)
                .limit(1)
                .build()
                .unwrap()
        };
        assert_eq!(page_size(&hugepage("2MB")).unwrap(), "2MB");
        assert!(page_size(&hugepage("../2MB")).is_err());
        assert!(page_size(&hugepage("")).is_err());
    }
}
