//! What a download remembers of the version it fetched, for `--update`: the response's
//! `Last-Modified` becomes the file's modification time (as `wget` and `curl -R` do) and its
//! `ETag` is kept in the user extended attribute `user.fetchpool.etag`. A revalidation sends
//! them back as `If-None-Match` and `If-Modified-Since`. On a file system without extended
//! attributes the ETag is not kept, and the date alone is used.

use std::fs::File;
use std::io;
use std::time::{Duration, SystemTime};

use reqwest::header::{DATE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};

/// Where the ETag is kept.
const ETAG_ATTR: &str = "user.fetchpool.etag";
/// Longer ETags are not kept (and not sent): no server needs one this long.
const MAX_ETAG: usize = 1024;

/// An existing file's validators, as a revalidation sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub modified: SystemTime,
    /// The file's size, reported when it is unchanged.
    pub bytes: u64,
}

impl Validators {
    /// Of the file open as `file`, whose `stat` the caller has already made (its time and size).
    pub fn of(file: &File, stat: &rustix::fs::Stat) -> Validators {
        let modified = u64::try_from(stat.st_mtime).map_or(SystemTime::UNIX_EPOCH, |secs| {
            SystemTime::UNIX_EPOCH + Duration::new(secs, stat.st_mtime_nsec as u32)
        });
        Validators {
            etag: read_etag(file),
            modified,
            bytes: stat.st_size as u64,
        }
    }

    /// The conditional request headers.
    pub fn headers(&self) -> Vec<(reqwest::header::HeaderName, String)> {
        let mut headers = Vec::with_capacity(2);
        if let Some(etag) = &self.etag {
            headers.push((IF_NONE_MATCH, etag.clone()));
        }
        headers.push((IF_MODIFIED_SINCE, httpdate::fmt_http_date(self.modified)));
        headers
    }
}

/// What a response says about the version it carries, to keep with the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamp {
    pub etag: Option<String>,
    pub modified: Option<SystemTime>,
    /// `modified` is a strong validator (RFC 9110 §8.8.2.2): at least a second before the
    /// answer's own `Date`, so a file changed after the answer has another date. A date in the
    /// answer's second (or with no `Date` to tell) may be shared by two versions written in one
    /// second: it can say that a file changed, never that it did not.
    pub strong_date: bool,
}

impl Stamp {
    pub fn from_headers(headers: &HeaderMap) -> Stamp {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let date = |name| text(name).and_then(|d| httpdate::parse_http_date(d).ok());
        let modified = date(LAST_MODIFIED);
        let strong_date = match (modified, date(DATE)) {
            (Some(modified), Some(answered)) => answered
                .duration_since(modified)
                .is_ok_and(|d| d >= Duration::from_secs(1)),
            _ => false,
        };
        Stamp {
            etag: text(ETAG).filter(|e| is_etag(e)).map(str::to_string),
            modified,
            strong_date,
        }
    }

    /// The ETag, when it is strong: only a strong ETag says two answers hold the same bytes.
    pub fn strong_etag(&self) -> Option<&str> {
        self.etag.as_deref().filter(|e| !e.starts_with("W/"))
    }

    /// The date, when it is strong.
    pub fn strong_modified(&self) -> Option<SystemTime> {
        self.modified.filter(|_| self.strong_date)
    }

    /// What ties a range to this version (`If-Range`): a strong ETag, else a strong date;
    /// `None` when the response named neither. A weak ETag cannot be used for ranges, and a
    /// weak date never goes into `If-Range` (a server would match it against a file rewritten
    /// in the same second).
    pub fn if_range(&self) -> Option<String> {
        match (self.strong_etag(), self.strong_modified()) {
            (Some(etag), _) => Some(etag.to_string()),
            (None, Some(modified)) => Some(httpdate::fmt_http_date(modified)),
            _ => None,
        }
    }

    /// Marks `file` (the `.part`, before it is put in place) with the response's date and ETag.
    /// A file system that keeps no extended attributes keeps the date alone.
    pub fn apply(&self, file: &File) -> io::Result<()> {
        if let Some(modified) = self.modified {
            file.set_modified(modified)?;
        }
        match &self.etag {
            Some(etag) => set_attr(file, ETAG_ATTR, etag),
            None => Ok(()),
        }
    }
}

/// Sets the user extended attribute `name` of `file` to `value`; on a file system that keeps
/// none (ramfs, some network and FUSE file systems) nothing is kept, and that is not an error.
pub fn set_attr(file: &File, name: &str, value: &str) -> io::Result<()> {
    let flags = rustix::fs::XattrFlags::empty();
    match rustix::fs::fsetxattr(file, name, value.as_bytes(), flags) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::PERM => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether `text` can be kept as an ETag and sent back in a header: printable ASCII, not empty,
/// not too long.
pub fn is_etag(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_ETAG && text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn read_etag(file: &File) -> Option<String> {
    let mut buf = vec![0u8; MAX_ETAG];
    let n = rustix::fs::fgetxattr(file, ETAG_ATTR, &mut buf).ok()?;
    buf.truncate(n);
    // Only what can go back in a header: anything else (an attribute someone else set) is not
    // sent, and the date alone is used.
    String::from_utf8(buf).ok().filter(|e| is_etag(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validators(file: &File) -> Validators {
        Validators::of(file, &rustix::fs::fstat(file).unwrap())
    }

    #[test]
    fn a_stamp_is_read_back_as_validators() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(ETAG, "\"5f-61a\"".parse().unwrap());
        headers.insert(
            LAST_MODIFIED,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        Stamp::from_headers(&headers).apply(&file).unwrap();
        let v = validators(&file);
        assert_eq!(
            v.modified,
            SystemTime::UNIX_EPOCH + Duration::from_secs(784111777)
        );
        // tmpfs and ext4 keep user attributes; where they do not, the date alone is kept.
        if let Some(etag) = &v.etag {
            assert_eq!(etag, "\"5f-61a\"");
        }
        let headers = v.headers();
        assert_eq!(
            headers.last().unwrap().1,
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "If-Modified-Since is the file's time"
        );
    }

    /// The stamp of an answer with this ETag and Last-Modified, sent at `answered` (its `Date`).
    fn stamp(etag: Option<&str>, date: Option<&str>, answered: Option<&str>) -> Stamp {
        let mut headers = HeaderMap::new();
        if let Some(etag) = etag {
            headers.insert(ETAG, etag.parse().unwrap());
        }
        if let Some(date) = date {
            headers.insert(LAST_MODIFIED, date.parse().unwrap());
        }
        if let Some(answered) = answered {
            headers.insert(DATE, answered.parse().unwrap());
        }
        Stamp::from_headers(&headers)
    }

    const MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const SAME_SECOND: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const A_SECOND_LATER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";
    const EARLIER: &str = "Sun, 06 Nov 1994 08:49:36 GMT";

    #[test]
    fn ranges_are_tied_to_a_strong_etag_or_else_a_strong_date() {
        let later = Some(A_SECOND_LATER);
        let strong = stamp(Some("\"a1\""), Some(MODIFIED), later);
        assert_eq!(strong.if_range().as_deref(), Some("\"a1\""));
        let weak_etag = stamp(Some("W/\"a1\""), Some(MODIFIED), later);
        assert_eq!(weak_etag.if_range().as_deref(), Some(MODIFIED));
        assert_eq!(stamp(Some("W/\"a1\""), None, later).if_range(), None);
        assert_eq!(stamp(None, None, later).if_range(), None);
    }

    #[test]
    fn a_date_is_strong_only_a_second_before_the_answer() {
        let at = |answered| stamp(None, Some(MODIFIED), answered);
        assert!(at(Some(A_SECOND_LATER)).strong_date);
        assert!(at(Some(A_SECOND_LATER)).strong_modified().is_some());
        for weak in [Some(SAME_SECOND), Some(EARLIER), None] {
            let s = at(weak);
            assert!(!s.strong_date, "{weak:?}");
            assert_eq!(s.if_range(), None, "a weak date never goes into If-Range");
            // It is still the file's date, for its modification time and --update.
            assert!(s.modified.is_some());
        }
    }

    #[test]
    fn an_attribute_that_cannot_be_a_header_is_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        let set = rustix::fs::fsetxattr(
            &file,
            ETAG_ATTR,
            b"bad\nvalue",
            rustix::fs::XattrFlags::empty(),
        );
        if set.is_ok() {
            assert_eq!(validators(&file).etag, None);
        }
    }

    #[test]
    fn no_validators_in_the_response_leave_the_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        let before = file.metadata().unwrap().modified().unwrap();
        Stamp::from_headers(&HeaderMap::new()).apply(&file).unwrap();
        let v = validators(&file);
        assert_eq!((v.etag, v.modified), (None, before));
    }
}
