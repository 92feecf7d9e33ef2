//! Pods on a real node: `tug up` (store, API server, scheduler, controllers and agent in
//! one process) driven with kubectl, the sample image built FROM scratch with Debian's
//! static busybox (`scripts/busybox-image.sh`). The pod's address is reached from the
//! host over the node's bridge. Needs root (namespaces, veths, cgroups, mounts).
//!
//! One test walks the whole life of a node, because the agent's bridge and the host's
//! routes to 10.42.0.0/16 are one per machine: the classic web server + log shipper pod,
//! an agent restart that keeps the containers, a crash loop, a missing ConfigMap key, and
//! deletion that leaves no process, veth or mount behind. The guard cleans up even when
//! an assertion fails.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TUG: &str = env!("CARGO_BIN_EXE_tug");

const WEB: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: shared, emptyDir: {}}]
  containers:
  - name: server
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'hostname > /www/host-server; echo hello from web > /www/index.html; exec httpd -f -v -p 80 -h /www 2>> /www/access.log']
    volumeMounts: [{name: shared, mountPath: /www}]
  - name: shipper
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'hostname > /www/host-shipper; until wget -qO /www/fetched http://127.0.0.1/; do sleep 0.2; done; exec tail -F /www/access.log']
    volumeMounts: [{name: shared, mountPath: /www}]
"#;

const BROKEN: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {present: "1"}
---
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox:latest, imagePullPolicy: Never, command: [sh, -c, 'exit 3']}
---
apiVersion: v1
kind: Pod
metadata: {name: nokey}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    command: [sleep, '60']
    env: [{name: X, valueFrom: {configMapKeyRef: {name: settings, key: absent}}}]
"#;

/// A `tug up` on 127.0.0.1 over a temp data dir; dropping it deletes its pods, stops it
/// and removes whatever is left (processes, mounts, the bridge).
struct Node {
    dir: tempfile::TempDir,
    port: u16,
    process: Option<Child>,
    links_before: Vec<String>,
}

impl Node {
    fn up() -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let image = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/busybox-image.sh"))
            .arg(dir.path())
            .arg(TUG)
            .output()
            .expect("busybox-image.sh runs");
        assert!(image.status.success(), "busybox image: {}", text(&image));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut node = Node {
            dir,
            port,
            process: None,
            links_before: links(),
        };
        node.start();
        node
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("up.log"))
            .expect("log file");
        let child = Command::new(TUG)
            .args(["up", "--bind-address", "127.0.0.1", "--port", &self.port.to_string(), "--data-dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("tug up starts");
        self.process = Some(child);
        self.eventually("the node is Ready", 30, || {
            let out = self.kubectl_output(&["get", "nodes", "-o", "json"]);
            let nodes: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            nodes["items"].as_array().is_some_and(|items| {
                items.iter().any(|n| {
                    n["status"]["conditions"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
                })
            })
        });
    }

    /// Stops `tug up` as Ctrl-C does; the containers' supervisors stay.
    fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn kubectl_output(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .env("KUBECONFIG", self.dir.path().join("kubeconfig.yaml"))
            .args(args)
            .output()
            .expect("kubectl runs")
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_output(args);
        assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn apply(&self, yaml: &str) {
        let file = self.dir.path().join("manifest.yaml");
        std::fs::write(&file, yaml).expect("write manifest");
        self.kubectl(&["apply", "-f", file.to_str().expect("utf-8 path")]);
    }

    fn pod(&self, name: &str) -> Value {
        serde_json::from_str(&self.kubectl(&["get", "pod", name, "-o", "json"])).expect("pod JSON")
    }

    fn eventually(&self, what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while !done() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.path().join("up.log")).unwrap_or_default();
                panic!("timed out waiting until {what}; tug up said:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Processes of this node's pods: container supervisors (they name the data dir) and
    /// pod sandboxes (this binary's `pod-sandbox` mode).
    fn own_processes(&self) -> Vec<i32> {
        let dir = self.dir.path().to_string_lossy().into_owned();
        let sandbox = format!("{TUG}\0pod-sandbox");
        let up = self.process.as_ref().map(|c| c.id() as i32);
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| Some(*pid) != up)
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| {
                        let c = String::from_utf8_lossy(&c);
                        c.contains(&dir) || c.starts_with(&sandbox)
                    })
            })
            .collect()
    }

    fn own_mounts(&self) -> Vec<String> {
        let dir = self.dir.path().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&dir))
            .map(str::to_string)
            .collect()
    }

    fn new_links(&self) -> Vec<String> {
        links().into_iter().filter(|l| !self.links_before.contains(l)).collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.process.is_some() {
            let _ = self.kubectl_output(&["delete", "pods", "--all", "--timeout=30s"]);
        }
        self.stop();
        for pid in self.own_processes() {
            // SAFETY: kill(2) on a container supervisor this test's node started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for mount in self.own_mounts().iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(mount).status();
        }
        for link in self.new_links() {
            let _ = Command::new("ip").args(["link", "del", &link]).status();
        }
    }
}

/// The host's network links, by name.
fn links() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// GET `path` from `ip`:80: the body if the answer is 200.
fn try_get(ip: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect((ip, 80)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let ok = response.lines().next().is_some_and(|l| l.contains(" 200 "));
    ok.then(|| response.split("\r\n\r\n").nth(1).unwrap_or_default().trim().to_string())
}

fn http_get(ip: &str, path: &str) -> String {
    try_get(ip, path).unwrap_or_else(|| panic!("GET http://{ip}{path} did not answer 200"))
}

fn restart_counts(pod: &Value) -> Vec<i64> {
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["restartCount"].as_i64().unwrap_or(-1))
        .collect()
}

fn waiting_reason(pod: &Value) -> (String, String) {
    let state = &pod["status"]["containerStatuses"][0]["state"]["waiting"];
    (
        state["reason"].as_str().unwrap_or_default().to_string(),
        state["message"].as_str().unwrap_or_default().to_string(),
    )
}

fn must_be_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(std::env::var_os("CI").is_none(), "pod tests need root in CI");
        eprintln!("skipping: pod tests need root");
    }
    root && Path::new("/bin/busybox").exists()
}

#[test]
fn a_node_runs_pods_keeps_them_across_restarts_and_cleans_up() {
    if !must_be_root() {
        return;
    }
    let mut node = Node::up();

    // The classic pod: one hostname, one localhost, one shared volume.
    node.apply(WEB);
    node.kubectl(&["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"]);
    let pod = node.pod("web");
    let ip = pod["status"]["podIP"].as_str().expect("podIP").to_string();
    assert!(ip.starts_with("10.42."), "{ip}");
    assert_eq!(http_get(&ip, "/index.html"), "hello from web");
    assert_eq!(http_get(&ip, "/host-server"), "web");
    node.eventually("the shipper reached the server on 127.0.0.1", 10, || {
        try_get(&ip, "/fetched").as_deref() == Some("hello from web")
    });
    assert_eq!(http_get(&ip, "/host-shipper"), "web");
    assert_eq!(restart_counts(&pod), [0, 0]);
    let table = node.kubectl(&["get", "pod", "web"]);
    assert!(table.contains("2/2") && table.contains("Running"), "{table}");

    // The agent restarts; the containers do not.
    node.stop();
    assert_eq!(http_get(&ip, "/index.html"), "hello from web", "serving while the agent is down");
    node.start();
    node.kubectl(&["wait", "--for=condition=Ready", "pod/web", "--timeout=30s"]);
    assert_eq!(restart_counts(&node.pod("web")), [0, 0]);
    assert_eq!(http_get(&ip, "/index.html"), "hello from web");

    // A crashing container backs off; a missing ConfigMap key is a config error.
    node.apply(BROKEN);
    node.eventually("crash is in CrashLoopBackOff", 60, || {
        let pod = node.pod("crash");
        waiting_reason(&pod).0 == "CrashLoopBackOff"
            && pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 3
    });
    node.eventually("nokey reports its config error", 30, || {
        waiting_reason(&node.pod("nokey"))
            == (
                "CreateContainerConfigError".to_string(),
                "couldn't find key absent in ConfigMap default/settings".to_string(),
            )
    });

    // Deletion stops the containers and leaves nothing behind.
    let uids: Vec<String> = ["web", "crash", "nokey"]
        .iter()
        .map(|name| node.pod(name)["metadata"]["uid"].as_str().unwrap_or_default().to_string())
        .collect();
    node.kubectl(&["delete", "pods", "--all", "--timeout=60s"]);
    assert_eq!(node.kubectl(&["get", "pods", "-o", "name"]).trim(), "");
    assert_eq!(node.own_processes(), Vec::<i32>::new(), "container processes left");
    assert_eq!(node.own_mounts(), Vec::<String>::new(), "mounts left");
    let veths: Vec<String> = node.new_links().into_iter().filter(|l| l.starts_with("veth")).collect();
    assert_eq!(veths, Vec::<String>::new(), "veths left");
    let cgroups = Command::new("find")
        .args(["/sys/fs/cgroup", "-maxdepth", "5", "-type", "d", "-name", "pod*"])
        .output()
        .expect("find runs");
    let cgroups = String::from_utf8_lossy(&cgroups.stdout);
    for uid in &uids {
        assert!(!cgroups.contains(&format!("pod{uid}")), "cgroup of pod {uid} left:\n{cgroups}");
    }
}
