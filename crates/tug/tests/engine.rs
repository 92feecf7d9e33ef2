//! `tug run` and the container commands through the real binary (root, Debian's static
//! busybox): a built image's output, environment, user and working directory; commit,
//! diff, image diff, tag history and rollback; `-p` publishing busybox httpd on the
//! host; two containers reaching each other on the `tug0` bridge; `--network
//! container:` sharing localhost; bad input refused with nothing left behind (no
//! container, mount, veth, cgroup or process).
//!
//! The tests share the `tug0` bridge, so they take turns on a lock.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static TURN: Mutex<()> = Mutex::new(());

/// A data dir with busybox:latest loaded; on drop every container is removed, and the
/// `tug0` bridge too once nothing is attached to it.
struct Host {
    dir: tempfile::TempDir,
    bridge_before: bool,
}

impl Host {
    fn new() -> Option<Host> {
        let root = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) == 0;
        if !root || !Path::new("/bin/busybox").exists() {
            assert!(std::env::var_os("CI").is_none(), "engine tests need root and busybox-static in CI");
            eprintln!("skipped: engine tests need root and /bin/busybox");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/busybox-image.sh"))
            .arg(dir.path())
            .arg(env!("CARGO_BIN_EXE_tug"))
            .output()
            .unwrap();
        assert!(out.status.success(), "busybox image: {}", text(&out));
        Some(Host { dir, bridge_before: Path::new("/sys/class/net/tug0").exists() })
    }

    fn data(&self) -> &Path {
        self.dir.path()
    }

    fn tug(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tug")).env("TUG_DATA_DIR", self.data()).args(args).output().expect("run tug")
    }

    /// Runs tug, expecting success; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.tug(args);
        assert!(out.status.success(), "tug {args:?} failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs tug, expecting failure; its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.tug(args);
        assert!(!out.status.success(), "tug {args:?} succeeded: {}", text(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Waits until `check` holds (a container starting up), at most 10 s.
    fn eventually(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Nothing of a container is left: no record, mount, veth or cgroup of ours.
    fn assert_clean(&self, veths_before: usize) {
        assert_eq!(self.ok(&["ps", "-aq"]).trim(), "", "containers left");
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let data = self.data().display().to_string();
        assert!(!mounts.contains(&data), "mounts left under {data}:\n{mounts}");
        assert_eq!(veths(), veths_before, "veths left");
        assert!(cgroups().is_empty(), "cgroups left: {:?}", cgroups());
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let ids = self.tug(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.tug(&["rm", "-f", id]);
        }
        let attached = fs::read_dir("/sys/class/net/tug0/brif").map(|d| d.count()).unwrap_or(0);
        if !self.bridge_before && attached == 0 && Path::new("/sys/class/net/tug0").exists() {
            let _ = Command::new("ip").args(["link", "del", "tug0"]).status();
        }
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn veths() -> usize {
    fs::read_dir("/sys/class/net").unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with("veth")).count()
}

/// The engine's container cgroups (`/tug-run-<id>`) in every hierarchy (v1, v2, hybrid).
fn cgroups() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let hierarchies = fs::read_dir("/sys/fs/cgroup").unwrap().flatten().map(|e| e.path());
    for base in hierarchies.chain([PathBuf::from("/sys/fs/cgroup")]) {
        if let Ok(entries) = fs::read_dir(base) {
            found.extend(entries.flatten().map(|e| e.path()).filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("tug-run-"))));
        }
    }
    found
}

/// GET / from the host, the raw way.
fn http_get(port: u16) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_built_image_runs_with_its_env_user_and_workdir_and_flags_override_them() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(host) = Host::new() else { return };
    let veths_before = veths();
    let ctx = host.data().join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Containerfile"),
        "FROM busybox\n\
         RUN echo app:x:1234:1234::/home/app:/bin/sh >> /etc/passwd\n\
         ENV GREETING=hello\n\
         WORKDIR /home/app/work\n\
         USER app\n\
         ENTRYPOINT [\"sh\", \"-c\"]\n\
         CMD [\"echo $GREETING; id -u; id -un; pwd\"]\n",
    )
    .unwrap();
    host.ok(&["build", "-q", "-t", "greeter:1", ctx.to_str().unwrap()]);
    assert_eq!(host.ok(&["run", "--rm", "greeter:1"]), "hello\n1234\napp\n/home/app/work\n");
    let out = host.ok(&["run", "--rm", "-e", "GREETING=bye", "-u", "root", "-w", "/tmp", "greeter:1", "echo $GREETING; id -u; pwd"]);
    assert_eq!(out, "bye\n0\n/tmp\n");
    // The exit code is the container's; --entrypoint replaces the image's.
    let out = host.tug(&["run", "--rm", "--network", "none", "--entrypoint", "/bin/false", "greeter:1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Detached: logs, exec, stop, start, ps.
    let id = host.ok(&["run", "-d", "--name", "ticker", "busybox", "sh", "-c", "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done"]);
    assert_eq!(id.trim().len(), 64);
    host.eventually("the ticker's log", || host.ok(&["logs", "ticker"]) == "started\n");
    assert!(host.ok(&["ps"]).contains("ticker"));
    assert_eq!(host.ok(&["exec", "-e", "X=1", "ticker", "sh", "-c", "echo $X; cat /proc/1/cmdline | tr '\\0' ' '"]), "1\nsh -c echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done ");
    host.ok(&["stop", "ticker"]);
    let inspect: serde_json::Value = serde_json::from_str(&host.ok(&["inspect", "ticker"])).unwrap();
    assert_eq!(inspect[0]["State"]["Status"], "exited");
    assert_eq!(inspect[0]["State"]["ExitCode"], 0);
    host.ok(&["start", "ticker"]);
    host.eventually("the restarted ticker's log", || host.ok(&["logs", "ticker"]) == "started\nstarted\n");
    host.ok(&["rm", "-f", "ticker"]);
    host.assert_clean(veths_before);
}

#[test]
fn commit_diff_image_diff_and_rollback_show_exactly_the_changes() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(host) = Host::new() else { return };
    let veths_before = veths();
    host.ok(&["run", "-d", "--name", "box", "--network", "none", "busybox", "sh", "-c",
        "echo hi > /etc/motd && rm /etc/group && mkdir /data && echo x > /data/f && touch /ready && sleep 1000"]);
    host.eventually("the changes", || host.ok(&["exec", "box", "ls", "/"]).contains("ready"));
    assert_eq!(host.ok(&["diff", "box"]), "A /data\nA /data/f\nC /etc\nD /etc/group\nA /etc/motd\nA /ready\n");
    let v1 = host.ok(&["commit", "-m", "first", "box", "snap:v1"]).trim().to_string();
    assert!(v1.starts_with("sha256:"), "{v1}");
    let history = host.ok(&["history", "--no-trunc", "snap:v1"]);
    assert!(history.lines().nth(1).unwrap().contains("sh -c echo hi > /etc/motd"), "{history}");
    assert_eq!(history.lines().count(), 3, "{history}");
    assert_eq!(host.ok(&["run", "--rm", "--network", "none", "snap:v1", "cat", "/data/f", "/etc/motd"]), "x\nhi\n");
    assert_eq!(host.ok(&["image", "diff", "busybox", "snap:v1"]), "A /data\nA /data/f\nD /etc/group\nA /etc/motd\nA /ready\n");
    // A second commit to the same tag; rollback brings the first back.
    host.ok(&["exec", "box", "rm", "/data/f"]);
    let v2 = host.ok(&["commit", "box", "snap:v1"]).trim().to_string();
    assert_ne!(v1, v2);
    assert_eq!(host.ok(&["image", "diff", "snap:v1", "busybox"]), "D /data\nA /etc/group\nD /etc/motd\nD /ready\n");
    let tags = host.ok(&["image", "tags-history", "snap:v1"]);
    assert_eq!(tags.lines().count(), 3, "{tags}");
    host.ok(&["image", "rollback", "snap:v1"]);
    let inspect: serde_json::Value = serde_json::from_str(&host.ok(&["image", "inspect", "snap:v1"])).unwrap();
    assert_eq!(inspect[0]["Id"].as_str().unwrap(), v1, "{inspect}");
    assert!(host.fails(&["image", "rollback", "snap:v1"]).contains("no earlier image"));
    host.ok(&["rm", "-f", "box"]);
    host.assert_clean(veths_before);
}

#[test]
fn published_ports_bridge_addresses_and_shared_network_namespaces_work() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(host) = Host::new() else { return };
    let veths_before = veths();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    host.ok(&["run", "-d", "--name", "web", "-p", &publish, "busybox", "sh", "-c",
        "mkdir /www && echo served-by-tug > /www/index.html && exec httpd -f -p 80 -h /www"]);
    let mut page = String::new();
    host.eventually("the published page", || {
        page = http_get(port).unwrap_or_default();
        page.contains("served-by-tug")
    });
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    // Another container on the bridge reaches it by address.
    let inspect: serde_json::Value = serde_json::from_str(&host.ok(&["inspect", "web"])).unwrap();
    let ip = inspect[0]["NetworkSettings"]["IPAddress"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.88."), "{inspect}");
    assert_eq!(host.ok(&["run", "--rm", "busybox", "wget", "-qO-", &format!("http://{ip}/")]), "served-by-tug\n");
    // --network container: shares its localhost.
    assert_eq!(host.ok(&["run", "--rm", "--network", "container:web", "busybox", "wget", "-qO-", "http://127.0.0.1/"]), "served-by-tug\n");
    // The port is taken now: a clear error and nothing made.
    let names_before = host.ok(&["ps", "-aq"]);
    let err = host.fails(&["run", "-d", "-p", &publish, "busybox", "true"]);
    assert!(err.contains(&format!("host port 127.0.0.1:{port} is already in use")), "{err}");
    assert_eq!(host.ok(&["ps", "-aq"]), names_before);
    host.ok(&["rm", "-f", "web"]);
    assert!(http_get(port).is_err(), "the port is still served");
    host.assert_clean(veths_before);
}

#[test]
fn bad_input_gets_clear_errors_and_leaves_nothing() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(host) = Host::new() else { return };
    let veths_before = veths();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--rm", "nosuchimage"], "unable to find image \"nosuchimage\" locally"),
        (&["run", "-p", "eighty:80", "busybox"], "invalid -p \"eighty:80\": host port \"eighty\""),
        (&["run", "--memory", "lots", "busybox"], "invalid --memory \"lots\""),
        (&["run", "--network", "overlay", "busybox"], "use none, bridge, host or container:NAME"),
        (&["run", "--network", "container:ghost", "busybox"], "no such container: ghost"),
        (&["run", "-v", "relative:/x", "busybox"], "the host path must be absolute"),
        (&["run", "-u", "nobody-here", "busybox", "true"], "unable to find user nobody-here"),
        (&["run", "--name", "/bad", "busybox"], "invalid --name"),
        (&["stop", "ghost"], "no such container: ghost"),
        (&["rm", "ghost"], "no such container: ghost"),
        (&["logs", "ghost"], "no such container: ghost"),
        (&["exec", "ghost", "true"], "no such container: ghost"),
        (&["kill", "-s", "NOPE", "ghost"], "invalid --signal"),
    ];
    for (args, expected) in cases {
        let err = host.fails(args);
        assert!(err.contains(expected), "tug {args:?}: {err:?} lacks {expected:?}");
    }
    // A running container refuses rm without -f and a second start.
    host.ok(&["run", "-d", "--name", "busy", "--network", "none", "busybox", "sleep", "1000"]);
    assert!(host.fails(&["rm", "busy"]).contains("it is running"));
    assert!(host.fails(&["start", "busy"]).contains("already running"));
    assert!(host.fails(&["run", "--name", "busy", "busybox"]).contains("already in use"));
    host.ok(&["rm", "-f", "busy"]);
    host.assert_clean(veths_before);
}
