//! kubectl against the OpenAPI documents. A tiny plain-HTTP server in this test serves
//! discovery (written here from the registry; test-only), `/openapi/v2`, `/openapi/v3` and
//! the group/version documents, and a few objects; the real `/usr/bin/kubectl` (which picks
//! kubectl 1.33 from our `/version`) then explains fields, validates and applies manifests.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use tug_api::{Subresource, openapi, registry};

const KUBECTL: &str = "/usr/bin/kubectl";

#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Path with query.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    log: Vec<Request>,
    objects: HashMap<String, Value>,
    /// Documents to serve instead of the real ones, as a server that does not validate
    /// fields would publish them: (v2 JSON, v2 protobuf, v3 by path).
    legacy: Option<Legacy>,
}

/// (v2 JSON, v2 protobuf, v3 JSON by "apis/<group>/<version>" path).
type Legacy = (Vec<u8>, Vec<u8>, HashMap<String, Vec<u8>>);

struct Server {
    port: u16,
    state: Arc<Mutex<State>>,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let s = s.clone();
                if let Ok(stream) = stream {
                    std::thread::spawn(move || serve(stream, &s, port));
                }
            }
        });
        let dir = std::env::temp_dir().join(format!("tug-openapi-kubectl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("kubeconfig"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: t\n  context:\n    cluster: t\n    user: t\n    namespace: default\ncurrent-context: t\nusers:\n- name: t\n  user: {{}}\n"
            ),
        )
        .unwrap();
        Server { port, state, dir }
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(KUBECTL)
            .args(args)
            .env("KUBECONFIG", self.dir.join("kubeconfig"))
            .env("HOME", &self.dir)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        eprintln!("$ kubectl {}\n{stdout}{stderr}", args.join(" "));
        (out.status.success(), stdout, stderr)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    fn requests(&self) -> Vec<Request> {
        let log = self.state.lock().unwrap().log.clone();
        for r in &log {
            eprintln!("{} {} (Accept: {})", r.method, r.target, r.header("accept").unwrap_or("-"));
        }
        log
    }

    /// Serve documents without the `fieldValidation` parameter, as servers before
    /// Kubernetes 1.25 did, so that kubectl validates on the client.
    fn without_field_validation(&self) {
        fn strip(v: &mut Value) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::Array(params)) = m.get_mut("parameters") {
                        params.retain(|p| p["name"] != "fieldValidation");
                    }
                    m.values_mut().for_each(strip);
                }
                Value::Array(a) => a.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let mut v2 = openapi::v2().clone();
        strip(&mut v2["paths"]);
        let mut v3 = HashMap::new();
        for (g, vs) in registry::groups() {
            for v in vs {
                let mut doc = openapi::v3(g, v).unwrap().clone();
                strip(&mut doc["paths"]);
                let path = if g.is_empty() { format!("api/{v}") } else { format!("apis/{g}/{v}") };
                v3.insert(path, serde_json::to_vec(&doc).unwrap());
            }
        }
        self.state.lock().unwrap().legacy = Some((serde_json::to_vec(&v2).unwrap(), openapi::v2_to_protobuf(&v2), v3));
    }

    fn put_object(&self, path: &str, obj: Value) {
        self.state.lock().unwrap().objects.insert(path.to_string(), obj);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = self.port;
    }
}

fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if stream.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        stream.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    stream.read_exact(&mut body).ok()?;
    Some(Request { method, target, headers, body })
}

fn serve(stream: TcpStream, state: &Mutex<State>, port: u16) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(req) = read_request(&mut reader) {
        state.lock().unwrap().log.push(req.clone());
        let (code, body, content_type) = respond(&req, state, port);
        let reason = match code {
            200 => "OK",
            201 => "Created",
            404 => "Not Found",
            _ => "Error",
        };
        let head = format!("HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n", body.len());
        if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(&body)).is_err() {
            return;
        }
    }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn not_found(path: &str) -> (u16, Vec<u8>) {
    (404, json_bytes(&json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": format!("{path} not found"), "reason": "NotFound", "code": 404})))
}

fn respond(req: &Request, state: &Mutex<State>, port: u16) -> (u16, Vec<u8>, &'static str) {
    let path = req.path();
    if path == "/openapi/v2" && openapi::v2_accepts_protobuf(req.header("accept").unwrap_or("")) {
        let body = match &state.lock().unwrap().legacy {
            Some((_, pb, _)) => pb.clone(),
            None => openapi::v2_protobuf().to_vec(),
        };
        return (200, body, openapi::V2_PROTOBUF_MEDIA_TYPE);
    }
    if let Some((json, _, v3)) = &state.lock().unwrap().legacy {
        if path == "/openapi/v2" {
            return (200, json.clone(), "application/json");
        }
        if let Some(doc) = path.strip_prefix("/openapi/v3/").and_then(|p| v3.get(p)) {
            return (200, doc.clone(), "application/json");
        }
    }
    let (code, body) = respond_json(req, state, port);
    (code, body, "application/json")
}

fn respond_json(req: &Request, state: &Mutex<State>, port: u16) -> (u16, Vec<u8>) {
    let path = req.path();
    match path {
        "/version" => return (200, json_bytes(&json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "", "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"}))),
        "/api" => return (200, json_bytes(&json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{port}")}]}))),
        "/apis" => {
            let groups: Vec<Value> = registry::groups()
                .into_iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, vs)| {
                    let versions: Vec<Value> = vs.iter().map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v})).collect();
                    json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
                })
                .collect();
            return (200, json_bytes(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})));
        }
        "/openapi/v2" => return (200, openapi::v2_json().to_vec()),
        "/openapi/v3" => return (200, json_bytes(openapi::v3_index())),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/openapi/v3/") {
        return match openapi::v3_group_version(rest) {
            Some((g, v)) => (200, openapi::v3_json(g, v).unwrap().to_vec()),
            None => not_found(path),
        };
    }
    // Discovery of one group/version.
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let gv = match segments.as_slice() {
        ["api", v] => Some(("", *v)),
        ["apis", g, v] => Some((*g, *v)),
        _ => None,
    };
    if let Some((group, version)) = gv {
        let mut resources = Vec::new();
        for rt in registry::all().iter().filter(|t| t.group == group && t.version == version) {
            resources.push(json!({"name": rt.plural, "singularName": rt.singular(), "namespaced": rt.namespaced, "kind": rt.kind, "verbs": rt.verbs(), "shortNames": rt.short_names, "categories": rt.categories}));
            for sub in rt.subresources {
                let kind = if *sub == Subresource::Scale { "Scale" } else { rt.kind };
                resources.push(json!({"name": format!("{}/{}", rt.plural, sub.name()), "singularName": "", "namespaced": rt.namespaced, "kind": kind, "verbs": ["get", "patch", "update"]}));
            }
        }
        if resources.is_empty() {
            return not_found(path);
        }
        let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
        return (200, json_bytes(&json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})));
    }
    // Objects.
    let st = state.lock().unwrap();
    match req.method.as_str() {
        "GET" => match st.objects.get(path) {
            Some(o) => (200, json_bytes(o)),
            None => not_found(path),
        },
        "POST" => {
            let obj: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            (201, json_bytes(&obj))
        }
        "PATCH" | "PUT" => match st.objects.get(path) {
            Some(o) => (200, json_bytes(o)),
            None => not_found(path),
        },
        _ => not_found(path),
    }
}

fn kubectl_present() -> bool {
    if Path::new(KUBECTL).exists() {
        true
    } else {
        assert!(std::env::var_os("CI").is_none(), "{KUBECTL} is required in CI");
        eprintln!("skipping: {KUBECTL} not installed");
        false
    }
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 25%
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
          protocol: TCP
        env:
        - name: MODE
          value: production
        resources:
          limits:
            memory: 128Mi
            cpu: 500m
";

#[test]
fn kubectl_explains_fields_from_openapi_v3() {
    if !kubectl_present() {
        return;
    }
    let server = Server::start("explain");
    let (ok, out, err) = server.kubectl(&["explain", "deployment.spec.strategy"]);
    assert!(ok, "explain failed: {err}");
    assert!(out.contains("GROUP:      apps"), "{out}");
    assert!(out.contains("KIND:       Deployment"), "{out}");
    assert!(out.contains("VERSION:    v1"), "{out}");
    assert!(out.contains("FIELD: strategy <DeploymentStrategy>"), "{out}");
    assert!(out.contains("The deployment strategy to use to replace existing pods with new ones."), "{out}");
    assert!(out.contains("rollingUpdate\t<RollingUpdateDeployment>"), "{out}");
    assert!(out.contains("type\t<string>"), "{out}");

    let (ok, out, err) = server.kubectl(&["explain", "pods.spec.containers.ports"]);
    assert!(ok, "explain failed: {err}");
    assert!(out.contains("KIND:       Pod"), "{out}");
    assert!(out.contains("FIELD: ports <[]ContainerPort>"), "{out}");
    assert!(out.contains("containerPort\t<integer> -required-"), "{out}");
    assert!(out.contains("protocol\t<string>"), "{out}");

    // Recursive explain walks every nested ref; a short name resolves through discovery.
    let (ok, out, err) = server.kubectl(&["explain", "deploy.spec.template.spec.volumes", "--recursive"]);
    assert!(ok, "explain failed: {err}");
    assert!(out.contains("persistentVolumeClaim\t<PersistentVolumeClaimVolumeSource>"), "{out}");
    let (ok, out, err) = server.kubectl(&["explain", "hpa.spec.metrics", "--api-version=autoscaling/v2"]);
    assert!(ok, "explain failed: {err}");
    assert!(out.contains("VERSION:    v2"), "{out}");
    // The recursive JSON schema of custom resource definitions.
    let (ok, out, err) = server.kubectl(&["explain", "crd.spec.versions.schema.openAPIV3Schema.properties"]);
    assert!(ok, "explain failed: {err}");
    assert!(out.contains("FIELD: properties <map[string]JSONSchemaProps>"), "{out}");
    assert!(out.contains("x-kubernetes-preserve-unknown-fields\t<boolean>"), "{out}");

    // kubectl read the index and the group/version documents, never Swagger 2.0.
    let paths: Vec<String> = server.requests().iter().map(|r| r.path().to_string()).collect();
    assert!(paths.iter().any(|p| p == "/openapi/v3"), "{paths:?}");
    assert!(paths.iter().any(|p| p == "/openapi/v3/apis/apps/v1"), "{paths:?}");
    assert!(paths.iter().any(|p| p == "/openapi/v3/api/v1"), "{paths:?}");
    assert!(!paths.iter().any(|p| p == "/openapi/v2"), "{paths:?}");

    // The Swagger 2.0 form (protocol buffers, as client-go asks for it) explains the same.
    let (ok, out, err) = server.kubectl(&["explain", "deployment.spec.strategy", "--output=plaintext-openapiv2"]);
    assert!(ok, "explain failed: {err}");
    assert!(out.contains("RESOURCE: strategy <Object>"), "{out}");
    assert!(out.contains("rollingUpdate\t<Object>"), "{out}");
    let (ok, out, err) = server.kubectl(&["explain", "pods.spec.containers.ports", "--output=plaintext-openapiv2"]);
    assert!(ok, "explain failed: {err}");
    assert!(out.contains("containerPort\t<integer> -required-"), "{out}");
}

#[test]
fn kubectl_validates_on_the_client_from_swagger_2_when_the_server_does_not() {
    if !kubectl_present() {
        return;
    }
    let server = Server::start("client-validate");
    server.without_field_validation();
    let good = server.file("good.yaml", DEPLOYMENT);
    let (ok, out, err) = server.kubectl(&["apply", "--dry-run=client", "--validate=strict", "-f", &good]);
    assert!(ok, "apply failed: {err}");
    assert!(out.contains("deployment.apps/web created (dry run)"), "{out}");
    let v2 = server.requests().into_iter().find(|r| r.path() == "/openapi/v2").expect("kubectl fetched /openapi/v2");
    assert!(openapi::v2_accepts_protobuf(v2.header("accept").unwrap()));

    // A misspelled field, a wrong type, a missing required field: each named.
    let bad = server.file("bad.yaml", &DEPLOYMENT.replace("  replicas: 2", "  replicaz: 2"));
    let (ok, _, err) = server.kubectl(&["apply", "--dry-run=client", "--validate=strict", "-f", &bad]);
    assert!(!ok);
    assert!(err.contains("ValidationError(Deployment.spec): unknown field \"replicaz\" in io.k8s.api.apps.v1.DeploymentSpec"), "{err}");
    let bad = server.file("bad2.yaml", &DEPLOYMENT.replace("  replicas: 2", "  replicas: two"));
    let (ok, _, err) = server.kubectl(&["apply", "--dry-run=client", "--validate=strict", "-f", &bad]);
    assert!(!ok);
    assert!(err.contains("spec.replicas"), "{err}");
    let bad = server.file("bad3.yaml", &DEPLOYMENT.replace("        - containerPort: 80\n", "        - hostPort: 80\n"));
    let (ok, _, err) = server.kubectl(&["apply", "--dry-run=client", "--validate=strict", "-f", &bad]);
    assert!(!ok);
    assert!(err.contains("missing required field \"containerPort\""), "{err}");
    // Int-or-string and quantities take either form.
    let both = server.file("both.yaml", &DEPLOYMENT.replace("maxSurge: 1", "maxSurge: 10%").replace("cpu: 500m", "cpu: 1"));
    let (ok, _, err) = server.kubectl(&["apply", "--dry-run=client", "--validate=strict", "-f", &both]);
    assert!(ok, "apply failed: {err}");
}

#[test]
fn kubectl_apply_validates_against_the_server_advertised_field_validation() {
    if !kubectl_present() {
        return;
    }
    let server = Server::start("validate");
    let good = server.file("good.yaml", DEPLOYMENT);
    let (ok, out, err) = server.kubectl(&["apply", "--dry-run=client", "--validate=strict", "-f", &good]);
    assert!(ok, "apply failed: {err}");
    assert!(out.contains("deployment.apps/web created (dry run)"), "{out}");
    // kubectl asked the v3 document whether the server validates fields (the PATCH
    // operation's `fieldValidation` parameter) and, since it does, did not fetch Swagger 2.0
    // for client-side validation.
    let paths: Vec<String> = server.requests().iter().map(|r| r.path().to_string()).collect();
    assert!(paths.iter().any(|p| p == "/openapi/v3/apis/apps/v1"), "{paths:?}");
    assert!(!paths.iter().any(|p| p == "/openapi/v2"), "{paths:?}");

    // With the server doing validation, a misspelled field is the server's to reject:
    // kubectl 1.33 validates nothing itself (so a client-side dry run passes) and sends
    // fieldValidation=Strict with the request.
    let bad = server.file("bad.yaml", &DEPLOYMENT.replace("  replicas: 2", "  replicaz: 2"));
    let (ok, out, err) = server.kubectl(&["apply", "--dry-run=client", "--validate=strict", "-f", &bad]);
    assert!(ok, "apply failed: {err}");
    assert!(out.contains("deployment.apps/web created (dry run)"), "{out}");
    let (ok, _, err) = server.kubectl(&["apply", "--dry-run=server", "--validate=strict", "-f", &bad]);
    assert!(ok, "apply failed: {err}");
    let post = server.requests().into_iter().find(|r| r.method == "POST").expect("kubectl created the object");
    assert_eq!(post.path(), "/apis/apps/v1/namespaces/default/deployments");
    assert!(post.target.contains("fieldValidation=Strict"), "{}", post.target);
    assert!(post.target.contains("dryRun=All"), "{}", post.target);
    assert!(String::from_utf8_lossy(&post.body).contains("replicaz"));
}

#[test]
fn kubectl_apply_computes_strategic_merge_patches_from_openapi_v3() {
    if !kubectl_present() {
        return;
    }
    let server = Server::start("patch");
    // The live object, as last applied from DEPLOYMENT.
    let original: Value = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                "ports": [{"containerPort": 80, "protocol": "TCP"}], "env": [{"name": "MODE", "value": "production"}],
                "resources": {"limits": {"memory": "128Mi", "cpu": "500m"}}}]}}},
    });
    let mut live = original.clone();
    live["metadata"]["namespace"] = json!("default");
    live["metadata"]["resourceVersion"] = json!("7");
    live["metadata"]["uid"] = json!("0b0e2a6c-5f55-4b8e-9a57-7d3ad0b3a3c1");
    live["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration": serde_json::to_string(&original).unwrap()});
    server.put_object("/apis/apps/v1/namespaces/default/deployments/web", live);

    // A new image, one more env var, one more port.
    let changed = DEPLOYMENT.replace("nginx:1.27", "nginx:1.28").replace(
        "        - name: MODE\n          value: production\n",
        "        - name: MODE\n          value: production\n        - name: LOG\n          value: debug\n",
    ).replace("        - containerPort: 80\n          protocol: TCP\n", "        - containerPort: 80\n          protocol: TCP\n        - containerPort: 443\n          protocol: TCP\n");
    let file = server.file("changed.yaml", &changed);
    let (ok, out, err) = server.kubectl(&["apply", "--validate=strict", "-f", &file]);
    assert!(ok, "apply failed: {err}");
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    assert!(!err.contains("warning"), "{err}");

    let requests = server.requests();
    let patch = requests.iter().find(|r| r.method == "PATCH").expect("kubectl patched");
    assert_eq!(patch.header("content-type"), Some("application/strategic-merge-patch+json"));
    let body: Value = serde_json::from_slice(&patch.body).unwrap();
    let spec = &body["spec"]["template"]["spec"];
    // Lists merged by their keys: the patch names the container by "name", orders by it,
    // and carries only the changed entries.
    assert_eq!(spec["$setElementOrder/containers"], json!([{"name": "web"}]), "{body}");
    let container = &spec["containers"][0];
    assert_eq!(container["name"], "web", "{body}");
    assert_eq!(container["image"], "nginx:1.28", "{body}");
    assert_eq!(container["$setElementOrder/env"], json!([{"name": "MODE"}, {"name": "LOG"}]), "{body}");
    assert_eq!(container["env"], json!([{"name": "LOG", "value": "debug"}]), "{body}");
    assert_eq!(container["$setElementOrder/ports"], json!([{"containerPort": 80}, {"containerPort": 443}]), "{body}");
    // The patch came from the v3 document (v2 was never fetched, so kubectl did not fall
    // back to it).
    let paths: Vec<&str> = requests.iter().map(|r| r.path()).collect();
    assert!(paths.contains(&"/openapi/v3/apis/apps/v1"), "{paths:?}");
    assert!(!paths.contains(&"/openapi/v2"), "{paths:?}");
}
