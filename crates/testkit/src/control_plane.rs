//! [`ControlPlane`]: `tug server` alone (store, API server and controllers; no scheduler
//! and no node), for end-to-end tests of clients that need objects but no running pods.
//! Unlike a [`crate::Cluster`] it takes no machine-wide lock: it owns no host network.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, text};

/// A `tug server` on 127.0.0.1 over a temp data dir, stopped (by PID) on drop.
pub struct ControlPlane {
    tug: PathBuf,
    dir: tempfile::TempDir,
    process: Child,
}

impl ControlPlane {
    /// Starts `tug server --disable-scheduler` with the `tug` binary at `tug` and waits
    /// until the API answers.
    pub fn start(tug: &str) -> ControlPlane {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let process = Command::new(tug)
            .args([
                "server",
                "--disable-scheduler",
                "--bind-address",
                "127.0.0.1",
                "--port",
            ])
            .arg(free_port().to_string())
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("tug server starts");
        let cp = ControlPlane {
            tug: tug.into(),
            dir,
            process,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(cp.kubeconfig().exists()
            && cp
                .kubectl_output(&["get", "--raw", "/readyz"])
                .status
                .success())
        {
            assert!(
                Instant::now() < deadline,
                "tug server did not come up: {}",
                cp.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        cp
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs kubectl against the server, success or not.
    pub fn kubectl_output(&self, args: &[&str]) -> Output {
        crate::run_with_kubeconfig(Path::new("kubectl"), &self.kubeconfig(), args)
    }

    /// Runs kubectl; panics with its output unless it succeeds.
    pub fn kubectl(&self, args: &[&str]) -> String {
        crate::succeeded("kubectl", args, &self.kubectl_output(args))
    }

    /// Runs `tug` with the server's kubeconfig, success or not.
    pub fn tug_output(&self, args: &[&str]) -> Output {
        crate::run_with_kubeconfig(&self.tug, &self.kubeconfig(), args)
    }

    /// Runs `tug`; panics with its output unless it succeeds. Returns stdout.
    pub fn tug(&self, args: &[&str]) -> String {
        crate::succeeded("tug", args, &self.tug_output(args))
    }

    /// Runs a Python script with `KUBECONFIG` set; panics unless it exits 0. Returns stdout.
    pub fn python(&self, script: &str) -> String {
        let out = Command::new("python3")
            .env("KUBECONFIG", self.kubeconfig())
            .args(["-c", script])
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "python script failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
        unsafe { libc::kill(self.process.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.process.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
