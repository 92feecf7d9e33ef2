//! Authentication end to end, with kubectl and curl against a real server:
//! static tokens, bootstrap tokens, ServiceAccount tokens (TokenRequest and
//! legacy Secrets), TokenReview, `kubectl auth whoami`, impersonation,
//! anonymous requests, and the bad credentials that must all be a plain 401.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::TestServer;
use serde_json::{json, Value};
use tug_apiserver::authn::{bootstrap, jwt::SigningKey};

const TOKENS: &str =
    "# static tokens\nalice-token,alice,uid-alice,\"dev,ops\"\nbob-token,bob,uid-bob\n";

fn server() -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tokens.csv");
    std::fs::write(&file, TOKENS).expect("write token file");
    // The file is read once, at start; its directory goes when this returns.
    TestServer::start_with(move |_, config| {
        config.token_auth_file = Some(file.clone());
    })
}

/// A kubeconfig that authenticates with `token` only (no client certificate).
fn token_kubeconfig(server: &TestServer, token: &str) -> PathBuf {
    let ca = std::fs::read(server.dir.path().join("tls/ca.crt")).expect("ca.crt");
    let name = format!("token-{}.yaml", uuid_like(token));
    server.file(
        &name,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tug\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {}\ncontexts:\n- name: tug\n  context:\n    cluster: tug\n    user: u\ncurrent-context: tug\nusers:\n- name: u\n  user:\n    token: {token}\n",
            server.port,
            STANDARD.encode(ca)
        ),
    )
}

/// A file-name-safe stand-in for a token.
fn uuid_like(token: &str) -> String {
    let digest = token.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    format!("{digest:016x}")
}

fn kubectl_with_token(server: &TestServer, token: &str, args: &[&str]) -> Output {
    Command::new("kubectl")
        .env("KUBECONFIG", token_kubeconfig(server, token))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .args(args)
        .output()
        .expect("kubectl runs")
}

/// `kubectl auth whoami -o json` as `token`: the SelfSubjectReview's userInfo.
fn whoami(server: &TestServer, token: &str) -> Value {
    let out = kubectl_with_token(server, token, &["auth", "whoami", "-o", "json"]);
    assert!(
        out.status.success(),
        "whoami failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let review: Value = serde_json::from_slice(&out.stdout).expect("whoami prints JSON");
    review["status"]["userInfo"].clone()
}

/// A GET with `Authorization: <authorization>` and no client certificate.
fn get_with(server: &TestServer, authorization: &str, path: &str) -> (u16, String) {
    let header = server.file("header.txt", format!("Authorization: {authorization}"));
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
        .arg(server.dir.path().join("tls/ca.crt"))
        .arg("-H")
        .arg(format!("@{}", header.display()))
        .arg(server.url(path))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The request is refused with the plain 401 Status, and the body does not echo `secret`.
fn assert_unauthorized(server: &TestServer, token: &str, what: &str) {
    let (code, body) = get_with(
        server,
        &format!("Bearer {token}"),
        "/api/v1/namespaces/default/pods",
    );
    assert_eq!(code, 401, "{what}: {body}");
    let status: Value = serde_json::from_str(&body).expect("a Status");
    assert_eq!(
        (
            status["kind"].as_str(),
            status["reason"].as_str(),
            status["message"].as_str()
        ),
        (Some("Status"), Some("Unauthorized"), Some("Unauthorized")),
        "{what}"
    );
    if token.len() > 8 {
        assert!(!body.contains(token), "{what}: the token was echoed");
    }
}

fn create_token(server: &TestServer, args: &[&str]) -> String {
    let mut all = vec!["create", "token"];
    all.extend_from_slice(args);
    server.kubectl(&all).trim().to_string()
}

#[test]
fn static_tokens_authenticate_with_uid_and_groups() {
    let server = server();
    let alice = whoami(&server, "alice-token");
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["uid"], "uid-alice");
    assert_eq!(
        alice["groups"],
        json!(["dev", "ops", "system:authenticated"])
    );
    let bob = whoami(&server, "bob-token");
    assert_eq!(bob["groups"], json!(["system:authenticated"]));
    let out = kubectl_with_token(&server, "nobody-token", &["get", "pods"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Unauthorized") || stderr.contains("provide credentials"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("nobody-token"),
        "the token was echoed: {stderr}"
    );
}

#[test]
fn a_bad_token_file_stops_the_server_naming_line_and_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tokens.csv");
    std::fs::write(&file, "good,alice,u1\nsecret-value,bob\n").expect("write");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store =
        std::sync::Arc::new(tug_store::SqliteStore::open(dir.path().join("db")).expect("store"));
    let mut config = tug_apiserver::Config::new(dir.path(), ([127, 0, 0, 1], 0).into(), store);
    config.token_auth_file = Some(file);
    let Err(e) = runtime.block_on(tug_apiserver::start(config)) else {
        panic!("the server started with a bad token file")
    };
    let message = e.to_string();
    assert!(
        message.contains("line 2") && message.contains("field 3 (uid)"),
        "{message}"
    );
    assert!(
        !message.contains("secret-value"),
        "the token leaked: {message}"
    );
}

#[test]
fn bootstrap_tokens_authenticate_until_expired_or_deleted() {
    let server = server();
    let token = bootstrap::generate_token();
    let (id, _) = bootstrap::parse_token(&token).expect("well-formed");
    let groups = vec!["system:bootstrappers:workers".to_string()];
    let secret = bootstrap::token_secret(&token, Some(3600), Some("e2e"), &groups).expect("secret");
    let file = server.file("bootstrap.json", secret.to_string());
    server.kubectl(&["create", "-f", file.to_str().expect("utf-8")]);
    let user = whoami(&server, &token);
    assert_eq!(user["username"], format!("system:bootstrap:{id}"));
    assert_eq!(
        user["groups"],
        json!([
            "system:bootstrappers",
            "system:bootstrappers:workers",
            "system:authenticated"
        ])
    );

    // Expired: the same Secret with an expiration in the past.
    let past = STANDARD.encode("2020-01-01T00:00:00Z");
    let patch = json!({"data": {"expiration": past}}).to_string();
    let name = format!("bootstrap-token-{id}");
    server.kubectl(&[
        "-n",
        "kube-system",
        "patch",
        "secret",
        &name,
        "--type",
        "merge",
        "-p",
        &patch,
    ]);
    assert_unauthorized(&server, &token, "an expired bootstrap token");

    // A wrong secret for a real id, and a deleted token.
    let other = format!("{id}.0000000000000000");
    assert_unauthorized(&server, &other, "a bootstrap token with the wrong secret");
    server.kubectl(&["-n", "kube-system", "delete", "secret", &name]);
    assert_unauthorized(&server, &token, "a deleted bootstrap token");
}

#[test]
fn kubectl_create_token_gives_a_serviceaccount_user() {
    let server = server();
    server.kubectl(&["create", "namespace", "team"]);
    server.kubectl(&["-n", "team", "create", "serviceaccount", "bot"]);
    let token = create_token(&server, &["-n", "team", "bot"]);
    let user = whoami(&server, &token);
    assert_eq!(user["username"], "system:serviceaccount:team:bot");
    assert_eq!(
        user["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:team",
            "system:authenticated"
        ])
    );
    let sa: Value =
        serde_json::from_str(&server.kubectl(&["-n", "team", "get", "sa", "bot", "-o", "json"]))
            .expect("json");
    assert_eq!(user["uid"], sa["metadata"]["uid"]);

    // The claims are Kubernetes' and the key is the one OIDC discovery publishes.
    let claims = claims_of(&token);
    assert_eq!(
        claims["iss"],
        "https://kubernetes.default.svc.cluster.local"
    );
    assert_eq!(claims["sub"], "system:serviceaccount:team:bot");
    assert_eq!(claims["kubernetes.io"]["serviceaccount"]["name"], "bot");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    let discovery: Value = serde_json::from_str(&server.kubectl(&[
        "get",
        "--raw",
        "/.well-known/openid-configuration",
    ]))
    .expect("json");
    assert_eq!(discovery["issuer"], claims["iss"]);
    let jwks: Value =
        serde_json::from_str(&server.kubectl(&["get", "--raw", "/openid/v1/jwks"])).expect("json");
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
    assert_eq!(header["alg"], "ES256");
    // A ServiceAccount may read the discovery documents with its own token (to verify
    // other tokens), as `system:service-account-issuer-discovery` grants.
    for path in ["/.well-known/openid-configuration", "/openid/v1/jwks"] {
        let (code, body) = get_with(&server, &format!("Bearer {token}"), path);
        assert_eq!(code, 200, "{path}: {body}");
    }

    // Deleting the ServiceAccount ends its tokens.
    server.kubectl(&["-n", "team", "delete", "sa", "bot"]);
    assert_unauthorized(&server, &token, "the token of a deleted ServiceAccount");
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("json")
}

#[test]
fn token_requests_honour_duration_audience_and_bound_pods() {
    let server = server();
    server.kubectl(&["create", "serviceaccount", "bot"]);
    let token = create_token(&server, &["bot", "--duration", "20m"]);
    let claims = claims_of(&token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1200
    );

    let out = server.kubectl_output(&["create", "token", "bot", "--duration", "5m"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("spec.expirationSeconds") && stderr.contains("10 minutes"),
        "{stderr}"
    );

    // A token for another audience is not good for the API, but TokenReview confirms it for that audience.
    let vault = create_token(&server, &["bot", "--audience", "vault"]);
    assert_unauthorized(&server, &vault, "a token for another audience");
    let review = token_review(&server, &vault, &["vault"]);
    assert_eq!(review["status"]["authenticated"], true, "{review}");
    assert_eq!(
        review["status"]["user"]["username"],
        "system:serviceaccount:default:bot"
    );
    assert_eq!(review["status"]["audiences"], json!(["vault"]));
    assert!(
        !review["status"].to_string().contains(&vault),
        "the token was echoed: {review}"
    );

    // Bound to a pod: valid while that pod exists.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let file = server.file("pod.json", pod.to_string());
    server.kubectl(&["create", "-f", file.to_str().unwrap()]);
    let bound = create_token(
        &server,
        &[
            "bot",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "web",
        ],
    );
    let user = whoami(&server, &bound);
    assert_eq!(
        user["extra"]["authentication.kubernetes.io/pod-name"],
        json!(["web"])
    );
    server.kubectl(&["delete", "pod", "web", "--wait=false"]);
    assert_unauthorized(&server, &bound, "a token bound to a deleted pod");
    let out = server.kubectl_output(&[
        "create",
        "token",
        "bot",
        "--bound-object-kind",
        "Pod",
        "--bound-object-name",
        "web",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pods \"web\" not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Bound to a Secret: valid while that Secret exists.
    server.kubectl(&[
        "create",
        "secret",
        "generic",
        "anchor",
        "--from-literal=k=v",
    ]);
    let bound = create_token(
        &server,
        &[
            "bot",
            "--bound-object-kind",
            "Secret",
            "--bound-object-name",
            "anchor",
        ],
    );
    assert_eq!(
        claims_of(&bound)["kubernetes.io"]["secret"]["name"],
        "anchor"
    );
    assert_eq!(
        whoami(&server, &bound)["username"],
        "system:serviceaccount:default:bot"
    );
    server.kubectl(&["delete", "secret", "anchor"]);
    assert_unauthorized(&server, &bound, "a token bound to a deleted Secret");
    let out = server.kubectl_output(&["create", "token", "nobody"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("serviceaccounts \"nobody\" not found"));
}

/// A TokenReview of `token` for `audiences`, created by the admin.
fn token_review(server: &TestServer, token: &str, audiences: &[&str]) -> Value {
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"token": token, "audiences": audiences}});
    let file = server.file("review.json", review.to_string());
    let (code, body) = server.request(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        "application/json",
        Some(&file),
    );
    assert_eq!(code, 201, "{body}");
    body
}

#[test]
fn token_review_answers_for_every_kind_of_token() {
    let server = server();
    let review = token_review(&server, "alice-token", &[]);
    assert_eq!(review["status"]["authenticated"], true);
    assert_eq!(review["status"]["user"]["username"], "alice");
    assert_eq!(
        review["status"]["audiences"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    let review = token_review(&server, "garbage-token-value", &[]);
    assert_eq!(review["status"]["authenticated"], false);
    assert!(review["status"]["error"].is_string());
    assert!(
        !review["status"].to_string().contains("garbage-token-value"),
        "{review}"
    );
    let file = server.file(
        "empty-review.json",
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {}})
            .to_string(),
    );
    let (code, body) = server.request(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        "application/json",
        Some(&file),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("spec.token"));
}

#[test]
fn legacy_token_secrets_are_filled_and_die_with_their_secret() {
    let server = server();
    server.kubectl(&["create", "serviceaccount", "ci"]);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "ci-token", "annotations": {"kubernetes.io/service-account.name": "ci"}}});
    let file = server.file("legacy.json", secret.to_string());
    server.kubectl(&["create", "-f", file.to_str().unwrap()]);
    let stored: Value =
        serde_json::from_str(&server.kubectl(&["get", "secret", "ci-token", "-o", "json"]))
            .expect("json");
    let field = |f: &str| {
        String::from_utf8(
            STANDARD
                .decode(stored["data"][f].as_str().unwrap_or_default())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(field("namespace"), "default");
    assert!(field("ca.crt").starts_with("-----BEGIN CERTIFICATE-----"));
    let token = field("token");
    assert_eq!(claims_of(&token)["iss"], "kubernetes/serviceaccount");
    assert_eq!(
        whoami(&server, &token)["username"],
        "system:serviceaccount:default:ci"
    );
    server.kubectl(&["delete", "secret", "ci-token"]);
    assert_unauthorized(&server, &token, "the token of a deleted Secret");

    // A second token Secret of the same ServiceAccount dies with the ServiceAccount.
    let again = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "ci-token-2", "annotations": {"kubernetes.io/service-account.name": "ci"}}});
    let file = server.file("legacy2.json", again.to_string());
    server.kubectl(&["create", "-f", file.to_str().unwrap()]);
    let encoded = server.kubectl(&[
        "get",
        "secret",
        "ci-token-2",
        "-o",
        "jsonpath={.data.token}",
    ]);
    let token = String::from_utf8(STANDARD.decode(encoded.trim()).expect("base64")).expect("utf-8");
    assert_eq!(
        whoami(&server, &token)["username"],
        "system:serviceaccount:default:ci"
    );
    server.kubectl(&["delete", "serviceaccount", "ci"]);
    assert_unauthorized(
        &server,
        &token,
        "the legacy token of a deleted ServiceAccount",
    );

    let orphan = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "orphan"}});
    let file = server.file("orphan.json", orphan.to_string());
    let out = server.kubectl_output(&["create", "-f", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("metadata.annotations[kubernetes.io/service-account.name]"),
        "{stderr}"
    );
}

#[test]
fn impersonation_shows_in_whoami() {
    let server = server();
    let out = server.kubectl(&[
        "--as",
        "jane",
        "--as-group",
        "dev",
        "auth",
        "whoami",
        "-o",
        "json",
    ]);
    let review: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(review["status"]["userInfo"]["username"], "jane");
    assert_eq!(
        review["status"]["userInfo"]["groups"],
        json!(["dev", "system:authenticated"])
    );
    let out = server.kubectl(&[
        "--as",
        "system:serviceaccount:kube-system:builder",
        "auth",
        "whoami",
        "-o",
        "json",
    ]);
    let review: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        review["status"]["userInfo"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:kube-system",
            "system:authenticated"
        ])
    );
    let out = server.kubectl_output(&["--as-group", "dev", "auth", "whoami"]);
    assert!(!out.status.success());

    // A user without the `impersonate` verb (no role grants it to alice) is refused.
    let out = kubectl_with_token(
        &server,
        "alice-token",
        &[
            "--as",
            "admin",
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("User \"alice\" cannot impersonate resource \"users\""),
        "{stderr}"
    );
}

#[test]
fn anonymous_requests_are_forbidden_or_refused_when_disabled() {
    let closed = TestServer::start_with(|_, config| config.anonymous_auth = false);
    let (code, _) = closed.request_as("GET", "/api/v1/namespaces", "application/json", None, false);
    assert_eq!(code, 401);
    let open = server();
    let file = open.file(
        "ssr.json",
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).to_string(),
    );
    let (code, body) = open.request_as(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        "application/json",
        Some(&file),
        false,
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("User \"system:anonymous\" cannot create resource \"selfsubjectreviews\""),
        "{body}"
    );
    // Bad credentials are still refused, not served as anonymous.
    assert_unauthorized(&open, "not-a-token-at-all", "garbage with anonymous on");
    for token in ["not-a-token-at-all".to_string(), "A".repeat(20_000)] {
        let review = token_review(&open, &token, &[]);
        assert_eq!(
            review["status"]["authenticated"], false,
            "{}",
            review["status"]
        );
    }
}

#[test]
fn forged_expired_and_malformed_credentials_are_401() {
    let server = server();
    server.kubectl(&["create", "serviceaccount", "bot"]);
    let good = create_token(&server, &["bot"]);
    let parts: Vec<&str> = good.split('.').collect();

    // alg none, and an HMAC "signed" with nothing.
    for alg in ["none", "HS256"] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
        assert_unauthorized(&server, &format!("{header}.{}.", parts[1]), alg);
    }
    // Tampered payload: another ServiceAccount's name under the original signature.
    let mut claims = claims_of(&good);
    claims["sub"] = json!("system:serviceaccount:kube-system:admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_unauthorized(&server, &forged, "a tampered payload");
    // Signed by another key.
    let other = tempfile::tempdir().expect("temp dir");
    let wrong_key = SigningKey::load_or_create(other.path()).expect("key");
    assert_unauthorized(
        &server,
        &wrong_key.sign(&claims_of(&good)).unwrap(),
        "another key",
    );
    // Signed by the server's own key, but expired.
    let key = SigningKey::load_or_create(&server.dir.path().join("tls")).expect("server key");
    let mut expired = claims_of(&good);
    expired["exp"] = json!(1_600_000_000);
    assert_unauthorized(&server, &key.sign(&expired).unwrap(), "an expired token");
    let mut unbound = claims_of(&good);
    unbound["kubernetes.io"]["serviceaccount"]["uid"] =
        json!("00000000-0000-0000-0000-000000000000");
    assert_unauthorized(
        &server,
        &key.sign(&unbound).unwrap(),
        "a token for a recreated ServiceAccount",
    );
    // Garbage of every shape.
    for garbage in [
        "x",
        "a.b.c",
        "....",
        "eyJ.eyJ.eyJ",
        &"A".repeat(10_000),
        "abcdef.0123456789abcdef",
    ] {
        assert_unauthorized(&server, garbage, "garbage");
    }
    // Past the HTTP layer's header limit: refused there, with 431 or by closing the stream.
    let (code, body) = get_with(&server, &format!("Bearer {}", "A".repeat(20_000)), "/api");
    assert!(
        code == 431 || code == 401,
        "an oversized header got {code}: {body}"
    );
    let (code, body) = get_with(&server, &format!("Bearer {}", "A".repeat(200_000)), "/api");
    assert!(
        matches!(code, 0 | 401 | 431),
        "a huge header got {code}: {body}"
    );
    // The server is still serving.
    assert_eq!(
        whoami(&server, &good)["username"],
        "system:serviceaccount:default:bot"
    );
}

#[test]
fn untrusted_and_expired_client_certificates_are_401() {
    let server = server();
    let dir = server.dir.path();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Self-signed, claiming to be the admin.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "rogue.key",
        "-out",
        "rogue.crt",
        "-days",
        "1",
        "-subj",
        "/CN=admin/O=system:masters",
    ]);
    // Signed by the cluster CA but already expired.
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "old.key",
        "-out",
        "old.csr",
        "-subj",
        "/CN=old/O=system:masters",
    ]);
    let ext = server.file("client.ext", "extendedKeyUsage=clientAuth\n");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "old.csr",
        "-CA",
        "tls/ca.crt",
        "-CAkey",
        "tls/ca.key",
        "-out",
        "old.crt",
        "-days",
        "-1",
        "-extfile",
        ext.to_str().unwrap(),
    ]);
    for (cert, key) in [("rogue.crt", "rogue.key"), ("old.crt", "old.key")] {
        let out = Command::new("curl")
            .current_dir(dir)
            .args([
                "-sS",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "--cacert",
                "tls/ca.crt",
                "--cert",
                cert,
                "--key",
                key,
            ])
            .arg(server.url("/api/v1/namespaces"))
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.ends_with("\n401"),
            "{cert}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("\"reason\":\"Unauthorized\""),
            "{cert}: {text}"
        );
    }
    assert_eq!(
        server
            .request("GET", "/api/v1/namespaces", "application/json", None)
            .0,
        200
    );
}

#[test]
fn python_client_uses_a_token_from_the_token_request_api() {
    let server = server();
    server.run_python_flows("authn_flows.py");
}
