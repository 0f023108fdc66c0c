//! Bad networks, bad servers, Ctrl-C (README): network flags, retries, time limits, redirects,
//! size limits, resuming, --fail-fast, --failed-out, interruption and write failures, against a
//! fault-injecting server.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::support::server::{Body, Reply, Server};
use crate::support::{
    Run, RunIt, TestEnv, assert_has, assert_lacks, assert_starts, interrupt, wait, wait_until,
};
use crate::support::{json, lines, payload, wait_for};

/// A server whose first `failures` answers to each path come from `fault`, then `ok`.
fn flaky(
    failures: usize,
    fault: impl Fn() -> Reply + Send + Sync + 'static,
    ok: Vec<u8>,
) -> Server {
    let seen = Arc::new(AtomicUsize::new(0));
    Server::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) < failures {
            fault()
        } else {
            Reply::ok(ok.clone())
        }
    })
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let env = TestEnv::new();
    let port = crate::support::free_port();
    let run = env.fetch(
        &[format!("http://127.0.0.1:{port}/x")],
        &["--retries", "2", "--json"],
    );
    assert_eq!(run.code, 1);
    let v = run.json(0);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["attempts"], 3);
    assert_has(v["error"].as_str().unwrap(), "Connection refused");
    assert!(env.out_files().is_empty());
}

#[test]
fn reset_mid_body_then_success_on_retry() {
    let env = TestEnv::new();
    let body = payload(200_000, 11);
    let server = flaky(
        1,
        || Reply::ok(payload(200_000, 11)).framing(Body::Reset(50_000)),
        body.clone(),
    );
    let run = env.fetch(&[server.url("/r.bin")], &["--json"]);
    assert_eq!(run.code, 0);
    let v = run.json(0);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["attempts"], 2, "the true count of attempts");
    assert_eq!(env.file("out/r.bin"), body);
    assert_eq!(env.out_files(), ["r.bin"]);
}

#[test]
fn body_shorter_than_content_length_fails_after_retries() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok(payload(10_000, 1)).framing(Body::Truncated(4_000)));
    let run = env.fetch(&[server.url("/t.bin")], &["--retries", "1", "--json"]);
    assert_eq!(run.code, 1);
    let v = run.json(0);
    assert_eq!(v["attempts"], 2);
    assert_eq!(server.request_count(), 2);
    assert!(env.out_files().is_empty(), "no target, no .part");
}

#[test]
fn chunked_body_cut_off_fails() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok(payload(10_000, 1)).framing(Body::ChunkedCut(3_000)));
    let run = env.fetch(&[server.url("/c.bin")], &["--retries", "0"]);
    assert_eq!(run.code, 1);
    assert_starts(&run.report[0], "failed      200");
    assert_has(&run.report[0], "broke off after 3000 bytes");
    assert!(env.out_files().is_empty());
}

#[test]
fn body_without_content_length_is_marked_in_json() {
    let env = TestEnv::new();
    let body = payload(30_000, 2);
    let b = body.clone();
    let server = Server::start(move |_| Reply::ok(b.clone()).framing(Body::Unframed));
    let run = env.fetch(&[server.url("/u.bin")], &["--json"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.json(0)["length_unverified"], true);
    assert_eq!(env.file("out/u.bin"), body);
}

#[test]
fn stall_after_headers_hits_the_idle_timeout() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok(payload(10_000, 1)).framing(Body::Stall(1_000)));
    let run = env.fetch(
        &[server.url("/stall")],
        &["--timeout", "1", "--retries", "0"],
    );
    assert_eq!(run.code, 1);
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
    assert_has(&run.report[0], "broke off after 1000 bytes");
    assert_has(run.report[0].to_lowercase(), "timed out");
    assert!(env.out_files().is_empty());
}

#[test]
fn slow_drip_is_stopped_by_min_speed() {
    let env = TestEnv::new();
    // One byte every 100 ms: never idle for a second, but 10 B/s is far below 1 KiB/s.
    let server = Server::start(|_| {
        Reply::ok(payload(600, 1)).framing(Body::Drip(Duration::from_millis(100)))
    });
    let run = env.fetch(
        &[server.url("/drip")],
        &["--timeout", "1", "--retries", "0", "--min-speed", "1K"],
    );
    assert_eq!(run.code, 1);
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
    assert_has(&run.report[0], "below --min-speed");
    assert!(env.out_files().is_empty());
}

#[test]
fn idle_limit_is_not_a_limit_on_the_whole_download() {
    let env = TestEnv::new();
    // 2.5 s in all, but never a second without a byte.
    let body = payload(250, 8);
    let b = body.clone();
    let server =
        Server::start(move |_| Reply::ok(b.clone()).framing(Body::Drip(Duration::from_millis(10))));
    let run = env.fetch(
        &[server.url("/long")],
        &["--timeout", "1", "--retries", "0", "--min-speed", "0"],
    );
    assert_eq!(run.code, 0, "{:?}", run.report);
    assert_eq!(env.file("out/long"), body);
}

#[test]
fn max_time_limits_one_attempt() {
    let env = TestEnv::new();
    let server = Server::start(|_| {
        Reply::ok(payload(600, 1)).framing(Body::Drip(Duration::from_millis(20)))
    });
    let run = env.fetch(
        &[server.url("/drip")],
        &["--max-time", "1", "--retries", "0", "--min-speed", "0"],
    );
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "--max-time");
}

#[test]
fn retry_after_in_seconds_is_honoured() {
    let env = TestEnv::new();
    let server = flaky(
        1,
        || Reply::status(503).header("Retry-After", "1"),
        b"fine".to_vec(),
    );
    let run = env.fetch(&[server.url("/ra")], &["--json"]);
    assert_eq!(run.code, 0);
    assert!(run.took >= Duration::from_millis(950), "{:?}", run.took);
    assert_eq!(run.json(0)["attempts"], 2);
    assert_eq!(env.text("out/ra"), "fine");
}

#[test]
fn retry_after_as_http_date_is_honoured() {
    let env = TestEnv::new();
    let when = || httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let server = flaky(
        1,
        move || Reply::status(503).header("Retry-After", &when()),
        b"fine".to_vec(),
    );
    let run = env.fetch(&[server.url("/ra")], &["--json"]);
    assert_eq!(run.code, 0);
    // The date has whole seconds, so the wait is between 1 and 2 s.
    assert!(run.took >= Duration::from_millis(950), "{:?}", run.took);
    assert_eq!(run.json(0)["attempts"], 2);
}

#[test]
fn status_429_is_retried() {
    let env = TestEnv::new();
    let server = flaky(
        2,
        || Reply::status(429).header("Retry-After", "0"),
        b"fine".to_vec(),
    );
    let run = env.fetch(&[server.url("/busy")], &["--json"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.json(0)["attempts"], 3);
    assert_eq!(server.request_count(), 3);
}

#[test]
fn status_404_is_not_retried() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::status(404));
    let run = env.fetch(&[server.url("/gone")], &["--json", "--retries", "5"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.json(0)["attempts"], 1);
    assert_eq!(server.request_count(), 1);
}

#[test]
fn redirect_chain_is_followed() {
    let env = TestEnv::new().handle(|req| match req.path() {
        "/r1" => Reply::status(301).header("Location", "/r2"),
        "/r2" => Reply::status(302).header("Location", "r3"),
        "/r3" => Reply::status(307).header("Location", "/final?x=1"),
        "/final" => Reply::ok("arrived"),
        _ => Reply::status(404),
    });
    let run = env.fetch(&[env.url("/r1")], &["--json"]);
    assert_eq!(run.code, 0, "{:?}", run.report);
    assert_eq!(env.text("out/r1"), "arrived");
    assert_eq!(env.server().request_count(), 4);
    // Too few redirects allowed: fails, nothing saved.
    let run = env.fetch(&[env.url("/r1")], &["--max-redirects", "2", "--overwrite"]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "too many redirects");
}

#[test]
fn redirect_loop_ends() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::status(302).header("Location", "/loop"));
    let run = env.fetch(&[server.url("/loop")], &["--max-redirects", "5"]);
    assert_eq!(run.code, 1);
    assert_starts(&run.report[0], "failed      302");
    assert_has(
        &run.report[0],
        "too many redirects (more than --max-redirects 5)",
    );
    assert_eq!(server.request_count(), 6);
    assert!(env.out_files().is_empty());
}

#[test]
fn redirect_to_file_url_is_refused() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::status(302).header("Location", "file:///etc/passwd"));
    let run = env.fetch(&[server.url("/evil")], &[]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "refused a redirect to a file: URL");
    assert!(env.out_files().is_empty());
}

#[test]
fn cross_origin_redirect_drops_headers() {
    let env = TestEnv::new();
    let other = Server::start(|_| Reply::ok("other origin"));
    let target = other.url("/landing");
    let first = Server::start(move |req| match req.path() {
        "/same" => Reply::status(302).header("Location", "/moved"),
        "/moved" => Reply::status(302).header("Location", &target),
        _ => Reply::status(404),
    });
    let run = env.fetch(
        &[first.url("/same")],
        &[
            "-H",
            "Authorization: Bearer s3cret",
            "-H",
            "X-Custom: yes",
            "-H",
            "Cookie: a=b",
            "-A",
            "probe/1.0",
        ],
    );
    assert_eq!(run.code, 0);
    assert_eq!(env.text("out/same"), "other origin");
    // The listed origin saw them on both hops (a same-origin redirect keeps them).
    for req in first.requests() {
        assert_eq!(req.header("authorization"), Some("Bearer s3cret"));
        assert_eq!(req.header("x-custom"), Some("yes"));
        assert_eq!(req.header("cookie"), Some("a=b"));
        assert_eq!(req.header("user-agent"), Some("probe/1.0"));
    }
    let seen = other.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[0].header("x-custom"), None);
    assert_eq!(seen[0].header("cookie"), None);
    assert_eq!(seen[0].header("referer"), None);
}

#[test]
fn huge_content_length_is_refused_before_any_file() {
    let env = TestEnv::new();
    let server =
        Server::start(|_| Reply::ok(Vec::new()).framing(Body::Announce(50 * 1024 * 1024 * 1024)));
    let run = env.fetch(&[server.url("/huge")], &["--max-size", "10M"]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "more than --max-size 10485760");
    assert!(!env.join("out").exists() || env.out_files().is_empty());
    assert_eq!(server.request_count(), 1, "not retried");
}

#[test]
fn endless_body_is_stopped_by_max_size() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok(Vec::new()).framing(Body::Endless));
    let run = env.fetch(&[server.url("/endless")], &["--max-size", "100K"]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "passed --max-size 102400");
    assert!(env.out_files().is_empty());
}

#[test]
fn continue_resumes_with_range() {
    let body = payload(100_000, 21);
    let env = TestEnv::new().with(Server::ranged(&body));
    env.write("out/big.bin.part", &body[..40_000]);
    let sha = crate::support::sha256_hex(&body);
    let line = format!("{} size=100000 sha256={sha}", env.url("/big.bin"));
    let run = env.fetch(&[line], &["--continue", "--json"]);
    assert_eq!(run.code, 0, "{:?}", run.report);
    assert_eq!(env.file("out/big.bin"), body);
    assert_eq!(env.server().sent("range")[0], "bytes=40000-");
    assert_eq!(run.json(0)["http_status"], 206);
    let sha_of = run.json(0)["sha256"].clone();
    assert_eq!(sha_of, sha, "the digest covers the resumed bytes too");
    assert_eq!(env.out_files(), ["big.bin"]);
    // Run again: the complete target counts as skipped.
    let run = env.fetch(&[env.url("/big.bin")], &["--continue"]);
    assert_eq!(run.code, 0);
    assert_starts(&run.report[0], "skipped ");
}

#[test]
fn continue_against_a_server_that_ignores_range_starts_over() {
    let env = TestEnv::new();
    let body = payload(50_000, 22);
    let b = body.clone();
    // Same version, but every request gets the whole file.
    let server = Server::start(move |_| Reply::ok(b.clone()).header("ETag", "\"v1\""));
    env.mkdir("out");
    // The stale .part holds other bytes: appending to it would corrupt the file.
    let part = env.join("out/f.bin.part");
    crate::support::plant_part(&part, &[b'?'; 20_000], "\"v1\"", 50_000);
    let run = env.fetch(&[server.url("/f.bin")], &["--continue"]);
    assert_eq!(run.code, 0, "{:?}", run.report);
    let requests = server.requests();
    assert_eq!(requests[0].header("range"), Some("bytes=20000-"));
    assert_eq!(requests[0].header("if-range"), Some("\"v1\""));
    assert_eq!(requests.len(), 1, "the 200's own body is the file");
    assert_eq!(env.file("out/f.bin"), body);
    assert_eq!(env.out_files(), ["f.bin"]);
}

#[test]
fn continue_builds_on_a_part_only_when_its_version_is_known() {
    // Text mode and no sha256=: nothing is hashed, and only the version kept with the .part
    // (here its ETag) can vouch for its bytes.
    let body = payload(100_000, 24);
    let env = TestEnv::new().with(Server::versioned(&body, "\"v1\""));
    env.plant_part("out/big.bin.part", &body[..25_000], "\"v1\"", 100_000);
    let run = env.fetch(&[env.url("/big.bin")], &["--continue"]);
    assert_eq!(run.code, 0, "{:?}", run.report);
    assert_starts(&run.report[0], "ok          206");
    assert_eq!(env.server().sent("range"), ["bytes=25000-"]);
    assert_eq!(env.server().sent("if-range"), ["\"v1\""]);
    assert_eq!(env.file("out/big.bin"), body);
    assert_eq!(env.out_files(), ["big.bin"]);
}

#[test]
fn continue_never_builds_on_a_part_of_no_known_version() {
    // Another tool's .part, or an older fetchpool's: the same bytes by length alone could be
    // of another version.
    let body = payload(100_000, 24);
    let env = TestEnv::new().with(Server::versioned(&body, "\"v1\""));
    env.write("out/big.bin.part", &body[..25_000]);
    let run = env.fetch(&[env.url("/big.bin")], &["--continue", "-v"]);
    assert_eq!(run.code, 0, "{:?}", run.report);
    assert_starts(&run.report[0], "ok          200");
    assert_eq!(env.server().sent("range"), ["-"]);
    assert_has(&run.stderr, "is not known");
    assert_eq!(env.file("out/big.bin"), body);
    assert_eq!(env.out_files(), ["big.bin"]);
}

#[test]
fn a_listed_sha256_checks_the_resumed_bytes_in_text_mode_too() {
    // The .part's first bytes are not the server's: only a digest over the whole file, old
    // bytes included, can tell, and text mode computes it because the list asks. With the
    // digest to catch a mix, a .part of no known version is built on; when it does not match,
    // the joined bytes are dropped and the file is fetched whole.
    let env = TestEnv::new();
    let body = payload(100_000, 25);
    let server = Server::ranged(&body);
    env.mkdir("out");
    let mut wrong = body[..40_000].to_vec();
    wrong[100] ^= 0xff;
    let part = env.join("out/big.bin.part");
    std::fs::write(&part, &wrong).unwrap();
    let sha = crate::support::sha256_hex(&body);
    let line = [format!("{} sha256={sha}", server.url("/big.bin"))];
    let run = env.fetch(&line, &["--continue", "--retries", "0"]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "sha256 mismatch");
    assert_has(&run.report[0], "starting over");
    assert_eq!(server.requests()[0].header("range"), Some("bytes=40000-"));
    assert!(
        env.out_files().is_empty(),
        "no target, and the .part that cannot be right is removed"
    );

    // With a retry, the second attempt fetches the file whole.
    std::fs::write(&part, &wrong).unwrap();
    let before = server.request_count();
    let run = env.fetch(&line, &["--continue", "--json"]);
    assert_eq!(run.code, 0, "{:?}", run.report);
    assert_eq!(run.json(0)["attempts"], 2);
    assert_eq!(run.json(0)["sha256"], sha);
    assert_eq!(server.requests()[before + 1].header("range"), None);
    assert_eq!(env.file("out/big.bin"), body);
}

/// Answers a Range request with at most `cap` bytes (an honest Content-Range, and the ETag
/// "s1"), and a plain request with a 206 of the first `cap` bytes that nobody asked for.
fn stingy_ranges(body: Vec<u8>, cap: usize) -> Server {
    Server::start(move |req| {
        let start = req
            .header("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let end = (start + cap).min(body.len());
        Reply {
            status: 206,
            ..Reply::ok(body[start..end].to_vec())
        }
        .header(
            "Content-Range",
            &format!("bytes {start}-{}/{}", end - 1, body.len()),
        )
        .header("ETag", "\"s1\"")
    })
}

#[test]
fn a_206_short_of_the_end_is_continued_never_placed_short() {
    let body = payload(100_000, 26);
    let env = TestEnv::new().with(stingy_ranges(body.clone(), 40_000));
    env.plant_part("out/f.bin.part", &body[..10_000], "\"s1\"", 100_000);
    // No retries: the first 206 ends at 50,000 of 100,000; nothing is placed, the bytes are kept.
    let run = env.fetch(&[env.url("/f.bin")], &["--continue", "--retries", "0"]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "50000 of 100000");
    assert_eq!(env.out_files(), ["f.bin.part"]);
    assert_eq!(env.file("out/f.bin.part"), &body[..50_000]);
    // With retries, each attempt asks for what is still missing, until the file is whole.
    let run = env.fetch(&[env.url("/f.bin")], &["--continue", "--json"]);
    assert_eq!(run.code, 0, "{:?}", run.report);
    assert_eq!(run.json(0)["attempts"], 2);
    assert_eq!(env.file("out/f.bin"), body);
    let ranges = env.server().sent("range");
    assert_eq!(ranges, ["bytes=10000-", "bytes=50000-", "bytes=90000-"]);
    assert_eq!(env.out_files(), ["f.bin"]);
}

#[test]
fn an_unasked_206_is_not_a_whole_file() {
    let env = TestEnv::new();
    let server = stingy_ranges(payload(100_000, 27), 100);
    let run = env.fetch(&[server.url("/f.bin")], &["--retries", "0"]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "no range was asked for");
    assert!(env.out_files().is_empty());
}

#[test]
fn continue_never_appends_to_a_part_with_other_hard_links() {
    let env = TestEnv::new();
    let body = payload(100_000, 28);
    let server = Server::ranged(&body);
    env.mkdir("out");
    let other = env.join("other.bin");
    std::fs::write(&other, &body[..30_000]).unwrap();
    std::fs::hard_link(&other, env.join("out/f.bin.part")).unwrap();
    let run = env.fetch(&[server.url("/f.bin")], &["--continue"]);
    assert_eq!(run.code, 0, "{:?}", run.report);
    assert_eq!(env.file("out/f.bin"), body);
    assert_eq!(
        std::fs::read(&other).unwrap(),
        &body[..30_000],
        "the other name is untouched"
    );
    assert_eq!(server.requests()[0].header("range"), None, "started over");
    assert_eq!(env.out_files(), ["f.bin"]);
}

#[test]
fn continue_with_a_complete_part_verifies_it() {
    let env = TestEnv::new();
    let body = payload(30_000, 23);
    let server = Server::versioned(&body, "\"v1\"");
    env.mkdir("out");
    let part = env.join("out/f.bin.part");
    crate::support::plant_part(&part, &body, "\"v1\"", 30_000);
    let run = env.fetch(
        &[format!("{} size=30000", server.url("/f.bin"))],
        &["--continue"],
    );
    assert_eq!(run.code, 0, "{:?}", run.report);
    assert_starts(&run.report[0], "ok          416");
    assert_eq!(env.file("out/f.bin"), body);
    assert_eq!(env.out_files(), ["f.bin"]);
}

#[test]
fn continue_keeps_the_part_of_a_failed_download() {
    let env = TestEnv::new();
    let body = payload(80_000, 24);
    let b = body.clone();
    let cut = Server::start(move |_| Reply::ok(b.clone()).framing(Body::Truncated(30_000)));
    let run = env.fetch(&[cut.url("/k.bin")], &["--continue", "--retries", "0"]);
    assert_eq!(run.code, 1);
    assert_eq!(env.file("out/k.bin.part"), &body[..30_000]);
    assert!(!env.join("out/k.bin").exists());
}

#[test]
fn fail_fast_reports_the_rest_not_started() {
    let env = TestEnv::new();
    let server = Server::start(|req| match req.path() {
        "/bad" => Reply::status(404),
        _ => Reply::ok("fine"),
    });
    let urls: Vec<String> = ["/a", "/bad", "/c", "/d", "/e"]
        .iter()
        .map(|p| server.url(p))
        .collect();
    let run = env.fetch(&urls, &["--fail-fast", "-j", "1"]);
    assert_eq!(run.code, 1);
    assert_starts(&run.report[0], "ok ");
    assert_starts(&run.report[1], "failed      404");
    for line in &run.report[2..] {
        assert_starts(line, "not-started ");
    }
    assert_eq!(env.out_files(), ["a"]);
}

#[test]
fn failed_out_replaces_a_readable_file_and_a_symlink_with_a_private_one() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::status(404));
    let url = server
        .url("/gone")
        .replace("http://", "http://ann:pw-SECRET@");
    // An old list others can read, and a symlink that points at a file to keep.
    let old = env.join("rest.txt");
    std::fs::write(&old, "old\n").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    let victim = env.join("victim.txt");
    std::fs::write(&victim, "keep me\n").unwrap();
    symlink(&victim, env.join("link.txt")).unwrap();
    for name in ["rest.txt", "link.txt"] {
        let run = env.fetch(std::slice::from_ref(&url), &["--failed-out", name]);
        assert_eq!(run.code, 1);
        let path = env.join(name);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file(), "{name} is a regular file now");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        assert_has(std::fs::read_to_string(&path).unwrap(), "pw-SECRET");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
    assert_eq!(
        env.names(""),
        ["link.txt", "out", "rest.txt", "urls.txt", "victim.txt"],
        "no temp left"
    );
}

#[test]
fn failed_out_is_a_list_of_what_to_retry() {
    let env = TestEnv::new();
    let fixed = Arc::new(AtomicUsize::new(0));
    let flag = Arc::clone(&fixed);
    let server = Server::start(move |req| match req.path() {
        "/later" if flag.load(Ordering::SeqCst) == 0 => Reply::status(404),
        _ => Reply::ok(format!("body of {}", req.path())),
    });
    let urls = vec![
        server.url("/ok"),
        format!("{} size=14", server.url("/later")),
        "ftp://nope/x".to_string(),
        server.url("/x/ok"),
    ];
    let run = env.fetch(&urls, &["--failed-out", "retry.txt", "-q"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let retry = env.text("retry.txt");
    let retry_lines: Vec<&str> = retry.lines().collect();
    assert_eq!(
        retry_lines[0],
        format!("{} out=later size=14", server.url("/later"))
    );
    assert!(retry_lines[1].starts_with("# ") && retry_lines[1].contains("urls.txt:3:"));
    assert_eq!(retry_lines[2], "# ftp://nope/x");
    assert_eq!(retry_lines.len(), 3);

    // The server recovers; the file is a valid list that fetches just what failed.
    fixed.store(1, Ordering::SeqCst);
    let out = env.run_list("retry.txt", &[]);
    assert_eq!(out.code, 0);
    assert_eq!(out.report.len(), 1);
    assert_eq!(env.text("out/later"), "body of /later");
    assert_eq!(env.out_files(), ["later", "ok", "ok-2"]);
}

#[test]
fn sigint_mid_download_stops_cleanly() {
    let env = TestEnv::new();
    let server = Server::start(|req| match req.path() {
        p if p.starts_with("/fast") => Reply::ok(payload(5_000, 3)),
        // Headers and a little body, then silence: only an interruption ends this soon.
        _ => Reply::ok(payload(100_000, 4)).framing(Body::Stall(10_000)),
    });
    let mut urls: Vec<String> = (0..3).map(|i| server.url(&format!("/fast{i}"))).collect();
    urls.push(server.url("/stuck1"));
    urls.push(server.url("/stuck2"));
    urls.extend((3..6).map(|i| server.url(&format!("/fast{i}"))));
    let list = env.list(&urls);
    let child = env
        .std_cmd()
        .arg(&list)
        .args(["-o", "out", "-j", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until both stalled downloads are streaming into their .part files.
    let streaming = |name: &str| env.exists(format!("out/{name}.part"));
    wait_until("downloads never started", || {
        streaming("stuck1") && streaming("stuck2")
    });
    std::thread::sleep(Duration::from_millis(100));
    let out = interrupt(child);
    let took = out.took;
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    assert_eq!(out.code, 130);
    let report = &out.report;
    for (i, line) in report[..3].iter().enumerate() {
        assert!(
            line.starts_with("ok ") && line.ends_with(&format!("out/fast{i}")),
            "{line}"
        );
    }
    assert_has(&report[3], "interrupted");
    assert_has(&report[4], "interrupted");
    let stderr = &out.stderr;
    assert_has(stderr, "(interrupted)");
    // Finished files whole, no .part left, nothing at the interrupted targets.
    assert_eq!(env.out_files(), ["fast0", "fast1", "fast2"]);
    for i in 0..3 {
        assert_eq!(env.file(format!("out/fast{i}")), payload(5_000, 3));
    }
}

#[test]
fn write_failure_fails_that_entry_and_keeps_the_rest_whole() {
    // A 64 KiB tmpfs makes the disk fill up for real. Mounting needs root; CI runs as root.
    if is_root() {
        let env = TestEnv::new();
        let mnt = env.join("small");
        std::fs::create_dir(&mnt).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&mnt)
            .status()
            .unwrap();
        assert!(mounted.success(), "cannot mount a tmpfs as root");
        let files = HashMap::from([
            ("/small.bin".to_string(), payload(8_000, 1)),
            ("/big.bin".to_string(), payload(500_000, 2)),
            ("/small2.bin".to_string(), payload(8_000, 3)),
        ]);
        let server = Server::files(files.clone());
        let urls = [
            server.url("/small.bin"),
            server.url("/big.bin"),
            server.url("/small2.bin"),
        ];
        let list = env.list(&urls);
        let out = env
            .cmd()
            .arg(&list)
            .arg("-o")
            .arg(&mnt)
            .args(["--serial", "--json"])
            .run();
        let report = out.report.clone();
        let on_disk = crate::support::files_below(&mnt);
        let small = std::fs::read(mnt.join("small.bin"));
        let small2 = std::fs::read(mnt.join("small2.bin"));
        let _ = std::process::Command::new("umount").arg(&mnt).status();
        assert_eq!(out.code, 1);
        let big = json(&report[1]);
        assert_eq!(big["status"], "failed");
        assert_has(big["error"].as_str().unwrap(), "No space left on device");
        assert_eq!(
            big["attempts"], 1,
            "not retried: the disk will not empty itself"
        );
        assert_eq!(json(&report[0])["status"], "ok");
        assert_eq!(json(&report[2])["status"], "ok");
        assert_eq!(small.unwrap(), files["/small.bin"]);
        assert_eq!(
            small2.unwrap(),
            files["/small2.bin"],
            "space freed by the removed .part"
        );
        assert_eq!(on_disk, ["small.bin", "small2.bin"]);
    } else {
        eprintln!("write_failure test needs root to mount a tmpfs; not run");
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn a_second_sigint_exits_at_once() {
    let env = TestEnv::new();
    // Thousands of report lines into a pipe nobody reads: the report blocks once the pipe is
    // full, so the first Ctrl-C cannot finish the run, and only the second can end it.
    let urls: Vec<String> = (0..5000).map(|i| format!("ftp://127.0.0.1/{i}")).collect();
    let list = env.list(&urls);
    let mut child = env
        .std_cmd()
        .arg(&list)
        .args(["-o", "out"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let it fill the pipe and block.
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "a full pipe blocks it");
    let pid = child.id().to_string();
    let kill = || {
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
    };
    kill();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first Ctrl-C waits for the report it must print"
    );
    let sent = Instant::now();
    kill();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the second Ctrl-C did not end it"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let out = child.wait_with_output().unwrap();
    // Cut short: no summary, and the report stopped where the pipe was full.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_lacks(&stderr, "(interrupted)");
    assert!(lines(&out.stdout).len() < urls.len());
}

#[test]
fn sigint_while_a_piped_list_is_silent_ends_the_run() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok("body"));
    let mut child = env.spawn_reading_stdin(&[]);
    // One line, then the producer goes quiet without closing the pipe.
    let mut stdin = child.stdin.take().unwrap();
    use std::io::Write as _;
    writeln!(stdin, "{}", server.url("/first")).unwrap();
    stdin.flush().unwrap();
    wait_for(&env.join("out/first"));
    let out = interrupt(child);
    let took = out.took;
    drop(stdin);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(out.code, 130);
    let report = &out.report;
    assert_eq!(report.len(), 1, "{report:?}");
    assert!(report[0].starts_with("ok ") && report[0].ends_with("out/first"));
    assert_has(&out.stderr, "1 ok, 0 failed");
}

#[test]
fn sigint_during_a_retry_wait_ends_it() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::status(503).header("Retry-After", "30"));
    let list = env.list(&[server.url("/busy")]);
    let child = env
        .std_cmd()
        .arg(&list)
        .args(["-o", "out", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("no request made", || server.request_count() > 0);
    std::thread::sleep(Duration::from_millis(200));
    let out = interrupt(child);
    let took = out.took;
    assert!(
        took < Duration::from_secs(5),
        "a 30 s wait was not cut: {took:?}"
    );
    assert_eq!(out.code, 130);
    let v = json(&out.report[0]);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["attempts"], 1);
    assert_has(
        v["error"].as_str().unwrap(),
        "interrupted while waiting to retry",
    );
    assert_eq!(server.request_count(), 1);
}

#[test]
fn a_stalled_attempt_ends_at_max_time_not_at_the_idle_limit() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok(payload(10_000, 1)).framing(Body::Stall(1_000)));
    let run = env.fetch(
        &[server.url("/stall")],
        &["--timeout", "30", "--max-time", "1", "--retries", "0"],
    );
    // The idle limit alone would hold it for 30 s.
    assert!(run.took < Duration::from_secs(15), "{:?}", run.took);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "--max-time 1s");
    assert!(env.out_files().is_empty());
}

#[test]
fn limit_rate_waits_end_at_max_time() {
    let env = TestEnv::new();
    // 200 KB at 1 KiB/s would take minutes; --max-time 2 must end it, sleeping or not.
    let server = Server::start(|_| Reply::ok(payload(200_000, 5)));
    let run = env.fetch(
        &[server.url("/big")],
        &["--limit-rate", "1K", "--max-time", "2", "--retries", "0"],
    );
    assert!(run.took < Duration::from_secs(20), "{:?}", run.took);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "--max-time 2s");
    assert!(env.out_files().is_empty());
}

#[test]
fn a_second_run_never_touches_a_part_the_first_is_writing() {
    for resume in [false, true] {
        let env = TestEnv::new();
        let body = payload(3_000, 29);
        let b = body.clone();
        // About three seconds a download, and ranges honoured, so -c has something to resume.
        let server = Server::start(move |req| {
            Reply::ranged(req, &b).framing(Body::Drip(Duration::from_millis(1)))
        });
        env.list(&[server.url("/slow.bin")]);
        let args: &[&str] = if resume { &["--continue"] } else { &[] };
        let first = env.spawn(args);
        let part = env.join("out/slow.bin.part");
        wait_for(&part);
        std::thread::sleep(Duration::from_millis(300));

        let Run { code, report, .. } = env.fetch(&[server.url("/slow.bin")], args);
        assert_eq!(code, 1, "resume={resume}: {report:?}");
        assert!(
            report[0].contains("being downloaded by another fetchpool"),
            "resume={resume}: {}",
            report[0]
        );
        assert!(
            part.exists(),
            "resume={resume}: the live .part is still there"
        );

        let out = first.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "resume={resume}: {out:?}");
        assert_eq!(
            env.file("out/slow.bin"),
            body,
            "resume={resume}: the first run's file is whole"
        );
        assert_eq!(env.out_files(), ["slow.bin"]);
    }
}

#[test]
fn a_stale_part_without_a_lock_is_replaced() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok("fresh bytes"));
    env.mkdir("out");
    env.write("out/f.bin.part", "stale");
    let run = env.fetch(&[server.url("/f.bin")], &[]);
    assert_eq!(run.code, 0, "{:?}", run.report);
    assert_eq!(env.text("out/f.bin"), "fresh bytes");
    assert_eq!(env.out_files(), ["f.bin"]);
}

#[test]
fn only_the_file_this_run_wrote_is_placed() {
    let env = TestEnv::new()
        .handle(|_| Reply::ok(payload(2_000, 30)).framing(Body::Drip(Duration::from_millis(1))));
    env.list(&[env.url("/f.bin")]);
    let child = env.spawn(&[]);
    wait_for(&env.join("out/f.bin.part"));
    // Someone else moves the .part aside and puts their own file at its name.
    std::fs::rename(env.join("out/f.bin.part"), env.join("out/moved")).unwrap();
    env.write("out/f.bin.part", "impostor");
    let run = wait(child);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "was replaced while downloading");
    assert!(!env.exists("out/f.bin"), "the impostor is not placed");
    assert_eq!(env.text("out/f.bin.part"), "impostor", "nor removed");
}
