//! ConfigMaps and Secrets in use on a real node: a change reaches the files of a running
//! pod's volumes within seconds (the container is not restarted), a removed key's file
//! goes, and a ConfigMap or Secret marked `immutable: true` refuses changes with a 422
//! naming the field.

use tug_testkit::Cluster;

const TUG: &str = env!("CARGO_BIN_EXE_tug");

const POD: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: blue, extra: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: password}
stringData: {value: first}
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: sh
    image: busybox:latest
    imagePullPolicy: Never
    command: [sleep, "3600"]
    volumeMounts:
    - {name: settings, mountPath: /etc/settings}
    - {name: password, mountPath: /etc/password}
  volumes:
  - {name: settings, configMap: {name: settings}}
  - {name: password, secret: {secretName: password}}
"#;

fn read_in_pod(cluster: &Cluster, script: &str) -> String {
    let out = cluster.kubectl_output(&["exec", "reader", "--", "sh", "-c", script]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn changes_reach_running_pods_and_immutable_objects_refuse_them() {
    let cluster = Cluster::up(TUG);
    cluster.apply(POD);
    cluster.kubectl(&["wait", "--for=condition=Ready", "pod/reader", "--timeout=60s"]);
    assert_eq!(read_in_pod(&cluster, "cat /etc/settings/mode /etc/password/value"), "bluefirst");

    cluster.kubectl(&["patch", "configmap", "settings", "--type=json", "-p", r#"[{"op":"replace","path":"/data/mode","value":"green"},{"op":"remove","path":"/data/extra"}]"#]);
    cluster.kubectl(&["patch", "secret", "password", "-p", r#"{"stringData":{"value":"second"}}"#]);
    cluster.eventually("the new contents in the running pod", 20, || {
        read_in_pod(&cluster, "cat /etc/settings/mode /etc/password/value; ls /etc/settings") == "greensecondmode\n"
    });
    assert_eq!(cluster.pod("reader")["status"]["containerStatuses"][0]["restartCount"], 0);

    // Sealed: neither the data nor the mark may change any more.
    cluster.kubectl(&["patch", "configmap", "settings", "-p", r#"{"immutable":true}"#]);
    cluster.kubectl(&["patch", "secret", "password", "-p", r#"{"immutable":true}"#]);
    for (kind, patch, field) in [
        ("configmap", r#"{"data":{"mode":"red"}}"#, "data"),
        ("configmap", r#"{"immutable":false}"#, "immutable"),
        ("secret", r#"{"stringData":{"value":"third"}}"#, "data"),
    ] {
        let name = if kind == "configmap" { "settings" } else { "password" };
        let out = cluster.kubectl_output(&["patch", kind, name, "-p", patch]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{kind} {patch} was accepted");
        assert!(said.contains("is invalid") && said.contains(&format!("{field}: Forbidden: field is immutable when `immutable` is set")), "{kind} {patch}: {said}");
    }
    // Metadata still changes, and deleting works.
    cluster.kubectl(&["label", "configmap", "settings", "sealed=yes"]);
    cluster.kubectl(&["delete", "secret", "password"]);
}
