//! A batch that tells the truth after Ctrl-C: every entry of the list is reported (the rest as
//! not-started), `--failed-out` holds exactly what a re-run must fetch, and the byte counts say
//! what crossed the network.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::server::{Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has, interrupt, wait_until};
use crate::support::{json, wait_for};

/// A server that answers `/fN` with `body N`, slowly while `slow` is set.
fn switchable_server(slow: Arc<AtomicBool>) -> Server {
    Server::start(move |req| {
        let reply = Reply::ok(format!("body {}", req.path()));
        if slow.load(Ordering::SeqCst) {
            reply.delay(Duration::from_millis(150))
        } else {
            reply
        }
    })
}

#[test]
fn ctrl_c_reports_every_entry_and_failed_out_finishes_the_batch() {
    const N: usize = 400;
    for mode in [&["-j", "3"][..], &["--serial"][..]] {
        let env = TestEnv::new();
        let slow = Arc::new(AtomicBool::new(true));
        let server = switchable_server(Arc::clone(&slow));
        let mut urls: Vec<String> = (0..N).map(|i| server.url(&format!("/f{i}"))).collect();
        urls.insert(7, "ftp://nowhere/bad".into());
        env.list(&urls);
        let mut args = vec!["--json", "--failed-out", "rest.txt"];
        args.extend_from_slice(mode);
        let child = env.spawn(&args);
        wait_for(&env.join("out/f3"));
        let run = interrupt(child);
        assert!(
            run.took < Duration::from_secs(5),
            "{mode:?}: took {:?}",
            run.took
        );
        assert_eq!(run.code, 130, "{mode:?}");

        // A result per entry, in list order, then the summary with the list's total.
        let report = run.results();
        assert_eq!(report.len(), N + 2, "{mode:?}");
        for (i, result) in report[..=N].iter().enumerate() {
            assert_eq!(result["type"], "result");
            assert_eq!(result["index"], i, "{mode:?}");
        }
        let summary = &report[N + 1];
        assert_eq!(summary["total"], N + 1, "{summary}");
        let count = |status: &str| report.iter().filter(|r| r["status"] == status).count();
        let (ok, failed, not_started) = (count("ok"), count("failed"), count("not-started"));
        assert!((4..N / 2).contains(&ok), "{mode:?}: {ok} ok");
        assert!(not_started > N / 2, "{mode:?}: {not_started} not started");
        assert_eq!(ok + failed + not_started, N + 1);
        assert_eq!(summary["ok"], ok);
        assert_eq!(summary["not_started"], not_started);

        // --failed-out holds exactly what is left: the entries that did not end ok (the bad
        // line commented out), so running it finishes the batch.
        let rest = env.text("rest.txt");
        let relisted: Vec<&str> = rest.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(relisted.len(), N - ok, "{mode:?}");
        slow.store(false, Ordering::SeqCst);
        let out = env.cmd().args(["rest.txt", "-o", "out"]).run();
        assert_eq!(out.code, 0, "{mode:?}: {out:?}");
        let mut files = env.out_files();
        files.sort();
        let mut want: Vec<String> = (0..N).map(|i| format!("f{i}")).collect();
        want.sort();
        assert_eq!(files, want, "{mode:?}");
        for i in [0, N / 2, N - 1] {
            let body = env.file(format!("out/f{i}"));
            assert_eq!(body, format!("body /f{i}").as_bytes());
        }
    }
}

#[test]
fn ctrl_c_on_a_piped_list_reports_the_lines_that_arrived() {
    let env = TestEnv::new().with(switchable_server(Arc::new(AtomicBool::new(true))));
    let mut child = env.spawn_reading_stdin(&["-j", "2", "--failed-out", "rest.txt"]);
    // 60 lines, then the producer goes quiet without closing the pipe.
    let mut stdin = child.stdin.take().unwrap();
    use std::io::Write as _;
    for url in env.urls_of(60, |i| format!("/f{i}")) {
        writeln!(stdin, "{url}").unwrap();
    }
    stdin.flush().unwrap();
    wait_for(&env.join("out/f1"));
    std::thread::sleep(Duration::from_millis(200));
    let run = interrupt(child);
    drop(stdin);
    assert!(run.took < Duration::from_secs(5), "took {:?}", run.took);
    assert_eq!(run.code, 130);
    assert_eq!(run.report.len(), 60, "{:?}", run.report);
    let ok = run.report.iter().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(env.text("rest.txt").lines().count(), 60 - ok);
    assert_has(&run.stderr, "not-started");
}

#[test]
fn received_counts_what_crossed_the_network() {
    // A resumed download: the file holds 100,000 bytes, 60,000 of them came in this run.
    let body = crate::support::payload(100_000, 21);
    let env = TestEnv::new().with(Server::versioned(&body, "\"v1\""));
    env.plant_part("out/big.bin.part", &body[..40_000], "\"v1\"", 100_000);
    let run = env.fetch(&[env.url("/big.bin")], &["-c", "--json"]);
    assert_eq!(run.code, 0, "{:?}", run.report);
    for v in [run.json(0), run.json(1)] {
        assert_eq!(v["bytes"], 100_000, "{v}");
        assert_eq!(v["received"], 60_000, "{v}");
    }
    // In text, both, and the rate from what was received.
    std::fs::remove_file(env.join("out/big.bin")).unwrap();
    env.plant_part("out/big.bin.part", &body[..40_000], "\"v1\"", 100_000);
    let run = env.run(&["-c"]);
    assert_eq!(run.code, 0);
    assert_has(&run.stderr, "97.7 KiB saved, 58.6 KiB received in ");
}

#[test]
fn an_interrupted_download_counts_what_it_got_though_nothing_was_saved() {
    let env = TestEnv::new().handle(|_| {
        let stalls = crate::support::server::Body::Stall(50_000);
        Reply::ok(crate::support::payload(200_000, 3)).framing(stalls)
    });
    env.list(&[env.url("/stuck")]);
    let child = env.spawn(&["--json"]);
    wait_for(&env.join("out/stuck.part"));
    std::thread::sleep(Duration::from_millis(300));
    let run = interrupt(child);
    assert_eq!(run.json(0)["status"], "failed");
    assert_eq!(run.json(0)["received"], 50_000);
    assert_eq!(run.json(1)["bytes"], 0);
    assert_eq!(run.json(1)["received"], 50_000);
}

#[test]
fn a_signal_while_the_checksums_file_is_fetched_still_reports_every_entry() {
    for signal in ["INT", "TERM"] {
        let env = TestEnv::new();
        let server = Server::start(|req| match req.path() {
            "/SHA256SUMS" => Reply::ok("").delay(Duration::from_secs(30)),
            _ => Reply::ok("a file"),
        });
        env.list(&[server.url("/a"), server.url("/b")]);
        let sums = server.url("/SHA256SUMS");
        let reports = [
            "--report",
            "r.ndjson",
            "--junit",
            "r.xml",
            "--failed-out",
            "rest.txt",
            "--timeline",
            "t.svg",
        ];
        let mut args = vec!["--checksums", sums.as_str()];
        args.extend(reports);
        let child = env.spawn(&args);
        wait_until("never asked for the checksums", || {
            server.request_count() > 0
        });
        let sent = std::time::Instant::now();
        let killed = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "{signal}: {:?}",
            sent.elapsed()
        );
        assert_eq!(out.status.code(), Some(130), "SIG{signal}: {out:?}");
        let report: Vec<_> = env.text("r.ndjson").lines().map(json).collect();
        assert_eq!(report.len(), 3, "{report:?}");
        assert!(report[..2].iter().all(|r| r["status"] == "not-started"));
        let rest = env.text("rest.txt");
        assert_eq!(rest.lines().count(), 2, "a re-run fetches both: {rest}");
        for file in ["r.xml", "t.svg"] {
            assert!(env.join(file).exists(), "{file}");
        }
        assert_eq!(env.out_files(), Vec::<String>::new());
        assert_eq!(
            server.request_count(),
            1,
            "nothing but the checksums file asked for"
        );
    }
}
