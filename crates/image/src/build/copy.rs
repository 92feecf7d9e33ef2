//! COPY and ADD: sources (from the build context, filtered by `.dockerignore`, or from
//! another stage's or image's root filesystem) → a fresh layer directory.
//!
//! Docker's rules: a directory source copies its contents; several sources (or a glob,
//! or a destination ending in `/`, or one that is a directory in the image) make the
//! destination a directory; files from the context belong to root unless `--chown`,
//! files from `--from` keep their owners; ADD extracts local tar archives (plain or
//! gzip). The content hash over names, types, modes, owners and bytes keys the cache.

use std::fs::{self, File, Metadata};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::ignore::{clean, Ignore};
use super::layers::Tree;
use super::pattern;
use crate::digest::Hasher;
use crate::sys;
use crate::unpack::{self, UnpackOptions};

/// Where sources come from.
pub struct SourceRoot<'a> {
    pub root: &'a Path,
    /// The context's `.dockerignore`; none for stages and images.
    pub ignore: Option<&'a Ignore>,
    /// Keep the sources' owners (`--from`) instead of making them root's.
    pub keep_owner: bool,
}

/// One resolved source: its path relative to the source root.
#[derive(Debug)]
pub struct Source {
    pub rel: String,
}

impl SourceRoot<'_> {
    fn excluded(&self, rel: &str) -> bool {
        self.ignore.is_some_and(|i| i.excluded(rel))
    }

    fn descend_excluded(&self) -> bool {
        self.ignore.is_some_and(Ignore::has_exceptions)
    }

    /// Expands the source patterns (globs allowed) into existing, not-ignored paths.
    pub fn resolve(&self, patterns: &[String]) -> Result<Vec<Source>, String> {
        let mut out = Vec::new();
        for p in patterns {
            if p.starts_with("http://") || p.starts_with("https://") {
                return Err(format!(
                    "remote source {p} is not supported: download it into the build context and ADD or COPY the file"
                ));
            }
            let rel = clean(p);
            if pattern::has_glob(&rel) {
                let mut found = Vec::new();
                self.walk("", &mut |r, _| {
                    if pattern::matches(&rel, r) {
                        found.push(r.to_string());
                    }
                })
                .map_err(|e| format!("failed to read {}: {e}", self.root.display()))?;
                if found.is_empty() {
                    return Err(format!("no source files match pattern {p}"));
                }
                // A match inside a matched directory is copied with it.
                found.sort();
                let mut kept: Vec<String> = Vec::new();
                for f in found {
                    if !kept.iter().any(|k| f.starts_with(&format!("{k}/"))) {
                        kept.push(f);
                    }
                }
                out.extend(kept.into_iter().map(|rel| Source { rel }));
            } else {
                // Symlinks on the way resolve inside the root (context or image tree),
                // never on the host.
                let found = resolve_in(self.root, &rel)
                    .ok()
                    .filter(|r| rel.is_empty() || !(self.excluded(&rel) || self.excluded(r)));
                let Some(resolved) = found else {
                    let what = if self.ignore.is_some() {
                        "build context or excluded by .dockerignore"
                    } else {
                        "source image"
                    };
                    return Err(format!(
                        "file not found in {what}: stat {p}: file does not exist"
                    ));
                };
                out.push(Source { rel: resolved });
            }
        }
        Ok(out)
    }

    /// Calls `f(rel, metadata)` for every not-ignored entry under `rel`, in name order.
    fn walk(&self, rel: &str, f: &mut dyn FnMut(&str, &Metadata)) -> io::Result<()> {
        let dir = self.root.join(rel);
        let mut names: Vec<_> = fs::read_dir(&dir)?.collect::<io::Result<Vec<_>>>()?;
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let name = e.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = fs::symlink_metadata(e.path())?;
            let excluded = self.excluded(&child);
            if !excluded {
                f(&child, &meta);
            }
            if meta.is_dir() && (!excluded || self.descend_excluded()) {
                self.walk(&child, f)?;
            }
        }
        Ok(())
    }

    /// A digest over the sources' names, types, modes, owners (when kept) and bytes.
    pub fn hash(&self, sources: &[Source]) -> io::Result<String> {
        let mut h = Hasher::new();
        let mut add = |rel: &str, meta: &Metadata| -> io::Result<()> {
            let path = self.root.join(rel);
            h.update(format!("{rel}\0{:o}\0", meta.mode()).as_bytes());
            if self.keep_owner {
                h.update(format!("{}:{}\0", meta.uid(), meta.gid()).as_bytes());
            }
            if meta.file_type().is_symlink() {
                h.update(fs::read_link(&path)?.as_os_str().as_encoded_bytes());
            } else if meta.is_file() {
                let mut file = File::open(&path)?;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
            h.update(b"\n");
            Ok(())
        };
        for s in sources {
            let meta = fs::symlink_metadata(self.root.join(&s.rel))?;
            add(&s.rel, &meta)?;
            if meta.is_dir() {
                let mut err = None;
                self.walk(&s.rel, &mut |r, m| {
                    if err.is_none() {
                        err = add(r, m).err();
                    }
                })?;
                if let Some(e) = err {
                    return Err(e);
                }
            }
        }
        Ok(h.finish().to_string())
    }
}

/// What a COPY/ADD writes and how.
pub struct CopyPlan<'a> {
    /// Destination inside the image (absolute, cleaned, without the leading `/`).
    pub dest: String,
    /// The destination is a directory (trailing `/`, several sources or a glob).
    pub dest_is_dir: bool,
    pub chown: Option<(u32, u32)>,
    pub chmod: Option<u32>,
    /// ADD: extract local tar archives.
    pub extract: bool,
    /// The image below this step (for parent directories and "is it a directory").
    pub below: &'a Tree<'a>,
}

/// Copies `sources` into `layer` (an empty directory that becomes the layer).
pub fn copy(
    src: &SourceRoot<'_>,
    sources: &[Source],
    plan: &CopyPlan<'_>,
    layer: &Path,
) -> io::Result<()> {
    let dest_rel = Path::new(&plan.dest);
    let dest_is_dir = plan.dest_is_dir
        || plan.dest.is_empty()
        || plan.below.lookup(dest_rel).is_some_and(|(_, m)| m.is_dir());
    for s in sources {
        let path = src.root.join(&s.rel);
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            make_parents(layer, dest_rel, plan.below, plan.chown, true)?;
            let target = layer.join(dest_rel);
            if fs::symlink_metadata(&target).is_err() {
                fs::create_dir(&target)?;
                apply_meta(&target, &meta, src, plan)?;
            }
            src.walk(&s.rel, &mut |r, m| {
                let inner = r.strip_prefix(&s.rel).unwrap_or(r).trim_start_matches('/');
                let to = target.join(inner);
                // Errors surface below: a missing parent fails the next entry too.
                let _ = ensure_parent(&to)
                    .and_then(|()| copy_entry(&src.root.join(r), m, &to, src, plan));
            })?;
            verify_copied(src, &s.rel, &target)?;
        } else if plan.extract && meta.is_file() && is_tar(&path)? {
            make_parents(layer, dest_rel, plan.below, plan.chown, true)?;
            let target = layer.join(dest_rel);
            let reader = BufReader::new(File::open(&path)?);
            unpack::unpack_layer(reader, &target, &UnpackOptions::default())
                .map_err(|e| io::Error::other(format!("failed to extract {}: {e}", s.rel)))?;
        } else {
            let name = Path::new(&s.rel)
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_default();
            let to_rel = if dest_is_dir {
                dest_rel.join(name)
            } else {
                dest_rel.to_path_buf()
            };
            make_parents(layer, &to_rel, plan.below, plan.chown, false)?;
            copy_entry(&path, &meta, &layer.join(&to_rel), src, plan)?;
        }
    }
    Ok(())
}

/// Every entry walked under `rel` must have arrived at `target` (the walk callback
/// cannot return errors; this finds what it dropped).
fn verify_copied(src: &SourceRoot<'_>, rel: &str, target: &Path) -> io::Result<()> {
    let mut missing = None;
    src.walk(rel, &mut |r, _| {
        let inner = r.strip_prefix(rel).unwrap_or(r).trim_start_matches('/');
        if missing.is_none() && fs::symlink_metadata(target.join(inner)).is_err() {
            missing = Some(r.to_string());
        }
    })?;
    match missing {
        Some(r) => Err(io::Error::other(format!("failed to copy {r}"))),
        None => Ok(()),
    }
}

/// Resolves the symlinks among `rel`'s directories as if `root` were `/` (absolute
/// targets restart at `root`, `..` stops there); the last component is not followed.
/// Returns the resolved relative path, which exists.
fn resolve_in(root: &Path, rel: &str) -> io::Result<String> {
    let mut todo: Vec<String> = rel
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(String::from)
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(comp) = todo.pop() {
        match comp.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let path = root.join(done.join("/")).join(&comp);
        let meta = fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() && !todo.is_empty() {
            links += 1;
            if links > 40 {
                return Err(io::Error::other("too many levels of symbolic links"));
            }
            let target = fs::read_link(&path)?;
            let target = target.to_string_lossy();
            if target.starts_with('/') {
                done.clear();
            }
            todo.extend(
                target
                    .split('/')
                    .filter(|c| !c.is_empty())
                    .rev()
                    .map(String::from),
            );
        } else {
            done.push(comp);
        }
    }
    Ok(done.join("/"))
}

fn ensure_parent(to: &Path) -> io::Result<()> {
    match to.parent() {
        Some(p) if fs::symlink_metadata(p).is_err() => fs::create_dir_all(p),
        _ => Ok(()),
    }
}

/// Creates `rel`'s parent directories (and `rel` itself when `inclusive`) in the layer,
/// with the mode and owner they have in the image below, or 0755 and `owner` (root).
pub fn make_parents(
    layer: &Path,
    rel: &Path,
    below: &Tree<'_>,
    owner: Option<(u32, u32)>,
    inclusive: bool,
) -> io::Result<()> {
    let comps: Vec<_> = rel.components().collect();
    let upto = if inclusive {
        comps.len()
    } else {
        comps.len().saturating_sub(1)
    };
    let mut prefix = PathBuf::new();
    for c in &comps[..upto] {
        prefix.push(c);
        let dir = layer.join(&prefix);
        if fs::symlink_metadata(&dir).is_ok() {
            continue;
        }
        fs::create_dir(&dir)?;
        match below.lookup(&prefix) {
            Some((_, m)) if m.is_dir() => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(m.mode() & 0o7777))?;
                std::os::unix::fs::lchown(&dir, Some(m.uid()), Some(m.gid()))?;
                sys::set_mtime(&dir, m.mtime())?;
            }
            _ => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
                let (uid, gid) = owner.unwrap_or((0, 0));
                std::os::unix::fs::lchown(&dir, Some(uid), Some(gid))?;
            }
        }
    }
    Ok(())
}

fn copy_entry(
    from: &Path,
    meta: &Metadata,
    to: &Path,
    src: &SourceRoot<'_>,
    plan: &CopyPlan<'_>,
) -> io::Result<()> {
    let ft = meta.file_type();
    if ft.is_dir() {
        if fs::symlink_metadata(to).is_err() {
            fs::create_dir(to)?;
        }
    } else if ft.is_symlink() {
        let _ = fs::remove_file(to);
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
    } else if ft.is_file() {
        let _ = fs::remove_file(to);
        fs::copy(from, to)?;
    } else {
        // Sockets, fifos and devices are not copied (Docker skips sockets too).
        return Ok(());
    }
    apply_meta(to, meta, src, plan)
}

/// Owner, mode and mtime of a copied entry.
fn apply_meta(
    to: &Path,
    meta: &Metadata,
    src: &SourceRoot<'_>,
    plan: &CopyPlan<'_>,
) -> io::Result<()> {
    let (uid, gid) = match plan.chown {
        Some(ids) => ids,
        None if src.keep_owner => (meta.uid(), meta.gid()),
        None => (0, 0),
    };
    std::os::unix::fs::lchown(to, Some(uid), Some(gid))?;
    if !meta.file_type().is_symlink() {
        let mode = plan.chmod.unwrap_or(meta.mode() & 0o7777);
        fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    }
    sys::set_mtime(to, meta.mtime())
}

/// True when the file is a tar archive, plain or gzip-compressed.
fn is_tar(path: &Path) -> io::Result<bool> {
    let mut reader = BufReader::new(File::open(path)?);
    if reader.fill_buf()?.is_empty() {
        return Ok(false);
    }
    let mut inner = match unpack::decompress(reader) {
        Ok(r) => r,
        Err(_) => return Ok(false),
    };
    let mut head = vec![0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match inner.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return Ok(false),
        }
    }
    Ok(got == 512 && &head[257..262] == b"ustar")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_on_the_way_resolve_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("b")).unwrap();
        fs::write(r.join("b/f"), "x").unwrap();
        std::os::unix::fs::symlink("/b", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../b", r.join("rel")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("last")).unwrap();
        assert_eq!(resolve_in(r, "abs/f").unwrap(), "b/f");
        assert_eq!(resolve_in(r, "rel/f").unwrap(), "b/f");
        assert_eq!(resolve_in(r, "../../b/f").unwrap(), "b/f");
        // The last component is the link itself, copied as a link.
        assert_eq!(resolve_in(r, "last").unwrap(), "last");
        assert!(resolve_in(r, "loop/f").is_err());
        assert!(resolve_in(r, "abs/missing").is_err());
    }
}
