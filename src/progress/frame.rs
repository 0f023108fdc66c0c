//! What the progress display says, as pure functions of a [`Snapshot`]: the terminal frame (a
//! total line and a line per busy worker, fitted to the terminal's width and height) and the
//! plain line printed every few seconds without a terminal. Rates are recent (a sliding
//! window), the ETA is in bytes, and every size goes through `units`, as the report's do.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use console::{measure_text_width, style};

use crate::units::{human_bytes, human_rate, human_secs};

/// The run at one moment, as the display needs it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub elapsed: Duration,
    /// Entries reported so far, whatever their ending.
    pub files_done: u64,
    /// Entries read from the list so far.
    pub files_known: u64,
    /// The list's length, once known (counted up front for a file, at its end for a pipe).
    pub files_total: Option<u64>,
    /// Bytes in the files of started downloads (resumed bytes included).
    pub bytes_done: u64,
    /// What those files will hold: the declared length where one was given, else what is there.
    pub bytes_expected: u64,
    /// Downloads started so far, to estimate the size of the ones not started yet.
    pub started: u64,
    /// Bytes per second received recently (0 before there is anything to measure).
    pub rate: f64,
    pub tasks: Vec<TaskView>,
}

/// One busy worker.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub worker: String,
    pub name: String,
    pub len: Option<u64>,
    pub pos: u64,
    pub rate: f64,
    /// Connections receiving it (`--split`); shown when more than one.
    pub streams: u64,
    /// Downloads this line stands for: a worker with several in flight (HTTP/2) has one line
    /// for all of them, their names in `name` and their bytes summed.
    pub downloads: usize,
}

/// The busy workers' lines: one a worker, its downloads in flight together on one line, in the
/// order the workers first appear.
fn by_worker(tasks: &[TaskView]) -> Vec<TaskView> {
    let mut lines: Vec<TaskView> = Vec::new();
    for task in tasks {
        let Some(line) = lines.iter_mut().find(|l| l.worker == task.worker) else {
            lines.push(task.clone());
            continue;
        };
        if line.downloads == 1 {
            line.name = format!(" {}", line.name);
        }
        line.downloads += 1;
        line.name.push_str(&format!(", {}", task.name));
        line.len = line.len.zip(task.len).map(|(a, b)| a + b);
        line.pos += task.pos;
        line.rate += task.rate;
    }
    for line in &mut lines {
        if line.downloads > 1 {
            line.name = format!("{} files:{}", line.downloads, line.name);
        }
    }
    lines
}

/// How long a run goes before its ETA is shown: a full window of the rate it is told by.
pub const ETA_AFTER: Duration = Duration::from_secs(3);

impl Snapshot {
    fn files_total(&self) -> u64 {
        self.files_total.unwrap_or(self.files_known)
    }

    /// Entries not yet started: neither reported nor running.
    fn files_waiting(&self) -> u64 {
        self.files_total()
            .saturating_sub(self.files_done)
            .saturating_sub(self.tasks.len() as u64)
    }

    /// Bytes still to come: what running downloads declared and have not received, plus the
    /// files not started yet at the average size of those seen so far.
    fn bytes_remaining(&self) -> u64 {
        let running = self.bytes_expected.saturating_sub(self.bytes_done);
        let average = self.bytes_expected.checked_div(self.started).unwrap_or(0);
        running.saturating_add(self.files_waiting().saturating_mul(average))
    }

    /// How far the run is, 0..=1: in bytes when sizes are known, else in files.
    pub fn fraction(&self) -> f64 {
        let remaining = self.bytes_remaining();
        if self.bytes_expected > 0 {
            self.bytes_done as f64 / (self.bytes_done + remaining).max(1) as f64
        } else if self.files_total() > 0 {
            self.files_done as f64 / self.files_total() as f64
        } else {
            0.0
        }
    }

    /// Seconds to go at the recent rate; `None` while it cannot be told, and for the first
    /// [`ETA_AFTER`] of a run, while connections are still being made and the rate is of a
    /// window that is mostly waiting (a 24 s run said 5m16s at its start).
    pub fn eta(&self) -> Option<f64> {
        let files_left = self.files_waiting() + self.tasks.len() as u64;
        if files_left == 0 && self.files_total.is_some() {
            return Some(0.0);
        }
        if self.elapsed < ETA_AFTER {
            return None;
        }
        if self.bytes_expected > 0 && self.rate > 0.0 {
            return Some(self.bytes_remaining() as f64 / self.rate);
        }
        // Nothing says how big the files are: go by files per second.
        let secs = self.elapsed.as_secs_f64();
        (self.files_done > 0 && secs > 0.0)
            .then(|| files_left as f64 / (self.files_done as f64 / secs))
    }

    fn files_text(&self) -> String {
        match self.files_total {
            Some(total) => format!("{}/{total} files", self.files_done),
            None if self.files_known == 0 => "waiting for the list".to_string(),
            // A list still being read: at least this many.
            None => format!("{}/{}+ files", self.files_done, self.files_known),
        }
    }

    fn bytes_text(&self) -> String {
        if self.bytes_expected > self.bytes_done {
            format!(
                "{}/{}",
                human_bytes(self.bytes_done),
                human_bytes(self.bytes_expected)
            )
        } else {
            human_bytes(self.bytes_done)
        }
    }
}

/// The terminal frame: a blank line, a total line, then one line per busy worker, every line at
/// most `width` columns and the whole at most `height - 1` lines.
///
/// Why the blank line: indicatif pads each line to the terminal's width and leaves the cursor in
/// the last column, so the `^C` a terminal echoes when Ctrl-C is pressed wraps onto a new line,
/// the frame sits one line higher than indicatif counts, and its last clear misses the top line.
/// What stays behind is then this blank line, not a stale total line.
pub fn frame(s: &Snapshot, width: usize, height: usize, color: bool, tick: usize) -> String {
    let mut lines = vec![String::new(), total_line(s, width, color, tick)];
    let workers = by_worker(&s.tasks);
    let room = height.saturating_sub(3).max(1);
    let shown = if workers.len() > room {
        room - 1
    } else {
        workers.len()
    };
    lines.extend(workers[..shown].iter().map(|t| task_line(t, width, color)));
    if shown < workers.len() {
        let more: usize = workers[shown..].iter().map(|t| t.downloads).sum();
        lines.push(format!("  … and {more} more running"));
    }
    lines.join("\n")
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// `⠋ 1m05s [=====>    ] 12/2040 files  177.0 MiB/500.0 MiB  14.2 MiB/s  ETA 23s`
fn total_line(s: &Snapshot, width: usize, color: bool, tick: usize) -> String {
    let spinner = SPINNER[tick % SPINNER.len()];
    let eta = match s.eta() {
        Some(secs) => format!("ETA {}", human_secs(secs)),
        None => "ETA -".to_string(),
    };
    let elapsed = human_secs(s.elapsed.as_secs_f64());
    if s.files_known == 0 && s.files_total.is_none() {
        return fit(&format!("{spinner} {elapsed}  {}", s.files_text()), width);
    }
    let rate = human_rate(s.rate);
    let parts = [elapsed, s.files_text(), s.bytes_text(), rate, eta];
    let text = parts.join("  ");
    let bar_width = width
        .saturating_sub(2 + measure_text_width(&text) + 3)
        .min(40);
    if bar_width >= 10 {
        let bar = bar(s.fraction(), bar_width, color);
        let [elapsed, rest @ ..] = &parts;
        return format!("{spinner} {elapsed} [{bar}] {}", rest.join("  "));
    }
    // Narrow: no bar, and the parts least needed go first: the elapsed time, the bytes, the
    // rate, then the ETA. The file count stays.
    let mut keep = [true; 5];
    for drop in [None, Some(0), Some(2), Some(3), Some(4)] {
        if let Some(i) = drop {
            keep[i] = false;
        }
        let text = parts
            .iter()
            .zip(keep)
            .filter_map(|(part, kept)| kept.then_some(part.as_str()))
            .collect::<Vec<_>>()
            .join("  ");
        if 2 + measure_text_width(&text) <= width || drop == Some(4) {
            return fit(&format!("{spinner} {text}"), width);
        }
    }
    unreachable!("the last layout is always returned")
}

/// `  worker-3  big-file…name.iso  [=====>     ]  45%  1.4 MiB/3.0 MiB  2.0 MiB/s`, or for a
/// worker with several downloads in flight `  worker-3  12 files: a.bin, b.bin, c…  ...`
fn task_line(t: &TaskView, width: usize, color: bool) -> String {
    let head = format!("  {:<9} ", t.worker);
    // Asked, and no answer yet: no length, no byte. An empty bar at `0 B 0 B/s` looked stuck.
    if t.len.is_none() && t.pos == 0 {
        let right = "waiting for an answer";
        let name_width =
            width.saturating_sub(measure_text_width(&head) + 2 + measure_text_width(right));
        let name = match t.downloads {
            n if n > 1 => fit(&t.name, name_width.max(1)),
            _ => ellipsize(&t.name, name_width.max(1)),
        };
        let pad = name_width.saturating_sub(measure_text_width(&name));
        return fit(&format!("{head}{name}{}  {right}", " ".repeat(pad)), width);
    }
    let streams = match t.streams {
        0 | 1 => String::new(),
        n => format!("×{n} "),
    };
    let rate = format!("{:>11}", human_rate(t.rate));
    let (percent, sizes, fraction) = match t.len {
        Some(len) if len > 0 => {
            let fraction = (t.pos as f64 / len as f64).min(1.0);
            (
                format!("{:>3}%", (fraction * 100.0).floor() as u64),
                format!("{:>9}/{:<9}", human_bytes(t.pos), human_bytes(len)),
                Some(fraction),
            )
        }
        _ => (
            String::new(),
            format!("{:>9} {:<9}", human_bytes(t.pos), ""),
            None,
        ),
    };
    // Wide: name, bar, percent, sizes, rate. Narrower: the bar goes, then the sizes.
    for (bar_width, with_sizes) in [(20, true), (10, true), (0, true), (0, false)] {
        let mut right = streams.clone();
        if bar_width > 0 {
            match fraction {
                Some(f) => right.push_str(&format!("[{}] ", bar(f, bar_width, color))),
                None => right.push_str(&" ".repeat(bar_width + 3)),
            }
        }
        right.push_str(&format!("{percent:>4}  "));
        if with_sizes {
            right.push_str(&sizes);
            right.push_str("  ");
        }
        right.push_str(&rate);
        let name_width =
            width.saturating_sub(measure_text_width(&head) + 2 + measure_text_width(&right));
        if name_width >= 12 || (bar_width == 0 && !with_sizes) {
            let name = match t.downloads {
                // A list of names is cut at its end; one name in its middle.
                n if n > 1 => fit(&t.name, name_width.max(1)),
                _ => ellipsize(&t.name, name_width.max(1)),
            };
            let pad = name_width.saturating_sub(measure_text_width(&name));
            return fit(&format!("{head}{name}{}  {right}", " ".repeat(pad)), width);
        }
    }
    unreachable!("the last layout always fits")
}

fn bar(fraction: f64, width: usize, color: bool) -> String {
    let filled = ((fraction.clamp(0.0, 1.0) * width as f64) as usize).min(width);
    let mut text = "=".repeat(filled);
    if filled < width {
        text.push('>');
        text.push_str(&" ".repeat(width - filled - 1));
    }
    if color {
        // Forced: console would ask whether stdout is a terminal, and stdout is often the report.
        style(text).cyan().force_styling(true).to_string()
    } else {
        text
    }
}

/// `name` in at most `width` columns: the start and the end (where the extension is) with an
/// ellipsis between.
pub fn ellipsize(name: &str, width: usize) -> String {
    if measure_text_width(name) <= width {
        return name.to_string();
    }
    if width <= 1 {
        return "…".to_string();
    }
    let tail_width = (width - 1) * 2 / 5;
    let head_width = width - 1 - tail_width;
    let mut head = String::new();
    let mut used = 0;
    for c in name.chars() {
        let w = char_width(c);
        if used + w > head_width {
            break;
        }
        used += w;
        head.push(c);
    }
    let mut tail = Vec::new();
    let mut used = 0;
    for c in name.chars().rev() {
        let w = char_width(c);
        if used + w > tail_width {
            break;
        }
        used += w;
        tail.push(c);
    }
    head.push('…');
    head.extend(tail.into_iter().rev());
    head
}

fn char_width(c: char) -> usize {
    measure_text_width(c.encode_utf8(&mut [0; 4]))
}

/// `line` cut to `width` columns (escape codes do not count).
fn fit(line: &str, width: usize) -> String {
    console::truncate_str(line, width, "…").into_owned()
}

/// The line printed every few seconds without a terminal: the list's total when known, and
/// the bytes still expected where Content-Length told them.
pub fn plain(s: &Snapshot) -> String {
    let mut line = format!("fetchpool: {}", s.files_text());
    if !s.tasks.is_empty() {
        line.push_str(&format!(" ({} running)", s.tasks.len()));
    }
    line.push_str(&format!(", {} received", human_bytes(s.bytes_done)));
    let expected = s.bytes_expected.saturating_sub(s.bytes_done);
    if expected > 0 {
        line.push_str(&format!(", {} still expected", human_bytes(expected)));
    }
    line.push_str(&format!(", {}", human_rate(s.rate)));
    if let Some(eta) = s.eta().filter(|_| s.files_done > 0 || s.rate > 0.0) {
        line.push_str(&format!(", ETA {}", human_secs(eta)));
    }
    line.push_str(&format!(
        ", {} elapsed",
        human_secs(s.elapsed.as_secs_f64())
    ));
    line
}

/// A rate over the last few seconds of a growing byte count.
#[derive(Debug)]
pub struct Window {
    span: Duration,
    samples: VecDeque<(Instant, u64)>,
}

impl Window {
    /// A window over `span` that starts with `count` at `at`.
    pub fn starting_at(at: Instant, count: u64, span: Duration) -> Window {
        Window {
            span,
            samples: VecDeque::from([(at, count)]),
        }
    }

    /// Records `count` at `now` and returns bytes per second over the window (0 until two
    /// samples are a little apart).
    pub fn rate(&mut self, now: Instant, count: u64) -> f64 {
        self.samples.push_back((now, count));
        while let Some(&(t, _)) = self.samples.front() {
            if now.duration_since(t) > self.span && self.samples.len() > 2 {
                self.samples.pop_front();
            } else {
                break;
            }
        }
        let (t0, c0) = self.samples[0];
        let secs = now.duration_since(t0).as_secs_f64();
        if secs < 0.05 {
            return 0.0;
        }
        count.saturating_sub(c0) as f64 / secs
    }
}

#[cfg(test)]
mod tests;
