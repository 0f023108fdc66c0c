//! One reading of a server's answer: what a 200, 206, 304 or 416 means for the bytes an entry
//! already holds. Every request for bytes asks [`read`] (the one-stream transfer, a piece of a
//! split, a split being resumed), so no two paths can disagree about when bytes may join bytes.
//!
//! | asked for | status | Content-Range | validators, against the pin | meaning |
//! |---|---|---|---|---|
//! | a revalidation (`-u`) | 304 | | | `Unchanged` |
//! | anything | not 2xx (but the two rows of 416) | | | fails: the HTTP status |
//! | the whole file | 206 | | | fails: a range nobody asked for |
//! | the whole file | 2xx | | | `Whole`: the file, which pins the version |
//! | a range | 2xx, not 206 | | | `Whole`, of another version where one differs |
//! | the rest from N | 416 | `*/N` | none differs | `Complete`: the N bytes held are the file |
//! | a range | 416 | anything else | | refused: `Changed` |
//! | a range | 206 | none, `*`, or no total | | refused: `OtherBytes` |
//! | a range | 206 | | one differs, or the total | refused: `Changed` |
//! | a range | 206 | | none is the pin's strong one, and no digest will decide | refused: `Unproven` |
//! | the rest from N | 206 | not from N, or past its total | | refused: `OtherBytes` |
//! | the rest from N | 206 | `N-E/T` | Content-Length is not E+1-N | fails (may pass) |
//! | the rest from N | 206 | `N-E/T` | proves the pin, or a digest will decide | `Rest`: write N..=E of T |
//!
//! "Proves the pin" is RFC 9110's strong comparison: the answer names the pin's strong ETag, or
//! its strong date (`pin.rs`). A server that ignores `If-Range` and says nothing of the version
//! proves nothing, and its bytes are refused like another version's; only a digest the list
//! gives, checked before the file is placed, may let them join.

use anyhow::anyhow;
use reqwest::header::{CONTENT_RANGE, HeaderMap};
use reqwest::{Response, StatusCode};

use super::pin::Pin;
use super::retry::Failure;
use super::validators::Stamp;

/// What a request asked for.
#[derive(Debug, Clone, Copy)]
pub struct Asked {
    /// The bytes from here on (a piece's end aside); `None`: the whole file.
    pub from: Option<u64>,
    /// `If-None-Match` / `If-Modified-Since` went with it (`--update`).
    pub revalidating: bool,
}

/// What the answer's bytes would join: the version held (if any), and whether a digest the list
/// gives will check the whole file before it is placed.
#[derive(Debug, Clone, Copy)]
pub struct Holding<'a> {
    pub pin: Option<&'a Pin>,
    pub digest: bool,
}

/// What an answer means for the bytes held.
#[derive(Debug, PartialEq, Eq)]
pub enum Meaning {
    /// 304 to a revalidation: the file in place is current.
    Unchanged,
    /// The whole file, of `len` bytes where it says: what is held is dropped, and this answer
    /// pins the version. `changed` says why it is of another version than the pin, when a
    /// range was asked for and something it names differs.
    Whole {
        len: Option<u64>,
        changed: Option<&'static str>,
    },
    /// 416 to a request for the rest: the bytes held are already the whole file.
    Complete,
    /// The bytes `from..end` of a file of `total`, of the version held: written at `from`.
    Rest { from: u64, end: u64, total: u64 },
    /// The bytes may not join the ones held.
    Refused(Refusal),
}

/// Why an answer's bytes may not join the ones held.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// They are of another version of the file.
    Changed(String),
    /// Nothing in the answer proves they are of the version held.
    Unproven(String),
    /// They are other bytes than were asked for, or the answer does not say which.
    OtherBytes(String),
}

impl Refusal {
    pub fn why(&self) -> &str {
        match self {
            Refusal::Changed(why) | Refusal::Unproven(why) | Refusal::OtherBytes(why) => why,
        }
    }
}

/// What an answer says, as the table reads it.
#[derive(Debug)]
pub struct Heard {
    pub status: StatusCode,
    pub range: Option<ContentRange>,
    pub length: Option<u64>,
    pub stamp: Stamp,
}

/// An answer that fails the attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Fault {
    /// Not a success: its status says what (and whether to retry).
    Status,
    /// A 206 to a request for the whole file.
    Unasked,
    /// A 206 whose Content-Length is not its Content-Range's.
    Length,
}

/// What `response` means for the bytes held, by the table above; an answer that fails the
/// attempt is the failure.
pub fn read(response: &Response, asked: Asked, holding: Holding) -> Result<Meaning, Failure> {
    let heard = Heard::of(
        response.status(),
        response.headers(),
        response.content_length(),
    );
    meaning(&heard, asked, holding).map_err(|fault| match fault {
        Fault::Status => Failure::from_status(heard.status, response.headers(), response.url()),
        Fault::Unasked => Failure::fatal(anyhow!(
            "the server sent part of the file (206) although no range was asked for"
        ))
        .status(heard.status),
        Fault::Length => Failure::transient(anyhow!(
            "the server's Content-Length does not match its Content-Range"
        ))
        .status(heard.status),
    })
}

impl Heard {
    pub fn of(status: StatusCode, headers: &HeaderMap, length: Option<u64>) -> Heard {
        let range = headers
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_content_range);
        Heard {
            status,
            range,
            length,
            stamp: Stamp::from_headers(headers),
        }
    }
}

/// The table: what `heard`, the answer to `asked`, means for what `holding` describes.
pub fn meaning(heard: &Heard, asked: Asked, holding: Holding) -> Result<Meaning, Fault> {
    let status = heard.status;
    if status == StatusCode::NOT_MODIFIED && asked.revalidating {
        return Ok(Meaning::Unchanged);
    }
    let Some(from) = asked.from else {
        return match status {
            StatusCode::PARTIAL_CONTENT => Err(Fault::Unasked),
            s if s.is_success() => Ok(Meaning::Whole {
                len: heard.length,
                changed: None,
            }),
            _ => Err(Fault::Status),
        };
    };
    let differs = |total| holding.pin.and_then(|pin| pin.differs(&heard.stamp, total));
    match status {
        StatusCode::RANGE_NOT_SATISFIABLE => Ok(complete(heard, from, differs)),
        StatusCode::PARTIAL_CONTENT => rest(heard, from, holding),
        s if s.is_success() => Ok(Meaning::Whole {
            len: heard.length,
            changed: differs(heard.length),
        }),
        _ => Err(Fault::Status),
    }
}

/// A 416 to a request for the bytes from `from` on: the bytes held are the whole file if the
/// server says it is that long and, as far as it says, of the same version. (A 416 rarely names
/// validators, and needs none: bytes of one version that are the whole file are not a mix.)
fn complete(
    heard: &Heard,
    from: u64,
    differs: impl Fn(Option<u64>) -> Option<&'static str>,
) -> Meaning {
    let total = heard.range.as_ref().and_then(|r| r.total);
    if total == Some(from) && differs(total).is_none() {
        Meaning::Complete
    } else {
        Meaning::Refused(Refusal::Changed(
            "the server refused the range (416) and does not say the file is whole".into(),
        ))
    }
}

/// A 206 to a request for the bytes from `from` on.
fn rest(heard: &Heard, from: u64, holding: Holding) -> Result<Meaning, Fault> {
    let refused = |refusal| Ok(Meaning::Refused(refusal));
    let Some(ContentRange {
        start,
        end: Some(end),
        total: Some(total),
    }) = heard.range
    else {
        return refused(Refusal::OtherBytes(
            "the server's 206 does not say which bytes of how many it holds".into(),
        ));
    };
    if let Some(why) = holding
        .pin
        .and_then(|p| p.differs(&heard.stamp, Some(total)))
    {
        return refused(Refusal::Changed(format!(
            "the file changed on the server: {why}"
        )));
    }
    let proven = holding.pin.is_some_and(|p| p.proves(&heard.stamp));
    if !proven && !holding.digest {
        return refused(Refusal::Unproven(
            "the server's 206 does not name the version it is of (no ETag or date of the \
             version held): it may be another"
                .into(),
        ));
    }
    if start != from || end < start || end >= total {
        return refused(Refusal::OtherBytes(format!(
            "the server answered the range from byte {from} with bytes {start}-{end}/{total}"
        )));
    }
    if heard.length.is_some_and(|len| len != end + 1 - from) {
        return Err(Fault::Length);
    }
    Ok(Meaning::Rest {
        from,
        end: end + 1,
        total,
    })
}

/// `Content-Range: bytes START-END/TOTAL` or `bytes */TOTAL` (then START is `u64::MAX` and
/// END is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub end: Option<u64>,
    pub total: Option<u64>,
}

/// A Content-Range value, if it parses.
pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(number(t)?),
    };
    let (start, end) = match range.trim() {
        "*" => (u64::MAX, None),
        r => {
            let (start, end) = r.split_once('-')?;
            (number(start.trim())?, Some(number(end.trim())?))
        }
    };
    Some(ContentRange { start, end, total })
}

/// Digits only (`u64`'s parser also takes a `+`), and no more than fit.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests;
