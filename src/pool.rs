//! Scheduling: a bounded crossbeam channel feeding N named worker threads (or, with `--serial`,
//! the calling thread alone), each with its own download engine, and the collector that hands
//! outcomes to the report in list order as soon as every earlier entry is reported.
//!
//! Ctrl-C needs nothing here but to stop handing out work: running downloads end at once by
//! themselves, and every entry not started, queued or still in the list, is reported so.

use std::collections::{BTreeMap, HashMap};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam_channel::{Receiver, Sender};

use crate::config::{Config, Mode};
use crate::download::{Engine, Shared};
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
    let shared = Shared::new(&config.download, progress, config.limit_rate)?;
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
            let engines = (1..=workers.get())
                .map(|i| Engine::new(&shared, format!("worker-{i}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let slots = config.per_host.map(|n| HostSlots::new(n.get()));
            let (tx, rx) = crossbeam_channel::bounded(workers.get() * QUEUE_PER_WORKER);
            thread::scope(|scope| {
                run_pool(
                    scope,
                    entries,
                    engines,
                    (tx, rx),
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
    (tx, rx): (Sender<Entry>, Receiver<Entry>),
    slots: Option<&'env HostSlots>,
    collector: &'env Collector<'run>,
) -> anyhow::Result<()> {
    for engine in engines {
        let rx = rx.clone();
        thread::Builder::new()
            .name(engine.name().to_string())
            .spawn_scoped(scope, move || {
                let run = |entry: &Entry| collector.push(collector.run_one(&engine, entry));
                match slots {
                    Some(slots) => slots.work(&rx, run),
                    None => rx.iter().for_each(|entry| run(&entry)),
                }
            })
            .context("cannot start a worker thread")?;
    }
    drop(rx);
    // This thread is the dispatcher: entries go out as lines arrive, so downloads start before a
    // slow producer on stdin has finished. Once the run stops (Ctrl-C, --fail-fast), `admit`
    // reports the rest of the list as not-started rather than sending it.
    for item in entries {
        if let Some(entry) = collector.admit(item)
            && let Err(unsent) = tx.send(entry)
        {
            // Only if every worker is gone; report rather than lose the entry.
            collector.push(collector.not_started(&unsent.0));
        }
    }
    collector.progress.list_read();
    Ok(())
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

    /// A worker's loop: run entries from the channel and from the set-aside ones, never more
    /// than `limit` per host at once.
    fn work(&self, rx: &Receiver<Entry>, run: impl Fn(&Entry)) {
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
                        return;
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
                None => match rx.recv() {
                    Ok(entry) => {
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
                    Err(_) => {
                        channel_open = false;
                        continue;
                    }
                },
            };
            run(&entry);
            let mut state = self.lock();
            if let Some(busy) = state.busy.get_mut(&host) {
                *busy -= 1;
            }
            drop(state);
            self.freed.notify_all();
        }
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
