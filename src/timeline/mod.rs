//! `--timeline FILE`: the run as a picture, a row per worker and a bar per download in time, in
//! one self-contained SVG.
//!
//! Each worker records what it did as it goes, on its [`Lane`]: a bar when a download ends (with
//! the failed attempts and the waits before retries inside it), a piece when it has fetched one
//! of another worker's split download. Records go to a scratch file beside FILE (in the
//! temporary directory when FILE is `/dev/stdout` or the like), not to memory, however long the
//! list (`spool.rs`); when the run ends the picture is drawn from them in one pass (`svg.rs`,
//! with `merge.rs` for bars too narrow to see) and put in place as the reports are.

mod merge;
mod spool;
mod svg;

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::outcome::{Ending, Outcome, Served, Status, Summary};
use crate::printable::fit_fields;
use crate::staged::Reserved;
use crate::staged::{Sink, Staged};
use crate::units::human_bytes;
use spool::{Bar, Class, Mark, Spool};

/// The longest URL a bar's title shows whole; a longer one is cut in its middle.
const TITLE_URL_MAX: usize = 200;

/// The picture being recorded, and the file it goes to.
pub struct Timeline {
    out: Staged,
    spool: Mutex<Spool>,
    /// When the run started: time 0 on the axis.
    origin: OnceLock<Instant>,
    /// `--timeline-axis`: the least the axis shows.
    axis: Option<Duration>,
    /// The most lines a worker's row needs: the most downloads one worker had in flight.
    lines: AtomicU32,
}

impl Timeline {
    /// Starts FILE; fails (before anything runs) where it could not be written.
    pub fn create(
        path: &Path,
        axis: Option<Duration>,
        reserved: &[Arc<Reserved>],
    ) -> anyhow::Result<Timeline> {
        let out = Staged::create(path, "--timeline", 0o644, reserved)?;
        let spool = Spool::at(&out.scratch("spans"), path)?;
        Ok(Timeline {
            out,
            spool: Mutex::new(spool),
            origin: OnceLock::new(),
            axis,
            lines: AtomicU32::new(1),
        })
    }

    /// Fails as [`Timeline::create`] would, and leaves nothing behind.
    pub fn check(path: &Path) -> anyhow::Result<()> {
        Staged::check(path, "--timeline")
    }

    /// The run starts now (`at`): time 0 on the axis.
    pub fn start(&self, at: Instant) {
        let _ = self.origin.set(at);
    }

    /// The lane of the worker drawn on row `row` (0 for the first).
    pub fn lane(&self, row: usize) -> Lane<'_> {
        Lane {
            timeline: self,
            row: u32::try_from(row).unwrap_or(u32::MAX),
            sub: 0,
            marks: RefCell::default(),
        }
    }

    /// Microseconds from the start of the run to `t`.
    fn micros(&self, t: Instant) -> u64 {
        let origin = *self.origin.get_or_init(Instant::now);
        u64::try_from(t.saturating_duration_since(origin).as_micros()).unwrap_or(u64::MAX)
    }

    fn record(&self, span: &Bar) {
        self.lines.fetch_max(span.line + 1, Ordering::Relaxed);
        self.spool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(span);
    }

    /// Draws the picture of the run `summary` describes and puts FILE in place; what went
    /// wrong, if anything did.
    fn draw(mut self, summary: &Summary) -> Result<(), String> {
        let spool = self.spool.into_inner().unwrap_or_else(|e| e.into_inner());
        let rows = match summary.serial {
            true => vec!["serial".to_string()],
            false => (1..=summary.workers)
                .map(|i| format!("worker-{i}"))
                .collect(),
        };
        let axis = summary.wall.max(self.axis.unwrap_or_default());
        let interrupted = if summary.tally.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        let heading = format!("fetchpool: {}{interrupted}", summary.text());
        let frame = svg::Frame {
            present: spool.present(),
            rows,
            lines: self.lines.load(Ordering::Relaxed).max(1),
            axis: u64::try_from(axis.as_micros()).unwrap_or(u64::MAX),
            heading: fit_fields(&heading, svg::HEADING_COLUMNS),
            spans: spool.count(),
        };
        let drawn = spool
            .read()
            .and_then(|spans| svg::draw(&mut self.out.file, &frame, spans));
        drawn.map_err(|_| self.out.lost())?;
        self.out.place()
    }
}

/// One worker's row of the picture: what its downloads record as they go.
pub struct Lane<'a> {
    timeline: &'a Timeline,
    row: u32,
    /// The line within the row: a worker with several downloads in flight draws each on a line
    /// of its own, so none hides another.
    sub: u32,
    /// The failed attempts and waits of the download running now.
    marks: RefCell<Vec<Mark>>,
}

impl<'a> Lane<'a> {
    /// The same row, line `sub` within it.
    pub fn within(self, sub: usize) -> Lane<'a> {
        Lane {
            sub: u32::try_from(sub).unwrap_or(u32::MAX),
            ..self
        }
    }

    /// An attempt that began at `started` has just failed. A wait inside it (for the host's
    /// turn) stays a wait: the attempt is drawn from where the wait ended.
    pub fn attempt_failed(&self, started: Instant) {
        self.mark(Class::Try, started);
    }

    /// A wait which began at `started` is over: before a retry, or for the host's turn (after
    /// a 429, under `--rate-per-host`, for a `--per-host` slot). One too short to see is not
    /// drawn.
    pub fn waited(&self, started: Instant) {
        if started.elapsed() >= Duration::from_millis(1) {
            self.mark(Class::Wait, started);
        }
    }

    fn mark(&self, class: Class, started: Instant) {
        let t = self.timeline;
        let mut marks = self.marks.borrow_mut();
        let after = marks.last().map_or(0, |m| m.end);
        marks.push(Mark {
            class,
            start: t.micros(started).max(after),
            end: t.micros(Instant::now()),
        });
    }

    /// The download that began at `started` has just ended as `outcome` says: its bar.
    pub fn bar(&self, started: Instant, outcome: &Outcome) {
        let mut marks = std::mem::take(&mut *self.marks.borrow_mut());
        let class = match outcome.status() {
            Status::Ok => Class::Ok,
            Status::Failed if outcome.interrupted() => Class::Interrupted,
            Status::Failed => Class::Failed,
            Status::Skipped => Class::Skipped,
            Status::Unchanged => Class::Unchanged,
            // Never started: nothing to draw.
            Status::NotStarted => return,
        };
        // A failed (or interrupted) download's last attempt is the bar's own colour, not a mark
        // inside it.
        let ended_badly = matches!(class, Class::Failed | Class::Interrupted);
        if ended_badly && marks.last().is_some_and(|m| m.class == Class::Try) {
            marks.pop();
        }
        let t = self.timeline;
        let (start, end) = (t.micros(started), t.micros(Instant::now()));
        t.record(&Bar {
            row: self.row,
            line: self.sub,
            start,
            end,
            class,
            bytes: outcome.bytes(),
            marks,
            title: bar_title(outcome, start, end),
        });
    }

    /// A piece of another worker's split download, begun at `started`, has just been fetched
    /// here, or stopped short for the reason `stopped` gives (it goes back to be asked for
    /// again: drawn as an attempt that failed); `what` says which piece.
    pub fn piece(&self, started: Instant, what: String, stopped: Option<String>) {
        let t = self.timeline;
        let (start, end) = (t.micros(started), t.micros(Instant::now()));
        let secs = (end - start) as f64 / 1e6;
        let mut title = format!("{what}\n{secs:.2} s, {}", span_text(start, end));
        // Its waits for the host's turn, and how it stopped short, if it did (after them).
        let mut marks = std::mem::take(&mut *self.marks.borrow_mut());
        if let Some(why) = stopped {
            title = format!("{title}\nstopped short: {why}");
            let after = marks.last().map_or(start, |m| m.end.max(start));
            marks.push(Mark {
                class: Class::Try,
                start: after,
                end,
            });
        }
        t.record(&Bar {
            row: self.row,
            line: self.sub,
            start,
            end,
            class: Class::Piece,
            bytes: 0,
            marks,
            title,
        });
    }
}

/// What hovering a download's bar shows: its URL, file, and how and when it ended.
fn bar_title(o: &Outcome, start: u64, end: u64) -> String {
    let mut lines = vec![cut_middle(&o.url, TITLE_URL_MAX)];
    if let Some(path) = &o.path {
        lines.push(format!("→ {}", path.display()));
    }
    let status = o.status().as_str();
    let http = o.http_status().map(|s| format!(" {s}")).unwrap_or_default();
    let size = match o.status() {
        Status::Failed => format!("{} received", human_bytes(o.received)),
        _ => human_bytes(o.bytes()),
    };
    let attempts = match o.attempts {
        1 => "1 attempt".to_string(),
        n => format!("{n} attempts"),
    };
    let secs = o.elapsed.as_secs_f64();
    lines.push(format!(
        "{status}{http}, {size}, {attempts}, {secs:.2} s ({})",
        span_text(start, end)
    ));
    if let Some(Served::Mirror(mirror)) = &o.served_by {
        lines.push(format!("from mirror {}", cut_middle(mirror, TITLE_URL_MAX)));
    }
    match &o.ending {
        Ending::Failed { error, .. } => lines.push(error.clone()),
        Ending::Skipped { note, .. } => lines.push(note.clone()),
        _ => {}
    }
    lines.join("\n")
}

/// "from 1.20 s to 1.45 s" on the run's clock.
fn span_text(start: u64, end: u64) -> String {
    format!(
        "from {:.2} s to {:.2} s",
        start as f64 / 1e6,
        end as f64 / 1e6
    )
}

/// `text` whole if it has at most `max` characters, else its start and end around an ellipsis.
fn cut_middle(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max / 2).collect();
    let tail: String = text.chars().skip(count - max / 2).collect();
    format!("{head}…{tail}")
}

impl Sink for Timeline {
    fn finish(self: Box<Self>, summary: &Summary) -> Result<(), String> {
        (*self).draw(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::cut_middle;

    #[test]
    fn long_urls_are_cut_in_the_middle() {
        assert_eq!(cut_middle("short", 10), "short");
        assert_eq!(cut_middle("0123456789abcdef", 8), "0123…cdef");
        assert_eq!(cut_middle("日本語日本語日本語", 4), "日本…本語");
    }
}
