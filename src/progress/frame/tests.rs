//! The frame and the plain line at different widths, heights and states; rates and ETAs.

use super::*;

fn task(name: &str, len: Option<u64>, pos: u64) -> TaskView {
    TaskView {
        worker: "worker-3".into(),
        name: name.into(),
        len,
        pos,
        rate: 2.0 * 1024.0 * 1024.0,
        streams: 1,
        downloads: 1,
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        elapsed: Duration::from_secs(65),
        files_done: 12,
        files_known: 40,
        files_total: Some(20),
        bytes_done: 177 << 20,
        bytes_expected: 500 << 20,
        started: 16,
        rate: 14.2 * 1024.0 * 1024.0,
        tasks: vec![
            task("big5.bin", Some(3 << 20), 1 << 20),
            TaskView {
                worker: "worker-4".into(),
                ..task(
                    "a-very-long-name-of-a-release-tarball-2026.11.23.tar.gz",
                    None,
                    5000,
                )
            },
        ],
    }
}

#[test]
fn frames_fit_the_terminal_at_any_width() {
    for width in [40, 60, 80, 120, 200] {
        let text = frame(&snapshot(), width, 30, false, 0);
        for line in text.lines() {
            let w = measure_text_width(line);
            assert!(w <= width, "{width}: {w} {line:?}");
        }
        assert_eq!(text.lines().count(), 4);
        assert_eq!(text.lines().next(), Some(""));
    }
    let wide = frame(&snapshot(), 120, 30, false, 0);
    let total = wide.lines().nth(1).unwrap();
    assert!(total.starts_with("⠋ 1m05s ["), "{total}");
    assert!(
        total.ends_with("] 12/20 files  177.0 MiB/500.0 MiB  14.2 MiB/s  ETA 36s"),
        "{total}"
    );
    let worker = wide.lines().nth(2).unwrap();
    assert!(worker.starts_with("  worker-3  big5.bin "), "{worker}");
    assert!(worker.contains("]  33%    1.0 MiB/3.0 MiB "), "{worker}");
    assert!(worker.ends_with(" 2.0 MiB/s"), "{worker}");
    let no_length = wide.lines().nth(3).unwrap();
    assert!(no_length.contains("…"), "{no_length}");
    assert!(no_length.contains(".tar.gz"), "{no_length}");
    assert!(!no_length.contains('%'), "{no_length}");
    // Very narrow: the file count stays to the last, the ETA longest after it.
    let tiny = frame(&snapshot(), 30, 30, false, 0);
    let total = tiny.lines().nth(1).unwrap();
    assert!(
        total.contains("12/20 files") && total.contains("ETA"),
        "{total}"
    );
    let tinier = frame(&snapshot(), 20, 30, false, 0);
    assert!(
        tinier.lines().nth(1).unwrap().contains("12/20 files"),
        "{tinier}"
    );
    // At 60 columns the bars go but the counts, rate and ETA stay.
    let narrow = frame(&snapshot(), 60, 30, false, 0);
    assert!(narrow.contains("12/20 files"), "{narrow}");
    assert!(narrow.contains("ETA 36s"), "{narrow}");
    assert!(narrow.contains("33%"), "{narrow}");
}

#[test]
fn colour_is_what_the_caller_says() {
    assert!(bar(0.5, 10, true).contains("\x1b[36m"));
    assert!(!bar(0.5, 10, false).contains('\x1b'));
    // Escape codes take no columns.
    let coloured = frame(&snapshot(), 80, 30, true, 0);
    for line in coloured.lines() {
        assert!(measure_text_width(line) <= 80, "{line:?}");
    }
}

#[test]
fn more_workers_than_rows() {
    let mut s = snapshot();
    s.tasks = (0..50)
        .map(|i| TaskView {
            worker: format!("worker-{i}"),
            ..task(&format!("f{i}"), None, 0)
        })
        .collect();
    let text = frame(&s, 100, 12, false, 0);
    // One row stays free below the frame.
    assert_eq!(text.lines().count(), 11, "{text}");
    assert!(text.ends_with("… and 42 more running"), "{text}");
}

#[test]
fn eta_is_in_bytes_and_counts_files_not_started() {
    let s = snapshot();
    // 323 MiB to go in running files, plus 20 - 12 - 2 waiting at 500/16 MiB each.
    let remaining = (323u64 << 20) + 6 * ((500u64 << 20) / 16);
    assert_eq!(s.bytes_remaining(), remaining);
    let eta = s.eta().unwrap();
    assert!((eta - remaining as f64 / s.rate).abs() < 1e-6);
    let done = Snapshot {
        files_done: 3,
        files_total: Some(3),
        ..Snapshot::default()
    };
    assert_eq!(done.eta(), Some(0.0));
    // No sizes at all: by files per second.
    let no_length = Snapshot {
        elapsed: Duration::from_secs(10),
        files_done: 10,
        files_total: Some(30),
        ..Snapshot::default()
    };
    assert_eq!(no_length.eta(), Some(20.0));
    assert_eq!(no_length.fraction(), 10.0 / 30.0);
    // Not in the first seconds, while connections are made and the rate is mostly waiting.
    let early = Snapshot {
        elapsed: ETA_AFTER - Duration::from_millis(100),
        ..s.clone()
    };
    assert_eq!(early.eta(), None);
    assert!(frame(&early, 120, 10, false, 0).contains("ETA -"));
}

#[test]
fn while_the_list_is_read() {
    let waiting = Snapshot::default();
    assert_eq!(waiting.files_text(), "waiting for the list");
    assert_eq!(waiting.fraction(), 0.0);
    assert_eq!(waiting.eta(), None);
    let reading = Snapshot {
        files_done: 3,
        files_known: 25,
        ..Snapshot::default()
    };
    assert_eq!(reading.files_text(), "3/25+ files");
}

#[test]
fn plain_lines_name_the_total_and_what_is_still_expected() {
    let line = plain(&snapshot());
    assert!(
        line.starts_with("fetchpool: 12/20 files (2 running), 177.0 MiB received, 323.0 MiB still expected, 14.2 MiB/s, ETA "),
        "{line}"
    );
    assert!(line.ends_with(", 1m05s elapsed"), "{line}");
}

#[test]
fn names_keep_their_ends() {
    assert_eq!(ellipsize("short.iso", 20), "short.iso");
    let cut = ellipsize("ubuntu-26.04-desktop-amd64.iso", 16);
    assert_eq!(measure_text_width(&cut), 16);
    assert!(
        cut.starts_with("ubuntu-2") && cut.ends_with("64.iso"),
        "{cut}"
    );
    let wide = ellipsize("日本語のファイル名.txt", 9);
    assert!(measure_text_width(&wide) <= 9, "{wide}");
}

#[test]
fn windows_measure_recent_rates() {
    let start = Instant::now();
    let mut w = Window::starting_at(start, 0, Duration::from_secs(3));
    assert_eq!(w.rate(start, 0), 0.0);
    // One sample after the start is enough: a plain line every 5 s has a rate.
    let mut once = Window::starting_at(start, 0, Duration::from_secs(3));
    assert_eq!(
        once.rate(start + Duration::from_secs(5), 5 << 20),
        1048576.0
    );
    // 10 MiB/s for 5 s, then 1 MiB/s: after 3 s more, the window sees only the slow part.
    let mut count = 0;
    for i in 1..=50 {
        count += 1 << 20;
        w.rate(start + Duration::from_millis(100 * i), count);
    }
    let mut rate = 0.0;
    for i in 51..=80 {
        count += 1 << 20 >> 3;
        rate = w.rate(start + Duration::from_millis(100 * i), count);
    }
    assert!((rate - 1.25 * 1048576.0).abs() < 0.1 * 1048576.0, "{rate}");
}

#[test]
fn a_split_download_shows_how_many_connections_feed_it() {
    let mut t = task("big.iso", Some(64 << 20), 32 << 20);
    assert!(!task_line(&t, 120, false).contains('×'));
    t.streams = 8;
    let line = task_line(&t, 120, false);
    assert!(line.contains("×8 ["), "{line}");
    assert!(measure_text_width(&line) <= 120, "{line}");
    // Narrow: the count stays with the percentage.
    let line = task_line(&t, 40, false);
    assert!(line.contains("×8"), "{line}");
}

#[test]
fn a_worker_with_several_downloads_in_flight_has_one_line_for_them() {
    let on = |worker: &str, name: &str| TaskView {
        worker: worker.into(),
        ..task(name, Some(4096), 1024)
    };
    let mut s = snapshot();
    s.tasks = vec![
        on("worker-1", "a.bin"),
        on("worker-2", "b.bin"),
        on("worker-1", "c.bin"),
        on("worker-1", "d.bin"),
    ];
    let text = frame(&s, 140, 40, false, 0);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[2].contains("worker-1"), "{text}");
    assert!(lines[2].contains("3 files: a.bin, c.bin, d.bin"), "{text}");
    assert!(lines[2].contains("3.0 KiB/12.0 KiB"), "{}", lines[2]);
    assert!(lines[3].contains("worker-2") && lines[3].contains("b.bin"));
    // Too many for the terminal: the rest are counted in downloads, not lines.
    let text = frame(&s, 100, 4, false, 0);
    assert!(text.ends_with("… and 4 more running"), "{text}");
}

#[test]
fn a_download_still_waiting_for_its_answer_says_so() {
    let waiting = task("data.tar.gz", None, 0);
    let line = task_line(&waiting, 100, false);
    assert!(line.contains("data.tar.gz"), "{line}");
    assert!(line.ends_with("waiting for an answer"), "{line}");
    assert!(!line.contains("0 B"), "{line}");
    // Answered without a length: its bytes, as before.
    let answered = task("data.tar.gz", Some(0), 0);
    assert!(task_line(&answered, 100, false).contains("0 B"));
    assert!(measure_text_width(&task_line(&waiting, 40, false)) <= 40);
}
