//! The built-in ingress controller on a real node: two busybox httpd Services behind one
//! Ingress with two hosts, two paths and a wildcard host, reached with curl from the host
//! through the ingress's HTTP and HTTPS ports (free ports on 127.0.0.1, set by
//! tug-testkit); TLS from a `kubernetes.io/tls` Secret chosen by SNI; `X-Forwarded-*`
//! headers as a CGI script sees them; a dead endpoint skipped; a route to a missing
//! Service answering 503 with a Warning Event; the route table following Ingress edits;
//! an `Upgrade` passed through to a busybox `nc` endpoint that echoes. Needs root, `nft`
//! (the service proxy's rules) and curl.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tug_testkit::{text, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

/// Two httpd pods, `one` and `two`, answering `/who` and `/api/who` with their name and
/// `/cgi-bin/env` with their CGI environment; `dead` is a ready pod of Service `one` with
/// nothing listening (connections to it are refused).
const BACKENDS: &str = r##"
apiVersion: v1
kind: Pod
metadata: {name: one, labels: {app: one}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www/api /www/cgi-bin && echo one > /www/who && echo one > /www/api/who && printf "#!/bin/sh\necho Content-Type: text/plain\necho\nenv\n" > /www/cgi-bin/env && chmod +x /www/cgi-bin/env && exec httpd -f -p 8080 -h /www']
---
apiVersion: v1
kind: Pod
metadata: {name: dead, labels: {app: one}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox:latest, imagePullPolicy: Never, command: [sleep, '3600']}]
---
apiVersion: v1
kind: Pod
metadata: {name: two, labels: {app: two}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www/api && echo two > /www/who && echo two > /www/api/who && exec httpd -f -p 8080 -h /www']
---
apiVersion: v1
kind: Service
metadata: {name: one}
spec:
  selector: {app: one}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: two}
spec:
  selector: {app: two}
  ports: [{name: web, port: 8000, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site}
spec:
  tls: [{hosts: [a.test], secretName: a-tls}]
  rules:
  - host: a.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: one, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: two, port: {name: web}}}}
      - {path: /missing, pathType: Exact, backend: {service: {name: nope, port: {number: 80}}}}
  - host: b.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: two, port: {number: 8000}}}}
  - host: '*.wild.test'
    http:
      paths:
      - {path: /, pathType: ImplementationSpecific, backend: {service: {name: one, port: {number: 80}}}}
"##;

/// An endpoint that answers any request with `101 Switching Protocols` and then echoes
/// what it reads (busybox nc running a script per connection).
const ECHO: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: echo}
data:
  up.sh: |
    while read -r line; do
      case "$line" in ""|$(printf '\r')) break ;; esac
    done
    printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n'
    exec cat
---
apiVersion: v1
kind: Pod
metadata: {name: echo, labels: {app: echo}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: s, configMap: {name: echo}}]
  containers:
  - name: nc
    image: busybox:latest
    imagePullPolicy: Never
    command: [nc, -ll, -p, '8080', -e, sh, /s/up.sh]
    volumeMounts: [{name: s, mountPath: /s}]
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: echo}
spec:
  ingressClassName: tug
  rules:
  - host: echo.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}
"#;

/// Whether the tools these tests drive exist (skips outside CI when not).
fn has_tools() -> bool {
    let found = ["nft", "curl"].iter().all(|t| Command::new(t).arg("--version").output().is_ok());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "ingress tests need nft and curl (apt nftables curl) in CI");
        eprintln!("skipping: ingress tests need nft and curl");
    }
    found
}

/// `curl` to `host` (resolved to 127.0.0.1) at `port`, `scheme://host:port/path`: the
/// status code and the body, or curl's exit code and message when it failed.
fn curl(scheme: &str, host: &str, port: u16, path: &str, extra: &[&str]) -> (u16, String) {
    let url = format!("{scheme}://{host}:{port}{path}");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--resolve", &format!("{host}:{port}:127.0.0.1"), "-w", "\n%{http_code}"])
        .args(extra)
        .arg(&url)
        .output()
        .expect("curl runs");
    if !out.status.success() {
        return (0, format!("curl exit {:?}: {}", out.status.code(), text(&out)));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (body, code) = stdout.rsplit_once('\n').unwrap_or_default();
    (code.trim().parse().unwrap_or_default(), body.trim().to_string())
}

/// A CA, and a certificate for `host` it signed: (CA PEM, certificate PEM, key PEM).
fn certificate(host: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "ingress test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

#[test]
fn ingress_routes_hosts_and_paths_to_services_with_tls_by_sni() {
    if !tug_testkit::can_run_pods() || !has_tools() {
        return;
    }
    let cluster = Cluster::up(TUG);
    let (http, https) = cluster.ingress_ports();

    // The class is made at start and is the default: the Ingress names none.
    let class = cluster.get("ingressclass", "tug");
    assert_eq!(class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"], "true", "{class}");

    let (ca, cert, key) = certificate("a.test");
    let files = cluster.dir().join("ingress-test");
    std::fs::create_dir_all(&files).unwrap();
    for (name, pem) in [("ca.pem", &ca), ("tls.crt", &cert), ("tls.key", &key)] {
        std::fs::write(files.join(name), pem).unwrap();
    }
    let path = |name: &str| files.join(name).to_string_lossy().into_owned();
    cluster.kubectl(&["create", "secret", "tls", "a-tls", "--cert", &path("tls.crt"), "--key", &path("tls.key")]);
    cluster.apply(BACKENDS);

    // Two hosts, two paths, a wildcard host; port by number and by name.
    cluster.eventually("a.test/api/who answers from two", 90, || curl("http", "a.test", http, "/api/who", &[]) == (200, "two".into()));
    cluster.eventually("a.test/who answers from one", 30, || curl("http", "a.test", http, "/who", &[]) == (200, "one".into()));
    assert_eq!(curl("http", "b.test", http, "/who", &[]), (200, "two".into()));
    assert_eq!(curl("http", "x.wild.test", http, "/who", &[]), (200, "one".into()));
    let (code, body) = curl("http", "nothing.test", http, "/who", &[]);
    assert_eq!(code, 404, "{body}");

    // Service `one` has a ready endpoint that refuses connections: every request still gets
    // the live one (the dead one is skipped, not answered with an error).
    let endpoints = cluster.kubectl(&["get", "endpoints", "one", "-o", "jsonpath={.subsets[*].addresses[*].ip}"]);
    assert_eq!(endpoints.split_whitespace().count(), 2, "both pods of one are ready endpoints: {endpoints}");
    for _ in 0..6 {
        assert_eq!(curl("http", "a.test", http, "/who", &[]), (200, "one".into()));
    }

    // The headers the endpoint sees.
    let (code, env) = curl("http", "a.test", http, "/cgi-bin/env", &["-H", "X-Forwarded-For: 6.6.6.6"]);
    assert_eq!(code, 200, "{env}");
    for line in ["HTTP_X_FORWARDED_FOR=127.0.0.1", "HTTP_X_FORWARDED_PROTO=http", &format!("HTTP_X_FORWARDED_HOST=a.test:{http}"), &format!("HTTP_X_FORWARDED_PORT={http}")] {
        assert!(env.lines().any(|l| l == line), "endpoint's environment lacks {line}:\n{env}");
    }

    // TLS: a.test gets the Secret's certificate (verified against its CA); b.test, which no
    // TLS section names, the controller's own, which that CA does not sign.
    let tls = ["--cacert", &path("ca.pem")];
    cluster.eventually("a.test answers over TLS with the secret's certificate", 30, || curl("https", "a.test", https, "/who", &tls) == (200, "one".into()));
    let (_, env) = curl("https", "a.test", https, "/cgi-bin/env", &tls);
    assert!(env.lines().any(|l| l == "HTTP_X_FORWARDED_PROTO=https"), "{env}");
    let (code, message) = curl("https", "b.test", https, "/who", &tls);
    assert_eq!(code, 0, "b.test must not be served with a.test's certificate: {message}");
    assert_eq!(curl("https", "b.test", https, "/who", &["-k"]), (200, "two".into()));

    // The route to a missing Service answers 503 naming it, and the Ingress has a Warning.
    let (code, body) = curl("http", "a.test", http, "/missing", &[]);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("service \"default/nope\" not found"), "{body}");
    cluster.eventually("a ServiceNotFound event names the missing service", 30, || {
        let events: Value = serde_json::from_str(&cluster.kubectl(&["get", "events", "-o", "json"])).unwrap_or_default();
        events["items"].as_array().into_iter().flatten().any(|e| {
            e["involvedObject"]["kind"] == "Ingress"
                && e["involvedObject"]["name"] == "site"
                && e["reason"] == "ServiceNotFound"
                && e["message"].as_str().is_some_and(|m| m.contains("default/nope"))
        })
    });

    // The node's address in the Ingress's status.
    cluster.eventually("the Ingress's status has the node's address", 30, || {
        cluster.get("ingress", "site")["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().is_some_and(|ip| !ip.is_empty())
    });

    // The route table follows edits: /api moves to Service one.
    cluster.kubectl(&[
        "patch",
        "ingress",
        "site",
        "--type=json",
        "-p",
        r#"[{"op": "replace", "path": "/spec/rules/0/http/paths/1/backend", "value": {"service": {"name": "one", "port": {"number": 80}}}}]"#,
    ]);
    cluster.eventually("a.test/api/who answers from one after the edit", 30, || curl("http", "a.test", http, "/api/who", &[]) == (200, "one".into()));
}

#[test]
fn ingress_passes_an_upgraded_connection_through() {
    if !tug_testkit::can_run_pods() || !has_tools() {
        return;
    }
    let cluster = Cluster::up(TUG);
    let (http, _) = cluster.ingress_ports();
    cluster.apply(ECHO);
    let exchange = || -> Result<String, String> {
        let mut stream = TcpStream::connect(("127.0.0.1", http)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        write!(stream, "GET /chat HTTP/1.1\r\nHost: echo.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut byte).map_err(|e| format!("read the answer: {e}"))?;
            if n == 0 {
                return Err(format!("closed after {:?}", String::from_utf8_lossy(&head)));
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(head);
        }
        // Now a byte pipe to the endpoint, which echoes.
        stream.write_all(b"ping over the upgrade\n").map_err(|e| e.to_string())?;
        let mut echoed = vec![0u8; 22];
        stream.read_exact(&mut echoed).map_err(|e| format!("read the echo: {e}"))?;
        Ok(String::from_utf8_lossy(&echoed).into_owned())
    };
    let mut last = Err(String::new());
    cluster.eventually("an upgraded connection echoes through the ingress", 90, || {
        last = exchange();
        last.is_ok()
    });
    assert_eq!(last, Ok("ping over the upgrade\n".to_string()));
}
