//! Containerfile builds end to end (root: RUN steps are real containers on overlay
//! mounts): a busybox base FROM scratch, RUN, ENV/ARG, multi-stage COPY --from,
//! `.dockerignore`, the layer cache (a RUN that would call a loopback listener on the
//! host does not run when cached), history, and failures that leave nothing behind.
//!
//! The builds run one at a time (`SERIAL`): the leftover checks look for any build
//! container's cgroup on the machine.

mod common;
#[path = "support/registry.rs"]
mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tug_image::build::{build, BuildEvent, BuildOptions, Built};
use tug_image::{Error, Reference, Store};

static SERIAL: Mutex<()> = Mutex::new(());

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

macro_rules! need_root {
    () => {
        if !is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "build tests need root in CI"
            );
            eprintln!("skipped: builds need root (overlay mounts, containers)");
            return;
        }
    };
}

/// A store and a scratch directory for contexts, removed at the end.
struct Fixture {
    _guard: std::sync::MutexGuard<'static, ()>,
    dir: tempfile::TempDir,
    store: Store,
}

impl Fixture {
    fn new() -> Fixture {
        let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("image")).unwrap();
        Fixture {
            _guard: guard,
            dir,
            store,
        }
    }

    /// A context directory with these files.
    fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let ctx = self.dir.path().join(name);
        for (path, body) in files {
            let p = ctx.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, body).unwrap();
        }
        ctx
    }

    /// Builds; returns the result and the events as lines.
    fn build(
        &self,
        ctx: &Path,
        tag: &str,
        args: &[(&str, &str)],
        no_cache: bool,
    ) -> (Result<Built, Error>, Vec<String>) {
        self.build_with(BuildOptions {
            context: ctx.to_path_buf(),
            tags: vec![Reference::parse(tag).unwrap()],
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            no_cache,
            ..BuildOptions::default()
        })
    }

    fn build_with(&self, options: BuildOptions) -> (Result<Built, Error>, Vec<String>) {
        let mut events = Vec::new();
        let result = build(&self.store, &options, &mut |e| {
            events.push(match e {
                BuildEvent::Step { text, .. } => format!("STEP {text}"),
                BuildEvent::Cached => "CACHED".into(),
                BuildEvent::Done { .. } => "DONE".into(),
                BuildEvent::Note(n) => format!("NOTE {n}"),
                BuildEvent::Tagged(r) => format!("TAGGED {r}"),
            })
        });
        (result, events)
    }

    /// The busybox base image `base:1`, built FROM scratch.
    fn base(&self) {
        let ctx = self.dir.path().join("base");
        fs::create_dir_all(&ctx).unwrap();
        fs::copy(common::busybox(), ctx.join("busybox")).unwrap();
        fs::write(
            ctx.join("Containerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\n\
             RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox --install -s /bin && mkdir -p /etc /tmp\"]\n\
             CMD [\"sh\"]\n",
        )
        .unwrap();
        let (r, events) = self.build(&ctx, "base:1", &[], false);
        r.unwrap_or_else(|e| panic!("base build failed: {e}\n{events:?}"));
    }

    /// A file's contents in an image (from its unpacked layers, top first).
    fn file(&self, image: &str, path: &str) -> Option<(String, fs::Metadata)> {
        let img = self.store.image(image).unwrap();
        let dirs = self
            .store
            .unpack(&img, &Default::default(), &mut |_| {})
            .unwrap();
        dirs.iter().rev().find_map(|d| {
            let p = d.join(path);
            let m = fs::symlink_metadata(&p).ok()?;
            Some((fs::read_to_string(&p).unwrap_or_default(), m))
        })
    }

    fn config(&self, image: &str) -> Value {
        let img = self.store.image(image).unwrap();
        serde_json::from_slice(
            &self
                .store
                .read_blob(img.manifest.config().digest())
                .unwrap(),
        )
        .unwrap()
    }

    /// Nothing of a build may remain: no mount under the store, no work directory, no
    /// build container's cgroup.
    fn assert_clean(&self) {
        let root = self.store.root().to_string_lossy().into_owned();
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(&root),
            "a mount under {root} remains:\n{mounts}"
        );
        let tmp = self.store.root().join("build-tmp");
        let left: Vec<_> = fs::read_dir(&tmp)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "build work directories remain: {left:?}");
        let mut cgroups = Vec::new();
        find_named(Path::new("/sys/fs/cgroup"), "tug-build-", 6, &mut cgroups);
        assert!(cgroups.is_empty(), "build cgroups remain: {cgroups:?}");
    }
}

fn find_named(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        if e.file_name().to_string_lossy().starts_with(prefix) {
            out.push(e.path());
        }
        if depth > 0 {
            find_named(&e.path(), prefix, depth - 1, out);
        }
    }
}

/// An HTTP listener on 127.0.0.1 counting requests: RUN steps call it, so the count
/// says how many RUN steps really ran.
struct Counter {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Counter {
    fn start() -> Counter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        // The thread ends with the test process; it only answers loopback requests.
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut conn = conn;
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                h.fetch_add(1, Ordering::SeqCst);
                let _ = conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
            }
        });
        Counter { port, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

const APP: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=base:1
FROM $BASE AS builder
ARG GREETING=hi
ARG PORT
ENV APP=/app NAME="tug user"
WORKDIR $APP
COPY hello.txt ./
RUN wget -q -O /dev/null http://127.0.0.1:$PORT/ && \
    echo "$GREETING from $NAME" > greeting && mkdir -p out && cp greeting hello.txt out/
FROM base:1
RUN echo "app:x:1000:1000::/home/app:/bin/sh" >> /etc/passwd && echo "app:x:1000:" >> /etc/group
ARG OWNER=app
COPY --from=builder --chown=$OWNER /app/out /opt/out
USER app
WORKDIR /opt/out
ENTRYPOINT ["cat"]
CMD ["greeting"]
EXPOSE 8080
"#;

#[test]
fn rebuild_is_cached_and_a_changed_source_reruns_what_follows() {
    need_root!();
    let f = Fixture::new();
    f.base();
    let counter = Counter::start();
    let ctx = f.context("app", &[("Containerfile", APP), ("hello.txt", "hello\n")]);
    let port = counter.port.to_string();
    let args = [("GREETING", "hey"), ("PORT", port.as_str())];

    let (first, events) = f.build(&ctx, "app:1", &args, false);
    let first = first.unwrap_or_else(|e| panic!("{e}\n{events:?}"));
    assert_eq!(
        counter.hits(),
        1,
        "the RUN step called the host once: {events:?}"
    );
    assert!(!events.contains(&"CACHED".to_string()), "{events:?}");

    // Unchanged: every step but FROM comes from the cache, nothing runs, same image.
    let (second, events) = f.build(&ctx, "app:1", &args, false);
    let second = second.unwrap();
    assert_eq!(counter.hits(), 1, "a cached RUN must not run: {events:?}");
    let steps = events
        .iter()
        .filter(|e| e.starts_with("STEP") && !e.starts_with("STEP FROM"))
        .count();
    let cached = events.iter().filter(|e| *e == "CACHED").count();
    assert_eq!(steps, cached, "{events:?}");
    assert_eq!(first.id, second.id);

    // --no-cache runs everything again.
    let (_, _) = f.build(&ctx, "app:nocache", &args, true);
    assert_eq!(counter.hits(), 2);

    // A changed source invalidates its COPY and the RUN after it, not the steps before.
    fs::write(ctx.join("hello.txt"), "changed\n").unwrap();
    let (third, events) = f.build(&ctx, "app:1", &args, false);
    let third = third.unwrap();
    assert_eq!(counter.hits(), 3, "{events:?}");
    let copy_at = events
        .iter()
        .position(|e| e == "STEP COPY hello.txt ./")
        .unwrap();
    assert_eq!(
        events[copy_at - 1],
        "CACHED",
        "WORKDIR before the COPY is cached: {events:?}"
    );
    assert_ne!(events[copy_at + 1], "CACHED", "{events:?}");
    assert_ne!(first.id, third.id);
    assert_eq!(f.file("app:1", "opt/out/hello.txt").unwrap().0, "changed\n");

    // So does a change of the source's mode (metadata is part of the content hash).
    fs::set_permissions(
        ctx.join("hello.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let (fourth, events) = f.build(&ctx, "app:1", &args, false);
    assert_ne!(fourth.unwrap().id, third.id);
    let copy_at = events
        .iter()
        .position(|e| e == "STEP COPY hello.txt ./")
        .unwrap();
    assert_ne!(events[copy_at + 1], "CACHED", "{events:?}");
    assert_eq!(counter.hits(), 4, "{events:?}");
    assert_eq!(
        f.file("app:1", "opt/out/hello.txt").unwrap().1.mode() & 0o777,
        0o600
    );
    f.assert_clean();
}

#[test]
fn multi_stage_build_copies_only_the_artifact_with_owner_env_user_and_history() {
    need_root!();
    let f = Fixture::new();
    f.base();
    let counter = Counter::start();
    let ctx = f.context("app", &[("Containerfile", APP), ("hello.txt", "hello\n")]);
    let port = counter.port.to_string();
    let (r, events) = f.build(
        &ctx,
        "app:2",
        &[("GREETING", "hey"), ("PORT", &port)],
        false,
    );
    r.unwrap_or_else(|e| panic!("{e}\n{events:?}"));

    let (greeting, meta) = f.file("app:2", "opt/out/greeting").unwrap();
    assert_eq!(
        greeting, "hey from tug user\n",
        "build arg and ENV reached RUN"
    );
    assert_eq!(
        (meta.uid(), meta.gid()),
        (1000, 1000),
        "--chown=app resolved from the image's passwd"
    );
    assert!(
        f.file("app:2", "app").is_none(),
        "the builder stage's tree is not in the result"
    );

    let config = f.config("app:2");
    let c = &config["config"];
    assert_eq!(c["User"], "app");
    assert_eq!(c["WorkingDir"], "/opt/out");
    assert_eq!(c["Entrypoint"], serde_json::json!(["cat"]));
    assert_eq!(c["Cmd"], serde_json::json!(["greeting"]));
    assert!(c["ExposedPorts"]["8080/tcp"].is_object());
    assert!(
        c["Env"].is_null(),
        "ENV of the builder stage stays there: {c}"
    );

    // History: the base image's entries, then one per instruction of the last stage.
    let history = config["history"].as_array().unwrap();
    let by: Vec<&str> = history
        .iter()
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(
        &by[by.len() - 8..],
        &[
            "/bin/sh -c echo \"app:x:1000:1000::/home/app:/bin/sh\" >> /etc/passwd && echo \"app:x:1000:\" >> /etc/group",
            "/bin/sh -c #(nop)  ARG OWNER=app",
            "/bin/sh -c #(nop) COPY /app/out in /opt/out ",
            "/bin/sh -c #(nop)  USER app",
            "/bin/sh -c #(nop)  WORKDIR /opt/out",
            "/bin/sh -c #(nop)  ENTRYPOINT [\"cat\"]",
            "/bin/sh -c #(nop)  CMD [\"greeting\"]",
            "/bin/sh -c #(nop)  EXPOSE 8080/tcp",
        ]
    );
    let layers = history.iter().filter(|h| h["empty_layer"] != true).count();
    assert_eq!(
        layers,
        config["rootfs"]["diff_ids"].as_array().unwrap().len()
    );
    f.assert_clean();
}

#[test]
fn dockerignore_hides_files_and_exceptions_bring_them_back() {
    need_root!();
    let f = Fixture::new();
    f.base();
    let ctx = f.context(
        "ign",
        &[
            (
                "Containerfile",
                "FROM base:1\nCOPY . /ctx/\nCOPY *.txt /txt/\n",
            ),
            (".dockerignore", "*.key\n!keep.key\n**/cache\n"),
            ("a.txt", "a"),
            ("b.txt", "b"),
            ("secret.key", "s"),
            ("keep.key", "k"),
            ("src/cache/x", "x"),
            ("src/main.c", "m"),
        ],
    );
    let (r, events) = f.build(&ctx, "ign:1", &[], false);
    r.unwrap_or_else(|e| panic!("{e}\n{events:?}"));
    assert!(f.file("ign:1", "ctx/a.txt").is_some());
    assert!(f.file("ign:1", "ctx/keep.key").is_some());
    assert!(f.file("ign:1", "ctx/src/main.c").is_some());
    assert!(f.file("ign:1", "ctx/secret.key").is_none());
    assert!(f.file("ign:1", "ctx/src/cache").is_none());
    assert_eq!(f.file("ign:1", "txt/b.txt").unwrap().0, "b");
    // Excluded files cannot be copied by name either.
    let ctx2 = f.context(
        "ign",
        &[("Containerfile", "FROM base:1\nCOPY secret.key /\n")],
    );
    let (r, _) = f.build(&ctx2, "ign:2", &[], false);
    let err = r.unwrap_err().to_string();
    assert!(err.contains("excluded by .dockerignore"), "{err}");
    f.assert_clean();
}

#[test]
fn add_extracts_local_tars_and_refuses_urls() {
    need_root!();
    let f = Fixture::new();
    f.base();
    let ctx = f.context("add", &[("Containerfile", "FROM base:1\nADD files.tar /x/\nCOPY files.tar /y/\nCOPY --from=base:1 --chmod=700 /bin/busybox /bb\n")]);
    let tar = common::RawTar::new()
        .dir("d/")
        .file("d/f.txt", b"inside")
        .finish();
    fs::write(ctx.join("files.tar"), tar).unwrap();
    let (r, events) = f.build(&ctx, "add:1", &[], false);
    r.unwrap_or_else(|e| panic!("{e}\n{events:?}"));
    assert_eq!(f.file("add:1", "x/d/f.txt").unwrap().0, "inside");
    assert!(
        f.file("add:1", "y/files.tar").is_some(),
        "COPY does not extract"
    );
    // Symlinks in a source path resolve inside the image, not on the host (/etc here
    // is the stage's, which has a file the host lacks).
    let ctx_link = f.context(
        "link",
        &[("Containerfile", "FROM base:1 AS s\nRUN echo stage > /etc/only-in-the-stage && ln -s /etc /cfg\nFROM base:1\nCOPY --from=s /cfg/only-in-the-stage /x\n")],
    );
    assert!(!Path::new("/etc/only-in-the-stage").exists());
    let (r, events) = f.build(&ctx_link, "link:1", &[], false);
    r.unwrap_or_else(|e| panic!("{e}\n{events:?}"));
    assert_eq!(f.file("link:1", "x").unwrap().0, "stage\n");
    let (_, bb) = f.file("add:1", "bb").expect("COPY --from an image");
    assert_eq!(bb.mode() & 0o7777, 0o700);

    fs::write(
        ctx.join("Containerfile"),
        "FROM base:1\nADD https://example.com/x.tgz /\n",
    )
    .unwrap();
    let err = f
        .build(&ctx, "add:2", &[], false)
        .0
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "Containerfile:2: ADD: remote source https://example.com/x.tgz is not supported"
        ),
        "{err}"
    );
    f.assert_clean();
}

#[test]
fn bad_input_names_file_line_and_leaves_nothing_behind() {
    need_root!();
    let f = Fixture::new();
    f.base();
    let cases: &[(&str, &str)] = &[
        ("FROM base:1\nRUN true\nRUNN echo\n", "Containerfile:3: unknown instruction: RUNN"),
        ("FROM base:1\nCOPY missing.txt /\n", "Containerfile:2: COPY: file not found in build context"),
        ("FROM base:1\nCOPY --from=nostage /a /b\n", "Containerfile:2: COPY: --from=nostage: no stage or image named nostage"),
        ("FROM nosuchimage:7\n", "Containerfile:1: FROM: base image nosuchimage:7 is not in the store"),
        ("FROM base:1\nRUN echo partial > /file && exit 3\n", "Containerfile:2: the command '/bin/sh -c echo partial > /file && exit 3' returned a non-zero code: 3"),
        ("FROM base:1\nUSER nobody\nRUN true\n", "USER nobody: unable to find user nobody"),
        ("FROM base:1\nCOPY --chmod=999 Containerfile /\n", "Containerfile:2: COPY: invalid --chmod=999"),
    ];
    for (i, (file, want)) in cases.iter().enumerate() {
        let ctx = f.context(&format!("bad{i}"), &[("Containerfile", file)]);
        let before = f.store.images().unwrap().len();
        let (r, events) = f.build(&ctx, &format!("bad:{i}"), &[], false);
        let err = r.expect_err(file);
        assert!(
            err.to_string().contains(want),
            "{file:?}: got {err}, events {events:?}"
        );
        if want.contains("non-zero code") {
            assert!(matches!(err, Error::RunFailed { code: 3, .. }), "{err:?}");
        }
        assert_eq!(
            f.store.images().unwrap().len(),
            before,
            "no image is left from a failed build"
        );
        f.assert_clean();
    }
    let ctx = f.context("target", &[("Containerfile", "FROM base:1 AS one\n")]);
    let (r, _) = f.build_with(BuildOptions {
        context: ctx,
        target: Some("two".into()),
        ..BuildOptions::default()
    });
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("target stage \"two\" could not be found"));
}

#[test]
fn target_stops_at_the_named_stage() {
    need_root!();
    let f = Fixture::new();
    f.base();
    let ctx = f.context(
        "tgt",
        &[("Containerfile", "FROM base:1 AS first\nRUN <<EOF\nset -e\necho one > /one\nEOF\nFROM first AS second\nRUN echo two > /two\n")],
    );
    let (r, events) = f.build_with(BuildOptions {
        context: ctx,
        tags: vec![Reference::parse("tgt:1").unwrap()],
        target: Some("first".into()),
        ..BuildOptions::default()
    });
    r.unwrap_or_else(|e| panic!("{e}\n{events:?}"));
    assert_eq!(f.file("tgt:1", "one").unwrap().0, "one\n");
    assert!(f.file("tgt:1", "two").is_none());
    assert!(!events.iter().any(|e| e.contains("echo two")), "{events:?}");
    f.assert_clean();
}

#[test]
fn from_pulls_a_base_image_the_store_lacks() {
    need_root!();
    let Some(reg) = support::Registry::start() else {
        return;
    };
    let f = Fixture::new();
    f.base();
    let remote = Reference::parse(&format!("{}/tug/base:1", reg.addr)).unwrap();
    tug_image::registry::push(&f.store, "base:1", &remote, &Default::default(), &|_| {}).unwrap();

    // A second store that has never seen the base image.
    let other = Store::open(f.dir.path().join("other")).unwrap();
    let ctx = f.context(
        "pull",
        &[(
            "Containerfile",
            &format!("FROM {remote}\nRUN echo pulled > /p\n"),
        )],
    );
    let mut notes = Vec::new();
    let built = build(
        &other,
        &BuildOptions {
            context: ctx,
            tags: vec![Reference::parse("pulled:1").unwrap()],
            ..BuildOptions::default()
        },
        &mut |e| {
            if let BuildEvent::Note(n) = e {
                notes.push(n.to_string());
            }
        },
    );
    built.unwrap_or_else(|e| panic!("{e}"));
    assert!(notes.iter().any(|n| n.contains("pulling")), "{notes:?}");
    assert!(
        other.image(&remote.to_string()).is_ok(),
        "the base is in the store now"
    );
    let img = other.image("pulled:1").unwrap();
    let dirs = other
        .unpack(&img, &Default::default(), &mut |_| {})
        .unwrap();
    assert_eq!(
        fs::read_to_string(dirs.last().unwrap().join("p")).unwrap(),
        "pulled\n"
    );
    f.assert_clean();
}

#[test]
fn metadata_instructions_land_in_the_config_and_shell_changes_run() {
    need_root!();
    let f = Fixture::new();
    f.base();
    let file = r#"FROM base:1
ARG V=1.0
LABEL version=$V "description"="a \"quoted\" label"
ENV PATH=/usr/local/bin:/bin NAME=${V:+set}
EXPOSE 80 53/udp
VOLUME ["/data", "/logs"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD wget -q -O- http://localhost/ || exit 1
SHELL ["/bin/sh", "-ec"]
RUN echo "$NAME" > /name
ONBUILD RUN echo child
MAINTAINER someone@example.com
ENTRYPOINT echo hi
"#;
    let ctx = f.context("meta", &[("Containerfile", file)]);
    let (r, events) = f.build(&ctx, "meta:1", &[], false);
    r.unwrap_or_else(|e| panic!("{e}\n{events:?}"));
    let config = f.config("meta:1");
    let c = &config["config"];
    assert_eq!(c["Labels"]["version"], "1.0");
    assert_eq!(c["Labels"]["description"], "a \"quoted\" label");
    assert_eq!(
        c["Env"],
        serde_json::json!(["PATH=/usr/local/bin:/bin", "NAME=set"])
    );
    assert!(c["ExposedPorts"]["80/tcp"].is_object() && c["ExposedPorts"]["53/udp"].is_object());
    assert!(c["Volumes"]["/data"].is_object() && c["Volumes"]["/logs"].is_object());
    assert_eq!(c["StopSignal"], "SIGQUIT");
    assert_eq!(
        c["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"], "Interval": 30_000_000_000u64, "Timeout": 90_000_000_000u64, "Retries": 3})
    );
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo child"]));
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/bin/sh", "-ec", "echo hi"])
    );
    assert!(
        c["Cmd"].is_null(),
        "ENTRYPOINT resets the base image's CMD: {c}"
    );
    assert_eq!(config["author"], "someone@example.com");
    assert_eq!(f.file("meta:1", "name").unwrap().0, "set\n");
    let history = config["history"].as_array().unwrap();
    assert!(
        history
            .iter()
            .any(|h| h["created_by"] == "|1 V=1.0 /bin/sh -ec echo \"$NAME\" > /name"),
        "{history:?}"
    );
    // Bad values are named.
    let ctx = f.context(
        "meta",
        &[(
            "Containerfile",
            "FROM base:1\nHEALTHCHECK --interval=soon CMD true\n",
        )],
    );
    let err = f
        .build(&ctx, "meta:2", &[], false)
        .0
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Containerfile:2: HEALTHCHECK: invalid --interval=soon"),
        "{err}"
    );
    let ctx = f.context("meta", &[("Containerfile", "FROM base:1\nEXPOSE eighty\n")]);
    let err = f
        .build(&ctx, "meta:3", &[], false)
        .0
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Containerfile:2: EXPOSE: invalid port \"eighty/tcp\""),
        "{err}"
    );
    f.assert_clean();
}

#[test]
fn onbuild_triggers_run_in_the_child_build_and_are_not_inherited() {
    need_root!();
    let f = Fixture::new();
    f.base();
    let parent = f.context("parent", &[("Containerfile", "FROM base:1\nONBUILD RUN echo triggered > /onbuild\n")]);
    let (r, events) = f.build(&parent, "parent:1", &[], false);
    r.unwrap_or_else(|e| panic!("{e}\n{events:?}"));
    assert!(f.file("parent:1", "onbuild").is_none(), "a trigger must not run in its own image");
    let child = f.context("child", &[("Containerfile", "FROM parent:1\nRUN cat /onbuild > /copy\n")]);
    let (r, events) = f.build(&child, "child:1", &[], false);
    r.unwrap_or_else(|e| panic!("{e}\n{events:?}"));
    assert_eq!(f.file("child:1", "copy").unwrap().0, "triggered\n");
    assert!(f.config("child:1")["config"]["OnBuild"].is_null());
}
