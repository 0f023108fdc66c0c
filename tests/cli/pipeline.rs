//! The pool, `--serial`, stdin streaming and report order.

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::support::server::{Reply, Server};
use crate::support::{
    RunIt, TestEnv, assert_has, assert_lacks, assert_starts, slow_server, wait, wait_until,
};
use crate::support::{json, lines, payload};

#[test]
fn downloads_every_entry_byte_for_byte() {
    let name = |i: usize| format!("/f{i}.bin");
    let file = |i: usize| (name(i), payload(1000 + i * 7919, i as u64));
    let files: HashMap<String, Vec<u8>> = (0..12).map(file).collect();
    let env = TestEnv::new().with(Server::files(files.clone()));
    let run = env.fetch(&env.urls_of(12, name), &["-j", "4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (path, body) in &files {
        assert_eq!(&env.file(format!("out{path}")), body, "{path} differs");
    }
    assert_eq!(env.out_files().len(), 12, "no .part left");
    assert_eq!(run.report.len(), 12);
    for (i, line) in run.report.iter().enumerate() {
        assert_starts(line, "ok          200");
        assert!(line.ends_with(&format!("out{}", name(i))), "{line}");
    }
    assert_has(&run.stderr, "fetchpool: 12 ok, 0 failed; 522.1 KiB in ");
    assert_has(&run.stderr, " 4 workers;");
    assert_has(&run.stderr, " speed-up ");
}

#[test]
fn report_keeps_list_order_under_random_delays() {
    // Later entries tend to finish first; the report must still follow the list.
    let env = TestEnv::new().handle(|req| {
        let i: u64 = req.path().trim_start_matches("/d").parse().unwrap_or(0);
        let jitter = (i * 7919 % 13) * 15;
        Reply::ok(format!("file {i}\n")).delay(Duration::from_millis(200 - i * 8 + jitter))
    });
    let urls: Vec<String> = (0..24).map(|i| env.url(&format!("/d{i}"))).collect();
    let run = env.fetch(&urls, &["-j", "8", "--json"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.report.len(), 25);
    for i in 0..24 {
        assert_eq!(run.json(i)["index"], i as u64);
        assert_eq!(run.json(i)["path"], format!("out/d{i}"));
        assert_eq!(env.text(format!("out/d{i}")), format!("file {i}\n"));
    }
}

#[test]
fn pool_has_exactly_j_requests_in_flight() {
    let env = TestEnv::new().with(slow_server(300));
    let urls: Vec<String> = (0..16).map(|i| env.url(&format!("/s{i}"))).collect();
    assert_eq!(env.fetch(&urls, &["-j", "8"]).code, 0);
    assert_eq!(env.server().max_in_flight(), 8);
    assert_eq!(env.server().request_count(), 16);
    assert_eq!(env.out_files().len(), 16);
}

#[test]
fn serial_has_one_request_in_flight_and_says_so() {
    let env = TestEnv::new().with(slow_server(50));
    let run = env.fetch(&env.urls_of(6, |i| format!("/s{i}")), &["--serial", "-v"]);
    assert_eq!(run.code, 0);
    assert_eq!(env.server().max_in_flight(), 1);
    assert_eq!(env.server().request_count(), 6);
    assert_has(&run.stderr, "[serial] GET");
    assert_has(&run.stderr, "; serial\n");
    assert_lacks(&run.stderr, "speed-up"); // nothing ran side by side
    // Requests went out in list order.
    let in_order: Vec<String> = (0..6).map(|i| format!("/s{i}")).collect();
    assert_eq!(env.server().targets(), in_order);
}

#[test]
fn serial_conflicts_with_jobs() {
    let env = TestEnv::new();
    let out = env.cmd().args(["urls.txt", "--serial", "-j", "4"]).run();
    assert_eq!(out.code, 2);
    assert_has(&out.stderr, "cannot be used with");
}

#[test]
fn jobs_out_of_range_is_usage_error() {
    let env = TestEnv::new();
    for bad in ["0", "1025", "many"] {
        let out = env.cmd().args(["l", "-j", bad]).run();
        assert_eq!(out.code, 2, "-j {bad}");
    }
}

#[test]
fn stdin_list_is_streamed() {
    let env = TestEnv::new().handle(|req| Reply::ok(format!("body of {}", req.path())));
    let mut child = env.spawn_reading_stdin(&["-j", "2"]);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", env.url("/first")).unwrap();
    stdin.flush().unwrap();
    // The first download must happen while stdin is still open.
    wait_until("no request before stdin closed", || {
        env.server().request_count() > 0
    });
    writeln!(stdin, "# a comment\n{}", env.url("/second")).unwrap();
    drop(stdin);
    let run = wait(child);
    assert_eq!(run.code, 0);
    assert_eq!(env.text("out/first"), "body of /first");
    assert_eq!(env.text("out/second"), "body of /second");
    assert_eq!(run.report.len(), 2);
    assert!(run.report[0].ends_with("out/first"));
}

#[test]
fn requests_carry_user_agent_and_no_referer_or_encoding() {
    let env = TestEnv::new().handle(|req| match req.path() {
        "/old" => Reply::status(302).header("Location", "/new"),
        _ => Reply::ok("x"),
    });
    env.list(&[env.url("/old")]);
    assert_eq!(env.exec(&["urls.txt"]).code, 0);
    let requests = env.server().requests();
    assert_eq!(requests.len(), 2, "the redirect is followed");
    for req in &requests {
        let agent = concat!("fetchpool/", env!("CARGO_PKG_VERSION"));
        assert_eq!(req.header("user-agent"), Some(agent));
        assert_eq!(req.header("referer"), None);
        assert_eq!(req.header("accept-encoding"), None);
    }
    // Named after the URL in the list, not the redirect target.
    assert_eq!(env.text("old"), "x");
}

#[test]
fn urls_as_arguments_list_files_and_stdin_form_one_list_in_order() {
    let env = TestEnv::new();
    let server = Server::start(|req| match req.path() {
        "/missing" => Reply::status(404),
        path => Reply::ok(format!("body of {path}")),
    });
    env.list_as("one.txt", &[server.url("/b"), "ftp://nope/x".into()]);
    env.list_as(
        "two.txt",
        &["# wget -i reads this".into(), server.url("/missing")],
    );
    let summary = env.join("summary.md");
    let mut child = env
        .std_cmd()
        .arg(server.url("/a"))
        .args(["one.txt", "-", "-i", "two.txt"])
        .arg(server.url("/d"))
        .args([
            "-o",
            "out",
            "--json",
            "--junit",
            "report.xml",
            "--failed-out",
            "again.txt",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}\n{}", server.url("/c"), server.url("/a")).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Vec<serde_json::Value> = lines(&out.stdout).iter().map(|l| json(l)).collect();
    let seen: Vec<(String, u64, String)> = report[..7]
        .iter()
        .map(|r| {
            let path = r["path"].as_str().unwrap_or("-").to_string();
            (
                r["list"].as_str().unwrap().to_string(),
                r["line"].as_u64().unwrap(),
                path,
            )
        })
        .collect();
    let e = |list: &str, line: u64, path: &str| (list.to_string(), line, path.to_string());
    assert_eq!(
        seen,
        [
            e("command line", 1, "out/a"),
            e("one.txt", 1, "out/b"),
            e("one.txt", 2, "-"),
            e("<stdin>", 1, "out/c"),
            e("<stdin>", 2, "out/a-2"),
            e("two.txt", 2, "out/missing"),
            e("command line", 2, "out/d"),
        ],
        "names are unique across sources"
    );
    assert_eq!(
        report[2]["error"],
        "one.txt:2: unsupported scheme 'ftp' (only http and https)"
    );
    assert_eq!(report[7]["total"], 7);
    // Each report keeps each entry's own source and line.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_has(&stderr, "::error file=one.txt,line=2,title=fetchpool::");
    assert_has(&stderr, "::error file=two.txt,line=2,title=fetchpool::");
    let xml = env.text("report.xml");
    assert_has(&xml, "<testsuite name=\"fetchpool\"");
    assert_has(&xml, "name=\"one.txt:2\" classname=\"one.txt\"");
    assert_has(&xml, "name=\"out/c\" classname=\"stdin\"");
    let again = env.text("again.txt");
    assert_has(&again, "# one.txt:2: unsupported scheme");
    assert!(
        again.contains(&format!("{} out=missing", server.url("/missing"))),
        "{again}"
    );
}

#[test]
fn sources_that_cannot_be_read_are_named_before_anything_runs() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok("x"));
    for (args, expected) in [
        (
            vec![server.url("/a"), "nope.txt".into()],
            "cannot read nope.txt",
        ),
        (
            vec!["-".into(), "-i".into(), "-".into()],
            "standard input ('-') can be a source only once",
        ),
    ] {
        let out = env.cmd().args(&args).args(["-o", "out"]).run();
        assert_eq!(out.code, 2, "{args:?}");
        assert!(&out.stderr.contains(expected), "{out:?}");
    }
    assert_eq!(server.request_count(), 0);
}

#[test]
fn a_refused_http2_stream_is_asked_again_at_once_and_is_not_an_attempt() {
    // The first three streams of every connection are refused (REFUSED_STREAM), as a server
    // at its stream limit does, and every fifth after them. (reqwest asks again by itself, at
    // most twice a request: the third refusal in a row is fetchpool's to ask again.)
    let server = crate::support::h2::H2Server::start(std::time::Duration::from_millis(20), |n| {
        n < 3 || n % 5 == 0
    });
    let env = TestEnv::new();
    env.write("ca.pem", &server.ca_pem);
    let urls: Vec<String> = (0..30).map(|i| server.url(&format!("/f{i}"))).collect();
    let run = env.fetch(
        &urls,
        &["--cacert", "ca.pem", "--retries", "0", "--json", "-j", "2"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for result in &run.results()[..30] {
        assert_eq!(result["status"], "ok", "{result}");
        assert_eq!(
            result["attempts"], 1,
            "a refused stream is no attempt: {result}"
        );
    }
    let refused = server
        .counts
        .refused
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(refused >= 6, "{refused} refused");
    assert_eq!(env.text("out/f7"), "body of /f7");
}
