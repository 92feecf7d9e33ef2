//! What the node is made of, read from the machine: CPU count, memory, disk under
//! the data dir, PIDs, addresses and the facts `status.nodeInfo` reports. Pure
//! readers over /proc and a few syscalls; the pressure thresholds are kubelet's
//! default hard eviction thresholds.

use std::net::Ipv4Addr;
use std::path::Path;

/// A snapshot of the machine's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub cpus: usize,
    /// Total memory in KiB.
    pub memory_kib: u64,
    /// Available memory in KiB.
    pub memory_available_kib: u64,
    /// Size and free bytes of the filesystem holding the data dir.
    pub disk_bytes: u64,
    pub disk_free_bytes: u64,
    /// Processes running and the kernel's limit.
    pub pids: u64,
    pub pid_max: u64,
}

/// Kubelet's default `memory.available<100Mi`.
const MEMORY_AVAILABLE_MIN_KIB: u64 = 100 * 1024;

impl Resources {
    /// Reads the machine; the disk is the filesystem holding `data_dir`.
    pub fn read(data_dir: &Path) -> Resources {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let (disk_bytes, disk_free_bytes) = filesystem_size(data_dir).unwrap_or((0, 0));
        Resources {
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory_kib: meminfo_field(&meminfo, "MemTotal").unwrap_or(0),
            memory_available_kib: meminfo_field(&meminfo, "MemAvailable").unwrap_or(0),
            disk_bytes,
            disk_free_bytes,
            pids: running_pids(),
            pid_max: read_trimmed("/proc/sys/kernel/pid_max").and_then(|s| s.parse().ok()).unwrap_or(32768),
        }
    }

    /// Kubelet's `memory.available<100Mi`.
    pub fn memory_pressure(&self) -> bool {
        self.memory_available_kib < MEMORY_AVAILABLE_MIN_KIB
    }

    /// Kubelet's `nodefs.available<10%`.
    pub fn disk_pressure(&self) -> bool {
        self.disk_bytes > 0 && self.disk_free_bytes * 10 < self.disk_bytes
    }

    /// More than 90% of the PID space in use.
    pub fn pid_pressure(&self) -> bool {
        self.pids * 10 > self.pid_max * 9
    }
}

/// A `Key:   1234 kB` line of /proc/meminfo, in KiB.
fn meminfo_field(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn running_pids() -> u64 {
    std::fs::read_dir("/proc")
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit())).count() as u64)
        .unwrap_or(0)
}

fn filesystem_size(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: c_path is a valid NUL-terminated string; st is a valid out-parameter.
    if unsafe { libc::statvfs(c_path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs succeeded, so it filled in st.
    let st = unsafe { st.assume_init() };
    let block = st.f_frsize;
    Some((st.f_blocks * block, st.f_bavail * block))
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// The machine's host name, as the default node name (lowercase, as kubelet does).
pub fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| "localhost".into()).to_lowercase()
}

/// The first IPv4 address of an interface that is up and not loopback; loopback if none.
pub fn primary_ipv4() -> Ipv4Addr {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: list is a valid out-parameter; freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Ipv4Addr::LOCALHOST;
    }
    let mut found = None;
    let mut cursor = list;
    while !cursor.is_null() && found.is_none() {
        // SAFETY: cursor is a node of the list getifaddrs returned, not yet freed.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        let up = entry.ifa_flags & libc::IFF_UP as u32 != 0;
        let loopback = entry.ifa_flags & libc::IFF_LOOPBACK as u32 != 0;
        if !up || loopback || entry.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr of the family it names.
        if i32::from(unsafe { (*entry.ifa_addr).sa_family }) == libc::AF_INET {
            // SAFETY: the family is AF_INET, so the address is a sockaddr_in.
            let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
            found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
        }
    }
    // SAFETY: list came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    found.unwrap_or(Ipv4Addr::LOCALHOST)
}

/// The facts of `status.nodeInfo`.
#[derive(Debug, Clone)]
pub struct Info {
    pub machine_id: String,
    pub system_uuid: String,
    pub boot_id: String,
    pub kernel_version: String,
    pub os_image: String,
    pub architecture: String,
}

impl Info {
    pub fn read() -> Info {
        let machine_id = read_trimmed("/etc/machine-id").unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let os_image = os_release
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| "Linux".into());
        Info {
            system_uuid: read_trimmed("/sys/class/dmi/id/product_uuid").unwrap_or_else(|| machine_id.clone()),
            machine_id,
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
            kernel_version: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default(),
            os_image,
            architecture: match std::env::consts::ARCH {
                "x86_64" => "amd64".into(),
                "aarch64" => "arm64".into(),
                other => other.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_fields_are_read_in_kib() {
        let text = "MemTotal:       16318412 kB\nMemFree:  100 kB\nMemAvailable:   8000000 kB\n";
        assert_eq!(meminfo_field(text, "MemTotal"), Some(16318412));
        assert_eq!(meminfo_field(text, "MemAvailable"), Some(8000000));
        assert_eq!(meminfo_field(text, "Mem"), None);
    }

    #[test]
    fn pressure_follows_kubelet_thresholds() {
        let ok = Resources { cpus: 2, memory_kib: 4 << 20, memory_available_kib: 1 << 20, disk_bytes: 100, disk_free_bytes: 50, pids: 100, pid_max: 1000 };
        assert!(!ok.memory_pressure() && !ok.disk_pressure() && !ok.pid_pressure());
        let bad = Resources { memory_available_kib: 50 * 1024, disk_free_bytes: 9, pids: 950, ..ok };
        assert!(bad.memory_pressure() && bad.disk_pressure() && bad.pid_pressure());
    }

    #[test]
    fn the_machine_reports_something_real() {
        let r = Resources::read(Path::new("/"));
        assert!(r.cpus >= 1 && r.memory_kib > 0 && r.disk_bytes > 0 && r.pids > 0);
    }
}
