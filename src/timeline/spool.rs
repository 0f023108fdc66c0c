//! The timeline's records while the run goes on: a scratch file (beside FILE), unlinked as soon as
//! it is open (nothing to clean up, whatever ends the run), written as the workers record and
//! read back once, in the same order, to draw the picture.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;

use anyhow::Context as _;

/// How a bar or a mark inside it is drawn: its CSS class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Ok,
    Failed,
    /// Cut short by Ctrl-C (or another signal): it did not fail.
    Interrupted,
    Skipped,
    Unchanged,
    /// A piece of another worker's split download.
    Piece,
    /// An attempt that failed and was tried again (only inside a bar).
    Try,
    /// A wait: before a retry, or for the host's turn (only inside a bar).
    Wait,
}

impl Class {
    /// Every class, in the legend's order.
    pub const ALL: [Class; 8] = [
        Class::Ok,
        Class::Failed,
        Class::Interrupted,
        Class::Skipped,
        Class::Unchanged,
        Class::Piece,
        Class::Try,
        Class::Wait,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Failed => "failed",
            Class::Interrupted => "interrupted",
            Class::Skipped => "skipped",
            Class::Unchanged => "unchanged",
            Class::Piece => "piece",
            Class::Try => "try",
            Class::Wait => "wait",
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> io::Result<Class> {
        Class::ALL
            .get(usize::from(code))
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad class in spool"))
    }
}

/// Something inside a bar: an attempt that failed ([`Class::Try`]), or a wait. Times are
/// microseconds from the start of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub class: Class,
    pub start: u64,
    pub end: u64,
}

/// One bar of the picture: a download on a worker's row, or a piece it fetched for another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub row: u32,
    /// The line within the row: a worker with several downloads in flight draws each on one.
    pub line: u32,
    pub start: u64,
    pub end: u64,
    pub class: Class,
    /// The file's size (for a merged span's total).
    pub bytes: u64,
    pub marks: Vec<Mark>,
    /// What hovering it shows (plain text; escaped when drawn).
    pub title: String,
}

/// The scratch file and how many spans it holds.
pub struct Spool {
    file: BufWriter<File>,
    count: u64,
    /// A write failed: the picture cannot be whole.
    broken: bool,
    /// The classes drawn anywhere (bars and marks), by [`Class`]: what the legend names.
    present: [bool; Class::ALL.len()],
}

impl Spool {
    /// The scratch file `scratch` for the picture `path`, already unlinked.
    pub fn at(scratch: &Path, path: &Path) -> anyhow::Result<Spool> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(scratch)
            .with_context(|| format!("cannot create --timeline {}", path.display()))?;
        let _ = std::fs::remove_file(scratch);
        Ok(Spool {
            file: BufWriter::with_capacity(64 * 1024, file),
            count: 0,
            broken: false,
            present: [false; Class::ALL.len()],
        })
    }

    pub fn add(&mut self, span: &Bar) {
        self.present[span.class as usize] = true;
        for mark in &span.marks {
            self.present[mark.class as usize] = true;
        }
        let mut record = Vec::with_capacity(40 + span.title.len() + 17 * span.marks.len());
        record.extend_from_slice(&span.row.to_le_bytes());
        record.extend_from_slice(&span.line.to_le_bytes());
        record.extend_from_slice(&span.start.to_le_bytes());
        record.extend_from_slice(&span.end.to_le_bytes());
        record.push(span.class.code());
        record.extend_from_slice(&span.bytes.to_le_bytes());
        let marks = u32::try_from(span.marks.len()).unwrap_or(u32::MAX);
        record.extend_from_slice(&marks.to_le_bytes());
        for mark in span.marks.iter().take(marks as usize) {
            record.push(mark.class.code());
            record.extend_from_slice(&mark.start.to_le_bytes());
            record.extend_from_slice(&mark.end.to_le_bytes());
        }
        let title = u32::try_from(span.title.len()).unwrap_or(0);
        record.extend_from_slice(&title.to_le_bytes());
        record.extend_from_slice(&span.title.as_bytes()[..title as usize]);
        if self.file.write_all(&record).is_err() {
            self.broken = true;
        }
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The classes the picture holds, in the legend's order.
    pub fn present(&self) -> Vec<Class> {
        Class::ALL
            .into_iter()
            .filter(|c| self.present[*c as usize])
            .collect()
    }

    /// Every span, in the order they were added.
    pub fn read(self) -> io::Result<impl Iterator<Item = io::Result<Bar>>> {
        if self.broken {
            return Err(io::Error::other("a span could not be written"));
        }
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut left = self.count;
        Ok(std::iter::from_fn(move || {
            (left > 0).then(|| {
                left -= 1;
                read_span(&mut reader)
            })
        }))
    }
}

fn read_span(r: &mut impl Read) -> io::Result<Bar> {
    let row = u32::from_le_bytes(take(r)?);
    let line = u32::from_le_bytes(take(r)?);
    let start = u64::from_le_bytes(take(r)?);
    let end = u64::from_le_bytes(take(r)?);
    let class = Class::from_code(take::<1>(r)?[0])?;
    let bytes = u64::from_le_bytes(take(r)?);
    let count = u32::from_le_bytes(take(r)?);
    let marks = (0..count)
        .map(|_| {
            Ok(Mark {
                class: Class::from_code(take::<1>(r)?[0])?,
                start: u64::from_le_bytes(take(r)?),
                end: u64::from_le_bytes(take(r)?),
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    let len = u32::from_le_bytes(take(r)?) as usize;
    let mut title = vec![0; len];
    r.read_exact(&mut title)?;
    let title = String::from_utf8(title)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad title in spool"))?;
    Ok(Bar {
        row,
        line,
        start,
        end,
        class,
        bytes,
        marks,
        title,
    })
}

fn take<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut buf = [0; N];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_come_back_as_they_went_in() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::at(&dir.path().join(".t.spans"), &dir.path().join("t.svg")).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the scratch file is unlinked at once"
        );
        let spans: Vec<Bar> = (0..1000u32)
            .map(|i| Bar {
                row: i % 7,
                line: i % 3,
                start: u64::from(i) * 10,
                end: u64::from(i) * 10 + 9,
                class: Class::ALL[i as usize % Class::ALL.len()],
                bytes: u64::from(i) << 33,
                marks: (0..i % 3)
                    .map(|k| Mark {
                        class: Class::Wait,
                        start: u64::from(k),
                        end: u64::from(k) + 1,
                    })
                    .collect(),
                title: format!("ü <{i}>\nline two"),
            })
            .collect();
        for span in &spans {
            spool.add(span);
        }
        assert_eq!(spool.count(), 1000);
        assert_eq!(spool.present(), Class::ALL);
        let back: Vec<Bar> = spool.read().unwrap().map(Result::unwrap).collect();
        assert_eq!(back, spans);
    }
}
