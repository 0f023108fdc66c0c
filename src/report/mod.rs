//! The report: what the user reads of each outcome and of the run. The [`Reporter`] is the sink
//! the pool hands outcomes to in list order; it chooses text, NDJSON or quiet, keeps
//! `--failed-out`, `--report`, `--junit` and the GitHub Actions annotations, tallies, and ends
//! with the summary. `render` makes the lines; `junit` and `github` the CI formats.

mod github;
mod junit;
mod render;

use std::io::{self, IsTerminal, Write};

use std::sync::Arc;

use crate::config::{Config, Mode};
use crate::cookies::JarFile;
use crate::entry::{Entry, Item};
use crate::list::{Entries, ListSource, Sources};
use crate::outcome::{Intent, Outcome, Status, Summary, Tally, shown_path};
use crate::printable::fit_fields;
use crate::progress::Progress;
use crate::redact::redact_url;
use crate::staged::{Sink, Staged, finish_all};

/// Where outcomes go, in list order.
pub struct Reporter<'a> {
    json: bool,
    quiet: bool,
    /// How the run was scheduled, for the summary: worker count and whether serial.
    workers: usize,
    serial: bool,
    /// `--checksums` was given.
    checksums: bool,
    progress: &'a Progress,
    /// `--failed-out`, `--report`, `--junit`, GitHub's annotations and `--save-cookies`: told
    /// every outcome, finished with the summary.
    files: Vec<Box<dyn Sink>>,
    tally: Tally,
    /// Nobody reads stdout any more; nothing more is printed there.
    stdout_closed: bool,
    /// Text on a terminal: entries that never started are counted on one line at the end, not
    /// shown one by one (after Ctrl-C they are thousands).
    collapse: bool,
    /// Not-started entries counted and not shown.
    collapsed: usize,
    /// The report files that list every entry, as `--flag FILE`.
    listed_in: Vec<String>,
}

impl<'a> Reporter<'a> {
    /// Opens `--failed-out`, `--report` and `--junit` (a fatal error if one cannot be created:
    /// nothing has run yet).
    pub fn new(config: &Config, progress: &'a Progress) -> anyhow::Result<Reporter<'a>> {
        let reserved = &config.download.reserved;
        let mut files: Vec<Box<dyn Sink>> = Vec::new();
        if let Some(path) = &config.failed_out {
            let out = Staged::create(path, "--failed-out", 0o600, reserved)?;
            files.push(Box::new(FailedOut(out)));
        }
        if let Some(path) = &config.report {
            let out = Staged::create(path, "--report", 0o644, reserved)?;
            files.push(Box::new(Ndjson(out)));
        }
        if let Some(path) = &config.junit {
            let suite = suite_name(&config.lists);
            files.push(Box::new(junit::Junit::create(path, &suite, reserved)?));
        }
        if let Some(github) = github::Github::from_env(&suite_name(&config.lists)) {
            files.push(Box::new(github));
        }
        if let Some(path) = &config.save_cookies {
            let jar = Arc::clone(&config.download.cookies);
            files.push(Box::new(JarFile::create(path, jar, reserved)?));
        }
        Ok(Reporter {
            json: config.json,
            quiet: config.quiet,
            workers: config.workers(),
            serial: config.mode == Mode::Serial,
            checksums: !config.checksums.is_empty(),
            progress,
            files,
            tally: Tally::default(),
            stdout_closed: false,
            collapse: !config.json && io::stdout().is_terminal(),
            collapsed: 0,
            listed_in: [
                ("--failed-out", &config.failed_out),
                ("--report", &config.report),
                ("--junit", &config.junit),
            ]
            .into_iter()
            .filter_map(|(flag, path)| Some(format!("{flag} {}", path.as_ref()?.display())))
            .collect(),
        })
    }

    /// Reports the next outcome in list order. Returns false once nobody reads the report any
    /// more (`fetchpool list | head`): the run should start nothing new and end quietly.
    pub fn report(&mut self, outcome: &Outcome) -> bool {
        self.tally.add(outcome);
        let progress = self.progress;
        for file in &mut self.files {
            file.add(outcome, &mut |line| progress.println(line));
        }
        if self.collapse && outcome.status() == Status::NotStarted {
            self.collapsed += 1;
            return !self.stdout_closed;
        }
        let hidden = self.quiet
            && matches!(
                outcome.status(),
                Status::Ok | Status::Skipped | Status::Unchanged
            );
        if self.stdout_closed || hidden {
            return !self.stdout_closed;
        }
        let line = if self.json {
            render::json_line(outcome)
        } else {
            render::text_line(outcome)
        };
        if self.progress.suspend(|| print_line(&line)).is_err() {
            self.stdout_closed = true;
        }
        !self.stdout_closed
    }

    /// Ends the report: the JSON summary on stdout, the progress cleared, the summary line on
    /// stderr. `interrupted` says whether a signal cut the run short.
    pub fn finish(mut self, wall: std::time::Duration, interrupted: bool) -> Summary {
        self.tally.interrupted = interrupted;
        let side_by_side = self.progress.side_by_side();
        let mut summary = Summary {
            tally: self.tally,
            wall,
            workers: self.workers,
            serial: self.serial,
            checksums: self.checksums,
            work: side_by_side.work,
            most_at_once: side_by_side.most,
        };
        self.progress.finish();
        if self.collapsed > 0 && !self.stdout_closed {
            let _ = print_line(&render::collapsed_line(self.collapsed, &self.listed_in));
        }
        if self.json && !self.quiet && !self.stdout_closed {
            let _ = print_line(&render::json_summary(&summary));
        }
        let progress = self.progress;
        let files = std::mem::take(&mut self.files);
        if finish_all(files, &summary, &mut |line| progress.println(line)) {
            summary.tally.report_lost = true;
        }
        let tally = &summary.tally;
        if tally.total() == 0 && !tally.interrupted {
            self.progress
                .println("fetchpool: the list has no entries; nothing to do");
        } else if !self.quiet {
            let interrupted = if tally.interrupted {
                " (interrupted)"
            } else {
                ""
            };
            // Through the progress writer, which ignores a closed stderr (`2>&1 | head`); broken
            // between fields where a terminal (or a log at 100 columns) would break a field.
            let line = format!("fetchpool: {}{interrupted}", summary.text());
            for part in fit_fields(&line, self.progress.width()) {
                self.progress.println(&part);
            }
        }
        summary
    }
}

/// `--dry-run`: the plan, entry by entry, with no request made and no file touched: where each
/// entry would go and what the run would do there (`intent` decides, from what is on disk).
/// Bad lines are shown as they would be reported. Returns how many entries a real run would
/// fail (bad lines included).
pub fn plan(mut entries: Entries, config: &Config, intent: impl Fn(&Entry) -> Intent) -> usize {
    let mut out = io::stdout().lock();
    let output_dir = &config.download.output_dir;
    let mut failing = 0;
    for item in entries.by_ref() {
        let line = match &item {
            Item::Entry(entry) => {
                let url = redact_url(entry.url.as_str());
                let path = shown_path(output_dir, &entry.target);
                let intent = intent(entry);
                if matches!(intent, Intent::Fail(_)) {
                    failing += 1;
                }
                let options = &entry.options;
                let planned = render::Planned::Entry {
                    path: &path,
                    intent: &intent,
                    digests: options.digests.iter().map(|(a, _)| a.key()).collect(),
                    mirrors: options
                        .mirrors
                        .iter()
                        .map(|m| redact_url(m.as_str()))
                        .collect(),
                };
                render::plan_line(config.json, entry.index, entry.line, &url, planned)
            }
            Item::Bad(b) => {
                failing += 1;
                let planned = render::Planned::Invalid { error: &b.error };
                render::plan_line(config.json, b.index, b.line, &b.text, planned)
            }
        };
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    if let Some(warning) = entries.ignored_warning() {
        eprintln!("fetchpool: {warning}");
    }
    failing
}

/// Refuses, before anything is fetched, a run whose report file (one that lies inside the output
/// directory) an entry would download to. Only where the whole list can be read up front: every
/// list a regular file (standard input or a named pipe would be used up by the reading, and
/// there each such entry fails in its turn instead); not in a dry run, which shows it.
pub fn refuse_clashes(config: &Config) -> anyhow::Result<()> {
    let policy = &config.download;
    let read_twice = config.lists.iter().all(|l| match l {
        ListSource::File(path) => std::fs::metadata(path).is_ok_and(|m| m.is_file()),
        ListSource::Url { .. } => true,
        ListSource::Stdin => false,
    });
    if policy.reserved.is_empty() || config.dry_run || !read_twice {
        return Ok(());
    }
    let sources = Sources {
        count: false,
        ..config.sources()
    };
    // A signal ends the reading: the run that follows starts nothing.
    let entries = crate::list::open(&sources)?.take_while(|_| !crate::interrupt::requested());
    for item in entries {
        if let Item::Entry(entry) = item
            && let Some(report) = policy.reserved_by(&entry.target)
        {
            let shown = shown_path(&policy.output_dir, &entry.target);
            anyhow::bail!(
                "{}:{}: {}",
                entry.list.shown,
                entry.line,
                report.clash(&shown)
            );
        }
    }
    Ok(())
}

/// What a report calls the whole run: its list's file name, or `fetchpool` for several sources.
fn suite_name(lists: &[crate::list::ListSource]) -> String {
    match lists {
        [one] => one.name().file_name,
        _ => "fetchpool".to_string(),
    }
}

/// One line on stdout, flushed at once so a pipe sees each entry as it is reported.
fn print_line(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// `--failed-out FILE`: every entry that failed or never started, as a list to run again.
struct FailedOut(Staged);

impl Sink for FailedOut {
    fn add(&mut self, outcome: &Outcome, _say: &mut dyn FnMut(&str)) {
        if let Some(line) = outcome.relist() {
            self.0.write_line(line);
        }
    }

    fn finish(mut self: Box<Self>, _summary: &Summary) -> Result<(), String> {
        self.0.place()
    }
}

/// `--report FILE`: the NDJSON of `--json`, whatever stdout shows.
struct Ndjson(Staged);

impl Sink for Ndjson {
    fn add(&mut self, outcome: &Outcome, _say: &mut dyn FnMut(&str)) {
        self.0.write_line(&render::json_line(outcome));
    }

    fn finish(mut self: Box<Self>, summary: &Summary) -> Result<(), String> {
        self.0.write_line(&render::json_summary(summary));
        self.0.place()
    }
}
