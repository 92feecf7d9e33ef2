//! The actions probes and lifecycle hooks run against a container, as kubelet runs
//! them: `exec` (a command in the container through `tug runtime exec`, success is
//! exit code 0), `httpGet` (a GET to the pod's address, success is a status from 200
//! to 399), `tcpSocket` (a connection opens), `sleep` (hooks only). Each ends within
//! its timeout; a failure carries kubelet's wording.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ExecAction, HTTPGetAction, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where an action runs: the container's runtime id and the pod's address.
pub struct Target<'a> {
    pub exe: &'a std::path::Path,
    pub runtime_root: PathBuf,
    pub id: String,
    pub pod_ip: String,
    pub container: &'a Container,
}

/// One action of a probe or hook.
pub enum Action<'a> {
    Exec(&'a ExecAction),
    HttpGet(&'a HTTPGetAction),
    TcpSocket(&'a TCPSocketAction),
    Sleep(i64),
    /// A handler kubelet knows and this agent does not run (gRPC), or none at all.
    Unsupported(&'static str),
}

/// Why an action did not succeed.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// It ran and failed (kubelet's "probe failed: …").
    Failed(String),
    /// It could not be run as specified (kubelet's "probe errored: …": a port name the
    /// container does not have, an unsupported handler); a probe's state is left as it was.
    Errored(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Failed(m) | Failure::Errored(m) => m,
        }
    }
}

/// Runs the action; a failure carries kubelet's message.
pub async fn run(action: &Action<'_>, target: &Target<'_>, timeout: Duration) -> Result<(), Failure> {
    let result = match action {
        Action::Exec(exec) => run_exec(exec, target, timeout).await,
        Action::HttpGet(get) => {
            let port = port(&get.port, target.container).map_err(Failure::Errored)?;
            http_get(get, port, target, timeout).await
        }
        Action::TcpSocket(tcp) => {
            let port = port(&tcp.port, target.container).map_err(Failure::Errored)?;
            let host = tcp.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| target.pod_ip.clone());
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host.as_str(), port))).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("dial tcp {host}:{port}: connect: {}", plain(&e))),
                Err(_) => Err(format!("dial tcp {host}:{port}: i/o timeout")),
            }
        }
        Action::Sleep(seconds) => {
            tokio::time::sleep(Duration::from_secs((*seconds).max(0) as u64)).await;
            Ok(())
        }
        Action::Unsupported(what) => return Err(Failure::Errored(format!("{what} is not supported by this node"))),
    };
    result.map_err(Failure::Failed)
}

/// An I/O error's message without the Rust-specific `(os error N)` tail.
fn plain(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_lowercase()
}

/// A probe's port: a number, or the name of one of the container's ports.
fn port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) if (1..=65535).contains(n) => Ok(*n as u16),
        IntOrString::Int(n) => Err(format!("invalid port number: {n}")),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port as u16)
            .ok_or_else(|| format!("couldn't find port: {name} in container {}", container.name)),
    }
}

async fn run_exec(exec: &ExecAction, target: &Target<'_>, timeout: Duration) -> Result<(), String> {
    let command = exec.command.clone().unwrap_or_default();
    if command.is_empty() {
        return Err("the exec action has no command".into());
    }
    let mut process = tokio::process::Command::new(target.exe);
    process
        .arg("runtime")
        .arg("--root")
        .arg(&target.runtime_root)
        .arg("exec")
        .arg(&target.id)
        .arg("--")
        .args(&command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(timeout, process.output()).await {
        Err(_) => Err(format!("command {command:?} timed out")),
        Ok(Err(e)) => Err(format!("failed to run {command:?}: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
            said.push_str(&String::from_utf8_lossy(&out.stderr));
            match said.trim() {
                "" => Err(format!("command {command:?} exited with {}", out.status.code().unwrap_or(-1))),
                text => Err(text.to_string()),
            }
        }
    }
}

async fn http_get(get: &HTTPGetAction, port: u16, target: &Target<'_>, timeout: Duration) -> Result<(), String> {
    let host = get.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| target.pod_ip.clone());
    let path = get.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
    let path = if path.starts_with('/') { path } else { format!("/{path}") };
    let url = format!("http://{host}:{port}{path}");
    if get.scheme.as_deref().is_some_and(|s| !s.eq_ignore_ascii_case("HTTP")) {
        return Err(format!("Get \"{url}\": scheme {} is not supported by this node", get.scheme.as_deref().unwrap_or_default()));
    }
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("Get \"{url}\": dial tcp {host}:{port}: connect: {}", plain(&e)))?;
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n");
        for header in get.http_headers.iter().flatten() {
            request.push_str(&format!("{}: {}\r\n", header.name, header.value));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("Get \"{url}\": {}", plain(&e)))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buf).await.map_err(|e| format!("Get \"{url}\": {}", plain(&e)))?;
            if n == 0 {
                return Err(format!("Get \"{url}\": EOF"));
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let code: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("Get \"{url}\": malformed HTTP response"))?;
        if (200..400).contains(&code) {
            Ok(())
        } else {
            Err(format!("HTTP probe failed with statuscode: {code}"))
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!("Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> Container {
        serde_json::from_value(serde_json::json!({"name": "c", "ports": [{"name": "web", "containerPort": 8080}]})).unwrap()
    }

    #[test]
    fn named_ports_are_looked_up() {
        let c = container();
        assert_eq!(port(&IntOrString::String("web".into()), &c), Ok(8080));
        assert_eq!(port(&IntOrString::String("db".into()), &c), Err("couldn't find port: db in container c".into()));
        assert_eq!(port(&IntOrString::Int(0), &c), Err("invalid port number: 0".into()));
    }

    #[tokio::test]
    async fn http_and_tcp_checks_against_a_real_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut codes = ["200 OK", "503 Service Unavailable"].into_iter();
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let code = codes.next().unwrap_or("200 OK");
                let _ = s.write_all(format!("HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n").as_bytes()).await;
            }
        });
        let c = container();
        let target = Target { exe: std::path::Path::new("/bin/false"), runtime_root: PathBuf::new(), id: String::new(), pod_ip: "127.0.0.1".into(), container: &c };
        let get: HTTPGetAction = serde_json::from_value(serde_json::json!({"port": port, "path": "/healthz"})).unwrap();
        let second = Duration::from_secs(1);
        assert_eq!(run(&Action::HttpGet(&get), &target, second).await, Ok(()));
        assert_eq!(run(&Action::HttpGet(&get), &target, second).await, Err(Failure::Failed("HTTP probe failed with statuscode: 503".into())));
        let tcp: TCPSocketAction = serde_json::from_value(serde_json::json!({"port": port})).unwrap();
        assert_eq!(run(&Action::TcpSocket(&tcp), &target, second).await, Ok(()));
    }
}
