//! Tests of `render`.

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
            && collapsed_line(1, &[]).ends_with("--failed-out FILE would list them for a re-run")
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
