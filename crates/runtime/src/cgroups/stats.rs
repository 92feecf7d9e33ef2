//! Resource usage of a container, shaped like `runc events --stats` data.
//!
//! A controller that is not mounted or not enabled reads as zeros rather than
//! failing, so callers always get a complete document.

use std::collections::BTreeMap;
use std::fs as stdfs;
use std::path::Path;

use serde::Serialize;

use super::error::{CgroupError, Result};
use super::fs;
use super::layout::Layout;

/// Everything `events --stats` reports, with runc's JSON keys.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
    /// Keyed by page size, e.g. "2MB".
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// CPU time used and CFS throttling.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuStats {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUsage {
    pub total: u64,
    /// Per CPU (v1 only; empty on v2).
    pub percpu: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

/// CFS bandwidth throttling; times in nanoseconds.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

/// Memory use in bytes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryStats {
    /// Page cache.
    pub cache: u64,
    pub usage: MemoryEntry,
    /// Memory plus swap, as v1's memsw counts it (also on v2).
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as the kernel prints it.
    pub raw: BTreeMap<String, u64>,
}

/// One memory counter; an unlimited `limit` is a huge number.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

/// Processes; a `limit` of 0 means no limit.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PidsStats {
    pub current: u64,
    pub limit: u64,
}

/// Block I/O per device and operation.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlkioStats {
    /// Bytes read and written.
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Read and write operations.
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One device's count for one operation ("Read", "Write", ...).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// Huge page use in bytes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HugetlbStats {
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

/// Statistics of `cgroup` from the v1 hierarchies that are mounted.
pub fn v1(layout: &Layout, cgroup: &Path) -> Result<Stats> {
    let dir = |controller: &str| layout.v1(controller).map(|m| m.dir_of(cgroup));
    let mut stats = Stats::default();
    if let Some(dir) = dir("cpuacct") {
        stats.cpu.usage = v1_cpu_usage(&dir)?;
    }
    if let Some(dir) = dir("cpu") {
        stats.cpu.throttling = throttling(&dir.join("cpu.stat"), "throttled_time", 1)?;
    }
    if let Some(dir) = dir("memory") {
        stats.memory = v1_memory(&dir)?;
    }
    if let Some(dir) = dir("pids") {
        stats.pids = pids(&dir)?;
    }
    if let Some(dir) = dir("blkio") {
        stats.blkio = v1_blkio(&dir)?;
    }
    if let Some(dir) = dir("hugetlb") {
        stats.hugetlb = hugetlb(&dir, "limit_in_bytes", v1_hugetlb_entry)?;
    }
    Ok(stats)
}

/// Statistics of the v2 cgroup directory `dir`.
pub fn v2(dir: &Path) -> Result<Stats> {
    Ok(Stats {
        cpu: v2_cpu(dir)?,
        memory: v2_memory(dir)?,
        pids: pids(dir)?,
        blkio: v2_io(dir)?,
        hugetlb: hugetlb(dir, "max", v2_hugetlb_entry)?,
    })
}

fn v1_cpu_usage(dir: &Path) -> Result<CpuUsage> {
    let percpu_path = dir.join("cpuacct.usage_percpu");
    let percpu = match fs::read_optional(&percpu_path)? {
        Some(text) => text
            .split_whitespace()
            .map(|n| fs::parse_u64(&percpu_path, n))
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    let ticks = fs::read_keyed_or_empty(&dir.join("cpuacct.stat"))?;
    let nanos_per_tick = 1_000_000_000 / clock_ticks_per_second();
    Ok(CpuUsage {
        total: fs::read_u64_or_zero(&dir.join("cpuacct.usage"))?,
        percpu,
        kernel: ticks.get("system").copied().unwrap_or(0) * nanos_per_tick,
        user: ticks.get("user").copied().unwrap_or(0) * nanos_per_tick,
    })
}

/// USER_HZ, the unit of cpuacct.stat.
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// Throttling from a cpu.stat file whose throttled time is `time_key` in units
/// of `nanos` nanoseconds.
fn throttling(path: &Path, time_key: &str, nanos: u64) -> Result<Throttling> {
    let stat = fs::read_keyed_or_empty(path)?;
    let get = |key: &str| stat.get(key).copied().unwrap_or(0);
    Ok(Throttling {
        periods: get("nr_periods"),
        throttled_periods: get("nr_throttled"),
        throttled_time: get(time_key) * nanos,
    })
}

fn v1_memory(dir: &Path) -> Result<MemoryStats> {
    let raw: BTreeMap<_, _> = fs::read_keyed_or_empty(&dir.join("memory.stat"))?
        .into_iter()
        .collect();
    Ok(MemoryStats {
        cache: raw.get("cache").copied().unwrap_or(0),
        usage: v1_memory_entry(dir, "memory")?,
        swap: v1_memory_entry(dir, "memory.memsw")?,
        kernel: v1_memory_entry(dir, "memory.kmem")?,
        kernel_tcp: v1_memory_entry(dir, "memory.kmem.tcp")?,
        raw,
    })
}

/// `<prefix>.{limit_in_bytes,usage_in_bytes,max_usage_in_bytes,failcnt}`.
fn v1_memory_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    let read = |name: &str| fs::read_u64_or_zero(&dir.join(format!("{prefix}.{name}")));
    Ok(MemoryEntry {
        limit: read("limit_in_bytes")?,
        usage: read("usage_in_bytes")?,
        max: read("max_usage_in_bytes")?,
        failcnt: read("failcnt")?,
    })
}

/// pids.current and pids.max ("max" reads as 0, no limit).
fn pids(dir: &Path) -> Result<PidsStats> {
    let limit = fs::read_u64_or_zero(&dir.join("pids.max"))?;
    Ok(PidsStats {
        current: fs::read_u64_or_zero(&dir.join("pids.current"))?,
        limit: if limit == u64::MAX { 0 } else { limit },
    })
}

/// The CFQ, BFQ and throttling layers each count I/O; the first that counted
/// anything wins, as they see the same requests.
fn v1_blkio(dir: &Path) -> Result<BlkioStats> {
    let first_counted = |suffix: &str| -> Result<Vec<BlkioEntry>> {
        for layer in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
            let path = dir.join(format!("{layer}{suffix}"));
            if let Some(text) = fs::read_optional(&path)? {
                let entries = parse_v1_blkio(&path, &text)?;
                if !entries.is_empty() {
                    return Ok(entries);
                }
            }
        }
        Ok(Vec::new())
    };
    Ok(BlkioStats {
        io_service_bytes_recursive: first_counted("io_service_bytes_recursive")?,
        io_serviced_recursive: first_counted("io_serviced_recursive")?,
    })
}

/// Lines "8:0 Read 4096"; the closing "Total 4096" line is skipped.
fn parse_v1_blkio(path: &Path, text: &str) -> Result<Vec<BlkioEntry>> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [device, op, value] = fields[..] {
            let (major, minor) = parse_device(path, device)?;
            entries.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value: fs::parse_u64(path, value)?,
            });
        }
    }
    Ok(entries)
}

/// "major:minor".
fn parse_device(path: &Path, device: &str) -> Result<(u64, u64)> {
    match device.split_once(':') {
        Some((major, minor)) => Ok((fs::parse_u64(path, major)?, fs::parse_u64(path, minor)?)),
        None => Err(CgroupError::Parse {
            path: path.to_path_buf(),
            reason: format!("expected major:minor, found {device:?}"),
        }),
    }
}

/// Hugetlb statistics for every page size that has a `hugetlb.<size>.<limit_file>` in `dir`.
fn hugetlb(
    dir: &Path,
    limit_file: &str,
    entry: fn(&Path, &str) -> Result<HugetlbStats>,
) -> Result<BTreeMap<String, HugetlbStats>> {
    let entries = match stdfs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(cause) => {
            return Err(CgroupError::Read {
                path: dir.to_path_buf(),
                cause,
            })
        }
    };
    let suffix = format!(".{limit_file}");
    let mut sizes = BTreeMap::new();
    for name in entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
    {
        let size = name
            .strip_prefix("hugetlb.")
            .and_then(|n| n.strip_suffix(&suffix));
        if let Some(size) = size.filter(|s| !s.contains('.')) {
            sizes.insert(size.to_string(), entry(dir, size)?);
        }
    }
    Ok(sizes)
}

fn v1_hugetlb_entry(dir: &Path, size: &str) -> Result<HugetlbStats> {
    let read = |name: &str| fs::read_u64_or_zero(&dir.join(format!("hugetlb.{size}.{name}")));
    Ok(HugetlbStats {
        usage: read("usage_in_bytes")?,
        max: read("max_usage_in_bytes")?,
        failcnt: read("failcnt")?,
    })
}

fn v2_hugetlb_entry(dir: &Path, size: &str) -> Result<HugetlbStats> {
    let path = |name: &str| dir.join(format!("hugetlb.{size}.{name}"));
    Ok(HugetlbStats {
        usage: fs::read_u64_or_zero(&path("current"))?,
        max: 0,
        failcnt: fs::read_key(&path("events"), "max")?.unwrap_or(0),
    })
}

/// cpu.stat counts microseconds on v2.
fn v2_cpu(dir: &Path) -> Result<CpuStats> {
    let path = dir.join("cpu.stat");
    let stat = fs::read_keyed_or_empty(&path)?;
    let micros = |key: &str| stat.get(key).copied().unwrap_or(0) * 1000;
    Ok(CpuStats {
        usage: CpuUsage {
            total: micros("usage_usec"),
            percpu: Vec::new(),
            kernel: micros("system_usec"),
            user: micros("user_usec"),
        },
        throttling: throttling(&path, "throttled_usec", 1000)?,
    })
}

fn v2_memory(dir: &Path) -> Result<MemoryStats> {
    let read = |name: &str| fs::read_u64_or_zero(&dir.join(name));
    let raw: BTreeMap<_, _> = fs::read_keyed_or_empty(&dir.join("memory.stat"))?
        .into_iter()
        .collect();
    let usage = MemoryEntry {
        limit: read("memory.max")?,
        usage: read("memory.current")?,
        max: read("memory.peak")?,
        failcnt: fs::read_key(&dir.join("memory.events"), "max")?.unwrap_or(0),
    };
    let swap = MemoryEntry {
        limit: read("memory.swap.max")?.saturating_add(usage.limit),
        usage: read("memory.swap.current")?.saturating_add(usage.usage),
        max: read("memory.swap.peak")?.saturating_add(usage.max),
        failcnt: fs::read_key(&dir.join("memory.swap.events"), "max")?.unwrap_or(0),
    };
    Ok(MemoryStats {
        cache: raw.get("file").copied().unwrap_or(0),
        kernel: MemoryEntry {
            usage: raw.get("kernel").copied().unwrap_or(0),
            ..MemoryEntry::default()
        },
        kernel_tcp: MemoryEntry::default(),
        usage,
        swap,
        raw,
    })
}

fn v2_io(dir: &Path) -> Result<BlkioStats> {
    let path = dir.join("io.stat");
    match fs::read_optional(&path)? {
        Some(text) => parse_io_stat(&path, &text),
        None => Ok(BlkioStats::default()),
    }
}

/// Lines "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
fn parse_io_stat(path: &Path, text: &str) -> Result<BlkioStats> {
    let mut stats = BlkioStats::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(device) = fields.next() else {
            continue;
        };
        let (major, minor) = parse_device(path, device)?;
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let (list, op) = match key {
                "rbytes" => (&mut stats.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut stats.io_service_bytes_recursive, "Write"),
                "rios" => (&mut stats.io_serviced_recursive, "Read"),
                "wios" => (&mut stats.io_serviced_recursive, "Write"),
                _ => continue,
            };
            let value = fs::parse_u64(path, value)?;
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(major: u64, minor: u64, op: &str, value: u64) -> BlkioEntry {
        BlkioEntry {
            major,
            minor,
            op: op.into(),
            value,
        }
    }

    #[test]
    fn v1_blkio_lines_parse_per_device_and_skip_the_total() {
        let text = "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\nTotal 4608\n";
        let entries = parse_v1_blkio(Path::new("blkio"), text).unwrap();
        assert_eq!(
            entries,
            [
                entry(8, 0, "Read", 4096),
                entry(8, 0, "Write", 512),
                entry(8, 0, "Sync", 0)
            ]
        );
    }

    #[test]
    fn v2_io_stat_splits_into_bytes_and_operations() {
        let text = "8:0 rbytes=4096 wbytes=512 rios=2 wios=1 dbytes=0 dios=0\n";
        let stats = parse_io_stat(Path::new("io.stat"), text).unwrap();
        assert_eq!(
            stats.io_service_bytes_recursive,
            [entry(8, 0, "Read", 4096), entry(8, 0, "Write", 512)]
        );
        assert_eq!(
            stats.io_serviced_recursive,
            [entry(8, 0, "Read", 2), entry(8, 0, "Write", 1)]
        );
    }

    #[test]
    fn stats_serialize_with_runc_keys() {
        let json = serde_json::to_value(Stats::default()).unwrap();
        assert!(json["cpu"]["throttling"].get("throttledPeriods").is_some());
        assert!(json["cpu"]["usage"].get("percpu").is_some());
        assert!(json["memory"].get("kernelTCP").is_some());
        assert!(json["memory"]["usage"].get("failcnt").is_some());
        assert!(json["blkio"].get("ioServiceBytesRecursive").is_some());
        assert!(json["pids"].get("limit").is_some());
        assert!(json["hugetlb"].is_object());
    }
}
