//! Chart releases whose hooks and objects are real pods on a real node (`tug up`, see
//! `tug-testkit`): a pre-install hook Pod runs to completion before the release's objects
//! are created, `--wait` returns once the release's Pod is Ready, `tug chart test` runs a
//! test Pod, and a hook Pod that fails fails the install, leaving a failed record and no
//! objects. Needs root (pods).

use std::path::Path;

use tug_testkit::{text, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

fn pod(name: &str, annotations: &str, command: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\n  annotations:\n{annotations}spec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox:latest\n    imagePullPolicy: Never\n    command: [sh, -c, '{command}']\n"
    )
}

fn chart(dir: &Path, hook_command: &str) {
    let files = [
        ("Chart.yaml", "apiVersion: v2\nname: pods\nversion: 1.0.0\n".to_string()),
        (
            "templates/pre.yaml",
            pod(
                "pre",
                "    helm.sh/hook: pre-install\n    helm.sh/hook-delete-policy: hook-succeeded,hook-failed\n",
                hook_command,
            ),
        ),
        ("templates/web.yaml", pod("web", "    {}\n", "exec sleep 300")),
        (
            "templates/tests/check.yaml",
            pod("check", "    helm.sh/hook: test\n", "test -n \"$HOSTNAME\""),
        ),
    ];
    for (name, body) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

#[test]
fn hooks_and_wait_run_real_pods() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let cluster = Cluster::up(TUG);
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    chart(&good, "exit 0");

    let out = cluster.tug_output(&[
        "chart",
        "install",
        "ok",
        good.to_str().unwrap(),
        "--wait",
        "--timeout",
        "60s",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // --wait returned: the release's pod is Ready now, not later.
    let web = cluster.pod("ok-web");
    let ready = web["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    assert!(ready, "{web}");
    // The hook pod succeeded and was deleted by its policy.
    assert!(!cluster
        .kubectl_output(&["get", "pod", "ok-pre"])
        .status
        .success());

    let out = cluster.tug_output(&["chart", "test", "ok", "--timeout", "60s"]);
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("TEST SUITE:     ok-check") && report.contains("Phase:          Succeeded"),
        "{report}"
    );
    assert_eq!(cluster.pod("ok-check")["status"]["phase"], "Succeeded");

    // A failing pre-install hook: the install fails, nothing of it stays but the record.
    let bad = tmp.path().join("bad");
    chart(&bad, "exit 3");
    let out = cluster.tug_output(&[
        "chart",
        "install",
        "nope",
        bad.to_str().unwrap(),
        "--timeout",
        "60s",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("pre-install hook") && text(&out).contains("pod failed"),
        "{}",
        text(&out)
    );
    let history = cluster.tug_output(&["chart", "history", "nope"]);
    assert!(
        String::from_utf8_lossy(&history.stdout).contains("failed"),
        "{}",
        text(&history)
    );
    assert!(
        !cluster
            .kubectl_output(&["get", "pod", "nope-web"])
            .status
            .success(),
        "no orphan"
    );
    assert!(
        !cluster
            .kubectl_output(&["get", "pod", "nope-pre"])
            .status
            .success(),
        "hook-failed deletes"
    );

    let out = cluster.tug_output(&["chart", "uninstall", "ok"]);
    assert!(out.status.success(), "{}", text(&out));
    cluster.kubectl(&["delete", "pod", "ok-check", "--wait=true"]);
    cluster.eventually("the release's pod is gone", 30, || {
        !cluster
            .kubectl_output(&["get", "pod", "ok-web"])
            .status
            .success()
    });
}
