//! One attempt at one entry: the request, then the body into `NAME.part` under its limits (idle,
//! `--min-speed`, `--max-time`, `--max-size`, `size=`, the bandwidth cap), resuming with a Range
//! where `--continue` has bytes to build on; then the file is verified and put in place. A large
//! file whose server takes ranges is handed to `split/` instead (and a split `.part` is resumed
//! there). Nothing is created before the server has said 2xx.

use std::io::Write;

use anyhow::{Context as _, anyhow};
use reqwest::StatusCode;

use super::body::{Body, Flow, Saved};
use super::disk::place::Spot;
use super::disk::record::{Found, Record};
use super::limits::Limits;
use super::request::{self, Ask, ContentRange, content_range};
use super::retry::Failure;
use super::split::{self, Board, Split};
use super::validators::Stamp;
use super::verify::{self, Digest};
use super::worker::Worker;
use crate::config::Policy;
use crate::entry::{Entry, to_hex};
use crate::progress::Task;
use crate::redact::redact_url;

/// How a successful attempt ended.
pub enum Done {
    Saved(Saved),
    /// `--update`: the server answered 304; the file in place (this size) is current.
    Unchanged {
        bytes: u64,
    },
}

/// Downloads `entry` to `target` once; a split download whose ranges the server turns out to
/// ignore goes on at once as one stream, within the same attempt.
/// `board` is where a split download shows its pieces to idle workers.
pub async fn attempt(
    entry: &Entry,
    worker: &Worker<'_>,
    spot: &mut Spot,
    task: &Task<'_>,
    board: Option<&Board<Split>>,
) -> Result<Done, Failure> {
    let split_allowed = !spot.one_stream;
    let result = attempt_once(entry, worker, spot, task, board).await;
    if result.is_err() && split_allowed && spot.one_stream {
        task.restart();
        return attempt_once(entry, worker, spot, task, board).await;
    }
    result
}

async fn attempt_once(
    entry: &Entry,
    worker: &Worker<'_>,
    spot: &mut Spot,
    task: &Task<'_>,
    board: Option<&Board<Split>>,
) -> Result<Done, Failure> {
    let policy = worker.policy;
    let limits = Limits::start(policy);
    let conditions = spot.revalidate.as_ref();
    let replace = spot.replace;
    let split_job = || split::Job {
        entry,
        worker,
        task,
        limits: &limits,
        replace,
        board,
    };
    if policy.resume {
        match spot.ranges() {
            Found::Record(record) if !spot.one_stream => {
                if let Some(ended) = split::resume(split_job(), spot, record).await? {
                    return done(ended, spot);
                }
            }
            // Unreadable, or this entry now goes as one stream: the .part beside it may have
            // holes, and is started over.
            Found::Record(_) | Found::Unusable => {
                spot.remove_stale_part().map_err(Failure::fatal)?
            }
            Found::None => {}
        }
    }
    let mut resume_from = if policy.resume {
        spot.resumable_len()
    } else {
        None
    };
    let mut response = loop {
        let ask = Ask {
            range: resume_from.map(|from| (from, None)),
            if_range: None,
            conditions,
        };
        let response = request::send(entry, worker, &limits, ask).await?;
        let Some(have) = resume_from else {
            break response;
        };
        if response.status() != StatusCode::RANGE_NOT_SATISFIABLE {
            break response;
        }
        // 416: either the .part is already whole, or it is not what the server has now.
        if content_range(&response).and_then(|r| r.total) == Some(have) {
            return finish_complete_part(entry, policy, spot, have)
                .map(Done::Saved)
                .map_err(|f| f.status(response.status()));
        }
        worker.log(|| {
            format!(
                "{} refused the range of {}; starting over",
                redact_url(entry.url.as_str()),
                spot.part_shown.display()
            )
        });
        resume_from = None;
    };
    let status = response.status();
    if let (StatusCode::NOT_MODIFIED, Some(conditions)) = (status, conditions) {
        return Ok(Done::Unchanged {
            bytes: conditions.bytes,
        });
    }
    if !status.is_success() {
        return Err(Failure::from_status(
            status,
            response.headers(),
            response.url(),
        ));
    }
    let fail = |f: Failure| f.status(status);
    let stamp = Stamp::from_headers(response.headers());

    // Appending is only safe when the server sends exactly the bytes after ours, and a 206 says
    // which bytes of how many it holds: `body_end` is the file's length after this body,
    // `declared` its length when complete.
    let (append_from, body_end, declared) = if status == StatusCode::PARTIAL_CONTENT {
        let Some(have) = resume_from else {
            return Err(fail(Failure::fatal(anyhow!(
                "the server sent part of the file (206) although no range was asked for"
            ))));
        };
        match content_range(&response) {
            Some(ContentRange {
                start,
                end: Some(end),
                total: Some(total),
            }) if start == have && end >= start && end < total => {
                if response
                    .content_length()
                    .is_some_and(|len| len != end - start + 1)
                {
                    return Err(fail(Failure::transient(anyhow!(
                        "the server's Content-Length does not match its Content-Range"
                    ))));
                }
                (Some(have), Some(end + 1), Some(total))
            }
            _ => {
                let _ = spot.remove_stale_part();
                return Err(fail(Failure::transient(anyhow!(
                    "the server answered the resume request with another range; starting over"
                ))));
            }
        }
    } else {
        let len = response.content_length();
        (None, len, len)
    };
    if let (Some(declared), Some(size)) = (declared, entry.options.size)
        && declared != size
    {
        return Err(fail(Failure::fatal(anyhow!(
            "the server announces {declared} bytes but the list says size={size}"
        ))));
    }
    if let (Some(declared), Some(max)) = (declared, policy.max_size)
        && declared > max
    {
        return Err(fail(Failure::fatal(anyhow!(
            "the server announces {declared} bytes, more than --max-size {max}"
        ))));
    }
    task.set_length(declared.or(entry.options.size).unwrap_or(0));

    spot.make_parents().map_err(|e| fail(Failure::fatal(e)))?;
    if append_from.is_none()
        && !spot.one_stream
        && let Some(spans) = split::plan(policy, &response, declared)
    {
        let part = spot
            .create_part(policy.resume)
            .map_err(|e| fail(Failure::fatal(e)))?;
        let record = Record {
            len: spans.last().map_or(0, |s| s.end),
            version: stamp.if_range(),
            spans,
        };
        let ended = split::download(split_job(), part, response, record, stamp).await?;
        return done(ended, spot);
    }
    let mut digest = Digest::for_entry(entry, policy.digest);
    let mut part = match append_from {
        Some(have) => {
            let mut part = spot
                .reopen_part(policy.resume, true)
                .map_err(|e| fail(Failure::fatal(e)))?;
            // The digest covers the old bytes too; without one, the length alone is checked.
            let len = if digest.is_on() {
                digest.read_file(&mut part.file)
            } else {
                part.file.metadata().map(|m| m.len())
            }
            .with_context(|| format!("cannot read {}", part.path.display()))
            .map_err(|e| fail(Failure::fatal(e)))?;
            if len != have {
                part.keep = false;
                return Err(fail(Failure::transient(anyhow!(
                    "{} changed while resuming; starting over",
                    part.path.display()
                ))));
            }
            task.resumed(have);
            part
        }
        None => spot
            .create_part(policy.resume)
            .map_err(|e| fail(Failure::fatal(e)))?,
    };

    let counter = task.counter();
    let body = Body {
        worker,
        limits: &limits,
        counter: &counter,
    };
    let mut len = append_from.unwrap_or(0);
    body.receive(&mut response, |chunk: &[u8]| {
        let n = chunk.len() as u64;
        if let Some(size) = entry.options.size
            && len + n > size
        {
            part.keep = false;
            return Err(Failure::fatal(anyhow!(
                "the body is longer than size={size}; stopped"
            )));
        }
        if let Some(max) = policy.max_size
            && len + n > max
        {
            part.keep = false;
            return Err(Failure::fatal(anyhow!(
                "the body passed --max-size {max}; stopped"
            )));
        }
        digest.update(chunk);
        (&part.file).write_all(chunk).map_err(|e| {
            Failure::fatal(anyhow!(e).context(format!("cannot write {}", part.path.display())))
        })?;
        len += n;
        Ok((n, Flow::More))
    })
    .await
    .map_err(fail)?;
    if let Some(body_end) = body_end
        && len != body_end
    {
        return Err(fail(Failure::transient(anyhow!(
            "truncated: received {len} of {body_end} bytes"
        ))));
    }
    if let Some(declared) = declared
        && len < declared
    {
        // A 206 that ends before the file does: its bytes are good, and the next attempt
        // (or `--continue` run) asks for the rest. Never placed short.
        return Err(fail(Failure::transient(anyhow!(
            "the server sent bytes up to {len} of {declared}; the rest is still to come"
        ))));
    }
    let digest = digest.finish();
    verify::check(entry, len, digest.as_ref()).map_err(|e| {
        part.keep = false;
        fail(Failure::fatal(e))
    })?;
    stamp
        .apply(&part.file)
        .with_context(|| format!("cannot set the time of {}", part.path.display()))
        .map_err(|e| fail(Failure::fatal(e)))?;
    part.persist(policy.overwrite || spot.replace)
        .map_err(|e| fail(Failure::fatal(e)))?;
    Ok(Done::Saved(Saved {
        http_status: status.as_u16(),
        bytes: len,
        sha256: digest.map(|d| to_hex(&d)),
        length_unverified: declared.is_none(),
    }))
}

/// What the attempt makes of a split download's end.
fn done(ended: split::Ended, spot: &mut Spot) -> Result<Done, Failure> {
    match ended {
        split::Ended::Saved(saved) => Ok(Done::Saved(saved)),
        split::Ended::OneStream => {
            spot.one_stream = true;
            Err(Failure::transient(anyhow!(
                "the server answered a range request with the whole file; fetching it as one \
                 stream"
            )))
        }
    }
}

/// `--continue` met a 416 whose Content-Range says the `.part` is already whole: verify it and
/// put it in place.
fn finish_complete_part(
    entry: &Entry,
    policy: &Policy,
    spot: &Spot,
    len: u64,
) -> Result<Saved, Failure> {
    let mut part = spot.reopen_part(true, true).map_err(Failure::fatal)?;
    let digest = Digest::of_file(entry, policy.digest, &mut part.file)
        .with_context(|| format!("cannot read {}", part.path.display()))
        .map_err(Failure::fatal)?;
    if let Err(e) = verify::check(entry, len, digest.as_ref()) {
        part.keep = false;
        return Err(Failure::fatal(e));
    }
    part.persist(policy.overwrite || spot.replace)
        .map_err(Failure::fatal)?;
    Ok(Saved {
        http_status: StatusCode::RANGE_NOT_SATISFIABLE.as_u16(),
        bytes: len,
        sha256: digest.map(|d| to_hex(&d)),
        length_unverified: false,
    })
}
