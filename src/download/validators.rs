//! What a download remembers of the version it fetched, for `--update`: the response's
//! `Last-Modified` becomes the file's modification time (as `wget` and `curl -R` do) and its
//! `ETag` is kept in the user extended attribute `user.fetchpool.etag`. A revalidation sends
//! them back as `If-None-Match` and `If-Modified-Since`. On a file system without extended
//! attributes the ETag is not kept, and the date alone is used.

use std::fs::File;
use std::io;
use std::time::{Duration, SystemTime};

use reqwest::header::{ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};

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
}

impl Stamp {
    pub fn from_headers(headers: &HeaderMap) -> Stamp {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        Stamp {
            etag: text(ETAG).filter(|e| is_etag(e)).map(str::to_string),
            modified: text(LAST_MODIFIED).and_then(|d| httpdate::parse_http_date(d).ok()),
        }
    }

    /// What ties a range to this version (`If-Range`): a strong ETag, else the date; `None`
    /// when the response named neither. A weak ETag cannot be used for ranges.
    pub fn if_range(&self) -> Option<String> {
        match (&self.etag, self.modified) {
            (Some(etag), _) if !etag.starts_with("W/") => Some(etag.clone()),
            (_, Some(modified)) => Some(httpdate::fmt_http_date(modified)),
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

    fn stamp(etag: Option<&str>, date: Option<&str>) -> Stamp {
        let mut headers = HeaderMap::new();
        if let Some(etag) = etag {
            headers.insert(ETAG, etag.parse().unwrap());
        }
        if let Some(date) = date {
            headers.insert(LAST_MODIFIED, date.parse().unwrap());
        }
        Stamp::from_headers(&headers)
    }

    #[test]
    fn ranges_are_tied_to_a_strong_etag_or_else_the_date() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        let strong = stamp(Some("\"a1\""), Some(date));
        assert_eq!(strong.if_range().as_deref(), Some("\"a1\""));
        let weak = stamp(Some("W/\"a1\""), Some(date));
        assert_eq!(weak.if_range().as_deref(), Some(date));
        assert_eq!(stamp(Some("W/\"a1\""), None).if_range(), None);
        assert_eq!(stamp(None, None).if_range(), None);
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
