//! Progress on stderr: indicatif bars (a total line and one per busy worker) on a terminal, a
//! plain line every few seconds without one, or nothing.
//!
//! Counters are atomics, so the hot path of a download (one `advance` per buffer) never takes a
//! lock; a ticker thread turns them into text.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle as BarStyle};

use crate::units::human_bytes;

/// How often a plain progress line is printed without a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// How often the total bar's byte count and rate are refreshed.
const BARS_EVERY: Duration = Duration::from_millis(200);

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// indicatif bars: a total line and one per busy worker.
    Bars,
    /// No terminal: a plain line every few seconds.
    Plain,
    /// Nothing.
    Hidden,
}

/// The run's progress display. Cheap to share: every method takes `&self`.
pub struct Progress {
    shared: Arc<Shared>,
    ticker: Mutex<Option<thread::JoinHandle<()>>>,
}

struct Shared {
    style: ProgressStyle,
    bars: Option<Bars>,
    start: Instant,
    files_known: AtomicU64,
    files_done: AtomicU64,
    bytes: AtomicU64,
    stop: (Mutex<bool>, Condvar),
}

struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    worker_style: BarStyle,
}

/// One running download's share of the display: a line of its own when bars are drawn.
pub struct Task<'a> {
    progress: &'a Progress,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// The display in `style`; `color` is off when `NO_COLOR` asks.
    pub fn new(style: ProgressStyle, color: bool) -> Progress {
        let bars = (style == ProgressStyle::Bars).then(|| {
            // `term_like` draws whether or not stderr is a terminal, which `--progress always`
            // asks for; `auto` only gets here with a terminal.
            let target = ProgressDrawTarget::term_like_with_hz(Box::new(console::Term::stderr()), 10);
            let multi = MultiProgress::with_draw_target(target);
            let (bar, spin) = if color {
                ("{wide_bar:.cyan/blue}", "{spinner:.green}")
            } else {
                ("{wide_bar}", "{spinner}")
            };
            let total_style = BarStyle::with_template(&format!(
                "{spin} [{{elapsed_precise}}] [{bar}] {{pos}}/{{len}} files  {{msg}}  ETA {{eta}}"
            ))
            .expect("valid template")
            .progress_chars("=> ");
            let total = multi.add(ProgressBar::new(0).with_style(total_style));
            total.enable_steady_tick(Duration::from_millis(100));
            let worker_style = BarStyle::with_template(
                "  {prefix:<11} {wide_msg} {binary_bytes:>10}/{binary_total_bytes:<10} {binary_bytes_per_sec:>12}",
            )
            .expect("valid template");
            Bars {
                multi,
                total,
                worker_style,
            }
        });
        let shared = Arc::new(Shared {
            style,
            bars,
            start: Instant::now(),
            files_known: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            stop: (Mutex::new(false), Condvar::new()),
        });
        let ticker = match style {
            ProgressStyle::Hidden => None,
            ProgressStyle::Bars => Some(spawn_ticker(Arc::clone(&shared), BARS_EVERY)),
            ProgressStyle::Plain => Some(spawn_ticker(Arc::clone(&shared), PLAIN_EVERY)),
        };
        Progress {
            shared,
            ticker: Mutex::new(ticker),
        }
    }

    /// One more entry is known (the list is read as a stream, so the total grows).
    pub fn queued(&self) {
        self.shared.files_known.fetch_add(1, Ordering::Relaxed);
        if let Some(bars) = &self.shared.bars {
            bars.total.inc_length(1);
        }
    }

    /// A download starts on `worker` into `target` (named only when a bar shows it).
    pub fn start(&self, worker: &str, target: &std::path::Path) -> Task<'_> {
        let bar = self.shared.bars.as_ref().map(|bars| {
            let bar = bars
                .multi
                .add(ProgressBar::new(0).with_style(bars.worker_style.clone()));
            bar.set_prefix(worker.to_string());
            bar.set_message(target.display().to_string());
            bar
        });
        Task {
            progress: self,
            bar,
        }
    }

    /// An entry is finished, whatever its outcome.
    pub fn entry_done(&self) {
        self.shared.files_done.fetch_add(1, Ordering::Relaxed);
        if let Some(bars) = &self.shared.bars {
            bars.total.inc(1);
        }
    }

    /// A line on stderr (a `-v` log line) that does not tear the bars.
    pub fn println(&self, line: &str) {
        match &self.shared.bars {
            Some(bars) => bars.multi.suspend(|| eprintln_quiet(line)),
            None => eprintln_quiet(line),
        }
    }

    /// Runs `f` (which prints to stdout) with the bars cleared, so report lines and bars do not
    /// interleave on one terminal.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.shared.bars {
            Some(bars) => bars.multi.suspend(f),
            None => f(),
        }
    }

    /// Stops the ticker and clears the bars; the summary line follows on a clean stderr.
    pub fn finish(&self) {
        {
            let (lock, cvar) = &self.shared.stop;
            *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
            cvar.notify_all();
        }
        if let Some(handle) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
        if let Some(bars) = &self.shared.bars {
            bars.total.finish_and_clear();
            let _ = bars.multi.clear();
        }
    }
}

impl Drop for Progress {
    /// A run that ends early (a fatal error after the display started) leaves a clean screen.
    fn drop(&mut self) {
        self.finish();
    }
}

impl Task<'_> {
    /// The response said how long the body is.
    pub fn set_length(&self, len: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(len);
        }
    }

    /// A new attempt starts from nothing: the bar goes back to zero. (The run's byte total keeps
    /// counting what was transferred, retries included.)
    pub fn restart(&self) {
        if let Some(bar) = &self.bar {
            bar.set_position(0);
        }
    }

    /// `n` more bytes are on disk.
    pub fn advance(&self, n: u64) {
        self.progress.shared.bytes.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }
}

impl Drop for Task<'_> {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            if let Some(bars) = &self.progress.shared.bars {
                bars.multi.remove(&bar);
            }
        }
    }
}

fn spawn_ticker(shared: Arc<Shared>, every: Duration) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            let (lock, cvar) = &shared.stop;
            let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let (guard, _) = cvar
                    .wait_timeout(stopped, every)
                    .unwrap_or_else(|e| e.into_inner());
                stopped = guard;
                if *stopped {
                    return;
                }
                shared.tick();
            }
        })
        .expect("spawn the progress thread")
}

impl Shared {
    fn tick(&self) {
        let bytes = self.bytes.load(Ordering::Relaxed);
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        let rate = human_bytes((bytes as f64 / secs) as u64);
        match self.style {
            ProgressStyle::Bars => {
                if let Some(bars) = &self.bars {
                    bars.total
                        .set_message(format!("{}  {rate}/s", human_bytes(bytes)));
                }
            }
            ProgressStyle::Plain => eprintln_quiet(&format!(
                "fetchpool: {}/{} files, {}, {rate}/s, {:.0}s",
                self.files_done.load(Ordering::Relaxed),
                self.files_known.load(Ordering::Relaxed),
                human_bytes(bytes),
                secs
            )),
            ProgressStyle::Hidden => {}
        }
    }
}

/// stderr may be closed too; progress is never worth a panic.
fn eprintln_quiet(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}
