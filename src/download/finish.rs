//! How every download that saved a file ends: the whole `.part` checked against the list
//! (`size=`, its digests), stamped with the version it holds (`Last-Modified` as its time, the
//! ETag kept), and put in place without replacing anything unasked. A one-stream download, a
//! `.part` a 416 says is whole, and a split all end here.

use anyhow::Context as _;
use reqwest::StatusCode;

use super::disk::part::PartFile;
use super::pin::Pin;
use super::retry::Failure;
use super::validators::Stamp;
use super::verify::{self, Computed};
use crate::config::Policy;
use crate::entry::Entry;

/// What a download that saved a file produced.
pub struct Saved {
    pub http_status: u16,
    /// The size of the file put in place.
    pub bytes: u64,
    pub sha256: Option<String>,
    pub length_unverified: bool,
}

/// A `.part` with every byte of its file, and what is known of it.
pub struct Whole<'a> {
    pub len: u64,
    /// Its digests, those something asked for.
    pub digest: Computed,
    /// The version it holds.
    pub stamp: &'a Stamp,
    /// The last answer's status, for the report.
    pub status: StatusCode,
    /// No Content-Length told how long it should be.
    pub length_unverified: bool,
}

/// Checks `whole`, stamps it and puts it in place: over what is at the target only with
/// `--overwrite` or when `replace` says this entry replaces it (`--update`). A file that does not
/// match the list is removed, whatever `--continue` says: its bytes cannot be right.
pub fn place(
    entry: &Entry,
    policy: &Policy,
    mut part: PartFile,
    whole: Whole,
    replace: bool,
) -> Result<Saved, Failure> {
    // A file that does not match the list is the server's failure; the rest are this machine's.
    if let Err(e) = verify::check(entry, whole.len, &whole.digest) {
        part.keep = false;
        return Err(Failure::fatal(e).status(whole.status));
    }
    let fail = |e: anyhow::Error| Failure::local(e).status(whole.status);
    if policy.continues {
        // The pin was for the `.part`; the placed file keeps its ETag and date as every file does.
        Pin::remove(&part.file);
    }
    whole
        .stamp
        .apply(&part.file)
        .with_context(|| format!("cannot set the time of {}", part.path.display()))
        .map_err(fail)?;
    part.persist(policy.overwrite || replace).map_err(fail)?;
    Ok(Saved {
        http_status: whole.status.as_u16(),
        bytes: whole.len,
        sha256: whole.digest.sha256_hex(),
        length_unverified: whole.length_unverified,
    })
}
