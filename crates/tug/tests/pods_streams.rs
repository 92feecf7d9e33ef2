//! A pod's streams through the API server and the node agent, with the real clients:
//! `kubectl logs` (`-c`, `--tail`, `--timestamps`, `--previous`, `-f`), `kubectl exec`
//! (exit codes, stderr, `-i` input, a terminal), `kubectl attach -i`, and the Python
//! client's `stream` exec and `portforward`, and `kubectl port-forward`. kubectl speaks
//! WebSocket (`v5.channel.k8s.io`) for exec and attach and SPDY for port-forward (raw, or
//! tunnelled in a WebSocket); the Python client `v4.channel.k8s.io`. Needs root (see
//! `pods.rs`).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use tug_testkit::{http_get, text, try_get, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: state, emptyDir: {}}]
  containers:
  - name: server
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir /www; echo forwarded > /www/index.html; httpd -p 8080 -h /www; echo first; sleep 0.2; echo to-stderr >&2; sleep 0.2; echo second; exec sleep 3600']
  - name: again
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'n=$(cat /state/n 2>/dev/null || echo 0); echo "attempt $n"; echo $((n+1)) > /state/n; [ $n -ge 1 ] && exec sleep 3600; exit 1']
    volumeMounts: [{name: state, mountPath: /state}]
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    stdin: true
    command: [sh, -c, 'echo ready; read line; echo "got $line"; for i in 1 2 3; do echo tick $i; sleep 0.3; done']
"#;

/// `kubectl port-forward pod/talk :PORT` running, and the local port it chose.
struct PortForward {
    child: Child,
    port: u16,
}

impl PortForward {
    fn start(node: &Cluster, websockets: &str, port: &str) -> PortForward {
        let mut child = Command::new("kubectl")
            .env("KUBECONFIG", node.kubeconfig())
            .env("PORT_FORWARD_WEBSOCKETS", websockets)
            .args(["port-forward", "--address", "127.0.0.1", "pod/talk", &format!(":{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        // Read on, so kubectl's "Handling connection" lines never meet a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        // "Forwarding from 127.0.0.1:40123 -> 8080"
        let local = line.split_whitespace().nth(2).and_then(|a| a.rsplit(':').next()).and_then(|p| p.parse().ok());
        let Some(local) = local else {
            let _ = child.kill();
            let out = child.wait_with_output().expect("kubectl ends");
            panic!("kubectl port-forward (PORT_FORWARD_WEBSOCKETS={websockets}) said {line:?}: {}", text(&out));
        };
        PortForward { child, port: local }
    }

    /// Ends kubectl; what it wrote to stderr.
    fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let mut said = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut said);
        }
        let _ = self.child.wait();
        said
    }
}

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn logs_exec_and_attach_reach_the_containers_through_the_api() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let node = Cluster::up(TUG);
    node.apply(PODS);
    node.kubectl(&["wait", "--for=condition=Ready", "pod/talk", "pod/reader", "--timeout=60s"]);

    // Logs: both streams, in order; the last line; timestamps.
    node.eventually("the server's output is logged", 10, || {
        out(&node.kubectl_output(&["logs", "talk", "-c", "server"])) == "first\nto-stderr\nsecond\n"
    });
    assert_eq!(node.kubectl(&["logs", "talk", "-c", "server", "--tail=1"]), "second\n");
    let stamped = node.kubectl(&["logs", "talk", "-c", "server", "--timestamps"]);
    let first = stamped.lines().next().unwrap_or_default();
    let (time, line) = first.split_once(' ').unwrap_or_default();
    assert!(time.parse::<k8s_openapi::jiff::Timestamp>().is_ok() && line == "first", "{stamped}");

    // Exec: stdout and stderr apart, the exit code passed on, input, a terminal.
    let run = node.kubectl_output(&["exec", "talk", "-c", "server", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!((out(&run), err(&run).contains("err"), run.status.code()), ("out\n".to_string(), true, Some(3)), "{}", text(&run));
    let cat = node.kubectl_with_input(&["exec", "-i", "talk", "-c", "server", "--", "sh", "-c", "cat; echo end"], b"hello\nworld\n");
    assert_eq!(out(&cat), "hello\nworld\nend\n", "{}", text(&cat));
    assert_eq!(node.kubectl(&["exec", "talk", "-c", "server", "--", "hostname"]), "talk\n");
    let missing = node.kubectl_output(&["exec", "talk", "-c", "nosuch", "--", "true"]);
    assert!(!missing.status.success() && err(&missing).contains("container nosuch is not valid for pod talk"), "{}", text(&missing));

    // Attach: the line typed reaches the running container; its output comes back until it ends.
    let attached = node.kubectl_with_input(&["attach", "-i", "reader", "-c", "c"], b"over\n");
    let said = out(&attached);
    assert!(said.contains("got over") && said.contains("tick 3"), "{}", text(&attached));

    // The Python client's exec (v4.channel.k8s.io), with a terminal and without.
    let python = node.python(
        r#"
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config()
v1 = client.CoreV1Api()
print(stream(v1.connect_get_namespaced_pod_exec, "talk", "default", container="server",
             command=["sh", "-c", "echo py-out; echo py-err >&2"], stderr=True, stdin=False, stdout=True, tty=False), end="")
r = stream(v1.connect_get_namespaced_pod_exec, "talk", "default", container="server",
           command=["sh", "-c", "[ -t 0 ] && echo terminal; exit 4"], stderr=True, stdin=False, stdout=True, tty=True,
           _preload_content=False)
r.run_forever(timeout=20)
print(r.read_stdout().strip(), r.returncode)
"#,
    );
    // stdout and stderr are separate pipes in the container: their order on the wire is not fixed.
    let mut lines: Vec<&str> = python.lines().collect();
    let head = 2.min(lines.len());
    lines[..head].sort_unstable();
    assert_eq!(lines, ["py-err", "py-out", "terminal 4"], "{python}");

    // The Python client's port-forward (WebSocket, v4.channel.k8s.io) to the pod's port 8080.
    let forwarded = node.python(
        r#"
from kubernetes import client, config
from kubernetes.stream import portforward
config.load_kube_config()
v1 = client.CoreV1Api()
pf = portforward(v1.connect_get_namespaced_pod_portforward, "talk", "default", ports="8080")
s = pf.socket(8080)
s.setblocking(True)
s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
s.close()
print(data.split(b"\r\n\r\n", 1)[1].decode(), end="")
"#,
    );
    assert_eq!(forwarded, "forwarded\n");

    // kubectl port-forward: SPDY tunnelled in a WebSocket (kubectl's way since 1.31), and
    // raw SPDY after `Upgrade: SPDY/3.1` (its fallback, PORT_FORWARD_WEBSOCKETS=false).
    // Several connections through one session, each an error and a data stream.
    for websockets in ["true", "false"] {
        let mut forward = PortForward::start(&node, websockets, "8080");
        for _ in 0..3 {
            assert_eq!(http_get("127.0.0.1", forward.port, "/index.html"), "forwarded", "websockets={websockets}");
        }
        forward.stop();
    }
    // Nothing listens on the pod's port 9: the connection is closed and kubectl tells why.
    let mut refused = PortForward::start(&node, "true", "9");
    assert_eq!(try_get("127.0.0.1", refused.port, "/"), None);
    let said = refused.stop();
    assert!(said.contains("error forwarding port 9 to pod default/talk"), "{said}");

    // The previous attempt's log, once the container has restarted.
    node.eventually("container again restarted", 40, || {
        node.pod("talk")["status"]["containerStatuses"][1]["restartCount"].as_i64() >= Some(1)
    });
    node.eventually("the current attempt logged", 10, || {
        out(&node.kubectl_output(&["logs", "talk", "-c", "again"])) == "attempt 1\n"
    });
    assert_eq!(node.kubectl(&["logs", "talk", "-c", "again", "--previous"]), "attempt 0\n");
    let none = node.kubectl_output(&["logs", "talk", "-c", "server", "--previous"]);
    assert!(err(&none).contains("previous terminated container \"server\" in pod \"talk\" not found"), "{}", text(&none));

    // Following a log ends when the container does.
    let followed = node.kubectl(&["logs", "-f", "reader"]);
    assert_eq!(followed, "ready\ngot over\ntick 1\ntick 2\ntick 3\n");
    node.kubectl(&["delete", "pods", "--all", "--timeout=60s"]);
}
