//! Scheduling: a bounded crossbeam channel feeding N named worker threads (or, with `--serial`,
//! the calling thread alone), each a worker with its own runtime and client, and the collector that hands
//! outcomes to the report in list order as soon as every earlier entry is reported
//! (`collector.rs`). A worker the list has nothing for takes pieces of split downloads (`jobs.rs`);
//! `--per-host` and `--rate-per-host` set aside the entries of a host that must wait (`gate.rs`).
//!
//! Ctrl-C needs nothing here but to stop handing out work: running downloads end at once by
//! themselves, and every entry not started, queued or still in the list, is reported so.

use std::thread;
use std::time::Instant;

use anyhow::Context as _;
use crossbeam_channel::Sender;

mod collector;
mod flight;
mod gate;
mod jobs;
mod queue;

use collector::Collector;
use gate::HostGate;
use jobs::{Duty, Job, Jobs, Running};
use queue::Arrivals;

use crate::config::{Config, Mode};
use crate::download::{Shared, Worker};
use crate::entry::Entry;
use crate::list::Entries;
use crate::outcome::Summary;
use crate::progress::Progress;
use crate::report::Reporter;
use crate::staged::{Sink, finish_all};
use crate::throttle::Throttle;
use crate::timeline::Timeline;

/// Entries waiting in the channel per worker: enough that a worker never waits for the reader,
/// small enough that a huge list is not held in memory.
const QUEUE_PER_WORKER: usize = 2;

/// Runs every entry of the list, handing each outcome to `reporter` in list order; returns the
/// run's summary once the report is finished and `timeline`, if any, drawn.
pub fn run(
    entries: Entries,
    config: &Config,
    progress: &Progress,
    reporter: Reporter,
    timeline: Option<Timeline>,
) -> anyhow::Result<Summary> {
    let mut summary = run_all(entries, config, progress, reporter, timeline.as_ref())?;
    // After the report, with the summary for its heading; said as every run file's trouble is.
    let timeline = timeline.map(|t| Box::new(t) as Box<dyn Sink>);
    if finish_all(timeline, &summary, &mut |line| progress.println(line)) {
        summary.tally.report_lost = true;
    }
    Ok(summary)
}

/// The run itself, every worker recording on `timeline` as it goes.
fn run_all(
    mut entries: Entries,
    config: &Config,
    progress: &Progress,
    reporter: Reporter,
    timeline: Option<&Timeline>,
) -> anyhow::Result<Summary> {
    let throttle = Throttle::new(config.limit_rate, config.rate_per_host);
    let mut shared = Shared::new(&config.download, progress, throttle, timeline)?;
    let collector = Collector::new(config, progress, reporter);
    if let Some(total) = entries.total() {
        progress.set_total(total);
    }
    let started = Instant::now();
    if let Some(timeline) = timeline {
        timeline.start(started);
    }
    match config.mode {
        Mode::Serial => {
            let worker = Worker::new(&shared, 0, "serial".into())?;
            // After Ctrl-C the rest of the list is still read and reported, as not-started.
            for item in entries.by_ref() {
                if let Some(entry) = collector.admit(item) {
                    collector.push(collector.run_one(&worker, &entry, None));
                }
            }
            progress.list_read();
            warn_ignored(&entries, progress);
        }
        Mode::Pool(count) => {
            shared.with_board(count.get(), entries.may_split());
            let shared = shared;
            // Every worker is built before any download starts, so a failure to build one is a
            // fatal error of the run rather than a worker that is silently missing.
            let workers = (1..=count.get())
                .map(|i| Worker::new(&shared, i - 1, format!("worker-{i}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let gated = config.per_host.is_some() || config.rate_per_host.is_some();
            let gate =
                gated.then(|| HostGate::new(config.per_host.map(|n| n.get()), shared.throttle()));
            // Two a worker, whatever --streams says: a worker with room for many takes them as
            // the dispatcher refills, as fast (measured on 2,000 files over HTTP/2), and a queue
            // of hundreds costs a list of small files 6% (what waits in it falls out of cache).
            let (tx, rx, refill) = queue::channel(count.get() * QUEUE_PER_WORKER);
            // Counted only where pieces may be shown: a shared counter every worker bumps for
            // every file costs a many-small-files run for nothing.
            let running = shared.board().map(Running::new);
            let arrivals = Arrivals::default();
            let jobs = Jobs {
                entries: rx,
                refill: &refill,
                running: running.as_ref(),
                board: shared.board(),
                arrivals: &arrivals,
            };
            thread::scope(|scope| {
                run_pool(
                    scope,
                    entries,
                    (workers, config.streams),
                    (tx, jobs),
                    gate.as_ref(),
                    &collector,
                )
            })?;
        }
    }
    Ok(collector.finish(started))
}

fn run_pool<'scope, 'env, 'run: 'env>(
    scope: &'scope thread::Scope<'scope, 'env>,
    mut entries: Entries,
    (workers, streams): (Vec<Worker<'env>>, usize),
    (tx, jobs): (Sender<Entry>, Jobs<'env>),
    gate: Option<&'env HostGate<'env>>,
    collector: &'env Collector<'run>,
) -> anyhow::Result<()> {
    let (running, refill, jobs_arrivals) = (jobs.running, jobs.refill, jobs.arrivals);
    // The list counts as running until this returns, however it returns.
    let _list = ListRead(running);
    for worker in workers {
        let jobs = jobs.clone();
        thread::Builder::new()
            .name(worker.name().to_string())
            .spawn_scoped(scope, move || {
                let duty = Duty {
                    worker: &worker,
                    collector,
                    running,
                };
                match gate {
                    Some(gate) => gate.work(&jobs, &duty),
                    None if streams > 1 => duty.run_flight(&jobs, streams),
                    None => {
                        while let Some(job) = jobs.next() {
                            match job {
                                Job::Entry(entry) => duty.run(&entry, None),
                                Job::Help(split) => duty.help(&split),
                            }
                        }
                        while let Some(split) = jobs.after_list() {
                            duty.help(&split);
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
    for item in entries.by_ref() {
        if let Some(entry) = collector.admit(item) {
            if let Some(running) = running {
                running.started();
            }
            let sent = refill.send(&tx, entry);
            jobs_arrivals.ring();
            if let Err(unsent) = sent {
                // Only if every worker is gone; report rather than lose the entry.
                if let Some(running) = running {
                    running.ended();
                }
                collector.push(collector.not_started(&unsent));
            }
        }
    }
    collector.progress.list_read();
    warn_ignored(&entries, collector.progress);
    Ok(())
}

/// The one warning, once the list is read, for the aria2 options it had that were ignored.
fn warn_ignored(entries: &Entries, progress: &Progress) {
    if let Some(warning) = entries.ignored_warning() {
        progress.println(&format!("fetchpool: {warning}"));
    }
}

/// The list being read, as [`Running`] counts it: done when dropped.
struct ListRead<'a>(Option<&'a Running<'a>>);

impl Drop for ListRead<'_> {
    fn drop(&mut self) {
        if let Some(running) = self.0 {
            running.ended();
        }
    }
}
