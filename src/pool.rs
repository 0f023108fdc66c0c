//! Scheduling: a bounded crossbeam channel feeding N named worker threads (or, with `--serial`,
//! the calling thread alone), and the collector that prints outcomes in list order as soon as
//! every earlier entry is reported.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Instant;

use anyhow::Context as _;

use crate::config::{Config, Mode};
use crate::download::{self, Context, Outcome, Status};
use crate::list::{Entries, Entry, Item};
use crate::progress::Progress;
use crate::report::{self, Summary, Tally};

/// Entries waiting in the channel per worker: enough that a worker never waits for the reader,
/// small enough that a huge list is not held in memory.
const QUEUE_PER_WORKER: usize = 2;

/// Runs every entry of the list and returns the summary once all are reported.
pub fn run(entries: Entries, config: &Config, progress: &Progress) -> anyhow::Result<Summary> {
    let client = download::client(config)?;
    let ctx = Context {
        client: &client,
        config,
        progress,
    };
    let collector = Collector::new(config, progress);
    let started = Instant::now();
    match config.mode {
        Mode::Serial => {
            for item in entries {
                if let Some(entry) = collector.admit(item) {
                    collector.push(collector.run_one(&entry, &ctx, "serial"));
                }
            }
        }
        Mode::Pool(workers) => {
            let (tx, rx) = crossbeam_channel::bounded::<Entry>(workers.get() * QUEUE_PER_WORKER);
            thread::scope(|scope| -> anyhow::Result<()> {
                for i in 1..=workers.get() {
                    let rx = rx.clone();
                    let (collector, ctx) = (&collector, &ctx);
                    let name = format!("worker-{i}");
                    thread::Builder::new()
                        .name(name.clone())
                        .spawn_scoped(scope, move || {
                            for entry in rx {
                                collector.push(collector.run_one(&entry, ctx, &name));
                            }
                        })
                        .context("cannot start a worker thread")?;
                }
                drop(rx);
                // This thread is the reader: entries go out as lines arrive, so downloads start
                // before a slow producer on stdin has finished.
                for item in entries {
                    if let Some(entry) = collector.admit(item)
                        && let Err(unsent) = tx.send(entry)
                    {
                        // Only if every worker is gone; report rather than lose the entry.
                        collector.push(Outcome::not_started(&unsent.0, config));
                    }
                }
                drop(tx);
                Ok(())
            })?;
        }
    }
    Ok(collector.finish(started))
}

/// Collects outcomes from every worker and prints them in list order.
struct Collector<'a> {
    config: &'a Config,
    progress: &'a Progress,
    state: Mutex<State>,
    /// Set when no new download should start (stdout closed).
    stop: AtomicBool,
}

struct State {
    /// Index of the next entry to print.
    next: usize,
    /// Outcomes that arrived before an earlier entry's.
    pending: BTreeMap<usize, Outcome>,
    tally: Tally,
}

impl<'a> Collector<'a> {
    fn new(config: &'a Config, progress: &'a Progress) -> Collector<'a> {
        Collector {
            config,
            progress,
            state: Mutex::new(State {
                next: 0,
                pending: BTreeMap::new(),
                tally: Tally::default(),
            }),
            stop: AtomicBool::new(false),
        }
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
        if self.stop.load(Ordering::Relaxed) {
            Outcome::not_started(entry, self.config)
        } else {
            download::fetch(entry, ctx, worker)
        }
    }

    fn push(&self, outcome: Outcome) {
        self.progress.entry_done();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.pending.insert(outcome.index, outcome);
        loop {
            let next = state.next;
            let Some(outcome) = state.pending.remove(&next) else {
                break;
            };
            state.tally.add(&outcome);
            state.next += 1;
            if !state.tally.stdout_closed && self.print(&outcome).is_err() {
                // Nobody reads the report any more (`fetchpool list | head`): start nothing new,
                // let running downloads finish, and end quietly.
                state.tally.stdout_closed = true;
                self.stop.store(true, Ordering::Relaxed);
            }
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

    fn finish(self, started: Instant) -> Summary {
        let tally = self
            .state
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .tally;
        let summary = Summary {
            tally,
            wall: started.elapsed(),
            workers: self.config.workers(),
            serial: self.config.mode == Mode::Serial,
        };
        if self.config.json && !self.config.quiet && !summary.tally.stdout_closed {
            let _ = print_line(&report::json_summary(&summary));
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
