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
mod tests {
    use super::*;
    use crate::outcome::Tally;
    use std::path::PathBuf;
    use std::time::Duration;

    fn outcome(ending: Ending) -> Outcome {
        Outcome {
            index: 0,
            seq: 0,
            list: crate::entry::ListName::file("urls.txt"),
            line: 2,
            url: "https://e.com/a.bin".into(),
            path: Some(PathBuf::from("out/a.bin")),
            attempts: 1,
            elapsed: Duration::from_millis(210),
            received: 4096,
            served_by: None,
            checked: false,
            ending,
        }
    }

    fn ok() -> Ending {
        Ending::Ok {
            http_status: 200,
            bytes: 12 * 1024,
            sha256: Some("ab".repeat(32)),
            length_unverified: false,
        }
    }

    fn failed(http_status: Option<u16>, error: &str) -> Ending {
        Ending::Failed {
            http_status,
            error: error.into(),
            brief: None,
            relist: String::new(),
        }
    }

    #[test]
    fn text_lines() {
        assert_eq!(
            text_line(&outcome(ok())),
            "ok          200   12.0 KiB    0.21s  out/a.bin"
        );
        assert_eq!(
            text_line(&outcome(failed(Some(404), "HTTP 404 Not Found"))),
            "failed      404          -    0.21s  out/a.bin  HTTP 404 Not Found"
        );
        let mut bad = outcome(failed(None, "urls.txt:3: unknown option 'x'"));
        bad.path = None;
        assert!(text_line(&bad).ends_with("-  urls.txt:3: unknown option 'x'"));
        let unverified = outcome(Ending::Ok {
            http_status: 200,
            bytes: 1,
            sha256: None,
            length_unverified: true,
        });
        assert!(text_line(&unverified).contains("length unverified"));
        let skipped = outcome(Ending::Skipped {
            bytes: 3,
            note: "already exists".into(),
        });
        assert_eq!(
            text_line(&skipped),
            "skipped       -        3 B    0.21s  out/a.bin  (already exists)"
        );
        let not_started = outcome(Ending::NotStarted {
            relist: String::new(),
        });
        assert!(text_line(&not_started).starts_with("not-started   -          -        -  "));
    }

    #[test]
    fn json_lines() {
        let v: serde_json::Value = serde_json::from_str(&json_line(&outcome(ok()))).unwrap();
        assert_eq!(v["type"], "result");
        assert_eq!(v["index"], 0);
        assert_eq!(v["line"], 2);
        assert_eq!(v["path"], "out/a.bin");
        assert_eq!(v["status"], "ok");
        assert_eq!(v["http_status"], 200);
        assert_eq!(v["bytes"], 12288);
        // Resumed: the file holds 12 KiB, 4 KiB of it came over the network in this run.
        assert_eq!(v["received"], 4096);
        assert_eq!(v["attempts"], 1);
        assert_eq!(v["elapsed_ms"], 210);
        assert_eq!(v["sha256"], "ab".repeat(32));
        assert_eq!(v["length_unverified"], false);
        assert!(v["error"].is_null());
        let v: serde_json::Value =
            serde_json::from_str(&json_line(&outcome(failed(Some(503), "HTTP 503")))).unwrap();
        assert_eq!(
            (v["status"].as_str(), v["error"].as_str()),
            (Some("failed"), Some("HTTP 503"))
        );
        assert!(v["sha256"].is_null());
        assert_eq!(v["bytes"], 0);
    }

    #[test]
    fn a_long_summary_breaks_between_its_fields() {
        let line = "fetchpool: 12 ok, 0 failed, 3 skipped, 1 not-started (1 unverified); \
                    1.2 GiB saved, 800.0 MiB received in 12.34s (64.8 MiB/s); 8 workers; \
                    speed-up 5.29x";
        assert!(line.len() > 110);
        let lines = fit_fields(line, 100);
        assert_eq!(
            lines,
            [
                "fetchpool: 12 ok, 0 failed, 3 skipped, 1 not-started (1 unverified);",
                "  1.2 GiB saved, 800.0 MiB received in 12.34s (64.8 MiB/s); 8 workers; speed-up 5.29x",
            ]
        );
        assert!(lines.iter().all(|l| l.len() <= 100));
        assert_eq!(fit_fields("short; line", 100), ["short; line"]);
        assert_eq!(fit_fields("a; b", 1), ["a;", "  b"], "a field is never cut");
        // "aa; bb" is 6 columns, but a break after it would make "aa; bb;" 7.
        assert_eq!(fit_fields("aa; bb; cc", 6), ["aa;", "  bb;", "  cc"]);
        assert_eq!(fit_fields("aa; bb; cc", 7), ["aa; bb;", "  cc"]);
    }

    #[test]
    fn not_started_entries_on_one_line() {
        assert_eq!(
            collapsed_line(
                4213,
                &["--failed-out again.txt".into(), "--report r.json".into()]
            ),
            "not-started   4213 entries, not shown one by one; every one is in \
             --failed-out again.txt and --report r.json"
        );
        assert!(
            collapsed_line(1, &[]).contains(" 1 entry, ")
                && collapsed_line(1, &[])
                    .ends_with("--failed-out FILE would list them for a re-run")
        );
    }

    #[test]
    fn summaries() {
        let s = Summary {
            tally: Tally {
                ok: 2,
                failed: 1,
                bytes: 3 * 1024 * 1024,
                received: 3 * 1024 * 1024,
                ..Tally::default()
            },
            wall: Duration::from_secs(2),
            workers: 8,
            serial: false,
            checksums: false,
            work: Duration::from_secs(8),
            most_at_once: 3,
        };
        assert_eq!(
            Summary::text(&s),
            "2 ok, 1 failed; 3.0 MiB in 2.00s (1.5 MiB/s); 8 workers; speed-up 4.00x"
        );
        let v: serde_json::Value = serde_json::from_str(&json_summary(&s)).unwrap();
        assert_eq!(v["type"], "summary");
        assert_eq!(v["schema"], 1);
        assert_eq!(v["total"], 3);
        assert_eq!(v["mode"], "pool");
        assert_eq!(v["workers"], 8);
        assert_eq!(v["elapsed_ms"], 2000);
        assert_eq!(v["speedup"], 4.0);
        // Nothing ran side by side (one URL, a skipped file, --serial): no speed-up to speak of.
        for one_at_a_time in [
            Summary {
                most_at_once: 1,
                ..s.clone()
            },
            Summary {
                most_at_once: 0,
                ..s.clone()
            },
            Summary {
                serial: true,
                workers: 1,
                most_at_once: 1,
                ..s.clone()
            },
        ] {
            let text = Summary::text(&one_at_a_time);
            assert!(!text.contains("speed-up"), "{text}");
            let v: serde_json::Value = serde_json::from_str(&json_summary(&one_at_a_time)).unwrap();
            assert!(v["speedup"].is_null());
        }
        let serial = Summary {
            serial: true,
            workers: 1,
            most_at_once: 1,
            ..s.clone()
        };
        assert!(Summary::text(&serial).ends_with("; serial"));
        let checked = Summary {
            tally: Tally {
                unverified: 1,
                ..s.tally.clone()
            },
            checksums: true,
            ..s.clone()
        };
        assert!(Summary::text(&checked).starts_with("2 ok, 1 failed (1 unverified); "));
        let every = Summary {
            tally: Tally {
                skipped: 4,
                unchanged: 5,
                not_started: 6,
                ..s.tally.clone()
            },
            ..s.clone()
        };
        assert!(
            Summary::text(&every)
                .starts_with("2 ok, 1 failed, 4 skipped, 5 unchanged, 6 not-started; ")
        );
        // A resumed run: the rate is what crossed the network, not the files' size.
        let resumed = Summary {
            tally: Tally {
                ok: 1,
                bytes: 500 << 20,
                received: 150 << 20,
                ..Tally::default()
            },
            wall: Duration::from_secs(3),
            workers: 8,
            serial: false,
            checksums: false,
            work: Duration::from_secs(3),
            most_at_once: 1,
        };
        assert!(
            Summary::text(&resumed)
                .contains("; 500.0 MiB saved, 150.0 MiB received in 3.00s (50.0 MiB/s);"),
            "{}",
            Summary::text(&resumed)
        );
        let v: serde_json::Value = serde_json::from_str(&json_summary(&resumed)).unwrap();
        assert_eq!(
            (v["bytes"].as_u64(), v["received"].as_u64()),
            (Some(500 << 20), Some(150 << 20))
        );
    }

    #[test]
    fn plan_lines() {
        let p = std::path::Path::new("out/a.bin");
        let line = |intent: &Intent| {
            plan_line(
                false,
                0,
                1,
                "https://e.com/a.bin",
                Planned::Entry {
                    path: p,
                    intent,
                    digests: Vec::new(),
                    mirrors: Vec::new(),
                },
            )
        };
        assert_eq!(
            line(&Intent::Download),
            "plan     https://e.com/a.bin -> out/a.bin"
        );
        assert_eq!(
            line(&Intent::Resume { from: 40_000 }),
            "plan     https://e.com/a.bin -> out/a.bin  (would resume after 39.1 KiB already there)"
        );
        assert!(line(&Intent::Skip { bytes: 3 }).ends_with("  (exists: would be skipped)"));
        assert!(line(&Intent::Replace).ends_with("  (exists: would be replaced)"));
        assert_eq!(
            line(&Intent::Fail("out/a.bin already exists".into())),
            "fail     https://e.com/a.bin -> out/a.bin  out/a.bin already exists"
        );
        let invalid = Planned::Invalid {
            error: "l:2: not a valid URL",
        };
        assert_eq!(
            plan_line(false, 1, 2, "x", invalid),
            "invalid  l:2: not a valid URL"
        );
        let intent = Intent::Resume { from: 7 };
        let v: serde_json::Value = serde_json::from_str(&plan_line(
            true,
            3,
            7,
            "u",
            Planned::Entry {
                path: p,
                intent: &intent,
                digests: vec!["md5", "sha256"],
                mirrors: vec!["https://b.example/a.bin".into()],
            },
        ))
        .unwrap();
        assert_eq!(v["digests"], json!(["md5", "sha256"]));
        assert_eq!(v["mirrors"], json!(["https://b.example/a.bin"]));
        let checked = plan_line(
            false,
            0,
            1,
            "https://e.com/a.bin",
            Planned::Entry {
                path: p,
                intent: &Intent::Download,
                digests: vec!["sha256"],
                mirrors: vec!["https://b.example/a.bin".into()],
            },
        );
        assert_eq!(
            checked,
            "plan     https://e.com/a.bin -> out/a.bin  (checked: sha256)  (mirrors: https://b.example/a.bin)"
        );
        assert_eq!(
            (v["type"].as_str(), v["index"].as_u64()),
            (Some("plan"), Some(3))
        );
        assert_eq!(v["path"], "out/a.bin");
        assert_eq!(
            (v["action"].as_str(), v["resume_from"].as_u64()),
            (Some("resume"), Some(7))
        );
    }
}
