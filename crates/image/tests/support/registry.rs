//! A real registry for tests: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1 with its storage in a temporary directory, optionally behind htpasswd
//! Basic auth; and a small token-auth proxy that puts the Bearer flow in front of it.
//!
//! Each [`Registry`] is its own process, killed (by PID) and waited for when dropped;
//! its temporary directory goes with it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running `docker-registry`.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:<port>`
    pub addr: String,
    dir: tempfile::TempDir,
}

/// Says why the registry tests cannot run here; fails under CI (where the packages
/// must be installed), skips otherwise.
pub fn unavailable(what: &str) -> Option<Registry> {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required under CI");
    }
    eprintln!("{what} not installed: registry test skipped");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// A registry without authentication.
    pub fn start() -> Option<Registry> {
        Registry::start_with(None)
    }

    /// A registry requiring Basic auth for `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Option<Registry> {
        Registry::start_with(Some((user, password)))
    }

    fn start_with(htpasswd: Option<(&str, &str)>) -> Option<Registry> {
        if !Path::new(REGISTRY_BIN).exists() {
            return unavailable("docker-registry (apt-get install docker-registry)");
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut auth = String::new();
        if let Some((user, password)) = htpasswd {
            let out = match Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
            {
                Ok(o) => o,
                Err(_) => return unavailable("htpasswd (apt-get install apache2-utils)"),
            };
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: tug-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            );
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let registry = Registry { child, addr, dir };
        registry.wait_ready();
        Some(registry)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("registry did not start:\n{}", self.log());
    }

    /// Everything the registry logged so far (access log lines included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Access-log lines for requests with this method whose path starts with `prefix`.
    pub fn requests(&self, method: &str, prefix: &str) -> Vec<String> {
        let needle = format!("\"{method} {prefix}");
        self.log()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_string)
            .collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A proxy that demands Bearer tokens, hands them out at `/token` for Basic
/// credentials, and forwards authorized requests to a registry. Tokens carry their
/// scopes, so the proxy can check that a push asked for `pull,push` and a mount for
/// `pull` on the source repository. It can also corrupt blob downloads.
pub struct TokenProxy {
    pub addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Every request line seen, with the scopes of its token.
    pub seen: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
pub struct ProxyOptions {
    pub upstream: String,
    pub user: String,
    pub password: String,
    /// Flip a byte in every blob download.
    pub corrupt_blobs: bool,
}

impl TokenProxy {
    pub fn start(options: ProxyOptions) -> TokenProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen, addr) = (stop.clone(), seen.clone(), addr.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            conn.set_nonblocking(false).unwrap();
                            let (o, s, a) = (options.clone(), seen.clone(), addr.clone());
                            std::thread::spawn(move || {
                                let _ = serve(conn, &o, &s, &a);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        TokenProxy {
            addr,
            stop,
            thread: Some(thread),
            seen,
        }
    }
}

impl Drop for TokenProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(r: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
    }))
}

fn respond(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    conn.write_all(out.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve(
    mut conn: TcpStream,
    o: &ProxyOptions,
    seen: &Mutex<Vec<String>>,
    addr: &str,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let Some(req) = read_request(&mut reader)? else {
        return Ok(());
    };
    if let Some(query) = req.target.strip_prefix("/token?") {
        let expected = format!("Basic {}", base64(&format!("{}:{}", o.user, o.password)));
        if req.header("authorization") != Some(expected.as_str()) {
            return respond(
                &mut conn,
                "401 Unauthorized",
                &[],
                b"{\"details\":\"bad credentials\"}",
            );
        }
        let scopes: Vec<String> = query
            .split('&')
            .filter_map(|kv| kv.strip_prefix("scope="))
            .map(percent_decode)
            .collect();
        let token = format!("tok|{}", scopes.join("|"));
        let body = serde_json::json!({ "token": token, "expires_in": 300 }).to_string();
        return respond(
            &mut conn,
            "200 OK",
            &[("Content-Type", "application/json".into())],
            body.as_bytes(),
        );
    }
    // The repository a /v2/<repo>/(blobs|manifests)/... request is for.
    let path = req.target.split('?').next().unwrap_or("");
    let repo = path.strip_prefix("/v2/").and_then(|p| {
        ["/blobs/", "/manifests/"]
            .iter()
            .filter_map(|k| p.find(k))
            .min()
            .map(|i| p[..i].to_string())
    });
    let token = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer tok|"))
        .map(|t| t.split('|').map(str::to_string).collect::<Vec<_>>());
    let write = !matches!(req.method.as_str(), "GET" | "HEAD");
    let needed = repo
        .as_ref()
        .map(|r| (r.clone(), if write { "push" } else { "pull" }));
    let mount_from = req
        .target
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("from=")))
        .map(percent_decode);
    // Does the token hold `repository:<repo>:<...action...>`?
    let covers = |t: &[String], repo: &str, action: &str| {
        t.iter().any(|s| {
            s.strip_prefix("repository:")
                .and_then(|rest| rest.rsplit_once(':'))
                .is_some_and(|(r, actions)| r == repo && actions.split(',').any(|a| a == action))
        })
    };
    let allowed = match (&token, &needed) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(t), Some((repo, action))) => {
            covers(t, repo, action) && mount_from.as_ref().is_none_or(|f| covers(t, f, "pull"))
        }
    };
    let needed = needed.map(|(r, a)| {
        if a == "push" {
            format!("repository:{r}:pull,push")
        } else {
            format!("repository:{r}:pull")
        }
    });
    seen.lock().unwrap().push(format!(
        "{} {} {}",
        req.method,
        req.target,
        token.as_ref().map(|t| t.join(" ")).unwrap_or_default()
    ));
    if !allowed {
        let scope = needed
            .map(|n| format!(",scope=\"{n}\""))
            .unwrap_or_default();
        return respond(
            &mut conn,
            "401 Unauthorized",
            &[(
                "WWW-Authenticate",
                format!("Bearer realm=\"http://{addr}/token\",service=\"tug-test\"{scope}"),
            )],
            b"{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
        );
    }
    // Forward to the registry, one request per connection.
    let mut up = TcpStream::connect(&o.upstream)?;
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (n, v) in &req.headers {
        if ["authorization", "connection", "content-length"]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h))
        {
            continue;
        }
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        req.body.len()
    ));
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    if o.corrupt_blobs && req.method == "GET" && path.contains("/blobs/") {
        if let Some(i) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            if let Some(b) = response.get_mut(i + 4 + 10) {
                *b ^= 0xff;
            }
        }
    }
    conn.write_all(&response)?;
    conn.flush()
}

/// Where the skopeo binary is, if installed.
pub fn skopeo() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/skopeo");
    p.exists().then_some(p)
}
