//! What happened to each entry and to the run: an [`Outcome`] per entry, built here in one
//! place, whose [`Ending`] carries only what that ending has (a failure cannot also be ok), and
//! the [`Tally`] over every reported outcome. The data every stage after the list speaks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use crate::entry::{BadLine, Entry, ListName};
use crate::redact::redact_url;
use crate::units::{human_bytes, human_rate};

/// What a run would do with an entry, as `--dry-run` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Download,
    /// `--continue` would resume the `.part`, which holds this many bytes.
    Resume {
        from: u64,
    },
    /// `--overwrite` would replace the existing target.
    Replace,
    /// The existing target would be reported `skipped`.
    Skip {
        bytes: u64,
    },
    /// `--update` would ask the server whether the existing target changed.
    Revalidate,
    /// `--update`: the existing target matches the list's size=/sha256=.
    Unchanged,
    /// The run would fail the entry before any request, for this reason.
    Fail(String),
}

/// How an entry ended, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Failed,
    Skipped,
    /// `--update`: the server (or the list's size=/sha256=) says the file in place is current.
    Unchanged,
    NotStarted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Unchanged => "unchanged",
            Status::NotStarted => "not-started",
        }
    }
}

/// How an entry ended, with what only that ending has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Ok {
        http_status: u16,
        /// The size of the file put in place.
        bytes: u64,
        /// Lowercase hex digest of the file, when something asked for it.
        sha256: Option<String>,
        /// The server sent no Content-Length, so completeness is the server's word.
        length_unverified: bool,
    },
    Skipped {
        bytes: u64,
        /// Why (shown in parentheses).
        note: String,
    },
    Unchanged {
        /// 304, or `None` when the list's size=/sha256= decided without a request.
        http_status: Option<u16>,
        /// The size of the file in place, left as it was.
        bytes: u64,
    },
    Failed {
        http_status: Option<u16>,
        /// The reason, with its whole cause chain (JSON, `--report`, JUnit, `-v`).
        error: String,
        /// The reason as a person reads it at a glance, where the chain says more than that
        /// (the text report, GitHub's annotations and step summary).
        brief: Option<String>,
        /// The entry as a list line for `--failed-out`.
        relist: String,
    },
    NotStarted {
        relist: String,
    },
}

/// Which of an entry's URLs served its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// The entry's own URL.
    Own,
    /// A mirror, redacted.
    Mirror(String),
}

/// What happened to one entry: everything the report shows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub index: usize,
    /// Position in the report (see `Entry::seq`).
    pub seq: usize,
    /// The source it comes from, and its line there.
    pub list: Arc<ListName>,
    pub line: usize,
    /// The URL with secrets redacted: safe to print.
    pub url: String,
    /// Target as shown to the user (output directory joined); `None` for a bad line.
    pub path: Option<PathBuf>,
    pub attempts: u32,
    pub elapsed: Duration,
    /// Bytes that crossed the network for this entry in this run, every attempt: a resumed
    /// download counts only its new bytes, an interrupted one what it got.
    pub received: u64,
    /// Which URL served the file, when one did: the entry's own, or a mirror.
    pub served_by: Option<Served>,
    /// A digest (from the list or a checksums file) checked the file.
    pub checked: bool,
    pub ending: Ending,
}

impl Outcome {
    /// How `entry`, bound for `output_dir`, ended.
    pub fn of(
        entry: &Entry,
        output_dir: &Path,
        attempts: u32,
        elapsed: Duration,
        ending: Ending,
    ) -> Outcome {
        Outcome {
            index: entry.index,
            seq: entry.seq,
            list: Arc::clone(&entry.list),
            line: entry.line,
            url: redact_url(entry.url.as_str()),
            path: Some(shown_path(output_dir, &entry.target)),
            attempts,
            elapsed,
            received: 0,
            served_by: None,
            checked: !entry.options.digests.is_empty(),
            ending,
        }
    }

    /// The same outcome, having received `bytes` over the network.
    pub fn with_received(mut self, bytes: u64) -> Outcome {
        self.received = bytes;
        self
    }

    /// The same outcome, served by that URL, if by any.
    pub fn with_served_by(mut self, served: Option<Served>) -> Outcome {
        self.served_by = served;
        self
    }

    /// The URL that served the file (redacted), if one did.
    pub fn served_url(&self) -> Option<&str> {
        match &self.served_by {
            Some(Served::Own) => Some(&self.url),
            Some(Served::Mirror(url)) => Some(url),
            None => None,
        }
    }

    /// `entry` failed: `error` says why, and `--failed-out` gets it back as a list line.
    pub fn failed(
        entry: &Entry,
        output_dir: &Path,
        attempts: u32,
        elapsed: Duration,
        http_status: Option<u16>,
        error: String,
    ) -> Outcome {
        let ending = Ending::Failed {
            http_status,
            error,
            brief: None,
            relist: entry.list_line(),
        };
        Outcome::of(entry, output_dir, attempts, elapsed, ending)
    }

    /// An entry the run never got to.
    pub fn not_started(entry: &Entry, output_dir: &Path) -> Outcome {
        let ending = Ending::NotStarted {
            relist: entry.list_line(),
        };
        Outcome::of(entry, output_dir, 0, Duration::ZERO, ending)
    }

    /// A line of the list that is not a valid entry.
    pub fn bad_line(bad: &BadLine) -> Outcome {
        Outcome {
            index: bad.index,
            seq: bad.seq,
            list: Arc::clone(&bad.list),
            line: bad.line,
            url: bad.text.clone(),
            path: None,
            attempts: 0,
            elapsed: Duration::ZERO,
            received: 0,
            served_by: None,
            checked: false,
            ending: Ending::Failed {
                http_status: None,
                error: bad.error.clone(),
                brief: None,
                // Commented out, every line of it: re-running it would only fail the same way.
                relist: format!("# {}\n# {}", bad.error, bad.raw.replace('\n', "\n# ")),
            },
        }
    }

    /// It failed because Ctrl-C (or another signal) cut it short, not for a reason of its own.
    pub fn interrupted(&self) -> bool {
        matches!(&self.ending, Ending::Failed { error, .. } if error.starts_with("interrupted"))
    }

    /// Why it failed, as a person reads it at a glance (the whole chain where nothing shorter
    /// says it); `None` unless it failed.
    pub fn reason(&self) -> Option<&str> {
        match &self.ending {
            Ending::Failed { brief, error, .. } => Some(brief.as_deref().unwrap_or(error)),
            _ => None,
        }
    }

    pub fn status(&self) -> Status {
        match self.ending {
            Ending::Ok { .. } => Status::Ok,
            Ending::Skipped { .. } => Status::Skipped,
            Ending::Unchanged { .. } => Status::Unchanged,
            Ending::Failed { .. } => Status::Failed,
            Ending::NotStarted { .. } => Status::NotStarted,
        }
    }

    /// The HTTP status of the final response, if there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self.ending {
            Ending::Ok { http_status, .. } => Some(http_status),
            Ending::Failed { http_status, .. } | Ending::Unchanged { http_status, .. } => {
                http_status
            }
            Ending::Skipped { .. } | Ending::NotStarted { .. } => None,
        }
    }

    /// The size of the file in place (ok, skipped or unchanged), else 0.
    pub fn bytes(&self) -> u64 {
        match self.ending {
            Ending::Ok { bytes, .. }
            | Ending::Skipped { bytes, .. }
            | Ending::Unchanged { bytes, .. } => bytes,
            Ending::Failed { .. } | Ending::NotStarted { .. } => 0,
        }
    }

    /// What a re-run must still fetch, as list text: failed and not-started entries only.
    pub fn relist(&self) -> Option<&str> {
        match &self.ending {
            Ending::Failed { relist, .. } | Ending::NotStarted { relist } => Some(relist),
            Ending::Ok { .. } | Ending::Skipped { .. } | Ending::Unchanged { .. } => None,
        }
    }
}

/// The path shown in reports: relative to the current directory as the user gave it.
pub fn shown_path(output_dir: &Path, target: &Path) -> PathBuf {
    if output_dir == Path::new(".") {
        target.to_path_buf()
    } else {
        output_dir.join(target)
    }
}

/// Counts and totals over every reported outcome.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    pub unchanged: usize,
    pub not_started: usize,
    /// Bytes written by downloads that ended `ok`.
    pub bytes: u64,
    /// Bytes that crossed the network, whatever the entries' endings.
    pub received: u64,
    /// Entries whose file is in place (ok, skipped, unchanged) with no digest to check it by.
    pub unverified: usize,
    /// The run was interrupted by a signal.
    pub interrupted: bool,
    /// A report file (`--report`, `--junit`, `--failed-out`) could not be written whole.
    pub report_lost: bool,
}

impl Tally {
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome.status() {
            Status::Ok => {
                self.ok += 1;
                self.bytes += outcome.bytes();
            }
            Status::Failed => self.failed += 1,
            Status::Skipped => self.skipped += 1,
            Status::Unchanged => self.unchanged += 1,
            Status::NotStarted => self.not_started += 1,
        }
        let in_place = matches!(
            outcome.status(),
            Status::Ok | Status::Skipped | Status::Unchanged
        );
        if in_place && !outcome.checked {
            self.unverified += 1;
        }
        self.received += outcome.received;
    }

    pub fn total(&self) -> usize {
        self.ok + self.failed + self.skipped + self.unchanged + self.not_started
    }
}

/// The run as a whole: the tally and how long it took, and how.
#[derive(Debug, Clone)]
pub struct Summary {
    pub tally: Tally,
    pub wall: Duration,
    pub workers: usize,
    pub serial: bool,
    /// `--checksums` was given: the summary says how many files no digest checked.
    pub checksums: bool,
    /// The time every download and every piece of a split download took, summed: about what
    /// fetching them one at a time would have taken.
    pub work: Duration,
    /// The most downloads (and pieces of split downloads) fetched at once.
    pub most_at_once: u64,
}

impl Summary {
    /// The summary line for stderr: the counts (what is none of skipped, unchanged and
    /// not-started left out), the bytes, the time and rate, the mode, and the speed-up where
    /// downloads ran side by side.
    pub fn text(&self) -> String {
        let s = self;
        let t = &s.tally;
        let mut counts = format!("{} ok, {} failed", t.ok, t.failed);
        for (n, what) in [
            (t.skipped, "skipped"),
            (t.unchanged, "unchanged"),
            (t.not_started, "not-started"),
        ] {
            if n > 0 {
                counts.push_str(&format!(", {n} {what}"));
            }
        }
        // With checksums files, what none of them named (and no digest on its line checked).
        if s.checksums {
            counts.push_str(&format!(" ({} unverified)", t.unverified));
        }
        let mut line = format!(
            "{counts}; {} in {:.2}s ({}); {}",
            bytes_text(t.bytes, t.received),
            s.wall.as_secs_f64(),
            human_rate(s.rate()),
            mode_text(s),
        );
        if let Some(speedup) = s.speedup() {
            line.push_str(&format!("; speed-up {speedup:.2}x"));
        }
        line
    }

    /// The work over the wall time: how much fetching side by side bought. `None` unless
    /// downloads did run side by side (one URL, a skipped file, `--serial`): a ratio there would
    /// only measure start-up.
    pub fn speedup(&self) -> Option<f64> {
        let wall = self.wall.as_secs_f64();
        (wall > 0.0 && self.most_at_once > 1).then(|| self.work.as_secs_f64() / wall)
    }

    /// Bytes received per second over the run: what the network did, not what the files hold
    /// (a resumed file counts only its new bytes).
    pub fn rate(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall <= 0.0 {
            0.0
        } else {
            self.tally.received as f64 / wall
        }
    }
}

/// What the files hold and what crossed the network, which differ when a download was resumed,
/// retried or cut short: `12.0 MiB`, or `500.0 MiB saved, 150.0 MiB received`.
fn bytes_text(saved: u64, received: u64) -> String {
    if saved == received {
        human_bytes(saved)
    } else {
        format!(
            "{} saved, {} received",
            human_bytes(saved),
            human_bytes(received)
        )
    }
}

fn mode_text(s: &Summary) -> String {
    if s.serial {
        "serial".into()
    } else if s.workers == 1 {
        "1 worker".into()
    } else {
        format!("{} workers", s.workers)
    }
}

#[cfg(test)]
mod tests;
