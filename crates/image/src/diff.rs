//! A directory → a layer tar in OCI form: the reverse of `unpack`, for commit and build.
//!
//! Given an overlayfs upper directory, overlay whiteouts (character devices 0:0) become
//! `.wh.<name>` entries and opaque directories (`trusted.overlay.opaque=y`) get a
//! `.wh..wh..opq` entry; overlayfs-private xattrs are left out, other xattrs travel as
//! `SCHILY.xattr.*` PAX records. A plain directory (no whiteouts) gives an ordinary
//! layer. Entries are written in name order so the same tree gives the same tar, and
//! files with several links in the tree become one file plus hard links.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use oci_spec::image::{Descriptor, Digest, MediaType};
use tar::{EntryType, Header};

use crate::digest::HashingWriter;
use crate::error::{IoContext, Result};
use crate::store::Store;
use crate::sys;
use crate::whiteout::{self, OVERLAY_XATTR_PREFIX};

/// How a new layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LayerCompression {
    None,
    #[default]
    Gzip,
}

/// Writes the tree under `dir` as a layer tar (OCI whiteouts) to `out`.
pub fn write_layer_tar(dir: &Path, out: impl Write) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    let mut walker = Walker {
        root: dir,
        builder: &mut builder,
        links: HashMap::new(),
    };
    walker.dir(dir, Path::new(""))?;
    builder
        .finish()
        .with_ctx(|| "failed to finish layer tar".into())?;
    Ok(())
}

/// Writes the tree under `dir` as a new layer blob in `store`. Returns the blob's
/// descriptor and the layer's diff-id.
pub fn create_layer(
    store: &Store,
    dir: &Path,
    compression: LayerCompression,
) -> Result<(Descriptor, Digest)> {
    let blob = store.ingest_writer()?;
    let (diff_id, blob, media_type) = match compression {
        LayerCompression::None => {
            let mut tar_out = HashingWriter::new(blob);
            write_layer_tar(dir, &mut tar_out)?;
            let (diff_id, _, blob) = tar_out.finish();
            (diff_id, blob, MediaType::ImageLayer)
        }
        LayerCompression::Gzip => {
            let gz = GzEncoder::new(blob, flate2::Compression::default());
            let mut tar_out = HashingWriter::new(gz);
            write_layer_tar(dir, &mut tar_out)?;
            let (diff_id, _, gz) = tar_out.finish();
            let blob = gz
                .finish()
                .with_ctx(|| "failed to finish gzip stream".into())?;
            (diff_id, blob, MediaType::ImageLayerGzip)
        }
    };
    let ingested = blob.finish()?;
    let (digest, size) = ingested.commit()?;
    Ok((Descriptor::new(media_type, size, digest), diff_id))
}

struct Walker<'a, W: Write> {
    root: &'a Path,
    builder: &'a mut tar::Builder<W>,
    /// (device, inode) of files with several links → the path first written.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> Walker<'_, W> {
    fn dir(&mut self, abs: &Path, rel: &Path) -> Result<()> {
        let mut names: Vec<OsString> = fs::read_dir(abs)
            .ctx("read", abs)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .ctx("read", abs)?;
        names.sort();
        for name in names {
            self.entry(&abs.join(&name), &rel.join(&name))?;
        }
        Ok(())
    }

    fn entry(&mut self, abs: &Path, rel: &Path) -> Result<()> {
        let meta = fs::symlink_metadata(abs).ctx("stat", abs)?;
        let ft = meta.file_type();
        if whiteout::is_overlay_whiteout(&meta) {
            let name = rel.file_name().unwrap_or_default();
            let mut wh = OsString::from(whiteout::PREFIX);
            wh.push(name);
            let path = rel.with_file_name(wh);
            let mut h = self.header(&meta, EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(0);
            return self.append(&mut h, &path, io::empty());
        }
        if ft.is_socket() {
            return Ok(()); // sockets do not travel in layers
        }
        self.xattrs(abs, rel)?;
        if ft.is_dir() {
            let mut h = self.header(&meta, EntryType::Directory);
            h.set_size(0);
            self.append(&mut h, rel, io::empty())?;
            if whiteout::is_opaque(abs).ctx("read xattrs of", abs)? {
                let mut h = self.header(&meta, EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(0);
                self.append(&mut h, &rel.join(whiteout::OPAQUE), io::empty())?;
            }
            return self.dir(abs, rel);
        }
        if ft.is_symlink() {
            let target = fs::read_link(abs).ctx("read link", abs)?;
            let mut h = self.header(&meta, EntryType::Symlink);
            h.set_size(0);
            return self
                .builder
                .append_link(&mut h, rel, &target)
                .with_ctx(|| format!("failed to add {} to layer", rel.display()));
        }
        if ft.is_file() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                let first = first.clone();
                let mut h = self.header(&meta, EntryType::Link);
                h.set_size(0);
                return self
                    .builder
                    .append_link(&mut h, rel, &first)
                    .with_ctx(|| format!("failed to add {} to layer", rel.display()));
            }
            self.links.insert(key, rel.to_path_buf());
        }
        if ft.is_file() {
            let mut h = self.header(&meta, EntryType::Regular);
            h.set_size(meta.len());
            let file = File::open(abs).ctx("open", abs)?;
            return self.append(&mut h, rel, file);
        }
        let kind = if ft.is_char_device() {
            EntryType::Char
        } else if ft.is_block_device() {
            EntryType::Block
        } else {
            EntryType::Fifo
        };
        let mut h = self.header(&meta, kind);
        h.set_size(0);
        if kind != EntryType::Fifo {
            let rdev = meta.rdev();
            h.set_device_major(libc::major(rdev))
                .with_ctx(|| format!("device number of {}", abs.display()))?;
            h.set_device_minor(libc::minor(rdev))
                .with_ctx(|| format!("device number of {}", abs.display()))?;
        }
        self.append(&mut h, rel, io::empty())
    }

    fn header(&self, meta: &fs::Metadata, kind: EntryType) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(u64::from(meta.uid()));
        h.set_gid(u64::from(meta.gid()));
        h.set_mtime(meta.mtime().max(0) as u64);
        h
    }

    fn append(&mut self, h: &mut Header, rel: &Path, data: impl io::Read) -> Result<()> {
        self.builder.append_data(h, rel, data).with_ctx(|| {
            format!(
                "failed to add {} to layer under {}",
                rel.display(),
                self.root.display()
            )
        })
    }

    /// A PAX header with the file's xattrs (overlayfs-private ones left out), before it.
    fn xattrs(&mut self, abs: &Path, rel: &Path) -> Result<()> {
        let names = sys::list_xattrs(abs).ctx("list xattrs of", abs)?;
        let mut records = Vec::new();
        for name in names {
            if name.starts_with(OVERLAY_XATTR_PREFIX.as_bytes()) {
                continue;
            }
            let name_str = String::from_utf8_lossy(&name).into_owned();
            let Some(value) = sys::get_xattr(abs, &name_str).ctx("read xattrs of", abs)? else {
                continue;
            };
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(&name);
            records.extend(pax_record(&key, &value));
        }
        if records.is_empty() {
            return Ok(());
        }
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(records.len() as u64);
        let mut pax_name = b"PaxHeaders/".to_vec();
        pax_name.extend(
            rel.file_name()
                .unwrap_or_default()
                .as_bytes()
                .iter()
                .take(80),
        );
        h.set_path(Path::new(std::ffi::OsStr::from_bytes(&pax_name)))
            .with_ctx(|| format!("pax header for {}", rel.display()))?;
        h.set_cksum();
        self.builder
            .append(&h, &records[..])
            .with_ctx(|| format!("failed to add xattrs of {} to layer", rel.display()))
    }
}

/// One PAX record: `<length> <key>=<value>\n`, the length counting itself.
fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut out = format!("{len} ").into_bytes();
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::pax_record;

    #[test]
    fn pax_record_length_counts_itself() {
        let r = pax_record(b"a", b"b");
        assert_eq!(r, b"6 a=b\n");
        let long = pax_record(b"k", &[b'v'; 95]);
        assert_eq!(long.len(), 102);
        assert!(long.starts_with(b"102 "));
    }
}
