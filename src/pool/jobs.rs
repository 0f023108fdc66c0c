//! What a worker does next: the next entry of the list, or, when there is none for it (it is
//! idle), a piece of another worker's split download; and the worker's means to do either.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use super::collector::Collector;
use super::flight::{Flight, Settled};
use super::queue::{Arrivals, Refill};
use crate::download::{Board, HostSlot, Split, Stream, Worker};
use crate::entry::Entry;

/// What an idle worker does next.
// Moved once per entry, as the channel moves an Entry anyway; boxing would allocate per file.
#[allow(clippy::large_enum_variant)]
pub enum Job {
    Entry(Entry),
    /// Take pieces of another worker's split download.
    Help(Arc<Split>),
}

/// What waiting for a job came to.
// Moved once per entry, as Job is (see there).
#[allow(clippy::large_enum_variant)]
pub enum Next {
    Job(Job),
    /// The list is done (pieces of split downloads may still be shown).
    ListDone,
    /// Nothing came before the deadline.
    Deadline,
}

/// Where workers find work: the list first, and when it has nothing for them, the pieces that
/// running split downloads show on the board.
#[derive(Clone)]
pub struct Jobs<'a> {
    pub entries: Receiver<Entry>,
    /// Wakes the dispatcher when the workers have taken the channel down to half.
    pub refill: &'a Refill,
    /// `--split` in a pool: where split downloads show their pieces.
    pub board: Option<&'a Board<Split>>,
    /// Entries not yet finished: while there are any, a piece may still be shown. Kept only
    /// with a board.
    pub running: Option<&'a Running<'a>>,
    /// Rung as entries arrive, for workers with room for more (`--streams`).
    pub arrivals: &'a Arrivals,
}

/// What a look at the channel found, without waiting.
// Moved once per entry, as Job is (see there).
#[allow(clippy::large_enum_variant)]
pub enum Taken {
    Entry(Entry),
    Empty,
    ListDone,
}

/// The entries sent to the workers and not finished yet, and one more for the list while it is
/// being read: while any is left, a split download may still show a piece. The one that brings
/// it to none wakes the idle workers, which would otherwise look again only after
/// [`IDLE_LOOK`] (50 ms at the end of every run with `--split`).
pub struct Running<'a> {
    count: AtomicUsize,
    board: &'a Board<Split>,
}

impl<'a> Running<'a> {
    /// The list, not read yet, counts as one.
    pub fn new(board: &'a Board<Split>) -> Running<'a> {
        Running {
            count: AtomicUsize::new(1),
            board,
        }
    }

    /// An entry was sent to the workers.
    pub fn started(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// An entry finished (or was never sent), or the list has been read.
    pub fn ended(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.board.ring_all();
        }
    }

    fn none(&self) -> bool {
        self.count.load(Ordering::SeqCst) == 0
    }
}

impl Jobs<'_> {
    /// Waits for the next job: an entry if one is waiting, else a piece of a split download;
    /// `None` once the list is done (pieces may still be shown: see [`Jobs::after_list`]).
    pub fn next(&self) -> Option<Job> {
        match self.next_by(None) {
            Next::Job(job) => Some(job),
            Next::ListDone | Next::Deadline => None,
        }
    }

    /// [`Jobs::next`], waiting no later than `deadline` (when an entry set aside may start).
    pub fn next_by(&self, deadline: Option<Instant>) -> Next {
        let timeout = || deadline.map(|at| at.saturating_duration_since(Instant::now()));
        let Some(board) = self.board else {
            let got = match timeout() {
                None => self
                    .entries
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
                Some(left) => self.entries.recv_timeout(left),
            };
            return match got {
                Ok(entry) => self.took(entry),
                Err(RecvTimeoutError::Disconnected) => Next::ListDone,
                Err(RecvTimeoutError::Timeout) => Next::Deadline,
            };
        };
        loop {
            match self.entries.try_recv() {
                Ok(entry) => return self.took(entry),
                Err(TryRecvError::Disconnected) => return Next::ListDone,
                Err(TryRecvError::Empty) => {}
            }
            // Idle: the list has nothing for this worker right now.
            if let Some(split) = board.pick() {
                return Next::Job(Job::Help(split));
            }
            let left = timeout();
            if left.is_some_and(|left| left.is_zero()) {
                return Next::Deadline;
            }
            let alarm = left.map_or_else(crossbeam_channel::never, crossbeam_channel::after);
            crossbeam_channel::select! {
                recv(self.entries) -> entry => return match entry {
                    Ok(entry) => self.took(entry),
                    Err(_) => Next::ListDone,
                },
                recv(board.bell()) -> _ => {}
                recv(alarm) -> _ => return Next::Deadline,
            }
        }
    }

    /// The next entry if one is waiting, without waiting for one.
    pub fn try_entry(&self) -> Taken {
        match self.entries.try_recv() {
            Ok(entry) => {
                self.refill.taken(&self.entries);
                Taken::Entry(entry)
            }
            Err(TryRecvError::Empty) => Taken::Empty,
            Err(TryRecvError::Disconnected) => Taken::ListDone,
        }
    }

    fn took(&self, entry: Entry) -> Next {
        self.refill.taken(&self.entries);
        Next::Job(Job::Entry(entry))
    }

    /// Once the list is done: waits for a piece shown by the downloads still running; `None`
    /// when none is left that could show one.
    pub fn after_list(&self) -> Option<Arc<Split>> {
        let board = self.board?;
        loop {
            if let Some(split) = board.pick() {
                return Some(split);
            }
            if self.running.is_none_or(Running::none) {
                return None;
            }
            let _ = board.bell().recv_timeout(IDLE_LOOK);
        }
    }
}

/// How often a worker with nothing left in the list looks whether the run is over.
const IDLE_LOOK: Duration = Duration::from_millis(50);

/// A worker thread's duty to the run: the worker, the collector its outcomes go to, and the count
/// of entries running that tells idle workers when no piece can come any more.
pub struct Duty<'w, 'run> {
    pub worker: &'w Worker<'w>,
    pub collector: &'w Collector<'run>,
    pub running: Option<&'w Running<'w>>,
}

impl Duty<'_, '_> {
    /// Runs `entry`, holding `slot` on its host under `--per-host`.
    pub fn run(&self, entry: &Entry, slot: Option<&dyn HostSlot>) {
        let collector = self.collector;
        collector.push(collector.run_one(self.worker, entry, slot));
        if let Some(running) = self.running {
            running.ended();
        }
    }

    /// After Ctrl-C or --fail-fast: entries are only reported from now on.
    pub fn stopping(&self) -> bool {
        self.collector.stopping()
    }

    /// A worker's loop with up to `streams` downloads in flight at once where their
    /// connection carries several (`flight.rs`): it takes the list's entries while it has room,
    /// drives what it has meanwhile, and, with nothing in flight, waits for the next entry or
    /// helps with a split download as a worker of one download at a time does.
    pub fn run_flight(&self, jobs: &Jobs, streams: usize) {
        let mut flight = Flight::new(self.worker, streams);
        let mut list_done = false;
        loop {
            while !list_done && !flight.is_empty() && flight.has_room() {
                match jobs.try_entry() {
                    Taken::Entry(entry) => self.start(&mut flight, entry),
                    Taken::Empty => break,
                    Taken::ListDone => list_done = true,
                }
            }
            if flight.is_empty() {
                match (list_done, jobs.next()) {
                    (false, Some(Job::Entry(entry))) => self.start(&mut flight, entry),
                    (false, Some(Job::Help(split))) => self.help(&split),
                    _ => break,
                }
                continue;
            }
            let ended = if !list_done && flight.has_room() {
                // Room, and the channel was empty: wait for an entry as well.
                let mut listening = jobs.arrivals.listen();
                if !jobs.entries.is_empty() {
                    continue;
                }
                flight.drive(Some(listening.rung()))
            } else {
                flight.drive(None)
            };
            for ended in ended {
                self.ended(ended);
            }
        }
        while let Some(split) = jobs.after_list() {
            self.help(&split);
        }
    }

    /// Starts `entry` on `flight`, unless the run is stopping (then it is only reported). One
    /// whose connection is its own for sure (plain `http://`), on a worker with nothing else in
    /// flight, runs at once the way a worker of one download at a time runs it: no other can
    /// join it, and a list of small files over HTTP/1.1 is spared the flight's bookkeeping (5%
    /// of a 100,000-file run's CPU).
    fn start<'w>(&'w self, flight: &mut Flight<'w>, entry: Entry) {
        if self.collector.stopping() {
            self.collector.push(self.collector.not_started(&entry));
            self.entry_ended();
        } else if flight.is_empty() && self.worker.stream_of(&entry.url) == Stream::Own {
            self.run(&entry, None);
        } else {
            flight.start(entry, None);
        }
    }

    /// A download of the flight ended: its report line, and its bar in the picture.
    fn ended(&self, ended: Settled) {
        let outcome = ended
            .outcome
            .unwrap_or_else(|| self.collector.panicked(self.worker, &ended.entry));
        if let Some((lane, started)) = &ended.lane {
            lane.bar(*started, &outcome);
        }
        self.collector.push(outcome);
        self.entry_ended();
    }

    fn entry_ended(&self) {
        if let Some(running) = self.running {
            running.ended();
        }
    }

    /// Fetches pieces of `split` unless the run is stopping. A panic here is a bug: it ends
    /// that split (its owner reports the entry failed) rather than leave the owner waiting.
    pub fn help(&self, split: &Split) {
        if self.collector.stopping() {
            return;
        }
        let helped = panic::catch_unwind(AssertUnwindSafe(|| self.worker.help(split)));
        if helped.is_err() {
            split.broken(format!(
                "internal error: {} panicked fetching a range (a bug in fetchpool; please \
                 report it)",
                self.worker.name()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Running;
    use crate::download::{Board, Split};

    /// Idle workers wait for a piece on the board's bell: when the last entry ends after the
    /// list is read (no piece can come any more), every one of them is rung at once rather
    /// than left to look again on its own.
    #[test]
    fn the_last_entry_to_end_wakes_every_idle_worker() {
        let board = Board::<Split>::new(3);
        let running = Running::new(&board);
        running.started();
        running.ended();
        assert!(!running.none(), "the list is still being read");
        assert_eq!(board.bell().len(), 0, "nobody woken while the list is read");
        running.started();
        running.ended(); // the list is read
        assert!(!running.none());
        assert_eq!(board.bell().len(), 0);
        running.ended(); // the last entry
        assert!(running.none());
        assert_eq!(board.bell().len(), 3, "every idle worker rung");
    }
}
