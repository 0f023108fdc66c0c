//! The ticker: a thread that wakes a few times a second, reads the downloads' counters, measures
//! recent rates, and draws the frame (or prints a plain line) from the snapshot it makes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::frame::{self, Snapshot, TaskView, Window};
use super::{ProgressStyle, RATE_WINDOW, Screen, UNKNOWN, eprintln_quiet};

pub(super) fn spawn_ticker(screen: Arc<Screen>, every: Duration) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            let mut rates = Rates {
                run: Window::starting_at(screen.start, 0, RATE_WINDOW),
                tasks: HashMap::new(),
                ticks: 0,
            };
            let (lock, cvar) = &screen.stop;
            let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
            // Looked at before every wait: a run that ends before this thread first waits
            // (a fatal error just after start) must not wait out a whole interval.
            while !*stopped {
                let (guard, timeout) = cvar
                    .wait_timeout(stopped, every)
                    .unwrap_or_else(|e| e.into_inner());
                stopped = guard;
                if timeout.timed_out() && !*stopped {
                    screen.tick(&mut rates);
                }
            }
        })
        .expect("spawn the progress thread")
}

/// The ticker's memory of recent counts, for rates.
struct Rates {
    run: Window,
    tasks: HashMap<u64, Window>,
    ticks: usize,
}

impl Screen {
    fn snapshot(&self, rates: &mut Rates) -> Snapshot {
        let now = Instant::now();
        let total = self.files_total.load(Ordering::Relaxed);
        let mut snapshot = Snapshot {
            elapsed: self.start.elapsed(),
            files_done: self.files_done.load(Ordering::Relaxed),
            files_known: self.files_known.load(Ordering::Relaxed),
            files_total: (total != UNKNOWN).then_some(total),
            ..Snapshot::default()
        };
        let running = self.lock();
        snapshot.started = running.started;
        snapshot.bytes_done = running.ended_bytes;
        snapshot.bytes_expected = running.ended_bytes;
        let mut run_received = running.ended_received;
        for task in &running.tasks {
            let pos = task.pos.load(Ordering::Relaxed);
            let len = task.len.load(Ordering::Relaxed);
            let len = (len != UNKNOWN).then_some(len);
            snapshot.bytes_done += pos;
            snapshot.bytes_expected += len.unwrap_or(pos).max(pos);
            let received = task.received.load(Ordering::Relaxed);
            run_received += received;
            let window = rates
                .tasks
                .entry(task.id)
                .or_insert_with(|| Window::starting_at(task.started, 0, RATE_WINDOW));
            snapshot.tasks.push(TaskView {
                worker: task.worker.clone(),
                name: task.name.clone(),
                len,
                pos,
                rate: window.rate(now, received),
                streams: task.streams.load(Ordering::Relaxed),
                downloads: 1,
            });
        }
        rates
            .tasks
            .retain(|id, _| running.tasks.iter().any(|t| t.id == *id));
        snapshot.rate = rates.run.rate(now, run_received);
        snapshot
    }

    fn tick(&self, rates: &mut Rates) {
        let snapshot = self.snapshot(rates);
        rates.ticks += 1;
        match (&self.bar, self.style) {
            (Some(bar), _) => {
                let (rows, cols) = console::Term::stderr().size();
                bar.set_message(frame::frame(
                    &snapshot,
                    cols.into(),
                    rows.into(),
                    self.color,
                    rates.ticks,
                ));
            }
            (None, ProgressStyle::Plain) => eprintln_quiet(&frame::plain(&snapshot)),
            (None, _) => {}
        }
    }
}
