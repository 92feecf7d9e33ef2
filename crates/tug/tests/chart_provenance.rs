//! Signed charts: `tug chart package --sign`, `tug chart verify` and `pull --verify`
//! with keys made by Debian's gpg (in a temporary GNUPGHOME), checked both ways against
//! the real tools: gpg and Helm's engine (helm-python-sdk) verify what we sign, we verify
//! what they sign; a changed archive, an altered document and an unknown key are refused.

#[path = "../../image/tests/support/registry.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

fn tug(dir: &Path, args: &[&str]) -> Output {
    Command::new(TUG)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = tug(dir, args);
    assert!(
        out.status.success(),
        "tug {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let out = tug(dir, args);
    assert!(!out.status.success(), "tug {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

/// gpg with its home in `home`.
fn gpg(home: &Path, args: &[&str]) -> Output {
    let out = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args([
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("gpg (apt-get install gnupg)");
    assert!(
        out.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Keys from gpg: an RSA signer (public and secret keyrings, binary) and an Ed25519 one
/// (armored public key).
struct Keys {
    home: PathBuf,
    public: PathBuf,
    secret: PathBuf,
    other: PathBuf,
}

fn keys(dir: &Path) -> Option<Keys> {
    if Command::new("gpg").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "gpg is required under CI");
        eprintln!("gpg not installed: provenance test skipped");
        return None;
    }
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    gpg(
        &home,
        &[
            "--quick-gen-key",
            "Chart Signer <signer@example.com>",
            "rsa2048",
            "sign",
            "never",
        ],
    );
    gpg(
        &home,
        &[
            "--quick-gen-key",
            "Other <other@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    let k = Keys {
        public: dir.join("pub.gpg"),
        secret: dir.join("sec.gpg"),
        other: dir.join("other.asc"),
        home,
    };
    let export = |args: &[&str], to: &Path| {
        std::fs::write(to, gpg(&k.home, args).stdout).unwrap();
    };
    export(&["--export", "signer@example.com"], &k.public);
    export(&["--export-secret-keys", "signer@example.com"], &k.secret);
    export(&["--armor", "--export", "other@example.com"], &k.other);
    Some(k)
}

fn chart(dir: &Path, name: &str) -> PathBuf {
    let src = dir.join(name);
    std::fs::create_dir_all(src.join("templates")).unwrap();
    std::fs::write(
        src.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 0.2.0\ndescription: signed chart\n"),
    )
    .unwrap();
    std::fs::write(
        src.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
    )
    .unwrap();
    src
}

/// Runs Python with helm-python-sdk's `h` in scope; `false` when it is missing outside CI.
fn helm(script: &str) -> bool {
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!("import helm_python as h\n{script}"))
        .output()
        .expect("python3");
    if out.status.success() {
        return true;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("No module named 'helm_python'") && std::env::var_os("CI").is_none() {
        eprintln!("helm-python-sdk not installed: Helm cross-check skipped");
        return false;
    }
    panic!("helm-python-sdk: {err}");
}

#[test]
fn signed_charts_verify_with_gpg_helm_and_tug() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(k) = keys(d) else { return };
    let (public, secret, other) = (
        k.public.to_str().unwrap(),
        k.secret.to_str().unwrap(),
        k.other.to_str().unwrap(),
    );

    // tug signs; tug, gpg and Helm verify.
    let src = chart(d, "signed");
    ok(
        d,
        &[
            "chart",
            "package",
            src.to_str().unwrap(),
            "--sign",
            "--key",
            "Chart Signer",
            "--keyring",
            secret,
        ],
    );
    let tgz = d.join("signed-0.2.0.tgz");
    let prov = d.join("signed-0.2.0.tgz.prov");
    let text = std::fs::read_to_string(&prov).unwrap();
    assert!(
        text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"),
        "{text}"
    );
    assert!(
        text.contains("\n...\nfiles:\n  signed-0.2.0.tgz: sha256:"),
        "{text}"
    );
    let out = ok(
        d,
        &[
            "chart",
            "verify",
            tgz.to_str().unwrap(),
            "--keyring",
            public,
        ],
    );
    assert!(
        out.contains("Signed by: Chart Signer <signer@example.com>"),
        "{out}"
    );
    assert!(out.contains("Chart Hash Verified: sha256:"), "{out}");
    gpg(&k.home, &["--verify", prov.to_str().unwrap()]);
    let helm_ok = helm(&format!(
        "r = h.chart.verify('{}', '{public}')\nassert r['signed_by'] == ['Chart Signer <signer@example.com>'], r",
        tgz.display()
    ));

    // Bad input: a changed archive, an altered document, an unknown key, no .prov.
    let tampered = d.join("t");
    std::fs::create_dir_all(&tampered).unwrap();
    std::fs::write(tampered.join("signed-0.2.0.tgz"), b"other bytes").unwrap();
    std::fs::copy(&prov, tampered.join("signed-0.2.0.tgz.prov")).unwrap();
    let e = fails(
        d,
        &["chart", "verify", "t/signed-0.2.0.tgz", "--keyring", public],
    );
    assert!(
        e.contains("sha256 sum does not match for signed-0.2.0.tgz"),
        "{e}"
    );
    std::fs::copy(&tgz, tampered.join("signed-0.2.0.tgz")).unwrap();
    std::fs::write(
        tampered.join("signed-0.2.0.tgz.prov"),
        text.replace("description: signed chart", "description: evil chart"),
    )
    .unwrap();
    let e = fails(
        d,
        &["chart", "verify", "t/signed-0.2.0.tgz", "--keyring", public],
    );
    assert!(e.contains("bad signature"), "{e}");
    let e = fails(
        d,
        &["chart", "verify", tgz.to_str().unwrap(), "--keyring", other],
    );
    assert!(e.contains("signed by unknown key"), "{e}");
    std::fs::remove_file(tampered.join("signed-0.2.0.tgz.prov")).unwrap();
    let e = fails(
        d,
        &["chart", "verify", "t/signed-0.2.0.tgz", "--keyring", public],
    );
    assert!(e.contains("has no provenance file"), "{e}");
    let e = fails(
        d,
        &[
            "chart",
            "template",
            "t/signed-0.2.0.tgz",
            "--verify",
            "--keyring",
            public,
        ],
    );
    assert!(e.contains("has no provenance file"), "{e}");
    assert!(ok(
        d,
        &[
            "chart",
            "template",
            tgz.to_str().unwrap(),
            "--verify",
            "--keyring",
            public
        ]
    )
    .contains("kind: ConfigMap"));

    // gpg clear-signs Helm's layout with an Ed25519 key; tug verifies it.
    let helm_layout = gpg(&k.home, &["--decrypt", prov.to_str().unwrap()]).stdout;
    std::fs::write(d.join("msg"), helm_layout).unwrap();
    gpg(
        &k.home,
        &[
            "--local-user",
            "other@example.com",
            "--output",
            d.join("t/signed-0.2.0.tgz.prov").to_str().unwrap(),
            "--clearsign",
            d.join("msg").to_str().unwrap(),
        ],
    );
    let out = ok(
        d,
        &["chart", "verify", "t/signed-0.2.0.tgz", "--keyring", other],
    );
    assert!(
        out.contains("Signed by: Other <other@example.com>"),
        "{out}"
    );

    // Helm signs; tug verifies.
    if helm_ok {
        let src = chart(d, "helmsigned");
        ok(d, &["chart", "package", src.to_str().unwrap()]);
        let tgz = d.join("helmsigned-0.2.0.tgz");
        helm(&format!(
            "h.chart.sign('{}', key='Chart Signer', keyring='{secret}')",
            tgz.display()
        ));
        let out = ok(
            d,
            &[
                "chart",
                "verify",
                tgz.to_str().unwrap(),
                "--keyring",
                public,
            ],
        );
        assert!(out.contains("Signed by: Chart Signer"), "{out}");
    }
}

#[test]
fn signed_charts_travel_through_a_registry_with_their_provenance() {
    let Some(reg) = support::Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(k) = keys(d) else { return };
    let src = chart(d, "web");
    ok(
        d,
        &[
            "chart",
            "package",
            src.to_str().unwrap(),
            "--sign",
            "--key",
            "signer@",
            "--keyring",
            k.secret.to_str().unwrap(),
        ],
    );
    let remote = format!("oci://{}/signed", reg.addr);
    ok(d, &["chart", "push", "web-0.2.0.tgz", &remote]);
    let chart = format!("{remote}/web");
    let out = ok(
        d,
        &[
            "chart",
            "pull",
            &chart,
            "--verify",
            "--keyring",
            k.public.to_str().unwrap(),
            "-d",
            "out",
        ],
    );
    assert!(out.contains("Chart Hash Verified"), "{out}");
    assert_eq!(
        std::fs::read(d.join("out/web-0.2.0.tgz.prov")).unwrap(),
        std::fs::read(d.join("web-0.2.0.tgz.prov")).unwrap()
    );
    let e = fails(
        d,
        &[
            "chart",
            "show",
            "chart",
            &chart,
            "--verify",
            "--keyring",
            k.other.to_str().unwrap(),
        ],
    );
    assert!(e.contains("signed by unknown key"), "{e}");
}
