//! The version an entry is pinned to. The first 2xx answer of an entry fixes it: its ETag and
//! `Last-Modified`, and the file's total length. Only strong validators pin (RFC 9110 §8.8.2.2):
//! an ETag that is not weak, or a date at least a second before the answer's `Date`. Every
//! request that would add bytes to bytes already on disk (a retry, `--continue`, every range of a
//! split) ties itself to the pin with `If-Range`, and what its answer means for those bytes is
//! read in one place, `answer.rs`. A server that gives no strong validator cannot be pinned: its
//! bytes are never built on unless a digest the list gives will catch a mix before the file is
//! placed.
//!
//! For `--continue` the pin goes with the `.part`: in the extended attribute
//! `user.fetchpool.pin` of a one-stream `.part`, in the record beside a split one.

use std::fs::File;
use std::io;

use reqwest::header::HeaderMap;

use super::validators::{Stamp, is_etag, set_attr};

/// Where a one-stream `.part` keeps its pin.
const PIN_ATTR: &str = "user.fetchpool.pin";
/// A pin's text is a few lines; an attribute past this is not one.
const MAX_TEXT: usize = 2048;
const MAGIC: &str = "fetchpool-pin 2";
/// Format 1 kept a date whatever its strength: its dates can tell a change, never vouch.
const MAGIC_V1: &str = "fetchpool-pin 1";

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

    /// What ties a request to this version (`If-Range`): the strong ETag, else the strong date.
    pub fn if_range(&self) -> Option<String> {
        self.stamp.if_range()
    }

    /// Whether an answer can be told to be of this version or not: only then may bytes fetched
    /// later join the ones on disk.
    pub fn vouches(&self) -> bool {
        self.if_range().is_some()
    }

    /// Whether an answer stamped `other` proves to be of this version: it names a strong
    /// validator of the pin, the same. Saying nothing is no proof.
    pub fn proves(&self, other: &Stamp) -> bool {
        let etag = self
            .stamp
            .strong_etag()
            .is_some_and(|e| other.etag.as_deref() == Some(e));
        let date = self
            .stamp
            .strong_modified()
            .is_some_and(|d| other.modified == Some(d));
        etag || date
    }

    /// Why an answer stamped `other`, for a file of `total` bytes, is not of this version;
    /// `None` when nothing it says differs. A weak validator that differs tells a change as
    /// well as a strong one does.
    pub fn differs(&self, other: &Stamp, total: Option<u64>) -> Option<&'static str> {
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

    /// The pin as lines of text (`etag`, `modified`, `length`), as the split's record writes it.
    pub fn lines(&self) -> String {
        let mut text = String::new();
        if let Some(len) = self.len {
            text.push_str(&format!("length {len}\n"));
        }
        if let Some(etag) = &self.stamp.etag {
            text.push_str(&format!("etag {etag}\n"));
        }
        // A weak date vouches for nothing, and is not kept.
        if let Some(modified) = self.stamp.strong_modified() {
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
            // Only strong dates are written.
            "modified" => httpdate::parse_http_date(value)
                .map(|date| {
                    self.stamp.modified = Some(date);
                    self.stamp.strong_date = true;
                })
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
        let v1 = match lines.next()? {
            MAGIC => false,
            MAGIC_V1 => true,
            _ => return None,
        };
        let mut pin = Pin::empty();
        if !lines.all(|line| pin.read_line(line)) {
            return None;
        }
        if v1 {
            pin.forget_date_strength();
        }
        Some(pin)
    }

    /// A pin read from a format that kept dates of any strength: its date may tell a change,
    /// never vouch for a version.
    pub fn forget_date_strength(&mut self) {
        self.stamp.strong_date = false;
    }

    /// Takes the pin off a file about to be put in place: it was for the `.part`.
    pub fn remove(file: &File) {
        let _ = rustix::fs::fremovexattr(file, PIN_ATTR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{DATE, ETAG, LAST_MODIFIED};

    /// The headers of an answer sent a day after `D1`, with this ETag and Last-Modified.
    pub fn headers(etag: Option<&str>, date: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(etag) = etag {
            headers.insert(ETAG, etag.parse().unwrap());
        }
        if let Some(date) = date {
            headers.insert(LAST_MODIFIED, date.parse().unwrap());
        }
        headers.insert(DATE, "Tue, 08 Nov 1994 08:49:37 GMT".parse().unwrap());
        headers
    }

    const D1: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const D2: &str = "Mon, 07 Nov 1994 08:49:37 GMT";

    fn stamp(etag: Option<&str>, date: Option<&str>) -> Stamp {
        Stamp::from_headers(&headers(etag, date))
    }

    #[test]
    fn only_a_strong_validator_of_the_pin_proves_its_version() {
        let pin = Pin::of(&headers(Some("\"a\""), Some(D1)), Some(100));
        assert!(pin.proves(&stamp(Some("\"a\""), None)));
        assert!(pin.proves(&stamp(None, Some(D1))));
        assert!(
            !pin.proves(&stamp(None, None)),
            "saying nothing is no proof"
        );
        assert!(!pin.proves(&stamp(Some("W/\"a\""), None)));
        let by_date = Pin::of(&headers(Some("W/\"a\""), Some(D1)), Some(10));
        assert_eq!(by_date.if_range().as_deref(), Some(D1));
        assert!(
            !by_date.proves(&stamp(Some("W/\"a\""), None)),
            "a weak ETag proves nothing"
        );
        assert!(!Pin::of(&headers(Some("W/\"a\""), None), Some(10)).vouches());
        assert!(!Pin::of(&HeaderMap::new(), None).vouches());
    }

    #[test]
    fn any_validator_or_length_that_differs_is_a_change() {
        let pin = Pin::of(&headers(Some("\"a\""), Some(D1)), Some(100));
        assert_eq!(
            pin.differs(&stamp(Some("\"a\""), Some(D1)), Some(100)),
            None
        );
        assert_eq!(pin.differs(&stamp(None, None), None), None);
        assert!(pin.differs(&stamp(Some("\"b\""), None), None).is_some());
        assert!(pin.differs(&stamp(None, Some(D2)), None).is_some());
        assert!(pin.differs(&stamp(None, None), Some(101)).is_some());
        // A weak date cannot vouch, but a different one still tells a change.
        let mut weak = HeaderMap::new();
        weak.insert(LAST_MODIFIED, D1.parse().unwrap());
        let weak = Pin::of(&weak, None);
        assert!(!weak.vouches());
        assert!(weak.differs(&stamp(None, Some(D2)), None).is_some());
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

    #[test]
    fn a_weak_date_is_not_kept_and_an_old_pin_s_date_does_not_vouch() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("a.part")).unwrap();
        let mut weak = HeaderMap::new();
        weak.insert(LAST_MODIFIED, D1.parse().unwrap());
        weak.insert(DATE, D1.parse().unwrap());
        assert!(!Pin::of(&weak, Some(5)).lines().contains("modified"));
        let old = format!("{MAGIC_V1}\nlength 5\nmodified {D1}\n");
        if set_attr(&file, PIN_ATTR, &old).is_ok()
            && let Some(back) = Pin::load(&file)
        {
            assert_eq!(back.len, Some(5));
            assert!(!back.vouches(), "format 1 kept dates of any strength");
        }
    }
}
