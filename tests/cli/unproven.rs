//! The pin under servers that break RFC 9110: ranges answered without naming their version (a
//! split's, a mirror's that ignores `If-Range`), and dates too weak to tell two versions apart
//! (the file rewritten in the second of the answer, or no `Date` to tell). Whatever they do, a
//! placed file is one version whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::payload;
use crate::support::server::{Body, Reply, Server, byte_range};
use crate::support::{TestEnv, assert_has, assert_starts};

const MIB: usize = 1024 * 1024;
/// Four workers, a split in four of pieces no smaller than 1 MiB, and `-v`.
const SPLIT_VERBOSE: [&str; 7] = ["-j", "4", "--split", "4", "--split-min", "1M", "-v"];

#[test]
fn a_split_whose_ranges_name_no_version_places_one_version_whole() {
    let (v1, v2) = (payload(4 * MIB, 90), payload(4 * MIB, 91));
    let (first, other) = (v1.clone(), v2.clone());
    // The plain GET is v1, pinned by its ETag and paced so that idle workers take pieces; every
    // range is answered 206 with v2's bytes and no validator at all.
    let env = TestEnv::new().handle(move |req| match byte_range(req) {
        None => Reply::ok(first.clone())
            .header("ETag", "\"v1\"")
            .header("Accept-Ranges", "bytes")
            .framing(Body::Paced(8 * MIB as u64)),
        Some(_) => Reply::ranged(req, &other),
    });
    let run = env.fetch(&[env.url("/f.bin")], &SPLIT_VERBOSE);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_starts(&run.report[0], "ok");
    assert!(env.holds("out/f.bin", &v1), "a mix: {}", run.stderr);
    assert_has(&run.stderr, "does not name the version");
    assert_eq!(env.out_files(), ["f.bin"]);
}

#[test]
fn a_mirror_that_ignores_if_range_and_names_no_version_is_not_joined() {
    let (v1, v2) = (payload(300_000, 92), payload(300_000, 93));
    const RESET: Body = Body::Reset(180_000);
    let answered = AtomicBool::new(false);
    // The listed server pins v1 by its ETag and breaks off at 60%, then fails.
    let listed = Server::start(move |_| match answered.swap(true, Ordering::SeqCst) {
        true => Reply::status(503),
        false => Reply::ok(v1.clone())
            .header("ETag", "\"v1\"")
            .framing(RESET),
    });
    // The mirror has v2, ignores If-Range, and names no version.
    let other = v2.clone();
    let env = TestEnv::new().handle(move |req| Reply::ranged(req, &other));
    let line = format!("{} mirror={}", listed.url("/f.bin"), env.url("/f.bin"));
    let run = env.fetch(&[line], &["--retries", "0", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_starts(&run.report[0], "ok");
    assert!(env.holds("out/f.bin", &v2), "a mix: {}", run.stderr);
    // The mirror's 206 was refused, then the whole file asked.
    assert_eq!(env.server().ranges().len(), 1);
}

/// A server whose file (no ETag) is `v1` until its first answer breaks off at 60%, then `v2`
/// of the same length and the same `Last-Modified`: as a file rewritten in the second it was
/// first answered in. It honours `If-Range` by its date, as nginx and Apache do. Its answers
/// are sent in that second too (`Date` = `Last-Modified`), or say no `Date` at all.
fn rewritten_in_the_same_second(v1: &[u8], v2: &[u8], no_date: bool) -> Server {
    const SECOND: &str = "Sun, 06 Dec 2026 10:00:00 GMT";
    let changed = Arc::new(AtomicBool::new(false));
    let (v1, v2) = (v1.to_vec(), v2.to_vec());
    Server::start(move |req| {
        let first = !changed.swap(true, Ordering::SeqCst);
        let body = if first { &v1 } else { &v2 };
        let stale = req.header("if-range").is_some_and(|d| d != SECOND);
        let reply = if stale {
            Reply::ok(body.clone())
        } else {
            Reply::ranged(req, body)
        };
        let reply = reply
            .header("Last-Modified", SECOND)
            .header("Date", if no_date { "none" } else { SECOND })
            .header("Accept-Ranges", "bytes");
        if first {
            return reply.framing(Body::Reset(body.len() * 6 / 10));
        }
        reply
    })
}

#[test]
fn a_weak_date_never_ties_a_retry_to_its_version() {
    for no_date in [false, true] {
        let env = TestEnv::new();
        let (v1, v2) = (payload(300_000, 94), payload(300_000, 95));
        let server = rewritten_in_the_same_second(&v1, &v2, no_date);
        let run = env.fetch(&[server.url("/f.bin")], &["-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_starts(&run.report[0], "ok");
        assert!(
            env.holds("out/f.bin", &v2),
            "no Date {no_date}: a mix: {}",
            run.stderr
        );
        let tied = server
            .requests()
            .iter()
            .any(|r| r.header("if-range").is_some());
        assert!(!tied, "a weak date went into If-Range");
    }
}

#[test]
fn a_weak_date_kept_with_a_part_never_ties_continue_to_its_version() {
    let env = TestEnv::new();
    let (v1, v2) = (payload(300_000, 96), payload(300_000, 97));
    let server = rewritten_in_the_same_second(&v1, &v2, false);
    let url = [server.url("/f.bin")];
    let run = env.fetch(&url, &["-c", "--retries", "0"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let part = env.join("out/f.bin.part");
    assert!(part.exists(), "-c keeps the .part");
    let run = env.fetch(&url, &["-c", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_starts(&run.report[0], "ok");
    assert!(env.holds("out/f.bin", &v2), "a mix: {}", run.stderr);
    let tied = server
        .requests()
        .iter()
        .any(|r| r.header("if-range").is_some());
    assert!(!tied, "a weak date went into If-Range");
    assert_eq!(env.out_files(), ["f.bin"]);
}

#[test]
fn a_weak_date_does_not_split_a_file() {
    const SECOND: &str = "Sun, 06 Dec 2026 10:00:00 GMT";
    let (v1, v2) = (payload(4 * MIB, 98), payload(4 * MIB, 99));
    let (first, other) = (v1.clone(), v2.clone());
    // The plain GET is v1; every range has v2's bytes under the same (weak) date, If-Range
    // honoured by that date.
    let env = TestEnv::new().handle(move |req| {
        let reply = match byte_range(req) {
            None => Reply::ok(first.clone()).framing(Body::Paced(8 * MIB as u64)),
            Some(_) => Reply::ranged(req, &other),
        };
        let dated = reply.header("Last-Modified", SECOND).header("Date", SECOND);
        dated.header("Accept-Ranges", "bytes")
    });
    let run = env.fetch(&[env.url("/f.bin")], &SPLIT_VERBOSE[..6]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_starts(&run.report[0], "ok");
    assert!(env.holds("out/f.bin", &v1), "a mix");
    assert_eq!(env.server().ranges().len(), 0);
}
