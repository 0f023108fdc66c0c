//! A split as every worker that fetches its pieces sees it: an idle worker's help, one piece
//! asked for with a Range tied to the version and its answer checked, a stream written into the
//! pieces, a piece given back (to be asked for again, or ending the split), and the owner's wait
//! for the others.

use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use reqwest::{Response, Url};

use super::board::Wanted;
use super::pieces::{self, ForOwner, LOOK_EVERY, Pick, Pieces};
use crate::download::answer::{self, Asked, Holding, Meaning, Refusal};
use crate::download::body::Body;
use crate::download::kit::Kit;
use crate::download::limits::Limits;
use crate::download::request::{self, Ask, Listed};
use crate::interrupt;
use crate::progress::Counter;
use crate::redact::redact_url;
use crate::units::human_bytes;

/// An idle worker's part: fetch the last free pieces of `split` until none is left.
pub async fn help(split: &Split, kit: &Kit<'_>) {
    while let Some(i) = split.pieces.claim(Pick::Last) {
        let _working = kit.progress.working();
        let started = kit.lane.map(|_| (Instant::now(), split.pieces.missing(i)));
        let stopped = split.fetch(i, kit).await;
        if let (Some(lane), Some((started, (from, to)))) = (kit.lane, started) {
            let size = human_bytes(to + 1 - from);
            let what = format!("bytes {from}-{to} ({size}) of {}", split.shown.display());
            lane.piece(started, what, stopped);
        }
    }
}

/// A split download as its owner and helpers see it: the URL, its byte counters, and the
/// piece table (which knows the version the pieces are of).
pub struct Split {
    /// The URL the split runs on (a mirror's, when the entry moved to one).
    pub(super) url: Url,
    /// Whether the `-H` headers go to `url`'s origin (see [`Listed`]).
    pub(super) headers: bool,
    /// The entry's own headers (`header=`).
    pub(super) own_headers: Vec<(String, String)>,
    pub(super) counter: Counter,
    pub(super) pieces: Pieces,
    /// The file it becomes, as the report shows it.
    pub(super) shown: PathBuf,
}

impl Wanted for Split {
    fn wants_help(&self) -> bool {
        self.pieces.takeable()
    }
}

impl Split {
    /// The URL whose host the ranges are asked of (`--per-host` counts them).
    pub fn url(&self) -> &Url {
        &self.url
    }

    fn listed(&self) -> Listed<'_> {
        Listed {
            url: &self.url,
            headers: self.headers,
            own_headers: &self.own_headers,
        }
    }

    /// Ends the split after a helper panicked: its owner stops waiting and fails the entry.
    pub fn broken(&self, why: String) {
        self.pieces.broken(why);
    }

    /// Asks for what is missing of piece `i` (taken by the caller) and writes it; says why it
    /// stopped short, if it did.
    async fn fetch(&self, i: usize, kit: &Kit<'_>) -> Option<String> {
        let (from, to) = self.pieces.missing(i);
        kit.log(|| format!("GET {} (bytes {from}-{to})", redact_url(self.url.as_str())));
        let limits = Limits::start(kit.policy);
        let if_range = self.pieces.pin.if_range();
        let ask = Ask {
            range: Some((from, Some(to))),
            if_range: if_range.as_deref(),
            conditions: None,
        };
        let sent = self
            .unless_stopped(request::send(self.listed(), kit, &limits, ask))
            .await;
        let (cur, result) = match sent {
            None => (i, Err(pieces::Ending::Abandoned)),
            Some(Err(failure)) => (i, Err(pieces::Ending::Failed(failure))),
            Some(Ok(mut response)) => match self.check(&response, from) {
                Err(stop) => (i, Err(stop)),
                Ok(end) => {
                    self.stream(i, &mut response, (from, end), kit, &limits)
                        .await
                }
            },
        };
        let stopped = match &result {
            Ok(()) | Err(pieces::Ending::Whole) => None,
            Err(pieces::Ending::Failed(failure)) => Some(format!("{:#}", failure.error)),
            Err(pieces::Ending::Changed(why) | pieces::Ending::OneStream(why)) => {
                // What ends the split or its ranges is said here; a failure, where it is retried.
                let url = redact_url(self.url.as_str());
                kit.log(|| format!("{url} (bytes {from}-{to}): {why}"));
                Some(why.clone())
            }
            Err(pieces::Ending::Abandoned) => Some("the split ended meanwhile".into()),
        };
        self.give_back(cur, result, kit);
        stopped
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

    /// Whether the answer to a range request from `from` carries that range of this version
    /// (`answer.rs`); where its bytes end (exclusive) if it does. An answer of another version
    /// ends the split (the download starts over); one that cannot be used as a range of this
    /// version (the whole file, bytes that do not prove their version, other bytes) ends its
    /// ranges (the download goes on as one stream). A digest cannot decide here: a split that
    /// does not match it fails rather than starts over.
    fn check(&self, response: &Response, from: u64) -> Result<u64, pieces::Ending> {
        let asked = Asked {
            from: Some(from),
            revalidating: false,
        };
        let holding = Holding {
            pin: Some(&self.pieces.pin),
            digest: false,
        };
        let meaning = answer::read(response, asked, holding).map_err(pieces::Ending::Failed)?;
        let while_fetched = |why: &str| format!("{why} while its ranges were fetched");
        match meaning {
            Meaning::Rest { end, .. } => Ok(end),
            Meaning::Refused(Refusal::Changed(why)) => {
                Err(pieces::Ending::Changed(while_fetched(&why)))
            }
            Meaning::Refused(refusal) => Err(pieces::Ending::OneStream(refusal.why().to_string())),
            Meaning::Whole {
                changed: Some(why), ..
            } => Err(pieces::Ending::Changed(while_fetched(&format!(
                "the file changed on the server: {why}"
            )))),
            Meaning::Whole { changed: None, .. } => Err(pieces::Ending::OneStream(
                "the server answered a range request with the whole file".into(),
            )),
            Meaning::Complete | Meaning::Unchanged => Err(pieces::Ending::Changed(
                "the server refused a range inside the file (416): it changed meanwhile".into(),
            )),
        }
    }

    /// Writes `response`'s body (the bytes `from..end`) into piece `first`, and on into the
    /// pieces after it while they are free and empty, never past `end`. Returns the piece it was
    /// in when it stopped.
    pub(super) async fn stream(
        &self,
        first: usize,
        response: &mut Response,
        (from, end): (u64, u64),
        kit: &Kit<'_>,
        limits: &Limits,
    ) -> (usize, Result<(), pieces::Ending>) {
        let (mut cur, mut pos) = (first, from);
        let body = Body {
            kit,
            limits,
            counter: &self.counter,
        };
        let received = body
            .receive(response, |chunk: &[u8]| {
                self.pieces.write(&mut cur, &mut pos, chunk, end)
            })
            .await;
        let result = match received {
            Err(failure) => Err(pieces::Ending::Failed(failure)),
            Ok(()) => self.pieces.stopped_at(cur, pos),
        };
        (cur, result)
    }

    /// Gives piece `i` back to the table; a piece to be asked for again pauses its host when the
    /// server asked for that (429, 503), and says so under `-v`.
    pub(super) fn give_back(&self, i: usize, result: Result<(), pieces::Ending>, kit: &Kit<'_>) {
        let Some(retry) = self.pieces.release(i, result) else {
            return;
        };
        if let Some(host) = &retry.failure.busy_host {
            kit.throttle.pause_host(host, retry.wait);
        }
        kit.log(|| {
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
    pub(super) async fn finish(&self, kit: &Kit<'_>) -> pieces::Ending {
        loop {
            // Registered before the look: a piece given back after it rings this.
            let mut changed = pin!(self.pieces.changed().notified());
            changed.as_mut().enable();
            match self.pieces.next_for_owner() {
                ForOwner::Fetch(i) => {
                    let _ = self.fetch(i, kit).await;
                }
                ForOwner::Wait => {
                    let mut stop = pin!(interrupt::cancelled());
                    let woken = std::future::poll_fn(|cx| {
                        match changed.as_mut().poll(cx).is_ready()
                            || stop.as_mut().poll(cx).is_ready()
                        {
                            true => Poll::Ready(()),
                            false => Poll::Pending,
                        }
                    });
                    let _ = tokio::time::timeout(LOOK_EVERY, woken).await;
                }
                ForOwner::Done => break,
            }
        }
        self.pieces.close()
    }
}
