//! Scheduling: a bounded crossbeam channel feeding N named worker threads (or, with `--serial`,
//! the calling thread alone), each with its own download engine, and the collector that hands
//! outcomes to the report in list order as soon as every earlier entry is reported.
//!
//! Ctrl-C needs nothing here but to stop handing out work: running downloads end at once by
//! themselves, and every entry not started, queued or still in the list, is reported so.

use std::collections::{BTreeMap, HashMap};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam_channel::{Receiver, Sender};

use crate::config::{Config, Mode};
use crate::download::{Engine, Shared, Split};
use crate::interrupt;
use crate::list::{Entries, Entry, Item};
use crate::outcome::{Outcome, Status, Summary};
use crate::progress::Progress;
use crate::report::Reporter;
use crate::throttle::host_key;

/// Entries waiting in the channel per worker: enough that a worker never waits for the reader,
/// small enough that a huge list is not held in memory.
const QUEUE_PER_WORKER: usize = 2;

/// Runs every entry of the list, handing each outcome to `reporter` in list order; returns the
/// run's summary once the report is finished.
pub fn run(
    entries: Entries,
    config: &Config,
    progress: &Progress,
    reporter: Reporter,
) -> anyhow::Result<Summary> {
    let mut shared = Shared::new(&config.download, progress, config.limit_rate)?;
    let collector = Collector::new(config, progress, reporter);
    if let Some(total) = entries.total() {
        progress.set_total(total);
    }
    let started = Instant::now();
    match config.mode {
        Mode::Serial => {
            let engine = Engine::new(&shared, "serial".into())?;
            // After Ctrl-C the rest of the list is still read and reported, as not-started.
            for item in entries {
                if let Some(entry) = collector.admit(item) {
                    collector.push(collector.run_one(&engine, &entry));
                }
            }
            progress.list_read();
        }
        Mode::Pool(workers) => {
            // Every engine is built before any download starts, so a failure to build one is a
            // fatal error of the run rather than a worker that is silently missing.
            let offers = shared.take_offers();
            let shared = shared;
            let engines = (1..=workers.get())
                .map(|i| Engine::new(&shared, format!("worker-{i}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let slots = config.per_host.map(|n| HostSlots::new(n.get()));
            let (tx, rx) = crossbeam_channel::bounded(workers.get() * QUEUE_PER_WORKER);
            let running = AtomicUsize::new(0);
            let jobs = Jobs {
                entries: rx,
                // Counted only where pieces may be offered: a shared counter every worker bumps
                // for every file costs a many-small-files run for nothing.
                running: offers.is_some().then_some(&running),
                offers,
            };
            thread::scope(|scope| {
                run_pool(
                    scope,
                    entries,
                    engines,
                    (tx, jobs),
                    slots.as_ref(),
                    &collector,
                )
            })?;
        }
    }
    Ok(collector.finish(started))
}

fn run_pool<'scope, 'env, 'run: 'env>(
    scope: &'scope thread::Scope<'scope, 'env>,
    entries: Entries,
    engines: Vec<Engine<'env>>,
    (tx, jobs): (Sender<Entry>, Jobs<'env>),
    slots: Option<&'env HostSlots>,
    collector: &'env Collector<'run>,
) -> anyhow::Result<()> {
    let running = jobs.running;
    for engine in engines {
        let jobs = jobs.clone();
        thread::Builder::new()
            .name(engine.name().to_string())
            .spawn_scoped(scope, move || {
                let work = Work {
                    engine: &engine,
                    collector,
                    running,
                };
                match slots {
                    Some(slots) => slots.work(&jobs, &work),
                    None => {
                        while let Some(job) = jobs.next() {
                            match job {
                                Job::Entry(entry) => work.run(&entry),
                                Job::Help(split) => work.help(&split),
                            }
                        }
                        while let Some(split) = jobs.after_list() {
                            work.help(&split);
                        }
                    }
                }
            })
            .context("cannot start a worker thread")?;
    }
    drop(jobs);
    // This thread is the dispatcher: entries go out as lines arrive, so downloads start before a
    // slow producer on stdin has finished. Once the run stops (Ctrl-C, --fail-fast), `admit`
    // reports the rest of the list as not-started rather than sending it.
    for item in entries {
        if let Some(entry) = collector.admit(item) {
            if let Some(running) = running {
                running.fetch_add(1, Ordering::SeqCst);
            }
            if let Err(unsent) = tx.send(entry) {
                // Only if every worker is gone; report rather than lose the entry.
                if let Some(running) = running {
                    running.fetch_sub(1, Ordering::SeqCst);
                }
                collector.push(collector.not_started(&unsent.0));
            }
        }
    }
    collector.progress.list_read();
    Ok(())
}

/// What an idle worker does next.
// Moved once per entry, as the channel moves an Entry anyway; boxing would allocate per file.
#[allow(clippy::large_enum_variant)]
enum Job {
    Entry(Entry),
    /// Take pieces of another worker's split download.
    Help(Arc<Split>),
}

/// Where idle workers find work: pieces of running split downloads first, then the list.
#[derive(Clone)]
struct Jobs<'a> {
    entries: Receiver<Entry>,
    /// `--split` in a pool: pieces offered by the downloads running.
    offers: Option<Receiver<Arc<Split>>>,
    /// Entries sent to the workers and not yet finished: while there are any, a piece may still
    /// be offered. Kept only when pieces are.
    running: Option<&'a AtomicUsize>,
}

impl Jobs<'_> {
    /// Waits for the next job; `None` once the list is done (pieces may still be offered: see
    /// [`Jobs::after_list`]).
    fn next(&self) -> Option<Job> {
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
    fn after_list(&self) -> Option<Arc<Split>> {
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
struct Work<'w, 'run> {
    engine: &'w Engine<'w>,
    collector: &'w Collector<'run>,
    running: Option<&'w AtomicUsize>,
}

impl Work<'_, '_> {
    fn run(&self, entry: &Entry) {
        let collector = self.collector;
        collector.push(collector.run_one(self.engine, entry));
        if let Some(running) = self.running {
            running.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Fetches pieces of `split` unless the run is stopping. A panic here is a bug: it ends
    /// that split (its owner reports the entry failed) rather than leave the owner waiting.
    fn help(&self, split: &Split) {
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

/// Entries a worker may hold back while their host is at its `--per-host` limit, at most: past
/// this, idle workers wait instead of reading further into the list.
const MAX_DEFERRED: usize = 4096;

/// `--per-host`: counts downloads in flight per host. A worker that receives an entry for a
/// busy host sets it aside and takes the next one, so the pool keeps working on other hosts;
/// whoever frees a slot takes the oldest set-aside entry that can now run.
struct HostSlots {
    limit: usize,
    state: Mutex<SlotState>,
    freed: Condvar,
}

#[derive(Default)]
struct SlotState {
    busy: HashMap<String, usize>,
    /// Set-aside entries by report position, so the oldest runs first.
    deferred: BTreeMap<usize, (String, Entry)>,
}

impl HostSlots {
    fn new(limit: usize) -> HostSlots {
        HostSlots {
            limit,
            state: Mutex::default(),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker's loop: run entries from the channel and from the set-aside ones, and pieces
    /// of split downloads, never more than `limit` downloads or ranges per host at once.
    fn work(&self, jobs: &Jobs, work: &Work) {
        let mut channel_open = true;
        loop {
            let next = {
                let mut state = self.lock();
                loop {
                    if let Some(job) = self.take_runnable(&mut state) {
                        break Some(job);
                    }
                    if channel_open && state.deferred.len() < MAX_DEFERRED {
                        break None;
                    }
                    if !channel_open && state.deferred.is_empty() {
                        break None;
                    }
                    // Everything set aside waits for a busy host; its workers will wake us.
                    state = self
                        .freed
                        .wait_timeout(state, Duration::from_millis(200))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            };
            let (host, entry) = match next {
                Some(job) => job,
                None if !channel_open => break,
                None => match jobs.next() {
                    Some(Job::Help(split)) => {
                        self.help(&split, work);
                        continue;
                    }
                    Some(Job::Entry(entry)) => {
                        let host = host_key(&entry.url);
                        let mut state = self.lock();
                        let busy = state.busy.entry(host.clone()).or_insert(0);
                        if *busy >= self.limit {
                            state.deferred.insert(entry.seq, (host, entry));
                            continue;
                        }
                        *busy += 1;
                        (host, entry)
                    }
                    None => {
                        channel_open = false;
                        continue;
                    }
                },
            };
            work.run(&entry);
            self.give_back(&host);
        }
        while let Some(split) = jobs.after_list() {
            self.help(&split, work);
        }
    }

    /// Fetches pieces of `split` if its host has a slot free; a piece for a host at its limit
    /// is left to the worker that has the entry.
    fn help(&self, split: &Split, work: &Work) {
        let host = host_key(split.url());
        if self.try_take(&host) {
            work.help(split);
            self.give_back(&host);
        }
    }

    /// Takes a slot of `host` if it has one free.
    fn try_take(&self, host: &str) -> bool {
        let mut state = self.lock();
        let busy = state.busy.entry(host.to_string()).or_insert(0);
        let free = *busy < self.limit;
        if free {
            *busy += 1;
        }
        free
    }

    fn give_back(&self, host: &str) {
        let mut state = self.lock();
        if let Some(busy) = state.busy.get_mut(host) {
            *busy -= 1;
        }
        drop(state);
        self.freed.notify_all();
    }

    /// The oldest set-aside entry whose host has a free slot, with the slot taken.
    fn take_runnable(&self, state: &mut SlotState) -> Option<(String, Entry)> {
        let seq = state
            .deferred
            .iter()
            .find(|(_, (host, _))| state.busy.get(host).copied().unwrap_or(0) < self.limit)
            .map(|(seq, _)| *seq)?;
        let (host, entry) = state.deferred.remove(&seq)?;
        *state.busy.entry(host.clone()).or_insert(0) += 1;
        Some((host, entry))
    }
}

/// Collects outcomes from every worker and hands them to the report in list order.
struct Collector<'a> {
    progress: &'a Progress,
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
    fn new(config: &'a Config, progress: &'a Progress, reporter: Reporter<'a>) -> Collector<'a> {
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
    fn admit(&self, item: Item) -> Option<Entry> {
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

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || interrupt::requested()
    }

    fn not_started(&self, entry: &Entry) -> Outcome {
        Outcome::not_started(entry, self.output_dir)
    }

    /// Downloads `entry` on `engine`, unless the run is stopping. A panic is a bug, but it
    /// fails only its entry, loudly (the panic message is on stderr already), and the worker
    /// goes on: no entry is lost and the run does not hang.
    fn run_one(&self, engine: &Engine, entry: &Entry) -> Outcome {
        if self.stopping() {
            return self.not_started(entry);
        }
        panic::catch_unwind(AssertUnwindSafe(|| engine.fetch(entry))).unwrap_or_else(|_| {
            let error = format!(
                "internal error: {} panicked (a bug in fetchpool; please report it)",
                engine.name()
            );
            Outcome::failed(entry, self.output_dir, 0, Duration::ZERO, None, error)
        })
    }

    fn push(&self, outcome: Outcome) {
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
    fn finish(self, started: Instant) -> Summary {
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
