//! `--junit FILE`: a JUnit XML report, as Jenkins, GitLab and the GitHub test-report actions read
//! it: one `testsuite` for the list, one `testcase` per entry (name: the target path; classname:
//! the list's file name; time), a `failure` with the reason for failed entries, `skipped` for
//! entries that were not started.
//!
//! The suite's counts come first in the file but are known only at the end, so testcases are
//! streamed to a scratch file beside FILE and the report is put together when the run ends:
//! memory does not grow with the list.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::outcome::{Ending, Outcome, Summary};
use crate::printable::xml as escape;
use crate::staged::Reserved;
use crate::staged::{Sink, Staged};

pub struct Junit {
    /// FILE, written when the run ends.
    out: Staged,
    suite: String,
    /// The testcases so far, in a scratch file beside FILE.
    cases: BufWriter<File>,
    scratch: PathBuf,
    /// A testcase could not be written: FILE would be short of it.
    broken: bool,
}

impl Junit {
    /// Starts the report for a list called `suite`; fails (before anything runs) if FILE's
    /// directory cannot take it.
    pub fn create(path: &Path, suite: &str, reserved: &[Arc<Reserved>]) -> anyhow::Result<Junit> {
        let out = Staged::create(path, "--junit", 0o644, reserved)?;
        let scratch = out.scratch("cases");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&scratch)
            .with_context(|| format!("cannot create --junit {}", path.display()))?;
        Ok(Junit {
            out,
            suite: suite.to_string(),
            cases: BufWriter::new(file),
            scratch,
            broken: false,
        })
    }
}

impl Sink for Junit {
    fn add(&mut self, outcome: &Outcome, _say: &mut dyn FnMut(&str)) {
        if self.cases.write_all(testcase(outcome).as_bytes()).is_err() {
            self.broken = true;
        }
    }

    /// Writes FILE: the counts, then the testcases; what went wrong, if anything did.
    fn finish(mut self: Box<Self>, summary: &Summary) -> Result<(), String> {
        if self.broken {
            return Err(self.out.lost());
        }
        let copied = (|| {
            self.cases.flush()?;
            let mut cases = self.cases.get_ref().try_clone()?;
            cases.rewind()?;
            let out = &mut self.out.file;
            out.write_all(header(summary, &self.suite).as_bytes())?;
            io::copy(&mut cases, out)?;
            out.write_all(b"  </testsuite>\n</testsuites>\n")
        })();
        copied.map_err(|_| self.out.lost())?;
        self.out.place()
    }
}

impl Drop for Junit {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.scratch);
    }
}

fn header(summary: &Summary, suite: &str) -> String {
    let t = &summary.tally;
    let time = seconds(summary.wall);
    let tests = t.total();
    let suite = escape(suite);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"fetchpool\" tests=\"{tests}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{time}\">\n  \
         <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{time}\">\n",
        t.failed, t.not_started, t.failed, t.not_started
    )
}

/// One entry as a `<testcase>` element, its classname the file its line is in.
pub fn testcase(o: &Outcome) -> String {
    let list = &o.list.file_name;
    // A bad line has no target: it is named by its place in the list.
    let name = match &o.path {
        Some(path) => path.display().to_string(),
        None => format!("{list}:{}", o.line),
    };
    let mut xml = format!(
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
        escape(&name),
        escape(list),
        seconds(o.elapsed)
    );
    match &o.ending {
        Ending::Ok { .. } => xml.push_str("/>\n"),
        Ending::Unchanged { .. } => xml.push_str(
            ">\n      <system-out>unchanged: the file in place is current</system-out>\n    </testcase>\n",
        ),
        Ending::Skipped { note, .. } => {
            // Passed: the file is there. Say why nothing was fetched.
            let _ = write!(
                xml,
                ">\n      <system-out>skipped: {}</system-out>\n    </testcase>\n",
                escape(note)
            );
        }
        Ending::Failed {
            http_status, error, ..
        } => {
            let kind = match http_status {
                Some(status) => format!("HTTP {status}"),
                None => "error".to_string(),
            };
            let _ = write!(
                xml,
                ">\n      <failure message=\"{}\" type=\"{}\">{}\nline {}: {}</failure>\n    </testcase>\n",
                escape(error),
                escape(&kind),
                escape(error),
                o.line,
                escape(&o.url)
            );
        }
        Ending::NotStarted { .. } => {
            xml.push_str(">\n      <skipped message=\"not started\"/>\n    </testcase>\n")
        }
    }
    xml
}

fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{1}y\u{0}\u{1b}"), "x\\x01y\\x00\\x1b");
        assert_eq!(escape("\u{FFFF}"), "\u{FFFD}");
        assert_eq!(escape("l1\nl2"), "l1\\nl2");
        assert_eq!(escape("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(escape("日本"), "日本");
    }
}
