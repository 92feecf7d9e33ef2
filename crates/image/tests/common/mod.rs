//! Helpers shared by the integration tests: raw (possibly hostile) layer tars, a
//! busybox root filesystem, and small images built from them.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::image::{
    ConfigBuilder, Descriptor, Digest, ImageConfiguration, ImageConfigurationBuilder, RootFs,
};
use tar::{EntryType, Header};
use tug_image::diff::{create_layer, LayerCompression};
use tug_image::Store;

/// A layer tar written byte by byte, so tests can put in it what a well-behaved tar
/// writer would refuse (`..`, absolute paths, links anywhere).
#[derive(Default)]
pub struct RawTar {
    bytes: Vec<u8>,
}

impl RawTar {
    pub fn new() -> Self {
        RawTar::default()
    }

    pub fn entry(mut self, kind: EntryType, name: &str, link: &str, data: &[u8]) -> Self {
        let mut h = Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        self.bytes.extend_from_slice(h.as_bytes());
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(EntryType::Regular, name, "", data)
    }

    pub fn dir(self, name: &str) -> Self {
        self.entry(EntryType::Directory, name, "", b"")
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(EntryType::Symlink, name, target, b"")
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(EntryType::Link, name, target, b"")
    }

    pub fn device(mut self, name: &str, kind: EntryType, major: u32, minor: u32) -> Self {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o600);
        h.set_size(0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.bytes.extend_from_slice(h.as_bytes());
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend(std::iter::repeat_n(0u8, 1024));
        self.bytes
    }
}

/// Debian's static busybox (package busybox-static).
pub fn busybox() -> PathBuf {
    let p = PathBuf::from("/bin/busybox");
    assert!(
        p.is_file(),
        "tests need /bin/busybox: apt-get install busybox-static"
    );
    p
}

/// A minimal root filesystem: bin/busybox, bin/sh -> busybox, etc/hostname.
pub fn busybox_tree(dir: &Path) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::copy(busybox(), dir.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "cat", "echo"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    fs::write(dir.join("etc/hostname"), "tugboat\n").unwrap();
}

/// A config for linux on this machine's architecture running `cmd`.
pub fn config(cmd: &[&str]) -> ImageConfiguration {
    let mut c: ImageConfiguration = ImageConfigurationBuilder::default()
        .architecture(tug_image::platform_arch())
        .os("linux")
        .rootfs(RootFs::default())
        .config(
            ConfigBuilder::default()
                .cmd(cmd.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .env(vec!["PATH=/bin".to_string()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    c.set_created(Some("2026-11-26T00:00:00Z".into()));
    c
}

/// Makes an image whose layers are the given directories (bottom first) and tags it.
pub fn image_from_dirs(store: &Store, name: &str, dirs: &[&Path]) -> Descriptor {
    let layers: Vec<(Descriptor, Digest)> = dirs
        .iter()
        .map(|d| create_layer(store, d, LayerCompression::Gzip).unwrap())
        .collect();
    let manifest = store.write_image(&config(&["/bin/sh"]), &layers).unwrap();
    store.tag(&name.parse().unwrap(), &manifest).unwrap();
    manifest
}

/// Makes a busybox image named `name`.
pub fn busybox_image(store: &Store, name: &str) -> Descriptor {
    let tree = tempfile::tempdir().unwrap();
    busybox_tree(tree.path());
    image_from_dirs(store, name, &[tree.path()])
}
