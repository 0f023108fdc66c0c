//! The piece table of a split download: which bytes of `NAME.part` are on disk, which pieces are
//! free, taken or whole, and how the split ends. The worker that has the entry and the idle ones
//! that help share it under one lock; with `--continue` every change is recorded beside the
//! `.part` (`disk/record.rs`), once the bytes it claims are on disk. No writer reaches past the
//! end its answer names, nor into a piece someone else has. No network here: `split/mod.rs`
//! asks for the pieces.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use std::time::{Duration, Instant};
use tokio::sync::Notify;

use anyhow::anyhow;

use crate::download::disk::at::Dir;
use crate::download::disk::record::{self, Record, Span};
use crate::download::pin::Pin;
use crate::download::retry::Failure;
use crate::interrupt;

/// The longest a wait in a split goes without looking again at the pieces, Ctrl-C and retry
/// times.
pub const LOOK_EVERY: Duration = Duration::from_millis(100);

/// Pieces per range fetched at once: more pieces than connections let a fast connection take
/// more of the file than a slow one, and a piece that fails costs less.
const PIECES_PER_RANGE: u64 = 4;
/// The most pieces a file is cut into.
const MAX_PIECES: u64 = 1024;

/// A file of `len` bytes cut for `at_once` ranges at a time: up to four pieces per range,
/// none smaller than `min`; `None` when it does not make two.
pub fn cut(len: u64, at_once: usize, min: u64) -> Option<Vec<Span>> {
    let most = (at_once as u64).saturating_mul(PIECES_PER_RANGE);
    let count = (len / min).min(most).min(MAX_PIECES);
    (count >= 2).then(|| spans(len, count))
}

/// `len` bytes cut into `count` pieces of nearly equal size.
fn spans(len: u64, count: u64) -> Vec<Span> {
    let size = len.div_ceil(count);
    (0..count)
        .map(|i| Span {
            // A length near u64's end (a server may announce one) must not wrap.
            start: i.saturating_mul(size).min(len),
            end: (i + 1).saturating_mul(size).min(len),
            done: 0,
        })
        .filter(|s| s.start < s.end)
        .collect()
}

/// The pieces of one file, shared by its owner and the workers that help.
pub struct Pieces {
    /// The `.part`, for writes at offsets (its own descriptor, so it stays open for a helper
    /// whatever the owner does).
    file: File,
    shown: PathBuf,
    pub len: u64,
    /// Each piece's bytes: `start..end`.
    bounds: Vec<(u64, u64)>,
    /// The version every piece is of: what a range answer must be, and what `If-Range` sends.
    pub pin: Pin,
    retries: u32,
    /// `--split`: at most this many pieces are fetched at once.
    pub at_once: usize,
    /// Where the record goes (the `.part`'s directory and name), with `--continue`.
    record_at: Option<(Dir, OsString)>,
    /// Held while the record is written: one writer at a time, each with the newest state.
    recording: Mutex<()>,
    state: Mutex<State>,
    /// Rung whenever a piece is given back or the split ends: what its owner waits on.
    changed: Notify,
}

struct State {
    pieces: Vec<Piece>,
    /// Why the split ended before its pieces were whole: `Changed` or `Failed`.
    end: Option<Ending>,
    /// Why no more range requests are made (a range was answered with the whole file, or with
    /// bytes that do not prove their version): the rest comes as one stream.
    no_ranges: Option<String>,
    /// A helper died (a bug): the pieces it had will never be given back.
    broken: bool,
    /// The owner is done with the split: a helper that comes late takes nothing.
    closed: bool,
}

#[derive(Clone, Copy)]
struct Piece {
    /// Bytes of the piece on disk, from its start.
    done: u64,
    claim: Claim,
    failures: u32,
    /// A failed piece waits until then before it is asked for again.
    not_before: Option<Instant>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Claim {
    Free,
    Taken,
    Whole,
}

/// How a split ended for its owner, or one stream into one of its pieces before the piece was
/// whole: the one word for both (a piece's stream that ends whole is `Ok(())`; a split is never
/// `Abandoned`, which is a piece's word for a split that ended elsewhere).
pub enum Ending {
    /// Every piece is whole.
    Whole,
    /// This server's ranges cannot be used (it answered one with the whole file, or with bytes
    /// that do not prove their version): why. The rest comes as one stream.
    OneStream(String),
    Changed(String),
    Failed(Failure),
    /// The split ended elsewhere; nothing wrong with this piece.
    Abandoned,
}

/// What the owner of a split does next.
pub enum ForOwner {
    /// Fetch this piece.
    Fetch(usize),
    /// Wait while others fetch theirs, or a piece waits to be asked for again.
    Wait,
    /// Nothing is left for it to do.
    Done,
}

/// Which free piece a worker takes: the owner the first (where its stream would go), a helper
/// the last (as far as possible from the owner's stream, which runs on while it can).
#[derive(Clone, Copy)]
pub enum Pick {
    First,
    Last,
}

/// A failed piece (its bytes `first..=last`) that will be asked for again after `wait`.
pub struct Retry {
    pub failure: Failure,
    pub failures: u32,
    pub retries: u32,
    pub wait: Duration,
    pub first: u64,
    pub last: u64,
}

impl Pieces {
    /// The table of `record`'s pieces in `file` (the `.part` shown as `shown`, recorded at
    /// `record_at` if anywhere), under `--retries` and `--split`.
    pub fn new(
        file: File,
        shown: PathBuf,
        record: &Record,
        (retries, at_once): (u32, usize),
        record_at: Option<(Dir, OsString)>,
    ) -> Pieces {
        let pieces = record
            .spans
            .iter()
            .map(|s| Piece {
                done: s.done,
                claim: if s.done == s.end - s.start {
                    Claim::Whole
                } else {
                    Claim::Free
                },
                failures: 0,
                not_before: None,
            })
            .collect();
        Pieces {
            file,
            shown,
            len: record.len,
            bounds: record.spans.iter().map(|s| (s.start, s.end)).collect(),
            pin: record.pin.clone(),
            retries,
            at_once,
            record_at,
            recording: Mutex::new(()),
            state: Mutex::new(State {
                pieces,
                end: None,
                no_ranges: None,
                broken: false,
                closed: false,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many pieces, and the size of the first.
    pub fn shape(&self) -> (usize, u64) {
        (self.bounds.len(), self.bounds[0].1 - self.bounds[0].0)
    }

    /// Records what is on disk now beside the `.part`, if anything is recorded (`--continue`).
    /// The `.part`'s data is synced first: a record never claims a byte a crash could lose.
    pub fn record(&self) -> io::Result<()> {
        let Some((dir, name)) = &self.record_at else {
            return Ok(());
        };
        let _one_writer = self.recording.lock().unwrap_or_else(|e| e.into_inner());
        if self.lock().closed {
            // The owner is done: the record went (or stays) with its `.part`.
            return Ok(());
        }
        // Every byte counted in the table was written before it was counted.
        let record = self.snapshot();
        self.file.sync_data()?;
        record::write(dir, name, &record)
    }

    /// The table as it stands: what a retry of the split resumes from.
    pub fn snapshot(&self) -> Record {
        let state = self.lock();
        let spans = self
            .bounds
            .iter()
            .zip(&state.pieces)
            .map(|(&(start, end), p)| Span {
                start,
                end,
                done: p.done,
            })
            .collect();
        Record {
            len: self.len,
            pin: self.pin.clone(),
            spans,
        }
    }

    /// Whether the split has ended (badly, or its owner closed it): every stream stops at its
    /// next piece of body.
    pub fn stopping(&self) -> bool {
        let state = self.lock();
        state.end.is_some() || state.closed
    }

    /// Pieces nobody has taken yet.
    pub fn free(&self) -> usize {
        let state = self.lock();
        state
            .pieces
            .iter()
            .filter(|p| p.claim == Claim::Free)
            .count()
    }

    /// The missing bytes of piece `i`: from its first missing byte to its last byte.
    pub fn missing(&self, i: usize) -> (u64, u64) {
        let (start, end) = self.bounds[i];
        (start + self.lock().pieces[i].done, end - 1)
    }

    /// Takes the piece whose next missing byte is `from`, where the owner's response begins.
    pub fn claim_at(&self, from: u64) -> usize {
        let mut state = self.lock();
        let i = self
            .bounds
            .iter()
            .zip(&state.pieces)
            .position(|(&(start, _), p)| start + p.done == from && p.claim == Claim::Free)
            .expect("the response starts at a piece's first missing byte");
        state.pieces[i].claim = Claim::Taken;
        i
    }

    /// Takes a free piece that may be asked for now, unless the split is over, ranges are not
    /// answered, or as many pieces as may be are being fetched.
    pub fn claim(&self, pick: Pick) -> Option<usize> {
        let mut state = self.lock();
        let i = self.ready(&state, pick)?;
        state.pieces[i].claim = Claim::Taken;
        Some(i)
    }

    /// Whether a helper could take a piece now.
    pub fn takeable(&self) -> bool {
        self.ready(&self.lock(), Pick::Last).is_some()
    }

    fn ready(&self, state: &State, pick: Pick) -> Option<usize> {
        if state.closed || state.end.is_some() || state.no_ranges.is_some() {
            return None;
        }
        let taken = state.pieces.iter().filter(|p| p.claim == Claim::Taken);
        if taken.count() >= self.at_once {
            return None;
        }
        let now = Instant::now();
        let free = |i: &usize| {
            let p = &state.pieces[*i];
            p.claim == Claim::Free && p.not_before.is_none_or(|t| t <= now)
        };
        let mut all = 0..state.pieces.len();
        match pick {
            Pick::First => all.find(free),
            Pick::Last => all.rev().find(free),
        }
    }

    /// Gives piece `i` back: whole, or to be asked for again after a wait (returned), or with
    /// the split's end.
    pub fn release(&self, i: usize, result: Result<(), Ending>) -> Option<Retry> {
        let mut state = self.lock();
        let (start, end) = self.bounds[i];
        let piece = &mut state.pieces[i];
        let whole = piece.done == end - start;
        piece.claim = if whole { Claim::Whole } else { Claim::Free };
        let mut retry = None;
        match result {
            Ok(()) | Err(Ending::Whole | Ending::Abandoned) => {}
            // Every byte of it is there: what went wrong after them changes nothing.
            Err(Ending::Failed(_)) if whole => {}
            Err(Ending::OneStream(why)) => {
                state.no_ranges.get_or_insert(why);
            }
            Err(Ending::Changed(why)) => {
                state.end.get_or_insert(Ending::Changed(why));
            }
            Err(Ending::Failed(failure))
                if failure.retryable && !failure.interrupted && piece.failures < self.retries =>
            {
                piece.failures += 1;
                let wait = failure.wait(piece.failures);
                piece.not_before = Some(Instant::now() + wait);
                retry = Some(Retry {
                    failure,
                    failures: piece.failures,
                    retries: self.retries,
                    wait,
                    first: start,
                    last: end - 1,
                });
            }
            Err(Ending::Failed(failure)) => {
                let failure = failure.context(format!("bytes {start}-{} of the file", end - 1));
                state.end.get_or_insert(Ending::Failed(failure));
            }
        }
        drop(state);
        self.changed.notify_waiters();
        let _ = self.record();
        retry
    }

    /// Ends the split after a helper panicked: its owner stops waiting and fails the entry.
    pub fn broken(&self, why: String) {
        let mut state = self.lock();
        state.broken = true;
        state
            .end
            .get_or_insert(Ending::Failed(Failure::local(anyhow!(why))));
        drop(state);
        self.changed.notify_waiters();
    }

    /// The owner, once its own stream is over: the next free piece for it to fetch, or whether
    /// to wait while others fetch theirs (Ctrl-C ends the split), or that nothing is left for it
    /// to do. It waits ([`Pieces::changed`]) on its worker's runtime, never blocking the thread:
    /// other downloads of the worker go on meanwhile.
    pub fn next_for_owner(&self) -> ForOwner {
        let mut state = self.lock();
        if interrupt::requested() && state.end.is_none() {
            state.end = Some(Ending::Failed(Failure::interrupted()));
        }
        let taken = state.pieces.iter().any(|p| p.claim == Claim::Taken);
        let whole = state.pieces.iter().all(|p| p.claim == Claim::Whole);
        let over = state.end.is_some() || state.no_ranges.is_some();
        if whole || (over && !taken) || state.broken {
            return ForOwner::Done;
        }
        match self.ready(&state, Pick::First) {
            Some(i) => {
                state.pieces[i].claim = Claim::Taken;
                ForOwner::Fetch(i)
            }
            None => ForOwner::Wait,
        }
    }

    /// Rung whenever a piece is given back or the split ends. A piece waiting out a retry's
    /// delay rings nothing when it may go: look again at least every [`LOOK_EVERY`].
    pub fn changed(&self) -> &Notify {
        &self.changed
    }

    /// Closes the split (a late helper takes nothing, and records nothing) and says how it
    /// ended. Waits for a record being written: once this returns, none is.
    pub fn close(&self) -> Ending {
        let _no_writer = self.recording.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.lock();
        state.closed = true;
        let missing = state.pieces.iter().any(|p| p.claim != Claim::Whole);
        match (state.end.take(), state.no_ranges.take()) {
            // Only ever `Changed` or `Failed` (see `State::end`).
            (Some(end), _) => end,
            (None, Some(why)) if missing => Ending::OneStream(why),
            (None, _) => Ending::Whole,
        }
    }
}

mod write;

#[cfg(test)]
mod tests;
