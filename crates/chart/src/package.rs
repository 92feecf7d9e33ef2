//! `tug chart package`: a chart directory as `NAME-VERSION.tgz`, entries under `NAME/`;
//! and the reverse, an archive unpacked into a directory (`pull --untar`).

use std::path::{Path, PathBuf};

use crate::Error;

/// Writes the chart at `dir` (honouring `.helmignore`) to `out_dir/NAME-VERSION.tgz`.
pub fn package(dir: &Path, out_dir: &Path) -> Result<PathBuf, Error> {
    let chart = crate::loader::load(dir)?;
    let files = crate::loader::read_dir_files(dir)?;
    let target = out_dir.join(format!("{}-{}.tgz", chart.name(), chart.metadata.version));
    let io = |e: std::io::Error| Error::Io {
        path: target.display().to_string(),
        source: e,
    };
    let file = std::fs::File::create(&target).map_err(io)?;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    for f in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(f.data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(
            &mut h,
            format!("{}/{}", chart.name(), f.name),
            &f.data[..],
        )
        .map_err(io)?;
    }
    tar.into_inner().map_err(io)?.finish().map_err(io)?;
    Ok(target)
}

/// Writes the files of a chart archive under `dest` (entries escaping the chart refused).
pub fn unpack(bytes: &[u8], dest: &Path) -> Result<(), Error> {
    for f in crate::loader::archive_files(&dest.display().to_string(), bytes)? {
        let path = dest.join(&f.name);
        let io = |e: std::io::Error| Error::Io {
            path: path.display().to_string(),
            source: e,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, &f.data).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn packaged_chart_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("demo");
        std::fs::create_dir_all(c.join("templates")).unwrap();
        std::fs::write(
            c.join("Chart.yaml"),
            "apiVersion: v2\nname: demo\nversion: 1.2.3\n",
        )
        .unwrap();
        std::fs::write(c.join("templates/cm.yaml"), "kind: ConfigMap\n").unwrap();
        std::fs::write(c.join(".helmignore"), "*.bak\n").unwrap();
        std::fs::write(c.join("x.bak"), "junk").unwrap();
        let tgz = super::package(&c, dir.path()).unwrap();
        assert!(tgz.ends_with("demo-1.2.3.tgz"));
        let back = crate::loader::load(&tgz).unwrap();
        assert_eq!(back.templates.len(), 1);
        assert!(back.files.iter().all(|f| f.name != "x.bak"));
    }
}
