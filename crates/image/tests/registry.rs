//! Pull and push against a real registry: Debian's `docker-registry` started on
//! 127.0.0.1 by each test (and killed by PID when it ends), with Basic auth from an
//! htpasswd file (apache2-utils' `htpasswd -B`), and a token-auth proxy for the Bearer
//! flow. skopeo (Debian's package) checks interoperability both ways.

mod common;
#[path = "support/registry.rs"]
mod support;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use oci_spec::image::{Arch, Descriptor, ImageIndexBuilder, MediaType, Os, PlatformBuilder};
use tug_image::diff::{create_layer, LayerCompression};
use tug_image::registry::{self, Credentials, Event, Options};
use tug_image::{Reference, Store, UnpackOptions};

use support::{ProxyOptions, Registry, TokenProxy};

fn store(dir: &Path, name: &str) -> Store {
    Store::open(dir.join(name)).unwrap()
}

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

/// Collects events (from any thread) for later checks.
#[derive(Default)]
struct Events(Mutex<Vec<Event>>);

impl Events {
    fn f(&self) -> impl Fn(&Event) + Sync + '_ {
        move |e: &Event| self.0.lock().unwrap().push(e.clone())
    }
    fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.0.lock().unwrap().iter().filter(|e| pred(e)).count()
    }
}

fn unpacked_busybox(store: &Store, name: &str) -> Vec<u8> {
    let image = store.image(name).unwrap();
    let dirs = store
        .unpack(&image, &UnpackOptions::default(), &mut |_| {})
        .unwrap();
    fs::read(dirs.last().unwrap().join("bin/busybox")).unwrap()
}

#[test]
fn pushed_image_pulls_back_with_the_same_digests_after_local_delete() {
    let Some(reg) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let local = store(tmp.path(), "local");
    let manifest = common::busybox_image(&local, "busybox");
    let id = local.image("busybox").unwrap().id().clone();
    let dest = r(&format!("{}/tug/busybox:v1", reg.addr));

    let events = Events::default();
    let pushed =
        registry::push(&local, "busybox", &dest, &Options::default(), &events.f()).unwrap();
    assert_eq!(pushed.digest, *manifest.digest());
    assert_eq!(pushed.mounted, 0);
    assert!(pushed.uploaded > 0);
    assert_eq!(
        events.count(|e| matches!(e, Event::BlobDone { .. })),
        2,
        "config and layer"
    );

    // Pushing again uploads nothing: the registry has every blob.
    let again = Events::default();
    let pushed2 =
        registry::push(&local, "busybox", &dest, &Options::default(), &again.f()).unwrap();
    assert_eq!(pushed2.uploaded, 0);
    assert_eq!(again.count(|e| matches!(e, Event::BlobExists { .. })), 2);

    // Delete locally, prune, pull back.
    local.untag(&r("busybox")).unwrap();
    local.prune(&tug_image::PruneOptions::default()).unwrap();
    assert!(!local.has_blob(manifest.digest()));
    let events = Events::default();
    let pulled = registry::pull(&local, &dest, &Options::default(), &events.f()).unwrap();
    assert_eq!(pulled.descriptor.digest(), manifest.digest());
    assert_eq!(pulled.id, id);
    assert!(pulled.downloaded > 0);
    let image = local.image(&dest.to_string()).unwrap();
    assert_eq!(image.id(), &id);
    assert_eq!(
        unpacked_busybox(&local, &dest.to_string()),
        fs::read("/bin/busybox").unwrap()
    );

    // A second pull downloads nothing; a pull by digest keeps the image unnamed.
    let pulled = registry::pull(&local, &dest, &Options::default(), &|_| {}).unwrap();
    assert_eq!(pulled.downloaded, 0);
    let by_digest = r(&format!("{}/tug/busybox@{}", reg.addr, manifest.digest()));
    let other = store(tmp.path(), "other");
    registry::pull(&other, &by_digest, &Options::default(), &|_| {}).unwrap();
    let images = other.images().unwrap();
    assert_eq!(images.len(), 1);
    assert!(images[0].name.is_none());
    assert_eq!(images[0].id.as_ref(), Some(&id));
}

#[test]
fn second_repository_gets_shared_blobs_by_cross_repository_mount() {
    let Some(reg) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let local = store(tmp.path(), "local");
    common::busybox_image(&local, "busybox");
    let first = r(&format!("{}/team-a/busybox:v1", reg.addr));
    let second = r(&format!("{}/team-b/busybox:v1", reg.addr));
    registry::push(&local, "busybox", &first, &Options::default(), &|_| {}).unwrap();

    let events = Events::default();
    let pushed =
        registry::push(&local, "busybox", &second, &Options::default(), &events.f()).unwrap();
    assert_eq!(pushed.mounted, 2, "config and layer mounted");
    assert_eq!(pushed.uploaded, 0);
    assert_eq!(
        events.count(
            |e| matches!(e, Event::BlobMounted { from, .. } if from.ends_with("team-a/busybox"))
        ),
        2
    );
    // The registry saw mount requests and no upload for the second repository.
    let log = reg.log();
    assert!(
        reg.requests("POST", "/v2/team-b/busybox/blobs/uploads/?")
            .iter()
            .all(|l| l.contains("mount=")),
        "{log}"
    );
    assert_eq!(
        reg.requests("POST", "/v2/team-b/busybox/blobs/uploads/?mount=")
            .len(),
        2,
        "{log}"
    );
    assert!(reg.requests("PATCH", "/v2/team-b/").is_empty(), "{log}");
    assert!(
        reg.requests("PUT", "/v2/team-b/busybox/blobs/").is_empty(),
        "{log}"
    );

    // And the mounted repository serves the image.
    let fresh = store(tmp.path(), "fresh");
    registry::pull(&fresh, &second, &Options::default(), &|_| {}).unwrap();
    assert_eq!(
        unpacked_busybox(&fresh, &second.to_string()),
        fs::read("/bin/busybox").unwrap()
    );
}

#[test]
fn large_layer_is_uploaded_in_chunks_and_verified_on_pull() {
    let Some(reg) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let local = store(tmp.path(), "local");
    let tree = tmp.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    // 6 MiB that does not compress.
    let mut data = vec![0u8; 6 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    fs::File::create(tree.join("random.bin"))
        .unwrap()
        .write_all(&data)
        .unwrap();
    let layer = create_layer(&local, &tree, LayerCompression::Gzip).unwrap();
    let manifest = local
        .write_image(
            &common::config(&["/bin/true"]),
            std::slice::from_ref(&layer),
        )
        .unwrap();
    local.tag(&r("big:v1"), &manifest).unwrap();

    let options = Options {
        chunk_size: 1 << 20,
        ..Options::default()
    };
    let dest = r(&format!("{}/tug/big:v1", reg.addr));
    let events = Events::default();
    registry::push(&local, "big:v1", &dest, &options, &events.f()).unwrap();
    let chunks = layer.0.size().div_ceil(1 << 20) as usize;
    assert!(chunks >= 6);
    let patches = reg.requests("PATCH", "/v2/tug/big/blobs/uploads/");
    assert_eq!(patches.len(), chunks, "{}", reg.log());
    assert!(events.count(|e| matches!(e, Event::BlobProgress { .. })) >= chunks);

    let fresh = store(tmp.path(), "fresh");
    let pulled = registry::pull(&fresh, &dest, &Options::default(), &|_| {}).unwrap();
    assert_eq!(pulled.descriptor.digest(), manifest.digest());
    let image = fresh.image(&dest.to_string()).unwrap();
    let dirs = fresh
        .unpack(&image, &UnpackOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(fs::read(dirs[0].join("random.bin")).unwrap(), data);
}

#[test]
fn index_is_pushed_whole_and_pull_fetches_only_this_platforms_blobs() {
    let Some(reg) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let local = store(tmp.path(), "local");
    let native = common::busybox_image(&local, "native");
    // A second "platform": another small image.
    let other_tree = tmp.path().join("other");
    fs::create_dir_all(&other_tree).unwrap();
    fs::write(other_tree.join("hello"), "not this machine").unwrap();
    let other = common::image_from_dirs(&local, "other", &[&other_tree]);
    let other_arch = if tug_image::platform_arch() == "amd64" {
        Arch::ARM64
    } else {
        Arch::Amd64
    };
    let with_platform = |d: &Descriptor, arch: Arch| {
        let mut d = d.clone();
        d.set_platform(Some(
            PlatformBuilder::default()
                .os(Os::Linux)
                .architecture(arch)
                .build()
                .unwrap(),
        ));
        d
    };
    let this_arch = match tug_image::platform_arch() {
        "amd64" => Arch::Amd64,
        "arm64" => Arch::ARM64,
        a => Arch::Other(a.to_string()),
    };
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![
            with_platform(&other, other_arch),
            with_platform(&native, this_arch),
        ])
        .build()
        .unwrap();
    let index_desc = local.put_index(&index).unwrap();
    local.tag(&r("multi:v1"), &index_desc).unwrap();

    let dest = r(&format!("{}/tug/multi:v1", reg.addr));
    let pushed = registry::push(&local, "multi:v1", &dest, &Options::default(), &|_| {}).unwrap();
    assert_eq!(pushed.digest, *index_desc.digest());

    let fresh = store(tmp.path(), "fresh");
    let pulled = registry::pull(&fresh, &dest, &Options::default(), &|_| {}).unwrap();
    assert_eq!(
        pulled.descriptor.digest(),
        index_desc.digest(),
        "the name points at the index"
    );
    assert_eq!(pulled.manifest.digest(), native.digest());
    let other_manifest = local.manifest(other.digest()).unwrap();
    assert!(!fresh.has_blob(other.digest()));
    assert!(!fresh.has_blob(other_manifest.layers()[0].digest()));
    assert_eq!(
        unpacked_busybox(&fresh, &dest.to_string()),
        fs::read("/bin/busybox").unwrap()
    );

    // Pushing that partial index elsewhere sends this platform's manifest alone.
    let dest2 = r(&format!("{}/tug/multi-partial:v1", reg.addr));
    let pushed = registry::push(
        &fresh,
        &dest.to_string(),
        &dest2,
        &Options::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(pushed.digest, *native.digest());
}

#[test]
fn basic_auth_registry_needs_the_right_credentials() {
    let Some(reg) = Registry::start_with_htpasswd("tug", "s3cret") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let local = store(tmp.path(), "local");
    common::busybox_image(&local, "busybox");
    let dest = r(&format!("{}/private/busybox:v1", reg.addr));
    let no_files = Options {
        auth_file: Some(tmp.path().join("none.json")),
        ..Options::default()
    };

    let err = registry::push(&local, "busybox", &dest, &no_files, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("401") && err.contains("authentication required"),
        "{err}"
    );
    let wrong = Options {
        credentials: Some(Credentials::new("tug", "wrong")),
        ..no_files.clone()
    };
    let err = registry::push(&local, "busybox", &dest, &wrong, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("credentials refused"), "{err}");
    assert!(registry::login(&reg.addr, &wrong).is_err());

    let right = Options {
        credentials: Some(Credentials::new("tug", "s3cret")),
        ..no_files.clone()
    };
    registry::login(&reg.addr, &right).unwrap();
    registry::push(&local, "busybox", &dest, &right, &|_| {}).unwrap();

    // Credentials from a Docker-style auths file.
    let auth_file = tmp.path().join("docker/config.json");
    registry::auth::store_credentials(&auth_file, &reg.addr, &Credentials::new("tug", "s3cret"))
        .unwrap();
    let from_file = Options {
        auth_file: Some(auth_file),
        ..Options::default()
    };
    let fresh = store(tmp.path(), "fresh");
    registry::pull(&fresh, &dest, &from_file, &|_| {}).unwrap();
    assert!(fresh.image(&dest.to_string()).is_ok());
}

#[test]
fn bearer_token_flow_gets_scoped_tokens_for_pull_push_and_mount() {
    let Some(reg) = Registry::start() else { return };
    let proxy = TokenProxy::start(ProxyOptions {
        upstream: reg.addr.clone(),
        user: "robot".into(),
        password: "t0ken-pass".into(),
        corrupt_blobs: false,
    });
    let tmp = tempfile::tempdir().unwrap();
    let local = store(tmp.path(), "local");
    common::busybox_image(&local, "busybox");
    let no_files = Options {
        auth_file: Some(tmp.path().join("none.json")),
        ..Options::default()
    };
    let dest = r(&format!("{}/app/one:v1", proxy.addr));

    let err = registry::push(&local, "busybox", &dest, &no_files, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("token request") && err.contains("401"),
        "{err}"
    );

    let creds = Options {
        credentials: Some(Credentials::new("robot", "t0ken-pass")),
        ..no_files.clone()
    };
    registry::push(&local, "busybox", &dest, &creds, &|_| {}).unwrap();
    let second = r(&format!("{}/app/two:v1", proxy.addr));
    let pushed = registry::push(&local, "busybox", &second, &creds, &|_| {}).unwrap();
    assert_eq!(pushed.mounted, 2);
    let seen = proxy.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("POST /v2/app/two/blobs/uploads/?mount=")
                && l.contains("repository:app/one:pull")
                && l.contains("repository:app/two:pull,push")),
        "{seen:#?}"
    );

    let fresh = store(tmp.path(), "fresh");
    registry::pull(&fresh, &second, &creds, &|_| {}).unwrap();
    assert_eq!(
        unpacked_busybox(&fresh, &second.to_string()),
        fs::read("/bin/busybox").unwrap()
    );
}

#[test]
fn tampered_blob_is_refused_and_leaves_no_image() {
    let Some(reg) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let local = store(tmp.path(), "local");
    let manifest = common::busybox_image(&local, "busybox");
    let dest = r(&format!("{}/tug/busybox:v1", reg.addr));
    registry::push(&local, "busybox", &dest, &Options::default(), &|_| {}).unwrap();

    let proxy = TokenProxy::start(ProxyOptions {
        upstream: reg.addr.clone(),
        user: "u".into(),
        password: "p".into(),
        corrupt_blobs: true,
    });
    let via_proxy = r(&format!("{}/tug/busybox:v1", proxy.addr));
    let options = Options {
        credentials: Some(Credentials::new("u", "p")),
        parallel: 1,
        ..Options::default()
    };
    let fresh = store(tmp.path(), "fresh");
    let err = registry::pull(&fresh, &via_proxy, &options, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(fresh.images().unwrap().is_empty());
    assert!(!fresh.has_blob(manifest.digest()));
    let blobs = fs::read_dir(fresh.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "no unverified blob is kept");
}

#[test]
fn unknown_repository_and_tag_errors_name_them() {
    let Some(reg) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let local = store(tmp.path(), "local");
    let err = registry::pull(
        &local,
        &r(&format!("{}/nope/nothing:v9", reg.addr)),
        &Options::default(),
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("nope/nothing:v9") && err.contains("404"),
        "{err}"
    );
    // Nothing listens here.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = registry::pull(
        &local,
        &r(&format!("127.0.0.1:{port}/x:y")),
        &Options::default(),
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cannot reach registry"), "{err}");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn skopeo_and_tug_read_what_the_other_pushed() {
    let Some(reg) = Registry::start() else { return };
    let Some(skopeo) = support::skopeo() else {
        support::unavailable("skopeo (apt-get install skopeo)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let local = store(tmp.path(), "local");
    let manifest = common::busybox_image(&local, "busybox");

    // skopeo pushes (from our store, an OCI layout), in Docker schema 2 form; tug pulls.
    let root = local.root().display().to_string();
    run(Command::new(&skopeo).args([
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        &format!("oci:{root}:docker.io/library/busybox:latest"),
        &format!("docker://{}/from-skopeo/busybox:v2s2", reg.addr),
    ]));
    let fresh = store(tmp.path(), "fresh");
    let src = r(&format!("{}/from-skopeo/busybox:v2s2", reg.addr));
    let pulled = registry::pull(&fresh, &src, &Options::default(), &|_| {}).unwrap();
    assert_eq!(
        pulled.descriptor.media_type().to_string(),
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        unpacked_busybox(&fresh, &src.to_string()),
        fs::read("/bin/busybox").unwrap()
    );

    // tug pushes; skopeo inspects and copies it out, digests agree.
    let dest = r(&format!("{}/from-tug/busybox:v1", reg.addr));
    registry::push(&local, "busybox", &dest, &Options::default(), &|_| {}).unwrap();
    let out = run(Command::new(&skopeo).args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/from-tug/busybox:v1", reg.addr),
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Digest"], manifest.digest().to_string());
    assert_eq!(v["Architecture"], tug_image::platform_arch());
    let layout = tmp.path().join("skopeo-layout");
    run(Command::new(&skopeo).args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/from-tug/busybox:v1", reg.addr),
        &format!("oci:{}:v1", layout.display()),
    ]));
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"],
        manifest.digest().to_string()
    );
}
