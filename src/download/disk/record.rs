//! `NAME.part.ranges`: what a split download has on disk, beside its `.part`, so that
//! `--continue` fetches only what is missing. A split `.part` has holes where ranges are still to
//! come, so its length says nothing; whenever a `.part` has this file beside it, only the ranges
//! recorded here count. It is written before the first byte lands at an offset and rewritten
//! (to `NAME.part.ranges.tmp`, then renamed over) as ranges finish, and only after the `.part`'s
//! data is on disk: it never records a byte that is not.
//!
//! The format is a few lines of text:
//!
//! ```text
//! fetchpool-ranges 3
//! length 67108864
//! etag "5f-61a"
//! modified Sun, 06 Nov 1994 08:49:37 GMT
//! range 0 33554432 33554432
//! range 33554432 67108864 1048576
//! ```
//!
//! Each `range` is START END DONE: the bytes START..END, of which the first DONE are written.
//! `etag` and `modified` are the version the ranges were fetched of (the pin); without either,
//! the bytes cannot be tied to a version and are not resumed. `modified` is written only when it
//! is a strong date (a second or more before the answer that gave it). Formats 1 and 2 (format 1
//! kept one `version` line, a strong ETag or a date) are still read, but the dates they kept,
//! of any strength, can only tell a change: a record of theirs with no ETag is not resumed.
//!
//! Only a file that reads as a record is ever removed or replaced here: a file of someone
//! else's at one of these names is left alone, and the split that needs the name fails.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::at::{Dir, file_type, stat};
use crate::download::pin::Pin;
use crate::naming::{PART_SUFFIX, RANGES_SUFFIX, RANGES_TEMP_SUFFIX};

const MAGIC: &str = "fetchpool-ranges 3";
/// What every record starts with, whatever its format.
const MAGIC_PREFIX: &str = "fetchpool-ranges ";
const MAGIC_V1: &str = "fetchpool-ranges 1";
const MAGIC_V2: &str = "fetchpool-ranges 2";
/// A record is a few hundred bytes; a file past this is not one.
const MAX_LEN: u64 = 64 * 1024;
/// More ranges than a file is ever split into.
const MAX_RANGES: usize = 4096;

/// The ranges of one split download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub len: u64,
    /// The version the bytes are of (its `len` is the record's).
    pub pin: Pin,
    pub spans: Vec<Span>,
}

/// One range: the bytes `start..end`, of which the first `done` are on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
    pub done: u64,
}

/// What is beside a `.part`.
pub enum Found {
    None,
    Record(Record),
    /// A record that cannot be read as one: the `.part` beside it cannot be trusted.
    Unusable,
}

impl Record {
    /// Bytes on disk.
    pub fn done(&self) -> u64 {
        self.spans.iter().map(|s| s.done).sum()
    }

    fn render(&self) -> String {
        let pin = Pin {
            len: Some(self.len),
            ..self.pin.clone()
        };
        let mut text = format!("{MAGIC}\n{}", pin.lines());
        for s in &self.spans {
            text.push_str(&format!("range {} {} {}\n", s.start, s.end, s.done));
        }
        text
    }

    fn parse(text: &str) -> Option<Record> {
        let mut lines = text.lines();
        let (v1, dates_of_any_strength) = match lines.next()? {
            MAGIC => (false, false),
            MAGIC_V2 => (false, true),
            MAGIC_V1 => (true, true),
            _ => return None,
        };
        let mut pin = Pin::empty();
        let mut spans = Vec::new();
        for line in lines {
            if let Some(range) = line.strip_prefix("range ") {
                let mut n = range.split(' ').map(str::parse);
                let (start, end, done) = (n.next()?.ok()?, n.next()?.ok()?, n.next()?.ok()?);
                spans.push(Span { start, end, done });
            } else if let (true, Some(version)) = (v1, line.strip_prefix("version ")) {
                // A strong ETag is quoted; anything else was a date.
                let key = if version.starts_with('"') {
                    "etag"
                } else {
                    "modified"
                };
                if !pin.read_line(&format!("{key} {version}")) {
                    return None;
                }
            } else if !pin.read_line(line) {
                return None;
            }
        }
        if dates_of_any_strength {
            pin.forget_date_strength();
        }
        let record = Record {
            len: pin.len?,
            pin,
            spans,
        };
        record.is_whole().then_some(record)
    }

    /// The ranges cover the file exactly, in order, each with no more done than it holds.
    fn is_whole(&self) -> bool {
        let mut at = 0;
        for s in &self.spans {
            if s.start != at || s.end <= s.start || s.done > s.end - s.start {
                return false;
            }
            at = s.end;
        }
        at == self.len && !self.spans.is_empty() && self.spans.len() <= MAX_RANGES
    }
}

/// `NAME.part.ranges` and its temporary name, beside `NAME.part`.
fn names(part: &OsStr) -> (OsString, OsString) {
    let grown = |suffix: &str| {
        let mut name = part.to_os_string();
        name.push(&suffix[PART_SUFFIX.len()..]);
        name
    };
    (grown(RANGES_SUFFIX), grown(RANGES_TEMP_SUFFIX))
}

fn open_read(dir: &Dir, name: &OsStr) -> rustix::io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    rustix::fs::openat(&**dir, name, flags, Mode::empty()).map(File::from)
}

/// The record beside the `.part` named `part` in `dir`. Never follows a symbolic link.
pub fn read(dir: &Dir, part: &OsStr) -> Found {
    let file = match open_read(dir, &names(part).0) {
        Ok(file) => file,
        Err(Errno::NOENT) => return Found::None,
        Err(_) => return Found::Unusable,
    };
    let mut text = String::new();
    match file.take(MAX_LEN).read_to_string(&mut text) {
        Ok(_) => Record::parse(&text).map_or(Found::Unusable, Found::Record),
        Err(_) => Found::Unusable,
    }
}

/// Whether `name` in `dir` is nothing, or a file that reads as one of fetchpool's records (a
/// regular file with one name that starts as a record does): only such a name is ever removed
/// or replaced. An empty file counts as one: a run stopped between creating it and writing it.
fn ours_or_absent(dir: &Dir, name: &OsStr) -> io::Result<bool> {
    let Some(st) = stat(dir, name)? else {
        return Ok(true);
    };
    if file_type(&st) != FileType::RegularFile || st.st_nlink != 1 {
        return Ok(false);
    }
    let file = match open_read(dir, name) {
        Ok(file) => file,
        Err(Errno::NOENT) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    let mut start = Vec::with_capacity(MAGIC_PREFIX.len());
    file.take(MAGIC_PREFIX.len() as u64)
        .read_to_end(&mut start)?;
    Ok(start.is_empty() || start == MAGIC_PREFIX.as_bytes())
}

fn in_the_way(name: &OsStr) -> io::Error {
    io::Error::other(format!(
        "{} is in the way and is not a record of fetchpool's; not touching it",
        name.to_string_lossy()
    ))
}

/// Writes `record` beside the `.part` named `part`: to a temporary name first, then renamed over
/// the old record, so a reader finds the old one or the new one, never half of one. The caller
/// holds the `.part`'s lock, so no other run writes here meanwhile, and has made sure every byte
/// the record claims is on disk.
pub fn write(dir: &Dir, part: &OsStr, record: &Record) -> io::Result<()> {
    let (final_name, temp) = names(part);
    if !ours_or_absent(dir, &final_name)? {
        return Err(in_the_way(&final_name));
    }
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let create = || rustix::fs::openat(&**dir, &temp, flags, Mode::from_raw_mode(0o666));
    let fd = match create() {
        // Left by a run that stopped between create and rename; ours to replace.
        Err(Errno::EXIST) if ours_or_absent(dir, &temp)? => {
            rustix::fs::unlinkat(&**dir, &temp, AtFlags::empty())?;
            create()
        }
        Err(Errno::EXIST) => return Err(in_the_way(&temp)),
        other => other,
    }?;
    let written = File::from(fd).write_all(record.render().as_bytes());
    if let Err(e) = written {
        let _ = rustix::fs::unlinkat(&**dir, &temp, AtFlags::empty());
        return Err(e);
    }
    rustix::fs::renameat(&**dir, &temp, &**dir, &final_name)?;
    Ok(())
}

/// Removes the record beside the `.part` named `part`, if there is one of fetchpool's there.
pub fn remove(dir: &Dir, part: &OsStr) {
    let (final_name, _) = names(part);
    if ours_or_absent(dir, &final_name).unwrap_or(false) {
        let _ = rustix::fs::unlinkat(&**dir, &final_name, AtFlags::empty());
    }
}

#[cfg(test)]
mod tests;
