//! Report files (`--report`, `--failed-out`, `--junit`, `--timeline`): written beside their
//! name as the run goes and put in place when it ends; or, when the name is a device, a pipe or
//! a terminal (`/dev/null`, `/dev/stdout`, a named pipe), written into as the run goes. A report
//! never replaces a download: not a file put at its name while the run went on, nor one that an
//! entry of the run names. It is kept beside it instead, and the run says so.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};

use crate::outcome::{Outcome, Summary};

/// A file a run writes besides stdout: `--report`, `--failed-out`, `--junit`, GitHub's
/// annotations and step summary, `--timeline`, `--save-cookies`. Each is told every entry's
/// outcome as it is reported (in list order), then finished with the run's summary, in one
/// place ([`finish_all`]) that says what could not be written.
pub trait Sink: Send {
    /// One entry's outcome. `say` puts a line on stderr (GitHub's annotations). A write that
    /// fails is remembered, and said when the file is finished.
    fn add(&mut self, _outcome: &Outcome, _say: &mut dyn FnMut(&str)) {}

    /// Finishes the file and puts it in place: why not, as the run says it, if it could not be.
    fn finish(self: Box<Self>, summary: &Summary) -> Result<(), String>;

    /// Whether a file that could not be written fails the run (exit 1): a report file does
    /// (CI should not pass with its report lost); GitHub's step summary, a courtesy, does not.
    fn counts(&self) -> bool {
        true
    }
}

/// Finishes `files` in order, saying with `say` what could not be written. True when one that
/// counts could not be (the run then exits 1).
pub fn finish_all<'a>(
    files: impl IntoIterator<Item = Box<dyn Sink + 'a>>,
    summary: &Summary,
    say: &mut dyn FnMut(&str),
) -> bool {
    let mut lost = false;
    for file in files {
        let counts = file.counts();
        if let Err(why) = file.finish(summary) {
            lost |= counts;
            say(&format!("fetchpool: {why}"));
        }
    }
    lost
}

/// A report file (`--report`, `--junit`, `--timeline`, `--failed-out`) inside the output
/// directory, where a download could land: an entry whose target it is fails before it is
/// fetched, and the report never replaces what is there then (`staged.rs`).
#[derive(Debug)]
pub struct Reserved {
    pub flag: &'static str,
    /// The file as the flag names it.
    pub path: PathBuf,
    /// Its path relative to the output directory, as an entry's target is.
    pub target: PathBuf,
    /// An entry of this run named it: a file there is that entry's, not a report to replace.
    pub claimed: AtomicBool,
}

impl Reserved {
    /// Why an entry whose target (`shown`), or a name kept beside it, this report file is
    /// cannot be downloaded.
    pub fn clash(&self, shown: &Path) -> String {
        let which = match self.target.file_name() == shown.file_name() {
            true => "its target",
            false => "a name kept beside its target",
        };
        format!(
            "{which} {} is also the {} file {}: a report never replaces a download (give the \
             entry another out=, or the report another name)",
            shown.display(),
            self.flag,
            self.path.display()
        )
    }
}

/// A file the report writes as it goes and puts in place when the run ends: written as a new
/// file beside FILE and renamed over it, so FILE is never half-written and an existing FILE (or
/// a symlink there) is replaced, never written through. `--failed-out` holds full URLs,
/// credentials included: it is made readable by its owner alone. A FILE that is not a file to
/// replace but a place to write to ([`is_stream`]) is written straight into instead: renaming
/// over `/dev/null` would put a regular file in its place.
pub struct Staged {
    pub path: PathBuf,
    flag: &'static str,
    /// What was at FILE when the run started (device and inode), if anything.
    before: Option<(u64, u64)>,
    /// FILE lies inside the output directory: an entry may name it.
    reserved: Option<Arc<Reserved>>,
    /// Where it is written until it is put in place; `None` when FILE is written straight.
    temp: Option<PathBuf>,
    pub file: BufWriter<File>,
    /// A write failed; said once at the end, without losing the report.
    broken: bool,
    placed: bool,
}

impl Staged {
    /// Starts FILE for `flag`; fails (before anything runs) where FILE could never be put in
    /// place: a directory there, or a name that can only be one. `reserved` are the report files
    /// inside the output directory, which an entry may name.
    pub fn create(
        path: &Path,
        flag: &'static str,
        mode: u32,
        reserved: &[Arc<Reserved>],
    ) -> anyhow::Result<Staged> {
        let reserved = reserved.iter().find(|r| r.flag == flag).cloned();
        let shown = path.display();
        let names_a_directory = path.as_os_str().as_encoded_bytes().ends_with(b"/")
            || path.file_name().is_none()
            || std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        if names_a_directory {
            anyhow::bail!("cannot create {flag} {shown}: it names a directory (give a file name)");
        }
        if is_stream(path) {
            let file = OpenOptions::new()
                .append(true)
                .open(path)
                .with_context(|| format!("cannot write {flag} {shown}"))?;
            return Ok(Staged {
                path: path.to_path_buf(),
                flag,
                before: None,
                reserved,
                temp: None,
                file: BufWriter::new(file),
                broken: false,
                placed: false,
            });
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .with_context(|| format!("cannot create {flag} {shown}"))?;
        Ok(Staged {
            path: path.to_path_buf(),
            flag,
            before: identity(path),
            reserved,
            temp: Some(temp),
            file: BufWriter::new(file),
            broken: false,
            placed: false,
        })
    }

    /// Fails where [`Staged::create`] would, and leaves nothing behind (a named pipe is not
    /// opened: its reader would see the end of it).
    pub fn check(path: &Path, flag: &'static str) -> anyhow::Result<()> {
        match is_stream(path) {
            true => Ok(()),
            false => Staged::create(path, flag, 0o600, &[]).map(drop),
        }
    }

    /// A scratch file's name for what goes with FILE (`what`): beside it, or in the temporary
    /// directory when FILE is written straight (nothing is made beside `/dev/stdout`).
    pub fn scratch(&self, what: &str) -> PathBuf {
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let pid = std::process::id();
        match self.temp {
            Some(_) => self.path.with_file_name(format!(".{name}.{pid}.{what}")),
            None => std::env::temp_dir().join(format!("fetchpool.{pid}.{name}.{what}")),
        }
    }

    pub fn write_line(&mut self, line: &str) {
        if writeln!(self.file, "{line}").is_err() {
            self.broken = true;
        }
    }

    /// Flushes the file and puts it in place; what went wrong, as the run says it, if anything
    /// did. A file that an entry of this run names, or that was put at FILE while the run went
    /// on, is never replaced: the report is kept beside it, under a name the message gives.
    pub fn place(&mut self) -> Result<(), String> {
        let written = self.file.flush().is_ok() && !self.broken;
        if let Some(temp) = self.temp.clone() {
            if let Some(why) = self.taken() {
                return Err(self.keep_beside(&temp, why));
            }
            let renamed = match self.before {
                None => rename_new(&temp, &self.path),
                Some(_) => std::fs::rename(&temp, &self.path),
            };
            match renamed {
                Ok(()) => self.placed = true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(self.keep_beside(&temp, PUT_THERE));
                }
                Err(_) => return Err(self.lost()),
            }
        }
        self.placed = true;
        if written { Ok(()) } else { Err(self.lost()) }
    }

    /// What the run says of a report it could not write whole.
    pub fn lost(&self) -> String {
        format!("could not write all of {}", self.path.display())
    }

    /// Why FILE now holds something the report must not replace, if it does.
    fn taken(&self) -> Option<&'static str> {
        let now = identity(&self.path)?;
        let claimed = self
            .reserved
            .as_ref()
            .is_some_and(|r| r.claimed.load(Ordering::SeqCst));
        if claimed {
            Some("an entry of this run names it, and what is there is that entry's")
        } else if Some(now) != self.before {
            Some(PUT_THERE)
        } else {
            None
        }
    }

    /// Puts the report beside FILE, which holds something else (`why`), and says where.
    fn keep_beside(&mut self, temp: &Path, why: &str) -> String {
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let kept = self
            .path
            .with_file_name(format!("{name}.fetchpool-{}", std::process::id()));
        let kept = match rename_new(temp, &kept) {
            Ok(()) => kept,
            Err(_) => temp.to_path_buf(),
        };
        // Not removed when dropped: it is the report.
        self.placed = true;
        format!(
            "{} {} was not put in place: {why}; the report is in {}",
            self.flag,
            self.path.display(),
            kept.display()
        )
    }
}

const PUT_THERE: &str = "a file was put there while the run went on";

/// Which file `path` is (device and inode), if there is one (a link is itself, not its target).
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Renames `from` to `to` where nothing is at `to`, and fails where something is (no-clobber, in
/// one step where the file system can).
fn rename_new(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            std::fs::rename(from, to)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether FILE is a place to write to rather than a file to replace: a character device (a
/// terminal, `/dev/null`), a named pipe or socket of this user's, or one of the system's links to
/// a process's open files (`/dev/stdout`, `/dev/fd/N`, anything under `/proc`), which may lead to
/// a regular file it must not replace. A symlink anywhere else, and a pipe someone else made, are
/// replaced as any file is, never written through: a report (`--failed-out` holds credentials)
/// must not go where another user planted a link or a reader.
pub fn is_stream(path: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(found) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let kind = found.file_type();
    if kind.is_symlink() {
        let system = path.starts_with("/dev") || path.starts_with("/proc");
        return system && std::fs::metadata(path).is_ok_and(|m| !m.is_dir());
    }
    let own = found.uid() == rustix::process::geteuid().as_raw();
    kind.is_char_device() || ((kind.is_fifo() || kind.is_socket()) && own)
}

impl Drop for Staged {
    /// A run that ends before its report does leaves no stray copy behind.
    fn drop(&mut self) {
        if let (false, Some(temp)) = (self.placed, &self.temp) {
            let _ = std::fs::remove_file(temp);
        }
    }
}

/// Where `path` is, its directory resolved but not its own name: what is replaced when a file
/// is renamed over it. `None` when its directory does not exist.
fn location(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(name))
}

/// Refuses, before anything runs, a report file that would replace an input of the run (a list,
/// a checksums file, the netrc file, the CA file: where it leads, if a link), or that another
/// report flag names too. A report written into a device or a pipe replaces nothing.
pub fn reports_replace_no_input(
    reports: &[(&'static str, &Option<PathBuf>)],
    inputs: &[(&str, &Path)],
) -> anyhow::Result<()> {
    let mut seen: Vec<(&str, PathBuf)> = Vec::new();
    for (flag, path) in reports {
        let Some(path) = path else { continue };
        if is_stream(path) {
            continue;
        }
        let Some(at) = location(path) else { continue };
        if let Some((what, input)) = inputs
            .iter()
            .find(|(_, input)| input.canonicalize().is_ok_and(|i| i == at))
        {
            bail!(
                "{flag} {} is also {what} {}: a report never replaces what the run reads",
                path.display(),
                input.display()
            );
        }
        if let Some((other, _)) = seen.iter().find(|(_, other)| *other == at) {
            bail!("{flag} {} is also the {other} file", path.display());
        }
        seen.push((flag, at));
    }
    Ok(())
}

/// The report files of `flags` that lie inside `output_dir`, as targets there. Compared by
/// where they really are (their directories resolved), so `./out/../out/r.json` and a report
/// path through a link to the output directory are found too. An output directory that does
/// not exist yet holds no report: a report's directory must exist for it to be written.
pub fn reserved<'a>(
    output_dir: &Path,
    flags: impl IntoIterator<Item = (&'static str, &'a Option<PathBuf>)>,
) -> Vec<Arc<Reserved>> {
    let Ok(out) = output_dir.canonicalize() else {
        return Vec::new();
    };
    let mut reserved = Vec::new();
    for (flag, path) in flags {
        let Some(at) = path.as_deref().and_then(location) else {
            continue;
        };
        if let Ok(inside) = at.strip_prefix(&out)
            && !inside.as_os_str().is_empty()
        {
            reserved.push(Arc::new(Reserved {
                flag,
                path: path.clone().unwrap_or_default(),
                target: inside.to_path_buf(),
                claimed: AtomicBool::new(false),
            }));
        }
    }
    reserved
}

#[cfg(test)]
mod tests;
