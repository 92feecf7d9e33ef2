//! Import/export: OCI layout directories, oci-archive and docker-archive, checked
//! against skopeo (Debian's package) in both directions when it is installed.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use tug_image::archive::{self, oci, Format, LoadOptions};
use tug_image::{Error, Store, UnpackOptions};

fn store(dir: &Path, name: &str) -> Store {
    Store::open(dir.join(name)).unwrap()
}

/// Runs skopeo; `None` (and a note) when it is not installed.
fn skopeo(args: &[&str]) -> Option<String> {
    let out = match Command::new("skopeo").args(args).output() {
        Ok(out) => out,
        Err(_) => {
            assert!(std::env::var_os("CI").is_none(), "skopeo is required in CI");
            eprintln!("skopeo not installed (apt-get install skopeo): interop check skipped");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

fn inspect_json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap()
}

/// The busybox binary as unpacked from the named image in `store`.
fn unpacked_busybox(store: &Store, name: &str) -> Vec<u8> {
    let image = store.image(name).unwrap();
    let dirs = store
        .unpack(&image, &UnpackOptions::default(), &mut |_| {})
        .unwrap();
    fs::read(dirs.last().unwrap().join("bin/busybox")).unwrap()
}

#[test]
fn oci_layout_directory_round_trips_and_skopeo_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = store(tmp.path(), "src");
    let m = common::busybox_image(&src, "busybox");

    // The store itself is an OCI layout skopeo can read.
    let root = src.root().display().to_string();
    if let Some(out) = skopeo(&[
        "inspect",
        &format!("oci:{root}:docker.io/library/busybox:latest"),
    ]) {
        let v = inspect_json(&out);
        assert_eq!(v["Digest"], m.digest().to_string());
        assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
    }

    let out_dir = tmp.path().join("layout");
    oci::export_dir(&src, &["busybox"], &out_dir).unwrap();
    let layout = out_dir.display().to_string();
    if let Some(out) = skopeo(&[
        "inspect",
        &format!("oci:{layout}:docker.io/library/busybox:latest"),
    ]) {
        assert_eq!(inspect_json(&out)["Digest"], m.digest().to_string());
    }

    let dst = store(tmp.path(), "dst");
    let loaded = oci::import_dir(&dst, &out_dir, &LoadOptions::default()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        loaded[0].name.as_ref().unwrap().to_string(),
        "docker.io/library/busybox:latest"
    );
    assert_eq!(
        dst.image("busybox").unwrap().descriptor.digest(),
        m.digest()
    );
    assert_eq!(
        unpacked_busybox(&dst, "busybox"),
        fs::read("/bin/busybox").unwrap()
    );
}

#[test]
fn oci_archive_round_trips_and_skopeo_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = store(tmp.path(), "src");
    let m = common::busybox_image(&src, "example.com/tools/bb:v1");
    let path = tmp.path().join("bb.oci.tar");
    archive::save(
        &src,
        &["example.com/tools/bb:v1"],
        Format::OciArchive,
        fs::File::create(&path).unwrap(),
    )
    .unwrap();
    let p = path.display().to_string();
    if let Some(out) = skopeo(&[
        "inspect",
        &format!("oci-archive:{p}:example.com/tools/bb:v1"),
    ]) {
        assert_eq!(inspect_json(&out)["Digest"], m.digest().to_string());
    }
    let dst = store(tmp.path(), "dst");
    let loaded = archive::load_file(&dst, &path, &LoadOptions::default()).unwrap();
    assert_eq!(
        loaded[0].name.as_ref().unwrap().to_string(),
        "example.com/tools/bb:v1"
    );
    assert_eq!(
        dst.image("example.com/tools/bb:v1")
            .unwrap()
            .descriptor
            .digest(),
        m.digest()
    );
}

#[test]
fn docker_archive_export_is_read_by_skopeo_and_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let src = store(tmp.path(), "src");
    common::busybox_image(&src, "busybox:1.0");
    let image = src.image("busybox:1.0").unwrap();
    let path = tmp.path().join("bb.docker.tar");
    archive::save(
        &src,
        &["busybox:1.0"],
        Format::DockerArchive,
        fs::File::create(&path).unwrap(),
    )
    .unwrap();

    // Our own reader.
    let dst = store(tmp.path(), "dst");
    let loaded = archive::load_file(&dst, &path, &LoadOptions::default()).unwrap();
    assert_eq!(loaded[0].name.as_ref().unwrap().familiar(), "busybox:1.0");
    let back = dst.image("busybox:1.0").unwrap();
    assert_eq!(back.id(), image.id(), "same config, same image ID");
    assert_eq!(
        unpacked_busybox(&dst, "busybox:1.0"),
        fs::read("/bin/busybox").unwrap()
    );

    // skopeo reads it, and converts it to an OCI layout we import.
    let p = path.display().to_string();
    let Some(out) = skopeo(&["inspect", &format!("docker-archive:{p}")]) else {
        return;
    };
    let v = inspect_json(&out);
    assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(v["Architecture"], tug_image::platform_arch());
    let layout = tmp.path().join("from-skopeo");
    skopeo(&[
        "copy",
        &format!("docker-archive:{p}"),
        &format!("oci:{}:1.0", layout.display()),
    ]);
    let third = store(tmp.path(), "third");
    let options = LoadOptions {
        repository: Some("localhost/converted".parse().unwrap()),
    };
    let loaded = oci::import_dir(&third, &layout, &options).unwrap();
    assert_eq!(
        loaded[0].name.as_ref().unwrap().to_string(),
        "localhost/converted:1.0"
    );
    assert_eq!(
        unpacked_busybox(&third, "localhost/converted:1.0"),
        fs::read("/bin/busybox").unwrap()
    );
}

#[test]
fn archives_written_by_skopeo_load() {
    let tmp = tempfile::tempdir().unwrap();
    let src = store(tmp.path(), "src");
    common::busybox_image(&src, "busybox");
    let from = format!(
        "oci:{}:docker.io/library/busybox:latest",
        src.root().display()
    );
    let docker_tar = tmp.path().join("skopeo.docker.tar");
    let oci_tar = tmp.path().join("skopeo.oci.tar");
    if skopeo(&[
        "copy",
        &from,
        &format!("docker-archive:{}:skopeo/made:v2", docker_tar.display()),
    ])
    .is_none()
    {
        return;
    }
    skopeo(&[
        "copy",
        &from,
        &format!("oci-archive:{}:skopeo/made:v3", oci_tar.display()),
    ]);

    let dst = store(tmp.path(), "dst");
    let loaded = archive::load_file(&dst, &docker_tar, &LoadOptions::default()).unwrap();
    assert_eq!(
        loaded[0].name.as_ref().unwrap().to_string(),
        "docker.io/skopeo/made:v2"
    );
    assert_eq!(
        unpacked_busybox(&dst, "skopeo/made:v2"),
        fs::read("/bin/busybox").unwrap()
    );
    let loaded = archive::load_file(&dst, &oci_tar, &LoadOptions::default()).unwrap();
    assert_eq!(
        loaded[0].name.as_ref().unwrap().to_string(),
        "docker.io/skopeo/made:v3"
    );
    assert_eq!(
        unpacked_busybox(&dst, "skopeo/made:v3"),
        fs::read("/bin/busybox").unwrap()
    );
}

#[test]
fn gzip_compressed_docker_archive_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let src = store(tmp.path(), "src");
    common::busybox_image(&src, "bb");
    let mut plain = Vec::new();
    archive::save(&src, &["bb"], Format::DockerArchive, &mut plain).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let dst = store(tmp.path(), "dst");
    archive::load(&dst, &gz.finish().unwrap()[..], &LoadOptions::default()).unwrap();
    assert!(dst.image("bb").is_ok());
}

/// A docker-archive with one file replaced.
fn docker_archive_with(
    src: &Store,
    name: &str,
    edit: impl Fn(&str, Vec<u8>) -> Option<(String, Vec<u8>)>,
) -> Vec<u8> {
    let mut plain = Vec::new();
    archive::save(src, &[name], Format::DockerArchive, &mut plain).unwrap();
    let mut out = tar::Builder::new(Vec::new());
    let mut a = tar::Archive::new(&plain[..]);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if let Some((path, data)) = edit(&path, data) {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            out.append(&h, &data[..]).unwrap();
        }
    }
    out.into_inner().unwrap()
}

#[test]
fn bad_archives_are_refused_and_tag_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = store(tmp.path(), "src");
    common::busybox_image(&src, "bb");
    let dst = store(tmp.path(), "dst");

    // A layer whose bytes do not match the config's diff-id.
    let tampered = docker_archive_with(&src, "bb", |path, mut data| {
        if path.ends_with("layer.tar") {
            let n = data.len() - 2000;
            data[n] ^= 0xff;
        }
        Some((path.to_string(), data))
    });
    let err = archive::load(&dst, &tampered[..], &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("layer.tar"), "{err}");

    // A manifest.json naming a file the archive lacks.
    let missing = docker_archive_with(&src, "bb", |path, data| {
        (!path.ends_with(".json") || path == "manifest.json").then(|| (path.to_string(), data))
    });
    let err = archive::load(&dst, &missing[..], &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not in the archive"), "{err}");

    // An entry that climbs out of the archive.
    let escaping = docker_archive_with(&src, "bb", |path, data| {
        Some((
            if path == "repositories" {
                "../../repositories".into()
            } else {
                path.to_string()
            },
            data,
        ))
    });
    let err = archive::load(&dst, &escaping[..], &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("escapes the archive"), "{err}");

    // Neither format.
    let neither = docker_archive_with(&src, "bb", |path, data| {
        (path != "manifest.json").then(|| (path.to_string(), data))
    });
    let err = archive::load(&dst, &neither[..], &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("neither manifest.json"), "{err}");

    assert!(dst.images().unwrap().is_empty(), "nothing tagged");
    let report = dst.prune(&Default::default()).unwrap();
    let left: Vec<_> = fs::read_dir(dst.root().join("blobs/sha256"))
        .unwrap()
        .collect();
    assert!(
        left.is_empty(),
        "prune clears what failed loads left: {report:?}"
    );
    assert_eq!(fs::read_dir(dst.root().join("ingest")).unwrap().count(), 0);
}
