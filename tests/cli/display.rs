//! What a user sees on stderr: the progress frame in a real (pseudo-)terminal at 120 and 60
//! columns, a clean screen after Ctrl-C, and the plain lines a CI log gets.

use std::time::{Duration, Instant};

use crate::support::pty::Pty;
use crate::support::server::{Reply, Server};
use crate::support::{TestEnv, assert_has, assert_lacks, assert_starts};
use crate::support::{lines, payload};

const LONG: &str = "a-release-tarball-whose-name-is-far-too-long-for-any-column-2026.11.23.tar.gz";

/// Four 512 KiB files (one with a long name) and two small ones.
fn corpus() -> TestEnv {
    let server = Server::start(|req| match req.path() {
        p if p.starts_with("/small") => Reply::ok("small"),
        _ => Reply::ok(payload(512 * 1024, 9)),
    });
    let urls = [
        server.url(&format!("/{LONG}")),
        server.url("/b1.bin"),
        server.url("/b2.bin"),
        server.url("/b3.bin"),
        server.url("/small1"),
        server.url("/small2"),
    ];
    let env = TestEnv::new().with(server);
    env.list(&urls);
    env
}

/// Polls the screen until `ready` holds (up to 10 s).
fn screen_when(pty: &Pty, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let screen = pty.screen();
        if ready(&screen) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "never ready:\n{}",
            screen.join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_frame_fits_the_terminal_and_ctrl_c_leaves_a_clean_screen() {
    for cols in [120u16, 60] {
        let env = corpus();
        let mut cmd = env.std_cmd();
        cmd.args(["urls.txt", "-o", "out", "-j", "2", "--limit-rate", "256K"])
            .env("TERM", "xterm");
        let mut pty = Pty::spawn(cmd, cols, 24);
        // Both workers busy, rates measured.
        let screen = screen_when(&pty, |s| {
            s.iter().filter(|r| r.starts_with("  worker-")).count() == 2
                && s.iter().any(|r| r.contains(" KiB/s"))
        });
        let text = screen.join("\n");
        // The list was counted up front: the total is there from the start.
        let total = screen
            .iter()
            .find(|r| r.contains(" files"))
            .unwrap_or_else(|| panic!("{cols}: no total line:\n{text}"));
        assert_has(total, "/6 files");
        assert_has(total, "ETA ");
        assert_has(total, "/s");
        // Bytes done of bytes expected, in the report's units.
        assert!(
            total.contains(" KiB/") || total.contains(" MiB/"),
            "{cols}: {total}"
        );
        let workers: Vec<&String> = screen
            .iter()
            .filter(|r| r.starts_with("  worker-"))
            .collect();
        for worker in &workers {
            assert!(worker.contains('%'), "{cols}: {worker}");
        }
        // The long name is cut in the middle, keeping its extension.
        assert!(
            workers
                .iter()
                .any(|w| w.contains('…') && w.contains(".tar.gz")),
            "{cols}:\n{text}"
        );
        // Every line of the frame fits: one too long would spill into the row below it.
        for row in screen.iter().filter(|r| !r.is_empty()) {
            let spinner = row.starts_with(|c| ('\u{2800}'..='\u{28ff}').contains(&c));
            assert!(
                spinner || row.starts_with("  worker-"),
                "{cols}: {row:?}\n{text}"
            );
        }

        pty.ctrl_c();
        let (out, screen) = pty.wait();
        assert_eq!(out.status.code(), Some(130), "{cols}");
        let text = screen.join("\n");
        // Nothing of the frame is left: only the summary (and the echoed ^C, if anywhere).
        assert!(!text.contains("files"), "{cols}: stale frame:\n{text}");
        assert!(!text.contains("worker-"), "{cols}: stale frame:\n{text}");
        assert!(!text.contains('%'), "{cols}: stale frame:\n{text}");
        assert_has(&text, "(interrupted)");
        // And the report on stdout has every entry.
        assert_eq!(lines(&out.stdout).len(), 6, "{cols}");
    }
}

#[test]
fn a_finished_run_leaves_only_the_summary() {
    let env = corpus();
    let mut cmd = env.std_cmd();
    cmd.args(["urls.txt", "-o", "out", "-j", "4", "--limit-rate", "4M"])
        .env("TERM", "xterm");
    let (out, screen) = Pty::spawn(cmd, 80, 24).wait();
    assert_eq!(out.status.code(), Some(0));
    // Only the summary line is left, over as many rows as it takes at 80 columns.
    let shown: String = screen
        .iter()
        .filter(|r| !r.is_empty())
        .map(String::as_str)
        .collect();
    assert_starts(&shown, "fetchpool: 6 ok, 0 failed");
    assert_has(&shown, "speed-up ");
    assert!(
        !shown.contains("files") && !shown.contains("worker-"),
        "{screen:#?}"
    );
}

#[test]
fn without_a_terminal_plain_lines_name_the_total_and_what_is_still_expected() {
    let env = TestEnv::new().handle(|req| match req.path() {
        "/small" => Reply::ok("small"),
        _ => Reply::ok(payload(3 << 20, 4)),
    });
    // 6 MiB at 1 MiB/s: one plain line after 5 s.
    let urls = env.urls(&["/big1", "/big2", "/small"]);
    let run = env.fetch(&urls, &["-j", "2", "--limit-rate", "1M"]);
    assert_eq!(run.code, 0);
    let plain = run.stderr.lines().find(|l| l.contains(" files"));
    let plain = plain.unwrap_or_else(|| panic!("no progress line: {}", run.stderr));
    // The list's total, known from the start; which files are done by 5 s is the throttle's call.
    assert_starts(plain, "fetchpool: ");
    let running = ["/3 files (1 running), ", "/3 files (2 running), "];
    assert!(running.iter().any(|r| plain.contains(r)), "{plain}");
    assert_has(plain, " still expected, ");
    assert_has(plain, " received, ");
    assert_has(plain, "ETA ");
    assert_lacks(&run.stderr, "\x1b"); // no escape codes without a terminal
}

#[test]
fn after_ctrl_c_the_entries_that_never_started_are_one_line_on_a_terminal() {
    let env = TestEnv::new().handle(|_| Reply::ok("x").delay(Duration::from_secs(5)));
    let server = env.server();
    let urls: Vec<String> = (0..3000).map(|i| server.url(&format!("/f{i}"))).collect();
    env.list(&urls);
    for (extra, listed) in [
        (
            &["--failed-out", "again.txt"][..],
            "every one is in --failed-out again.txt",
        ),
        (
            &["-q"][..],
            "--failed-out FILE would list them for a re-run",
        ),
    ] {
        let mut cmd = env.std_cmd();
        cmd.args(["urls.txt", "-o", "out", "-j", "2"])
            .args(extra)
            .env("TERM", "xterm");
        let asked = server.request_count();
        let mut pty = Pty::spawn_all(cmd, 100, 24);
        // Both workers are waiting for an answer (-q draws no frame to wait for).
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.request_count() < asked + 2 {
            assert!(Instant::now() < deadline, "{:?}", pty.screen());
            std::thread::sleep(Duration::from_millis(20));
        }
        pty.ctrl_c();
        let transcript = pty.transcript();
        let (out, screen) = pty.wait();
        assert_eq!(out.status.code(), Some(130));
        let text = screen.join("\n");
        let all = format!("{transcript}{text}");
        // No line per entry that never started scrolled by: one line counts them.
        assert_lacks(&all, "not-started   -");
        assert!(
            text.contains(&format!(
                "not-started   2998 entries, not shown one by one; {listed}"
            )),
            "{text}"
        );
        // The two that were cut are shown as ever, and the summary (not with -q) counts every
        // entry.
        assert_eq!(text.matches("  interrupted\n").count(), 2, "{text}");
        let quiet = extra.contains(&"-q");
        assert_eq!(text.contains(", 2998 not-started;"), !quiet, "{text}");
    }
    // Every report file keeps them all, one by one.
    assert_eq!(env.text("again.txt").lines().count(), 3000);
}
