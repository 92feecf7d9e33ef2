//! Whiteouts in their two forms, and the translation between them.
//!
//! In a layer tar (OCI form) a deletion is an empty file `.wh.<name>` beside the
//! deleted entry, and `.wh..wh..opq` in a directory hides everything lower layers put in
//! it. On disk (overlayfs form) a deletion is a character device 0:0 named `<name>`, and
//! an opaque directory carries the `trusted.overlay.opaque=y` xattr. Snapshots are kept
//! in overlayfs form so layers stack by mounting them; `diff` turns an overlay upper
//! directory back into OCI form.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::sys;

/// Prefix of a whiteout file in a layer tar.
pub const PREFIX: &str = ".wh.";
/// The opaque-directory marker in a layer tar.
pub const OPAQUE: &str = ".wh..wh..opq";
/// The xattr that makes an overlayfs directory opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Prefix of every overlayfs-private xattr (never taken from, nor put into, a layer tar).
pub const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";

/// What a layer-tar file name means for whiteouts.
#[derive(Debug, PartialEq, Eq)]
pub enum TarName<'a> {
    /// An ordinary entry.
    Plain,
    /// `.wh.<name>`: delete `<name>` from lower layers.
    Whiteout(&'a OsStr),
    /// `.wh..wh..opq`: the directory hides lower layers' contents.
    Opaque,
    /// Another `.wh..wh.` name (aufs bookkeeping): ignored.
    Meta,
}

/// Classifies the last component of a layer-tar path.
pub fn classify(file_name: &OsStr) -> TarName<'_> {
    let b = file_name.as_bytes();
    if b == OPAQUE.as_bytes() {
        TarName::Opaque
    } else if b.starts_with(b".wh..wh.") {
        TarName::Meta
    } else if let Some(rest) = b.strip_prefix(PREFIX.as_bytes()) {
        TarName::Whiteout(OsStr::from_bytes(rest))
    } else {
        TarName::Plain
    }
}

/// Creates an overlayfs whiteout (character device 0:0) at `path`.
pub fn create_overlay_whiteout(path: &Path) -> io::Result<()> {
    sys::mknod(path, libc::S_IFCHR, 0, 0)
}

/// True for an overlayfs whiteout: a character device with device number 0:0.
pub fn is_overlay_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Marks a directory opaque for overlayfs.
pub fn set_opaque(dir: &Path) -> io::Result<()> {
    sys::set_xattr(dir, OsStr::new(OVERLAY_OPAQUE_XATTR), b"y")
}

/// True when a directory carries `trusted.overlay.opaque=y`.
pub fn is_opaque(dir: &Path) -> io::Result<bool> {
    Ok(sys::get_xattr(dir, OVERLAY_OPAQUE_XATTR)?.as_deref() == Some(b"y"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified() {
        assert_eq!(classify(OsStr::new("foo")), TarName::Plain);
        assert_eq!(
            classify(OsStr::new(".wh.foo")),
            TarName::Whiteout(OsStr::new("foo"))
        );
        assert_eq!(classify(OsStr::new(".wh..wh..opq")), TarName::Opaque);
        assert_eq!(classify(OsStr::new(".wh..wh.plnk")), TarName::Meta);
        assert_eq!(classify(OsStr::new(".whfoo")), TarName::Plain);
    }
}
