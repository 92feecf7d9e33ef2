//! `tug build` and `tug image history` through the real binary (root): the step output
//! with RUN's own output streamed, `CACHED` on a rebuild, docker's history table, the
//! built image run by `tug runtime run` from a bundle over its root filesystem, the
//! saved image read by `skopeo inspect`, loaded and run by podman (Debian's packages,
//! when installed).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use tug_image::Store;

fn tug(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tug"))
        .env("TUG_DATA_DIR", data)
        .args(args)
        .output()
        .expect("run tug")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn build_streams_run_output_caches_records_history_and_the_image_runs() {
    if fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) != 0 {
        assert!(
            std::env::var_os("CI").is_none(),
            "build tests need root in CI"
        );
        eprintln!("skipped: builds need root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ctx = tmp.path().join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::copy("/bin/busybox", ctx.join("busybox"))
        .expect("tests need /bin/busybox (busybox-static)");
    fs::write(
        ctx.join("Containerfile"),
        "FROM scratch\n\
         COPY busybox /bin/busybox\n\
         RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox --install -s /bin && mkdir /etc\"]\n\
         ARG WHO=world\n\
         ENV WHO=$WHO\n\
         RUN echo \"building for $WHO\" && echo \"hello $WHO\" > /msg\n\
         WORKDIR /srv\n\
         CMD [\"sh\", \"-c\", \"cat /msg; pwd; echo $WHO\"]\n",
    )
    .unwrap();

    let out = tug(
        &data,
        &[
            "build",
            "-t",
            "hello:1",
            "--build-arg",
            "WHO=tug",
            ctx.to_str().unwrap(),
        ],
    );
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    assert!(
        s.contains("STEP 6/8: RUN echo \"building for $WHO\""),
        "{s}"
    );
    assert!(
        s.contains("building for tug\n"),
        "RUN output is streamed: {s}"
    );
    assert!(s.contains("Successfully tagged hello:1"), "{s}");
    let id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 64, "{s}");

    let again = tug(
        &data,
        &[
            "build",
            "-t",
            "hello:1",
            "--build-arg",
            "WHO=tug",
            ctx.to_str().unwrap(),
        ],
    );
    let s = text(&again);
    assert_eq!(s.matches("--> CACHED").count(), 7, "{s}");
    assert!(!s.contains("building for tug\n"), "no RUN ran: {s}");

    let quiet = tug(
        &data,
        &[
            "build",
            "-q",
            "-t",
            "hello:1",
            "--build-arg",
            "WHO=tug",
            ctx.to_str().unwrap(),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&quiet.stdout).trim(), id);
    // Quiet and uncached: the RUN output is not shown either.
    let quiet = tug(
        &data,
        &[
            "build",
            "-q",
            "--no-cache",
            "-t",
            "hello:q",
            "--build-arg",
            "WHO=tug",
            ctx.to_str().unwrap(),
        ],
    );
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert_eq!(
        String::from_utf8_lossy(&quiet.stdout).lines().count(),
        1,
        "{}",
        text(&quiet)
    );
    assert!(!text(&quiet).contains("building for"), "{}", text(&quiet));

    let history = tug(&data, &["image", "history", "hello:1"]);
    let h = text(&history);
    let lines: Vec<&str> = h.lines().collect();
    assert!(
        lines[0].starts_with("IMAGE")
            && lines[0].contains("CREATED BY")
            && lines[0].ends_with("COMMENT"),
        "{h}"
    );
    assert_eq!(lines.len(), 1 + 7, "{h}");
    assert!(
        lines[1].starts_with(&id[..12])
            && lines[1].contains("/bin/sh -c #(nop)  CMD [\"sh\",\"-c\",\"cat /msg;…"),
        "{h}"
    );
    // WORKDIR made /srv (a small layer); ENV is metadata only.
    assert!(
        lines[2].starts_with("<missing>")
            && lines[2].contains("WORKDIR /srv")
            && !lines[2].contains(" 0B"),
        "{h}"
    );
    assert!(
        lines[4].contains("ENV WHO=tug") && lines[4].contains(" 0B"),
        "{h}"
    );
    let full = text(&tug(&data, &["history", "--no-trunc", "hello:1"]));
    // ENV WHO hides the build arg of the same name, so no `|1 WHO=tug` prefix.
    assert!(
        full.contains("   /bin/sh -c echo \"building for $WHO\" && echo \"hello $WHO\" > /msg   "),
        "{full}"
    );

    // Run the image: a bundle over its root filesystem, through `tug runtime run`.
    let store = Store::open(data.join("image")).unwrap();
    let image = store.image("hello:1").unwrap();
    let container = tmp.path().join("container");
    let mount = tug_image::overlay::mount_rootfs(&store, &image, &container).unwrap();
    let raw: Value =
        serde_json::from_slice(&store.read_blob(image.manifest.config().digest()).unwrap())
            .unwrap();
    let mut spec = tug_runtime::bundle::default_config();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = raw["config"]["Cmd"].clone();
    spec["process"]["env"] = raw["config"]["Env"].clone();
    spec["process"]["cwd"] = raw["config"]["WorkingDir"].clone();
    spec["root"] = json!({"path": mount.target(), "readonly": true});
    let bundle = tmp.path().join("bundle");
    fs::create_dir_all(&bundle).unwrap();
    fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_tug"))
        .args(["runtime", "--root"])
        .arg(tmp.path().join("runtime"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(format!("build-test-{}", std::process::id()))
        .output()
        .unwrap();
    mount.unmount().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello tug\n/srv\ntug\n",
        "{}",
        text(&run)
    );

    // Interop: skopeo reads the saved image.
    let archive = tmp.path().join("hello.tar");
    let saved = tug(
        &data,
        &[
            "image",
            "save",
            "--format",
            "oci-archive",
            "-o",
            archive.to_str().unwrap(),
            "hello:1",
        ],
    );
    assert!(saved.status.success(), "{}", text(&saved));
    if Path::new("/usr/bin/skopeo").exists() {
        let out = Command::new("/usr/bin/skopeo")
            .args(["inspect", "--config"])
            .arg(format!("oci-archive:{}", archive.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let config: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(config["config"]["WorkingDir"], "/srv");
        assert_eq!(config["history"].as_array().unwrap().len(), 7);
    }

    // Interop: podman loads the docker-archive tug saves and runs it.
    if Path::new("/usr/bin/podman").exists() {
        podman_runs(tmp.path(), &data);
    }

    // A RUN that reads stdin gets /dev/null, not the caller's (still open) stdin.
    let stdin_ctx = tmp.path().join("stdin");
    fs::create_dir_all(&stdin_ctx).unwrap();
    fs::write(
        stdin_ctx.join("Containerfile"),
        "FROM hello:1\nRUN cat > /from-stdin\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tug"))
        .env("TUG_DATA_DIR", &data)
        .args(["build", "-q", "-t", "stdin:1"])
        .arg(&stdin_ctx)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let held_open = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    drop(held_open);
    assert!(out.status.success(), "{}", text(&out));

    // Bad input through the CLI: the file and line, a non-zero exit.
    fs::write(ctx.join("Containerfile"), "FROM scratch\nRUNN x\n").unwrap();
    let bad = tug(&data, &["build", "-t", "bad:1", ctx.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("Containerfile:2: unknown instruction: RUNN"),
        "{}",
        text(&bad)
    );
}

/// `tug image save` → `podman load` → `podman run` (podman in its own storage under
/// `dir`, with the ulimits this machine allows; its images removed afterwards).
fn podman_runs(dir: &Path, data: &Path) {
    let archive = dir.join("hello-docker.tar");
    let saved = tug(
        data,
        &["image", "save", "-o", archive.to_str().unwrap(), "hello:1"],
    );
    assert!(saved.status.success(), "{}", text(&saved));
    let conf = dir.join("containers.conf");
    fs::write(&conf, "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\n").unwrap();
    let podman = |args: &[&str]| {
        Command::new("/usr/bin/podman")
            .env("CONTAINERS_CONF", &conf)
            .arg("--root")
            .arg(dir.join("podman-root"))
            .arg("--runroot")
            .arg(dir.join("podman-run"))
            .args(["--storage-driver", "overlay"])
            .args(args)
            .output()
            .unwrap()
    };
    let load = podman(&["load", "-i", archive.to_str().unwrap()]);
    let run = load
        .status
        .success()
        .then(|| podman(&["run", "--rm", "--network", "none", "localhost/hello:1"]));
    let _ = podman(&["rmi", "-a", "-f"]);
    assert!(load.status.success(), "{}", text(&load));
    let run = run.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello tug\n/srv\ntug\n",
        "{}",
        text(&run)
    );
}

/// A child process killed (by PID) and reaped when dropped, even if the test fails.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_killed_build_leaves_what_the_next_build_sweeps() {
    if fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) != 0 {
        assert!(
            std::env::var_os("CI").is_none(),
            "build tests need root in CI"
        );
        eprintln!("skipped: builds need root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ctx = tmp.path().join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    fs::write(
        ctx.join("Containerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sleep\", \"30\"]\n",
    )
    .unwrap();
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tug"))
            .env("TUG_DATA_DIR", &data)
            .args(["build", "-q", "-t", "killed:1"])
            .arg(&ctx)
            .spawn()
            .unwrap(),
    );
    // Wait for the RUN container, then kill the build (our child, by PID).
    let tmpdir = data.join("image/build-tmp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let id = loop {
        let found = fs::read_dir(&tmpdir)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|b| fs::read_dir(b.path()).into_iter().flatten().flatten())
            .filter(|step| step.file_name().to_string_lossy().starts_with("run-"))
            .flat_map(|step| {
                fs::read_dir(step.path().join("runtime"))
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .next();
        if let Some(id) = found {
            break id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no RUN container appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let root = data.to_string_lossy().into_owned();
    let mounted = || {
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&root))
            .count()
    };
    let cgroups = || {
        let out = Command::new("find")
            .args([
                "/sys/fs/cgroup",
                "-maxdepth",
                "4",
                "-type",
                "d",
                "-name",
                &id,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert!(
        mounted() > 0 && cgroups() > 0,
        "the killed build left its mount and container"
    );

    // The next build (of anything) sweeps them.
    fs::write(
        ctx.join("Containerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    )
    .unwrap();
    let next = tug(
        &data,
        &["build", "-q", "-t", "next:1", ctx.to_str().unwrap()],
    );
    assert!(next.status.success(), "{}", text(&next));
    assert_eq!(mounted(), 0, "mounts remain under {root}");
    assert_eq!(
        cgroups(),
        0,
        "the killed build's container cgroup {id} remains"
    );
    assert_eq!(
        fs::read_dir(&tmpdir).unwrap().count(),
        0,
        "work directories remain"
    );
}
