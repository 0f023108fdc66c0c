//! Scheduling: a bounded crossbeam channel feeding N named worker threads (or, with `--serial`,
//! the calling thread alone), the collector that prints outcomes in list order as soon as every
//! earlier entry is reported, and the watchdog that turns Ctrl-C into a prompt, clean stop.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam_channel::Receiver;

use crate::config::{Config, Mode};
use crate::download::{self, Active, Context, Outcome, Status};
use crate::interrupt;
use crate::list::{Entries, Entry, Item};
use crate::progress::Progress;
use crate::report::{self, Summary, Tally};
use crate::throttle::{Throttle, host_key};

/// Entries waiting in the channel per worker: enough that a worker never waits for the reader,
/// small enough that a huge list is not held in memory.
const QUEUE_PER_WORKER: usize = 2;

/// After Ctrl-C, how long running downloads get to notice and clean up by themselves before
/// the watchdog reports them as interrupted and exits.
const GRACE: Duration = Duration::from_secs(1);

/// Runs every entry of the list, prints the report and the summary, and returns the summary.
pub fn run(entries: Entries, config: &Config, progress: &Progress) -> anyhow::Result<Summary> {
    let client = download::client(config)?;
    let failed_out = match &config.failed_out {
        Some(path) => Some(
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                // It holds full URLs, credentials included.
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create --failed-out {}", path.display()))?,
        ),
        None => None,
    };
    let active = Active::default();
    let throttle = Throttle::new(config.limit_rate);
    let ctx = Context {
        client: &client,
        config,
        progress,
        active: &active,
        throttle: &throttle,
    };
    let slots = config.per_host.map(|n| HostSlots::new(n.get()));
    let collector = Collector::new(config, progress, failed_out);
    let started = Instant::now();
    let finished = AtomicBool::new(false);
    let channel = match config.mode {
        Mode::Pool(workers) => Some(crossbeam_channel::bounded::<Entry>(
            workers.get() * QUEUE_PER_WORKER,
        )),
        Mode::Serial => None,
    };
    thread::scope(|scope| -> anyhow::Result<()> {
        let watch = Watch {
            finished: &finished,
            collector: &collector,
            active: &active,
            slots: slots.as_ref(),
            queued: channel.as_ref().map(|(_, rx)| rx.clone()),
        };
        thread::Builder::new()
            .name("watchdog".into())
            .spawn_scoped(scope, move || watchdog(watch, started))
            .context("cannot start the watchdog thread")?;
        let result = match channel {
            None => {
                for item in entries {
                    let Some(entry) = collector.admit(item) else {
                        continue;
                    };
                    collector.push(collector.run_one(&entry, &ctx, "serial"));
                    if interrupt::requested() {
                        break;
                    }
                }
                Ok(())
            }
            Some((tx, rx)) => run_pool(scope, entries, (tx, rx), slots.as_ref(), &collector, &ctx),
        };
        finished.store(true, Ordering::SeqCst);
        interrupt::wake();
        result
    })?;
    Ok(collector.finish(started))
}

fn run_pool<'scope, 'env>(
    scope: &'scope thread::Scope<'scope, 'env>,
    entries: Entries,
    (tx, rx): (crossbeam_channel::Sender<Entry>, Receiver<Entry>),
    slots: Option<&'env HostSlots>,
    collector: &'env Collector<'env>,
    ctx: &'env Context<'env>,
) -> anyhow::Result<()> {
    let workers = ctx.config.workers();
    let mut handles = Vec::with_capacity(workers);
    for i in 1..=workers {
        let rx = rx.clone();
        let name = format!("worker-{i}");
        let handle = thread::Builder::new()
            .name(name.clone())
            .spawn_scoped(scope, move || {
                let run = |entry: &Entry| collector.push(collector.run_one(entry, ctx, &name));
                match slots {
                    Some(slots) => slots.work(&rx, run),
                    None => rx.iter().for_each(|entry| run(&entry)),
                }
            })
            .context("cannot start a worker thread")?;
        handles.push(handle);
    }
    drop(rx);
    // This thread is the reader: entries go out as lines arrive, so downloads start before a
    // slow producer on stdin has finished.
    for item in entries {
        if interrupt::requested() {
            break;
        }
        if let Some(entry) = collector.admit(item)
            && let Err(unsent) = tx.send(entry)
        {
            // Only if every worker is gone; report rather than lose the entry.
            collector.push(Outcome::not_started(&unsent.0, ctx.config));
        }
    }
    drop(tx);
    for handle in handles {
        let _ = handle.join();
    }
    Ok(())
}

/// Waits for the run to finish; after Ctrl-C, gives running downloads [`GRACE`] to stop by
/// themselves, then reports the stragglers as interrupted (removing their `.part` files unless
/// `--continue`), prints the report and the summary, and exits 130. A worker stuck in a read
/// with a 30-second idle limit cannot be interrupted any other way.
fn watchdog(watch: Watch, started: Instant) {
    let Watch {
        finished,
        collector,
        active,
        slots,
        queued,
    } = watch;
    // Woken at once by the end of the run (`interrupt::wake`) or by a signal.
    let tick = Duration::from_secs(1);
    loop {
        if finished.load(Ordering::SeqCst) {
            return;
        }
        if interrupt::sleep_unless(tick, || finished.load(Ordering::SeqCst)) {
            break;
        }
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if finished.load(Ordering::SeqCst) {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let mut stragglers = active.abandon(collector.config.resume);
    if let Some(queued) = queued {
        stragglers.extend(
            queued
                .try_iter()
                .map(|e| Outcome::not_started(&e, collector.config)),
        );
    }
    if let Some(slots) = slots {
        let set_aside = slots.drain();
        stragglers.extend(
            set_aside
                .iter()
                .map(|e| Outcome::not_started(e, collector.config)),
        );
    }
    collector.abandon(stragglers);
    collector.finish(started);
    std::process::exit(crate::exit_code::INTERRUPTED.into());
}

/// What the watchdog looks after.
struct Watch<'a> {
    finished: &'a AtomicBool,
    collector: &'a Collector<'a>,
    active: &'a Active,
    slots: Option<&'a HostSlots>,
    queued: Option<Receiver<Entry>>,
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

    /// Everything still set aside, for an interrupted run's report.
    fn drain(&self) -> Vec<Entry> {
        let mut state = self.lock();
        std::mem::take(&mut state.deferred)
            .into_values()
            .map(|(_, entry)| entry)
            .collect()
    }
}

/// Collects outcomes from every worker and prints them in list order.
struct Collector<'a> {
    config: &'a Config,
    progress: &'a Progress,
    state: Mutex<State>,
    /// Set when no new download should start (`--fail-fast` after a failure, or stdout closed).
    stop: AtomicBool,
}

struct State {
    /// Report position (`seq`) of the next entry to print.
    next: usize,
    /// Outcomes that arrived before an earlier entry's.
    pending: BTreeMap<usize, Outcome>,
    tally: Tally,
    failed_out: Option<BufWriter<File>>,
    /// After an emergency stop nothing more is printed.
    closed: bool,
}

impl<'a> Collector<'a> {
    fn new(config: &'a Config, progress: &'a Progress, failed_out: Option<File>) -> Collector<'a> {
        Collector {
            config,
            progress,
            state: Mutex::new(State {
                next: 0,
                pending: BTreeMap::new(),
                tally: Tally::default(),
                failed_out: failed_out.map(BufWriter::new),
                closed: false,
            }),
            stop: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
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
            Item::Entry(entry) if self.stop.load(Ordering::Relaxed) => {
                self.push(Outcome::not_started(&entry, self.config));
                None
            }
            Item::Entry(entry) => Some(entry),
        }
    }

    fn run_one(&self, entry: &Entry, ctx: &Context, worker: &str) -> Outcome {
        if self.stop.load(Ordering::Relaxed) || interrupt::requested() {
            Outcome::not_started(entry, self.config)
        } else {
            download::fetch(entry, ctx, worker)
        }
    }

    fn push(&self, outcome: Outcome) {
        self.progress.entry_done();
        if self.config.fail_fast && outcome.status == Status::Failed {
            self.stop.store(true, Ordering::Relaxed);
        }
        let mut state = self.lock();
        if state.closed || outcome.seq < state.next {
            return;
        }
        state.pending.insert(outcome.seq, outcome);
        loop {
            let next = state.next;
            let Some(outcome) = state.pending.remove(&next) else {
                break;
            };
            state.next += 1;
            self.report(&mut state, &outcome);
        }
    }

    /// Reports the outcomes of an emergency stop with everything still pending, in index order,
    /// skipping entries nobody can account for any more; then prints nothing else.
    fn abandon(&self, stragglers: Vec<Outcome>) {
        let mut state = self.lock();
        for outcome in stragglers {
            if outcome.seq >= state.next {
                state.pending.insert(outcome.seq, outcome);
            }
        }
        for (_, outcome) in std::mem::take(&mut state.pending) {
            self.report(&mut state, &outcome);
        }
        state.closed = true;
    }

    fn report(&self, state: &mut State, outcome: &Outcome) {
        state.tally.add(outcome);
        if let (Some(file), Some(line)) = (&mut state.failed_out, &outcome.relist)
            && matches!(outcome.status, Status::Failed | Status::NotStarted)
        {
            // A failed write here must not lose the report; it is said once at the end.
            if writeln!(file, "{line}").is_err() {
                state.tally.failed_out_error = true;
            }
        }
        if !state.tally.stdout_closed && self.print(outcome).is_err() {
            // Nobody reads the report any more (`fetchpool list | head`): start nothing new,
            // let running downloads finish, and end quietly.
            state.tally.stdout_closed = true;
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    fn print(&self, outcome: &Outcome) -> io::Result<()> {
        let quiet_hides =
            self.config.quiet && matches!(outcome.status, Status::Ok | Status::Skipped);
        if quiet_hides {
            return Ok(());
        }
        let line = if self.config.json {
            report::json_line(outcome)
        } else {
            report::text_line(outcome)
        };
        self.progress.suspend(|| print_line(&line))
    }

    /// Ends the report: the JSON summary on stdout, the progress cleared, the summary line on
    /// stderr.
    fn finish(&self, started: Instant) -> Summary {
        let mut state = self.lock();
        state.tally.interrupted = interrupt::requested();
        if let Some(file) = &mut state.failed_out
            && file.flush().is_err()
        {
            state.tally.failed_out_error = true;
        }
        let summary = Summary {
            tally: state.tally.clone(),
            wall: started.elapsed(),
            workers: self.config.workers(),
            serial: self.config.mode == Mode::Serial,
        };
        drop(state);
        self.progress.finish();
        let tally = &summary.tally;
        if self.config.json && !self.config.quiet && !tally.stdout_closed {
            let _ = print_line(&report::json_summary(&summary));
        }
        if tally.failed_out_error
            && let Some(path) = &self.config.failed_out
        {
            self.progress.println(&format!(
                "fetchpool: could not write all of {}",
                path.display()
            ));
        }
        if tally.total() == 0 && !tally.interrupted {
            self.progress
                .println("fetchpool: the list has no entries; nothing to do");
        } else if !self.config.quiet {
            let interrupted = if tally.interrupted {
                " (interrupted)"
            } else {
                ""
            };
            // Through the progress writer, which ignores a closed stderr (`2>&1 | head`).
            self.progress.println(&format!(
                "fetchpool: {}{interrupted}",
                report::text_summary(&summary)
            ));
        }
        summary
    }
}

/// One line on stdout, flushed at once so a pipe sees each entry as it is reported.
fn print_line(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}
