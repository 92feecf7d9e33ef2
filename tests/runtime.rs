//! End-to-end tests of `tug runtime` (the OCI runtime) with real containers: a busybox
//! root filesystem, real namespaces, cgroups and mounts. They must run as root; each test
//! uses its own runtime root and container ids and checks that nothing is left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A scratch area with a busybox bundle and a private runtime root; deletes its
/// containers and files on drop, even when the test fails.
struct Sandbox {
    dir: PathBuf,
    ids: Vec<String>,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        assert_eq!(unsafe { libc::geteuid() }, 0, "the runtime tests need root");
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tugrt-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Sandbox { dir, ids: Vec::new() }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("state")
    }

    fn id(&mut self, name: &str) -> String {
        let id = format!("{name}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        self.ids.push(id.clone());
        id
    }

    /// A bundle whose config is the default spec, non-interactive, running `args`,
    /// after `edit` has had its say.
    fn bundle(&self, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        let bundle = self.dir.join(name);
        let rootfs = bundle.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static must be installed");
        for applet in ["sh", "ls", "cat", "echo", "hostname", "sleep", "id", "ip", "nc", "touch", "head", "tr", "seq", "ps", "wc", "true", "mount"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let out = tug(&self.root(), &["spec", "--bundle", bundle.to_str().unwrap()]);
        assert!(out.status.success(), "spec: {}", stderr(&out));
        let path = bundle.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        edit(&mut config);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        bundle
    }

    fn rt(&self, args: &[&str]) -> Output {
        tug(&self.root(), args)
    }

    /// `run` in the foreground; returns (exit code, stdout, stderr).
    fn run(&mut self, bundle: &Path) -> (i32, String, String) {
        let id = self.id("run");
        let out = self.rt(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
        (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
    }

    /// `run --detach`, stdio to files in the bundle; returns the id.
    fn run_detached(&mut self, bundle: &Path) -> String {
        let id = self.id("bg");
        let log = std::fs::File::create(bundle.join("out.log")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tug"))
            .args(["runtime", "--root", self.root().to_str().unwrap(), "run", "--detach", "--bundle", bundle.to_str().unwrap(), &id])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
            .unwrap();
        assert!(out.success(), "run --detach: {}", std::fs::read_to_string(bundle.join("out.log")).unwrap_or_default());
        id
    }

    fn state(&self, id: &str) -> Value {
        let out = self.rt(&["state", id]);
        assert!(out.status.success(), "state {id}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn wait_status(&self, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let state = self.state(id);
            if state["status"] == want {
                return state;
            }
            assert!(Instant::now() < deadline, "{id} never became {want}: {state}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asserts that container `id` left no state, cgroup, mount or process.
    fn assert_gone(&self, id: &str, pid: i64) {
        assert!(!self.root().join(id).exists(), "state directory of {id} left behind");
        for dir in cgroup_dirs(id) {
            assert!(!dir.exists(), "cgroup {} left behind", dir.display());
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(self.dir.to_str().unwrap()), "mount under {} left behind", self.dir.display());
        if pid > 0 {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z"));
            assert!(!alive, "process {pid} of {id} still running");
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = tug(&self.root(), &["delete", "--force", id]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(format!("/sys/fs/cgroup/tug/{id}"))];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            dirs.push(e.path().join("tug").join(id));
        }
    }
    dirs
}

/// Runs `tug runtime --root ROOT ARGS…`. Output goes through files, not pipes: a
/// container started by the command inherits its stdio and must not hold a pipe open.
fn tug(root: &Path, args: &[&str]) -> Output {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let out_path = std::env::temp_dir().join(format!("tugrt-out-{}-{n}", std::process::id()));
    let err_path = out_path.with_extension("err");
    let status = Command::new(env!("CARGO_BIN_EXE_tug"))
        .arg("runtime")
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .expect("run tug");
    let output = Output { status, stdout: std::fs::read(&out_path).unwrap(), stderr: std::fs::read(&err_path).unwrap() };
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    output
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn add_caps(config: &mut Value, caps: &[&str]) {
    for set in ["bounding", "effective", "permitted"] {
        let list = config["process"]["capabilities"][set].as_array_mut().unwrap();
        list.extend(caps.iter().map(|c| json!(c)));
    }
}

#[test]
fn container_sees_itself_as_pid_1() {
    let mut sb = Sandbox::new("pid1");
    let bundle = sb.bundle("b", &["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"], |_| {});
    let (code, out, err) = sb.run(&bundle);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    // Only the shell and ls (and grep) are visible, not the host's processes.
    assert!(lines[1].parse::<u32>().unwrap() <= 3, "{out}");
}

#[test]
fn container_has_its_own_hostname() {
    let mut sb = Sandbox::new("uts");
    let bundle = sb.bundle("b", &["hostname"], |c| c["hostname"] = json!("tug-test-box"));
    let (code, out, err) = sb.run(&bundle);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "tug-test-box");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "tug-test-box");
}

#[test]
fn network_namespace_holds_only_loopback() {
    let mut sb = Sandbox::new("net");
    let bundle = sb.bundle("b", &["ls", "/sys/class/net"], |_| {});
    let (code, out, err) = sb.run(&bundle);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), vec!["lo"]);
}

#[test]
fn host_files_are_unreachable_by_absolute_path_dotdot_or_symlink() {
    let mut sb = Sandbox::new("escape");
    let marker = sb.dir.join("host-secret");
    std::fs::write(&marker, "HOSTSECRET").unwrap();
    let m = marker.to_str().unwrap().to_string();
    let script = format!("cat {m}; cat ../../../../../../..{m}; cat /up/{m}; cat /abs{m}; ls /hostetc/hostname; echo done");
    let bundle = sb.bundle("b", &["sh", "-c", &script], |c| {
        // A mount destination that tries to leave the rootfs through a symlink.
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/abs/tmp/evil", "type": "tmpfs", "source": "tmpfs"}));
    });
    let rootfs = bundle.join("rootfs");
    std::os::unix::fs::symlink("../../../../../../../../..", rootfs.join("up")).unwrap();
    std::os::unix::fs::symlink("/", rootfs.join("abs")).unwrap();
    std::os::unix::fs::symlink("/etc", rootfs.join("hostetc")).unwrap();
    let (code, out, err) = sb.run(&bundle);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("done"), "{out}");
    assert!(!out.contains("HOSTSECRET"), "host file leaked: {out}");
    assert!(!Path::new("/tmp/evil").exists(), "mount point escaped the rootfs");
    assert!(rootfs.join("tmp/evil").is_dir(), "mount point should land inside the rootfs");
}

#[test]
fn read_only_rootfs_refuses_writes() {
    let mut sb = Sandbox::new("ro");
    let bundle = sb.bundle("b", &["sh", "-c", "touch /newfile && echo wrote || echo refused"], |c| c["root"]["readonly"] = json!(true));
    let (code, out, err) = sb.run(&bundle);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "refused", "{err}");
    assert!(!bundle.join("rootfs/newfile").exists());
}

#[test]
fn memory_limit_oom_kills_and_state_says_so() {
    let mut sb = Sandbox::new("oom");
    // The shell holds 256 MiB in a variable; the limit is 32 MiB.
    let bundle = sb.bundle("b", &["sh", "-c", "x=$(head -c 268435456 /dev/zero | tr '\\0' a); echo survived"], |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432});
    });
    let id = sb.run_detached(&bundle);
    let state = sb.wait_status(&id, "stopped");
    assert_eq!(state["oomKilled"], json!(true), "{state}");
    assert!(!std::fs::read_to_string(bundle.join("out.log")).unwrap().contains("survived"));
    let out = sb.rt(&["delete", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    sb.assert_gone(&id, 0);
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let mut sb = Sandbox::new("pids");
    // The bomb runs in a subshell (a failed fork ends it); the outer shell then counts
    // the processes with builtins only, since it cannot fork any more either.
    let script = "(for i in $(seq 1 64); do sleep 30 & done) 2>/dev/null; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n";
    let bundle = sb.bundle("b", &["sh", "-c", script], |c| {
        c["linux"]["resources"]["pids"] = json!({"limit": 10});
    });
    let (code, out, err) = sb.run(&bundle);
    assert_eq!(code, 0, "{err}");
    let running: u32 = out.trim().parse().unwrap_or_else(|_| panic!("unexpected output {out:?} {err}"));
    assert!(running <= 10, "more than 10 processes ran: {running}");
    assert!(running >= 5, "the bomb should have filled the limit: {running}");
}

#[test]
fn user_namespace_maps_root_to_an_unprivileged_host_uid() {
    let mut sb = Sandbox::new("userns");
    let bundle = sb.bundle("b", &["sh", "-c", "id -u; sleep 30"], |c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let id = sb.run_detached(&bundle);
    let state = sb.wait_status(&id, "running");
    let pid = state["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(uid_line.split_whitespace().nth(1), Some("100000"), "{uid_line}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(bundle.join("out.log")).unwrap().contains('0') {
        assert!(Instant::now() < deadline, "container never printed its uid");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(bundle.join("out.log")).unwrap().trim(), "0");
    assert!(sb.rt(&["delete", "--force", &id]).status.success());
    sb.assert_gone(&id, pid);
}

#[test]
fn second_container_joins_the_first_network_namespace_by_path() {
    let mut sb = Sandbox::new("joinnet");
    let server = sb.bundle("server", &["sh", "-c", "ip link set lo up; echo hello-from-server | nc -l -p 8080"], |c| add_caps(c, &["CAP_NET_ADMIN"]));
    let server_id = sb.run_detached(&server);
    let pid = sb.wait_status(&server_id, "running")["pid"].as_i64().unwrap();
    let netns = format!("/proc/{pid}/ns/net");
    let client = sb.bundle("client", &["sh", "-c", "for i in $(seq 1 100); do nc 127.0.0.1 8080 && exit 0; sleep 0.1; done; exit 1"], |c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = json!(netns);
            }
        }
    });
    let (code, out, err) = sb.run(&client);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "hello-from-server");
    assert!(sb.rt(&["delete", "--force", &server_id]).status.success());
    sb.assert_gone(&server_id, pid);
}

#[test]
fn kill_pause_resume_and_force_delete_work_on_a_running_container() {
    let mut sb = Sandbox::new("lifecycle");
    let bundle = sb.bundle("b", &["sleep", "300"], |_| {});
    let id = sb.run_detached(&bundle);
    let pid = sb.wait_status(&id, "running")["pid"].as_i64().unwrap();

    assert!(sb.rt(&["pause", &id]).status.success());
    sb.wait_status(&id, "paused");
    assert!(sb.rt(&["resume", &id]).status.success());
    sb.wait_status(&id, "running");

    let out = sb.rt(&["delete", &id]);
    assert!(!out.status.success(), "deleting a running container without --force must fail");
    assert!(stderr(&out).contains("not stopped"), "{}", stderr(&out));

    assert!(sb.rt(&["kill", &id, "KILL"]).status.success());
    sb.wait_status(&id, "stopped");
    assert!(sb.rt(&["delete", &id]).status.success());
    sb.assert_gone(&id, pid);

    let id = sb.run_detached(&bundle);
    let pid = sb.wait_status(&id, "running")["pid"].as_i64().unwrap();
    assert!(sb.rt(&["pause", &id]).status.success());
    let out = sb.rt(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    sb.assert_gone(&id, pid);
}

#[test]
fn exec_runs_in_the_container_namespaces() {
    let mut sb = Sandbox::new("exec");
    let bundle = sb.bundle("b", &["sleep", "300"], |c| c["hostname"] = json!("exec-box"));
    let id = sb.run_detached(&bundle);
    let pid = sb.wait_status(&id, "running")["pid"].as_i64().unwrap();
    let out = sb.rt(&["exec", &id, "sh", "-c", "hostname; echo $$; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "exec-box");
    assert_ne!(lines[1], "1");
    let ps = sb.rt(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_slice(&ps.stdout).unwrap();
    assert_eq!(pids, vec![pid]);
    assert!(sb.rt(&["delete", "--force", &id]).status.success());
    sb.assert_gone(&id, pid);
}

#[test]
fn bad_configs_get_one_clear_error_naming_the_field_and_leave_nothing() {
    let mut sb = Sandbox::new("badcfg");
    type Spoil = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Spoil, &str)> = vec![
        ("notjson", Box::new(|b: &Path| std::fs::write(b.join("config.json"), "{ not json").unwrap()), "line 1"),
        ("noversion", Box::new(|b: &Path| edit_config(b, |c| { c.as_object_mut().unwrap().remove("ociVersion"); })), "ociVersion"),
        ("badtype", Box::new(|b: &Path| edit_config(b, |c| c["process"]["user"]["uid"] = json!("root"))), "process.user.uid"),
        ("norootfs", Box::new(|b: &Path| std::fs::remove_dir_all(b.join("rootfs")).unwrap()), "root.path"),
        ("noprogram", Box::new(|b: &Path| edit_config(b, |c| c["process"]["args"] = json!(["/bin/nonexistent"]))), "executable file not found"),
    ];
    for (name, spoil, expect) in cases {
        let bundle = sb.bundle(name, &["true"], |_| {});
        spoil(&bundle);
        let id = sb.id(name);
        let out = sb.rt(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
        assert_eq!(out.status.code(), Some(1), "{name}: create must fail");
        let err = stderr(&out);
        assert!(err.contains(expect), "{name}: error {err:?} should mention {expect:?}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: one error line expected: {err}");
        sb.assert_gone(&id, 0);
    }
}

fn edit_config(bundle: &Path, edit: impl FnOnce(&mut Value)) {
    let path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
}

#[test]
fn misuse_of_ids_and_states_fails_cleanly_like_runc() {
    let mut sb = Sandbox::new("misuse");
    let bundle = sb.bundle("b", &["sleep", "300"], |_| {});
    let id = sb.id("dup");
    let create = |sb: &Sandbox| sb.rt(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(create(&sb).status.success());
    assert_eq!(sb.state(&id)["status"], "created");
    let dup = create(&sb);
    assert_eq!(dup.status.code(), Some(1));
    assert!(stderr(&dup).contains(&format!("container with id exists: {id}")), "{}", stderr(&dup));

    let unknown = sb.rt(&["state", "no-such-container"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("container does not exist: no-such-container"));

    assert!(sb.rt(&["start", &id]).status.success());
    let again = sb.rt(&["start", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("cannot start an already running container"), "{}", stderr(&again));

    let pid = sb.state(&id)["pid"].as_i64().unwrap();
    assert!(sb.rt(&["kill", &id, "KILL"]).status.success());
    sb.wait_status(&id, "stopped");
    let dead = sb.rt(&["kill", &id, "TERM"]);
    assert_eq!(dead.status.code(), Some(1));
    assert!(stderr(&dead).contains("container not running"), "{}", stderr(&dead));
    let restart = sb.rt(&["start", &id]);
    assert!(stderr(&restart).contains("cannot start a container that has stopped"), "{}", stderr(&restart));

    assert!(sb.rt(&["delete", &id]).status.success());
    sb.assert_gone(&id, pid);
    let missing = sb.rt(&["delete", &id]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(sb.rt(&["delete", "--force", &id]).status.success(), "delete --force of a missing container succeeds, as in runc");
}

#[test]
fn tug_runtime_link_behaves_as_tug_runtime() {
    let sb = Sandbox::new("link");
    let link = sb.dir.join("tug-runtime");
    std::fs::hard_link(env!("CARGO_BIN_EXE_tug"), &link).unwrap();
    let out = Command::new(&link).args(["--root", sb.root().to_str().unwrap(), "list", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "[]");
}

/// Receives one fd sent with SCM_RIGHTS on `stream`.
fn receive_fd(stream: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut name = [0u8; 256];
    let mut iov = libc::iovec { iov_base: name.as_mut_ptr().cast(), iov_len: name.len() };
    let mut control = [0u8; 64];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len() as _;
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, 0) };
    assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    assert!(!cmsg.is_null(), "no fd received");
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>()) };
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

#[test]
fn terminal_goes_to_the_console_socket() {
    let mut sb = Sandbox::new("console");
    let bundle = sb.bundle("b", &["sh", "-c", "tty; echo on-the-pty"], |c| c["process"]["terminal"] = json!(true));
    let socket_path = sb.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    let id = sb.id("tty");
    let receiver = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        receive_fd(&stream)
    });
    let out = sb.rt(&["create", "--bundle", bundle.to_str().unwrap(), "--console-socket", socket_path.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let master = std::fs::File::from(receiver.join().unwrap());
    assert!(sb.rt(&["start", &id]).status.success());
    let mut text = String::new();
    let mut reader = std::io::BufReader::new(master);
    // Reading the master fails with EIO once the container closes the pty: that is the end.
    let _ = std::io::Read::read_to_string(&mut reader, &mut text);
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("on-the-pty"), "{text:?}");
    sb.wait_status(&id, "stopped");
    assert!(sb.rt(&["delete", &id]).status.success());
    sb.assert_gone(&id, 0);
}

#[test]
fn hooks_receive_the_state_and_events_report_usage() {
    let mut sb = Sandbox::new("hooks");
    let created = sb.dir.join("created.json");
    let stopped = sb.dir.join("poststop.json");
    let hook = |file: &Path| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", file.display())]});
    let bundle = sb.bundle("b", &["sleep", "300"], |c| {
        c["hooks"] = json!({"createRuntime": [hook(&created)], "poststop": [hook(&stopped)]});
        c["linux"]["resources"]["pids"] = json!({"limit": 50});
    });
    let id = sb.run_detached(&bundle);
    let pid = sb.wait_status(&id, "running")["pid"].as_i64().unwrap();
    let state: Value = serde_json::from_slice(&std::fs::read(&created).unwrap()).unwrap();
    assert_eq!((state["id"].as_str(), state["pid"].as_i64(), state["status"].as_str()), (Some(id.as_str()), Some(pid), Some("created")));

    let events = sb.rt(&["events", "--stats", &id]);
    assert!(events.status.success(), "{}", stderr(&events));
    let event: Value = serde_json::from_slice(&events.stdout).unwrap();
    assert_eq!(event["type"], "stats");
    assert_eq!(event["data"]["pids"]["current"], json!(1));
    assert_eq!(event["data"]["pids"]["limit"], json!(50));
    assert!(event["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{event}");

    let list = sb.rt(&["list", "--format", "json"]);
    let entries: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(entries[0]["id"], json!(id));
    assert_eq!(entries[0]["status"], json!("running"));

    assert!(sb.rt(&["delete", "--force", &id]).status.success());
    let state: Value = serde_json::from_slice(&std::fs::read(&stopped).unwrap()).unwrap();
    assert_eq!(state["status"], "stopped");
    sb.assert_gone(&id, pid);
}
