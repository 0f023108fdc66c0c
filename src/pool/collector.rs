//! The collector: outcomes from every worker, handed to the report in list order as soon as every
//! earlier entry is reported; and the run's stop flag (`--fail-fast`, a closed stdout, Ctrl-C).

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::download::{HostSlot, Worker};
use crate::entry::{Entry, Item};
use crate::interrupt;
use crate::outcome::{Outcome, Status, Summary};
use crate::progress::Progress;
use crate::report::Reporter;

/// Collects outcomes from every worker and hands them to the report in list order.
pub struct Collector<'a> {
    pub progress: &'a Progress,
    output_dir: &'a Path,
    fail_fast: bool,
    state: Mutex<Ordered<'a>>,
    /// Set when no new download should start (`--fail-fast` after a failure, or stdout closed).
    stop: AtomicBool,
}

struct Ordered<'a> {
    /// Report position (`seq`) of the next entry to report.
    next: usize,
    /// Outcomes that arrived before an earlier entry's.
    pending: BTreeMap<usize, Outcome>,
    reporter: Reporter<'a>,
}

impl<'a> Collector<'a> {
    pub fn new(
        config: &'a Config,
        progress: &'a Progress,
        reporter: Reporter<'a>,
    ) -> Collector<'a> {
        Collector {
            progress,
            output_dir: &config.download.output_dir,
            fail_fast: config.fail_fast,
            state: Mutex::new(Ordered {
                next: 0,
                pending: BTreeMap::new(),
                reporter,
            }),
            stop: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ordered<'a>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a list item in; a bad line is reported at once, an entry is handed back to run.
    pub fn admit(&self, item: Item) -> Option<Entry> {
        self.progress.queued();
        match item {
            Item::Bad(bad) => {
                self.push(Outcome::bad_line(&bad));
                None
            }
            Item::Entry(entry) if self.stopping() => {
                self.push(self.not_started(&entry));
                None
            }
            Item::Entry(entry) => Some(entry),
        }
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || interrupt::requested()
    }

    pub fn not_started(&self, entry: &Entry) -> Outcome {
        Outcome::not_started(entry, self.output_dir)
    }

    /// Downloads `entry` on `worker`, unless the run is stopping. A panic is a bug, but it
    /// fails only its entry, loudly (the panic message is on stderr already), and the worker
    /// goes on: no entry is lost and the run does not hang.
    pub fn run_one(&self, worker: &Worker, entry: &Entry, slot: Option<&dyn HostSlot>) -> Outcome {
        if self.stopping() {
            return self.not_started(entry);
        }
        let started = worker.lane().map(|_| Instant::now());
        let fetched = panic::catch_unwind(AssertUnwindSafe(|| worker.fetch(entry, slot)));
        let outcome = fetched.unwrap_or_else(|_| self.panicked(worker, entry));
        if let (Some(lane), Some(started)) = (worker.lane(), started) {
            lane.bar(started, &outcome);
        }
        outcome
    }

    /// How an entry whose download panicked on `worker` ends: failed, loudly (the panic's
    /// message is on stderr already).
    pub fn panicked(&self, worker: &Worker, entry: &Entry) -> Outcome {
        let error = format!(
            "internal error: {} panicked (a bug in fetchpool; please report it)",
            worker.name()
        );
        Outcome::failed(entry, self.output_dir, 0, Duration::ZERO, None, error)
    }

    pub fn push(&self, outcome: Outcome) {
        self.progress.entry_done();
        if self.fail_fast && outcome.status() == Status::Failed {
            self.stop.store(true, Ordering::Relaxed);
        }
        let mut state = self.lock();
        state.pending.insert(outcome.seq, outcome);
        loop {
            let next = state.next;
            let Some(outcome) = state.pending.remove(&next) else {
                break;
            };
            state.next += 1;
            if !state.reporter.report(&outcome) {
                self.stop.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Ends the report and returns the run's summary.
    pub fn finish(self, started: Instant) -> Summary {
        let mut state = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        // Nothing should be left waiting for an earlier entry; if something is, report it
        // rather than lose it.
        for outcome in std::mem::take(&mut state.pending).into_values() {
            state.reporter.report(&outcome);
        }
        state
            .reporter
            .finish(started.elapsed(), interrupt::requested())
    }
}
