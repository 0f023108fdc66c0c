//! At home in CI: `--report`, `--junit`, GitHub Actions annotations and step summary, `.netrc`
//! credentials, and TLS options against a loopback HTTPS server with a throwaway CA.

use crate::support::server::{Reply, Server};
use crate::support::tls::TlsServer;
use crate::support::{RunIt, TestEnv, assert_has, assert_lacks, assert_starts};
use crate::support::{json, lines};

/// A server with a good file, a missing one, and a 503.
fn mixed_server() -> Server {
    Server::start(|req| match req.path() {
        "/ok.bin" => Reply::ok("fine"),
        "/busy" => Reply::status(503),
        _ => Reply::status(404),
    })
}

/// The list `urls.txt` in `env`: a good file, a missing one, a bad line and a 503.
fn mixed_list(env: &TestEnv, server: &Server) -> Vec<String> {
    let urls = vec![
        server.url("/ok.bin"),
        // Markup, quotes and a secret in the URL: escaped and redacted everywhere.
        format!("{}?token=s3cret&x=<&\"'>", server.url("/missing")),
        "ftp://nowhere/<bad>&".to_string(),
        server.url("/busy"),
    ];
    env.list(&urls);
    urls
}

#[test]
fn report_file_has_the_ndjson_while_stdout_keeps_text() {
    let env = TestEnv::new();
    let server = mixed_server();
    mixed_list(&env, &server);
    let out = env
        .cmd()
        .args([
            "urls.txt",
            "-o",
            "out",
            "--retries",
            "0",
            "--report",
            "r.ndjson",
        ])
        .run();
    assert_eq!(out.code, 1);
    let text = out.report.clone();
    assert_starts(&text[0], "ok ");
    let report: Vec<_> = env.text("r.ndjson").lines().map(json).collect();
    assert_eq!(report.len(), 5);
    assert_eq!(report[0]["status"], "ok");
    // --report turns the digest on, as --json does.
    assert_eq!(report[0]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(report[1]["http_status"], 404);
    assert_lacks(report[1]["url"].as_str().unwrap(), "s3cret");
    assert_eq!(report[4]["type"], "summary");
    assert_eq!(report[4]["total"], 4);
    // A report that cannot be created stops the run before anything happens.
    let out = env
        .cmd()
        .args(["urls.txt", "-o", "out2", "--report", "no/such/dir/r.ndjson"])
        .run();
    assert_eq!(out.code, 2);
    assert_has(&out.stderr, "cannot create --report no/such/dir/r.ndjson");
    assert!(!env.join("out2").exists());
}

#[test]
fn junit_is_valid_xml_with_a_testcase_per_entry() {
    let env = TestEnv::new();
    let server = mixed_server();
    mixed_list(&env, &server);
    let out = env
        .cmd()
        .args([
            "urls.txt",
            "-o",
            "out",
            "--retries",
            "0",
            "--junit",
            "junit.xml",
        ])
        .run();
    assert_eq!(out.code, 1);
    let xml = env.text("junit.xml");
    // A real XML parser, strict about escaping and characters.
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("name"), Some("urls.txt"));
    assert_eq!(suite.attribute("tests"), Some("4"));
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 4);
    assert_eq!(cases[0].attribute("name"), Some("out/ok.bin"));
    assert_eq!(cases[0].attribute("classname"), Some("urls.txt"));
    assert!(cases[0].attribute("time").unwrap().parse::<f64>().is_ok());
    assert!(
        cases[0].children().all(|c| !c.is_element()),
        "ok has no failure: {xml}"
    );
    let failure = cases[1]
        .children()
        .find(|c| c.has_tag_name("failure"))
        .unwrap_or_else(|| panic!("{xml}"));
    assert_has(failure.attribute("message").unwrap(), "404");
    assert_has(failure.text().unwrap(), "token=***&x=");
    assert_lacks(&xml, "s3cret");
    // The bad line is named by its place in the list.
    assert_eq!(cases[2].attribute("name"), Some("urls.txt:3"));
    let bad = cases[2]
        .children()
        .find(|c| c.has_tag_name("failure"))
        .unwrap();
    assert!(
        bad.text().unwrap().contains("ftp://nowhere/<bad>&"),
        "escaped, read back: {xml}"
    );
    assert!(
        cases[3].children().any(|c| c.has_tag_name("failure")),
        "{xml}"
    );
    assert_eq!(suite.attribute("failures"), Some("3"));
    assert_eq!(suite.attribute("skipped"), Some("0"));
    // No scratch files left beside it.
    let stray: Vec<_> = env
        .names("")
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");

    // Not started (here after --fail-fast): a skipped testcase. Present and skipped-as-existing:
    // a passing one that says why.
    env.list_as("second.txt", &[server.url("/busy"), server.url("/ok.bin")]);
    let out = env
        .cmd()
        .args([
            "second.txt",
            "-o",
            "out",
            "--retries",
            "0",
            "--fail-fast",
            "-j",
            "1",
        ])
        .args(["--junit", "second.xml"])
        .run();
    assert_eq!(out.code, 1);
    let xml = env.text("second.xml");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let skipped = cases[1].children().find(|c| c.has_tag_name("skipped"));
    assert_eq!(
        skipped.and_then(|s| s.attribute("message")),
        Some("not started"),
        "{xml}"
    );
    let out = env
        .cmd()
        .args([
            "second.txt",
            "-o",
            "out",
            "--skip-existing",
            "--junit",
            "third.xml",
        ])
        .run();
    assert_eq!(out.code, 1, "/busy still fails");
    let xml = env.text("third.xml");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let ok = doc
        .descendants()
        .find(|n| n.attribute("name") == Some("out/ok.bin"))
        .unwrap();
    assert!(
        !ok.children()
            .any(|c| c.has_tag_name("failure") || c.has_tag_name("skipped"))
    );
    assert!(ok.children().any(|c| c.has_tag_name("system-out")), "{xml}");
}

#[test]
fn github_actions_get_annotations_and_a_step_summary_and_nobody_else_does() {
    let env = TestEnv::new();
    let server = mixed_server();
    mixed_list(&env, &server);
    let summary = env.join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = env
        .cmd()
        .args(["urls.txt", "-o", "out", "--retries", "0", "--json"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .run();
    assert_eq!(out.code, 1);
    // stdout stays NDJSON.
    for line in out.report.clone() {
        json(&line);
    }
    let stderr = &out.stderr;
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 3, "{stderr}");
    assert_starts(
        errors[0],
        "::error file=urls.txt,line=2,title=fetchpool::http://127.0.0.1:",
    );
    assert!(
        errors[0].contains("token=***") && !stderr.contains("s3cret"),
        "{stderr}"
    );
    assert!(errors[0].ends_with(": HTTP 404 Not Found"), "{stderr}");
    assert_has(errors[1], "line=3,");
    assert!(
        errors[2].contains("line=4,") && errors[2].contains("503"),
        "{stderr}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("earlier step\n### fetchpool: urls.txt"),
        "appended: {md}"
    );
    assert_has(&md, "| 1 | 3 | 0 | 0 | 0 |");
    assert_has(&md, "| 2 | http://127.0.0.1:");
    assert_lacks(&md, "s3cret");

    // Anywhere else: nothing of this.
    let out = env
        .cmd()
        .args(["urls.txt", "-o", "out2", "--retries", "0"])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .run();
    assert_lacks(&out.stderr, "::error");
    assert_eq!(std::fs::read_to_string(&summary).unwrap(), md);
}

#[test]
fn netrc_credentials_go_only_to_their_host_and_never_show() {
    let env = TestEnv::new();
    let other = Server::start(|_| Reply::ok("other"));
    let target = other.url("/landed");
    let server = Server::start(move |req| match req.path() {
        "/away" => Reply::status(302).header("Location", &target),
        _ => Reply::ok("secret stuff"),
    });
    let urls = [
        server.url("/a.bin"),
        server.url("/away"),
        other.url("/b.bin"),
    ];
    env.list(&urls);
    let netrc = env.join("netrc");
    std::fs::write(&netrc, "machine 127.0.0.1 login ci password hunter2\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = env
        .cmd()
        .args([
            "urls.txt",
            "-o",
            "out",
            "-v",
            "--json",
            "--netrc-file",
            "netrc",
            "-j",
            "1",
        ])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    let basic = "Basic Y2k6aHVudGVyMg=="; // ci:hunter2
    let asked = server.requests();
    assert!(
        asked
            .iter()
            .all(|r| r.header("authorization") == Some(basic)),
        "{asked:?}"
    );
    // Both servers are 127.0.0.1. The redirect went to another origin (another port): nothing
    // was sent there. The other server's own entry gets them: netrc matches hosts, as in curl.
    let landed = other.requests();
    let after_redirect = landed.iter().find(|r| r.path() == "/landed").unwrap();
    assert_eq!(after_redirect.header("authorization"), None);
    let listed = landed.iter().find(|r| r.path() == "/b.bin").unwrap();
    assert_eq!(listed.header("authorization"), Some(basic));
    let stdout = &out.stdout;
    let stderr = &out.stderr;
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
    assert!(
        !stderr.contains("warning"),
        "a private netrc gets no warning: {stderr}"
    );

    // A netrc others can read works, with a warning; --netrc reads $NETRC.
    std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env
        .cmd()
        .args(["urls.txt", "-o", "out2", "--netrc"])
        .env("NETRC", &netrc)
        .run();
    assert_eq!(out.code, 0);
    let stderr = &out.stderr;
    assert_has(stderr, "can be read by other users");
    assert_lacks(stderr, "hunter2");
    // A netrc that cannot be read is a usage error.
    let out = env.cmd().args(["urls.txt", "--netrc-file", "nope"]).run();
    assert_eq!(out.code, 2);
    assert_has(&out.stderr, "cannot read the netrc file nope");
}

#[test]
fn a_netrc_that_reads_wrong_never_shows_a_word_of_it() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    // Only ci:#hunter2 may have it.
    let server = Server::start(|req| match req.header("authorization") {
        Some("Basic Y2k6I2h1bnRlcjI=") => Reply::ok("secret file"),
        _ => Reply::status(401),
    });
    env.list(&[server.url("/a.bin")]);
    let netrc = env.join("netrc");
    let write = |text: &str| {
        std::fs::write(&netrc, text).unwrap();
        std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let run = |out: &str| {
        let out = env
            .cmd()
            .args(["urls.txt", "-o", out, "--netrc-file", "netrc"])
            .run();
        assert_lacks(&out.stderr, "hunter");
        (Some(out.code), out.stderr, out.report)
    };
    // A quote never closed: nothing can be told apart, so nothing is run; the line is named.
    write("machine 127.0.0.1\nlogin ci\npassword \"hunter2 and more\n");
    let (code, stderr, _) = run("o1");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("netrc, line 3") || stderr.contains("line 3: a quoted word is not closed"),
        "{stderr}"
    );
    assert_eq!(server.request_count(), 0);
    // A password with a space and no quotes: its second half is a stray word, skipped with a
    // warning that names the line, not the word. The first half is sent (and refused).
    write("machine 127.0.0.1 login ci password hunter2 hunter3\n");
    let (code, stderr, report) = run("o2");
    assert_eq!(code, Some(1), "{stderr}");
    assert_has(&stderr, "line 1: skipped a word");
    assert_starts(&report[0], "failed      401");
    // A `#` in a password is part of it, as in curl; a comment is a whole line.
    write("# ci credentials\nmachine 127.0.0.1 login ci password #hunter2\n");
    let (code, stderr, _) = run("o3");
    assert_eq!(code, Some(0), "{stderr}");
    let sent = server
        .requests()
        .last()
        .unwrap()
        .header("authorization")
        .unwrap()
        .to_string();
    assert_eq!(sent, "Basic Y2k6I2h1bnRlcjI=", "ci:#hunter2");
}

#[test]
fn cacert_and_insecure_against_a_private_ca() {
    let env = TestEnv::new();
    let server = TlsServer::start(b"over tls");
    env.list(&[server.url("/t.bin")]);
    // Unknown CA: one attempt (the same certificate would be refused again), and a hint that
    // names both ways to trust it.
    let out = env.run(&["--json"]);
    assert_eq!(out.code, 1);
    let result = json(&out.report[0]);
    let error = result["error"].as_str().unwrap();
    assert_has(error, "UnknownIssuer");
    assert!(
        error.contains("--cacert FILE") && error.contains("SSL_CERT_FILE"),
        "{error}"
    );
    assert_eq!(result["attempts"], 1);
    // Both work: SSL_CERT_FILE ...
    env.write("ca.pem", &server.ca_pem);
    let out = env
        .cmd()
        .args(["urls.txt", "-o", "out-env"])
        .env("SSL_CERT_FILE", env.join("ca.pem"))
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.file("out-env/t.bin"), b"over tls");
    // ... and --cacert, byte for byte.
    let out = env.run(&["--cacert", "ca.pem"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.file("out/t.bin"), b"over tls");
    assert_lacks(&out.stderr, "warning");
    // -k: works, and says once that nothing was checked.
    let out = env.cmd().args(["urls.txt", "-o", "out-k", "-k"]).run();
    assert_eq!(out.code, 0, "{out:?}");
    let stderr = &out.stderr;
    assert_eq!(stderr.matches("warning: --insecure").count(), 1, "{stderr}");
    // A --cacert that is not a certificate is a usage error.
    env.write("junk.pem", "not a certificate\n");
    let out = env
        .cmd()
        .args(["urls.txt", "-o", "out-j", "--cacert", "junk.pem"])
        .run();
    assert_eq!(out.code, 2);
    assert_has(&out.stderr, "holds no PEM certificate");
}

/// The system's certificate store is read at the first TLS handshake, not at start: a list of
/// plain http URLs downloads on a machine whose store cannot be read, and an https URL there
/// fails after one attempt, saying what to do.
#[test]
fn the_certificate_store_is_read_only_when_a_tls_url_needs_it() {
    let env = TestEnv::new();
    let plain = Server::start(|_| Reply::ok(b"plain".to_vec()));
    let tls = TlsServer::start(b"over tls");
    let no_store = |cmd: &mut assert_cmd::Command| {
        cmd.env("SSL_CERT_FILE", "/nonexistent/ca.pem")
            .env("SSL_CERT_DIR", "/nonexistent");
    };
    env.list_as("plain.txt", &[plain.url("/p.bin")]);
    let mut cmd = env.cmd();
    no_store(&mut cmd);
    let out = cmd.args(["plain.txt", "-o", "out"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(env.file("out/p.bin"), b"plain");

    env.list_as("tls.txt", &[tls.url("/t.bin")]);
    let mut cmd = env.cmd();
    no_store(&mut cmd);
    let out = cmd
        .args(["tls.txt", "-o", "out", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let result = json(&lines(&out.stdout)[0]);
    let error = result["error"].as_str().unwrap();
    assert_has(error, "certificate store");
    assert_has(error, "--cacert FILE");
    assert_eq!(result["attempts"], 1, "the same store would fail again");
    assert!(!env.join("out/t.bin").exists());
}

#[test]
fn a_report_file_that_names_a_directory_is_refused_before_any_request() {
    let env = TestEnv::new().with(mixed_server());
    env.list(&[env.url("/ok.bin")]);
    env.mkdir("reports");
    for flag in ["--junit", "--report", "--failed-out"] {
        for target in ["reports", "reports/", "new/"] {
            let run = env.run(&[flag, target]);
            assert_eq!(run.code, 2, "{flag} {target}: {}", run.stderr);
            assert_has(&run.stderr, &format!("cannot create {flag} {target}"));
            assert_has(&run.stderr, "names a directory");
        }
    }
    assert_eq!(env.server().request_count(), 0, "nothing was downloaded");
    assert!(!env.exists("out"));
    assert!(!env.exists("new"));
    assert!(env.names("reports").is_empty());
}
