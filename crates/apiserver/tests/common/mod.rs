//! A real API server for tests: in-process, on 127.0.0.1 with an ephemeral
//! port, over a SQLite store in a temp data dir that is removed on drop.
//! Raw requests go through curl with the admin client certificate.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;

/// Changes a server's configuration before it starts (given its data dir; called on every
/// start and restart).
pub type Configure = Arc<dyn Fn(&Path, &mut tug_apiserver::Config) + Send + Sync>;

pub struct TestServer {
    runtime: Option<tokio::runtime::Runtime>,
    configure: Configure,
    pub store: Arc<tug_store::SqliteStore>,
    pub port: u16,
    /// Dropped last: removed once the server and store are gone.
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// A server without the ServiceAccount admission plugin (see `launch`).
    pub fn start() -> TestServer {
        TestServer::start_with(|_, _| {})
    }

    /// A server whose configuration `configure` changes (at every start and restart).
    pub fn start_with(
        configure: impl Fn(&Path, &mut tug_apiserver::Config) + Send + Sync + 'static,
    ) -> TestServer {
        let configure: Configure = Arc::new(configure);
        let dir = tempfile::tempdir().expect("temp dir");
        let (runtime, store, port) = launch(dir.path(), 0, &configure);
        TestServer {
            configure,
            runtime: Some(runtime),
            store,
            port,
            dir,
        }
    }

    /// Stops the server (every connection and watch ends, the store is
    /// closed) and starts it again on the same port over the same data dir.
    pub fn restart(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        }
        // Closes the store (its lock is released once the last handle is gone).
        let placeholder = Arc::new(open_store_retrying(&self.dir.path().join("placeholder")));
        drop(std::mem::replace(&mut self.store, placeholder));
        let (runtime, store, port) = launch(self.dir.path(), self.port, &self.configure);
        assert_eq!(port, self.port);
        self.runtime = Some(runtime);
        self.store = store;
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    /// Runs `tests/python/<script>` with this server's admin kubeconfig; it must exit 0 and
    /// print "ok" last (the official `kubernetes` client from PyPI, which CI installs).
    pub fn run_python_flows(&self, script: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script);
        let out = Command::new("python3")
            .arg(&path)
            .arg(self.kubeconfig())
            .output()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.trim_end().ends_with("ok"),
            "{script} failed (is the PyPI `kubernetes` package installed? `pip install kubernetes`):\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    fn tls(&self, file: &str) -> PathBuf {
        self.dir.path().join("tls").join(file)
    }

    /// kubectl with the admin kubeconfig; panics with its output if it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_output(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn kubectl_output(&self, args: &[&str]) -> Output {
        self.kubectl_command(args).output().expect("kubectl runs")
    }

    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", self.kubeconfig())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .args(args);
        cmd
    }

    /// A request with the admin client certificate: (HTTP code, body as JSON or as a string).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&Path>,
    ) -> (u16, Value) {
        self.request_as(method, path, content_type, body, true)
    }

    pub fn request_as(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&Path>,
        with_cert: bool,
    ) -> (u16, Value) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
            "-H",
            &format!("Content-Type: {content_type}"),
        ]);
        cmd.arg("--cacert").arg(self.tls("ca.crt"));
        if with_cert {
            cmd.arg("--cert")
                .arg(self.tls("admin.crt"))
                .arg("--key")
                .arg(self.tls("admin.key"));
        }
        if let Some(body) = body {
            cmd.arg("--data-binary").arg(format!("@{}", body.display()));
        }
        let out = cmd.arg(self.url(path)).output().expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let code = code.trim().parse().unwrap_or_else(|_| {
            panic!(
                "no HTTP code from curl: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let value = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
        (code, value)
    }

    /// Writes `contents` to a file in the data dir and returns its path.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }
}

/// Opens the store in `dir`, retrying while a store being closed still holds its lock.
fn open_store_retrying(dir: &Path) -> tug_store::SqliteStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match tug_store::SqliteStore::open(dir) {
            Ok(store) => return store,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("store: {e}"),
        }
    }
}

/// Starts a server over the store in `dir/db` on 127.0.0.1:`port` (0: any free port).
fn launch(
    dir: &Path,
    port: u16,
    configure: &Configure,
) -> (tokio::runtime::Runtime, Arc<tug_store::SqliteStore>, u16) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store = Arc::new(open_store_retrying(&dir.join("db")));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let server = loop {
        let mut config = tug_apiserver::Config::new(
            dir,
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            store.clone(),
        );
        // No controller makes the `default` ServiceAccounts pods would need here.
        config.disabled_admission_plugins = vec!["ServiceAccount".to_string()];
        configure(dir, &mut config);
        match runtime.block_on(tug_apiserver::start(config)) {
            Ok(server) => break server,
            // The old listener of a restart may take a moment to go.
            Err(e) if port != 0 && std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("server starts: {e}"),
        }
    };
    let port = server.addr().port();
    runtime.spawn(server.wait());
    (runtime, store, port)
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
