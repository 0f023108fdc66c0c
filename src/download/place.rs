//! Where bytes land: the decision about an existing target, the directories on the way (never
//! through a symlink), the exclusive `NAME.part` a download writes, and the no-clobber placement
//! of a finished file. The one `unsafe` of the program, `renameat2`, is here.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};

use super::verify;
use crate::config::Policy;
use crate::list::Entry;

/// What to do about the target before any request is made.
pub enum Existing {
    Absent,
    Replace,
    Skip { bytes: u64 },
}

/// Decides about `target` (shown to the user as `shown`) from the flags and the list's
/// `size=`/`sha256=`; an existing target without a flag that says what to do fails the entry.
pub fn check_existing(
    target: &Path,
    shown: &Path,
    entry: &Entry,
    policy: &Policy,
) -> anyhow::Result<Existing> {
    // symlink_metadata: a symlink at the target is something that exists, never followed.
    let meta = match fs::symlink_metadata(target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Absent),
        Err(e) => return Err(anyhow!(e).context(format!("cannot inspect {}", shown.display()))),
    };
    if meta.is_dir() {
        bail!("{} exists and is a directory", shown.display());
    }
    // With --continue a complete target is done, exactly as with --skip-existing.
    if policy.skip_existing || policy.resume {
        let wants_check = entry.options.size.is_some() || entry.options.sha256.is_some();
        let mismatch = if !wants_check {
            None
        } else if !meta.is_file() {
            Some("is not a regular file".to_string())
        } else {
            verify::existing_mismatch(target, meta.len(), entry)?
        };
        match mismatch {
            None => return Ok(Existing::Skip { bytes: meta.len() }),
            Some(why) if !policy.overwrite => bail!(
                "{} exists but {why}; use --overwrite to download it again",
                shown.display()
            ),
            Some(_) => {}
        }
    }
    if policy.overwrite {
        return Ok(Existing::Replace);
    }
    bail!(
        "{} already exists (use --overwrite to replace it, or --skip-existing to keep it)",
        shown.display()
    )
}

/// The length of a `.part` worth resuming: a regular file (not a symlink) with bytes in it and
/// no other name. Appending to a file with another hard link would change that other file too;
/// such a `.part` is started over instead (its name unlinked, the other name left as it is).
pub fn resumable_len(part: &Path) -> Option<u64> {
    let meta = fs::symlink_metadata(part).ok()?;
    (meta.is_file() && meta.len() > 0 && meta.nlink() == 1).then_some(meta.len())
}

/// Creates the directories between the output directory and the target, refusing to pass
/// through a symlink, so no `out=` can be steered outside the output directory.
pub fn create_parents(output_dir: &Path, relative: &Path) -> anyhow::Result<()> {
    let Some(parent) = relative.parent() else {
        return Ok(());
    };
    let mut dir = output_dir.to_path_buf();
    for component in parent.components() {
        dir.push(component);
        loop {
            match fs::symlink_metadata(&dir) {
                Ok(meta) if meta.is_dir() => break,
                Ok(meta) if meta.file_type().is_symlink() => {
                    bail!("{} is a symbolic link; not following it", dir.display())
                }
                Ok(_) => bail!("{} exists and is not a directory", dir.display()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&dir) {
                    // Another worker may have made it meanwhile: look again.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    other => {
                        other.with_context(|| format!("cannot create {}", dir.display()))?;
                        break;
                    }
                },
                Err(e) => {
                    return Err(anyhow!(e).context(format!("cannot inspect {}", dir.display())));
                }
            }
        }
    }
    Ok(())
}

/// A `NAME.part` of this run, locked (`flock`, exclusive) for as long as this run writes it, so
/// that no other fetchpool removes, appends to or places it meanwhile. Removed on drop unless it
/// was put in place or is kept for `--continue`; only ever the inode this run opened.
pub struct PartFile {
    pub path: PathBuf,
    pub file: File,
    /// Keep the bytes for a later resume (they are a prefix of the body the server sent).
    pub keep: bool,
    /// Device and inode of `file`: what the path must still name to be placed or removed.
    id: (u64, u64),
    done: bool,
}

impl PartFile {
    /// Creates a fresh `.part` exclusively, which never follows a symlink. One that is there
    /// already is left by an earlier run, planted, or being written by another run: the first two
    /// are unlinked (never written) and the create tried again; the third fails the entry.
    /// Creating first saves a lookup per file in the usual case where there is none.
    pub fn create(path: PathBuf, keep: bool) -> anyhow::Result<PartFile> {
        let create = || OpenOptions::new().write(true).create_new(true).open(&path);
        let file = match create() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                remove_stale(&path)?;
                create()
            }
            other => other,
        }
        .with_context(|| format!("cannot create {}", path.display()))?;
        PartFile::locked(path, file, keep)
    }

    /// Opens an existing `.part` to resume it: never through a symlink, only a regular file with
    /// no other name, and only if no other run is writing it.
    pub fn reopen(path: PathBuf, keep: bool) -> anyhow::Result<PartFile> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("cannot reopen {}", path.display()))?;
        // Checked again on what was opened: the name may have been swapped since it was looked at.
        match file.metadata() {
            Ok(meta) if !meta.is_file() => bail!("{} is not a regular file", path.display()),
            Ok(meta) if meta.nlink() != 1 => {
                bail!("{} has other hard links; not resuming it", path.display())
            }
            Ok(_) => {}
            Err(e) => return Err(anyhow!(e).context(format!("cannot inspect {}", path.display()))),
        }
        PartFile::locked(path, file, keep)
    }

    fn locked(path: PathBuf, file: File, keep: bool) -> anyhow::Result<PartFile> {
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => bail!(being_downloaded(&path)),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(anyhow!(e).context(format!("cannot lock {}", path.display())));
            }
        }
        let meta = file
            .metadata()
            .with_context(|| format!("cannot inspect {}", path.display()))?;
        Ok(PartFile {
            path,
            file,
            keep,
            id: (meta.dev(), meta.ino()),
            done: false,
        })
    }

    /// Whether the path still names the file this run opened.
    fn still_ours(&self) -> bool {
        fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id)
    }

    /// Puts the finished file in place. Without `overwrite` the target must not exist, and that
    /// is checked atomically by the rename itself (or a hard link), never by a check followed by
    /// a rename, which would race.
    pub fn persist(mut self, target: &Path, overwrite: bool) -> anyhow::Result<()> {
        let shown = target.display();
        // Only the inode this run wrote is ever placed, whatever the path names now.
        if !self.still_ours() {
            self.keep = true;
            bail!(
                "{} was replaced while downloading; not placing it",
                self.path.display()
            );
        }
        let appeared =
            || anyhow!("{shown} appeared while downloading (use --overwrite to replace it)");
        if overwrite {
            fs::rename(&self.path, target).with_context(|| format!("cannot rename to {shown}"))?;
        } else {
            match rename_noreplace(&self.path, target) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(appeared()),
                // A file system without RENAME_NOREPLACE: a hard link fails just as atomically.
                Err(_) => match fs::hard_link(&self.path, target) {
                    Ok(()) => {
                        let _ = fs::remove_file(&self.path);
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(appeared()),
                    // Nor hard links: check, then rename (the only racy path left).
                    Err(_) => {
                        if fs::symlink_metadata(target).is_ok() {
                            return Err(appeared());
                        }
                        fs::rename(&self.path, target)
                            .with_context(|| format!("cannot rename to {shown}"))?;
                    }
                },
            }
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.done && !self.keep && self.still_ours() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn being_downloaded(part: &Path) -> String {
    format!(
        "{} is being downloaded by another fetchpool; not touching it",
        part.display()
    )
}

/// Removes a `.part` that is in the way of a fresh one, unless another run is writing it (it
/// holds the lock). A regular file is opened read-only, without following a link, only to try
/// its lock; anything else there (a symlink, a directory, a FIFO) is unlinked unopened.
fn remove_stale(path: &Path) -> anyhow::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(anyhow!(e).context(format!("cannot inspect {}", path.display()))),
    };
    // Held until the unlink: nobody can start writing it in between.
    let _lock = if meta.is_file() {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path);
        match file {
            Ok(file) => match file.try_lock() {
                Ok(()) => Some(file),
                Err(std::fs::TryLockError::WouldBlock) => bail!(being_downloaded(path)),
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(anyhow!(e).context(format!("cannot lock {}", path.display())));
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            // Swapped for something that cannot be opened: remove the name all the same.
            Err(_) => None,
        }
    } else {
        None
    };
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow!(e).context(format!("cannot remove stale {}", path.display()))),
    }
}

/// `rename(2)` that fails with EEXIST instead of replacing the target: one directory operation,
/// where a hard link and an unlink are two (they contend for the directory's lock when many
/// workers finish small files at once).
#[cfg(target_os = "linux")]
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let from = CString::new(from.as_os_str().as_bytes())?;
    let to = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the call, and AT_FDCWD
    // makes them resolve exactly as rename(2) would.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn rename_noreplace(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}
