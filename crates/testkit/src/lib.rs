//! Test support for end-to-end tests that start real processes: [`Cluster`] is a `tug up`
//! (store, API server, scheduler, controllers and agent in one process) on a temporary
//! data dir with the busybox sample image loaded, driven with the real kubectl.
//!
//! A node's bridge and the host's routes to the pod network are one per machine, so
//! clusters take a machine-wide lock ([`LOCK`]): test binaries of every crate, and several
//! `cargo test` runs at once, wait for each other instead of fighting over the network.
//! Dropping a cluster deletes its pods, stops it and removes whatever is left (processes,
//! mounts, its bridge and veths, the service proxy's nftables table), even when an
//! assertion failed.
//!
//! [`ControlPlane`] is `tug server` alone (no node, no lock), for tests that need the API
//! and controllers but no running pods.
//!
//! Used only by tests (a dev-dependency); nothing here is part of the product.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod control_plane;
pub use control_plane::ControlPlane;

/// The machine-wide lock every cluster holds while it lives.
pub const LOCK: &str = "/run/tug-e2e.lock";

/// Where agents in network namespaces reach the API server ([`Cluster::join_agent_in_netns`]).
pub const NETNS_SERVER: &str = "10.99.1.1";

/// `tug up` arguments of a cluster that agents in network namespaces join: the API
/// server on every address, its certificate valid for [`NETNS_SERVER`].
pub const NETNS_UP_ARGS: [&str; 4] = ["--bind-address", "0.0.0.0", "--tls-san", NETNS_SERVER];

/// A `tug up` on 127.0.0.1 over a temp data dir.
pub struct Cluster {
    tug: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// The agent's HTTPS port (logs, exec, attach).
    agent_port: u16,
    /// The ingress's HTTP and HTTPS ports on 127.0.0.1 ([`Cluster::ingress_ports`]).
    ingress_ports: (u16, u16),
    process: Option<Child>,
    /// Agents joined with [`Cluster::join_agent`].
    agents: Vec<Child>,
    /// Network namespaces made by [`Cluster::join_agent_in_netns`].
    netns: Vec<String>,
    /// `tug up`'s extra arguments, for every start.
    args: Vec<String>,
    links_before: Vec<String>,
    _lock: File,
}

impl Cluster {
    /// Takes the machine-wide lock, loads `busybox:latest` and starts `tug up` with the
    /// `tug` binary at `tug` (a test passes `env!("CARGO_BIN_EXE_tug")`); returns once the
    /// node is Ready.
    pub fn up(tug: &str) -> Cluster {
        Self::up_with(tug, &[])
    }

    /// As [`Cluster::up`], with extra `tug up` arguments.
    pub fn up_with(tug: &str, args: &[&str]) -> Cluster {
        let lock = File::create(LOCK).expect("open the e2e lock");
        lock.lock().expect("take the e2e lock");
        let dir = tempfile::tempdir().expect("temp dir");
        let image = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/busybox-image.sh"))
            .arg(dir.path())
            .arg(tug)
            .output()
            .expect("busybox-image.sh runs");
        assert!(image.status.success(), "busybox image: {}", text(&image));
        let mut cluster = Cluster {
            tug: tug.into(),
            dir,
            port: free_port(),
            agent_port: free_port(),
            ingress_ports: (free_port(), free_port()),
            process: None,
            agents: Vec::new(),
            netns: Vec::new(),
            args: args.iter().map(|a| a.to_string()).collect(),
            links_before: links(),
            _lock: lock,
        };
        cluster.start();
        cluster
    }

    /// The data dir (`kubeconfig.yaml`, `up.log`, the store, the agent's state).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    /// The API server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The ingress's HTTP and HTTPS ports on 127.0.0.1 (`tug up` is started with
    /// `--ingress-http`/`--ingress-https` on free ports there, never the host's 80 and 443).
    pub fn ingress_ports(&self) -> (u16, u16) {
        self.ingress_ports
    }

    /// PID of the `tug up` process, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// Starts `tug up` again (after [`Cluster::stop`]) and waits for the node to be Ready.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("up.log"))
            .expect("log file");
        let mut command = Command::new(&self.tug);
        command.arg("up");
        if !self.args.iter().any(|a| a == "--bind-address") {
            command.args(["--bind-address", "127.0.0.1"]);
        }
        if !self.args.iter().any(|a| a.starts_with("--ingress") || a == "--disable-ingress") {
            let (http, https) = self.ingress_ports;
            command.args(["--ingress-http", &format!("127.0.0.1:{http}"), "--ingress-https", &format!("127.0.0.1:{https}")]);
        }
        let child = command
            .args(["--port", &self.port.to_string(), "--agent-port", &self.agent_port.to_string(), "--data-dir"])
            .arg(self.dir.path())
            .args(&self.args)
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
    pub fn stop(&mut self) {
        if let Some(child) = self.process.take() {
            interrupt(child);
        }
    }

    /// Runs kubectl against the cluster and returns what it did, success or not.
    pub fn kubectl_output(&self, args: &[&str]) -> Output {
        crate::run_with_kubeconfig(Path::new("kubectl"), &self.kubeconfig(), args)
    }

    /// Starts a second node: `tug agent --server … --token … --certificate-authority …` as
    /// node `name` (busybox loaded into its own image store, its data under this cluster's
    /// dir, its own agent port and bridge); returns once the node is Ready.
    pub fn join_agent(&mut self, name: &str) {
        self.spawn_agent(name, &format!("https://127.0.0.1:{}", self.port), None);
    }

    /// Starts a node in a network namespace of its own, as another host would be:
    /// `tug-<hex>`, linked to this host by a veth pair (10.99.k.1 here, 10.99.k.2 there,
    /// for the k-th such node) with its default route through here; the agent runs in it
    /// (`nsenter --net`), its node address 10.99.k.2, and reaches the API server at
    /// [`NETNS_SERVER`]. The cluster must serve there: start it with [`NETNS_UP_ARGS`].
    /// The namespace is deleted with the cluster.
    pub fn join_agent_in_netns(&mut self, name: &str) {
        let k = self.netns.len() + 1;
        let netns = format!("tug-{:08x}", std::process::id().rotate_left(8) ^ k as u32);
        let (host, there) = (format!("10.99.{k}.1"), format!("10.99.{k}.2"));
        let (host_link, netns_link) = (format!("{netns}h"), format!("{netns}n"));
        self.netns.push(netns.clone());
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip runs");
            assert!(out.status.success(), "ip {args:?}: {}", text(&out));
        };
        ip(&["netns", "add", &netns]);
        ip(&["link", "add", &host_link, "type", "veth", "peer", "name", &netns_link, "netns", &netns]);
        ip(&["addr", "add", &format!("{host}/30"), "dev", &host_link]);
        ip(&["link", "set", &host_link, "up"]);
        for args in [
            vec!["link", "set", "lo", "up"],
            vec!["addr", "add", &format!("{there}/30"), "dev", &netns_link],
            vec!["link", "set", &netns_link, "up"],
            vec!["route", "add", "default", "via", &host],
        ] {
            let mut all = vec!["netns", "exec", &netns, "ip"];
            all.extend(args);
            ip(&all);
        }
        // Forwarding on both ends (each namespace has its own settings).
        let forward = |link: &str| format!("echo 1 > /proc/sys/net/ipv4/conf/{link}/forwarding");
        for out in [
            Command::new("sh").args(["-c", &forward(&host_link)]).output(),
            Command::new("ip").args(["netns", "exec", &netns, "sh", "-c", &forward(&netns_link)]).output(),
        ] {
            let out = out.expect("sh runs");
            assert!(out.status.success(), "forwarding: {}", text(&out));
        }
        self.spawn_agent(name, &format!("https://{NETNS_SERVER}:{}", self.port), Some((&netns, &there)));
    }

    /// Stops the agents of [`Cluster::join_agent`] as Ctrl-C does (their containers stay);
    /// `join_agent` with the same name starts one again.
    pub fn stop_agents(&mut self) {
        for agent in std::mem::take(&mut self.agents) {
            interrupt(agent);
        }
    }

    /// `tug agent` as node `name` joining at `server`, in `netns` with node address
    /// `ip` if given; returns once the node is Ready.
    fn spawn_agent(&mut self, name: &str, server: &str, netns: Option<(&str, &str)>) {
        let dir = self.dir.path().join("agents").join(name);
        std::fs::create_dir_all(&dir).expect("agent dir");
        let image = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/busybox-image.sh"))
            .arg(&dir)
            .arg(&self.tug)
            .output()
            .expect("busybox-image.sh runs");
        assert!(image.status.success(), "busybox image: {}", text(&image));
        let token = std::fs::read_to_string(self.dir.path().join("token")).expect("the join token");
        let log = File::create(dir.join("agent.log")).expect("agent log");
        let mut command = match netns {
            // nsenter, not `ip netns exec`: that one mounts a /sys of its own, which hides
            // the cgroup hierarchies.
            Some((netns, _)) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{netns}")).arg(&self.tug);
                c
            }
            None => Command::new(&self.tug),
        };
        command
            .args(["agent", "--server", server, "--token", token.trim()])
            .arg("--certificate-authority")
            .arg(self.dir.path().join("tls").join("ca.crt"))
            .args(["--node-name", name, "--agent-port", &free_port().to_string(), "--data-dir"])
            .arg(&dir);
        if let Some((_, ip)) = netns {
            command.args(["--node-ip", ip]);
        }
        let child = command.stdout(Stdio::null()).stderr(log).spawn().expect("tug agent starts");
        self.agents.push(child);
        let ready = || {
            let node: Value = serde_json::from_slice(&self.kubectl_output(&["get", "node", name, "-o", "json"]).stdout).unwrap_or_default();
            node["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready() {
            if Instant::now() > deadline {
                let said = std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
                panic!("timed out waiting until node {name} is Ready; its agent said:\n{said}\ntug up said:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs kubectl against the cluster with `input` on its standard input.
    pub fn kubectl_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = Command::new("kubectl")
            .env("KUBECONFIG", self.kubeconfig())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input).expect("write kubectl's input");
        }
        child.wait_with_output().expect("kubectl ends")
    }

    /// Runs kubectl against the cluster; panics with its output, the cluster's pods and the
    /// tail of `tug up`'s log unless it succeeds.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_output(args);
        if !out.status.success() {
            let pods = self.kubectl_output(&["get", "pods", "-A", "-o", "wide"]);
            panic!("kubectl {args:?}: {}\npods:\n{}\ntug up said:\n{}", text(&out), text(&pods), self.log_tail());
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The last 80 lines of `tug up`'s log.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("up.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(80).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Runs `tug` with the cluster's kubeconfig; returns what it did, success or not.
    pub fn tug_output(&self, args: &[&str]) -> Output {
        crate::run_with_kubeconfig(&self.tug, &self.kubeconfig(), args)
    }

    /// `kubectl apply -f` of a YAML text.
    pub fn apply(&self, yaml: &str) {
        let file = self.dir.path().join("manifest.yaml");
        std::fs::write(&file, yaml).expect("write manifest");
        self.kubectl(&["apply", "-f", file.to_str().expect("utf-8 path")]);
    }

    /// `kubectl get KIND NAME -o json`, parsed.
    pub fn get(&self, kind: &str, name: &str) -> Value {
        serde_json::from_str(&self.kubectl(&["get", kind, name, "-o", "json"])).expect("object JSON")
    }

    /// `kubectl get KIND NAME -o json`, parsed, or `None` while it cannot be read (an
    /// object being deleted and made again).
    pub fn find(&self, kind: &str, name: &str) -> Option<Value> {
        let out = self.kubectl_output(&["get", kind, name, "-o", "json"]);
        out.status.success().then(|| serde_json::from_slice(&out.stdout).ok()).flatten()
    }

    /// The pod `name` in the default namespace.
    pub fn pod(&self, name: &str) -> Value {
        self.get("pod", name)
    }

    /// Runs a Python script with the official client configured for this cluster
    /// (`KUBECONFIG` set); panics with its output unless it exits 0. Returns its stdout.
    pub fn python(&self, script: &str) -> String {
        let out = Command::new("python3")
            .env("KUBECONFIG", self.kubeconfig())
            .args(["-c", script])
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "python script failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls `done` every 200 ms for up to `seconds`; panics naming `what` and showing
    /// `tug up`'s log when it never holds.
    pub fn eventually(&self, what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while !done() {
            if Instant::now() > deadline {
                panic!("timed out waiting until {what}; tug up said:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Processes of this cluster's pods: container supervisors (they name the data dir)
    /// and pod sandboxes (the `pod-sandbox` mode of this `tug`).
    pub fn own_processes(&self) -> Vec<i32> {
        let dir = self.dir.path().to_string_lossy().into_owned();
        let sandbox = format!("{}\0pod-sandbox", self.tug.display());
        let up = self.pid().map(|p| p as i32);
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| Some(*pid) != up && !self.agents.iter().any(|a| a.id() as i32 == *pid))
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains(&dir) || c.starts_with(&sandbox)
                })
            })
            .collect()
    }

    /// Mounts under the data dir.
    pub fn own_mounts(&self) -> Vec<String> {
        let dir = self.dir.path().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&dir))
            .map(str::to_string)
            .collect()
    }

    /// Network links that appeared since the cluster started.
    pub fn new_links(&self) -> Vec<String> {
        links().into_iter().filter(|l| !self.links_before.contains(l)).collect()
    }

    /// The names of the agents joined with [`Cluster::join_agent`] (each has a directory).
    fn agent_names(&self) -> Vec<String> {
        let dirs = std::fs::read_dir(self.dir.path().join("agents")).into_iter().flatten().flatten();
        dirs.filter_map(|e| e.file_name().to_str().map(str::to_string)).collect()
    }

    /// Pod cgroup directories (`pod<uid>`) anywhere under /sys/fs/cgroup.
    pub fn pod_cgroups(&self) -> String {
        let out = Command::new("find")
            .args(["/sys/fs/cgroup", "-maxdepth", "5", "-type", "d", "-name", "pod*"])
            .output()
            .expect("find runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut nodes = self.agent_names();
        if self.process.is_some() {
            let listed = self.kubectl_output(&["get", "nodes", "-o", "name"]);
            nodes.extend(String::from_utf8_lossy(&listed.stdout).lines().filter_map(|l| l.strip_prefix("node/")).map(str::to_string));
            // Controllers first, or they would start new pods as these go (and the pods'
            // containers would outlive the cluster); OAM Applications before the
            // Deployments they would apply again.
            let _ = self.kubectl_output(&["delete", "applications.core.oam.dev", "--all", "--all-namespaces", "--timeout=30s"]);
            let _ = self.kubectl_output(&[
                "delete",
                "cronjobs,jobs,daemonsets,statefulsets,deployments,replicasets",
                "--all",
                "--all-namespaces",
                "--cascade=orphan",
                "--timeout=30s",
            ]);
            let _ = self.kubectl_output(&["delete", "pods", "--all", "--all-namespaces", "--timeout=30s"]);
        }
        self.stop();
        self.stop_agents();
        // Its links, bridge, routes and nftables go with it.
        for netns in std::mem::take(&mut self.netns) {
            let _ = Command::new("ip").args(["netns", "del", &netns]).status();
        }
        for pid in self.own_processes() {
            // SAFETY: kill(2) on a container supervisor or sandbox this cluster started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // Containers whose supervisor went first (their init is reparented to PID 1).
        nodes.sort();
        nodes.dedup();
        for node in &nodes {
            remove_node_cgroups(node);
        }
        for mount in self.own_mounts().iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(mount).status();
        }
        // The node's bridge (`tug` + 8 hex digits) and the veths on it.
        for bridge in self.new_links().into_iter().filter(|l| is_node_bridge(l)) {
            for veth in links_on(&bridge) {
                let _ = Command::new("ip").args(["link", "del", &veth]).status();
            }
            let _ = Command::new("ip").args(["link", "del", &bridge]).status();
        }
        // The service proxy's nftables table (kube-proxy leaves its rules when it stops).
        let _ = Command::new("nft").args(["delete", "table", "ip", "tug"]).stderr(Stdio::null()).status();
    }
}

/// Ends a `tug` process this test started as Ctrl-C does, killing it after 10 s.
fn interrupt(mut child: Child) {
    // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills every process in node `node`'s cgroups (`tug/<node>` in each hierarchy, v1 or
/// v2) and removes them, deepest first.
fn remove_node_cgroups(node: &str) {
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup/tug").join(node)];
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        roots.push(hierarchy.path().join("tug").join(node));
    }
    for root in roots.into_iter().filter(|r| r.is_dir()) {
        let mut dirs = Vec::new();
        let mut pending = vec![root];
        while let Some(dir) = pending.pop() {
            pending.extend(std::fs::read_dir(&dir).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            dirs.push(dir);
        }
        for dir in &dirs {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: kill(2) on a process in a cgroup of this cluster's node.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        for dir in dirs.iter().rev() {
            // A killed process leaves its cgroup a moment later.
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn is_node_bridge(name: &str) -> bool {
    name.len() == 11 && name.starts_with("tug") && name[3..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Links whose master is `bridge`.
fn links_on(bridge: &str) -> Vec<String> {
    let out = Command::new("ip").args(["-o", "link", "show", "master", bridge]).output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .collect()
}

/// The host's network links, by name.
pub fn links() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Runs `program` with `KUBECONFIG` pointing at `kubeconfig`; what it did, success or not.
pub(crate) fn run_with_kubeconfig(program: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
}

/// The stdout of `out`; panics with its output unless it succeeded.
pub(crate) fn succeeded(program: &str, args: &[&str], out: &Output) -> String {
    assert!(out.status.success(), "{program} {args:?}: {}", text(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stdout and stderr of a finished command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// GET `path` from `ip:port`: the body if the answer is 200.
pub fn try_get(ip: &str, port: u16, path: &str) -> Option<String> {
    http_request(ip, port, "GET", path, b"").and_then(|(status, body)| (status == 200).then_some(body))
}

/// An HTTP/1.0 request with `body` (sent with its Content-Length unless empty): the
/// answer's status code and trimmed body, or None if the server did not answer.
pub fn http_request(ip: &str, port: u16, method: &str, path: &str, body: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect((ip, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {ip}\r\n").ok()?;
    if !body.is_empty() {
        write!(stream, "Content-Length: {}\r\n", body.len()).ok()?;
    }
    stream.write_all(b"\r\n").ok()?;
    stream.write_all(body).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.lines().next()?.split(' ').nth(1)?.parse().ok()?;
    Some((status, response.split("\r\n\r\n").nth(1).unwrap_or_default().trim().to_string()))
}

/// As [`try_get`], panicking unless the answer is 200.
pub fn http_get(ip: &str, port: u16, path: &str) -> String {
    try_get(ip, port, path).unwrap_or_else(|| panic!("GET http://{ip}:{port}{path} did not answer 200"))
}

/// Whether e2e tests can run here: root and Debian's static busybox. Outside CI a
/// machine without them skips (the caller returns); in CI it fails.
pub fn can_run_pods() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let busybox = Path::new("/bin/busybox").exists();
    if !(root && busybox) {
        assert!(std::env::var_os("CI").is_none(), "pod tests need root and busybox-static in CI");
        eprintln!("skipping: pod tests need root and /bin/busybox");
    }
    root && busybox
}
