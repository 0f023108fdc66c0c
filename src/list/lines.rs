//! A list one line at a time: a line read with at most [`MAX_LINE`] bytes of it kept (a longer
//! one is read through and dropped), the listings a file holds counted up front for the progress
//! display, and a file looked through for `split=` before it is read.

use std::fs::File;
use std::io::{self, BufRead, Read as _};
use std::path::Path;

use super::parse::{Line, kind};
use crate::interrupt;

/// The longest line kept (a list's, an option line, a checksums file's, a netrc file's): far
/// longer than any URL a server takes (8 KiB is the usual limit), short enough that a list of
/// such lines waiting in the pipe's queue stays in bounds. A longer line is read through to its
/// end without being kept, and reported as a line that is not an entry.
pub const MAX_LINE: usize = 64 * 1024;

/// How many listings a list holds (entry lines, and the lines that are not entries but are
/// reported: orphan option lines, lines that are not text), or `None` if it cannot be read
/// through (or the run is asked to stop meanwhile). How the reader sees lines, without naming or parsing them.
pub fn count_listings(mut reader: impl BufRead) -> Option<usize> {
    let (mut number, mut count, mut seen_item) = (0, 0, false);
    loop {
        // Only for the progress display: not worth waiting for once the run is to stop.
        if interrupt::requested() {
            return None;
        }
        let buf = match read_line(&mut reader).ok()? {
            None => return Some(count),
            Some(line) => line,
        };
        number += 1;
        // A line too long to keep is reported, as one that is not text is.
        let text = match &buf {
            Capped::Line(buf) => line_text(buf, number),
            Capped::TooLong => None,
        };
        match text.map(kind) {
            // Reported on its own; option lines after it have no entry above them.
            None => {
                count += 1;
                seen_item = false;
            }
            Some(Line::Skip) => {}
            Some(Line::Option { .. }) if seen_item => {}
            Some(Line::Option { .. }) => count += 1,
            Some(Line::Item(_)) => {
                count += 1;
                seen_item = true;
            }
        }
    }
}

/// Whether the file at `path` holds `split=` anywhere (on a line, it is an aria2 `split=N`,
/// or in a URL): one fast pass, so that a pool makes room for ranges only for a list that may
/// ask for them (idle workers that look for ranges cost a list of small files 4% of its time).
/// True when it cannot be read through: the list's own reading says why.
pub fn mentions_split(path: &Path) -> bool {
    let Ok(mut file) = File::open(path) else {
        return true;
    };
    let finder = memchr::memmem::Finder::new(b"split=");
    let mut buf = vec![0; 256 * 1024];
    // The end of the chunk before, so a word cut by a chunk's edge is found.
    let mut kept = 0;
    loop {
        let n = match file.read(&mut buf[kept..]) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        };
        let filled = kept + n;
        if finder.find(&buf[..filled]).is_some() {
            return true;
        }
        kept = filled.min(5);
        buf.copy_within(filled - kept..filled, 0);
    }
}

/// A line as read: its bytes (through its newline), or too long to be kept.
pub enum Capped {
    Line(Vec<u8>),
    TooLong,
}

/// What a line longer than [`MAX_LINE`] is reported as.
pub fn too_long() -> String {
    format!(
        "the line is longer than {} KiB (not a list line)",
        MAX_LINE / 1024
    )
}

/// Reads one line through its newline (or the end of the input), keeping at most [`MAX_LINE`]
/// bytes of it: a longer one is read through to its end and dropped, so memory stays in bounds
/// whatever the input. `None` at the end.
pub fn read_line(reader: &mut impl BufRead) -> io::Result<Option<Capped>> {
    let (mut line, mut len) = (Vec::new(), 0usize);
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let (chunk, ended) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, available.is_empty()),
        };
        if ended && chunk.is_empty() && len == 0 {
            return Ok(None);
        }
        len = len.saturating_add(chunk.len());
        if len <= MAX_LINE {
            line.extend_from_slice(chunk);
        } else if !line.is_empty() {
            line = Vec::new();
        }
        let n = chunk.len();
        reader.consume(n);
        if ended {
            return Ok(Some(if len <= MAX_LINE {
                Capped::Line(line)
            } else {
                Capped::TooLong
            }));
        }
    }
}

/// Line `number` (1-based) as text, without the byte-order mark a first line may start with;
/// `None` if it is not UTF-8.
pub fn line_text(raw: &[u8], number: usize) -> Option<&str> {
    let text = std::str::from_utf8(raw).ok()?;
    Some(if number == 1 {
        text.trim_start_matches('\u{feff}')
    } else {
        text
    })
}
