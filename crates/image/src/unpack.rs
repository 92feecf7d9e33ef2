//! Unpacking one layer tar (plain or gzip) into a snapshot directory in overlayfs form,
//! refusing anything that would reach outside the directory.
//!
//! Refused, each with an error naming the entry:
//! - absolute entry paths and `..` components;
//! - entries under a symlink that an earlier entry planted (`a -> /etc`, then
//!   `a/passwd`): no parent component may be a symlink;
//! - hard links whose target is absolute, has `..`, goes through a symlink, or is not
//!   an entry already unpacked from this layer;
//! - character and block devices, unless [`DevicePolicy::Allow`] (the default only when
//!   running as root, where `mknod` works and the container's device cgroup, not the
//!   file, decides access — the same stance as Docker); whiteouts are not devices in the
//!   tar and are always fine;
//! - `trusted.overlay.*` xattrs (a layer must not forge overlayfs metadata): dropped.
//!
//! Symlink targets are not checked: they are resolved inside the container's root.
//! The result's digest is the layer's diff-id (sha256 of the uncompressed tar).

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use oci_spec::image::Digest;
use tar::EntryType;

use crate::digest::HashingReader;
use crate::error::{Error, IoContext, Result};
use crate::sys;
use crate::whiteout::{self, TarName, OVERLAY_XATTR_PREFIX};

/// Whether device nodes in a layer are created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevicePolicy {
    /// Create character and block devices (needs root).
    Allow,
    /// Refuse the layer.
    Refuse,
}

/// How layers are unpacked.
#[derive(Clone, Debug)]
pub struct UnpackOptions {
    pub devices: DevicePolicy,
    /// Give entries the owner the tar names, and apply xattrs (needs root). Otherwise
    /// everything belongs to the unpacking user.
    pub same_owner: bool,
}

impl Default for UnpackOptions {
    /// As root: devices allowed, owners and xattrs kept. Otherwise: devices refused
    /// (`mknod` would fail anyway, and the refusal says why), owners not kept.
    fn default() -> Self {
        let root = sys::euid() == 0;
        UnpackOptions {
            devices: if root {
                DevicePolicy::Allow
            } else {
                DevicePolicy::Refuse
            },
            same_owner: root,
        }
    }
}

/// Compression of a layer blob, told by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Looks at the first bytes without consuming them.
pub fn detect_compression(reader: &mut impl BufRead) -> io::Result<Compression> {
    let head = reader.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    })
}

/// A reader of the uncompressed tar inside a layer blob.
pub fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> Result<Box<dyn Read + 'a>> {
    match detect_compression(&mut reader).with_ctx(|| "failed to read layer".into())? {
        Compression::None => Ok(Box::new(reader)),
        Compression::Gzip => Ok(Box::new(MultiGzDecoder::new(reader))),
        Compression::Zstd => Err(Error::Unsupported("zstd-compressed layers".into())),
    }
}

/// Unpacks a layer blob (tar or tar+gzip) into `target` (created if missing).
/// Returns the diff-id and the uncompressed size.
pub fn unpack_layer(
    reader: impl BufRead,
    target: &Path,
    options: &UnpackOptions,
) -> Result<(Digest, u64)> {
    fs::create_dir_all(target).ctx("create", target)?;
    let hashing = HashingReader::new(decompress(reader)?);
    let mut archive = tar::Archive::new(hashing);
    let mut unpacker = Unpacker {
        target,
        options,
        dir_times: Vec::new(),
    };
    let entries = archive
        .entries()
        .with_ctx(|| "failed to read layer tar".into())?;
    for entry in entries {
        let mut entry = entry.with_ctx(|| "failed to read layer tar entry".into())?;
        unpacker.entry(&mut entry)?;
    }
    // Directory times last: creating their children changed them.
    for (path, mtime) in unpacker.dir_times.iter().rev() {
        sys::set_mtime(path, *mtime).ctx("set times of", path)?;
    }
    archive
        .into_inner()
        .finish()
        .with_ctx(|| "failed to read the end of the layer".into())
}

struct Unpacker<'a> {
    target: &'a Path,
    options: &'a UnpackOptions,
    dir_times: Vec<(PathBuf, i64)>,
}

fn refuse(entry: &Path, reason: impl Into<String>) -> Error {
    Error::UnsafeEntry {
        entry: entry.to_string_lossy().into_owned(),
        reason: reason.into(),
    }
}

/// The entry path as components under the target: no root, no `..`, `.` dropped.
/// An empty result is the target itself.
fn clean(entry: &Path, path: &Path, what: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse(entry, format!("{what} is an absolute path")))
            }
            Component::ParentDir => {
                return Err(refuse(entry, format!("{what} has a '..' component")))
            }
        }
    }
    Ok(out)
}

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let name = entry
            .path()
            .with_ctx(|| "failed to read a layer entry's path".into())?
            .into_owned();
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            return Ok(());
        }
        let rel = clean(&name, &name, "path")?;
        let Some(file_name) = rel.file_name() else {
            return Ok(()); // the layer root itself: the snapshot directory stands for it
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));

        match whiteout::classify(file_name) {
            TarName::Meta => return Ok(()),
            TarName::Opaque => {
                let dir = self.parents(&name, parent_rel, true)?;
                return whiteout::set_opaque(&dir).ctx("mark opaque", &dir);
            }
            TarName::Whiteout(hidden) => {
                if hidden.is_empty() || hidden == OsStr::new(".") || hidden == OsStr::new("..") {
                    return Err(refuse(&name, "whiteout names no file"));
                }
                let dir = self.parents(&name, parent_rel, true)?;
                let path = dir.join(hidden);
                return match fs::symlink_metadata(&path) {
                    // Whiteouts only hide lower layers' files; this layer's own entry
                    // stays. A directory of this layer keeps its entries but no longer
                    // shows the lower one's: it becomes opaque.
                    Ok(m) if m.is_dir() => whiteout::set_opaque(&path).ctx("mark opaque", &path),
                    Ok(_) => Ok(()),
                    Err(_) => {
                        whiteout::create_overlay_whiteout(&path).ctx("create whiteout", &path)
                    }
                };
            }
            TarName::Plain => {}
        }

        let dir = self.parents(&name, parent_rel, true)?;
        let path = dir.join(file_name);
        let header = entry.header();
        let mode = header
            .mode()
            .with_ctx(|| format!("bad mode in layer entry {}", name.display()))?
            & 0o7777;
        let mtime = header.mtime().unwrap_or(0) as i64;
        let uid = header.uid().unwrap_or(0);
        let gid = header.gid().unwrap_or(0);

        // What is there already (from an earlier entry of this layer) is replaced,
        // except a directory by a directory, which is updated.
        let existing = fs::symlink_metadata(&path).ok();
        if let Some(m) = &existing {
            if !(m.is_dir() && kind == EntryType::Directory) {
                if m.is_dir() {
                    fs::remove_dir_all(&path).ctx("replace", &path)?;
                } else {
                    fs::remove_file(&path).ctx("replace", &path)?;
                }
            }
        }

        match kind {
            EntryType::Regular | EntryType::Continuous => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .ctx("create", &path)?;
                io::copy(entry, &mut file).ctx("write", &path)?;
            }
            EntryType::Directory => {
                if existing.as_ref().is_none_or(|m| !m.is_dir()) {
                    fs::create_dir(&path).ctx("create", &path)?;
                }
            }
            EntryType::Symlink => {
                let target = self.link_name(entry, &name)?;
                std::os::unix::fs::symlink(&target, &path).ctx("create symlink", &path)?;
            }
            EntryType::Link => {
                let target = self.link_name(entry, &name)?;
                let target_rel = clean(&name, &target, "hard link target")?;
                if target_rel.as_os_str().is_empty() {
                    return Err(refuse(&name, "hard link to the layer root"));
                }
                let tparent = target_rel.parent().unwrap_or(Path::new(""));
                let tdir = self.parents(&name, tparent, false)?;
                let source = tdir.join(target_rel.file_name().unwrap_or_default());
                match fs::symlink_metadata(&source) {
                    Ok(m) if m.is_dir() => return Err(refuse(&name, "hard link to a directory")),
                    Ok(_) => {}
                    Err(_) => {
                        return Err(refuse(
                            &name,
                            format!("hard link target {} is not in this layer", target.display()),
                        ))
                    }
                }
                // linkat without AT_SYMLINK_FOLLOW: a symlink source is linked itself.
                fs::hard_link(&source, &path).ctx("create hard link", &path)?;
                return Ok(()); // a hard link shares the target's metadata
            }
            EntryType::Char | EntryType::Block => {
                let (major, minor) = (
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                let (ftype, label) = if kind == EntryType::Char {
                    (libc::S_IFCHR, "character")
                } else {
                    (libc::S_IFBLK, "block")
                };
                if self.options.devices == DevicePolicy::Refuse {
                    return Err(refuse(
                        &name,
                        format!("{label} device {major}:{minor} not allowed (device nodes are refused by this unpack's options)"),
                    ));
                }
                sys::mknod(&path, ftype | mode, major, minor).ctx("create device node", &path)?;
            }
            EntryType::Fifo => sys::mkfifo(&path, mode).ctx("create fifo", &path)?,
            other => {
                return Err(refuse(&name, format!("unsupported entry type {other:?}")));
            }
        }

        if self.options.same_owner {
            std::os::unix::fs::lchown(&path, Some(uid as u32), Some(gid as u32))
                .ctx("chown", &path)?;
            self.xattrs(entry, &path)?;
        }
        if kind != EntryType::Symlink {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).ctx("chmod", &path)?;
        }
        if kind == EntryType::Directory {
            self.dir_times.push((path, mtime));
        } else {
            sys::set_mtime(&path, mtime).ctx("set times of", &path)?;
        }
        Ok(())
    }

    fn link_name<R: Read>(&self, entry: &tar::Entry<'_, R>, name: &Path) -> Result<PathBuf> {
        match entry.link_name() {
            Ok(Some(t)) if !t.as_os_str().is_empty() => Ok(t.into_owned()),
            Ok(_) => Err(refuse(name, "link without a target")),
            Err(e) => Err(Error::io(
                format!("failed to read link target of {}", name.display()),
                e,
            )),
        }
    }

    /// The directory `rel` under the target, every component a real directory (never a
    /// symlink). Missing ones are created with mode 0755 when `create`. A whiteout in
    /// the way (this layer deleted the lower entry, then adds under it) becomes an
    /// opaque directory.
    fn parents(&self, entry: &Path, rel: &Path, create: bool) -> Result<PathBuf> {
        let mut cur = self.target.to_path_buf();
        let mut walked = PathBuf::new();
        for c in rel.components() {
            cur.push(c);
            walked.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(refuse(
                        entry,
                        format!(
                            "goes through symlink {} planted by an earlier entry",
                            walked.display()
                        ),
                    ))
                }
                Ok(m) if create && whiteout::is_overlay_whiteout(&m) => {
                    fs::remove_file(&cur).ctx("replace whiteout", &cur)?;
                    fs::create_dir(&cur).ctx("create", &cur)?;
                    whiteout::set_opaque(&cur).ctx("mark opaque", &cur)?;
                }
                Ok(_) => {
                    return Err(refuse(
                        entry,
                        format!("parent {} is not a directory", walked.display()),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&cur).ctx("create", &cur)?;
                    fs::set_permissions(&cur, fs::Permissions::from_mode(0o755))
                        .ctx("chmod", &cur)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(refuse(
                        entry,
                        format!("{} is not in this layer", walked.display()),
                    ))
                }
                Err(e) => return Err(e).ctx("stat", &cur),
            }
        }
        Ok(cur)
    }

    /// Applies `SCHILY.xattr.*` PAX records, except overlayfs-private ones.
    fn xattrs<R: Read>(&self, entry: &mut tar::Entry<'_, R>, path: &Path) -> Result<()> {
        let Some(exts) = entry
            .pax_extensions()
            .with_ctx(|| format!("failed to read pax headers of {}", path.display()))?
        else {
            return Ok(());
        };
        for ext in exts {
            let ext = ext.with_ctx(|| format!("bad pax header for {}", path.display()))?;
            let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                continue;
            };
            if name.starts_with(OVERLAY_XATTR_PREFIX.as_bytes()) {
                continue;
            }
            sys::set_xattr(path, OsStr::from_bytes(name), ext.value_bytes()).with_ctx(|| {
                format!(
                    "failed to set xattr {} on {}",
                    String::from_utf8_lossy(name),
                    path.display()
                )
            })?;
        }
        Ok(())
    }
}
