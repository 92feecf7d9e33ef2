//! Every mount-and-namespace syscall the root filesystem setup makes goes through
//! [`Syscall`], so that setup logic can be unit-tested with a recording implementation
//! (no root needed) while [`Linux`] does the real thing.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub trait Syscall {
    fn mount(&self, source: Option<&Path>, target: &Path, fstype: Option<&str>, flags: u64, data: Option<&str>) -> io::Result<()>;
    fn umount(&self, target: &Path, flags: i32) -> io::Result<()>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    fn chroot(&self, path: &Path) -> io::Result<()>;
    fn chdir(&self, path: &Path) -> io::Result<()>;
    fn mknod(&self, path: &Path, mode: u32, dev: u64) -> io::Result<()>;
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;
    fn symlink(&self, original: &Path, link: &Path) -> io::Result<()>;
    fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<()>;
    fn create_file(&self, path: &Path) -> io::Result<()>;
}

/// The real kernel.
pub struct Linux;

pub(crate) fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

impl Syscall for Linux {
    fn mount(&self, source: Option<&Path>, target: &Path, fstype: Option<&str>, flags: u64, data: Option<&str>) -> io::Result<()> {
        let source = source.map(cstr).transpose()?;
        let target = cstr(target)?;
        let fstype = fstype.map(CString::new).transpose().map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let data = data.map(CString::new).transpose().map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: every pointer is a valid NUL-terminated string or null, as mount(2) allows.
        check(unsafe {
            libc::mount(ptr(&source), target.as_ptr(), ptr(&fstype), flags as libc::c_ulong, ptr(&data) as *const libc::c_void)
        })
    }

    fn umount(&self, target: &Path, flags: i32) -> io::Result<()> {
        let target = cstr(target)?;
        // SAFETY: target is a valid C string.
        check(unsafe { libc::umount2(target.as_ptr(), flags) })
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        let (new_root, put_old) = (cstr(new_root)?, cstr(put_old)?);
        // SAFETY: both arguments are valid C strings; pivot_root has no libc wrapper.
        check(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) } as libc::c_int)
    }

    fn chroot(&self, path: &Path) -> io::Result<()> {
        std::os::unix::fs::chroot(path)
    }

    fn chdir(&self, path: &Path) -> io::Result<()> {
        std::env::set_current_dir(path)
    }

    fn mknod(&self, path: &Path, mode: u32, dev: u64) -> io::Result<()> {
        let path = cstr(path)?;
        // SAFETY: path is a valid C string.
        check(unsafe { libc::mknod(path.as_ptr(), mode, dev) })
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
    }

    fn symlink(&self, original: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(original, link)
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(mode).create(path)
    }

    fn create_file(&self, path: &Path) -> io::Result<()> {
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).map(drop)
    }
}
