//! A container root filesystem as an overlay of layer snapshots (needs root for the
//! mount): whiteouts in upper layers hide lower files, writes land in the container's
//! upper directory, and a diff of that directory is a layer with OCI whiteouts.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use tug_image::diff::{create_layer, write_layer_tar, LayerCompression};
use tug_image::overlay::mount_rootfs;
use tug_image::{whiteout, Store};

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn mounted(target: &Path) -> bool {
    let target = target.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(target.as_str()))
}

/// Names in a tar, in order.
fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn rootfs_stacks_layers_hides_whiteouts_and_writes_to_upper() {
    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "overlay tests need root in CI");
        eprintln!("skipped: overlay mounts need root");
        return;
    }
    // Temp dirs outlive the mount (declared first, dropped last).
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path().join("image")).unwrap();

    // Layer 1: busybox, etc/motd, dir/{a,b}.
    let l1 = tempfile::tempdir().unwrap();
    common::busybox_tree(l1.path());
    fs::write(l1.path().join("etc/motd"), "lower motd").unwrap();
    fs::create_dir(l1.path().join("dir")).unwrap();
    fs::write(l1.path().join("dir/a"), "a").unwrap();
    fs::write(l1.path().join("dir/b"), "b").unwrap();

    // Layer 2, written the way an overlay upper dir looks: a whiteout for etc/motd,
    // dir opaque with a new file c. create_layer turns these into OCI whiteouts.
    let l2 = tempfile::tempdir().unwrap();
    fs::create_dir(l2.path().join("etc")).unwrap();
    whiteout::create_overlay_whiteout(&l2.path().join("etc/motd")).unwrap();
    fs::create_dir(l2.path().join("dir")).unwrap();
    whiteout::set_opaque(&l2.path().join("dir")).unwrap();
    fs::write(l2.path().join("dir/c"), "c").unwrap();
    let mut tar = Vec::new();
    write_layer_tar(l2.path(), &mut tar).unwrap();
    assert_eq!(
        tar_names(&tar),
        ["dir", "dir/.wh..wh..opq", "dir/c", "etc", "etc/.wh.motd"]
    );

    common::image_from_dirs(&store, "stack:1", &[l1.path(), l2.path()]);
    let image = store.image("stack:1").unwrap();

    let container = tempfile::tempdir().unwrap();
    let mount = mount_rootfs(&store, &image, container.path()).unwrap();
    let root = mount.target().to_path_buf();
    assert!(mounted(&root));

    assert!(root.join("bin/busybox").is_file());
    assert!(
        !root.join("etc/motd").exists(),
        "whiteout hides the lower file"
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "tugboat\n"
    );
    let mut dir: Vec<_> = fs::read_dir(root.join("dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    dir.sort();
    assert_eq!(dir, ["c"], "opaque dir hides lower entries");

    // Writes land in the private upper dir, never in the shared snapshots.
    fs::write(root.join("etc/new"), "new").unwrap();
    fs::remove_file(root.join("etc/hostname")).unwrap();
    let upper = mount.upper().to_path_buf();
    assert_eq!(fs::read_to_string(upper.join("etc/new")).unwrap(), "new");
    assert!(whiteout::is_overlay_whiteout(
        &fs::symlink_metadata(upper.join("etc/hostname")).unwrap()
    ));
    let snapshots = store
        .unpack(&image, &Default::default(), &mut |_| {})
        .unwrap();
    assert!(snapshots[0].join("etc/hostname").exists());
    assert!(!snapshots[1].join("etc/new").exists());

    // The container's changes become a layer with OCI whiteouts.
    let mut tar = Vec::new();
    write_layer_tar(&upper, &mut tar).unwrap();
    let names = tar_names(&tar);
    assert!(names.contains(&"etc/new".to_string()), "{names:?}");
    assert!(names.contains(&"etc/.wh.hostname".to_string()), "{names:?}");
    let (layer, diff_id) = create_layer(&store, &upper, LayerCompression::Gzip).unwrap();
    assert!(store.has_blob(layer.digest()));
    assert_ne!(layer.digest(), &diff_id);

    mount.unmount().unwrap();
    assert!(!mounted(&root));
}

#[test]
fn dropping_the_mount_unmounts_it() {
    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "overlay tests need root in CI");
        eprintln!("skipped: overlay mounts need root");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path().join("image")).unwrap();
    common::busybox_image(&store, "bb");
    let image = store.image("bb").unwrap();
    let container = tempfile::tempdir().unwrap();
    let target = {
        let mount = mount_rootfs(&store, &image, container.path()).unwrap();
        assert!(mount.target().join("bin/sh").exists());
        mount.target().to_path_buf()
    };
    assert!(!mounted(&target));
    // Image without layers (FROM scratch) mounts too.
    let empty = store.write_image(&common::config(&["/x"]), &[]).unwrap();
    store.tag(&"scratch-like".parse().unwrap(), &empty).unwrap();
    let image = store.image("scratch-like").unwrap();
    let c2 = tempfile::tempdir().unwrap();
    let mount = mount_rootfs(&store, &image, c2.path()).unwrap();
    assert_eq!(fs::read_dir(mount.target()).unwrap().count(), 0);
    assert_eq!(fs::metadata(mount.target()).unwrap().uid(), 0);
    mount.unmount().unwrap();
}
