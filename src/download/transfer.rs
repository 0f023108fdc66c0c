//! One attempt at one entry, as its steps: decide what to ask for (the rest of what is held,
//! tied to its version, or the whole file), ask, check the answer against the pin, stream the
//! body into `NAME.part` under its limits and never past the end the answer names, finish. A
//! large file whose server takes ranges goes to `split/` instead, and so does a split `.part`
//! being resumed. Nothing is created before the server has said 2xx.

use std::os::unix::fs::FileExt as _;

use anyhow::anyhow;
use reqwest::{Response, StatusCode, Url};

use super::answer::{self, Asked, Meaning};
use super::body::{Body, Flow};
use super::disk::place::Spot;
use super::finish::{self, Saved, Whole};
use super::held::{Bytes, Held};
use super::kit::Kit;
use super::limits::Limits;
use super::pin::Pin;
use super::request::{self, Ask, Listed};
use super::retry::Failure;
use super::split::{self, Board, Split};
use super::verify;
use crate::entry::Entry;
use crate::progress::Task;
use crate::redact::redact_url;

/// How a successful attempt ended.
pub enum Ending {
    Saved(Saved),
    /// `--update`: the server answered 304; the file in place (this size) is current.
    Unchanged {
        bytes: u64,
    },
}

/// One attempt's entry, and what it works with and reports to.
#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    pub entry: &'a Entry,
    /// Where it is asked for: the entry's URL, or one of its mirrors.
    pub url: &'a Url,
    pub kit: &'a Kit<'a>,
    pub task: &'a Task<'a>,
    /// Where a split download shows its pieces to idle workers.
    pub board: Option<&'a Board<Split>>,
}

/// What an answer's body holds: the bytes from `from` up to `end` (exclusive; unknown without a
/// length) of a file of `total` bytes (unknown likewise).
#[derive(Clone, Copy)]
struct Carries {
    from: u64,
    end: Option<u64>,
    total: Option<u64>,
}

/// Downloads the entry once, building on what `held` has; a split download whose ranges the
/// server turns out to ignore goes on at once as one stream, within the same attempt.
pub async fn attempt(
    attempt: &Attempt<'_>,
    spot: &mut Spot,
    held: &mut Held,
) -> Result<Ending, Failure> {
    let split_allowed = !spot.one_stream;
    let result = attempt_once(attempt, spot, held).await;
    if result.is_err() && split_allowed && spot.one_stream {
        attempt.task.restart();
        return attempt_once(attempt, spot, held).await;
    }
    result
}

async fn attempt_once(
    attempt: &Attempt<'_>,
    spot: &mut Spot,
    held: &mut Held,
) -> Result<Ending, Failure> {
    let (entry, kit) = (attempt.entry, attempt.kit);
    let limits = Limits::start(kit.policy);
    held.load(spot, entry, kit)?;
    let replace = spot.replace;
    let split_attempt = || split::SplitAttempt {
        entry,
        url: attempt.url,
        kit,
        task: attempt.task,
        limits: &limits,
        replace,
        board: attempt.board,
    };
    if let Bytes::Pieces(_) = held.bytes {
        if spot.one_stream {
            held.start_over();
        } else if let Some(ended) = split::resume(split_attempt(), spot, held).await? {
            return ended_split(ended, spot);
        }
    }
    let (mut response, answer) = ask(attempt, spot, held, &limits).await?;
    let status = response.status();
    let carries = match answer {
        Answer::Unchanged => {
            let bytes = spot.revalidate.as_ref().map_or(0, |v| v.bytes);
            return Ok(Ending::Unchanged { bytes });
        }
        Answer::Complete => return finish_held(attempt, spot, held, status),
        Answer::Body(carries) => carries,
    };
    let fail = |f: Failure| f.status(status);
    check_length(attempt, carries.total).map_err(fail)?;
    spot.make_parents().map_err(|e| fail(Failure::local(e)))?;
    if carries.from == 0
        && !spot.one_stream
        && let Some(pin) = &held.pin
        && let Some(spans) = split::plan(kit.policy, entry, &response, pin, carries.total)
    {
        let keep = kit.policy.continues;
        held.part = Some(
            spot.create_part(keep)
                .map_err(|e| fail(Failure::local(e)))?,
        );
        let ended = split::download(split_attempt(), held, response, spans).await?;
        return ended_split(ended, spot);
    }
    open_part(attempt, spot, held, carries).map_err(fail)?;
    stream(attempt, held, &mut response, &limits, carries)
        .await
        .map_err(fail)?;
    drop(response);
    finish_held(attempt, spot, held, status)
}

/// What an answer the attempt can use is, for it.
enum Answer {
    /// `--update`: 304, the file in place is current.
    Unchanged,
    /// 416 to a request for the rest: the held bytes are the whole file.
    Complete,
    /// A body to write where it goes: the rest of the held version, or the whole file (what
    /// was held is dropped, and the answer pins the version).
    Body(Carries),
}

/// Asks for what `held` lacks and takes the answer as `answer.rs` reads it: an answer the held
/// bytes cannot be built on (another version, one that does not prove its version, another
/// range, a 416 that does not say they are whole) drops them, and the whole file is asked for
/// at once.
async fn ask(
    attempt: &Attempt<'_>,
    spot: &Spot,
    held: &mut Held,
    limits: &Limits,
) -> Result<(Response, Answer), Failure> {
    let url = || redact_url(attempt.url.as_str());
    loop {
        let from = held.rest_from(attempt.entry);
        let if_range = from.and(held.pin.as_ref()).and_then(Pin::if_range);
        let ask = Ask {
            range: from.map(|from| (from, None)),
            if_range: if_range.as_deref(),
            conditions: spot.revalidate.as_ref(),
        };
        let listed = Listed::of(attempt.entry, attempt.url);
        let response = request::send(listed, attempt.kit, limits, ask).await?;
        let asked = Asked {
            from,
            revalidating: spot.revalidate.is_some(),
        };
        let answer = match answer::read(&response, asked, held.holding(attempt.entry))? {
            Meaning::Refused(refusal) => {
                let why = refusal.why();
                attempt
                    .kit
                    .log(|| format!("{}: {why}; starting over", url()));
                held.start_over();
                continue;
            }
            Meaning::Unchanged => Answer::Unchanged,
            Meaning::Complete => Answer::Complete,
            Meaning::Rest { from, end, total } => {
                let pin = held
                    .pin
                    .get_or_insert_with(|| Pin::of(response.headers(), Some(total)));
                // A first answer without a length (chunked) is told it by the 206.
                pin.len = pin.len.or(Some(total));
                Answer::Body(Carries {
                    from,
                    end: Some(end),
                    total: Some(total),
                })
            }
            Meaning::Whole { len, .. } => {
                if held.part.is_some() {
                    let status = response.status().as_u16();
                    attempt.kit.log(|| {
                        format!(
                            "{}: the server sent the whole file ({status}): it has another \
                             version, or ignores ranges; starting over",
                            url()
                        )
                    });
                }
                held.start_over();
                held.pin = Some(Pin::of(response.headers(), len));
                Answer::Body(Carries {
                    from: 0,
                    end: len,
                    total: len,
                })
            }
        };
        return Ok((response, answer));
    }
}

/// The file's length as the answer gives it, against the list's `size=` and `--max-size`, and
/// for the progress display.
fn check_length(attempt: &Attempt<'_>, total: Option<u64>) -> Result<(), Failure> {
    let (size, max) = (attempt.entry.options.size, attempt.kit.policy.max_size);
    if let (Some(total), Some(size)) = (total, size)
        && total != size
    {
        return Err(Failure::fatal(anyhow!(
            "the server announces {total} bytes but the list says size={size}"
        )));
    }
    if let (Some(total), Some(max)) = (total, max)
        && total > max
    {
        return Err(Failure::fatal(anyhow!(
            "the server announces {total} bytes, more than --max-size {max}"
        )));
    }
    attempt.task.set_length(total.or(size).unwrap_or(0));
    Ok(())
}

/// Makes sure a `.part` is open for the answer's bytes: a fresh one (its pin kept with it for a
/// later `--continue`) for the whole file, or the held one, its digest brought up to date, for
/// the rest.
fn open_part(
    attempt: &Attempt<'_>,
    spot: &Spot,
    held: &mut Held,
    carries: Carries,
) -> Result<(), Failure> {
    if held.part.is_none() {
        let keep = attempt.kit.policy.continues;
        let mut part = spot.create_part(keep).map_err(Failure::local)?;
        if let (true, Some(pin)) = (keep, &held.pin)
            && let Err(e) = pin.store(&part.file)
        {
            // Bytes without their version could never be resumed: no .part is kept.
            part.keep = false;
            let context = format!("cannot keep the version of {}", part.path.display());
            return Err(Failure::local(anyhow!(e).context(context)));
        }
        held.part = Some(part);
    }
    if carries.from > 0 {
        held.hash_prefix()?;
        held.joined = true;
        attempt.task.resumed(carries.from);
    }
    Ok(())
}

/// Writes the body after the held prefix, up to the end the answer names and not a byte further
/// (whatever its framing: a server that sends more has failed this attempt), checking `size=`
/// and `--max-size` as it goes. Whatever reached the disk stays held for the next attempt.
async fn stream(
    attempt: &Attempt<'_>,
    held: &mut Held,
    response: &mut Response,
    limits: &Limits,
    carries: Carries,
) -> Result<(), Failure> {
    let (Some(part), Bytes::Prefix { len, digest, .. }) = (&mut held.part, &mut held.bytes) else {
        unreachable!("a one-stream download holds a prefix in an open .part");
    };
    let (size, max) = (attempt.entry.options.size, attempt.kit.policy.max_size);
    let counter = attempt.task.counter();
    let body = Body {
        kit: attempt.kit,
        limits,
        counter: &counter,
    };
    let received = body
        .receive(response, |chunk: &[u8]| {
            let room = carries.end.map_or(u64::MAX, |end| end.saturating_sub(*len));
            let kept = &chunk[..chunk.len().min(room as usize)];
            let n = kept.len() as u64;
            if let Some(size) = size
                && *len + n > size
            {
                part.keep = false;
                return Err(Failure::fatal(anyhow!(
                    "the body is longer than size={size}; stopped"
                )));
            }
            if let Some(max) = max
                && *len + n > max
            {
                part.keep = false;
                return Err(Failure::fatal(anyhow!(
                    "the body passed --max-size {max}; stopped"
                )));
            }
            digest.update(kept);
            part.file.write_all_at(kept, *len).map_err(|e| {
                Failure::local(anyhow!(e).context(format!("cannot write {}", part.path.display())))
            })?;
            *len += n;
            if kept.len() < chunk.len() {
                return Err(Failure::transient(anyhow!(
                    "the server sent more than the {} bytes it announced",
                    carries.end.unwrap_or(0) - carries.from
                )));
            }
            Ok((n, Flow::More))
        })
        .await;
    let fatal = received.as_ref().is_err_and(|f| !f.retryable);
    if fatal && !part.keep {
        held.start_over();
    }
    received?;
    let len = held.prefix_len();
    if let Some(end) = carries.end
        && len != end
    {
        return Err(Failure::transient(anyhow!(
            "truncated: received {} of {} bytes",
            len - carries.from,
            end - carries.from
        )));
    }
    if let Some(total) = carries.total
        && len < total
    {
        // A 206 that ends before the file does: its bytes are good, and the next attempt
        // (or `--continue` run) asks for the rest. Never placed short.
        return Err(Failure::transient(anyhow!(
            "the server sent bytes up to {len} of {total}; the rest is still to come"
        )));
    }
    Ok(())
}

/// The held prefix is the whole file: verify, stamp and place it. A digest that does not match
/// bytes of more than one answer may be a mix of versions: they are dropped, and a retry starts
/// over.
fn finish_held(
    attempt: &Attempt<'_>,
    spot: &Spot,
    held: &mut Held,
    status: StatusCode,
) -> Result<Ending, Failure> {
    held.hash_prefix().map_err(|f| f.status(status))?;
    let len = held.prefix_len();
    let digest = held.finish_digest();
    let mut part = held.part.take().expect("a finished download has its .part");
    if held.joined
        && let Err(e) = verify::check(attempt.entry, len, &digest)
    {
        part.keep = false;
        held.start_over();
        return Err(Failure::transient(
            e.context("the file was joined from more than one answer; starting over"),
        )
        .status(status));
    }
    let (stamp, length_known) = match held.pin.take() {
        Some(pin) => (pin.stamp, pin.len.is_some()),
        None => (Default::default(), false),
    };
    let whole = Whole {
        len,
        digest,
        stamp: &stamp,
        status,
        // A 416 says how long the file is, as a Content-Length does.
        length_unverified: status != StatusCode::RANGE_NOT_SATISFIABLE && !length_known,
    };
    finish::place(attempt.entry, attempt.kit.policy, part, whole, spot.replace).map(Ending::Saved)
}

/// What the attempt makes of a split download's end.
fn ended_split(ended: split::Ending, spot: &mut Spot) -> Result<Ending, Failure> {
    match ended {
        split::Ending::Saved(saved) => Ok(Ending::Saved(saved)),
        split::Ending::OneStream(why) => {
            spot.one_stream = true;
            Err(Failure::transient(anyhow!(
                "{why}; fetching it as one stream"
            )))
        }
    }
}
