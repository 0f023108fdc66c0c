//! One version per entry, attacked: servers that change the file between two requests (the
//! same length or another; an ETag only, a date only, neither), that ignore `If-Range`, that send
//! a 206 past its own range (however it is framed), and a reset near the end of a large file.
//! Whatever they do, the placed file is one version whole, or nothing is placed, and the report
//! says which.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::payload;
use crate::support::server::{Body, Reply, Request, Server, byte_range};
use crate::support::{TestEnv, assert_has, assert_starts};

const D1: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const D2: &str = "Mon, 07 Nov 1994 08:49:37 GMT";

/// One version of a file as a server describes it.
#[derive(Clone)]
struct Version {
    body: Vec<u8>,
    etag: Option<&'static str>,
    date: Option<&'static str>,
}

impl Version {
    /// `body`, known by this ETag alone.
    fn tagged(body: Vec<u8>, etag: &'static str) -> Version {
        Version {
            body,
            etag: Some(etag),
            date: None,
        }
    }
}

/// How a server that has `v` answers `req`: its validators on every answer, ranges honoured,
/// and (unless it ignores it) `If-Range` naming another version answered with the whole file.
fn serve(req: &Request, v: &Version, ignores_if_range: bool) -> Reply {
    let current = |tag: &str| Some(tag) == v.etag || Some(tag) == v.date;
    let stale = !ignores_if_range && req.header("if-range").is_some_and(|tag| !current(tag));
    let mut reply = if stale {
        Reply::ok(v.body.clone())
    } else {
        Reply::ranged(req, &v.body)
    };
    reply = reply.header("Accept-Ranges", "bytes");
    if let Some(etag) = v.etag {
        reply = reply.header("ETag", etag);
    }
    if let Some(date) = v.date {
        reply = reply.header("Last-Modified", date);
    }
    reply
}

/// The two versions of one test: how they are told apart, and whether they have one length.
fn versions(validator: &str, same_length: bool, seed: u64) -> (Version, Version) {
    let len = 200_000;
    let (etags, dates) = match validator {
        "etag" => ((Some("\"v1\""), Some("\"v2\"")), (None, None)),
        "date" => ((None, None), (Some(D1), Some(D2))),
        _ => ((None, None), (None, None)),
    };
    let v1 = Version {
        body: payload(len, seed),
        etag: etags.0,
        date: dates.0,
    };
    let v2 = Version {
        body: payload(if same_length { len } else { len + 777 }, seed + 1),
        etag: etags.1,
        date: dates.1,
    };
    (v1, v2)
}

/// A server that has `v1` until `changed` is set, then `v2`; the first answer breaks off
/// (reset) after 60% of the file when `reset_first` says so.
fn shifting(
    v1: Version,
    v2: Version,
    ignores_if_range: bool,
    reset_first: bool,
) -> (Server, Arc<AtomicUsize>) {
    let changed = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&changed);
    let answered = AtomicUsize::new(0);
    let server = Server::start(move |req| {
        let n = answered.fetch_add(1, Ordering::SeqCst);
        if n == 0 && reset_first {
            let cut = v1.body.len() * 6 / 10;
            // The file changes on the server while this answer is on its way.
            seen.store(1, Ordering::SeqCst);
            return serve(req, &v1, ignores_if_range).framing(Body::Reset(cut));
        }
        let v = if seen.load(Ordering::SeqCst) == 1 {
            &v2
        } else {
            &v1
        };
        serve(req, v, ignores_if_range)
    });
    (server, changed)
}

/// A server with `v` whose answers `turn` may spoil (a fault, a lie): it gets each answer as it
/// should be and its place (0 for the first).
fn in_turns(v: &Version, turn: impl Fn(usize, Reply) -> Reply + Send + Sync + 'static) -> Server {
    let answered = AtomicUsize::new(0);
    let served = v.clone();
    Server::start(move |req| {
        let reply = serve(req, &served, false);
        turn(answered.fetch_add(1, Ordering::SeqCst), reply)
    })
}

/// A server with `v` whose first answer is spoiled by `first`, and whose every later answer is
/// as it should be.
fn spoiled_first(v: &Version, first: impl Fn(Reply) -> Reply + Send + Sync + 'static) -> Server {
    in_turns(v, move |n, reply| if n == 0 { first(reply) } else { reply })
}

/// Every kind of change a file can go through between two answers: how its versions are told
/// apart (ETag, date, neither), whether they have one length, and whether the server honours
/// `If-Range`; with its name for the messages.
fn every_case() -> Vec<(&'static str, bool, bool, String)> {
    let mut cases = Vec::new();
    for validator in ["etag", "date", "neither"] {
        for same_length in [true, false] {
            for ignores_if_range in [false, true] {
                let case = format!(
                    "{validator}, same length {same_length}, ignores If-Range {ignores_if_range}"
                );
                cases.push((validator, same_length, ignores_if_range, case));
            }
        }
    }
    cases
}

#[test]
fn a_file_that_changes_after_a_reset_is_placed_whole_in_its_new_version() {
    for (validator, same_length, ignores_if_range, case) in every_case() {
        let (v1, v2) = versions(validator, same_length, 40);
        let env = TestEnv::new().with(shifting(v1, v2.clone(), ignores_if_range, true).0);
        let run = env.fetch(&[env.url("/f.bin")], &["--json", "-v"]);
        assert_eq!(run.code, 0, "{case}: {:?} {}", run.report, run.stderr);
        assert!(env.holds("out/f.bin", &v2.body), "{case}");
        assert_eq!(run.json(0)["status"], "ok", "{case}");
        assert_eq!(run.json(0)["bytes"], v2.body.len(), "{case}");
        let retry = &env.server().requests()[1];
        if validator == "neither" {
            // Nothing can tell the versions apart: the retry starts over.
            assert_eq!(retry.header("range"), None, "{case}");
        } else {
            assert_eq!(retry.header("range"), Some("bytes=120000-"), "{case}");
            assert!(retry.header("if-range").is_some(), "{case}");
        }
        assert_eq!(env.out_files(), ["f.bin"], "{case}");
    }
}

#[test]
fn continue_after_the_file_changed_between_two_runs_places_the_new_version_whole() {
    for (validator, same_length, ignores_if_range, case) in every_case() {
        let env = TestEnv::new();
        let (v1, v2) = versions(validator, same_length, 50);
        let (server, changed) = shifting(v1.clone(), v2.clone(), ignores_if_range, false);
        // The first run breaks off: 60% of v1 stays in the .part.
        let cut = Server::start({
            let v1 = v1.clone();
            move |req| serve(req, &v1, false).framing(Body::Reset(120_000))
        });
        let run = env.fetch(&[cut.url("/f.bin")], &["-c", "--retries", "0"]);
        assert_eq!(run.code, 1, "{case}");
        assert!(env.holds("out/f.bin.part", &v1.body[..120_000]), "{case}");
        // The file is replaced on the server; -c again.
        changed.store(1, Ordering::SeqCst);
        let run = env.fetch(&[server.url("/f.bin")], &["-c", "--json"]);
        assert_eq!(run.code, 0, "{case}: {:?} {}", run.report, run.stderr);
        assert!(
            env.holds("out/f.bin", &v2.body),
            "{case}: one version whole, never a mix"
        );
        assert_eq!(run.json(0)["http_status"], 200, "{case}");
        let first = &server.requests()[0];
        match validator {
            "neither" => assert_eq!(first.header("range"), None, "{case}"),
            _ => assert_eq!(first.header("range"), Some("bytes=120000-"), "{case}"),
        }
        assert_eq!(env.out_files(), ["f.bin"], "{case}");
    }
}

#[test]
fn a_reset_at_ninety_percent_is_resumed_not_restarted() {
    let env = TestEnv::new();
    let len = 8 * 1024 * 1024;
    let v = Version {
        body: payload(len, 60),
        etag: Some("\"big\""),
        date: None,
    };
    let cut = len * 9 / 10;
    let server = spoiled_first(&v, move |reply| reply.framing(Body::Reset(cut)));
    let run = env.fetch(&[server.url("/big.iso")], &["--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(env.holds("out/big.iso", &v.body));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    // A reset throws away what was still in flight (on a loaded machine, up to the socket's
    // whole receive buffer, megabytes on loopback), so the rest starts before the cut, where
    // the bytes on disk end, never at 0.
    let (from, to) = byte_range(&requests[1]).expect("a range");
    assert!(
        from > 0 && from <= cut && to.is_none(),
        "the rest, not the whole file again: {from}"
    );
    assert_eq!(requests[1].header("if-range"), Some("\"big\""));
    let result = run.json(0);
    assert_eq!(result["attempts"], 2);
    assert_eq!(result["http_status"], 206);
    assert_eq!(result["bytes"], len);
    assert_eq!(result["received"], len, "each byte counted once");
    assert_eq!(result["sha256"], crate::support::sha256_hex(&v.body));
    assert_eq!(run.json(1)["received"], len);
}

/// `reply` with 5,000 bytes more than its Content-Range says.
fn too_long(reply: Reply) -> Reply {
    let mut body = reply.body.clone();
    body.extend_from_slice(&[b'!'; 5_000]);
    Reply { body, ..reply }
}

#[test]
fn a_206_past_its_own_range_is_never_written_past_it() {
    for framing in [Body::Full, Body::Chunked, Body::Unframed] {
        let v = Version::tagged(payload(100_000, 70), "\"v1\"");
        let env = TestEnv::new().with(in_turns(&v, move |n, reply| match n {
            0 => reply.framing(Body::Reset(40_000)),
            // The rest, and then 5,000 bytes more than its Content-Range says.
            1 => too_long(reply).framing(framing),
            _ => reply,
        }));
        let run = env.fetch(&[env.url("/f.bin")], &["--json", "-v"]);
        assert_eq!(run.code, 0, "{framing:?}: {:?} {}", run.report, run.stderr);
        assert!(
            env.holds("out/f.bin", &v.body),
            "{framing:?}: not one byte past the range"
        );
        assert_eq!(run.json(0)["attempts"], 3, "{framing:?}");
        let third = &env.server().requests()[2];
        match framing {
            // Refused before a byte was written: the rest is asked for again.
            Body::Full => assert_eq!(third.header("range"), Some("bytes=40000-")),
            // Written up to its end, then failed: only the confirmation is left to ask.
            _ => {
                assert_eq!(third.header("range"), Some("bytes=100000-"), "{framing:?}");
                assert_eq!(run.json(0)["http_status"], 416, "{framing:?}");
                assert_has(&run.stderr, "more than the 60000 bytes");
            }
        }
    }
}

#[test]
fn a_206_past_its_own_range_without_retries_places_nothing() {
    for framing in [Body::Full, Body::Chunked, Body::Unframed] {
        let v = Version::tagged(payload(100_000, 70), "\"v1\"");
        // Without retries, the attempt that sent too much fails, and nothing is placed.
        let env = TestEnv::new().with(in_turns(&v, move |n, reply| match n {
            0 => reply.framing(Body::Reset(40_000)),
            _ => too_long(reply).framing(framing),
        }));
        let run = env.fetch(&[env.url("/f.bin")], &["--retries", "1"]);
        assert_eq!(run.code, 1, "{framing:?}");
        assert_starts(&run.report[0], "failed");
        assert!(env.out_files().is_empty(), "{framing:?}");
    }
}

#[test]
fn a_split_resumed_by_its_date_refuses_ranges_of_a_newer_date() {
    // A split download pinned to a date (no ETag) left half of each quarter; the server now has
    // a newer file of the same length, ignores If-Range, and says so only by its date. A record
    // of today's format keeps only a strong date, and is tied to it; the two earlier formats
    // kept dates of any strength, which vouch for nothing: their bytes are started over.
    let records = [
        (3, format!("modified {D1}")),
        (2, format!("modified {D1}")),
        (1, format!("version {D1}")),
    ];
    for (format, version_line) in records {
        let env = TestEnv::new();
        let mib = 1024 * 1024;
        let old = payload(4 * mib, 80);
        let new = Version {
            body: payload(4 * mib, 81),
            etag: None,
            date: Some(D2),
        };
        let served = new.clone();
        let server = Server::start(move |req| serve(req, &served, true));
        let out = env.join("out");
        std::fs::create_dir(&out).unwrap();
        let mut part = vec![0u8; 4 * mib];
        let mut record = format!(
            "fetchpool-ranges {format}\nlength {}\n{version_line}\n",
            4 * mib
        );
        for i in 0..4 {
            let start = i * mib;
            part[start..start + mib / 2].copy_from_slice(&old[start..start + mib / 2]);
            record.push_str(&format!("range {start} {} {}\n", start + mib, mib / 2));
        }
        std::fs::write(out.join("f.bin.part"), &part).unwrap();
        std::fs::write(out.join("f.bin.part.ranges"), &record).unwrap();
        let args = ["-j", "4", "--split", "4", "--split-min", "1M", "-c", "-v"];
        let run = env.fetch(&[server.url("/f.bin")], &args);
        assert_eq!(run.code, 0, "format {format}: {}", run.stderr);
        assert_starts(&run.report[0], "ok");
        assert!(
            env.holds("out/f.bin", &new.body),
            "format {format}: never a mix"
        );
        let first_if_range = server.requests()[0].header("if-range").map(str::to_string);
        if format == 3 {
            assert_has(&run.stderr, "Last-Modified changed");
            assert_eq!(first_if_range.as_deref(), Some(D1), "tied to the date");
        } else {
            assert_has(&run.stderr, "no version of the file was recorded");
            assert_eq!(
                first_if_range, None,
                "format {format}: a date of any strength"
            );
        }
        assert_eq!(env.out_files(), ["f.bin"]);
    }
}

#[test]
fn a_split_range_answered_past_its_end_reaches_no_other_piece() {
    // Each range answer goes on past its Content-Range with bytes of nothing; the first answers
    // for the last quarter fail (503), so that quarter is free and empty while the third one
    // streams: bytes past the third quarter's end would land in it.
    let env = TestEnv::new();
    let mib = 1024 * 1024;
    let body = payload(4 * mib, 90);
    let served = body.clone();
    let last_refused = Arc::new(Mutex::new(0usize));
    let refused = Arc::clone(&last_refused);
    let server = Server::start(move |req| {
        let reply = Reply::ranged(req, &served)
            .header("Accept-Ranges", "bytes")
            .header("ETag", "\"v1\"");
        match byte_range(req) {
            None => reply.framing(Body::Paced(mib as u64)),
            Some((first, _)) if first >= 3 * mib => {
                let mut n = refused.lock().unwrap();
                *n += 1;
                if *n <= 3 { Reply::status(503) } else { reply }
            }
            Some(_) => {
                let mut more = reply.body.clone();
                more.extend_from_slice(&vec![b'!'; mib / 2]);
                Reply {
                    body: more,
                    ..reply
                }
                .delay(std::time::Duration::from_millis(100))
                .framing(Body::Chunked)
            }
        }
    });
    let args = [
        "-j",
        "3",
        "--split",
        "4",
        "--split-min",
        "1M",
        "--retries",
        "5",
    ];
    let run = env.fetch(&[server.url("/f.bin")], &args);
    assert_eq!(run.code, 0, "{:?} {}", run.report, run.stderr);
    assert!(
        env.holds("out/f.bin", &body),
        "no range's bytes reach another's"
    );
}

#[test]
fn a_chunked_answer_cut_short_is_resumed_and_its_length_then_known() {
    // The first answer has no length (chunked) and breaks off; the 206 for the rest says how
    // long the file is, so the file is placed as one whose length was checked.
    let env = TestEnv::new();
    let v = Version {
        body: payload(300_000, 95),
        etag: Some("\"c1\""),
        date: None,
    };
    let server = spoiled_first(&v, |reply| reply.framing(Body::ChunkedCut(100_000)));
    let run = env.fetch(&[server.url("/c.bin")], &["--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(env.holds("out/c.bin", &v.body));
    let result = run.json(0);
    assert_eq!(result["http_status"], 206);
    assert_eq!(result["length_unverified"], false);
    assert_eq!(server.requests()[1].header("range"), Some("bytes=100000-"));
}

#[test]
fn a_server_error_to_a_request_for_the_rest_keeps_the_bytes() {
    // Reset at 60%; the request for the rest gets a 503; the one after it the rest.
    let v = Version::tagged(payload(200_000, 96), "\"s5\"");
    let env = TestEnv::new().with(in_turns(&v, |n, reply| match n {
        0 => reply.framing(Body::Reset(120_000)),
        1 => Reply::status(503),
        _ => reply,
    }));
    let run = env.fetch(&[env.url("/s.bin")], &["--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(env.holds("out/s.bin", &v.body));
    assert_eq!(run.json(0)["attempts"], 3);
    assert_eq!(run.json(0)["http_status"], 206);
    assert_eq!(run.json(0)["received"], 200_000, "nothing fetched twice");
    let firsts: Vec<usize> = env.server().ranges().iter().map(|r| r.0).collect();
    assert_eq!(firsts[0], firsts[1], "the rest, asked again after the 503");
}
