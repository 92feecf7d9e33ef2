//! `tug pull`, `tug push`, `tug login` and `tug image …` end to end: the real binary
//! against Debian's `docker-registry` started on 127.0.0.1 by each test (killed by PID
//! when the test ends), checked with skopeo where it is installed.

#[path = "../crates/image/tests/support/registry.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::Registry;
use tug_image::diff::{create_layer, LayerCompression};
use tug_image::Store;

fn tug(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tug"))
        .args(args)
        .env("TUG_DATA_DIR", data)
        .env("HOME", data) // no stray ~/.docker/config.json
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DOCKER_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = tug(data, args);
    assert!(
        out.status.success(),
        "tug {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A busybox image named `name` in the store under `data`.
fn busybox_image(data: &Path, name: &str) -> String {
    let store = Store::open(data.join("image")).unwrap();
    let tree = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tree.path().join("bin")).unwrap();
    std::fs::copy("/bin/busybox", tree.path().join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", tree.path().join("bin/sh")).unwrap();
    let layer = create_layer(&store, tree.path(), LayerCompression::Gzip).unwrap();
    let config: oci_spec::image::ImageConfiguration = serde_json::from_value(serde_json::json!({
        "architecture": tug_image::platform_arch(),
        "os": "linux",
        "created": "2026-11-26T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .unwrap();
    let manifest = store.write_image(&config, &[layer]).unwrap();
    store.tag(&name.parse().unwrap(), &manifest).unwrap();
    store.image(name).unwrap().id().to_string()
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn push_rm_pull_and_image_commands_round_trip() {
    let Some(reg) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let id = busybox_image(&data, "busybox:v1");
    let remote = format!("{}/cli/busybox:v1", reg.addr);

    let out = ok(&data, &["push", "busybox:v1", &remote]);
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    let digest = ok(&data, &["push", "-q", "busybox:v1", &remote])
        .trim()
        .to_string();
    assert!(digest.starts_with("sha256:"));

    ok(&data, &["image", "rm", "busybox:v1"]);
    assert_eq!(ok(&data, &["image", "ls", "-q"]), "");

    let out = ok(&data, &["pull", &remote]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let rows = json_lines(&ok(&data, &["image", "ls", "--format", "json"]));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Repository"], format!("{}/cli/busybox", reg.addr));
    assert_eq!(rows[0]["Tag"], "v1");
    assert_eq!(rows[0]["Digest"], digest);
    assert_eq!(rows[0]["ID"], id["sha256:".len().."sha256:".len() + 12]);
    let table = ok(&data, &["image", "ls"]);
    assert!(table.starts_with("REPOSITORY"), "{table}");
    assert!(table.contains("IMAGE ID") && table.contains("CREATED") && table.contains("SIZE"));

    ok(&data, &["image", "tag", &remote, "local/copy:latest"]);
    let v: Value = serde_json::from_str(&ok(&data, &["image", "inspect", "local/copy"])).unwrap();
    assert_eq!(v[0]["Id"], id);
    assert_eq!(v[0]["Os"], "linux");
    assert!(v[0]["RepoTags"]
        .as_array()
        .unwrap()
        .contains(&"local/copy:latest".into()));

    // save / load into another data dir, both formats.
    for format in ["docker-archive", "oci-archive"] {
        let file = tmp.path().join(format!("{format}.tar"));
        ok(
            &data,
            &[
                "image",
                "save",
                "-o",
                file.to_str().unwrap(),
                "--format",
                format,
                "local/copy",
            ],
        );
        let other = tmp.path().join(format!("other-{format}"));
        let out = ok(&other, &["image", "load", "-i", file.to_str().unwrap()]);
        assert!(out.contains("Loaded image: local/copy:latest"), "{out}");
        let v: Value =
            serde_json::from_str(&ok(&other, &["image", "inspect", "local/copy"])).unwrap();
        assert_eq!(v[0]["Id"], id);
    }

    if let Some(skopeo) = support::skopeo() {
        let out = Command::new(skopeo)
            .args([
                "inspect",
                "--tls-verify=false",
                &format!("docker://{remote}"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["Digest"], digest);
    }

    let out = tug(&data, &["image", "inspect", "no/such:image"]);
    assert!(!out.status.success());
    ok(&data, &["image", "prune", "-a", "-f"]);
    assert_eq!(ok(&data, &["image", "ls", "-q"]), "");
    let blobs = std::fs::read_dir(data.join("image/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);
}

#[test]
fn login_saves_credentials_that_push_and_pull_then_use() {
    let Some(reg) = Registry::start_with_htpasswd("tug", "pa55word") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    busybox_image(&data, "busybox:v1");
    let remote = format!("{}/private/busybox:v1", reg.addr);

    let out = tug(&data, &["push", "busybox:v1", &remote]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("authentication required"), "{err}");

    let auth: PathBuf = tmp.path().join("auth.json");
    let mut login = Command::new(env!("CARGO_BIN_EXE_tug"))
        .args([
            "login",
            "-u",
            "tug",
            "--password-stdin",
            "--auth-file",
            auth.to_str().unwrap(),
            &reg.addr,
        ])
        .env("TUG_DATA_DIR", &data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(b"pa55word\n")
        .unwrap();
    let out = login.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"));

    ok(
        &data,
        &[
            "push",
            "--auth-file",
            auth.to_str().unwrap(),
            "busybox:v1",
            &remote,
        ],
    );
    let other = tmp.path().join("other");
    ok(
        &other,
        &["pull", "--auth-file", auth.to_str().unwrap(), &remote],
    );
    assert!(ok(&other, &["image", "ls"]).contains("private/busybox"));

    let out = tug(&data, &["pull", "-u", "tug", "-p", "wrong", &remote]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("credentials refused"));
}
