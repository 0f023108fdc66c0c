//! What the user reads (README: Output, Exit status): text and JSON reports, -q, -v, redaction,
//! progress without a terminal, dry runs, exit codes and a closed stdout.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::support::server::{Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has, assert_lacks, assert_starts};
use crate::support::{json, lines, payload};

#[test]
fn json_report_has_every_field() {
    let body = payload(20_000, 5);
    let env = TestEnv::new().serve(&[("/a.bin", &body)]);
    let run = env.fetch(&["# comment".to_string(), env.url("/a.bin")], &["--json"]);
    assert_eq!(run.code, 0);
    let ok = run.json(0);
    assert_eq!(ok["type"], "result");
    assert_eq!(ok["index"], 0);
    assert_eq!(ok["line"], 2);
    assert_eq!(ok["url"], env.url("/a.bin"));
    assert_eq!(ok["path"], "out/a.bin");
    assert_eq!(ok["status"], "ok");
    assert_eq!(ok["http_status"], 200);
    assert_eq!(ok["bytes"], 20_000);
    assert_eq!(ok["attempts"], 1);
    assert!(ok["elapsed_ms"].is_u64());
    assert_eq!(ok["length_unverified"], false);
    assert!(ok["error"].is_null());
}

#[test]
fn json_report_keys_come_in_order_and_the_digest_is_of_the_file() {
    let body = payload(20_000, 5);
    let env = TestEnv::new().serve(&[("/a.bin", &body)]);
    let run = env.fetch(&[env.url("/a.bin")], &["--json"]);
    assert_eq!(run.json(0)["sha256"], crate::support::sha256_hex(&body));
    // Keys come in the documented order, "type" first.
    assert_starts(&run.report[0], "{\"type\":\"result\",\"index\":0,");
}

#[test]
fn json_report_says_why_an_entry_failed() {
    let env = TestEnv::new().serve(&[]);
    let run = env.fetch(&[env.url("/nope"), "gopher://x/".to_string()], &["--json"]);
    assert_eq!(run.code, 1);
    let (missing, bad) = (run.json(0), run.json(1));
    assert_eq!(missing["status"], "failed");
    assert_eq!(missing["http_status"], 404);
    assert_eq!(missing["error"], "HTTP 404 Not Found");
    assert_eq!(bad["status"], "failed");
    assert_eq!(bad["line"], 2);
    assert!(bad["path"].is_null());
    assert_has(bad["error"].as_str().unwrap(), "urls.txt:2:");
}

#[test]
fn json_report_ends_with_a_summary() {
    let env = TestEnv::new().serve(&[("/a.bin", &payload(20_000, 5))]);
    let run = env.fetch(&env.urls(&["/a.bin", "/nope", "/gone"]), &["--json"]);
    assert_eq!(run.report.len(), 4, "a line per entry, then the summary");
    let summary = run.json(3);
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["schema"], 1);
    let counts = ["total", "ok", "failed", "skipped", "not_started"].map(|k| summary[k].clone());
    assert_eq!(counts, [3, 1, 2, 0, 0].map(serde_json::Value::from));
    assert_eq!(summary["bytes"], 20_000);
    assert_eq!(summary["workers"], 8);
    assert_eq!(summary["mode"], "pool");
}

#[test]
fn quiet_lists_only_failures() {
    let env = TestEnv::new().handle(|req| match req.path() {
        "/bad" => Reply::status(404),
        _ => Reply::ok("fine"),
    });
    let run = env.fetch(&env.urls(&["/a", "/bad", "/b"]), &["-q"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.report.len(), 1);
    assert!(run.report[0].contains("out/bad") && run.report[0].contains("404"));
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert_eq!(env.out_files(), ["a", "b"]);
}

#[test]
fn verbose_logs_name_the_worker() {
    let env = TestEnv::new().handle(|_| Reply::ok("x"));
    let url = env.url("/v.txt");
    let run = env.fetch(&[&url], &["-v", "-j", "1"]);
    assert_has(&run.stderr, &format!("[worker-1] GET {url}"));
    assert_has(
        &run.stderr,
        &format!("[worker-1] 200 {url} -> out/v.txt (1 B, "),
    );
}

#[test]
fn secrets_are_redacted_everywhere() {
    let env = TestEnv::new();
    let server = Server::start(|req| match req.path() {
        "/missing" => Reply::status(404),
        _ => Reply::ok("x"),
    });
    let with_secrets = |path: &str| {
        server.url(path).replace("http://", "http://alice:hunter2@")
            + "?id=1&token=tok-SECRET&X-Amz-Signature=amz-SECRET&api_key=key-SECRET"
    };
    let urls = [
        with_secrets("/a"),
        with_secrets("/missing"),
        "ftp://bob:pw-SECRET@h/x".into(),
        // Passwords that keep the line from parsing: a '/', '#', '?' or space in them.
        "http://carol:sl/ash-SECRET@127.0.0.1/x".into(),
        "http://carol:ha#sh-SECRET@127.0.0.1/x".into(),
        "http://carol:qu?ery-SECRET@127.0.0.1/x".into(),
        "http://carol:spa ce-SECRET@127.0.0.1/x".into(),
        // A token as the user name, and a percent-encoded parameter name.
        server
            .url("/b")
            .replace("http://", "http://usertok-SECRET@"),
        server.url("/c") + "?%74oken=enc-SECRET",
    ];
    let list = env.list(&urls);
    for args in [
        &["-v"][..],
        &["-v", "--json"][..],
        &["--dry-run"][..],
        &["--dry-run", "--json"][..],
    ] {
        let out = env
            .cmd()
            .arg(&list)
            .args(["-o", "out", "--overwrite"])
            .args(args)
            .run();
        let all = out.said();
        for secret in [
            "hunter2",
            "tok-SECRET",
            "amz-SECRET",
            "key-SECRET",
            "pw-SECRET",
            "sl/ash",
            "ha#sh",
            "qu?ery",
            "spa",
            "usertok",
            "enc-SECRET",
        ] {
            assert!(!all.contains(secret), "{args:?} printed {secret}:\n{all}");
        }
        assert_has(&all, "alice:***@");
        assert_has(&all, "token=***");
    }
    // The credentials still reach the server.
    let requests = server.requests();
    let req = requests.iter().find(|r| r.path() == "/a").unwrap();
    assert_has(&req.target, "token=tok-SECRET");
    assert!(
        req.header("authorization")
            .is_some_and(|v| v.starts_with("Basic "))
    );
}

#[test]
fn no_escape_codes_without_a_terminal() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok(payload(1000, 2)).delay(Duration::from_millis(20)));
    env.list(
        &(0..5)
            .map(|i| server.url(&format!("/p{i}")))
            .collect::<Vec<_>>(),
    );
    for mode in ["auto", "never"] {
        let out_dir = format!("out-{mode}");
        let run = env.exec(&["urls.txt", "-o", &out_dir, "--progress", mode]);
        assert_eq!(run.code, 0);
        assert!(
            !run.stderr.contains('\x1b'),
            "escape code with --progress {mode}"
        );
        assert!(!run.stdout.contains('\x1b'));
    }
}

#[test]
fn progress_always_draws_bars_even_into_a_pipe() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok(payload(1000, 2)).delay(Duration::from_millis(400)));
    let run = env.fetch(&[server.url("/slow")], &["--progress", "always"]);
    assert_eq!(run.code, 0);
    assert_has(&run.stderr, "files");
    assert!(
        run.stderr.contains("worker-"),
        "a line per busy worker: {}",
        run.stderr
    );
    assert!(!run.stdout.contains('\x1b'), "bars stay on stderr");
}

#[test]
fn dry_run_makes_no_request_and_touches_no_file() {
    let env = TestEnv::new().handle(|_| Reply::ok("x"));
    let [a, b, c] = ["/a.bin", "/b/a.bin", "/c"].map(|p| env.url(p));
    let urls = [
        a.clone(),
        b.clone(),
        format!("{c} out=sub/c.bin"),
        "mailto:x@y".into(),
    ];
    let run = env.fetch(&urls, &["--dry-run"]);
    assert_eq!(run.code, 1, "the bad line would fail a real run");
    assert_eq!(run.report[0], format!("plan     {a} -> out/a.bin"));
    assert_eq!(run.report[1], format!("plan     {b} -> out/a-2.bin"));
    assert_eq!(run.report[2], format!("plan     {c} -> out/sub/c.bin"));
    assert_starts(&run.report[3], "invalid  ");
    assert_has(&run.report[3], "urls.txt:4: unsupported scheme 'mailto'");
    assert_eq!(env.server().request_count(), 0);
    assert!(!env.exists("out"));
}

#[test]
fn dry_run_says_what_the_run_would_do_with_what_is_there() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok("x"));
    let urls = [
        server.url("/new.bin"),
        server.url("/here.bin"),
        server.url("/half.bin"),
    ];
    let list = env.list(&urls);
    env.mkdir("out");
    env.write("out/here.bin", "old");
    // Left by an interrupted `-c` run, with the version it is of.
    crate::support::plant_part(&env.join("out/half.bin.part"), &[7u8; 2048], "\"v1\"", 4096);
    // Bytes of no known version are not built on: fetched whole.
    env.write("out/new.bin.part", vec![7u8; 100]);
    let plan = |args: &[&str]| {
        let out = env
            .cmd()
            .arg(&list)
            .args(["-o", "out", "--dry-run"])
            .args(args)
            .run();
        (Some(out.code), out.report.clone())
    };
    // No flag: the existing target would fail, and the dry run says so (and exits 1).
    let (code, lines) = plan(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(lines[0], format!("plan     {} -> out/new.bin", urls[0]));
    assert_starts(
        &lines[1],
        &format!(
            "fail     {} -> out/here.bin  out/here.bin already exists",
            urls[1]
        ),
    );
    assert!(lines[1].contains("--overwrite") && lines[1].contains("--skip-existing"));
    let (code, lines) = plan(&["--skip-existing"]);
    assert_eq!(code, Some(0));
    assert!(
        lines[1].ends_with("out/here.bin  (exists: would be skipped)"),
        "{lines:?}"
    );
    let (code, lines) = plan(&["--overwrite", "-c"]);
    assert_eq!(code, Some(0));
    assert!(
        lines[1].ends_with("  (exists: would be skipped)"),
        "-c counts a whole file done: {lines:?}"
    );
    assert!(
        lines[2].ends_with("out/half.bin  (would resume after 2.0 KiB already there)"),
        "{lines:?}"
    );
    let (_, lines) = plan(&["--overwrite"]);
    assert!(
        lines[1].ends_with("  (exists: would be replaced)"),
        "{lines:?}"
    );
    let (_, lines) = plan(&["-c", "--json"]);
    let actions: Vec<String> = lines
        .iter()
        .map(|l| json(l)["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["download", "skip", "resume"]);
    assert_eq!(json(&lines[2])["resume_from"], 2048);
    // Nothing was touched, no request made.
    assert_eq!(server.request_count(), 0);
    assert_eq!(env.file("out/here.bin"), b"old");
    assert_eq!(
        env.out_files(),
        ["half.bin.part", "here.bin", "new.bin.part"]
    );
}

#[test]
fn missing_or_unreadable_list_exits_2() {
    let env = TestEnv::new();
    let run = env.exec(&["nope.txt"]);
    assert_eq!(run.code, 2);
    let want = "fetchpool: cannot read nope.txt: No such file or directory (os error 2)\n";
    assert_eq!(run.stderr, want);
    let run = env.exec(&["."]);
    assert_eq!(run.code, 2);
    assert_has(&run.stderr, "is a directory");
}

#[test]
fn uncreatable_output_dir_exits_2() {
    let env = TestEnv::new();
    env.write("file", "");
    env.list(&["http://127.0.0.1:9/x".to_string()]);
    let run = env.exec(&["urls.txt", "-o", "file/sub"]);
    assert_eq!(run.code, 2);
    assert_starts(
        &run.stderr,
        "fetchpool: cannot create the output directory file/sub: ",
    );
}

#[test]
fn empty_list_exits_0_with_a_note() {
    let env = TestEnv::new();
    env.list(&["# nothing here".to_string()]);
    let run = env.exec(&["urls.txt"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.is_empty());
    assert_has(&run.stderr, "no entries");
}

#[test]
fn a_refused_connection_reads_at_a_glance_and_json_keeps_the_chain() {
    let env = TestEnv::new();
    let port = crate::support::free_port();
    let run = env.fetch(&[format!("http://127.0.0.1:{port}/x")], &["--retries", "2"]);
    assert_eq!(run.code, 1);
    let glance = format!("  connection refused (127.0.0.1:{port})  (after 3 attempts)");
    assert!(run.report[0].ends_with(&glance), "{}", run.report[0]);
    // The whole chain is in JSON (and -v), for whoever digs.
    let run = env.run(&["--retries", "0", "--json"]);
    let error = run.json(0)["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("tcp connect error") && error.contains("Connection refused"),
        "{error}"
    );
    assert_eq!(run.json(0)["attempts"], 1);
}

#[test]
fn a_name_that_does_not_resolve_and_a_server_that_does_not_speak_tls_read_at_a_glance() {
    let env = TestEnv::new().handle(|_| Reply::ok("x"));
    let tls_to_plain = env.url("/x").replacen("http://", "https://", 1);
    // A `.invalid` name never resolves (RFC 6761): the resolver says so without asking DNS.
    let urls = [tls_to_plain, "http://no-such-host.invalid/x".to_string()];
    let run = env.fetch(&urls, &["--retries", "0"]);
    assert_eq!(run.code, 1);
    let port = env.server().port();
    // The test server closes a connection it cannot read (nginx would answer 400 in plain
    // text: "the server does not speak TLS there"); either way the line says what to try.
    let (tls, line) = (
        format!("  TLS with 127.0.0.1:{port}: the server "),
        &run.report[0],
    );
    assert_has(line, &tls);
    assert!(line.ends_with("(is it http://?)"), "{line}");
    let unresolved = "  cannot resolve no-such-host.invalid";
    assert!(run.report[1].ends_with(unresolved), "{:?}", run.report);
}

#[test]
fn closed_stdout_ends_the_run_quietly() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok("x").delay(Duration::from_millis(30)));
    let urls: Vec<String> = (0..40).map(|i| server.url(&format!("/c{i}"))).collect();
    let list = env.list(&urls);
    let mut child = env
        .std_cmd()
        .arg(&list)
        .args(["-o", "out", "-j", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1`: read one line, then close the pipe.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_starts(&first, "ok ");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    assert!(out.status.code().is_some(), "ended by a signal");
    assert!(
        server.request_count() < 40,
        "new work stops once nobody reads the report"
    );
    // Whatever was downloaded is whole; no .part is left.
    for name in env.out_files() {
        assert!(!name.ends_with(".part"), "{name}");
        assert_eq!(
            std::fs::read_to_string(env.join("out").join(name)).unwrap(),
            "x"
        );
    }
}

#[test]
fn help_and_version() {
    let env = TestEnv::new();
    let help = env.exec(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Examples:") && help.stdout.contains("fetchpool urls.txt"));
    // A SOURCE or -i FILE is required (only `--generate` goes without), and help says what
    // exit codes mean.
    assert_has(&help.stdout, "Usage: fetchpool [OPTIONS] <SOURCE>...");
    assert_has(&help.stdout, "fetchpool [OPTIONS] -i <FILE>");
    assert_has(&help.stdout, "-i, --input-file <FILE>");
    assert!(help.stdout.contains("Exit status:") && help.stdout.contains("130"));
    let bare = env.exec(&[]);
    assert_eq!(bare.code, 2);
    assert_has(&bare.stderr, "<SOURCE>...");
    let version = env.exec(&["--version"]);
    assert_eq!(
        version.stdout,
        format!("fetchpool {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn sizes_parse_in_every_spelling_and_a_bad_unit_is_named() {
    let env = TestEnv::new();
    for size in ["1.5M", "2MiB", "512 KiB", "1G"] {
        let args = [
            "--limit-rate",
            size,
            "--max-size",
            size,
            "--min-speed",
            size,
            "-h",
        ];
        assert_eq!(env.exec(&args).code, 0, "{size}");
    }
    let run = env.exec(&["--limit-rate", "2XB", "urls.txt"]);
    assert_eq!(run.code, 2);
    assert_has(&run.stderr, "unknown unit");
}

#[test]
fn closed_stdout_and_stderr_together_end_quietly() {
    // `fetchpool list 2>&1 | head -1`: the summary line meets the closed pipe too.
    let env = TestEnv::new().handle(|_| Reply::ok("x").delay(Duration::from_millis(30)));
    env.list(&env.urls_of(20, |i| format!("/c{i}")));
    let (reader, writer) = std::io::pipe().unwrap();
    let mut cmd = env.std_cmd();
    cmd.args(["urls.txt", "-o", "out", "-j", "2"]);
    cmd.stdout(writer.try_clone().unwrap());
    let mut child = cmd.stderr(writer).spawn().unwrap();
    let mut first = String::new();
    let mut reader = BufReader::new(reader);
    reader.read_line(&mut first).unwrap();
    assert_starts(&first, "ok ");
    drop(reader);
    // A panic on the closed stderr would exit 101.
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(1), "nothing after the first line was started");
}

/// Whether `bytes` hold anything a terminal or a log viewer acts on, or that hides there: a C0
/// control other than a line's end, DEL, a C1 control, a bidirectional override, a zero-width
/// character or a byte-order mark.
fn acts_on_a_terminal(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.chars()
        .find(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
                || matches!(c, '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}')
        })
        .map(|c| format!("U+{:04X} in {text}", c as u32))
}

#[test]
fn control_bytes_from_a_list_line_are_shown_escaped_everywhere() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::status(404));
    // An escape sequence that retitles a terminal in an option, one that clears it in place of
    // a URL, a C1 control in an out= value, and a file name that turns its text around.
    let lines_in = [
        format!("{} \u{1b}]0;pwned\u{7}=1", server.url("/a")),
        "\u{1b}[2Jhttp://x".to_string(),
        format!("{} out=a\\\u{9b}31mB", server.url("/b")),
        server.url("/evil%E2%80%AEtxt.exe"),
        // Two names that look alike, told apart by what cannot be seen.
        server.url("/pay%E2%80%8Bpal%EF%BB%BF.exe"),
    ];
    let list = env.list(&lines_in);
    let summary = env.join("summary.md");
    let run = |args: &[&str]| {
        let out = env
            .cmd()
            .arg(&list)
            .args(["-o", "out", "--progress", "never"])
            .args(args)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        for stream in [&out.stdout, &out.stderr] {
            assert_eq!(acts_on_a_terminal(stream), None, "{args:?}");
        }
        (
            lines(&out.stdout),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (text, stderr) = run(&["-v", "--junit", "report.xml"]);
    assert_has(&text[0], "unknown option '\\x1b]0;pwned\\x07'");
    assert_has(&text[2], "\\u{9b}31mB");
    assert_has(&text[3], "evil\\u{202e}txt.exe");
    assert_has(&text[4], "pay\\u{200b}pal\\u{feff}.exe");
    assert_has(&stderr, ",line=2,title=fetchpool::\\x1b[2Jhttp://x");
    for file in ["summary.md", "report.xml"] {
        let written = env.file(file);
        assert_eq!(acts_on_a_terminal(&written), None, "{file}");
    }
    let xml = env.text("report.xml");
    assert_has(&xml, "\\x1b]0;pwned\\x07");
    // JSON says the same value, escaped as JSON does; the dry run likewise.
    let (json_lines, _) = run(&["--json"]);
    assert_eq!(json(&json_lines[1])["url"], "\u{1b}[2Jhttp://x");
    assert_eq!(json(&json_lines[3])["path"], "out/evil\u{202e}txt.exe");
    let (plan, _) = run(&["--dry-run"]);
    assert_has(&plan[3], "evil\\u{202e}txt.exe");
    let (plan, _) = run(&["--dry-run", "--json"]);
    assert_eq!(json(&plan[3])["path"], "out/evil\u{202e}txt.exe");
}

#[test]
fn the_summary_line_fits_a_hundred_columns_and_breaks_only_between_fields() {
    let env = TestEnv::new();
    let server = Server::start(|req| Reply::ok(payload(3000, req.path().len() as u64)));
    let urls: Vec<String> = (0..12).map(|i| server.url(&format!("/file-{i}"))).collect();
    let list = env.list(&urls);
    // A resumed-looking run says both saved and received: the longest summary there is.
    let out = env
        .cmd()
        .arg(&list)
        .args([
            "-o",
            "out",
            "--progress",
            "never",
            "--checksums",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("fetchpool: 12 ok"))
        .collect();
    assert!(!summary.is_empty(), "{stderr}");
    for (i, line) in summary.iter().enumerate() {
        assert!(line.chars().count() <= 100, "{line}");
        if i + 1 < summary.len() {
            assert!(line.ends_with(';'), "broken only between fields: {stderr}");
        }
    }
    assert_has(summary.last().unwrap(), "speed-up ");
    // A short run's summary is one line, also on a pipe: one URL, and a file already there.
    let one = env.list_as("one.txt", &urls[..1]);
    for again in [false, true] {
        let mut cmd = env.cmd();
        cmd.arg(&one).args(["-o", "one", "--progress", "never"]);
        if again {
            cmd.arg("--skip-existing");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let summary: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("fetchpool: warning"))
            .collect();
        assert_eq!(summary.len(), 1, "{stderr}");
        assert!(summary[0].len() <= 100, "{stderr}");
        let counts = if again {
            "0 ok, 0 failed, 1 skipped;"
        } else {
            "1 ok, 0 failed;"
        };
        assert_starts(summary[0], &format!("fetchpool: {counts}"));
        // One download, or none: nothing ran side by side, so no speed-up is claimed.
        assert_lacks(summary[0], "speed-up");
    }
}

#[test]
fn the_spellings_curl_wget_and_aria2_users_type() {
    let env = TestEnv::new();
    let server = Server::start(|req| match req.path() {
        "/old" => Reply::status(302).header("Location", "/new"),
        path => Reply::ok(format!("body of {path}")),
    });
    env.mkdir("kept");
    env.write("kept/here", "mine");
    let run = |args: &[&str]| {
        let out = env.cmd().args(args).args(["--progress", "never"]).run();
        (Some(out.code), out.report, out.stderr)
    };
    // Each alias does what fetchpool's own name does.
    let (code, _, stderr) = run(&[
        &server.url("/a"),
        "-P",
        "p1",
        "--retry",
        "0",
        "--max-redirs",
        "0",
        "--max-filesize",
        "1K",
        "-T",
        "5",
        "-m",
        "9",
        "-U",
        "my-agent",
        "--parallel-max",
        "2",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(env.text("p1/a"), "body of /a");
    let asked = server.requests().last().unwrap().clone();
    assert_eq!(asked.header("user-agent"), Some("my-agent"));
    for dir_flag in ["--directory-prefix", "-d", "--dir"] {
        let (code, _, _) = run(&[&server.url("/b"), dir_flag, "p2", "--overwrite"]);
        assert_eq!(code, Some(0), "{dir_flag}");
    }
    assert!(env.join("p2/b").exists());
    let (code, _, stderr) = run(&[
        &server.url("/c"),
        "-o",
        "p4",
        "--max-concurrent-downloads",
        "3",
        "--no-check-certificate",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_has(&stderr, "--insecure: TLS certificates are not checked");
    assert!(env.join("p4/c").exists());
    let (code, report, _) = run(&[&server.url("/old"), "-o", "p3", "--max-redirs", "0"]);
    assert_eq!(code, Some(1));
    assert_has(&report[0], "--max-redirects 0");
    let (_, report, _) = run(&[&server.url("/big"), "-o", "p3", "--max-filesize", "4"]);
    assert_has(&report[0], "--max-size 4");
    for keep in ["--no-clobber", "--skip-existing"] {
        let (code, report, _) = run(&[&server.url("/here"), "-o", "kept", keep]);
        assert_eq!(
            (code, report[0].starts_with("skipped")),
            (Some(0), true),
            "{keep}"
        );
    }
    for update in ["-N", "--timestamping", "--conditional-get", "-u"] {
        let (code, report, _) = run(&[&server.url("/here"), "-o", "kept", update]);
        assert_eq!(code, Some(0), "{update}");
        assert_starts(&report[0], "ok");
    }
    // Spellings that mean something else here are answered with fetchpool's name for them.
    for (args, answer) in [
        (vec!["-O"], "leave -O out"),
        (vec!["--tries", "3"], "--tries 3 is --retries 2"),
        (vec!["--max-tries=5"], "--tries 5 is --retries 4"),
        (vec!["-t", "1"], "--tries 1 is --retries 0"),
        (vec!["-x", "8"], "--split N"),
        (vec!["--wait", "2"], "--rate-per-host"),
        (
            vec!["-k", "1M"],
            "aria2's -k 1M (the smallest piece) is --split-min 1M",
        ),
    ] {
        let mut args = args.clone();
        let url = server.url("/z");
        args.push(&url);
        let (code, _, stderr) = run(&args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(stderr.contains(answer), "{args:?}: {stderr}");
    }
    // The short help stays short; the long help and the man page name the aliases.
    let (_, short, _) = run(&["-h"]);
    assert_lacks(short.join("\n"), "--retry ");
    let (_, long, _) = run(&["--help"]);
    let long = long.join("\n");
    for alias in [
        "--retry (curl)",
        "--max-redirs (curl)",
        "-P/--directory-prefix (wget)",
        "-N/--timestamping (wget)",
        "--no-clobber (wget)",
    ] {
        assert!(long.contains(alias), "{alias}");
    }
    let man = env.cmd().args(["--generate", "man"]).run();
    assert_has(&man.stdout, "\\-\\-retry (curl)");
}

#[test]
fn habits_from_curl_and_wget_do_what_they_mean_or_say_what_to_type() {
    let env = TestEnv::new();
    let server = Server::start(|req| match req.path() {
        "/old" => Reply::status(302).header("Location", "/new"),
        path => Reply::ranged(req, format!("body of {path}").as_bytes()),
    });
    let run = |args: &[&str]| {
        let out = env
            .cmd()
            .args(args)
            .args(["--progress", "never"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // What fetchpool does anyway: accepted, and the download happens as without them.
    let accepted = [
        "-L",
        "--location",
        "-f",
        "--fail",
        "-S",
        "--show-error",
        "-Z",
        "--parallel",
        "-#",
        "--progress-bar",
        "--remote-name-all",
        "--create-dirs",
        "-nv",
        "--no-verbose",
        "--show-progress",
    ];
    for flag in accepted {
        let out = format!("out{}", flag.trim_start_matches('-').replace('#', "hash"));
        let (code, stderr) = run(&[&server.url("/old"), flag, "-o", &out]);
        assert_eq!(code, Some(0), "{flag}: {stderr}");
        assert!(env.join(&out).join("old").exists(), "{flag}");
    }
    // -nc (wget) is --skip-existing; -C - (curl) is -c.
    let (code, _) = run(&[&server.url("/old"), "-nc", "-o", "outL"]);
    assert_eq!(code, Some(0));
    env.write("outL/part.bin.part", "body");
    let (code, stderr) = run(&[&server.url("/part.bin"), "-C", "-", "-o", "outL", "-v"]);
    assert_eq!(code, Some(0), "{stderr}");
    // Only -c looks at a .part: this one's version is not known, so it is fetched whole.
    assert_has(&stderr, "part.bin.part: which version");
    // What fetchpool spells otherwise: exit 2, before any request, with its own spelling.
    let asked = server.request_count();
    for (args, answer) in [
        (vec!["-s"], "fetchpool's -q"),
        (vec!["--silent"], "fetchpool's -q"),
        (vec!["--compressed"], "leave --compressed out"),
        (vec!["-C", "1024"], "with -c"),
    ] {
        let mut all = vec![server.url("/a")];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let (code, stderr) = run(&all);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(stderr.contains(answer), "{args:?}: {stderr}");
    }
    assert_eq!(server.request_count(), asked);
    // The long help says which are accepted.
    let out = env.cmd().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("-L/--location") && help.contains("-nc and --no-clobber"),
        "{help}"
    );
}

#[test]
fn a_url_without_its_scheme_is_answered_with_the_scheme_to_add() {
    let env = TestEnv::new();
    for url in ["example.org/file.iso", "127.0.0.1:8080/a"] {
        let out = env.cmd().arg(url).run();
        assert_eq!(out.code, 2);
        let stderr = &out.stderr;
        assert!(stderr.contains(&format!("https://{url}")), "{stderr}");
    }
    let out = env.cmd().arg("missing-list.txt").run();
    assert_lacks(&out.stderr, "https://");
}
