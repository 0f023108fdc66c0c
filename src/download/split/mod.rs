//! `--split`: one large file fetched as several ranges at once, by workers that are idle.
//!
//! The worker that has the entry (its owner) cuts the file into pieces, keeps streaming its
//! first response into the first piece, and on into the next for as long as nobody else has
//! taken it, and posts the split on the board (`board.rs`): a worker the list has nothing for
//! takes the last free piece and asks for it with a Range tied to the version (`If-Range`).
//! Every piece is written at its offset into `NAME.part`, and what is on disk is recorded
//! beside it (`disk/record.rs`) for `--continue`; the table of pieces is `pieces.rs`. A piece that
//! fails goes back, to be asked for again from where it stopped; a server that answers a range
//! with the whole file ends the split (the download goes on as one stream); a file that changes
//! on the server ends it too (the download starts over). Only when every piece is whole is the
//! file verified and placed: never a file with a hole in it.

mod board;
mod fetch;
mod pieces;

use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use reqwest::header::ACCEPT_RANGES;
use reqwest::{Response, StatusCode, Url};

use super::answer::{self, Asked, Holding, Meaning};
use super::disk::place::Spot;
use super::disk::record::{Record, Span};
use super::finish::{self, Saved, Whole};
use super::held::{Bytes, Held};
use super::kit::Kit;
use super::limits::Limits;
use super::pin::Pin;
use super::request::{self, Ask, Listed};
use super::retry::Failure;
use super::verify::Digest;
use crate::config::Policy;
use crate::entry::Entry;
use crate::outcome::shown_path;
use crate::progress::Task;
use crate::redact::redact_url;
pub use board::Board;
pub use fetch::{Split, help};
use pieces::Pieces;

/// The pieces of a response's file, when `--split` applies to it: the server says it takes
/// byte ranges, its answer pinned the version with a strong validator (`pin`), so each range's
/// answer can prove it is of that version, and the file is long enough to cut (`pieces::cut`).
pub fn plan(
    policy: &Policy,
    entry: &Entry,
    response: &Response,
    pin: &Pin,
    len: Option<u64>,
) -> Option<Vec<Span>> {
    let split = ranges_at_once(policy, entry);
    if split < 2 || !pin.vouches() {
        return None;
    }
    let len = len?;
    let ranges = response
        .headers()
        .get(ACCEPT_RANGES)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|u| u.trim().eq_ignore_ascii_case("bytes")));
    if !ranges || response.status() != StatusCode::OK {
        return None;
    }
    pieces::cut(len, split, policy.split_min)
}

/// How many ranges of `entry` may be fetched at once: its list's `split=`, else `--split`.
pub fn ranges_at_once(policy: &Policy, entry: &Entry) -> usize {
    entry.options.split.unwrap_or(policy.split)
}

/// One attempt's side of a split download.
pub struct SplitAttempt<'a> {
    pub entry: &'a Entry,
    /// Where its ranges are asked for: the entry's URL, or one of its mirrors.
    pub url: &'a Url,
    pub kit: &'a Kit<'a>,
    pub task: &'a Task<'a>,
    pub limits: &'a Limits,
    /// The finished file replaces what is at the target (`--overwrite`, `--update`).
    pub replace: bool,
    /// Where pieces are shown to idle workers; `None` when nobody would take them.
    pub board: Option<&'a Board<Split>>,
}

/// How a split download ended, when it did not fail.
pub enum Ending {
    Saved(Saved),
    /// The server's ranges cannot be used (why): fetch the file as one stream.
    OneStream(String),
}

/// A fresh split download: `response` is the whole file (200), `spans` its pieces; `held` has
/// the fresh `.part` and the pin.
pub async fn download(
    attempt: SplitAttempt<'_>,
    held: &mut Held,
    response: Response,
    spans: Vec<Span>,
) -> Result<Ending, Failure> {
    let pin = held.pin.clone().expect("a 2xx answer pinned the version");
    let len = spans.last().map_or(0, |s| s.end);
    held.bytes = Bytes::Pieces(Record { len, pin, spans });
    run(attempt, held, response, (0, len), StatusCode::OK).await
}

/// A split download's pieces held (from this run, or recorded by an earlier one): asks for the
/// file from its first missing byte on, tied to its version. `Ok(None)` when the bytes on disk
/// cannot be built on (the server has another version, or did not say it has this one): they
/// are dropped, and the caller starts afresh.
pub async fn resume(
    attempt: SplitAttempt<'_>,
    spot: &Spot,
    held: &mut Held,
) -> Result<Option<Ending>, Failure> {
    let (Bytes::Pieces(record), Some(pin)) = (&mut held.bytes, &held.pin) else {
        unreachable!("a split is resumed from its pieces and their version");
    };
    let from = match record.spans.iter().find(|s| s.done < s.end - s.start) {
        Some(s) => s.start + s.done,
        // All there: the last byte again, to hear that this is still the version.
        None => {
            let last = record.spans.last_mut().expect("a record has ranges");
            last.done -= 1;
            record.len - 1
        }
    };
    let if_range = pin.if_range();
    let ask = Ask {
        range: Some((from, None)),
        if_range: if_range.as_deref(),
        conditions: None,
    };
    let listed = Listed::of(attempt.entry, attempt.url);
    let response = request::send(listed, attempt.kit, attempt.limits, ask).await?;
    let status = response.status();
    let asked = Asked {
        from: Some(from),
        revalidating: false,
    };
    let holding = Holding {
        pin: Some(pin),
        digest: false,
    };
    // A failure (a server error) says nothing about the bytes on disk: they stay for the next
    // attempt. Anything but the bytes asked for, of this version, and they are dropped.
    let admitted = match answer::read(&response, asked, holding)? {
        Meaning::Rest { end, .. } => Ok(end),
        Meaning::Refused(refusal) => Err(refusal.why().to_string()),
        _ => Err(format!(
            "the server no longer has that version of the file (it answered {})",
            status.as_u16()
        )),
    };
    let end = match admitted {
        Ok(end) => end,
        Err(why) => {
            attempt
                .kit
                .log(|| format!("{}: {why}; starting over", spot.part_shown.display()));
            held.start_over();
            return Ok(None);
        }
    };
    attempt.task.set_length(record.len);
    attempt.task.resumed(record.done());
    run(attempt, held, response, (from, end), status)
        .await
        .map(Some)
}

/// The owner's part: stream `response` (the bytes `from..end` of the file) into its pieces, post
/// the split for idle workers, fetch what nobody took, wait for the others, then verify and
/// place. A split that fails leaves its pieces held, for the next attempt to resume.
async fn run(
    attempt: SplitAttempt<'_>,
    held: &mut Held,
    mut response: Response,
    (from, end): (u64, u64),
    status: StatusCode,
) -> Result<Ending, Failure> {
    let kit = attempt.kit;
    let split = Arc::new(Split {
        url: attempt.url.clone(),
        headers: Listed::of(attempt.entry, attempt.url).headers,
        own_headers: attempt.entry.options.headers.clone(),
        counter: attempt.task.counter(),
        pieces: table(kit, attempt.entry, held).map_err(|f| f.status(status))?,
        shown: shown_path(&kit.policy.output_dir, &attempt.entry.target),
    });
    let first = split.pieces.claim_at(from);
    kit.log(|| {
        let (count, size) = split.pieces.shape();
        format!(
            "{} in {count} pieces of {}, up to {} at once",
            redact_url(attempt.url.as_str()),
            crate::units::human_bytes(size),
            split.pieces.at_once
        )
    });
    // Shown to idle workers until the split is over.
    let wake = split.pieces.free().min(split.pieces.at_once - 1);
    let posted = attempt.board.map(|board| board.post(&split, wake));
    let (cur, streamed) = split
        .stream(first, &mut response, (from, end), kit, attempt.limits)
        .await;
    drop(response);
    split.give_back(cur, streamed, kit);
    let finish = split.finish(kit).await;
    drop(posted);
    match finish {
        pieces::Ending::Whole => place(&attempt, held, &split, status).map(Ending::Saved),
        // A piece's word only: the split itself ended here.
        pieces::Ending::Abandoned => unreachable!("a split's owner never hears Abandoned"),
        pieces::Ending::OneStream(why) => {
            held.start_over();
            Ok(Ending::OneStream(why))
        }
        pieces::Ending::Changed(why) => {
            held.start_over();
            Err(Failure::transient(anyhow!("{why}; starting over")).status(status))
        }
        pieces::Ending::Failed(failure) => {
            held.bytes = Bytes::Pieces(split.pieces.snapshot());
            Err(failure.status(status))
        }
    }
}

/// The piece table of the held pieces, on a descriptor of its own of the held `.part`; with
/// `--continue` (the record's one reader) recorded beside it before any byte lands at an offset,
/// so a `.part` with holes never stands alone.
fn table(kit: &Kit<'_>, entry: &Entry, held: &mut Held) -> Result<Pieces, Failure> {
    let (Some(part), Bytes::Pieces(record)) = (&mut held.part, &held.bytes) else {
        unreachable!("a split runs on its pieces in an open .part");
    };
    let shown = part.path.clone();
    let file = part
        .file
        .try_clone()
        .with_context(|| format!("cannot open {}", shown.display()))
        .map_err(Failure::local)?;
    let record_at = kit.policy.continues.then(|| part.record_ranges());
    let settings = (kit.policy.retries, ranges_at_once(kit.policy, entry));
    let pieces = Pieces::new(file, shown.clone(), record, settings, record_at);
    if let Err(e) = pieces.record() {
        // Nothing is on disk yet, and without a record nothing could be resumed.
        held.start_over();
        let context = format!("cannot record the ranges of {}", shown.display());
        return Err(Failure::local(anyhow!(e).context(context)));
    }
    Ok(pieces)
}

/// Every piece is whole: the file is checked (its length on disk, and the digest read back
/// from it when something asks) and placed.
fn place(
    attempt: &SplitAttempt<'_>,
    held: &mut Held,
    split: &Split,
    status: StatusCode,
) -> Result<Saved, Failure> {
    let fatal = |e: anyhow::Error| Failure::local(e).status(status);
    let len = split.pieces.len;
    let mut part = held.part.take().expect("the split's .part");
    let shown = part.path.display().to_string();
    let on_disk = part
        .file
        .metadata()
        .with_context(|| format!("cannot inspect {shown}"))
        .map_err(fatal)?
        .len();
    if on_disk != len {
        part.keep = false;
        return Err(fatal(anyhow!(
            "{shown} holds {on_disk} bytes after its ranges, not {len}"
        )));
    }
    let digest = Digest::of_file(attempt.entry, attempt.kit.policy.digest, &mut part.file)
        .with_context(|| format!("cannot read {shown}"))
        .map_err(fatal)?;
    let whole = Whole {
        len,
        digest,
        stamp: &split.pieces.pin.stamp,
        status,
        length_unverified: false,
    };
    finish::place(
        attempt.entry,
        attempt.kit.policy,
        part,
        whole,
        attempt.replace,
    )
}
