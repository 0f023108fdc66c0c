//! `NAME.part.ranges`: what a split download has on disk, beside its `.part`, so that
//! `--continue` fetches only what is missing. A split `.part` has holes where ranges are still to
//! come, so its length says nothing; whenever a `.part` has this file beside it, only the ranges
//! recorded here count. It is written before the first byte lands at an offset and rewritten
//! (to a temporary name, then renamed over) as ranges finish; it never records more than is on
//! disk.
//!
//! The format is a few lines of text:
//!
//! ```text
//! fetchpool-ranges 1
//! length 67108864
//! version "5f-61a"
//! range 0 33554432 33554432
//! range 33554432 67108864 1048576
//! ```
//!
//! Each `range` is START END DONE: the bytes START..END, of which the first DONE are written.
//! `version` is what the ranges were fetched for (a strong ETag or a date, sent back as
//! `If-Range`); without one, the bytes cannot be tied to a version and are not resumed.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::at::Dir;
use crate::naming::{PART_SUFFIX, RANGES_SUFFIX};

const MAGIC: &str = "fetchpool-ranges 1";
/// A record is a few hundred bytes; a file past this is not one.
const MAX_LEN: u64 = 64 * 1024;
/// More ranges than a file is ever split into.
const MAX_RANGES: usize = 4096;

/// The ranges of one split download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub len: u64,
    pub version: Option<String>,
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
        let mut text = format!("{MAGIC}\nlength {}\n", self.len);
        if let Some(version) = &self.version {
            text.push_str(&format!("version {version}\n"));
        }
        for s in &self.spans {
            text.push_str(&format!("range {} {} {}\n", s.start, s.end, s.done));
        }
        text
    }

    fn parse(text: &str) -> Option<Record> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let len = lines.next()?.strip_prefix("length ")?.parse().ok()?;
        let mut version = None;
        let mut spans = Vec::new();
        for line in lines {
            if let Some(v) = line.strip_prefix("version ") {
                version = Some(v.to_string());
            } else {
                let mut n = line.strip_prefix("range ")?.split(' ').map(str::parse);
                let (start, end, done) = (n.next()?.ok()?, n.next()?.ok()?, n.next()?.ok()?);
                spans.push(Span { start, end, done });
            }
        }
        let record = Record {
            len,
            version,
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

/// `NAME.part.ranges`, beside `NAME.part`.
fn name(part: &OsStr) -> OsString {
    let mut name = part.to_os_string();
    name.push(&RANGES_SUFFIX[PART_SUFFIX.len()..]);
    name
}

/// The record beside the `.part` named `part` in `dir`. Never follows a symbolic link.
pub fn read(dir: &Dir, part: &OsStr) -> Found {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = match rustix::fs::openat(&**dir, name(part), flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(Errno::NOENT) => return Found::None,
        Err(_) => return Found::Unusable,
    };
    let mut text = String::new();
    match file.take(MAX_LEN).read_to_string(&mut text) {
        Ok(_) => Record::parse(&text).map_or(Found::Unusable, Found::Record),
        Err(_) => Found::Unusable,
    }
}

/// Writes `record` beside the `.part` named `part`: to a temporary name first, then renamed over
/// the old record, so a reader finds the old one or the new one, never half of one. The caller
/// holds the `.part`'s lock, so no other run writes here meanwhile.
pub fn write(dir: &Dir, part: &OsStr, record: &Record) -> io::Result<()> {
    let final_name = name(part);
    let mut temp = final_name.clone();
    temp.push(".tmp");
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let create = || rustix::fs::openat(&**dir, &temp, flags, Mode::from_raw_mode(0o666));
    let fd = match create() {
        // Left by a run that stopped between create and rename; ours to replace.
        Err(Errno::EXIST) => {
            rustix::fs::unlinkat(&**dir, &temp, AtFlags::empty())?;
            create()
        }
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

/// Removes the record beside the `.part` named `part`, if there is one.
pub fn remove(dir: &Dir, part: &OsStr) {
    let _ = rustix::fs::unlinkat(&**dir, name(part), AtFlags::empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            len: 100,
            version: Some("\"5f-61a\"".into()),
            spans: vec![
                Span {
                    start: 0,
                    end: 60,
                    done: 60,
                },
                Span {
                    start: 60,
                    end: 100,
                    done: 7,
                },
            ],
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let r = record();
        assert_eq!(Record::parse(&r.render()), Some(r.clone()));
        assert_eq!(r.done(), 67);
        let bare = Record { version: None, ..r };
        assert_eq!(Record::parse(&bare.render()), Some(bare));
    }

    #[test]
    fn a_record_with_a_gap_or_an_overlap_or_too_much_done_is_refused() {
        let text = record().render();
        for bad in [
            text.replace("range 60 100 7", "range 61 100 7"),
            text.replace("range 60 100 7", "range 59 100 7"),
            text.replace("range 60 100 7", "range 60 100 41"),
            text.replace("length 100", "length 101"),
            text.replace("fetchpool-ranges 1", "fetchpool-ranges 2"),
            text.replace("range 60 100 7", "range 60 100"),
            String::new(),
        ] {
            assert_eq!(Record::parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn written_atomically_and_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let fd: Dir = std::sync::Arc::new(
            rustix::fs::open(
                dir.path(),
                OFlags::RDONLY | OFlags::DIRECTORY,
                Mode::empty(),
            )
            .unwrap(),
        );
        let part = OsStr::new("a.bin.part");
        assert!(matches!(read(&fd, part), Found::None));
        // A stale temporary file is replaced; a link there is not followed.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("a.bin.part.ranges.tmp")).unwrap();
        write(&fd, part, &record()).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(matches!(read(&fd, part), Found::Record(r) if r == record()));
        std::fs::write(dir.path().join("a.bin.part.ranges"), "junk").unwrap();
        assert!(matches!(read(&fd, part), Found::Unusable));
        remove(&fd, part);
        assert!(matches!(read(&fd, part), Found::None));
    }
}
