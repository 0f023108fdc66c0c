//! Datasets that arrive right: every common digest, checksum files, mirrors and Metalink files,
//! against loopback servers and the system's own checksum tools.

use crate::support::server::{Reply, Server};
use crate::support::{Run, RunIt, TestEnv, assert_has, assert_lacks, assert_starts};
use crate::support::{digest_hex, json, payload, sha256_hex};

#[test]
fn every_digest_on_a_line_is_checked_against_the_bytes() {
    let body = payload(300_000, 1);
    let env = TestEnv::new().with(Server::ranged(&body));
    let tools = [
        ("md5", "md5sum"),
        ("sha1", "sha1sum"),
        ("sha512", "sha512sum"),
    ];
    let mut sums = tools
        .map(|(key, tool)| format!("{key}={}", digest_hex(tool, &body)))
        .to_vec();
    sums.push(format!("blake2b={}", digest_hex("b2sum", &body)));
    let line = format!("{} {}", env.url("/d.bin"), sums.join(" "));
    // Text mode computes what the list asks, and nothing else.
    let run = env.fetch(&[&line], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_starts(&run.report[0], "ok");
    assert!(env.holds("out/d.bin", &body));
    // --json keeps its sha256 field: the digest of the saved file.
    std::fs::remove_file(env.join("out/d.bin")).unwrap();
    let run = env.fetch(&[line], &["--json"]);
    assert_eq!(run.json(0)["sha256"], sha256_hex(&body));
}

#[test]
fn one_wrong_digest_of_several_places_nothing_and_failed_out_keeps_them_all() {
    let body = payload(300_000, 1);
    let server = Server::ranged(&body);
    for (key, tool) in [
        ("md5", "md5sum"),
        ("sha1", "sha1sum"),
        ("sha512", "sha512sum"),
    ] {
        let env = TestEnv::new();
        let (sha, other) = (sha256_hex(&body), digest_hex(tool, b"another file"));
        let line = format!("{} sha256={sha} {key}={other}", server.url("/d.bin"));
        let run = env.fetch(&[line], &["--failed-out", "again.txt"]);
        assert_eq!(run.code, 1);
        // The reason names the algorithm.
        assert_has(&run.report[0], &format!("{key} mismatch: expected {other}"));
        assert!(env.out_files().is_empty(), "{key}: nothing placed");
        assert_has(env.text("again.txt"), &format!("{key}={other}"));
        assert_has(env.text("again.txt"), &format!("sha256={sha}"));
    }
}

#[test]
fn the_file_comes_from_the_next_mirror_when_one_cannot_serve_it() {
    let env = TestEnv::new();
    let body = payload(200_000, 2);
    let refused = format!("http://127.0.0.1:{}/f.iso", crate::support::free_port());
    let busy = Server::start(|_| Reply::status(503));
    let mut corrupt = body.clone();
    corrupt[1000] ^= 1;
    let corrupted = Server::ranged(&corrupt);
    let good = Server::ranged(&body);
    let line = format!(
        "{refused} sha256={} mirror={} mirror={} mirror={}",
        sha256_hex(&body),
        busy.url("/f.iso"),
        corrupted.url("/f.iso"),
        good.url("/pub/f.iso")
    );
    let args = ["--retries", "3", "--json", "-v"];
    let run = env.fetch(std::slice::from_ref(&line), &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(env.holds("out/f.iso", &body), "whole, from the good one");
    let result = run.json(0);
    assert_eq!(result["served_by"], good.url("/pub/f.iso"));
    assert_eq!(result["url"], refused, "the entry is still its own URL");
    // Each failure a mirror could fix moved on to the next URL at once: no URL was asked twice,
    // and there was no wait before the good one.
    assert_eq!(busy.request_count(), 1, "{}", run.stderr);
    assert_eq!(result["attempts"], 4, "{}", run.stderr);
    assert!(
        !run.stderr.contains("retry "),
        "no back-off: {}",
        run.stderr
    );
    assert_has(&run.stderr, "trying mirror 3 of 3");
    // In text, a short note names the mirror.
    std::fs::remove_file(env.join("out/f.iso")).unwrap();
    let run = env.fetch(&[line], &["--retries", "0"]);
    assert_eq!(run.code, 0);
    assert!(
        run.report[0].contains(&format!("  (from mirror {})", good.url("/pub/f.iso"))),
        "{:?}",
        run.report
    );
}

#[test]
fn back_off_comes_only_when_every_url_has_failed_once() {
    let env = TestEnv::new();
    let refused = format!("http://127.0.0.1:{}/f", crate::support::free_port());
    let busy = Server::start(|_| Reply::status(503));
    let gone = Server::start(|_| Reply::status(404));
    let line = format!(
        "{refused} mirror={} mirror={}",
        busy.url("/f"),
        gone.url("/f")
    );
    let run = env.fetch(&[line], &["--retries", "2", "--json", "-v"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // Round 1 asks all three at once; the 404 is out for good (asking again would not change
    // it); rounds 2 and 3 ask the other two, each after one wait.
    assert_eq!((gone.request_count(), busy.request_count()), (1, 3));
    assert_eq!(run.json(0)["attempts"], 7, "{}", run.stderr);
    let waits: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("] retry "))
        .collect();
    assert_eq!(waits.len(), 2, "one wait a round: {}", run.stderr);
    assert_has(waits[0], "retry 1/2");
    assert_has(waits[1], "retry 2/2");
    assert_starts(
        run.json(0)["error"].as_str().unwrap(),
        "all 3 URLs failed: ",
    );
}

#[test]
fn when_every_url_fails_one_failed_entry_says_what_each_did() {
    let env = TestEnv::new();
    let missing = Server::start(|_| Reply::status(404));
    let busy = Server::start(|_| Reply::status(503));
    let refused = format!("http://127.0.0.1:{}/x", crate::support::free_port());
    let secret = format!("{}?token=s3cret", busy.url("/x"));
    let line = format!("{} mirror={secret} mirror={refused}", missing.url("/x"));
    let args = ["--retries", "0", "--failed-out", "again.txt"];
    let Run { code, report, .. } = env.fetch(&[line], &args);
    assert_eq!(code, 1);
    assert_eq!(report.len(), 1);
    let failed = &report[0];
    assert_has(failed, "all 3 URLs failed");
    assert!(
        failed.contains(&format!("{}: HTTP 404", missing.url("/x"))),
        "{failed}"
    );
    assert!(
        failed.contains("?token=***: HTTP 503"),
        "redacted: {failed}"
    );
    assert!(
        failed.contains(&format!("{refused}: connection refused (127.0.0.1:")),
        "{failed}"
    );
    assert_lacks(failed, "s3cret");
    assert!(env.out_files().is_empty());
    // --failed-out keeps the mirrors on the line, in full for the re-run.
    let again = env.text("again.txt");
    assert!(again.contains(&format!("mirror={secret}")), "{again}");
    assert!(again.contains(&format!("mirror={refused}")), "{again}");
}

#[test]
fn bytes_from_one_mirror_join_another_only_when_the_version_vouches() {
    use crate::support::server::Body;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let body = payload(200_000, 3);
    for (mirror_etag, joined) in [("\"v1\"", true), ("\"other\"", false)] {
        let env = TestEnv::new();
        // The first URL breaks off at 60%, then is down.
        let answered = AtomicUsize::new(0);
        let first_body = body.clone();
        let first = Server::start(move |req| match answered.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::versioned(req, &first_body, "\"v1\"").framing(Body::Reset(120_000)),
            _ => Reply::status(503),
        });
        let mirror = Server::versioned(&body, mirror_etag);
        let line = format!("{} mirror={}", first.url("/f.bin"), mirror.url("/f.bin"));
        let run = env.fetch(&[line], &["--retries", "1", "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(env.holds("out/f.bin", &body), "never a mix");
        let asked = &mirror.requests()[0];
        assert!(
            asked.header("range").is_some(),
            "the rest, tied to the version"
        );
        assert_eq!(asked.header("if-range"), Some("\"v1\""));
        let result = run.json(0);
        match joined {
            true => assert_eq!(result["http_status"], 206),
            false => assert_eq!(result["http_status"], 200, "another version: whole"),
        }
    }
}

#[test]
fn per_host_counts_a_mirror_on_its_own_host() {
    // Entry a's host is down, its mirror is b's host; with --per-host 1 the two never run on
    // one host at once, and nothing waits forever.
    let env = TestEnv::new().with(crate::support::slow_server(150));
    let down = Server::start(|_| Reply::status(503));
    let a = format!("{} mirror={}", down.url("/a"), env.url("/a"));
    let urls = [a, env.url("/b"), env.url("/c")];
    let run = env.fetch(&urls, &["-j", "3", "--per-host", "1", "--retries", "0"]);
    assert_eq!(run.code, 0, "{:?} {}", run.report, run.stderr);
    let most = env.server().max_in_flight();
    assert_eq!(most, 1, "one at a time on the mirror's host");
    assert_eq!(env.file("out/a"), b"body of /a");
}

#[test]
fn headers_given_with_h_never_reach_a_mirror_on_another_origin() {
    let env = TestEnv::new();
    let private = Server::start(|_| Reply::status(503));
    let public = Server::start(|_| Reply::ok("the file"));
    let line = format!("{} mirror={}", private.url("/f"), public.url("/f"));
    let args = ["--retries", "0", "-H", "Authorization: Bearer s3cret"];
    let run = env.fetch(&[line], &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        private.requests()[0].header("authorization"),
        Some("Bearer s3cret")
    );
    assert_eq!(public.requests()[0].header("authorization"), None);
}

/// Runs `tool args...` in `dir` and returns its stdout: a checksums file as the tool writes it.
fn sums_by(dir: &std::path::Path, tool: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{tool} {args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn checksums_files_in_every_format_check_what_they_name() {
    let env = TestEnv::new();
    let www = env.join("www");
    std::fs::create_dir(&www).unwrap();
    let files = ["a.bin", "b.bin", "c.bin", "d.bin", "e.bin", "f.bin"];
    let mut bodies = std::collections::HashMap::new();
    for (i, name) in files.iter().enumerate() {
        let body = payload(50_000 + i, 10 + i as u64);
        std::fs::write(www.join(name), &body).unwrap();
        bodies.insert(format!("/{name}"), body);
    }
    // One file per format, each naming one file; the sums are made before the server changes
    // nothing, and f.bin is named by none.
    let sums = [
        ("SHA256SUMS", sums_by(&www, "sha256sum", &["a.bin"])),
        ("SHA512SUMS", sums_by(&www, "sha512sum", &["-b", "./b.bin"])),
        ("SHA1SUMS", sums_by(&www, "sha1sum", &["c.bin"])),
        ("md5sum.txt", sums_by(&www, "md5sum", &["d.bin"])),
        ("B2SUMS", sums_by(&www, "b2sum", &["e.bin"])),
    ];
    for (name, text) in &sums {
        env.write(name, text);
    }
    // The BSD tags, served over http, name a.bin too.
    let tags = sums_by(&www, "sha256sum", &["--tag", "a.bin"]);
    assert_starts(&tags, "SHA256 (a.bin) = ");
    let served = bodies.clone();
    let server = Server::start(move |req| match req.path() {
        "/rel/SHA256SUMS.tag" => Reply::ok(tags.clone()),
        path => match served.get(path) {
            Some(body) => Reply::ok(body.clone()),
            None => Reply::status(404),
        },
    });
    let urls: Vec<String> = files.iter().map(|f| server.url(&format!("/{f}"))).collect();
    let mut args: Vec<String> = sums
        .iter()
        .flat_map(|(name, _)| ["--checksums".to_string(), name.to_string()])
        .collect();
    args.extend([
        "--checksums".into(),
        server.url("/rel/SHA256SUMS.tag"),
        "--json".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = env.fetch(&urls, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (i, name) in files.iter().enumerate() {
        assert!(env.holds(format!("out/{name}"), &bodies[&format!("/{name}")]));
        assert_eq!(run.json(i)["status"], "ok");
    }
    assert_eq!(run.json(6)["unverified"], 1, "f.bin, which no file names");
    // In text, the summary says it.
    let run = env.fetch(&urls, &[&args[..10], &["--overwrite"]].concat());
    assert_eq!(run.code, 0);
    assert_has(&run.stderr, " (1 unverified); ");

    // A file that does not match what its checksums file says is never placed.
    let lying = TestEnv::new().handle(|_| Reply::ok(b"not the file".to_vec()));
    lying.write("SHA256SUMS", &sums[0].1);
    let run = lying.fetch(&[lying.url("/a.bin")], &["--checksums", "SHA256SUMS"]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "sha256 mismatch");
    assert!(lying.out_files().is_empty());
}

#[test]
fn a_clearsigned_checksums_file_vouches_only_for_what_it_signed() {
    let env = TestEnv::new();
    let (good, evil) = (payload(1000, 60), payload(1000, 61));
    // The signed message names good.bin; a line put before it, and one after its signature,
    // name evil.bin and (differently) good.bin: neither was signed.
    let text = format!(
        "{}  evil.bin\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{}  good.bin\n\
         -----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCAAd\n=abcd\n-----END PGP SIGNATURE-----\n\
         {}  good.bin\n",
        sha256_hex(&evil),
        sha256_hex(&good),
        sha256_hex(&evil),
    );
    env.write("SHA256SUMS.asc", text);
    let (g, e) = (good.clone(), evil.clone());
    let server = Server::start(move |req| match req.path() {
        "/good.bin" => Reply::ok(g.clone()),
        _ => Reply::ok(e.clone()),
    });
    let urls = [server.url("/good.bin"), server.url("/evil.bin")];
    let args = ["--checksums", "SHA256SUMS.asc", "--json"];
    let run = env.fetch(&urls, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(env.holds("out/good.bin", &good));
    assert_eq!(
        run.json(2)["unverified"],
        1,
        "evil.bin: no signed line names it"
    );
    assert_has(&run.stderr, "2 lines outside its signed message");
}

#[test]
fn a_checksums_file_may_start_with_a_byte_order_mark() {
    let env = TestEnv::new();
    let body = payload(1000, 62);
    env.write("SUMS", format!("\u{feff}{}  f.bin\n", sha256_hex(&body)));
    let server = Server::ranged(&body);
    let run = env.fetch(&[server.url("/f.bin")], &["--checksums", "SUMS", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json(1)["unverified"], 0, "{:?}", run.report);
}

#[test]
fn existing_files_are_checked_against_the_checksums_before_they_count_as_done() {
    let env = TestEnv::new();
    let body = payload(40_000, 20);
    let server = Server::ranged(&body);
    let out = env.join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("good.bin"), &body).unwrap();
    std::fs::write(out.join("bad.bin"), b"an old, broken copy").unwrap();
    std::fs::write(out.join("x"), &body).unwrap();
    let sums = sums_by(&out, "sha256sum", &["x"]);
    let sums = format!(
        "{}{}",
        sums.replace("  x", "  good.bin"),
        sums.replace("  x", "  bad.bin")
    );
    env.write("SHA256SUMS", sums);
    let urls = [server.url("/good.bin"), server.url("/bad.bin")];
    fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        [&["--checksums", "SHA256SUMS"], extra].concat()
    }
    // --skip-existing and -c: the good one is done, the bad one is not taken for done.
    for flag in ["--skip-existing", "-c"] {
        let run = env.fetch(&urls, &with(&[flag]));
        assert_eq!(run.code, 1, "{flag}");
        assert_starts(&run.report[0], "skipped");
        assert_has(&run.report[1], "its sha256 does not match");
    }
    // -u: the good one is unchanged without a request, the bad one is fetched again.
    let before = server.request_count();
    let run = env.fetch(&urls, &with(&["-u"]));
    assert_eq!(run.code, 0, "{:?}", run.report);
    assert_starts(&run.report[0], "unchanged");
    assert_starts(&run.report[1], "ok");
    assert!(env.holds("out/bad.bin", &body));
    assert_eq!(server.request_count(), before + 1);
}

#[test]
fn a_checksums_file_that_cannot_be_used_stops_the_run_before_any_request() {
    let env = TestEnv::new();
    let server = Server::start(|req| match req.path() {
        "/gone" => Reply::status(404),
        _ => Reply::ok("x"),
    });
    let sha = sha256_hex(b"x");
    env.write("GOOD", format!("{sha}  a\n"));
    env.write("BAD", format!("{sha}  a\n\n{sha} b\n"));
    for (source, expected) in [
        ("BAD".to_string(), "BAD:3: not a checksum line".to_string()),
        (
            "missing".to_string(),
            "cannot read --checksums missing".to_string(),
        ),
        (
            server.url("/gone"),
            format!("cannot fetch --checksums {}: HTTP 404", server.url("/gone")),
        ),
    ] {
        let run = env.fetch(
            &[server.url("/a")],
            &[
                "--checksums",
                "GOOD",
                "--checksums",
                &source,
                "--retries",
                "0",
            ],
        );
        assert_eq!(run.code, 2, "{source}");
        assert!(run.stderr.contains(&expected), "{}", run.stderr);
    }
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.path() == "/a")
            .count(),
        0,
        "nothing was downloaded"
    );
    // A digest on the line that a checksums file contradicts fails that line.
    let other = sha256_hex(b"y");
    let line = format!("{} sha256={other}", server.url("/a"));
    let run = env.fetch(&[line], &["--checksums", "GOOD"]);
    assert_eq!(run.code, 1);
    assert!(
        run.report[0].contains(&format!(
            "the list says sha256={other} but GOOD:1 says {sha}"
        )),
        "{:?}",
        run.report
    );
}

#[test]
fn a_metalink_file_is_a_list_of_files_with_their_hashes_and_mirrors() {
    let env = TestEnv::new();
    let (a, b) = (payload(70_000, 30), payload(30_000, 31));
    let down = Server::start(|_| Reply::status(503));
    let (sa, sb) = (a.clone(), b.clone());
    let up = Server::start(move |req| match req.path() {
        "/a.bin" => Reply::ok(sa.clone()),
        "/b.bin" => Reply::ok(sb.clone()),
        _ => Reply::status(404),
    });
    let meta4 = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <generator>hand</generator>
  <file name="pub/a.bin">
    <size>{}</size>
    <hash type="md5">{}</hash>
    <hash type="sha-256">{}</hash>
    <url priority="2">{}</url>
    <url priority="1">{}</url>
  </file>
  <file name="../escape.bin">
    <url>{}</url>
  </file>
  <file name="b.bin">
    <hash type="sha-1">{}</hash>
    <url>{}</url>
  </file>
</metalink>
"#,
        a.len(),
        digest_hex("md5sum", &a),
        sha256_hex(&a),
        up.url("/a.bin"),
        down.url("/a.bin"),
        up.url("/a.bin"),
        digest_hex("sha1sum", &b),
        up.url("/b.bin"),
    );
    env.write("data.meta4", meta4);
    let out = env
        .cmd()
        .args(["data.meta4", "-o", "out", "--retries", "0", "--json"])
        .args(["--failed-out", "again.txt"])
        .run();
    assert_eq!(out.code, 1, "{out:?}");
    let report: Vec<serde_json::Value> = out.report.iter().map(|l| json(l)).collect();
    assert_eq!(
        (report[0]["status"].as_str(), report[0]["line"].as_u64()),
        (Some("ok"), Some(4))
    );
    assert_eq!(
        report[0]["served_by"],
        up.url("/a.bin"),
        "priority 1 first, then 2"
    );
    assert_eq!(report[1]["status"], "failed");
    assert_eq!(report[1]["line"], 11);
    assert_starts(
        report[1]["error"].as_str().unwrap(),
        "data.meta4:11: out=../escape.bin",
    );
    assert_eq!(report[2]["status"], "ok");
    assert_eq!(report[3]["total"], 3);
    assert!(env.holds("out/pub/a.bin", &a));
    assert!(env.holds("out/b.bin", &b));
    assert_eq!(env.out_files(), ["b.bin", "pub/a.bin"]);
    let again = env.text("again.txt");
    assert_has(&again, "# data.meta4:11: ");

    // A document that says it is Metalink and is not well-formed cannot be read: nothing runs.
    env.write(
        "broken.meta4",
        "<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\"><file name=\"x\">",
    );
    let out = env.cmd().args(["broken.meta4", "-o", "out2"]).run();
    assert_eq!(out.code, 2);
    let stderr = &out.stderr;
    assert_has(stderr, "cannot read broken.meta4: not Metalink 4 XML");
}

#[test]
fn a_dry_run_shows_the_digests_it_would_check_and_the_mirrors() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok("x"));
    env.write("SHA256SUMS", format!("{}  a.bin\n", sha256_hex(b"x")));
    let urls = [
        format!(
            "{} md5={} mirror={}?token=s3cret",
            server.url("/a.bin"),
            digest_hex("md5sum", b"x"),
            server.url("/m/a.bin")
        ),
        server.url("/b.bin"),
    ];
    let args = [
        "--dry-run",
        "--checksums",
        "SHA256SUMS",
        "--checksums",
        "https://127.0.0.1:1/SHA512SUMS",
    ];
    let Run {
        code,
        report: plan,
        stderr,
        ..
    } = env.fetch(&urls, &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        plan[0].ends_with(&format!(
            "out/a.bin  (checked: md5, sha256)  (mirrors: {}?token=***)",
            server.url("/m/a.bin")
        )),
        "{plan:?}"
    );
    assert!(plan[1].ends_with("out/b.bin"), "{plan:?}");
    assert_has(
        &stderr,
        "--checksums https://127.0.0.1:1/SHA512SUMS: not fetched in a dry run",
    );
    let Run { report: plan, .. } = env.fetch(&urls, &[&args[..], &["--json"]].concat());
    assert_eq!(
        json(&plan[0])["digests"],
        serde_json::json!(["md5", "sha256"])
    );
    assert_eq!(json(&plan[1])["mirrors"], serde_json::json!([]));
    assert_eq!(server.request_count(), 0, "a dry run asks nothing");
}
