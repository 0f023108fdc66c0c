//! What the user reads: text and NDJSON lines for each outcome, the summary, and the redaction of
//! secrets in URLs. Pure functions over outcomes; the collector in `pool` decides when to print.

use std::time::Duration;

use serde_json::json;

use crate::download::{Outcome, Status};

/// Counts and totals over every reported outcome.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    pub not_started: usize,
    /// Bytes written by downloads that ended `ok`.
    pub bytes: u64,
    /// The sum of per-entry times: what the run would take one at a time.
    pub busy: Duration,
    /// The report was cut short because nobody reads stdout any more.
    pub stdout_closed: bool,
    /// The run was interrupted.
    pub interrupted: bool,
    /// Writing `--failed-out` failed at least once.
    pub failed_out_error: bool,
}

impl Tally {
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome.status {
            Status::Ok => {
                self.ok += 1;
                self.bytes += outcome.bytes;
            }
            Status::Failed => self.failed += 1,
            Status::Skipped => self.skipped += 1,
            Status::NotStarted => self.not_started += 1,
        }
        self.busy += outcome.elapsed;
    }

    pub fn total(&self) -> usize {
        self.ok + self.failed + self.skipped + self.not_started
    }
}

/// The run as a whole, for the last line.
#[derive(Debug, Clone)]
pub struct Summary {
    pub tally: Tally,
    pub wall: Duration,
    pub workers: usize,
    pub serial: bool,
}

impl Summary {
    /// Sum of per-entry times over wall time: how much the pool overlapped the downloads.
    pub fn speedup(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall <= 0.0 {
            return 1.0;
        }
        self.tally.busy.as_secs_f64() / wall
    }

    fn rate(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall <= 0.0 {
            0.0
        } else {
            self.tally.bytes as f64 / wall
        }
    }

    fn mode_text(&self) -> String {
        if self.serial {
            "serial".into()
        } else if self.workers == 1 {
            "1 worker".into()
        } else {
            format!("{} workers", self.workers)
        }
    }
}

/// One text line: status, HTTP status, size, time, target path, and for failures the reason.
pub fn text_line(o: &Outcome) -> String {
    let http = o
        .http_status
        .map_or_else(|| "-".to_string(), |s| s.to_string());
    let size = match o.status {
        Status::Ok | Status::Skipped => human_bytes(o.bytes),
        Status::Failed | Status::NotStarted => "-".to_string(),
    };
    let time = match o.status {
        Status::NotStarted => "-".to_string(),
        _ => format!("{:.2}s", o.elapsed.as_secs_f64()),
    };
    let path = o
        .path
        .as_ref()
        .map_or_else(|| "-".to_string(), |p| p.display().to_string());
    let mut line = format!(
        "{:<11} {http:>3} {size:>10} {time:>8}  {path}",
        o.status.as_str()
    );
    if o.length_unverified && o.status == Status::Ok {
        line.push_str("  (length unverified: the server sent no Content-Length)");
    }
    if let Some(note) = &o.note {
        line.push_str("  (");
        line.push_str(note);
        line.push(')');
    }
    if let Some(error) = &o.error {
        line.push_str("  ");
        line.push_str(error);
    }
    line
}

/// One NDJSON result object (SPEC §5); field names are stable once released.
pub fn json_line(o: &Outcome) -> String {
    json!({
        "type": "result",
        "index": o.index,
        "line": o.line,
        "url": o.url,
        "path": o.path.as_ref().map(|p| p.display().to_string()),
        "status": o.status.as_str(),
        "http_status": o.http_status,
        "bytes": o.bytes,
        "attempts": o.attempts,
        "elapsed_ms": o.elapsed.as_millis() as u64,
        "sha256": o.sha256,
        "length_unverified": o.length_unverified,
        "error": o.error,
    })
    .to_string()
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
        "not_started": s.tally.not_started,
        "bytes": s.tally.bytes,
        "elapsed_ms": s.wall.as_millis() as u64,
        "workers": s.workers,
        "mode": if s.serial { "serial" } else { "pool" },
        "speedup": (s.speedup() * 100.0).round() / 100.0,
    })
    .to_string()
}

/// The summary line for stderr.
pub fn text_summary(s: &Summary) -> String {
    let t = &s.tally;
    format!(
        "{} ok, {} failed, {} skipped, {} not-started; {} in {:.2}s ({}/s); {}; speed-up {:.2}x",
        t.ok,
        t.failed,
        t.skipped,
        t.not_started,
        human_bytes(t.bytes),
        s.wall.as_secs_f64(),
        human_bytes(s.rate() as u64),
        s.mode_text(),
        s.speedup(),
    )
}

/// One line of the `--dry-run` plan: where an entry would go, or why it cannot be run.
pub fn plan_line(
    json: bool,
    index: usize,
    line: usize,
    url: &str,
    path: Option<&std::path::Path>,
    error: Option<&str>,
) -> String {
    if json {
        return json!({
            "type": "plan",
            "index": index,
            "line": line,
            "url": url,
            "path": path.map(|p| p.display().to_string()),
            "error": error,
        })
        .to_string();
    }
    match (path, error) {
        (_, Some(error)) => format!("invalid  {error}"),
        (Some(path), None) => format!("plan     {url} -> {}", path.display()),
        (None, None) => format!("plan     {url}"),
    }
}

/// `512 B`, `12.0 KiB`, `3.4 MiB`, `1.00 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Query parameters whose values are credentials.
const SECRET_PARAMS: [&str; 9] = [
    "token",
    "access_token",
    "key",
    "api_key",
    "apikey",
    "sig",
    "signature",
    "password",
    "secret",
];

fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if SECRET_PARAMS.contains(&lower.as_str()) {
        return true;
    }
    // Presigned S3 and GCS URLs: X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, …
    (lower.starts_with("x-amz-") || lower.starts_with("x-goog-"))
        && ["signature", "credential", "token"]
            .iter()
            .any(|w| lower.contains(w))
}

/// Hides the password of `user:pass@` and the values of credential query parameters. Works on
/// raw text, so a line that failed to parse as a URL is redacted too.
pub fn redact_url(raw: &str) -> String {
    let (before_fragment, fragment) = match raw.find('#') {
        Some(i) => raw.split_at(i),
        None => (raw, ""),
    };
    let (base, query) = match before_fragment.find('?') {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(raw.len());
    // userinfo: between "://" and the first '@' of the authority.
    match base.find("://") {
        Some(start) => {
            let auth_start = start + 3;
            let auth_end = base[auth_start..]
                .find('/')
                .map_or(base.len(), |i| auth_start + i);
            let authority = &base[auth_start..auth_end];
            out.push_str(&base[..auth_start]);
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    match userinfo.find(':') {
                        Some(colon) => {
                            out.push_str(&userinfo[..colon]);
                            out.push_str(":***");
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push_str(&authority[at..]);
                }
                None => out.push_str(authority),
            }
            out.push_str(&base[auth_end..]);
        }
        None => out.push_str(base),
    }
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret_param(name) => {
                    out.push_str(name);
                    out.push_str("=***");
                }
                _ => out.push_str(pair),
            }
        }
    }
    out.push_str(fragment);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn outcome(status: Status) -> Outcome {
        Outcome {
            index: 0,
            seq: 0,
            line: 2,
            url: "https://e.com/a.bin".into(),
            path: Some(PathBuf::from("out/a.bin")),
            status,
            http_status: Some(200),
            bytes: 12 * 1024,
            attempts: 1,
            elapsed: Duration::from_millis(210),
            sha256: Some("ab".repeat(32)),
            length_unverified: false,
            error: None,
            note: None,
            relist: None,
        }
    }

    #[test]
    fn text_lines() {
        assert_eq!(
            text_line(&outcome(Status::Ok)),
            "ok          200   12.0 KiB    0.21s  out/a.bin"
        );
        let mut failed = outcome(Status::Failed);
        failed.http_status = Some(404);
        failed.error = Some("HTTP 404 Not Found".into());
        assert_eq!(
            text_line(&failed),
            "failed      404          -    0.21s  out/a.bin  HTTP 404 Not Found"
        );
        let mut bad = outcome(Status::Failed);
        bad.http_status = None;
        bad.path = None;
        bad.error = Some("urls.txt:3: unknown option 'x'".into());
        assert!(text_line(&bad).ends_with("-  urls.txt:3: unknown option 'x'"));
        let mut unverified = outcome(Status::Ok);
        unverified.length_unverified = true;
        assert!(text_line(&unverified).contains("length unverified"));
        assert!(
            text_line(&outcome(Status::NotStarted))
                .starts_with("not-started 200          -        -  ")
        );
    }

    #[test]
    fn json_lines() {
        let v: serde_json::Value = serde_json::from_str(&json_line(&outcome(Status::Ok))).unwrap();
        assert_eq!(v["type"], "result");
        assert_eq!(v["index"], 0);
        assert_eq!(v["line"], 2);
        assert_eq!(v["path"], "out/a.bin");
        assert_eq!(v["status"], "ok");
        assert_eq!(v["http_status"], 200);
        assert_eq!(v["bytes"], 12288);
        assert_eq!(v["attempts"], 1);
        assert_eq!(v["elapsed_ms"], 210);
        assert_eq!(v["length_unverified"], false);
        assert!(v["error"].is_null());
    }

    #[test]
    fn summaries() {
        let s = Summary {
            tally: Tally {
                ok: 2,
                failed: 1,
                bytes: 3 * 1024 * 1024,
                busy: Duration::from_secs(8),
                ..Tally::default()
            },
            wall: Duration::from_secs(2),
            workers: 8,
            serial: false,
        };
        assert_eq!(
            text_summary(&s),
            "2 ok, 1 failed, 0 skipped, 0 not-started; 3.0 MiB in 2.00s (1.5 MiB/s); 8 workers; speed-up 4.00x"
        );
        let v: serde_json::Value = serde_json::from_str(&json_summary(&s)).unwrap();
        assert_eq!(v["type"], "summary");
        assert_eq!(v["schema"], 1);
        assert_eq!(v["total"], 3);
        assert_eq!(v["mode"], "pool");
        assert_eq!(v["workers"], 8);
        assert_eq!(v["elapsed_ms"], 2000);
        let serial = Summary {
            serial: true,
            workers: 1,
            ..s
        };
        assert!(text_summary(&serial).contains("; serial;"));
    }

    #[test]
    fn plan_lines() {
        let p = std::path::Path::new("out/a.bin");
        assert_eq!(
            plan_line(false, 0, 1, "https://e.com/a.bin", Some(p), None),
            "plan     https://e.com/a.bin -> out/a.bin"
        );
        assert_eq!(
            plan_line(false, 1, 2, "x", None, Some("l:2: not a valid URL")),
            "invalid  l:2: not a valid URL"
        );
        let v: serde_json::Value =
            serde_json::from_str(&plan_line(true, 3, 7, "u", Some(p), None)).unwrap();
        assert_eq!(
            (v["type"].as_str(), v["index"].as_u64()),
            (Some("plan"), Some(3))
        );
        assert_eq!(v["path"], "out/a.bin");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(human_bytes(1 << 30), "1.0 GiB");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("https://user:pass@h.com/a?x=1"),
            "https://user:***@h.com/a?x=1"
        );
        assert_eq!(redact_url("https://user@h.com/"), "https://user@h.com/");
        assert_eq!(
            redact_url("https://h.com/a?token=abc&id=7&API_KEY=k&sig=s#frag"),
            "https://h.com/a?token=***&id=7&API_KEY=***&sig=***#frag"
        );
        assert_eq!(
            redact_url(
                "https://b.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=AK%2F1&X-Amz-Signature=f00&X-Amz-Security-Token=t"
            ),
            "https://b.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***"
        );
        assert_eq!(
            redact_url("https://h/o?X-Goog-Signature=s&X-Goog-Date=d"),
            "https://h/o?X-Goog-Signature=***&X-Goog-Date=d"
        );
        assert_eq!(
            redact_url("https://h/?password=p&secret=s&access_token=a&apikey=k&signature=x&key=y"),
            "https://h/?password=***&secret=***&access_token=***&apikey=***&signature=***&key=***"
        );
        // The '@' of a path is not userinfo.
        assert_eq!(redact_url("https://h.com/a:b@c"), "https://h.com/a:b@c");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
