//! Authorization end to end: users with client certificates issued by the
//! cluster CA (as `tug kubeconfig --user` issues them) run real kubectl and the
//! Python `kubernetes` client against RBAC, escalation checks, access reviews
//! and the Node authorizer.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::TestServer;

/// A kubeconfig for `user` in `groups`, with a certificate signed by the server's CA.
fn user_kubeconfig(server: &TestServer, user: &str, groups: &[&str]) -> PathBuf {
    let pki = tug_apiserver::tls::Pki::load_or_create(server.dir.path()).expect("pki");
    let text = pki
        .user_kubeconfig(&server.url(""), user, groups)
        .expect("user kubeconfig");
    server.file(&format!("{}.kubeconfig", user.replace(':', "-")), text)
}

fn kubectl_with(kubeconfig: &PathBuf, args: &[&str]) -> Output {
    Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .args(args)
        .output()
        .expect("kubectl runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Applies a manifest as admin.
fn apply(server: &TestServer, name: &str, yaml: &str) {
    let file = server.file(name, yaml);
    server.kubectl(&["apply", "-f", file.to_str().expect("utf-8 path")]);
}

#[test]
fn a_view_user_reads_but_cannot_write_with_kubectl_and_python() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "team"]);
    server.kubectl(&["create", "configmap", "settings", "-n", "team", "--from-literal=a=1"]);
    server.kubectl(&["create", "secret", "generic", "token", "-n", "team", "--from-literal=t=s3cr3t"]);
    server.kubectl(&["create", "rolebinding", "viewer-view", "-n", "team", "--clusterrole=view", "--user=viewer"]);
    let viewer = user_kubeconfig(&server, "viewer", &["devs"]);

    let out = kubectl_with(&viewer, &["get", "configmaps", "-n", "team", "-o", "name"]);
    assert!(out.status.success() && text(&out).contains("configmap/settings"), "{}", text(&out));
    let out = kubectl_with(&viewer, &["create", "configmap", "other", "-n", "team"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(r#"configmaps is forbidden: User "viewer" cannot create resource "configmaps" in API group "" in the namespace "team""#),
        "{}",
        text(&out)
    );
    let out = kubectl_with(&viewer, &["get", "secrets", "-n", "team"]);
    assert!(!out.status.success() && text(&out).contains("Forbidden"), "{}", text(&out));
    assert!(!text(&out).contains("s3cr3t"));
    let out = kubectl_with(&viewer, &["get", "configmaps", "-n", "default"]);
    assert!(!out.status.success() && text(&out).contains("Forbidden"), "{}", text(&out));

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/rbac_view.py");
    let out = Command::new("python3").arg(script).arg(&viewer).arg("team").output().expect("python3 runs");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim_end().ends_with("ok"),
        "rbac_view.py failed:\n{}",
        text(&out)
    );
}

#[test]
fn an_edit_user_cannot_grant_admin_or_roles_beyond_its_own() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "team"]);
    server.kubectl(&["create", "rolebinding", "editor-edit", "-n", "team", "--clusterrole=edit", "--user=editor"]);
    // edit may not even write bindings: it needs admin's rolebindings rules too.
    server.kubectl(&["create", "role", "binder", "-n", "team", "--verb=create,get,list", "--resource=rolebindings.rbac.authorization.k8s.io,roles.rbac.authorization.k8s.io"]);
    server.kubectl(&["create", "rolebinding", "editor-binder", "-n", "team", "--role=binder", "--user=editor"]);
    let editor = user_kubeconfig(&server, "editor", &[]);

    let out = kubectl_with(&editor, &["create", "rolebinding", "grab-admin", "-n", "team", "--clusterrole=admin", "--user=editor"]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains(r#"rolebindings.rbac.authorization.k8s.io "grab-admin" is forbidden: user "editor""#)
            && message.contains("is attempting to grant RBAC permissions not currently held")
            && message.contains(r#"Resources:["rolebindings"]"#),
        "{message}"
    );
    // What it holds, it may grant.
    let out = kubectl_with(&editor, &["create", "rolebinding", "share-view", "-n", "team", "--clusterrole=view", "--user=friend"]);
    assert!(out.status.success(), "{}", text(&out));
    // A role with more than it holds is refused; one within its rules is not.
    let out = kubectl_with(&editor, &["create", "role", "wide", "-n", "team", "--verb=*", "--resource=pods"]);
    assert!(!out.status.success());
    assert!(text(&out).contains(r#"{APIGroups:[""], Resources:["pods"], Verbs:["*"]}"#), "{}", text(&out));
    let out = kubectl_with(&editor, &["create", "role", "narrow", "-n", "team", "--verb=get,list", "--resource=pods"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn can_i_list_matches_the_bound_rules() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "team"]);
    server.kubectl(&["create", "role", "pod-reader", "-n", "team", "--verb=get,list", "--resource=pods,pods/log"]);
    server.kubectl(&["create", "role", "one-map", "-n", "team", "--verb=get", "--resource=configmaps", "--resource-name=settings"]);
    server.kubectl(&["create", "rolebinding", "reader", "-n", "team", "--role=pod-reader", "--user=reader"]);
    server.kubectl(&["create", "rolebinding", "reader-map", "-n", "team", "--role=one-map", "--group=readers"]);
    let reader = user_kubeconfig(&server, "reader", &["readers"]);

    let out = kubectl_with(&reader, &["auth", "can-i", "--list", "-n", "team"]);
    assert!(out.status.success(), "{}", text(&out));
    let listing = text(&out);
    let row = |resource: &str, names: &str, verbs: &str| {
        listing.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&resource) && cols.get(2) == Some(&names) && cols[3..].join(" ") == verbs
        })
    };
    assert!(row("pods", "[]", "[get list]"), "{listing}");
    assert!(row("pods/log", "[]", "[get list]"), "{listing}");
    assert!(row("configmaps", "[settings]", "[get]"), "{listing}");
    assert!(row("selfsubjectaccessreviews.authorization.k8s.io", "[]", "[create]"), "{listing}");
    assert!(!listing.contains("secrets"), "{listing}");

    let can = |args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        text(&kubectl_with(&reader, &all)).trim().to_string()
    };
    assert_eq!(can(&["get", "pods", "-n", "team"]), "yes");
    assert_eq!(can(&["get", "pods/log", "-n", "team"]), "yes");
    assert_eq!(can(&["delete", "pods", "-n", "team"]), "no");
    assert_eq!(can(&["get", "configmaps/settings", "-n", "team"]), "yes");
    assert_eq!(can(&["get", "configmaps/other", "-n", "team"]), "no");
    assert_eq!(can(&["get", "pods", "-n", "default"]), "no");

    // An admin asks about someone else with a SubjectAccessReview.
    let review = server.file("sar.json", r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview",
        "spec":{"user":"reader","groups":["readers"],"resourceAttributes":{"namespace":"team","verb":"list","resource":"pods"}}}"#);
    let (code, body) = server.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "application/json", Some(&review));
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["status"]["allowed"], true, "{body}");
    assert!(body["status"]["reason"].as_str().unwrap_or_default().contains(r#"RoleBinding "reader/team""#), "{body}");
}

#[test]
fn aggregated_roles_gain_the_rules_of_new_labelled_roles() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "team"]);
    server.kubectl(&["create", "rolebinding", "viewer-view", "-n", "team", "--clusterrole=view", "--user=viewer"]);
    let viewer = user_kubeconfig(&server, "viewer", &[]);
    let out = kubectl_with(&viewer, &["get", "leases", "-n", "team"]);
    assert!(!out.status.success(), "{}", text(&out));
    apply(&server, "agg.yaml", r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: leases-view
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "list"]
"#);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let view = server.kubectl(&["get", "clusterrole", "view", "-o", "json"]);
        if view.contains("leases") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "view never gained the rule:\n{view}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = kubectl_with(&viewer, &["get", "leases", "-n", "team"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn bindings_to_missing_roles_are_invalid_or_warned() {
    let server = TestServer::start();
    // A user who may write bindings but not bind the missing role: a clear 422.
    server.kubectl(&["create", "role", "binder", "-n", "default", "--verb=create", "--resource=rolebindings.rbac.authorization.k8s.io"]);
    server.kubectl(&["create", "rolebinding", "binder", "-n", "default", "--role=binder", "--user=binder"]);
    let binder = user_kubeconfig(&server, "binder", &[]);
    let out = kubectl_with(&binder, &["create", "rolebinding", "x", "-n", "default", "--role=missing", "--user=bob"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(r#"RoleBinding.rbac.authorization.k8s.io "x" is invalid: roleRef.name: Invalid value: "missing": Role "missing" not found in namespace "default"; create it first or fix roleRef"#),
        "{}",
        text(&out)
    );
    // An admin may bind anything: the binding is made (manifests often list bindings
    // before roles), with a warning that it grants nothing yet.
    let out = server.kubectl_output(&["create", "clusterrolebinding", "y", "--clusterrole=nope", "--user=bob"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(r#"Warning: ClusterRoleBinding "y": ClusterRole "nope" not found; the binding grants nothing until it exists"#),
        "{}",
        text(&out)
    );
    let bad_kind = server.file("bad.json", r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
        "metadata":{"name":"z"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"view"},"subjects":[]}"#);
    let (code, body) = server.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "application/json", Some(&bad_kind));
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["details"]["causes"][0]["field"], "roleRef.kind", "{body}");
    // roleRef never changes.
    server.kubectl(&["create", "clusterrolebinding", "w", "--clusterrole=view", "--user=bob"]);
    let out = server.kubectl_output(&["patch", "clusterrolebinding", "w", "--type=merge", "-p", r#"{"roleRef":{"name":"edit"}}"#]);
    assert!(text(&out).contains("cannot change roleRef"), "{}", text(&out));
}

#[test]
fn a_node_reads_only_the_secrets_of_its_own_pods() {
    let server = TestServer::start();
    for (node, secret) in [("node-a", "secret-a"), ("node-b", "secret-b")] {
        server.kubectl(&["create", "secret", "generic", secret, "--from-literal=k=v"]);
        apply(&server, &format!("{node}.yaml"), &format!(r#"
apiVersion: v1
kind: Pod
metadata:
  name: pod-on-{node}
spec:
  nodeName: {node}
  containers:
  - name: c
    image: busybox
    env:
    - name: K
      valueFrom:
        secretKeyRef: {{name: {secret}, key: k}}
"#));
    }
    let agent = user_kubeconfig(&server, "system:node:node-a", &["system:nodes"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let out = kubectl_with(&agent, &["get", "secret", "secret-a", "-o", "name"]);
        if out.status.success() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", text(&out));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = kubectl_with(&agent, &["get", "secret", "secret-b"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(r#"secrets "secret-b" is forbidden: User "system:node:node-a" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'node-a' and this object"#),
        "{}",
        text(&out)
    );
    let out = kubectl_with(&agent, &["get", "secrets"]);
    assert!(!out.status.success(), "{}", text(&out));
    // It reads pods and nodes, and writes only its own pods' status.
    assert!(kubectl_with(&agent, &["get", "pods"]).status.success());
    let status = r#"{"status":{"phase":"Running"}}"#;
    let out = kubectl_with(&agent, &["patch", "pod", "pod-on-node-a", "--subresource=status", "--type=merge", "-p", status]);
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl_with(&agent, &["patch", "pod", "pod-on-node-b", "--subresource=status", "--type=merge", "-p", status]);
    assert!(!out.status.success() && text(&out).contains("Forbidden"), "{}", text(&out));
    // It registers and labels its own Node, not another's.
    apply(&server, "node-b.json", r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-b"}}"#);
    let own = server.file("node-a.json", r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-a"}}"#);
    let out = kubectl_with(&agent, &["create", "-f", own.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(kubectl_with(&agent, &["label", "node", "node-a", "ready=yes"]).status.success());
    let out = kubectl_with(&agent, &["label", "node", "node-b", "ready=yes"]);
    assert!(text(&out).contains("node 'node-a' cannot modify node 'node-b'"), "{}", text(&out));
    // A user merely named like a node, outside system:nodes, gets nothing.
    let impostor = user_kubeconfig(&server, "system:node:node-b", &[]);
    assert!(!kubectl_with(&impostor, &["get", "secret", "secret-b"]).status.success());
}

#[test]
fn default_roles_are_reconciled_unless_autoupdate_is_off() {
    let mut server = TestServer::start();
    // A user who turned autoupdate off keeps their edit; others get the defaults back.
    server.kubectl(&["annotate", "clusterrole", "system:discovery", "rbac.authorization.kubernetes.io/autoupdate=false", "--overwrite"]);
    server.kubectl(&["patch", "clusterrole", "system:discovery", "--type=merge", "-p", r#"{"rules":[{"nonResourceURLs":["/version"],"verbs":["get"]}]}"#]);
    server.kubectl(&["patch", "clusterrole", "system:basic-user", "--type=merge", "-p", r#"{"rules":[]}"#]);
    server.kubectl(&["delete", "clusterrolebinding", "cluster-admin"]);
    server.restart();
    let discovery = server.kubectl(&["get", "clusterrole", "system:discovery", "-o", "json"]);
    assert!(!discovery.contains("/apis"), "{discovery}");
    let basic = server.kubectl(&["get", "clusterrole", "system:basic-user", "-o", "json"]);
    assert!(basic.contains("selfsubjectaccessreviews"), "{basic}");
    server.kubectl(&["get", "clusterrolebinding", "cluster-admin"]);
}

#[test]
fn a_service_account_token_bound_to_a_role_lists_pods_and_nothing_else() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "team"]);
    server.kubectl(&["create", "serviceaccount", "robot", "-n", "team"]);
    server.kubectl(&["create", "role", "pod-lister", "-n", "team", "--verb=get,list,watch", "--resource=pods"]);
    server.kubectl(&["create", "rolebinding", "robot-pods", "-n", "team", "--role=pod-lister", "--serviceaccount=team:robot"]);
    let token = server.kubectl(&["create", "token", "robot", "-n", "team"]);
    let ca = server.dir.path().join("tls").join("ca.crt");
    let config = server.file(
        "robot.kubeconfig",
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tug\n  cluster:\n    server: {}\n    certificate-authority: {}\ncontexts:\n- name: tug\n  context: {{cluster: tug, user: robot}}\ncurrent-context: tug\nusers:\n- name: robot\n  user:\n    token: {}\n",
            server.url(""),
            ca.display(),
            token.trim()
        ),
    );
    let out = kubectl_with(&config, &["get", "pods", "-n", "team"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl_with(&config, &["get", "secrets", "-n", "team"]);
    assert!(
        text(&out).contains(r#"secrets is forbidden: User "system:serviceaccount:team:robot" cannot list resource "secrets" in API group "" in the namespace "team""#),
        "{}",
        text(&out)
    );
    let out = kubectl_with(&config, &["get", "pods", "-n", "default"]);
    assert!(!out.status.success() && text(&out).contains("Forbidden"), "{}", text(&out));
    let out = kubectl_with(&config, &["auth", "can-i", "--list", "-n", "team"]);
    assert!(text(&out).lines().any(|l| l.starts_with("pods ") && l.contains("[get list watch]")), "{}", text(&out));
    // An admin's view of the same account, by impersonation.
    let out = server.kubectl_output(&["auth", "can-i", "list", "pods", "-n", "team", "--as=system:serviceaccount:team:robot"]);
    assert_eq!(text(&out).trim(), "yes");
    let out = server.kubectl_output(&["auth", "can-i", "list", "secrets", "-n", "team", "--as=system:serviceaccount:team:robot"]);
    assert_eq!(text(&out).trim(), "no");
}

#[test]
fn can_i_list_as_another_user_shows_that_users_rules() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "team"]);
    server.kubectl(&["create", "rolebinding", "viewer-view", "-n", "team", "--clusterrole=view", "--user=viewer"]);
    let out = server.kubectl_output(&["auth", "can-i", "--list", "-n", "team", "--as=viewer"]);
    let listing = text(&out);
    assert!(listing.lines().any(|l| l.starts_with("pods ") && l.contains("[get list watch]")), "{listing}");
    assert!(!listing.contains("secrets"), "{listing}");
    assert!(!listing.lines().any(|l| l.starts_with("*.* ")), "the admin's own rules were listed:\n{listing}");
}
