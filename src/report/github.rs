//! GitHub Actions, when `GITHUB_ACTIONS=true`: an `::error` workflow command per failed entry,
//! which the runner shows as an annotation on the list's line, and, when `GITHUB_STEP_SUMMARY`
//! names a file, a Markdown summary appended to it. Nothing of this happens anywhere else.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::outcome::{Outcome, Summary};
use crate::printable::printable;
use crate::staged::Sink;
use crate::units::{human_bytes, human_rate};

/// Failures listed in the step summary, at most: GitHub caps a summary at 1 MiB.
const SUMMARY_ROWS: usize = 200;

pub struct Github {
    /// What the step summary's heading calls the run (its list, or `fetchpool`).
    list: String,
    summary: Option<PathBuf>,
    failures: Vec<String>,
    more_failures: usize,
}

impl Github {
    /// The GitHub Actions sink, if the environment says this is GitHub Actions.
    pub fn from_env(list: &str) -> Option<Github> {
        if std::env::var_os("GITHUB_ACTIONS").is_none_or(|v| v != "true") {
            return None;
        }
        Some(Github {
            list: list.to_string(),
            summary: std::env::var_os("GITHUB_STEP_SUMMARY")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            failures: Vec::new(),
            more_failures: 0,
        })
    }
}

impl Sink for Github {
    /// The `::error` line for a failed entry, on stderr (the runner reads workflow commands
    /// there too, and stdout stays the report, NDJSON with --json); remembered for the summary.
    fn add(&mut self, o: &Outcome, say: &mut dyn FnMut(&str)) {
        let Some(error) = o.reason() else {
            return;
        };
        if self.failures.len() < SUMMARY_ROWS {
            let path = o
                .path
                .as_ref()
                .map_or_else(|| "-".into(), |p| p.display().to_string());
            self.failures.push(format!(
                "| {} | {} | {} | {} |",
                o.line,
                cell(&o.url),
                cell(&path),
                cell(error)
            ));
        } else {
            self.more_failures += 1;
        }
        let list = o.list.is_file.then_some(o.list.shown.as_str());
        say(&error_command(list, o.line, &format!("{}: {error}", o.url)));
    }

    /// Appends the Markdown summary to `GITHUB_STEP_SUMMARY`, if set.
    fn finish(self: Box<Self>, summary: &Summary) -> Result<(), String> {
        self.append_summary(summary)
            .map_err(|e| format!("could not append to GITHUB_STEP_SUMMARY: {e}"))
    }

    /// A summary that could not be appended does not fail the run: it is a courtesy, not a
    /// report the run was asked for.
    fn counts(&self) -> bool {
        false
    }
}

impl Github {
    fn append_summary(&self, summary: &Summary) -> io::Result<()> {
        let Some(path) = &self.summary else {
            return Ok(());
        };
        let t = &summary.tally;
        let mut md = String::new();
        let _ = writeln!(md, "### fetchpool: {}\n", self.list);
        let _ = writeln!(
            md,
            "| ok | failed | skipped | unchanged | not started | bytes | received | time |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} s ({}) |",
            t.ok,
            t.failed,
            t.skipped,
            t.unchanged,
            t.not_started,
            human_bytes(t.bytes),
            human_bytes(t.received),
            summary.wall.as_secs_f64(),
            human_rate(summary.rate())
        );
        if t.interrupted {
            md.push_str("\nThe run was interrupted.\n");
        }
        if !self.failures.is_empty() {
            md.push_str("\n| line | URL | target | reason |\n|---:|---|---|---|\n");
            for row in &self.failures {
                md.push_str(row);
                md.push('\n');
            }
            if self.more_failures > 0 {
                let _ = writeln!(md, "\n… and {} more failures.", self.more_failures);
            }
        }
        md.push('\n');
        let mut file = OpenOptions::new().append(true).create(true).open(path)?;
        file.write_all(md.as_bytes())
    }
}

/// `::error file=LIST,line=N,title=fetchpool::MESSAGE`, escaped as the runner unescapes it.
/// The `::error` command for a failure at `line` of the list file `list`; one from the command
/// line or standard input points at no file.
pub fn error_command(list: Option<&str>, line: usize, message: &str) -> String {
    let place = match list {
        Some(list) => format!("file={},line={line},", escape_property(list)),
        None => String::new(),
    };
    format!("::error {place}title=fetchpool::{}", escape_data(message))
}

fn escape_data(text: &str) -> String {
    printable(text)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Text in a Markdown table cell: no line breaks, no column separators, no HTML.
fn cell(text: &str) -> String {
    printable(text)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_are_escaped() {
        assert_eq!(
            error_command(
                Some("dir,a:b/urls.txt"),
                7,
                "https://h/x?a=1%2: HTTP 404\nsecond"
            ),
            "::error file=dir%2Ca%3Ab/urls.txt,line=7,title=fetchpool::https://h/x?a=1%252: HTTP 404\\nsecond"
        );
        assert_eq!(cell("a|b\nc<d>"), "a\\|b\\\\nc&lt;d>");
        // A list line's escape sequence is shown, not sent to the runner's log viewer.
        assert_eq!(
            error_command(Some("urls.txt"), 1, "x\u{1b}]0;t\u{7}"),
            "::error file=urls.txt,line=1,title=fetchpool::x\\x1b]0;t\\x07"
        );
    }
}
