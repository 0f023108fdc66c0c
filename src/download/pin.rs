//! The version an entry is pinned to. The first 2xx answer of an entry fixes it: its ETag and
//! `Last-Modified`, and the file's total length. Every request that would add bytes to bytes
//! already on disk (a retry, `--continue`, every range of a split) ties itself to the pin with
//! `If-Range` (the strong ETag, else the date), and its answer is checked against the pin
//! before a byte is written: a 206 must start where asked, name the same total and carry no
//! other ETag or date. A server that gives neither validator cannot be pinned: its bytes are
//! never built on unless the list's `sha256=` will catch a mix before the file is placed.
//!
//! For `--continue` the pin goes with the `.part`: in the extended attribute
//! `user.fetchpool.pin` of a one-stream `.part`, in the record beside a split one.

use std::fs::File;
use std::io;

use reqwest::header::{CONTENT_RANGE, HeaderMap};

use super::validators::{Stamp, is_etag, set_attr};

/// Where a one-stream `.part` keeps its pin.
const PIN_ATTR: &str = "user.fetchpool.pin";
/// A pin's text is a few lines; an attribute past this is not one.
const MAX_TEXT: usize = 2048;
const MAGIC: &str = "fetchpool-pin 1";

/// Why an answer's bytes may not join the ones on disk.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The answer is of another version of the file.
    Changed(String),
    /// It holds other bytes than were asked for, or does not say which.
    Range(String),
}

impl Refusal {
    pub fn why(self) -> String {
        match self {
            Refusal::Changed(why) | Refusal::Range(why) => why,
        }
    }
}

/// The version an entry's bytes are of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The first answer's ETag and date.
    pub stamp: Stamp,
    /// The file's total length, when the first answer gave it.
    pub len: Option<u64>,
}

impl Pin {
    /// The pin a 2xx answer with these headers fixes, for a file of `len` bytes.
    pub fn of(headers: &HeaderMap, len: Option<u64>) -> Pin {
        Pin {
            stamp: Stamp::from_headers(headers),
            len,
        }
    }

    /// What ties a request to this version (`If-Range`): the strong ETag, else the date.
    pub fn if_range(&self) -> Option<String> {
        self.stamp.if_range()
    }

    /// Whether an answer can be told to be of this version or not: only then may bytes fetched
    /// later join the ones on disk.
    pub fn vouches(&self) -> bool {
        self.if_range().is_some()
    }

    /// Why an answer with `headers`, for a file of `total` bytes, is not of this version; `None`
    /// when nothing it says differs (what it does not say cannot differ).
    pub fn differs(&self, headers: &HeaderMap, total: Option<u64>) -> Option<&'static str> {
        let other = Stamp::from_headers(headers);
        if let (Some(a), Some(b)) = (&self.stamp.etag, &other.etag)
            && a != b
        {
            return Some("its ETag changed");
        }
        if let (Some(a), Some(b)) = (self.stamp.modified, other.modified)
            && a != b
        {
            return Some("its Last-Modified changed");
        }
        match (self.len, total) {
            (Some(a), Some(b)) if a != b => Some("its length changed"),
            _ => None,
        }
    }

    /// Checks a 206 answer (with `headers`) to a request for the bytes from `from` on: it must
    /// start there, say where it ends and of how many, and be of this version. Returns the end
    /// of its bytes (exclusive) and the file's total.
    pub fn admits(&self, headers: &HeaderMap, from: u64) -> Result<(u64, u64), Refusal> {
        let Some(ContentRange {
            start,
            end: Some(end),
            total: Some(total),
        }) = content_range(headers)
        else {
            return Err(Refusal::Range(
                "the server's 206 does not say which bytes of how many it holds".into(),
            ));
        };
        if let Some(why) = self.differs(headers, Some(total)) {
            return Err(Refusal::Changed(format!(
                "the file changed on the server: {why}"
            )));
        }
        if start != from || end < start || end >= total {
            return Err(Refusal::Range(format!(
                "the server answered the range from byte {from} with bytes {start}-{end}/{total}"
            )));
        }
        Ok((end + 1, total))
    }

    /// The pin as lines of text (`etag`, `modified`, `length`), as the split's record writes it.
    pub fn lines(&self) -> String {
        let mut text = String::new();
        if let Some(len) = self.len {
            text.push_str(&format!("length {len}\n"));
        }
        if let Some(etag) = &self.stamp.etag {
            text.push_str(&format!("etag {etag}\n"));
        }
        if let Some(modified) = self.stamp.modified {
            text.push_str(&format!("modified {}\n", httpdate::fmt_http_date(modified)));
        }
        text
    }

    /// Takes one line written by [`Pin::lines`]; false if it is not one of them.
    pub fn read_line(&mut self, line: &str) -> bool {
        let Some((key, value)) = line.split_once(' ') else {
            return false;
        };
        match key {
            "length" => value.parse().map(|len| self.len = Some(len)).is_ok(),
            "etag" if is_etag(value) => {
                self.stamp.etag = Some(value.to_string());
                true
            }
            "modified" => httpdate::parse_http_date(value)
                .map(|date| self.stamp.modified = Some(date))
                .is_ok(),
            _ => false,
        }
    }

    /// A pin with nothing in it yet, to read lines into.
    pub fn empty() -> Pin {
        Pin {
            stamp: Stamp::default(),
            len: None,
        }
    }

    /// Keeps the pin with a one-stream `.part`, before its first byte. A file system without
    /// user extended attributes keeps nothing, and the bytes will not be resumed by a later run.
    pub fn store(&self, part: &File) -> io::Result<()> {
        set_attr(part, PIN_ATTR, &format!("{MAGIC}\n{}", self.lines()))
    }

    /// The pin kept with a one-stream `.part`, if it has one that reads back whole.
    pub fn load(part: &File) -> Option<Pin> {
        let mut buf = vec![0u8; MAX_TEXT];
        let n = rustix::fs::fgetxattr(part, PIN_ATTR, &mut buf).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut pin = Pin::empty();
        lines.all(|line| pin.read_line(line)).then_some(pin)
    }

    /// Takes the pin off a file about to be put in place: it was for the `.part`.
    pub fn remove(file: &File) {
        let _ = rustix::fs::fremovexattr(file, PIN_ATTR);
    }
}

/// `Content-Range: bytes START-END/TOTAL` or `bytes */TOTAL` (then START is `u64::MAX` and
/// END is `None`).
pub struct ContentRange {
    pub start: u64,
    pub end: Option<u64>,
    pub total: Option<u64>,
}

/// The Content-Range an answer with `headers` says its bytes are, if it says one that parses.
pub fn content_range(headers: &HeaderMap) -> Option<ContentRange> {
    parse_content_range(headers.get(CONTENT_RANGE)?.to_str().ok()?)
}

fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let (start, end) = match range.trim() {
        "*" => (u64::MAX, None),
        r => {
            let (start, end) = r.split_once('-')?;
            (start.trim().parse().ok()?, Some(end.trim().parse().ok()?))
        }
    };
    Some(ContentRange { start, end, total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{ETAG, LAST_MODIFIED};

    fn headers(etag: Option<&str>, date: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(etag) = etag {
            headers.insert(ETAG, etag.parse().unwrap());
        }
        if let Some(date) = date {
            headers.insert(LAST_MODIFIED, date.parse().unwrap());
        }
        headers
    }

    const D1: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const D2: &str = "Mon, 07 Nov 1994 08:49:37 GMT";

    /// `headers` saying `Content-Range: RANGE`.
    fn ranged(mut headers: HeaderMap, range: &str) -> HeaderMap {
        headers.insert(CONTENT_RANGE, range.parse().unwrap());
        headers
    }

    #[test]
    fn a_206_is_admitted_only_from_where_asked_of_the_same_version() {
        let pin = Pin::of(&headers(Some("\"a\""), Some(D1)), Some(100));
        assert_eq!(pin.if_range().as_deref(), Some("\"a\""));
        let same = |range| ranged(headers(Some("\"a\""), Some(D1)), range);
        assert_eq!(pin.admits(&same("bytes 40-99/100"), 40), Ok((100, 100)));
        assert_eq!(pin.admits(&same("bytes 40-59/100"), 40), Ok((60, 100)));
        // Saying nothing of the version is not saying another one.
        let bare = ranged(HeaderMap::new(), "bytes 40-99/100");
        assert!(pin.admits(&bare, 40).is_ok());
        let changed = [
            ranged(headers(Some("\"b\""), Some(D1)), "bytes 40-99/100"),
            ranged(headers(Some("\"a\""), Some(D2)), "bytes 40-99/100"),
            same("bytes 40-99/101"),
        ];
        for h in changed {
            assert!(matches!(pin.admits(&h, 40), Err(Refusal::Changed(_))));
        }
        let other_bytes = [
            same("bytes 41-99/100"),
            same("bytes 40-100/100"),
            same("bytes 40-99/*"),
            same("bytes */100"),
            headers(Some("\"a\""), Some(D1)),
        ];
        for h in other_bytes {
            assert!(matches!(pin.admits(&h, 40), Err(Refusal::Range(_))));
        }
    }

    #[test]
    fn a_date_pins_where_no_strong_etag_does_and_nothing_pins_without_either() {
        let weak = Pin::of(&headers(Some("W/\"a\""), Some(D1)), Some(10));
        assert_eq!(weak.if_range().as_deref(), Some(D1));
        // A newer date on a server that ignores If-Range is another version.
        let newer = ranged(headers(None, Some(D2)), "bytes 5-9/10");
        assert!(weak.admits(&newer, 5).is_err());
        assert!(!Pin::of(&headers(Some("W/\"a\""), None), Some(10)).vouches());
        assert!(!Pin::of(&HeaderMap::new(), None).vouches());
    }

    #[test]
    fn content_ranges() {
        let r = parse_content_range("bytes 100-199/200").unwrap();
        assert_eq!((r.start, r.end, r.total), (100, Some(199), Some(200)));
        let r = parse_content_range("bytes */1234").unwrap();
        assert_eq!((r.end, r.total), (None, Some(1234)));
        let r = parse_content_range("bytes 0-9/*").unwrap();
        assert_eq!((r.start, r.end, r.total), (0, Some(9), None));
        assert!(parse_content_range("bytes 5-/10").is_none());
        assert!(parse_content_range("items 0-1/2").is_none());
        assert!(parse_content_range("bytes x-1/2").is_none());
    }

    #[test]
    fn kept_with_a_part_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("a.part")).unwrap();
        assert_eq!(Pin::load(&file), None);
        let pin = Pin::of(&headers(Some("\"5f-61a\""), Some(D1)), Some(1234));
        pin.store(&file).unwrap();
        // File systems without user extended attributes keep nothing (and say so by absence).
        if let Some(back) = Pin::load(&file) {
            assert_eq!(back, pin);
            Pin::remove(&file);
            assert_eq!(Pin::load(&file), None);
        }
        let mut p = Pin::empty();
        assert!(!p.read_line("etag bad\u{1b}value"));
        assert!(!p.read_line("length x"));
        assert!(!p.read_line("colour blue"));
    }
}
