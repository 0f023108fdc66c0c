//! Progress on stderr: on a terminal, one frame (a total line and a line per busy worker) redrawn
//! a few times a second; without one, a plain line every few seconds; or nothing.
//!
//! Downloads only bump atomic counters (one `advance` per piece of body, no lock); a ticker
//! thread reads them, measures recent rates and hands a [`frame::Snapshot`] to the pure
//! functions in `frame` that make the text.

mod frame;
mod ticker;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle as BarStyle};

use ticker::spawn_ticker;

use crate::printable::printable;

/// How often a plain progress line is printed without a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// How often the frame is redrawn on a terminal.
const FRAME_EVERY: Duration = Duration::from_millis(200);
/// Rates are measured over this much of the recent past, the run's and each worker's alike, so
/// the total agrees with the sum of the worker lines.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// The length of a download that did not say how long it is.
const UNKNOWN: u64 = u64::MAX;

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// A frame redrawn in place: a total line and one per busy worker.
    Bars,
    /// No terminal: a plain line every few seconds.
    Plain,
    /// Nothing.
    Hidden,
}

/// The run's progress display. Cheap to share: every method takes `&self`.
pub struct Progress {
    screen: Arc<Screen>,
    ticker: Mutex<Option<thread::JoinHandle<()>>>,
}

/// What the display shows and the ticker thread reads: the counters every worker bumps, and the
/// frame it draws.
struct Screen {
    style: ProgressStyle,
    color: bool,
    start: Instant,
    /// The frame, drawn as one multi-line message; `None` without a terminal.
    bar: Option<ProgressBar>,
    files_total: AtomicU64,
    files_known: AtomicU64,
    files_done: AtomicU64,
    running: Mutex<InProgress>,
    overlap: Overlap,
    stop: (Mutex<bool>, Condvar),
}

/// Downloads, and pieces of split downloads fetched for their owner, being fetched: how many
/// now, the most at once so far, and the time they took in all. The summary's speed-up is made
/// of it. Three atomics a download, whatever the display.
#[derive(Default)]
struct Overlap {
    now: AtomicU64,
    most: AtomicU64,
    micros: AtomicU64,
}

impl Overlap {
    fn begin(&self) {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.most.fetch_max(now, Ordering::Relaxed);
    }

    fn end(&self, started: Instant) {
        self.now.fetch_sub(1, Ordering::Relaxed);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// How the run's downloads overlapped: the time they took in all (what fetching them one at a
/// time would have taken, about), and the most fetched at once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SideBySide {
    pub work: Duration,
    pub most: u64,
}

/// A piece of a split download being fetched by a worker other than its owner: counted in
/// [`SideBySide`] until dropped.
pub struct Working<'a> {
    overlap: &'a Overlap,
    started: Instant,
}

impl Drop for Working<'_> {
    fn drop(&mut self) {
        self.overlap.end(self.started);
    }
}

/// Downloads in progress, and what finished ones add to the totals. The run's bytes received
/// are summed here when the display asks, not counted by every worker on every piece of body.
#[derive(Default)]
struct InProgress {
    tasks: Vec<Arc<TaskState>>,
    /// Downloads started so far; the last one's id.
    started: u64,
    /// Bytes in the files of finished downloads: done and expected alike.
    ended_bytes: u64,
    /// Bytes finished downloads received, every attempt.
    ended_received: u64,
}

struct TaskState {
    id: u64,
    started: Instant,
    worker: String,
    name: String,
    len: AtomicU64,
    /// Bytes in the file so far (resumed bytes included).
    pos: AtomicU64,
    /// Bytes received by this download, every attempt.
    received: AtomicU64,
    /// Connections receiving it now (more than one when `--split` fetches its ranges).
    streams: AtomicU64,
}

/// One running download's share of the display.
pub struct Task<'a> {
    progress: &'a Progress,
    state: Arc<TaskState>,
}

impl Progress {
    /// The display in `style`; `color` is off when `NO_COLOR` asks.
    pub fn new(style: ProgressStyle, color: bool) -> Progress {
        let bar = (style == ProgressStyle::Bars).then(|| {
            // `term_like` draws whether or not stderr is a terminal, which `--progress always`
            // asks for; `auto` only gets here with a terminal.
            let target =
                ProgressDrawTarget::term_like_with_hz(Box::new(console::Term::stderr()), 8);
            let bar = ProgressBar::with_draw_target(None, target);
            bar.set_style(BarStyle::with_template("{msg}").expect("valid template"));
            bar
        });
        let screen = Arc::new(Screen {
            style,
            color,
            start: Instant::now(),
            bar,
            files_total: AtomicU64::new(UNKNOWN),
            files_known: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            running: Mutex::default(),
            overlap: Overlap::default(),
            stop: (Mutex::new(false), Condvar::new()),
        });
        let ticker = match style {
            ProgressStyle::Hidden => None,
            ProgressStyle::Bars => Some(spawn_ticker(Arc::clone(&screen), FRAME_EVERY)),
            ProgressStyle::Plain => Some(spawn_ticker(Arc::clone(&screen), PLAIN_EVERY)),
        };
        Progress {
            screen,
            ticker: Mutex::new(ticker),
        }
    }

    /// No display at all (lines printed through it still go to stderr).
    pub fn hidden() -> Progress {
        Progress::new(ProgressStyle::Hidden, false)
    }

    /// The list holds `total` entries for this run (counted up front, or read to its end).
    pub fn set_total(&self, total: u64) {
        self.screen.files_total.store(total, Ordering::Relaxed);
    }

    /// One more entry is read from the list.
    pub fn queued(&self) {
        self.screen.files_known.fetch_add(1, Ordering::Relaxed);
    }

    /// The whole list has been read: what was read is the total.
    pub fn list_read(&self) {
        let known = self.screen.files_known.load(Ordering::Relaxed);
        self.set_total(known);
    }

    /// A download starts on `worker` into `target`.
    pub fn start(&self, worker: &str, target: &Path) -> Task<'_> {
        self.screen.overlap.begin();
        let tracked = self.screen.style != ProgressStyle::Hidden;
        let mut running = if tracked {
            Some(self.screen.lock())
        } else {
            None
        };
        let id = running.as_mut().map_or(0, |r| {
            r.started += 1;
            r.started
        });
        // Names are only made for a display that shows them.
        let (worker, name) = if tracked {
            let name = target.display().to_string();
            (worker.to_string(), printable(&name).into_owned())
        } else {
            (String::new(), String::new())
        };
        let state = Arc::new(TaskState {
            id,
            started: Instant::now(),
            worker,
            name,
            len: AtomicU64::new(UNKNOWN),
            pos: AtomicU64::new(0),
            received: AtomicU64::new(0),
            streams: AtomicU64::new(0),
        });
        if let Some(running) = &mut running {
            running.tasks.push(Arc::clone(&state));
        }
        Task {
            progress: self,
            state,
        }
    }

    /// A worker starts fetching a piece of another worker's split download.
    pub fn working(&self) -> Working<'_> {
        self.screen.overlap.begin();
        Working {
            overlap: &self.screen.overlap,
            started: Instant::now(),
        }
    }

    /// How the downloads so far overlapped.
    pub fn side_by_side(&self) -> SideBySide {
        let overlap = &self.screen.overlap;
        SideBySide {
            work: Duration::from_micros(overlap.micros.load(Ordering::Relaxed)),
            most: overlap.most.load(Ordering::Relaxed),
        }
    }

    /// An entry is finished, whatever its outcome.
    pub fn entry_done(&self) {
        self.screen.files_done.fetch_add(1, Ordering::Relaxed);
    }

    /// A line on stderr (a `-v` log line) that does not tear the frame.
    pub fn println(&self, line: &str) {
        let line = &*printable(line);
        match &self.screen.bar {
            Some(bar) => bar.suspend(|| eprintln_quiet(line)),
            None => eprintln_quiet(line),
        }
    }

    /// How wide a line on stderr may be: the terminal's width, or 100 columns in a log.
    pub fn width(&self) -> usize {
        match console::Term::stderr().size_checked() {
            Some((_, cols)) if cols > 0 => cols as usize,
            _ => 100,
        }
    }

    /// Runs `f` (which prints to stdout) with the frame cleared, so report lines and the frame
    /// do not interleave on one terminal.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.screen.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Stops the ticker and clears the frame; the summary line follows on a clean stderr.
    pub fn finish(&self) {
        {
            let (lock, cvar) = &self.screen.stop;
            *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
            cvar.notify_all();
        }
        if let Some(handle) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
        if let Some(bar) = &self.screen.bar {
            bar.finish_and_clear();
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
    /// The file will be `len` bytes long when complete.
    pub fn set_length(&self, len: u64) {
        self.state.len.store(len, Ordering::Relaxed);
    }

    /// A new attempt starts from nothing. (What earlier attempts received stays counted.)
    pub fn restart(&self) {
        self.state.len.store(UNKNOWN, Ordering::Relaxed);
        self.state.pos.store(0, Ordering::Relaxed);
    }

    /// The attempt builds on `have` bytes already in the file: on disk, but not received now.
    pub fn resumed(&self, have: u64) {
        self.state.pos.store(have, Ordering::Relaxed);
    }

    /// The download's byte counters, for whoever receives its bytes (its worker, and with
    /// `--split` the workers fetching its ranges).
    pub fn counter(&self) -> Counter {
        Counter(Arc::clone(&self.state))
    }

    /// Bytes this download received over the network, every attempt.
    pub fn received(&self) -> u64 {
        self.state.received.load(Ordering::Relaxed)
    }
}

/// One running download's byte counters, shareable between the workers that fill its file.
#[derive(Clone)]
pub struct Counter(Arc<TaskState>);

impl Counter {
    /// A connection starts receiving this download; it counts until the guard is dropped.
    pub fn stream(&self) -> Stream<'_> {
        self.0.streams.fetch_add(1, Ordering::Relaxed);
        Stream(self)
    }

    /// `received` more bytes arrived, of which `kept` are now on disk (a range cut at its end
    /// keeps less than it received).
    pub fn advance(&self, kept: u64, received: u64) {
        self.0.pos.fetch_add(kept, Ordering::Relaxed);
        self.0.received.fetch_add(received, Ordering::Relaxed);
    }
}

/// One connection receiving a download, for as long as it lives.
pub struct Stream<'a>(&'a Counter);

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        self.0.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Task<'_> {
    fn drop(&mut self) {
        self.progress.screen.overlap.end(self.state.started);
        if self.state.id == 0 {
            return;
        }
        let mut running = self.progress.screen.lock();
        running.ended_bytes += self.state.pos.load(Ordering::Relaxed);
        running.ended_received += self.state.received.load(Ordering::Relaxed);
        running.tasks.retain(|t| t.id != self.state.id);
    }
}

impl Screen {
    fn lock(&self) -> MutexGuard<'_, InProgress> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// stderr may be closed too; progress is never worth a panic.
fn eprintln_quiet(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}
