//! Calls relative to an open directory, as every file under the output directory is reached:
//! the open directory itself, and a look at a name that never follows a symbolic link.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, Stat};
use rustix::io::Errno;

/// A directory under (or at) the output directory, open.
pub type Dir = Arc<OwnedFd>;

/// `name` in `dir`, not followed if it is a link; `None` if there is nothing by that name.
pub fn stat(dir: &Dir, name: &OsStr) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(&**dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// Permission bits for a file or directory to create (the umask applies).
pub fn mode(bits: u32) -> Mode {
    Mode::from_raw_mode(bits)
}
