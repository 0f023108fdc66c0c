//! The report's lines: text and NDJSON for each outcome, the summary, the dry-run plan. Pure
//! functions over outcomes; the sink in `report` decides what to print where.

use serde_json::json;

use crate::outcome::{Ending, Intent, Outcome, Served, Status, Summary};
#[cfg(test)]
use crate::printable::fit_fields;
use crate::printable::{json_printable, printable};
use crate::units::human_bytes;

/// One text line: status, HTTP status, size, time, target path, and for failures the reason.
pub fn text_line(o: &Outcome) -> String {
    let status = o.status();
    let http = o
        .http_status()
        .map_or_else(|| "-".to_string(), |s| s.to_string());
    let size = match status {
        Status::Ok | Status::Skipped | Status::Unchanged => human_bytes(o.bytes()),
        Status::Failed | Status::NotStarted => "-".to_string(),
    };
    let time = match status {
        Status::NotStarted => "-".to_string(),
        _ => format!("{:.2}s", o.elapsed.as_secs_f64()),
    };
    let path = o
        .path
        .as_ref()
        .map_or_else(|| "-".to_string(), |p| p.display().to_string());
    let mut line = format!(
        "{:<11} {http:>3} {size:>10} {time:>8}  {path}",
        status.as_str()
    );
    if let Some(Served::Mirror(mirror)) = &o.served_by {
        line.push_str("  (from mirror ");
        line.push_str(mirror);
        line.push(')');
    }
    match &o.ending {
        Ending::Ok {
            length_unverified: true,
            ..
        } => line.push_str("  (length unverified: the server sent no Content-Length)"),
        Ending::Skipped { note, .. } => {
            line.push_str("  (");
            line.push_str(note);
            line.push(')');
        }
        Ending::Failed { .. } => {
            line.push_str("  ");
            line.push_str(o.reason().unwrap_or_default());
        }
        Ending::Unchanged {
            http_status: None, ..
        } => line.push_str("  (matches the list's size=/sha256=)"),
        Ending::Ok { .. } | Ending::Unchanged { .. } | Ending::NotStarted { .. } => {}
    }
    if o.attempts > 1 {
        line.push_str(&format!("  (after {} attempts)", o.attempts));
    }
    // What a list line, a URL or a server said is shown, never acted on by the terminal.
    printable(&line).into_owned()
}

/// One NDJSON result object (README, `--json`); field names are stable once released.
pub fn json_line(o: &Outcome) -> String {
    let (sha256, length_unverified) = match &o.ending {
        Ending::Ok {
            sha256,
            length_unverified,
            ..
        } => (sha256.as_deref(), *length_unverified),
        _ => (None, false),
    };
    let error = match &o.ending {
        Ending::Failed { error, .. } => Some(error.as_str()),
        _ => None,
    };
    let line = json!({
        "type": "result",
        "index": o.index,
        "list": o.list.shown,
        "line": o.line,
        "url": o.url,
        "path": o.path.as_ref().map(|p| p.display().to_string()),
        "status": o.status().as_str(),
        "http_status": o.http_status(),
        "bytes": o.bytes(),
        "received": o.received,
        "attempts": o.attempts,
        "elapsed_ms": o.elapsed.as_millis() as u64,
        "sha256": sha256,
        "length_unverified": length_unverified,
        "served_by": o.served_url(),
        "error": error,
    })
    .to_string();
    json_printable(line)
}

/// The NDJSON summary object that ends a `--json` report.
pub fn json_summary(s: &Summary) -> String {
    json!({
        "type": "summary",
        "schema": 1,
        "total": s.tally.total(),
        "ok": s.tally.ok,
        "failed": s.tally.failed,
        "skipped": s.tally.skipped,
        "unchanged": s.tally.unchanged,
        "not_started": s.tally.not_started,
        "unverified": s.tally.unverified,
        "bytes": s.tally.bytes,
        "received": s.tally.received,
        "elapsed_ms": s.wall.as_millis() as u64,
        "workers": s.workers,
        "mode": if s.serial { "serial" } else { "pool" },
        "speedup": s.speedup().map(|x| (x * 100.0).round() / 100.0),
    })
    .to_string()
}

/// The one line that stands for `n` entries that never started, on a terminal: how many, and
/// which report files list them (`listed_in`, as `--flag FILE`).
pub fn collapsed_line(n: usize, listed_in: &[String]) -> String {
    let entries = if n == 1 { "entry" } else { "entries" };
    let listed = match listed_in {
        [] => "--failed-out FILE would list them for a re-run".to_string(),
        files => format!("every one is in {}", files.join(" and ")),
    };
    printable(&format!(
        "not-started   {n} {entries}, not shown one by one; {listed}"
    ))
    .into_owned()
}

/// One entry of the `--dry-run` plan: where it would go and what the run would do, or why the
/// line is not an entry.
pub enum Planned<'a> {
    Entry {
        path: &'a std::path::Path,
        intent: &'a Intent,
        /// The digests the file would be checked against (`sha256`, `md5`, ...).
        digests: Vec<&'static str>,
        /// The mirrors it would be tried at, redacted.
        mirrors: Vec<String>,
    },
    Invalid {
        error: &'a str,
    },
}

/// One line of the `--dry-run` plan, safe to show.
pub fn plan_line(json: bool, index: usize, line: usize, url: &str, planned: Planned) -> String {
    let text = plan_text(json, index, line, url, planned);
    if json {
        json_printable(text)
    } else {
        printable(&text).into_owned()
    }
}

fn plan_text(json: bool, index: usize, line: usize, url: &str, planned: Planned) -> String {
    let (path, intent, digests, mirrors) = match planned {
        Planned::Invalid { error } if json => {
            return json!({
                "type": "plan", "index": index, "line": line, "url": url, "path": null,
                "action": "invalid", "error": error,
            })
            .to_string();
        }
        Planned::Invalid { error } => return format!("invalid  {error}"),
        Planned::Entry {
            path,
            intent,
            digests,
            mirrors,
        } => (path.display(), intent, digests, mirrors),
    };
    if json {
        let (action, error) = match intent {
            Intent::Download => ("download", None),
            Intent::Resume { .. } => ("resume", None),
            Intent::Replace => ("replace", None),
            Intent::Skip { .. } => ("skip", None),
            Intent::Revalidate => ("revalidate", None),
            Intent::Unchanged => ("unchanged", None),
            Intent::Fail(error) => ("fail", Some(error.as_str())),
        };
        let mut v = json!({
            "type": "plan", "index": index, "line": line, "url": url,
            "path": path.to_string(), "action": action, "error": error,
            "digests": digests, "mirrors": mirrors,
        });
        if let Intent::Resume { from } = intent {
            v["resume_from"] = json!(from);
        }
        return v.to_string();
    }
    let mut extra = String::new();
    if !digests.is_empty() {
        extra.push_str(&format!("  (checked: {})", digests.join(", ")));
    }
    if !mirrors.is_empty() {
        extra.push_str(&format!("  (mirrors: {})", mirrors.join(", ")));
    }
    let line = match intent {
        Intent::Download => format!("plan     {url} -> {path}"),
        Intent::Resume { from } => format!(
            "plan     {url} -> {path}  (would resume after {} already there)",
            human_bytes(*from)
        ),
        Intent::Replace => format!("plan     {url} -> {path}  (exists: would be replaced)"),
        Intent::Skip { .. } => format!("plan     {url} -> {path}  (exists: would be skipped)"),
        Intent::Revalidate => {
            format!("plan     {url} -> {path}  (exists: would ask the server whether it changed)")
        }
        Intent::Unchanged => {
            format!("plan     {url} -> {path}  (exists and matches the list: unchanged)")
        }
        Intent::Fail(error) => format!("fail     {url} -> {path}  {error}"),
    };
    line + &extra
}

#[cfg(test)]
mod tests;
