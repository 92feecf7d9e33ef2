//! Layer extraction: hostile entries are refused with an error naming the entry and
//! nothing lands outside the target; whiteouts become overlayfs whiteouts.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use common::RawTar;
use tar::EntryType;
use tug_image::unpack::{unpack_layer, DevicePolicy, UnpackOptions};
use tug_image::{digest, whiteout, Error};

fn unpack(tar: &[u8], target: &Path) -> tug_image::Result<()> {
    unpack_layer(tar, target, &UnpackOptions::default()).map(|_| ())
}

/// Unpacks `tar` into `root/layer` and expects a refusal that names `entry` and says
/// `why`; nothing may appear in `root` outside the layer directory.
fn assert_refused(tar: Vec<u8>, entry: &str, why: &str) {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("layer");
    let err = unpack(&tar, &target).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::UnsafeEntry { .. }), "{msg}");
    assert!(
        msg.contains(&format!("{entry:?}")),
        "error should name {entry}: {msg}"
    );
    assert!(msg.contains(why), "error should say {why:?}: {msg}");
    let outside: Vec<_> = fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        outside,
        vec![std::ffi::OsString::from("layer")],
        "nothing outside the layer"
    );
}

#[test]
fn dotdot_entries_are_refused() {
    assert_refused(
        RawTar::new().file("../evil", b"x").finish(),
        "../evil",
        "'..'",
    );
    assert_refused(
        RawTar::new().dir("a").file("a/../../evil", b"x").finish(),
        "a/../../evil",
        "'..'",
    );
}

#[test]
fn absolute_entries_are_refused() {
    assert_refused(
        RawTar::new().file("/evil", b"x").finish(),
        "/evil",
        "absolute path",
    );
}

#[test]
fn writing_through_a_planted_symlink_is_refused() {
    let target = tempfile::tempdir().unwrap();
    let t = target.path().display().to_string();
    assert_refused(
        RawTar::new()
            .symlink("a", &t)
            .file("a/passwd", b"pwned")
            .finish(),
        "a/passwd",
        "goes through symlink a",
    );
    assert!(!target.path().join("passwd").exists());
    // Relative and nested forms of the same trick.
    assert_refused(
        RawTar::new()
            .dir("d")
            .symlink("d/up", "../..")
            .file("d/up/evil", b"x")
            .finish(),
        "d/up/evil",
        "goes through symlink d/up",
    );
    // A whiteout or opaque marker under a symlink is refused too.
    assert_refused(
        RawTar::new()
            .symlink("etc", "/etc")
            .file("etc/.wh.passwd", b"")
            .finish(),
        "etc/.wh.passwd",
        "goes through symlink etc",
    );
}

#[test]
fn hard_links_must_point_inside_the_layer() {
    assert_refused(
        RawTar::new().hardlink("x", "/etc/passwd").finish(),
        "x",
        "hard link target is an absolute path",
    );
    assert_refused(
        RawTar::new().hardlink("x", "../../etc/passwd").finish(),
        "x",
        "hard link target has a '..' component",
    );
    assert_refused(
        RawTar::new().hardlink("x", "etc/passwd").finish(),
        "x",
        "not in this layer",
    );
    assert_refused(
        RawTar::new()
            .symlink("l", "/etc")
            .hardlink("x", "l/passwd")
            .finish(),
        "x",
        "goes through symlink l",
    );
}

#[test]
fn device_nodes_are_refused_unless_allowed() {
    let tar = RawTar::new()
        .device("dev/mem", EntryType::Char, 1, 1)
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let refuse = UnpackOptions {
        devices: DevicePolicy::Refuse,
        same_owner: false,
    };
    let err = unpack_layer(&tar[..], dir.path(), &refuse)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"dev/mem\"") && err.contains("character device 1:1 not allowed"),
        "{err}"
    );
    let block = RawTar::new().device("sda", EntryType::Block, 8, 0).finish();
    let err = unpack_layer(&block[..], dir.path(), &refuse)
        .unwrap_err()
        .to_string();
    assert!(err.contains("block device 8:0 not allowed"), "{err}");

    if unsafe_is_root() {
        let allowed = tempfile::tempdir().unwrap();
        let allow = UnpackOptions {
            devices: DevicePolicy::Allow,
            same_owner: true,
        };
        unpack_layer(&tar[..], allowed.path(), &allow).unwrap();
        let m = fs::symlink_metadata(allowed.path().join("dev/mem")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), libc::makedev(1, 1));
    }
}

fn unsafe_is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[test]
fn symlinks_may_point_anywhere_and_hard_links_inside_work() {
    let dir = tempfile::tempdir().unwrap();
    let tar = RawTar::new()
        .symlink("abs", "/etc/passwd")
        .symlink("rel", "../../x")
        .dir("bin")
        .file("bin/busybox", b"binary")
        .hardlink("bin/sh", "bin/busybox")
        .hardlink("bin/ln-to-link", "abs")
        .finish();
    unpack(&tar, dir.path()).unwrap();
    assert_eq!(
        fs::read_link(dir.path().join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::read_link(dir.path().join("rel")).unwrap(),
        Path::new("../../x")
    );
    let a = fs::metadata(dir.path().join("bin/busybox")).unwrap();
    let b = fs::metadata(dir.path().join("bin/sh")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    assert!(fs::symlink_metadata(dir.path().join("bin/ln-to-link"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn whiteouts_become_overlay_whiteouts_and_opaque_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let tar = RawTar::new()
        .file(".wh.gone", b"")
        .dir("etc")
        .file("etc/.wh.passwd", b"")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/kept", b"k")
        .file("same", b"this layer's file")
        .file(".wh.same", b"")
        .file(".wh..wh.plnk", b"")
        .finish();
    unpack(&tar, dir.path()).unwrap();
    for w in ["gone", "etc/passwd"] {
        let m = fs::symlink_metadata(dir.path().join(w)).unwrap();
        assert!(
            whiteout::is_overlay_whiteout(&m),
            "{w} is a 0:0 char device"
        );
    }
    assert!(whiteout::is_opaque(&dir.path().join("opq")).unwrap());
    assert_eq!(fs::read(dir.path().join("opq/kept")).unwrap(), b"k");
    // A whiteout hides lower layers only: this layer's own file stays.
    assert_eq!(
        fs::read(dir.path().join("same")).unwrap(),
        b"this layer's file"
    );
    assert!(!dir.path().join(".wh..wh.plnk").exists());
    assert!(!dir.path().join(".wh.gone").exists());
}

#[test]
fn diff_id_is_the_uncompressed_digest_for_plain_and_gzip_layers() {
    let tar = RawTar::new().dir("d").file("d/f", b"hello").finish();
    let plain = tempfile::tempdir().unwrap();
    let (id1, size) = unpack_layer(&tar[..], plain.path(), &UnpackOptions::default()).unwrap();
    assert_eq!(id1, digest::of_bytes(&tar));
    assert_eq!(size, tar.len() as u64);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zipped = tempfile::tempdir().unwrap();
    let (id2, _) = unpack_layer(&gz[..], zipped.path(), &UnpackOptions::default()).unwrap();
    assert_eq!(id1, id2);
    let mut s = String::new();
    fs::File::open(zipped.path().join("d/f"))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "hello");
    let zstd = [0x28u8, 0xb5, 0x2f, 0xfd, 0, 0];
    let err = unpack_layer(&zstd[..], zipped.path(), &UnpackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("zstd"), "{err}");
}

#[test]
fn truncated_archive_is_an_error_not_a_panic() {
    let tar = RawTar::new().file("f", &[7u8; 2000]).finish();
    let dir = tempfile::tempdir().unwrap();
    assert!(unpack(&tar[..1200], dir.path()).is_err());
    assert!(unpack(b"not a tar at all, just some bytes", dir.path()).is_err());
}
