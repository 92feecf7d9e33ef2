//! `tug token create|list|delete` and the join token of `tug server`, end to
//! end: a real `tug server` on a free port in a temporary data dir (removed
//! on drop with the server stopped by PID), tokens checked with kubectl.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(TUG)
            .args(["server", "--disable-scheduler", "--data-dir"])
            .arg(dir.path())
            .args(["--port", &port.to_string(), "--bind-address", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tug server starts");
        let server = Server { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(server.dir.path().join("token").exists()
            && server.tug(&["token", "list"]).status.success())
        {
            assert!(Instant::now() < deadline, "tug server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    fn tug(&self, args: &[&str]) -> Output {
        Command::new(TUG)
            .args(args)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .env_remove("KUBECONFIG")
            .output()
            .expect("tug runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.tug(args);
        assert!(
            out.status.success(),
            "tug {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl auth whoami` with only `token` (the cluster CA, no client certificate).
    fn whoami(&self, token: &str) -> Output {
        Command::new("kubectl")
            .args(["--kubeconfig", "/dev/null", "--server"])
            .arg(format!("https://127.0.0.1:{}", self.port))
            .arg("--certificate-authority")
            .arg(self.dir.path().join("tls/ca.crt"))
            .args(["--token", token, "auth", "whoami"])
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_join_token_authenticates_as_a_bootstrapper() {
    let server = Server::start();
    let token = std::fs::read_to_string(server.dir.path().join("token")).expect("token file");
    let token = token.trim();
    let out = server.whoami(token);
    let text = String::from_utf8_lossy(&out.stdout);
    let id = &token[..6];
    assert!(
        text.contains(&format!("system:bootstrap:{id}")),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("system:bootstrappers:tug:default-node-token"),
        "{text}"
    );
    let list = server.ok(&["token", "list"]);
    let row = list
        .lines()
        .find(|l| l.starts_with(token))
        .expect("the join token is listed");
    assert!(
        row.contains("<forever>") && row.contains("<never>"),
        "{row}"
    );
}

#[test]
fn created_tokens_are_listed_work_and_stop_when_deleted() {
    let server = Server::start();
    let token = server
        .ok(&[
            "token",
            "create",
            "--ttl",
            "2h",
            "--description",
            "for node-7",
            "--groups",
            "system:bootstrappers:workers",
        ])
        .trim()
        .to_string();
    let list = server.ok(&["token", "list"]);
    let header = list.lines().next().unwrap_or_default();
    for column in [
        "TOKEN",
        "TTL",
        "EXPIRES",
        "USAGES",
        "DESCRIPTION",
        "EXTRA GROUPS",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let row = list
        .lines()
        .find(|l| l.starts_with(&token))
        .expect("listed");
    assert!(row.contains("1h") || row.contains("2h"), "{row}");
    assert!(
        row.contains("authentication,signing")
            && row.contains("for node-7")
            && row.contains("system:bootstrappers:workers"),
        "{row}"
    );
    let out = server.whoami(&token);
    assert!(String::from_utf8_lossy(&out.stdout).contains("system:bootstrappers:workers"));

    let id = &token[..6];
    assert!(server.ok(&["token", "delete", id]).contains(id));
    assert!(!server.ok(&["token", "list"]).contains(&token));
    assert!(
        !server.whoami(&token).status.success(),
        "a deleted token still works"
    );

    let out = server.tug(&["token", "create", "--groups", "admins"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"admins\" is not valid"));
    let out = server.tug(&["token", "create", "--ttl", "3d"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --ttl"));
    let out = server.tug(&["token", "delete", "nope"]);
    assert!(!out.status.success());
}
