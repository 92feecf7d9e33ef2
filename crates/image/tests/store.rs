//! The content store: verified atomic blobs, tags in index.json, images, prune.

mod common;

use std::fs;
use std::sync::Arc;

use oci_spec::image::{Descriptor, MediaType};
use tug_image::layout::{self, REF_NAME_ANNOTATION};
use tug_image::{digest, Error, PruneOptions, Reference, Store, UnpackOptions};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("image")).unwrap();
    (dir, store)
}

#[test]
fn new_store_is_an_oci_layout() {
    let (_dir, store) = store();
    layout::check_marker(store.root()).unwrap();
    assert!(store.index_json().unwrap().manifests().is_empty());
    assert!(store.root().join("blobs/sha256").is_dir());
}

#[test]
fn blobs_are_verified_and_appear_atomically() {
    let (_dir, store) = store();
    let (d, size) = store.put_blob(&b"hello"[..], None).unwrap();
    assert_eq!((d.clone(), size), (digest::of_bytes(b"hello"), 5));
    assert_eq!(store.read_blob(&d).unwrap(), b"hello");
    assert_eq!(
        fs::read(store.root().join("blobs/sha256").join(d.digest())).unwrap(),
        b"hello"
    );

    let wrong = digest::of_bytes(b"something else");
    let err = store.put_blob(&b"hello!"[..], Some(&wrong)).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(wrong.as_ref()), "{err}");
    assert!(!store.has_blob(&wrong));
    assert_eq!(
        fs::read_dir(store.root().join("ingest")).unwrap().count(),
        0,
        "no leftovers"
    );

    let desc = Descriptor::new(MediaType::ImageLayer, 4, d.clone());
    let err = store.put_blob_for(&b"hello"[..], &desc);
    // Already present: not re-read, but the descriptor's size is still checked.
    assert!(matches!(err, Err(Error::SizeMismatch { .. })), "{err:?}");

    let missing = digest::of_bytes(b"missing");
    assert!(matches!(
        store.open_blob(&missing),
        Err(Error::BlobNotFound(_))
    ));
}

#[test]
fn a_corrupted_blob_is_detected_on_read() {
    let (_dir, store) = store();
    let (d, _) = store.put_bytes(b"{}").unwrap();
    fs::write(store.blob_path(&d).unwrap(), b"[]").unwrap();
    let err = store.read_blob(&d).unwrap_err().to_string();
    assert!(
        err.contains("digest mismatch") && err.contains(d.as_ref()),
        "{err}"
    );
}

#[test]
fn tags_are_normalized_names_in_index_json() {
    let (_dir, store) = store();
    let m1 = common::busybox_image(&store, "busybox");
    let entries = store.index_json().unwrap().manifests().clone();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].annotations().as_ref().unwrap()[REF_NAME_ANNOTATION],
        "docker.io/library/busybox:latest"
    );
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox",
        "library/busybox:latest",
    ] {
        let (r, d) = store.resolve(name).unwrap();
        assert_eq!(d.digest(), m1.digest(), "{name}");
        assert_eq!(r.unwrap().to_string(), "docker.io/library/busybox:latest");
    }
    let image = store.image("busybox").unwrap();
    assert_eq!(image.descriptor.digest(), m1.digest());
    assert_eq!(image.layers().unwrap().len(), 1);
    // By image ID (config digest), its short prefix, and by manifest digest.
    let id = image.id().clone();
    assert_eq!(store.resolve(id.as_ref()).unwrap().1.digest(), m1.digest());
    assert_eq!(
        store.resolve(&id.digest()[..12]).unwrap().1.digest(),
        m1.digest()
    );
    assert_eq!(
        store.resolve(m1.digest().as_ref()).unwrap().1.digest(),
        m1.digest()
    );
    assert_eq!(
        store
            .resolve(&format!("busybox@{}", m1.digest()))
            .unwrap()
            .1
            .digest(),
        m1.digest()
    );

    // Retagging moves the name and returns where it pointed before.
    let config = store.config(image.id()).unwrap();
    let m2 = store.write_image(&config, &[]).unwrap();
    let before = store
        .tag(&Reference::parse("busybox").unwrap(), &m2)
        .unwrap();
    assert_eq!(before.unwrap().digest(), m1.digest());
    store
        .tag(
            &Reference::parse("localhost:5000/tools/bb:v1").unwrap(),
            &m1,
        )
        .unwrap();
    let mut names: Vec<String> = store
        .images()
        .unwrap()
        .iter()
        .map(|i| i.name.as_ref().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "docker.io/library/busybox:latest",
            "localhost:5000/tools/bb:v1"
        ]
    );

    let removed = store
        .untag(&Reference::parse("localhost:5000/tools/bb:v1").unwrap())
        .unwrap();
    assert_eq!(removed.digest(), m1.digest());
    let err = store
        .untag(&Reference::parse("nothere").unwrap())
        .unwrap_err();
    assert!(err.is_not_found() && err.to_string().contains("docker.io/library/nothere:latest"));
    assert!(store.image("nothere").unwrap_err().is_not_found());
}

#[test]
fn tag_refuses_what_is_not_an_image_or_not_stored() {
    let (_dir, store) = store();
    let (d, size) = store.put_bytes(b"layer bytes").unwrap();
    let layer = Descriptor::new(MediaType::ImageLayer, size, d);
    let err = store
        .tag(&"x".parse().unwrap(), &layer)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a manifest"), "{err}");
    let absent = Descriptor::new(MediaType::ImageManifest, 2, digest::of_bytes(b"{}"));
    assert!(matches!(
        store.tag(&"x".parse().unwrap(), &absent),
        Err(Error::BlobNotFound(_))
    ));
}

#[test]
fn prune_keeps_everything_a_tag_reaches_and_removes_the_rest() {
    let (_dir, store) = store();
    let kept = common::busybox_image(&store, "keep:1");
    let tree = tempfile::tempdir().unwrap();
    fs::write(tree.path().join("only-here"), "x").unwrap();
    let dropped = common::image_from_dirs(&store, "drop:1", &[tree.path()]);
    let stray = store.put_bytes(b"stray").unwrap().0;

    // Unpack both so that snapshots exist.
    let opts = UnpackOptions::default();
    let keep_img = store.image("keep:1").unwrap();
    let drop_img = store.image("drop:1").unwrap();
    let keep_snap = store.unpack(&keep_img, &opts, &mut |_| {}).unwrap();
    let drop_snap = store.unpack(&drop_img, &opts, &mut |_| {}).unwrap();

    // Nothing untagged yet: prune removes only the stray blob.
    let report = store.prune(&PruneOptions::default()).unwrap();
    assert_eq!(report.blobs, vec![stray]);

    store.untag(&"drop:1".parse().unwrap()).unwrap();
    let report = store.prune(&PruneOptions::default()).unwrap();
    let drop_layer = drop_img.manifest.layers()[0].digest().clone();
    assert!(report.blobs.contains(dropped.digest()));
    assert!(report.blobs.contains(drop_img.id()));
    assert!(report.blobs.contains(&drop_layer));
    assert_eq!(report.blobs.len(), 3, "{:?}", report.blobs);
    assert!(report.bytes_freed > 0);
    assert!(!drop_snap[0].exists());
    assert!(keep_snap[0].exists());
    // What the kept tag reaches is whole: manifest, config, layer, snapshot.
    let again = store.image("keep:1").unwrap();
    assert_eq!(again.descriptor.digest(), kept.digest());
    for l in again.manifest.layers() {
        assert!(store.has_blob(l.digest()));
    }
    assert!(store
        .prune(&PruneOptions::default())
        .unwrap()
        .blobs
        .is_empty());
}

#[test]
fn prune_keeps_extra_roots_and_can_drop_unnamed_images() {
    let (_dir, store) = store();
    let m = common::busybox_image(&store, "a");
    store.untag(&"a".parse().unwrap()).unwrap();
    store.add_untagged(&m).unwrap();
    let listed = store.images().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].name.is_none());

    assert!(store
        .prune(&PruneOptions::default())
        .unwrap()
        .blobs
        .is_empty());
    let keep = PruneOptions {
        untagged: true,
        keep: vec![m.digest().clone()],
        ..Default::default()
    };
    let report = store.prune(&keep).unwrap();
    assert_eq!(report.untagged, vec![m.digest().clone()]);
    assert!(report.blobs.is_empty(), "kept as an extra root");
    let report = store.prune(&PruneOptions::default()).unwrap();
    assert_eq!(report.blobs.len(), 3);
}

#[test]
fn concurrent_taggers_lose_no_update() {
    let (_dir, store) = store();
    let m = common::busybox_image(&store, "base");
    let store = Arc::new(store);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    store
                        .tag(&format!("t{t}:v{i}").parse().unwrap(), &m)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.images().unwrap().len(), 81);
}

#[test]
fn unpack_happens_once_per_layer_and_reports_progress() {
    let (_dir, store) = store();
    common::busybox_image(&store, "bb");
    let image = store.image("bb").unwrap();
    let mut events = Vec::new();
    let dirs = store
        .unpack(&image, &UnpackOptions::default(), &mut |p| {
            events.push(format!("{p:?}"))
        })
        .unwrap();
    assert!(dirs[0].join("bin/busybox").is_file());
    assert!(events[0].starts_with("LayerStarted"), "{events:?}");
    assert!(events.iter().any(|e| e.starts_with("LayerBytes")));
    assert!(events.last().unwrap().starts_with("LayerDone"));
    let mut again = Vec::new();
    store
        .unpack(&image, &UnpackOptions::default(), &mut |p| {
            again.push(format!("{p:?}"))
        })
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].starts_with("LayerCached"));
    let leftovers: Vec<_> = fs::read_dir(store.root().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_layer_that_lies_about_its_diff_id_is_refused_and_leaves_nothing() {
    let (_dir, store) = store();
    let tar = common::RawTar::new().file("f", b"x").finish();
    let (d, size) = store.put_bytes(&tar).unwrap();
    let layer = Descriptor::new(MediaType::ImageLayer, size, d);
    let lie = digest::of_bytes(b"not this");
    let m = store
        .write_image(&common::config(&["/f"]), &[(layer, lie.clone())])
        .unwrap();
    store.tag(&"liar".parse().unwrap(), &m).unwrap();
    let image = store.image("liar").unwrap();
    let err = store
        .unpack(&image, &UnpackOptions::default(), &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains(lie.as_ref()), "{err}");
    assert_eq!(
        fs::read_dir(store.root().join("snapshots"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn concurrent_unpacks_of_one_layer_both_succeed() {
    let (_dir, store) = store();
    common::busybox_image(&store, "bb");
    let store = Arc::new(store);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let image = store.image("bb").unwrap();
                store
                    .unpack(&image, &UnpackOptions::default(), &mut |_| {})
                    .unwrap()
            })
        })
        .collect();
    let dirs: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(dirs.windows(2).all(|w| w[0] == w[1]));
    assert!(dirs[0][0].join("bin/busybox").is_file());
    assert_eq!(
        fs::read_dir(store.root().join("snapshots"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn names_win_over_id_prefixes_and_unknown_digests_are_not_found() {
    let (_dir, store) = store();
    let m = common::busybox_image(&store, "beef");
    let id = store.image("beef").unwrap().id().clone();
    assert_eq!(
        store.resolve("beef").unwrap().0.unwrap().to_string(),
        "docker.io/library/beef:latest"
    );
    assert_eq!(
        store.resolve(&id.digest()[..6]).unwrap().1.digest(),
        m.digest()
    );
    let unknown = format!("sha256:{}", "0".repeat(64));
    let err = store.resolve(&unknown).unwrap_err();
    assert!(
        err.is_not_found() && err.to_string().contains(&unknown),
        "{err}"
    );
}

#[test]
fn a_hostile_layer_fails_the_unpack_names_the_entry_and_leaves_no_snapshot() {
    let (dir, store) = store();
    let tar = common::RawTar::new()
        .dir("etc")
        .symlink("etc/up", "../../..")
        .file("etc/up/escaped", b"x")
        .finish();
    let (d, size) = store.put_bytes(&tar).unwrap();
    let layer = Descriptor::new(MediaType::ImageLayer, size, d);
    let m = store
        .write_image(&common::config(&["/x"]), &[(layer, digest::of_bytes(&tar))])
        .unwrap();
    store.tag(&"hostile".parse().unwrap(), &m).unwrap();
    let image = store.image("hostile").unwrap();
    let err = store
        .unpack(&image, &UnpackOptions::default(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"etc/up/escaped\"") && err.contains("goes through symlink etc/up"),
        "{err}"
    );
    assert_eq!(
        fs::read_dir(store.root().join("snapshots"))
            .unwrap()
            .count(),
        0
    );
    assert!(!dir.path().join("escaped").exists());
}

#[test]
fn a_tag_remembers_its_images_rolls_back_and_prune_keeps_them() {
    let (dir, store) = store();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    fs::write(a.join("version"), "1").unwrap();
    fs::write(b.join("version"), "2").unwrap();
    let first = common::image_from_dirs(&store, "app:live", &[&a]);
    let second = common::image_from_dirs(&store, "app:live", &[&b]);
    let name: Reference = "app:live".parse().unwrap();
    let history: Vec<String> = store.tag_history(&name).unwrap().iter().map(|e| e.digest.clone()).collect();
    assert_eq!(history, [first.digest().to_string(), second.digest().to_string()]);
    // The first image is named by no tag now, yet prune keeps it for a rollback.
    store.prune(&PruneOptions { untagged: true, ..PruneOptions::default() }).unwrap();
    assert!(store.has_blob(first.digest()));
    let back = store.rollback(&name).unwrap();
    assert_eq!(back.digest(), first.digest());
    assert_eq!(store.image("app:live").unwrap().descriptor.digest(), first.digest());
    assert_eq!(store.tag_history(&name).unwrap().len(), 1);
    let err = store.rollback(&name).unwrap_err();
    assert!(err.to_string().contains("no earlier image to roll back to"), "{err}");
    assert!(matches!(store.rollback(&"nothing:here".parse().unwrap()), Err(Error::ImageNotFound(_))));
}

#[test]
fn commit_adds_one_layer_and_a_history_entry_over_the_image() {
    let (dir, store) = store();
    let base = common::busybox_image(&store, "base:1");
    let upper = dir.path().join("upper");
    fs::create_dir_all(upper.join("data")).unwrap();
    fs::write(upper.join("data/f"), "x").unwrap();
    let image = store.image(base.digest().as_ref()).unwrap();
    let options = tug_image::commit::CommitOptions { created_by: "sh -c make".into(), author: Some("me".into()), message: Some("saved".into()) };
    let committed = tug_image::commit::commit(&store, &image, &upper, &options).unwrap();
    let new = store.image(committed.digest().as_ref()).unwrap();
    assert_eq!(new.manifest.layers().len(), image.manifest.layers().len() + 1);
    let config: serde_json::Value = serde_json::from_slice(&store.read_blob(new.id()).unwrap()).unwrap();
    let last = config["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["created_by"].as_str(), last["author"].as_str(), last["comment"].as_str()), (Some("sh -c make"), Some("me"), Some("saved")));
    let layers = store.unpack(&new, &UnpackOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(fs::read_to_string(layers.last().unwrap().join("data/f")).unwrap(), "x");
}
