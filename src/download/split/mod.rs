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
mod pieces;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use reqwest::header::ACCEPT_RANGES;
use reqwest::{Response, StatusCode, Url};

use super::body::{Body, Saved};
use super::disk::part::PartFile;
use super::disk::place::Spot;
use super::disk::record::{Record, Span};
use super::limits::Limits;
use super::request::{self, Ask, content_range};
use super::retry::Failure;
use super::validators::Stamp;
use super::verify::{self, Digest};
use super::worker::Worker;
use crate::config::Policy;
use crate::entry::{Entry, to_hex};
use crate::progress::{Counter, Task};
use crate::redact::redact_url;
pub use board::Board;
use board::Wanted;
use pieces::{Finish, LOOK_EVERY, Pick, Pieces, Stop};

/// The pieces of a response's file, when `--split` applies to it: the server says it takes
/// byte ranges, and the file is long enough to cut (`pieces::cut`).
pub fn plan(policy: &Policy, response: &Response, len: Option<u64>) -> Option<Vec<Span>> {
    if policy.split < 2 {
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
    pieces::cut(len, policy.split, policy.split_min)
}

/// One attempt's side of a split download.
pub struct Job<'a> {
    pub entry: &'a Entry,
    pub worker: &'a Worker<'a>,
    pub task: &'a Task<'a>,
    pub limits: &'a Limits,
    /// The finished file replaces what is at the target (`--overwrite`, `--update`).
    pub replace: bool,
    /// Where pieces are shown to idle workers; `None` when nobody would take them.
    pub board: Option<&'a Board<Split>>,
}

/// How a split download ended, when it did not fail.
pub enum Ended {
    Saved(Saved),
    /// The server answered a range with the whole file: fetch it as one stream.
    OneStream,
}

/// A fresh split download: `response` is the whole file (200), `record` its pieces.
pub async fn download(
    job: Job<'_>,
    part: PartFile,
    response: Response,
    record: Record,
    stamp: Stamp,
) -> Result<Ended, Failure> {
    run(job, part, response, 0, record, stamp, StatusCode::OK).await
}

/// `--continue` on a split download: asks for the file from its first missing byte on, tied
/// to the recorded version. `Ok(None)` when the bytes on disk cannot be used (no version was
/// recorded, the file changed, the `.part` is gone): they are removed, and the caller starts
/// afresh.
pub async fn resume(
    job: Job<'_>,
    spot: &Spot,
    mut record: Record,
) -> Result<Option<Ended>, Failure> {
    let start_over = |why: String| {
        job.worker
            .log(|| format!("{}: {why}; starting over", spot.part_shown.display()));
        spot.remove_stale_part().map_err(Failure::fatal)
    };
    let Some(version) = record.version.clone() else {
        start_over("no version of the file was recorded with its ranges".into())?;
        return Ok(None);
    };
    if spot.part_len().is_none_or(|len| len > record.len) {
        start_over("it does not match the ranges recorded beside it".into())?;
        return Ok(None);
    }
    let from = match record.spans.iter().find(|s| s.done < s.end - s.start) {
        Some(s) => s.start + s.done,
        // All there: the last byte again, to hear that this is still the version.
        None => {
            let last = record.spans.last_mut().expect("a record has ranges");
            last.done -= 1;
            record.len - 1
        }
    };
    let ask = Ask {
        range: Some((from, None)),
        if_range: Some(&version),
        conditions: None,
    };
    let response = request::send(job.entry, job.worker, job.limits, ask).await?;
    let status = response.status();
    // A server error says nothing about the bytes on disk: they stay for the next attempt.
    if !matches!(status.as_u16(), 200 | 206 | 416) {
        return Err(Failure::from_status(
            status,
            response.headers(),
            response.url(),
        ));
    }
    let stamp = Stamp::from_headers(response.headers());
    // An ETag recorded is an ETag answered; a date was checked by If-Range itself.
    let same_etag = !version.starts_with('"') || stamp.if_range().as_deref() == Some(&version);
    let fits = status == StatusCode::PARTIAL_CONTENT
        && same_etag
        && content_range(&response).is_some_and(|r| r.start == from && r.total == Some(record.len));
    if !fits {
        start_over(format!(
            "the server no longer has that version of the file (it answered {})",
            status.as_u16()
        ))?;
        return Ok(None);
    }
    let part = spot.reopen_part(true, false).map_err(Failure::fatal)?;
    job.task.set_length(record.len);
    job.task.resumed(record.done());
    run(job, part, response, from, record, stamp, status)
        .await
        .map(Some)
}

/// The owner's part: stream `response` (whose body starts at byte `from`) into its pieces,
/// post the split for idle workers, fetch what nobody took, wait for the others, then verify
/// and place.
async fn run(
    job: Job<'_>,
    mut part: PartFile,
    mut response: Response,
    from: u64,
    record: Record,
    stamp: Stamp,
    status: StatusCode,
) -> Result<Ended, Failure> {
    let worker = job.worker;
    let fatal = |e: anyhow::Error| Failure::fatal(e).status(status);
    let shown = part.path.clone();
    let file = part
        .file
        .try_clone()
        .with_context(|| format!("cannot open {}", shown.display()))
        .map_err(fatal)?;
    let pieces = Pieces::new(
        file,
        shown.clone(),
        &record,
        (worker.policy.retries, worker.policy.split),
        part.record_ranges(),
    );
    // Recorded before any byte lands at an offset: a `.part` with holes never stands alone.
    pieces
        .record()
        .with_context(|| format!("cannot record the ranges of {}", shown.display()))
        .map_err(fatal)?;
    let split = Arc::new(Split {
        entry: job.entry.clone(),
        version: stamp.clone(),
        counter: job.task.counter(),
        pieces,
    });
    let first = split.pieces.claim_at(from);
    worker.log(|| {
        let (count, size) = split.pieces.shape();
        format!(
            "{} in {count} pieces of {}, up to {} at once",
            redact_url(job.entry.url.as_str()),
            crate::units::human_bytes(size),
            split.pieces.at_once
        )
    });
    // Shown to idle workers until the split is over.
    let wake = split.pieces.free().min(split.pieces.at_once - 1);
    let posted = job.board.map(|board| board.post(&split, wake));
    let (cur, streamed) = split
        .stream(first, &mut response, from, worker, job.limits)
        .await;
    drop(response);
    split.give_back(cur, streamed, worker);
    let finish = split.finish(worker).await;
    drop(posted);
    match finish {
        Finish::Whole => {}
        Finish::OneStream => {
            part.keep = false;
            return Ok(Ended::OneStream);
        }
        Finish::Changed(why) => {
            part.keep = false;
            return Err(Failure::transient(anyhow!("{why}; starting over")).status(status));
        }
        Finish::Failed(failure) => return Err(failure.status(status)),
    }
    let len = split.pieces.len;
    let on_disk = part
        .file
        .metadata()
        .with_context(|| format!("cannot inspect {}", shown.display()))
        .map_err(fatal)?
        .len();
    if on_disk != len {
        part.keep = false;
        return Err(fatal(anyhow!(
            "{} holds {on_disk} bytes after its ranges, not {len}",
            shown.display()
        )));
    }
    let digest = Digest::of_file(job.entry, worker.policy.digest, &mut part.file)
        .with_context(|| format!("cannot read {}", shown.display()))
        .map_err(fatal)?;
    verify::check(job.entry, len, digest.as_ref()).map_err(|e| {
        part.keep = false;
        fatal(e)
    })?;
    stamp
        .apply(&part.file)
        .with_context(|| format!("cannot set the time of {}", shown.display()))
        .map_err(fatal)?;
    part.persist(worker.policy.overwrite || job.replace)
        .map_err(fatal)?;
    Ok(Ended::Saved(Saved {
        http_status: status.as_u16(),
        bytes: len,
        sha256: digest.map(|d| to_hex(&d)),
        length_unverified: false,
    }))
}

/// An idle worker's part: fetch the last free pieces of `split` until none is left.
pub async fn help(split: &Split, worker: &Worker<'_>) {
    while let Some(i) = split.pieces.claim(Pick::Last) {
        split.fetch(i, worker).await;
    }
}

/// A split download as its owner and helpers see it: the entry, the version its pieces are of,
/// and the piece table.
pub struct Split {
    entry: Entry,
    version: Stamp,
    counter: Counter,
    pieces: Pieces,
}

impl Wanted for Split {
    fn wants_help(&self) -> bool {
        self.pieces.takeable()
    }
}

impl Split {
    /// The URL whose host the ranges are asked of (`--per-host` counts them).
    pub fn url(&self) -> &Url {
        &self.entry.url
    }

    /// Ends the split after a helper panicked: its owner stops waiting and fails the entry.
    pub fn broken(&self, why: String) {
        self.pieces.broken(why);
    }

    /// Asks for what is missing of piece `i` (taken by the caller) and writes it.
    async fn fetch(&self, i: usize, worker: &Worker<'_>) {
        let (from, to) = self.pieces.missing(i);
        worker.log(|| {
            format!(
                "GET {} (bytes {from}-{to})",
                redact_url(self.entry.url.as_str())
            )
        });
        let limits = Limits::start(worker.policy);
        let ask = Ask {
            range: Some((from, Some(to))),
            if_range: self.pieces.version(),
            conditions: None,
        };
        let sent = self
            .unless_stopped(request::send(&self.entry, worker, &limits, ask))
            .await;
        let (cur, result) = match sent {
            None => (i, Err(Stop::Abandoned)),
            Some(Err(failure)) => (i, Err(Stop::Failed(failure))),
            Some(Ok(mut response)) => match self.check(&response, from) {
                Err(stop) => (i, Err(stop)),
                Ok(()) => self.stream(i, &mut response, from, worker, &limits).await,
            },
        };
        self.give_back(cur, result, worker);
    }

    /// Waits for `fut` unless the split ends meanwhile: a helper waiting for a slow server's
    /// answer must not keep the owner waiting once the split is over.
    async fn unless_stopped<F: Future>(&self, fut: F) -> Option<F::Output> {
        let mut fut = pin!(fut);
        loop {
            match tokio::time::timeout(LOOK_EVERY, fut.as_mut()).await {
                Ok(output) => return Some(output),
                Err(_) if self.pieces.stopping() => return None,
                Err(_) => {}
            }
        }
    }

    /// Whether the answer to a range request from `from` carries that range of this version.
    fn check(&self, response: &Response, from: u64) -> Result<(), Stop> {
        let status = response.status();
        if self
            .version
            .differs(&Stamp::from_headers(response.headers()))
        {
            return Err(Stop::Changed(
                "the file changed on the server while its ranges were fetched".into(),
            ));
        }
        match status {
            StatusCode::PARTIAL_CONTENT => match content_range(response) {
                Some(r) if r.total.is_some_and(|t| t != self.pieces.len) => Err(Stop::Changed(
                    "the file's length changed on the server while its ranges were fetched".into(),
                )),
                Some(r) if r.start == from && r.end.is_some_and(|end| end >= from) => Ok(()),
                _ => Err(Stop::Failed(
                    Failure::transient(anyhow!(
                        "the server answered the range from byte {from} with another range"
                    ))
                    .status(status),
                )),
            },
            StatusCode::OK => Err(Stop::WholeFile),
            StatusCode::RANGE_NOT_SATISFIABLE => Err(Stop::Changed(
                "the server refused a range inside the file (416): it changed meanwhile".into(),
            )),
            _ => Err(Stop::Failed(Failure::from_status(
                status,
                response.headers(),
                response.url(),
            ))),
        }
    }

    /// Writes `response`'s body (byte `from` on) into piece `first`, and on into the pieces
    /// after it while they are free and empty. Returns the piece it was in when it stopped.
    async fn stream(
        &self,
        first: usize,
        response: &mut Response,
        from: u64,
        worker: &Worker<'_>,
        limits: &Limits,
    ) -> (usize, Result<(), Stop>) {
        let (mut cur, mut pos) = (first, from);
        let body = Body {
            worker,
            limits,
            counter: &self.counter,
        };
        let received = body
            .receive(response, |chunk: &[u8]| {
                self.pieces.write(&mut cur, &mut pos, chunk)
            })
            .await;
        let result = match received {
            Err(failure) => Err(Stop::Failed(failure)),
            Ok(()) => self.pieces.stopped_at(cur, pos),
        };
        (cur, result)
    }

    /// Gives piece `i` back to the table; a piece to be asked for again pauses its host when the
    /// server asked for that (429, 503), and says so under `-v`.
    fn give_back(&self, i: usize, result: Result<(), Stop>, worker: &Worker<'_>) {
        let Some(retry) = self.pieces.release(i, result) else {
            return;
        };
        if let Some(host) = &retry.failure.busy_host {
            worker.throttle.pause_host(host, retry.wait);
        }
        worker.log(|| {
            format!(
                "retry {}/{} of bytes {}-{} in {:.1}s: {:#}",
                retry.failures,
                retry.retries,
                retry.first,
                retry.last,
                retry.wait.as_secs_f64(),
                retry.failure.error
            )
        });
    }

    /// The owner, once its own stream is over: fetches the free pieces nobody took, waits for
    /// the ones others have, and closes the split.
    async fn finish(&self, worker: &Worker<'_>) -> Finish {
        while let Some(i) = self.pieces.next_for_owner() {
            self.fetch(i, worker).await;
        }
        self.pieces.close()
    }
}
