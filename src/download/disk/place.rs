//! Where bytes land, and the one way there: every file under the output directory is reached
//! from a descriptor of that directory, component by component, never through a symbolic link,
//! and every stat, open, rename and unlink is made relative to the directory found that way. On
//! top of that walk: the decision about an existing target, and the opening of the `NAME.part`
//! a download writes (`part.rs` owns that file from then on, up to its placement).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context as _, anyhow, bail};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use super::at::{Dir, file_type, mode, stat};
use super::part::{Names, PartFile, remove_stale};
use super::record;
use crate::config::Policy;
use crate::download::pin::Pin;
use crate::download::validators::Validators;
use crate::download::verify;
use crate::entry::Entry;
use crate::naming::PART_SUFFIX;
use crate::outcome::shown_path;

/// The entry's place under the output directory and what to do about a target already there:
/// where a run and a dry run both start.
pub fn existing(root: &Dir, policy: &Policy, entry: &Entry) -> anyhow::Result<(Existing, Spot)> {
    let shown = shown_path(&policy.output_dir, &entry.target);
    if let Some(report) = policy.reserved_by(&entry.target) {
        // Whatever is there stays: neither this download nor the report replaces it.
        report.claimed.store(true, Ordering::SeqCst);
        anyhow::bail!("{}", report.clash(&shown));
    }
    let spot = Spot::find(root, &entry.target, shown)?;
    Ok((spot.check_existing(entry, policy)?, spot))
}

/// What to do about the target before any request is made.
pub enum Existing {
    Absent,
    Replace,
    Skip {
        bytes: u64,
    },
    /// `--update`: ask the server whether this file changed.
    Revalidate(Validators),
    /// `--update`: the file matches the list's size=/sha256=; nothing to ask.
    Unchanged {
        bytes: u64,
    },
}

/// One entry's place: the directory its target is in and the names there.
pub struct Spot {
    root: Dir,
    /// The target relative to the output directory.
    relative: PathBuf,
    /// The target's directory; `None` while a directory on the way does not exist yet.
    dir: Option<Dir>,
    name: OsString,
    part: OsString,
    /// The target and its `.part` as the user sees them.
    pub shown: PathBuf,
    pub part_shown: PathBuf,
    /// A finished download replaces what is at the target (`--overwrite`, or `--update` for a
    /// file that changed).
    pub replace: bool,
    /// `--update`: the existing file's validators, sent with the request.
    pub revalidate: Option<Validators>,
    /// `--split` is off for this entry: its server answered a range with the whole file.
    pub one_stream: bool,
}

impl Spot {
    /// Walks to `relative`'s directory from `root`, refusing to pass through a symbolic link or
    /// anything that is not a directory. Creates nothing.
    pub fn find(root: &Dir, relative: &Path, shown: PathBuf) -> anyhow::Result<Spot> {
        let name = relative.file_name().unwrap_or_default().to_os_string();
        let mut part = name.clone();
        part.push(PART_SUFFIX);
        let mut spot = Spot {
            root: Arc::clone(root),
            relative: relative.to_path_buf(),
            dir: None,
            part_shown: shown.with_file_name(&part),
            name,
            part,
            shown,
            replace: false,
            revalidate: None,
            one_stream: false,
        };
        spot.dir = spot.walk(false)?;
        Ok(spot)
    }

    /// Creates the directories on the way that do not exist yet, with the same walk.
    pub fn make_parents(&mut self) -> anyhow::Result<()> {
        if self.dir.is_none() {
            self.dir = self.walk(true)?;
        }
        Ok(())
    }

    fn walk(&self, create: bool) -> anyhow::Result<Option<Dir>> {
        let mut dir = Arc::clone(&self.root);
        let mut shown = self.shown.clone();
        let depth = self.relative.components().count();
        for _ in 0..depth {
            shown.pop();
        }
        let Some(parents) = self.relative.parent() else {
            return Ok(Some(dir));
        };
        for component in parents.components() {
            let Component::Normal(name) = component else {
                bail!("{} is not a plain relative path", self.relative.display());
            };
            shown.push(name);
            let open = || {
                rustix::fs::openat(
                    &*dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
            };
            let opened = match open() {
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&*dir, name, mode(0o777)) {
                        // Another worker may have made it meanwhile.
                        Ok(()) | Err(Errno::EXIST) => open(),
                        Err(e) => {
                            return Err(anyhow!(io::Error::from(e))
                                .context(format!("cannot create {}", shown.display())));
                        }
                    }
                }
                other => other,
            };
            dir = match opened {
                Ok(fd) => Arc::new(fd),
                Err(Errno::NOENT) => return Ok(None),
                Err(e) => {
                    return Err(match stat(&dir, name) {
                        Ok(Some(st)) if file_type(&st) == FileType::Symlink => {
                            anyhow!("{} is a symbolic link; not following it", shown.display())
                        }
                        Ok(Some(st)) if file_type(&st) != FileType::Directory => {
                            anyhow!("{} exists and is not a directory", shown.display())
                        }
                        _ => anyhow!(io::Error::from(e))
                            .context(format!("cannot open {}", shown.display())),
                    });
                }
            };
        }
        Ok(Some(dir))
    }

    /// Decides about the target from the flags and the list's `size=`/`sha256=`; an existing
    /// target without a flag that says what to do fails the entry.
    pub fn check_existing(&self, entry: &Entry, policy: &Policy) -> anyhow::Result<Existing> {
        let shown = &self.shown;
        let Some(dir) = &self.dir else {
            return Ok(Existing::Absent);
        };
        // Not followed: a symlink at the target is something that exists.
        let st = match stat(dir, &self.name) {
            Ok(Some(st)) => st,
            Ok(None) => return Ok(Existing::Absent),
            Err(e) => return Err(anyhow!(e).context(format!("cannot inspect {}", shown.display()))),
        };
        let kind = file_type(&st);
        if kind == FileType::Directory {
            bail!("{} exists and is a directory", shown.display());
        }
        if policy.update {
            return self.revalidation(entry, &st, kind);
        }
        // With --continue a complete target is done, exactly as with --skip-existing.
        if policy.skip_existing || policy.continues {
            let wants_check = entry.options.size.is_some() || !entry.options.digests.is_empty();
            let len = st.st_size as u64;
            let mismatch = if !wants_check {
                None
            } else if kind != FileType::RegularFile {
                Some("is not a regular file".to_string())
            } else {
                let open = || self.open_read(&self.name);
                verify::existing_mismatch(len, entry, open)
                    .with_context(|| format!("cannot read {} to check it", shown.display()))?
            };
            match mismatch {
                None => return Ok(Existing::Skip { bytes: len }),
                Some(why) if !policy.overwrite => bail!(
                    "{} exists but {why}; use {} to download it again",
                    shown.display(),
                    // --overwrite does not go with --skip-existing: -u keeps what matches.
                    if policy.skip_existing {
                        "--update"
                    } else {
                        "--overwrite"
                    }
                ),
                Some(_) => {}
            }
        }
        if policy.overwrite {
            return Ok(Existing::Replace);
        }
        bail!(
            "{} already exists (use --overwrite to replace it, --skip-existing to keep it, or \
             --update to fetch it again only if it changed)",
            shown.display()
        )
    }

    /// `--update` on an existing target: the list's size=/sha256= decide when given, else the
    /// server is asked with the file's validators.
    fn revalidation(
        &self,
        entry: &Entry,
        st: &rustix::fs::Stat,
        kind: FileType,
    ) -> anyhow::Result<Existing> {
        let shown = self.shown.display();
        if kind != FileType::RegularFile {
            bail!(
                "{shown} exists and is not a regular file; remove it, or use --overwrite \
                 (instead of --update) to replace it"
            );
        }
        let len = st.st_size as u64;
        if entry.options.size.is_some() || !entry.options.digests.is_empty() {
            let open = || self.open_read(&self.name);
            let mismatch = verify::existing_mismatch(len, entry, open)
                .with_context(|| format!("cannot read {shown} to check it"))?;
            return Ok(match mismatch {
                None => Existing::Unchanged { bytes: len },
                Some(_) => Existing::Replace,
            });
        }
        let file = self
            .open_read(&self.name)
            .with_context(|| format!("cannot read {shown}"))?;
        Ok(Existing::Revalidate(Validators::of(&file, st)))
    }

    /// The length of a `.part` worth resuming: a regular file (not a symlink) with bytes in it and
    /// no other name. Appending to a file with another hard link would change that other file
    /// too; such a `.part` is started over instead (its name unlinked, the other name left as it
    /// is).
    ///
    /// Nor one with a hole: a split download's `.part` whose record of ranges is gone says
    /// nothing by its length (appending to it would place a file with a hole in it).
    pub fn resumable_len(&self) -> Option<u64> {
        self.part_len().filter(|&len| !self.part_has_hole(len))
    }

    /// The length of a `.part` that may be written again: a regular file (not a symlink) with
    /// bytes in it and no other name. (A split download's has holes where ranges are to come.)
    pub fn part_len(&self) -> Option<u64> {
        let st = stat(self.dir.as_ref()?, &self.part).ok()??;
        let len = st.st_size as u64;
        (file_type(&st) == FileType::RegularFile && len > 0 && st.st_nlink == 1).then_some(len)
    }

    /// The version kept with the `.part` (for a dry run: nothing is locked or changed).
    pub fn part_pin(&self) -> Option<Pin> {
        Pin::load(&self.open_read(&self.part).ok()?)
    }

    /// Whether the `.part` has a hole before `len` (where the file system can tell).
    fn part_has_hole(&self, len: u64) -> bool {
        let Ok(file) = self.open_read(&self.part) else {
            return true;
        };
        rustix::fs::seek(&file, rustix::fs::SeekFrom::Hole(0)).is_ok_and(|hole| hole < len)
    }

    /// Removes a `.part` that is in the way (unless another run is writing it), and the record
    /// of ranges beside it.
    pub fn remove_stale_part(&self) -> anyhow::Result<()> {
        match &self.dir {
            Some(dir) => {
                remove_stale(dir, &self.part, &self.part_shown)?;
                record::remove(dir, &self.part);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Creates a fresh `.part` exclusively, which never follows a symlink. One that is there
    /// already is left by an earlier run, planted, or being written by another run: the first two
    /// are unlinked (never written) and the create tried again; the third fails the entry.
    /// Creating first saves a lookup per file in the usual case where there is none.
    ///
    /// A record of ranges left beside an old `.part` would describe bytes this one does not
    /// have, so it goes too: when a stale `.part` was in the way, and whenever this one may be
    /// kept for a later `--continue` (the only reader of records).
    pub fn create_part(&self, keep: bool) -> anyhow::Result<PartFile> {
        let dir = self.existing_dir()?;
        // Readable too: a split download reads its file back for the digest.
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
        let create = || rustix::fs::openat(&*dir, &self.part, flags, mode(0o666));
        let mut stale = false;
        let fd = match create() {
            Err(Errno::EXIST) => {
                remove_stale(dir, &self.part, &self.part_shown)?;
                stale = true;
                create()
            }
            other => other,
        }
        .map_err(io::Error::from)
        .with_context(|| format!("cannot create {}", self.part_shown.display()))?;
        let part = self.locked(File::from(fd), keep)?;
        if stale || keep {
            record::remove(dir, &self.part);
        }
        Ok(part)
    }

    /// What is recorded beside the `.part` of a split download, if anything.
    pub fn ranges(&self) -> record::Found {
        match &self.dir {
            Some(dir) => record::read(dir, &self.part),
            None => record::Found::None,
        }
    }

    /// Opens the existing `.part` to resume it: never through a symlink, only a regular file with
    /// no other name, and only if no other run is writing it. Bytes go where they are told
    /// (positioned writes), never simply to its end.
    pub fn reopen_part(&self, keep: bool) -> anyhow::Result<PartFile> {
        let dir = self.existing_dir()?;
        let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let shown = self.part_shown.display();
        let fd = rustix::fs::openat(&**dir, &self.part, flags, Mode::empty())
            .map_err(io::Error::from)
            .with_context(|| format!("cannot reopen {shown}"))?;
        let file = File::from(fd);
        // Checked again on what was opened: the name may have been swapped since it was looked at.
        let st = rustix::fs::fstat(&file)
            .map_err(io::Error::from)
            .with_context(|| format!("cannot inspect {shown}"))?;
        if file_type(&st) != FileType::RegularFile {
            bail!("{shown} is not a regular file");
        }
        if st.st_nlink != 1 {
            bail!("{shown} has other hard links; not resuming it");
        }
        self.locked(file, keep)
    }

    fn locked(&self, file: File, keep: bool) -> anyhow::Result<PartFile> {
        let names = Names {
            dir: Arc::clone(self.existing_dir()?),
            part: self.part.clone(),
            name: self.name.clone(),
            part_shown: self.part_shown.clone(),
            shown: self.shown.clone(),
        };
        PartFile::locked(file, names, keep)
    }

    fn existing_dir(&self) -> anyhow::Result<&Dir> {
        self.dir
            .as_ref()
            .ok_or_else(|| anyhow!("the directory of {} does not exist", self.shown.display()))
    }

    fn open_read(&self, name: &OsStr) -> io::Result<File> {
        let dir = self.existing_dir().map_err(io::Error::other)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        Ok(File::from(rustix::fs::openat(
            &**dir,
            name,
            flags,
            Mode::empty(),
        )?))
    }
}
