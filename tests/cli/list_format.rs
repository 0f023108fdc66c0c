//! The list: comments, blank lines, CRLF, options, and bad lines reported at their place.

use std::collections::HashMap;

use crate::support::server::{Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has, assert_lacks, assert_starts};
use crate::support::{payload, sha256_hex};

#[test]
fn list_format_with_options_and_bad_lines() {
    let env = TestEnv::new();
    let a = payload(5000, 1);
    let b = payload(7000, 2);
    let server = Server::files(HashMap::from([
        ("/a.bin".to_string(), a.clone()),
        ("/get".to_string(), b.clone()),
    ]));
    let list = format!(
        "# the first line is a comment\r\n\
         \r\n\
         {a_url}\r\n\
         not-a-url\r\n\
         ftp://127.0.0.1/x\r\n\
         {a_url} colour=red\r\n\
         {a_url} sha256=1234\r\n\
         {b_url}?id=7   out=sub/dir/b.bin\tsize={b_len}  sha256={b_sha}\r\n\
         \t# indented comment\r\n\
         {a_url} out=../escape.bin\r\n",
        a_url = server.url("/a.bin"),
        b_url = server.url("/get"),
        b_len = b.len(),
        b_sha = sha256_hex(&b),
    );
    env.write("urls.txt", list);
    let out = env.run(&[]);
    assert_eq!(out.code, 1, "bad lines make the run fail");
    let report = out.report.clone();
    assert_eq!(report.len(), 7, "{report:#?}");
    assert!(report[0].starts_with("ok ") && report[0].ends_with("out/a.bin"));
    assert_has(&report[1], "urls.txt:4: not a valid URL");
    assert_has(&report[2], "urls.txt:5: unsupported scheme 'ftp'");
    assert_has(&report[3], "urls.txt:6: unknown option 'colour'");
    assert_has(&report[4], "urls.txt:7: sha256= must be 64 hex digits");
    assert!(report[5].starts_with("ok ") && report[5].ends_with("out/sub/dir/b.bin"));
    assert_has(
        &report[6],
        "urls.txt:10: out=../escape.bin: '..' is not allowed",
    );
    assert_eq!(env.file("out/a.bin"), a);
    assert_eq!(env.file("out/sub/dir/b.bin"), b);
    assert_eq!(env.out_files(), ["a.bin", "sub/dir/b.bin"]);
    assert!(!env.join("escape.bin").exists());
}

#[test]
fn size_and_sha256_mismatches_fail_without_leaving_files() {
    let body = payload(4096, 3);
    let env = TestEnv::new().serve(&[("/x", &body)]);
    let (url, sha) = (env.url("/x"), sha256_hex(&body));
    let lines = [
        format!("{url} out=short size=4000"),
        format!("{url} out=bad-sha sha256={}", "0".repeat(64)),
        format!("{url} out=good size=4096 sha256={sha}"),
    ];
    let run = env.fetch(&lines, &[]);
    assert_eq!(run.code, 1);
    assert_has(
        &run.report[0],
        "the server announces 4096 bytes but the list says size=4000",
    );
    assert_has(&run.report[1], "sha256 mismatch");
    assert_starts(&run.report[2], "ok ");
    assert_eq!(env.out_files(), ["good"]);
}

#[test]
fn an_aria2_input_file_is_read_with_its_mirrors_and_option_lines() {
    use crate::support::{digest_hex, payload, sha256_hex};
    let env = TestEnv::new();
    let (a, b) = (payload(20_000, 40), payload(30_000, 41));
    let (sa, sb) = (a.clone(), b.clone());
    let server = Server::start(move |req| match (req.path(), req.header("x-token")) {
        ("/down/a.iso", _) => Reply::status(503),
        ("/a.iso", _) => Reply::ok(sa.clone()),
        ("/b.bin", Some("s3cret value")) => Reply::ok(sb.clone()),
        ("/b.bin", _) => Reply::status(403),
        _ => Reply::status(404),
    });
    // aria2c -i: mirrors separated by TAB, options on indented lines below.
    let input = format!(
        "{}\t{}\n  dir=iso\n  out=os.iso\n  checksum=sha-256={}\n\
         {}\n\theader=X-Token: s3cret value\n\tchecksum=md5={}\n\
         {}\n  max-connection-per-server=4\n  http-passwd=s3cret\n",
        server.url("/down/a.iso"),
        server.url("/a.iso"),
        sha256_hex(&a),
        server.url("/b.bin"),
        digest_hex("md5sum", &b),
        server.url("/c.bin"),
    );
    env.write("aria2.txt", input);
    let run = env.run_list(
        "aria2.txt",
        &["--retries", "0", "--json", "--failed-out", "again.txt"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let a_result = run.json(0);
    assert_eq!(a_result["path"], "out/iso/os.iso");
    assert_eq!(a_result["served_by"], server.url("/a.iso"));
    assert!(env.file("out/iso/os.iso") == a);
    assert_eq!(run.json(1)["status"], "ok", "its own header, sent");
    assert!(env.file("out/b.bin") == b);
    let unknown = run.json(2);
    assert_eq!(unknown["line"], 8);
    let error = unknown["error"].as_str().unwrap();
    // Said at the option line that is wrong, once.
    assert_starts(error, "aria2.txt:10: unknown option 'http-passwd'");
    assert_lacks(error, "s3cret");
    assert_eq!(run.report.len(), 4, "three entries and the summary");
    // --failed-out writes the unknown option's entry commented out, every line of it.
    let again = env.text("again.txt");
    assert_has(&again, "#   max-connection-per-server=4");
    assert_has(&again, "#   http-passwd=s3cret");
    assert!(!again.lines().any(|l| l.starts_with("  ")), "{again}");
}

#[test]
fn an_entrys_own_header_goes_back_into_failed_out_and_comes_back() {
    let env = TestEnv::new().handle(|req| match req.header("authorization") {
        Some("Bearer t0ken") => Reply::status(503),
        _ => Reply::status(401),
    });
    let header = "header=Authorization: Bearer t0ken";
    env.write("in.txt", format!("{}\n  {header}\n", env.url("/f")));
    let run = env.run_list("in.txt", &["--retries", "0", "--failed-out", "again.txt"]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "503");
    assert_has(env.text("again.txt"), &format!("\n  {header}"));
    // Run again from it: the header is sent again (503, not 401), and the secret is never shown.
    let run = env.run_list("again.txt", &["--retries", "0"]);
    assert_has(&run.report[0], "503");
    assert!(!run.report[0].contains("t0ken") && !run.stderr.contains("t0ken"));
}

#[test]
fn a_list_for_wget_dash_i_works_as_it_is() {
    // What `wget -i` reads: a URL a line, blank lines, comments.
    let env = TestEnv::new();
    let server = Server::start(|req| Reply::ok(format!("body of {}", req.path())));
    let list = format!(
        "# mirror of the docs\n{}\n\n{}\n",
        server.url("/a.html"),
        server.url("/img/b.png")
    );
    env.write("wget.txt", list);
    let out = env.cmd().args(["-i", "wget.txt", "-o", "out"]).run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.report.len(), 2);
    assert_eq!(env.text("out/b.png"), "body of /img/b.png");
}

#[test]
fn aria2_option_lines_as_people_write_them_are_read_and_tuning_is_ignored_once() {
    use crate::support::server::{Body, byte_range};

    const MIB: usize = 1024 * 1024;
    let env = TestEnv::new();
    let body = payload(4 * MIB, 7);
    let served = body.clone();
    let server = Server::start(move |req| {
        let from_the_page = req.header("referer") == Some("https://example.org/downloads")
            && req.header("user-agent") == Some("Mozilla/5.0 (X11; Linux)");
        if !from_the_page {
            return Reply::status(403);
        }
        Reply::ranged(req, &served)
            .header("Accept-Ranges", "bytes")
            .header("ETag", "\"v1\"")
            .framing(Body::Paced(4 * MIB as u64))
    });
    let mut input = String::new();
    for (i, name) in ["big.iso", "small.bin"].iter().enumerate() {
        input += &format!(
            "{}\n  split={}\n  max-connection-per-server=4\n  min-split-size=1M\n  \
             referer=https://example.org/downloads\n  user-agent=Mozilla/5.0 (X11; Linux)\n  \
             file-allocation=none\n",
            server.url(&format!("/{name}")),
            4 - 3 * i
        );
    }
    env.write("aria.txt", input);
    let args = [
        "-j",
        "4",
        "--split-min",
        "1M",
        "--json",
        "--failed-out",
        "f.txt",
    ];
    let run = env.run_list("aria.txt", &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json(0)["status"], "ok");
    assert_eq!(env.file("out/big.iso"), body);
    // split=4 cut the first file into ranges fetched side by side, with no --split on the
    // command line; split=1 kept the second in one stream.
    let ranged = |path: &str| {
        let requests = server.requests();
        requests
            .iter()
            .filter(|r| r.path() == path && byte_range(r).is_some())
            .count()
    };
    assert!(ranged("/big.iso") >= 2, "{} ranges", ranged("/big.iso"));
    assert_eq!(ranged("/small.bin"), 0);
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.contains("aria2")).collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains("max-connection-per-server= (aria.txt:1 and 1 more)")
            && warnings[0].contains("min-split-size=")
            && warnings[0].contains("file-allocation="),
        "{}",
        run.stderr
    );
}
