//! What an idle worker does next: a piece of another worker's split download if one is
//! offered, else the next entry of the list; and the worker's means to do either.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::collector::Collector;
use crate::download::{Engine, Split};
use crate::list::Entry;

/// What an idle worker does next.
// Moved once per entry, as the channel moves an Entry anyway; boxing would allocate per file.
#[allow(clippy::large_enum_variant)]
pub enum Job {
    Entry(Entry),
    /// Take pieces of another worker's split download.
    Help(Arc<Split>),
}

/// Where idle workers find work: pieces of running split downloads first, then the list.
#[derive(Clone)]
pub struct Jobs<'a> {
    pub entries: Receiver<Entry>,
    /// `--split` in a pool: pieces offered by the downloads running.
    pub offers: Option<Receiver<Arc<Split>>>,
    /// Entries sent to the workers and not yet finished: while there are any, a piece may still
    /// be offered. Kept only when pieces are.
    pub running: Option<&'a AtomicUsize>,
}

impl Jobs<'_> {
    /// Waits for the next job; `None` once the list is done (pieces may still be offered: see
    /// [`Jobs::after_list`]).
    pub fn next(&self) -> Option<Job> {
        let Some(offers) = &self.offers else {
            return self.entries.recv().ok().map(Job::Entry);
        };
        if let Ok(split) = offers.try_recv() {
            return Some(Job::Help(split));
        }
        crossbeam_channel::select! {
            recv(offers) -> split => split.ok().map(Job::Help),
            recv(self.entries) -> entry => entry.ok().map(Job::Entry),
        }
    }

    /// Once the list is done: waits for a piece offered by the downloads still running; `None`
    /// when none is left that could offer one.
    pub fn after_list(&self) -> Option<Arc<Split>> {
        let offers = self.offers.as_ref()?;
        loop {
            match offers.recv_timeout(IDLE_LOOK) {
                Ok(split) => return Some(split),
                Err(_) if self.running.is_none_or(|r| r.load(Ordering::SeqCst) == 0) => {
                    return None;
                }
                Err(_) => {}
            }
        }
    }
}

/// How often a worker with nothing left in the list looks whether the run is over.
const IDLE_LOOK: Duration = Duration::from_millis(50);

/// One worker's means to carry out a job.
pub struct Work<'w, 'run> {
    pub engine: &'w Engine<'w>,
    pub collector: &'w Collector<'run>,
    pub running: Option<&'w AtomicUsize>,
}

impl Work<'_, '_> {
    pub fn run(&self, entry: &Entry) {
        let collector = self.collector;
        collector.push(collector.run_one(self.engine, entry));
        if let Some(running) = self.running {
            running.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Fetches pieces of `split` unless the run is stopping. A panic here is a bug: it ends
    /// that split (its owner reports the entry failed) rather than leave the owner waiting.
    pub fn help(&self, split: &Split) {
        if self.collector.stopping() {
            return;
        }
        let helped = panic::catch_unwind(AssertUnwindSafe(|| self.engine.help(split)));
        if helped.is_err() {
            split.broken(format!(
                "internal error: {} panicked fetching a range (a bug in fetchpool; please \
                 report it)",
                self.engine.name()
            ));
        }
    }
}
