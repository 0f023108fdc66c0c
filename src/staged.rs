//! Report files (`--report`, `--failed-out`, `--junit`, `--timeline`): written beside their
//! name as the run goes and put in place when it ends.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// A file the report writes as it goes and puts in place when the run ends: written as a new
/// file beside FILE and renamed over it, so FILE is never half-written and an existing FILE (or
/// a symlink there) is replaced, never written through. `--failed-out` holds full URLs,
/// credentials included: it is made readable by its owner alone.
pub struct Staged {
    pub path: PathBuf,
    temp: PathBuf,
    pub file: BufWriter<File>,
    /// A write failed; said once at the end, without losing the report.
    broken: bool,
    placed: bool,
}

impl Staged {
    /// Starts FILE for `flag`; fails (before anything runs) where FILE could never be put in
    /// place: a directory there, or a name that can only be one.
    pub fn create(path: &Path, flag: &str, mode: u32) -> anyhow::Result<Staged> {
        let shown = path.display();
        let names_a_directory = path.as_os_str().as_encoded_bytes().ends_with(b"/")
            || path.file_name().is_none()
            || std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        if names_a_directory {
            anyhow::bail!("cannot create {flag} {shown}: it names a directory (give a file name)");
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
            temp,
            file: BufWriter::new(file),
            broken: false,
            placed: false,
        })
    }

    pub fn write_line(&mut self, line: &str) {
        if writeln!(self.file, "{line}").is_err() {
            self.broken = true;
        }
    }

    /// Flushes the file and puts it in place; false if any of it could not be written.
    pub fn place(&mut self) -> bool {
        let written = self.file.flush().is_ok() && !self.broken;
        self.placed = std::fs::rename(&self.temp, &self.path).is_ok();
        written && self.placed
    }
}

impl Drop for Staged {
    /// A run that ends before its report does leaves no stray copy behind.
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
