//! `NAME.part`: the file a download writes before it is put in place. It is locked while this
//! run writes it, removed when the download fails (kept for `--continue`), and placed without
//! replacing anything unasked; a stale one left by an earlier run is removed only when no other
//! run holds its lock.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use super::at::{Dir, file_type, stat};
use super::record;

/// A `NAME.part` of this run, locked (`flock`, exclusive) for as long as this run writes it, so
/// that no other fetchpool removes, appends to or places it meanwhile. Removed on drop unless it
/// was put in place or is kept for `--continue`; only ever the inode this run opened.
pub struct PartFile {
    dir: Dir,
    part: OsString,
    /// The target's name, in the same directory.
    name: OsString,
    /// The `.part` and the target as the user sees them.
    pub path: PathBuf,
    shown: PathBuf,
    pub file: File,
    /// Keep the bytes for a later resume (they are a prefix of the body the server sent).
    pub keep: bool,
    /// Device and inode of `file`: what the name must still stand for to be placed or removed.
    id: (u64, u64),
    done: bool,
    /// A split download's ranges are recorded beside it (`NAME.part.ranges`), to go with it.
    ranges: bool,
}

/// Where a `.part` is and what it is for: its directory, its name and its target's.
pub struct Names {
    pub dir: Dir,
    pub part: OsString,
    pub name: OsString,
    /// The `.part` and the target as the user sees them.
    pub part_shown: PathBuf,
    pub shown: PathBuf,
}

impl PartFile {
    /// Takes `file`, just opened as the `.part` of `names`, once its lock is held.
    pub fn locked(file: File, names: Names, keep: bool) -> anyhow::Result<PartFile> {
        lock(&file, &names.part_shown)?;
        let st = rustix::fs::fstat(&file)
            .map_err(io::Error::from)
            .with_context(|| format!("cannot inspect {}", names.part_shown.display()))?;
        Ok(PartFile {
            dir: names.dir,
            part: names.part,
            name: names.name,
            path: names.part_shown,
            shown: names.shown,
            file,
            keep,
            id: (st.st_dev, st.st_ino),
            done: false,
            ranges: false,
        })
    }

    /// From now on the `.part` has a record of its ranges beside it, written with
    /// [`record::write`] in this directory under this name; it goes when the `.part` does.
    pub fn record_ranges(&mut self) -> (Dir, OsString) {
        self.ranges = true;
        (Arc::clone(&self.dir), self.part.clone())
    }

    /// Whether the `.part` name still stands for the file this run opened.
    fn still_ours(&self) -> bool {
        matches!(stat(&self.dir, &self.part), Ok(Some(st)) if (st.st_dev, st.st_ino) == self.id)
    }

    /// Puts the finished file in place. Without `overwrite` the target must not exist, and that
    /// is checked atomically by the rename itself (or a hard link), never by a check followed by
    /// a rename, which would race.
    pub fn persist(mut self, overwrite: bool) -> anyhow::Result<()> {
        let shown = self.shown.display();
        // Only the inode this run wrote is ever placed, whatever the name stands for now.
        if !self.still_ours() {
            self.keep = true;
            bail!(
                "{} was replaced while downloading; not placing it",
                self.path.display()
            );
        }
        let appeared =
            || anyhow!("{shown} appeared while downloading (use --overwrite to replace it)");
        let (dir, part, name) = (&*self.dir, &self.part, &self.name);
        let flags = if overwrite {
            RenameFlags::empty()
        } else {
            RenameFlags::NOREPLACE
        };
        match rustix::fs::renameat_with(dir, part, dir, name, flags) {
            Ok(()) => {}
            Err(Errno::EXIST) => return Err(appeared()),
            // A file system without RENAME_NOREPLACE: a hard link fails just as atomically.
            Err(Errno::INVAL | Errno::NOSYS) if !overwrite => {
                match rustix::fs::linkat(dir, part, dir, name, AtFlags::empty()) {
                    Ok(()) => {
                        let _ = rustix::fs::unlinkat(dir, part, AtFlags::empty());
                    }
                    Err(Errno::EXIST) => return Err(appeared()),
                    Err(e) => {
                        return Err(anyhow!(io::Error::from(e))
                            .context(format!("cannot put {shown} in place")));
                    }
                }
            }
            Err(e) => {
                return Err(
                    anyhow!(io::Error::from(e)).context(format!("cannot put {shown} in place"))
                );
            }
        }
        self.done = true;
        if self.ranges {
            record::remove(&self.dir, &self.part);
        }
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.done && !self.keep && self.still_ours() {
            let _ = rustix::fs::unlinkat(&*self.dir, &self.part, AtFlags::empty());
            if self.ranges {
                record::remove(&self.dir, &self.part);
            }
        }
    }
}

/// Takes the exclusive lock on a `.part` (shown to the user as `shown`), without waiting: one
/// held elsewhere belongs to another run that is writing it.
pub fn lock(file: &File, shown: &Path) -> anyhow::Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{} is being downloaded by another fetchpool; not touching it",
            shown.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow!(e).context(format!("cannot lock {}", shown.display())))
        }
    }
}

/// Removes a `.part` that is in the way of a fresh one, unless another run is writing it (it
/// holds the lock). A regular file is opened read-only, without following a link, only to try
/// its lock; anything else there (a symlink, a directory, a FIFO) is unlinked unopened.
pub fn remove_stale(dir: &Dir, part: &OsStr, shown: &Path) -> anyhow::Result<()> {
    let st = match stat(dir, part) {
        Ok(Some(st)) => st,
        Ok(None) => return Ok(()),
        Err(e) => return Err(anyhow!(e).context(format!("cannot inspect {}", shown.display()))),
    };
    // Held until the unlink: nobody can start writing it in between.
    let _lock = if file_type(&st) == FileType::RegularFile {
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        match rustix::fs::openat(&**dir, part, flags, Mode::empty()) {
            Ok(fd) => {
                let file = File::from(fd);
                lock(&file, shown)?;
                Some(file)
            }
            Err(Errno::NOENT) => return Ok(()),
            // Swapped for something that cannot be opened: remove the name all the same.
            Err(_) => None,
        }
    } else {
        None
    };
    match rustix::fs::unlinkat(&**dir, part, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => {
            Err(anyhow!(io::Error::from(e))
                .context(format!("cannot remove stale {}", shown.display())))
        }
    }
}
