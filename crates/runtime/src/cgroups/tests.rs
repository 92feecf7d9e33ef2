//! Tests of [`Cgroup`]: on fixture layouts, and on this machine's real cgroups
//! (those need root; each makes a uniquely named cgroup that a guard removes).

use std::io::Write;
use std::ops::Deref;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use super::layout::{tests as fixtures, Layout, Mount};
use super::*;

const MIB: i64 = 1 << 20;

fn fixture(text: &str) -> Layout {
    Layout::from_mountinfo(Path::new("mountinfo"), text).unwrap()
}

#[test]
fn hybrid_hierarchies_are_named_after_their_mount_points() {
    let cgroup = Cgroup::with_layout(fixture(fixtures::HYBRID), Path::new("/tug/abc"));
    assert!(!cgroup.is_unified());
    let hierarchies = cgroup.hierarchies();
    let names: Vec<_> = hierarchies.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "cpu",
            "cpuacct",
            "memory",
            "freezer",
            "pids",
            "systemd",
            "unified",
            "net_cls,net_prio"
        ]
    );
    let systemd = &hierarchies[5];
    assert_eq!(systemd.controllers, "name=systemd");
    assert_eq!(systemd.dir, Path::new("/sys/fs/cgroup/systemd/tug/abc"));
    assert!(hierarchies[6].v2 && hierarchies[6].controllers.is_empty());
    assert_eq!(hierarchies[7].controllers, "net_cls,net_prio");
}

#[test]
fn pure_v2_has_one_unnamed_hierarchy_at_the_cgroup_root() {
    let cgroup = Cgroup::with_layout(fixture(fixtures::UNIFIED), Path::new("/tug/abc"));
    assert!(cgroup.is_unified());
    let hierarchies = cgroup.hierarchies();
    assert_eq!(hierarchies.len(), 1);
    assert_eq!(hierarchies[0].name, "");
    assert_eq!(hierarchies[0].controllers, "");
    assert_eq!(hierarchies[0].dir, Path::new("/sys/fs/cgroup/tug/abc"));
}

#[test]
fn v1_only_machines_are_not_unified() {
    let cgroup = Cgroup::with_layout(fixture(fixtures::V1), Path::new("/tug/abc"));
    assert!(!cgroup.is_unified());
    assert_eq!(cgroup.hierarchies()[1].name, "cpu,cpuacct");
}

#[test]
fn open_takes_back_what_path_gives_and_refuses_relative_paths() {
    if Layout::detect().is_err() {
        return;
    }
    let cgroup = Cgroup::resolve(None, "abc").unwrap();
    assert_eq!(cgroup.path(), Path::new("/tug/abc"));
    assert_eq!(Cgroup::open(cgroup.path()).unwrap().path(), cgroup.path());
    assert!(Cgroup::open(Path::new("tug/abc")).is_err());
    let relative = Cgroup::resolve(Some(Path::new("a/b")), "abc").unwrap();
    assert!(relative.path().is_absolute() && relative.path().ends_with("a/b"));
    assert!(Cgroup::resolve(Some(Path::new("machine.slice:tug:abc")), "abc").is_err());
}

// ---- Real cgroups on this machine -------------------------------------------

/// A cgroup that is killed and removed when the test ends, pass or fail.
struct TestCgroup(Cgroup);

impl Deref for TestCgroup {
    type Target = Cgroup;
    fn deref(&self) -> &Cgroup {
        &self.0
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Cleanup is best effort: the test's own assertion is the failure to see.
        let _ = self.0.kill_all(libc::SIGKILL);
        let _ = self.0.remove();
    }
}

/// A unique cgroup path, "/tug-test-<pid>-<n>".
fn unique_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(format!("/tug-test-{}-{n}", std::process::id()))
}

/// A guarded cgroup on `layout` (this machine's if `None`), or `None` when not
/// root or no cgroup filesystem is mounted: real tests then pass vacuously.
fn real_cgroup(layout: Option<Layout>, path: &Path) -> Option<TestCgroup> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: real cgroup tests need root");
        return None;
    }
    let layout = layout.or_else(|| Layout::detect().ok())?;
    Some(TestCgroup(Cgroup::with_layout(layout, path)))
}

/// A shell child that waits for a line on stdin before running `script`, so it
/// can be put into a cgroup before it does anything; killed when dropped.
struct Gated(Child);

impl Gated {
    fn spawn(script: &str) -> Gated {
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("read go; {script}"))
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn /bin/sh");
        Gated(child)
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.0.id()).expect("pid fits i32")
    }

    fn release(&mut self) {
        let stdin = self.0.stdin.as_mut().expect("piped stdin");
        stdin.write_all(b"go\n").expect("release child");
    }

    /// Waits for the child to exit, at most `limit`.
    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "child {} did not exit",
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Gated {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn resources(memory: i64, swap: i64, pids: i64) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(memory)
                .swap(swap)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(pids).build().unwrap())
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000i64)
                .period(100_000u64)
                .cpus("0")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// Reads a file of `cgroup` in the hierarchy whose controllers include
/// `controller` (or the v2 one), trimmed; `None` if it does not exist.
fn read_back(cgroup: &Cgroup, controller: &str, file: &str) -> Option<String> {
    let hierarchy = cgroup.hierarchies().into_iter().find(|h| {
        h.v2 && cgroup.is_unified() || h.controllers.split(',').any(|c| c == controller)
    })?;
    std::fs::read_to_string(hierarchy.dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

#[test]
fn limits_are_written_to_the_controller_files_and_can_be_raised_and_lowered() {
    let Some(cgroup) = real_cgroup(None, &unique_path()) else {
        return;
    };
    cgroup
        .create(Some(&resources(64 * MIB, 128 * MIB, 32)))
        .unwrap();
    let read = |controller, file| read_back(&cgroup, controller, file);
    if cgroup.is_unified() {
        assert_eq!(
            read("memory", "memory.max").unwrap(),
            (64 * MIB).to_string()
        );
        assert_eq!(read("pids", "pids.max").unwrap(), "32");
        assert_eq!(read("cpu", "cpu.weight").unwrap(), "20");
        assert_eq!(read("cpu", "cpu.max").unwrap(), "50000 100000");
    } else {
        assert_eq!(
            read("memory", "memory.limit_in_bytes").unwrap(),
            (64 * MIB).to_string()
        );
        if let Some(memsw) = read("memory", "memory.memsw.limit_in_bytes") {
            assert_eq!(memsw, (128 * MIB).to_string());
        }
        assert_eq!(read("pids", "pids.max").unwrap(), "32");
        assert_eq!(read("cpu", "cpu.shares").unwrap(), "512");
        assert_eq!(read("cpu", "cpu.cfs_quota_us").unwrap(), "50000");
        assert_eq!(read("cpuset", "cpuset.cpus").unwrap(), "0");
    }

    // Raising above the current memory+swap, then lowering below the current
    // limit: v1 needs the two files written in opposite orders.
    cgroup.apply(&resources(256 * MIB, 512 * MIB, 0)).unwrap();
    cgroup.apply(&resources(16 * MIB, 16 * MIB, 0)).unwrap();
    let memory_file = if cgroup.is_unified() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read("memory", memory_file).unwrap(), (16 * MIB).to_string());
    assert_eq!(read("pids", "pids.max").unwrap(), "max");

    // Unlimited again.
    cgroup.apply(&resources(-1, -1, 0)).unwrap();
}

#[test]
fn a_value_the_kernel_refuses_is_named_with_its_file() {
    let Some(cgroup) = real_cgroup(None, &unique_path()) else {
        return;
    };
    cgroup.create(None).unwrap();
    let bad = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().cpus("4095").build().unwrap())
        .build()
        .unwrap();
    let message = cgroup.apply(&bad).unwrap_err().to_string();
    assert!(
        message.starts_with("failed to write 4095 to /"),
        "{message}"
    );
    assert!(message.contains("cpuset.cpus: "), "{message}");
}

#[test]
fn create_removes_what_it_made_when_a_limit_is_refused() {
    let parent = unique_path();
    let Some(cgroup) = real_cgroup(None, &parent.join("inner")) else {
        return;
    };
    let bad = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().cpus("4095").build().unwrap())
        .build()
        .unwrap();
    assert!(cgroup.create(Some(&bad)).is_err());
    for hierarchy in cgroup.hierarchies() {
        assert!(
            !hierarchy.dir.exists(),
            "{} left behind",
            hierarchy.dir.display()
        );
        let parent_dir = hierarchy.dir.parent().unwrap();
        assert!(!parent_dir.exists(), "{} left behind", parent_dir.display());
    }
}

#[test]
fn remove_takes_child_cgroups_leaves_parents_and_is_idempotent() {
    let parent = unique_path();
    let Some(outer) = real_cgroup(None, &parent) else {
        return;
    };
    let cgroup = TestCgroup(Cgroup::with_layout(
        outer.layout.clone(),
        &parent.join("inner"),
    ));
    cgroup.create(None).unwrap();
    let nested = cgroup.hierarchies()[0].dir.join("made-inside");
    std::fs::create_dir(&nested).unwrap();

    cgroup.remove().unwrap();
    assert!(!nested.exists());
    for hierarchy in cgroup.hierarchies() {
        assert!(!hierarchy.dir.exists());
        assert!(hierarchy.dir.parent().unwrap().exists(), "parent must stay");
    }
    cgroup.remove().unwrap();
    assert!(cgroup.pids().unwrap().is_empty());
    cgroup.kill_all(libc::SIGKILL).unwrap();
}

/// Runs the process tests (join, list, freeze, kill) against `cgroup`.
fn check_processes(cgroup: &Cgroup) {
    cgroup.create(None).unwrap();
    let mut first = Gated::spawn("exec sleep 30");
    let second = Gated::spawn("exec sleep 30");
    cgroup.add_process(first.pid()).unwrap();
    cgroup.add_process(second.pid()).unwrap();
    assert_eq!(cgroup.pids().unwrap(), sorted([first.pid(), second.pid()]));

    // A child cgroup's processes count too.
    let process_dir = cgroup
        .hierarchies()
        .into_iter()
        .find(|h| h.controllers == "pids" || (cgroup.is_unified() && h.v2));
    if let Some(hierarchy) = process_dir {
        let nested = hierarchy.dir.join("nested");
        std::fs::create_dir(&nested).unwrap();
        std::fs::write(nested.join("cgroup.procs"), second.pid().to_string()).unwrap();
        assert_eq!(cgroup.pids().unwrap(), sorted([first.pid(), second.pid()]));
    }

    assert!(!cgroup.is_frozen().unwrap());
    cgroup.freeze().unwrap();
    assert!(cgroup.is_frozen().unwrap());
    cgroup.thaw().unwrap();
    assert!(!cgroup.is_frozen().unwrap());

    cgroup.kill_all(libc::SIGKILL).unwrap();
    let status = first.wait(Duration::from_secs(5));
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    drop(second);
    assert!(cgroup.pids().unwrap().is_empty());
    cgroup.remove().unwrap();
    for hierarchy in cgroup.hierarchies() {
        assert!(!hierarchy.dir.exists());
    }
}

fn sorted<const N: usize>(mut pids: [i32; N]) -> Vec<i32> {
    pids.sort_unstable();
    pids.to_vec()
}

#[test]
fn processes_join_are_listed_freeze_thaw_and_die_together() {
    let Some(cgroup) = real_cgroup(None, &unique_path()) else {
        return;
    };
    check_processes(&cgroup);
}

/// The v2 code path, on this machine's cgroup2 hierarchy alone: on a hybrid
/// machine that is the empty /sys/fs/cgroup/unified, which has no controllers
/// but does have cgroup.procs, cgroup.freeze and cgroup.events.
#[test]
fn v2_processes_join_are_listed_freeze_thaw_and_die_together() {
    let Some(mount) = Layout::detect().ok().and_then(|l| l.v2().cloned()) else {
        return;
    };
    let layout = Layout::from_mounts(vec![mount]).unwrap();
    let Some(cgroup) = real_cgroup(Some(layout), &unique_path()) else {
        return;
    };
    assert!(cgroup.is_unified());
    check_processes(&cgroup);
}

#[test]
fn v2_stats_and_oom_read_as_zero_without_controllers() {
    let Some(mount): Option<Mount> = Layout::detect().ok().and_then(|l| l.v2().cloned()) else {
        return;
    };
    let layout = Layout::from_mounts(vec![mount]).unwrap();
    let Some(cgroup) = real_cgroup(Some(layout), &unique_path()) else {
        return;
    };
    cgroup.create(None).unwrap();
    let stats = cgroup.stats().unwrap();
    assert_eq!(stats.cpu.usage.total, 0);
    assert!(!cgroup.oom_killed().unwrap());
}

#[test]
fn stats_report_cpu_memory_and_pids_usage() {
    let Some(cgroup) = real_cgroup(None, &unique_path()) else {
        return;
    };
    cgroup.create(None).unwrap();
    let mut child =
        Gated::spawn("dd if=/dev/zero of=/dev/null bs=1M count=300 2>/dev/null; exec sleep 30");
    cgroup.add_process(child.pid()).unwrap();
    child.release();
    let deadline = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let stats = cgroup.stats().unwrap();
        if stats.cpu.usage.total > 0 && stats.memory.usage.usage > 0 && stats.pids.current == 1 {
            break stats;
        }
        assert!(Instant::now() < deadline, "no usage seen: {stats:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!stats.memory.raw.is_empty());
    let json = serde_json::to_value(&stats).unwrap();
    assert!(json["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
}

#[test]
fn an_oom_kill_is_reported() {
    let Some(cgroup) = real_cgroup(None, &unique_path()) else {
        return;
    };
    cgroup
        .create(Some(&resources(20 * MIB, 20 * MIB, 0)))
        .unwrap();
    assert!(!cgroup.oom_killed().unwrap());
    let mut child = Gated::spawn("exec tail /dev/zero");
    cgroup.add_process(child.pid()).unwrap();
    child.release();
    let status = child.wait(Duration::from_secs(20));
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(cgroup.oom_killed().unwrap());
}

/// v1 only: device rules, net_cls/net_prio, hugetlb and blkio throttling land in
/// their hierarchies (each checked only if this machine mounts it).
#[test]
fn v1_devices_network_hugetlb_and_blkio_are_applied() {
    let Some(cgroup) = real_cgroup(None, &unique_path()) else {
        return;
    };
    if cgroup.is_unified() {
        return;
    }
    let vda = std::fs::read_to_string("/sys/block/vda/dev").ok();
    let (major, minor) = vda
        .as_deref()
        .and_then(|dev| dev.trim().split_once(':'))
        .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)))
        .unwrap_or((7, 0));
    let resources: LinuxResources = serde_json::from_value(serde_json::json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}
        ],
        "network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]}
    }))
    .unwrap();
    cgroup.create(Some(&resources)).unwrap();
    let read = |controller, file| read_back(&cgroup, controller, file);

    if let Some(list) = read("devices", "devices.list") {
        let rules: Vec<_> = list.lines().collect();
        assert!(rules.contains(&"c 10:200 rwm"), "{list}");
        assert!(rules.contains(&"c 1:3 rwm"), "{list}");
        assert!(!rules.contains(&"a *:* rwm"), "{list}");
    }
    if let Some(class_id) = read("net_cls", "net_cls.classid") {
        assert_eq!(class_id, "1048577");
    }
    if let Some(map) = read("net_prio", "net_prio.ifpriomap") {
        assert!(map.lines().any(|line| line == "lo 5"), "{map}");
    }
    if let Some(limit) = read("hugetlb", "hugetlb.2MB.limit_in_bytes") {
        assert_eq!(limit, "4194304");
    }
    if let Some(rules) = read("blkio", "blkio.throttle.read_bps_device") {
        assert_eq!(rules, format!("{major}:{minor} 1048576"));
    }
}
