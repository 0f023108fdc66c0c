//! `--split`: one file fetched as ranges by idle workers, against a server that caps each
//! connection's rate and counts what it is asked.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::server::{Body, Reply, Request, Server, byte_range};
use crate::support::{Run, TestEnv, assert_has, assert_starts, interrupt};
use crate::support::{json, payload, wait_for};

const MIB: usize = 1024 * 1024;

/// A file behind a CDN-like server: ranges honoured and tied to an ETag by `If-Range` (a range
/// of another version gets the whole file, 200), every connection capped at `rate` bytes/s.
/// The file and the cap can be changed while it serves.
#[derive(Clone)]
struct Origin {
    version: Arc<Mutex<(Vec<u8>, String)>>,
    rate: Arc<AtomicU64>,
}

impl Origin {
    fn new(body: Vec<u8>, rate: u64) -> Origin {
        Origin {
            version: Arc::new(Mutex::new((body, "\"v1\"".into()))),
            rate: Arc::new(AtomicU64::new(rate)),
        }
    }

    fn reply(&self, req: &Request) -> Reply {
        let (body, etag) = self.version.lock().unwrap().clone();
        let stale = req.header("if-range").is_some_and(|v| v != etag);
        let reply = if stale {
            Reply::ok(body)
        } else {
            Reply::ranged(req, &body)
        };
        let reply = reply.header("Accept-Ranges", "bytes").header("ETag", &etag);
        if reply.status == 416 {
            return reply;
        }
        reply.framing(Body::Paced(self.rate.load(Ordering::SeqCst)))
    }

    fn serve(&self) -> Server {
        let origin = self.clone();
        Server::start(move |req| origin.reply(req))
    }
}

/// `-j 4 --split 4 --split-min 1M`, then `extra`.
pub fn split4(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec!["-j", "4", "--split", "4", "--split-min", "1M"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn a_split_file_is_fetched_in_parallel_ranges_byte_for_byte() {
    let env = TestEnv::new();
    let body = payload(8 * MIB, 1);
    let origin = Origin::new(body.clone(), 2 * MIB as u64);
    let server = origin.serve();
    let run = env.fetch(&[server.url("/big.iso")], &split4(&["--json"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.file("out/big.iso"), body);
    let result = run.json(0);
    assert_eq!(result["status"], "ok");
    assert_eq!(result["bytes"], 8 * MIB);
    assert_eq!(
        result["sha256"],
        crate::support::sha256_hex(&body),
        "the digest is of the whole file"
    );
    // One plain GET, then ranges of that version: eight pieces of 1 MiB (none smaller than
    // --split-min), each asked for once and whole, at most four at a time.
    let requests = server.requests();
    assert_eq!(requests[0].header("range"), None);
    let mut asked = server.ranges();
    asked.sort();
    assert!(asked.len() >= 3, "{asked:?}");
    for (first, last) in &asked {
        assert_eq!(first % MIB, 0, "{asked:?}");
        assert_eq!(*last, Some(first + MIB - 1), "{asked:?}");
    }
    asked.dedup();
    assert_eq!(asked.len(), requests.len() - 1, "no piece asked for twice");
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.header("if-range") == Some("\"v1\"")),
        "every range is tied to the version"
    );
    assert_eq!(
        server.max_in_flight(),
        4,
        "four connections at once, never more"
    );
    assert_eq!(
        env.out_files(),
        vec!["big.iso"],
        "no .part and no record of ranges left"
    );
    // One entry, but its pieces ran side by side: the speed-up counts them as the work they
    // were (each 2 MiB/s connection alone would have taken about four times as long).
    let summary = json(run.report.last().unwrap());
    let speedup = summary["speedup"].as_f64().expect("a speed-up");
    assert!(speedup > 2.0, "{summary}");
}

#[test]
fn workers_take_the_next_file_before_any_range() {
    let env = TestEnv::new();
    // Two workers, three files; b takes twice as long as a. When a is done, its worker takes c,
    // the list's next file, not a piece of b: ranges are for workers with nothing else to do.
    let bodies: Vec<Vec<u8>> = [2, 4, 2]
        .iter()
        .enumerate()
        .map(|(i, mib)| payload(mib * MIB, 10 + i as u64))
        .collect();
    let served = bodies.clone();
    let server = Server::start(move |req| {
        let i = match req.path() {
            "/a.bin" => 0,
            "/b.bin" => 1,
            _ => 2,
        };
        Reply::ranged(req, &served[i])
            .header("Accept-Ranges", "bytes")
            .framing(Body::Paced(2 * MIB as u64))
    });
    let urls = ["/a.bin", "/b.bin", "/c.bin"].map(|p| server.url(p));
    let run = env.fetch(&urls, &["-j", "2", "--split", "4", "--split-min", "1M"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.report.len(), 3, "one line per entry: {:?}", run.report);
    for ((line, name), body) in run
        .report
        .iter()
        .zip(["a.bin", "b.bin", "c.bin"])
        .zip(&bodies)
    {
        assert!(
            line.starts_with("ok") && line.ends_with(&format!("out/{name}")),
            "{line}"
        );
        assert_eq!(&std::fs::read(env.join("out").join(name)).unwrap(), body);
    }
    let requests = server.requests();
    let plain: Vec<&str> = requests[..3].iter().map(|r| r.path()).collect();
    assert!(
        requests[..3].iter().all(|r| r.header("range").is_none()),
        "the three files first, then ranges: {requests:?}"
    );
    assert_eq!(plain.last(), Some(&"/c.bin"));
}

#[test]
fn a_server_that_ignores_ranges_gets_one_stream() {
    let env = TestEnv::new();
    let body = payload(4 * MIB, 2);
    let served = body.clone();
    // It says it takes ranges, and answers every one with the whole file.
    let server = Server::start(move |_| {
        Reply::ok(served.clone())
            .header("Accept-Ranges", "bytes")
            .framing(Body::Paced(8 * MIB as u64))
    });
    let run = env.fetch(&[server.url("/f.bin")], &split4(&["--retries", "0"]));
    assert_eq!(run.code, 0, "{}\n{:?}", run.stderr, run.report);
    assert_starts(&run.report[0], "ok");
    assert_eq!(env.file("out/f.bin"), body);
    assert_eq!(env.out_files(), vec!["f.bin"]);
}

#[test]
fn a_range_that_fails_is_asked_for_again_from_where_it_stopped() {
    let env = TestEnv::new();
    let body = payload(4 * MIB, 3);
    let served = body.clone();
    let last = 3 * MIB;
    let cut = 300_000;
    let failed = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&failed);
    let server = Server::start(move |req| {
        let reply = Reply::versioned(req, &served, "\"v1\"");
        // The first request for the last quarter breaks off with a reset.
        if byte_range(req).is_some_and(|(first, _)| first == last)
            && seen.fetch_add(1, Ordering::SeqCst) == 0
        {
            return reply.framing(Body::Reset(cut));
        }
        reply.framing(Body::Paced(8 * MIB as u64))
    });
    let run = env.fetch(&[server.url("/f.bin")], &split4(&["-v"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_starts(&run.report[0], "ok");
    assert_eq!(env.file("out/f.bin"), body);
    let asked = server.ranges();
    let again: Vec<_> = asked
        .iter()
        .filter(|(first, end)| *first > last && *end == Some(4 * MIB - 1))
        .collect();
    assert_eq!(
        again.len(),
        1,
        "the last quarter asked for again from where it broke off: {asked:?}"
    );
    assert!(again[0].0 <= last + cut, "{asked:?}");
    // Only that range was asked for twice.
    let first_quarters = asked.iter().filter(|(first, _)| *first < last).count();
    assert_eq!(first_quarters, 2, "{asked:?}");
    assert_has(&run.stderr, "retry 1/3 of bytes");
}

#[test]
fn a_file_that_changes_while_its_ranges_come_starts_over() {
    let env = TestEnv::new();
    let old = payload(4 * MIB, 4);
    let new = payload(4 * MIB, 5);
    let origin = Origin::new(old, 8 * MIB as u64);
    let served = origin.clone();
    let replacement = new.clone();
    // The file is replaced just after the first plain GET was answered.
    let server = Server::start(move |req| {
        let reply = served.reply(req);
        if req.header("range").is_none() {
            let mut version = served.version.lock().unwrap();
            if version.1 == "\"v1\"" {
                *version = (replacement.clone(), "\"v2\"".into());
            }
        }
        reply
    });
    let run = env.fetch(&[server.url("/f.bin")], &split4(&["-v"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_starts(&run.report[0], "ok");
    assert_eq!(
        env.file("out/f.bin"),
        new,
        "the new version, whole: no piece of the old one"
    );
    assert_has(&run.stderr, "changed on the server");
    let versions: Vec<_> = server
        .requests()
        .iter()
        .filter_map(|r| r.header("if-range").map(str::to_string))
        .collect();
    assert!(versions.contains(&"\"v1\"".to_string()), "{versions:?}");
    assert!(versions.contains(&"\"v2\"".to_string()), "{versions:?}");
    // Started over, the split is helped again: idle workers take ranges of the new version,
    // not the owner alone over one connection.
    let restart = run
        .stderr
        .split("(attempt 2)")
        .nth(1)
        .expect("an attempt 2");
    let owner = run.stderr.split(']').next().unwrap();
    let helpers: std::collections::BTreeSet<&str> = restart
        .lines()
        .filter(|l| l.contains("(bytes ") && l.contains("] GET "))
        .filter_map(|l| l.split(']').next())
        .filter(|w| *w != owner)
        .collect();
    assert!(helpers.len() >= 2, "{helpers:?}\n{}", run.stderr);
}

#[test]
fn per_host_counts_every_range() {
    let env = TestEnv::new();
    let body = payload(4 * MIB, 6);
    let server = Origin::new(body.clone(), 4 * MIB as u64).serve();
    let run = env.fetch(&[server.url("/f.bin")], &split4(&["--per-host", "2"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.file("out/f.bin"), body);
    assert_eq!(server.max_in_flight(), 2);
    assert!(!server.ranges().is_empty(), "one worker still helped");
}

#[test]
fn ctrl_c_then_continue_fetches_only_what_is_missing() {
    let env = TestEnv::new();
    let body = payload(4 * MIB, 7);
    let origin = Origin::new(body.clone(), 256 * 1024);
    let server = origin.serve();
    env.list(&[server.url("/f.bin")]);
    let args = split4(&["-c"]);
    let child = env.spawn(&args);
    let record = env.join("out/f.bin.part.ranges");
    wait_for(&record);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(interrupt(child).code, 130);
    let text = std::fs::read_to_string(&record).unwrap();
    // START END DONE for each quarter; some done in each, none whole yet.
    let spans: Vec<(usize, usize, usize)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("range "))
        .map(|l| {
            let n: Vec<usize> = l.split(' ').map(|n| n.parse().unwrap()).collect();
            (n[0], n[1], n[2])
        })
        .collect();
    assert_eq!(spans.len(), 4, "{text}");
    assert!(spans.iter().all(|&(_, _, done)| done > 0), "{text}");
    let part = env.file("out/f.bin.part");
    for &(start, _, done) in &spans {
        assert_eq!(
            part[start..start + done],
            body[start..start + done],
            "{text}"
        );
    }

    // A dry run counts what the record says is there, not the length of the file with holes.
    let plan = env
        .cmd()
        .args(["urls.txt", "-o", "out", "--dry-run", "--json"])
        .args(&args)
        .output()
        .unwrap();
    let plan = json(&crate::support::lines(&plan.stdout)[0]);
    assert_eq!(plan["action"], "resume");
    let done: usize = spans.iter().map(|s| s.2).sum();
    assert_eq!(plan["resume_from"], done);

    // Again, fast now: only the missing bytes are asked for.
    origin.rate.store(64 * MIB as u64, Ordering::SeqCst);
    let before = server.request_count();
    let out = env.run(&args);
    assert_eq!(out.code, 0, "{}", &out.stderr);
    assert_eq!(env.file("out/f.bin"), body);
    assert!(!record.exists() && !env.join("out/f.bin.part").exists());
    let requests = &server.requests()[before..];
    let firsts: Vec<usize> = requests
        .iter()
        .map(|r| byte_range(r).expect("every request a range").0)
        .collect();
    for &(start, _, done) in &spans {
        assert!(firsts.contains(&(start + done)), "{firsts:?} / {text}");
    }
    assert_eq!(requests[0].header("if-range"), Some("\"v1\""));
}

#[test]
fn a_record_beside_a_part_of_another_version_is_not_trusted() {
    let body = payload(4 * MIB, 8);
    let env = TestEnv::new().with(Origin::new(body.clone(), 64 * MIB as u64).serve());
    // A split download of version "v0" left half of each quarter.
    env.write("out/f.bin.part", vec![b'x'; 4 * MIB]);
    let mut record = format!("fetchpool-ranges 1\nlength {}\nversion \"v0\"\n", 4 * MIB);
    for i in 0..4 {
        let (start, end) = (i * MIB, (i + 1) * MIB);
        record.push_str(&format!("range {start} {end} {}\n", MIB / 2));
    }
    env.write("out/f.bin.part.ranges", record);
    let args = ["--split", "4", "--split-min", "1M", "-c", "-v"];
    let run = env.fetch(&[env.url("/f.bin")], &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_starts(&run.report[0], "ok");
    assert_eq!(env.file("out/f.bin"), body);
    assert_has(&run.stderr, "starting over");
}
#[test]
fn ranges_answered_with_the_whole_file_after_the_first_stream_stopped_start_one_stream() {
    let env = TestEnv::new();
    let body = payload(4 * MIB, 9);
    let served = body.clone();
    // The plain GET comes at once, and its stream reaches the second quarter, taken by a
    // helper still waiting for its answer: the whole file, late. The stream is paced (a
    // quarter in 125 ms), so that the helpers have taken their pieces by then however busy the
    // machine: at full speed it could run through every piece before they woke.
    let server = Server::start(move |req| {
        let reply = Reply::ok(served.clone())
            .header("Accept-Ranges", "bytes")
            .header("ETag", "\"v1\"");
        match req.header("range") {
            Some(_) => reply.delay(std::time::Duration::from_millis(500)),
            None => reply.framing(Body::Paced(8 * MIB as u64)),
        }
    });
    let Run {
        code,
        report: lines,
        stderr,
        ..
    } = env.fetch(&[server.url("/f.bin")], &split4(&["--retries", "0"]));
    assert_eq!(code, 0, "{stderr}");
    assert_starts(&lines[0], "ok");
    assert_eq!(env.file("out/f.bin"), body);
    let plain = server
        .requests()
        .iter()
        .filter(|r| r.header("range").is_none())
        .count();
    assert_eq!(plain, 2, "the file again, as one stream");
    assert_eq!(env.out_files(), vec!["f.bin"]);
}

#[test]
fn update_fetches_a_changed_file_in_ranges_and_replaces_it() {
    let env = TestEnv::new();
    let body = payload(4 * MIB, 11);
    // Slow enough (half a second) that idle workers take ranges however loaded the machine.
    let server = Origin::new(body.clone(), 8 * MIB as u64).serve();
    let out = env.join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("f.bin"), "an older version").unwrap();
    let run = env.fetch(&[server.url("/f.bin")], &split4(&["--update"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_starts(&run.report[0], "ok");
    assert_eq!(std::fs::read(out.join("f.bin")).unwrap(), body);
    assert!(!server.ranges().is_empty(), "fetched in ranges");
    // Asked whether it changed (the file has no ETag: its date), then ranges of the new version.
    assert!(server.requests()[0].header("if-modified-since").is_some());
}

#[test]
fn ctrl_c_without_continue_leaves_no_part_and_no_record() {
    let env = TestEnv::new();
    let server = Origin::new(payload(4 * MIB, 12), 256 * 1024).serve();
    env.list(&[server.url("/f.bin")]);
    let child = env.spawn(&split4(&[]));
    wait_for(&env.join("out/f.bin.part"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = interrupt(child);
    assert_eq!(out.code, 130);
    // Late helpers (offers still queued) must not bring either back.
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(env.out_files(), Vec::<String>::new());
}

#[test]
fn a_range_that_keeps_failing_fails_the_entry_and_nothing_is_placed() {
    let body = payload(4 * MIB, 13);
    let env = TestEnv::new().handle(move |req| {
        let reply = Reply::versioned(req, &body, "\"v1\"");
        // The last quarter never comes: 503 to its range, and the plain GET breaks off
        // before it.
        match byte_range(req) {
            Some((first, _)) if first >= 3 * MIB => Reply::status(503),
            Some(_) => reply,
            None => reply.framing(Body::Truncated(3 * MIB)),
        }
    });
    let run = env.fetch(&[env.url("/f.bin")], &split4(&["--retries", "1"]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.report[0].starts_with("failed") && run.report[0].contains("503"));
    assert_eq!(env.out_files(), Vec::<String>::new());
}

#[test]
fn a_server_error_on_resuming_a_split_keeps_its_bytes() {
    let env = TestEnv::new();
    let body = payload(4 * MIB, 14);
    let origin = Origin::new(body.clone(), 64 * MIB as u64);
    let served = origin.clone();
    let down = Arc::new(AtomicUsize::new(1));
    let unavailable = Arc::clone(&down);
    let server = Server::start(move |req| {
        if unavailable.load(Ordering::SeqCst) == 1 {
            return Reply::status(503);
        }
        served.reply(req)
    });
    // Half of each quarter of version "v1" is on disk.
    let out = env.join("out");
    std::fs::create_dir(&out).unwrap();
    let q = MIB;
    let mut part = vec![0u8; 4 * MIB];
    let mut record = format!("fetchpool-ranges 1\nlength {}\nversion \"v1\"\n", 4 * MIB);
    for i in 0..4 {
        let start = i * q;
        part[start..start + q / 2].copy_from_slice(&body[start..start + q / 2]);
        record.push_str(&format!("range {start} {} {}\n", start + q, q / 2));
    }
    std::fs::write(out.join("f.bin.part"), &part).unwrap();
    std::fs::write(out.join("f.bin.part.ranges"), &record).unwrap();
    let args = ["--split", "4", "--split-min", "1M", "-c", "--retries", "0"];
    let run = env.fetch(&[server.url("/f.bin")], &args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(std::fs::read(out.join("f.bin.part")).unwrap(), part);
    assert_eq!(
        std::fs::read_to_string(out.join("f.bin.part.ranges")).unwrap(),
        record
    );

    // The server is back: only the missing halves are asked for.
    down.store(0, Ordering::SeqCst);
    let before = server.request_count();
    let run = env.fetch(&[server.url("/f.bin")], &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(out.join("f.bin")).unwrap(), body);
    let firsts: Vec<usize> = server.requests()[before..]
        .iter()
        .map(|r| byte_range(r).expect("only ranges").0)
        .collect();
    for i in 0..4 {
        assert!(firsts.contains(&(i * q + q / 2)), "{firsts:?}");
    }
}

#[test]
fn a_split_part_whose_record_is_gone_is_not_appended_to() {
    let env = TestEnv::new();
    let body = payload(4 * MIB, 15);
    let server = Server::ranged(&body);
    // The last quarter written at its offset, nothing before it: a hole of 3 MiB.
    let out = env.join("out");
    std::fs::create_dir(&out).unwrap();
    let part = std::fs::File::create(out.join("f.bin.part")).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&part, &body[3 * MIB..], 3 * MIB as u64).unwrap();
    drop(part);
    let run = env.fetch(&[server.url("/f.bin")], &["-c"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(out.join("f.bin")).unwrap(), body);
    // Fetched whole, not from byte 4 MiB on (which a 416 would have called complete).
    assert_eq!(server.requests()[0].header("range"), None);
}

#[test]
fn a_split_behind_a_redirect_asks_every_range_through_it() {
    let env = TestEnv::new();
    let body = payload(4 * MIB, 16);
    let origin = Origin::new(body.clone(), 16 * MIB as u64);
    let served = origin.clone();
    let server = Server::start(move |req| match req.path() {
        "/latest" => Reply::status(302).header("Location", "/f-1.2.bin"),
        _ => served.reply(req),
    });
    let run = env.fetch(&[server.url("/latest")], &split4(&[]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_starts(&run.report[0], "ok");
    // Named after the listed URL, as every download is.
    assert_eq!(env.file("out/latest"), body);
    let requests = server.requests();
    let ranged: Vec<_> = requests
        .iter()
        .filter(|r| byte_range(r).is_some())
        .collect();
    let through = |path| ranged.iter().filter(|r| r.path() == path).count();
    assert!(through("/f-1.2.bin") >= 1, "{requests:?}");
    assert_eq!(
        through("/latest"),
        through("/f-1.2.bin"),
        "each range: the redirect, then the file: {requests:?}"
    );
    assert!(
        ranged
            .iter()
            .all(|r| r.header("if-range") == Some("\"v1\"")),
        "If-Range on every hop"
    );
}

#[test]
fn names_a_split_keeps_beside_its_target_are_its_own_and_nobody_elses_files_are_touched() {
    let body = payload(4 * MIB, 17);
    let env = TestEnv::new().with(Origin::new(body.clone(), 64 * MIB as u64).serve());
    // Another entry asks for the names a split of f.bin keeps beside it: it gets others.
    let urls = [
        env.url("/f.bin"),
        format!("{} out=f.bin.part.ranges.tmp", env.url("/g")),
        format!("{} out=f.bin.part.ranges", env.url("/h")),
    ];
    let run = env.fetch(&urls, &split4(&["-c"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.report[1].ends_with("out/f.bin.part.ranges-2.tmp"),
        "{:?}",
        run.report
    );
    assert!(
        run.report[2].ends_with("out/f.bin.part-2.ranges"),
        "{:?}",
        run.report
    );
    for name in ["f.bin", "f.bin.part.ranges-2.tmp", "f.bin.part-2.ranges"] {
        assert!(env.holds(format!("out/{name}"), &body));
    }
}

#[test]
fn a_split_never_removes_or_replaces_a_file_at_the_names_it_keeps() {
    let body = payload(4 * MIB, 17);
    let server = Origin::new(body.clone(), 64 * MIB as u64).serve();
    // Without -c the split records nothing and leaves them be; with -c it needs them, and
    // fails, naming the file.
    for name in ["f.bin.part.ranges", "f.bin.part.ranges.tmp"] {
        let env = TestEnv::new();
        env.write(format!("out/{name}"), "my notes");
        let run = env.fetch(&[server.url("/f.bin")], &split4(&[]));
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(env.holds("out/f.bin", &body));
        std::fs::remove_file(env.join("out/f.bin")).unwrap();
        let run = env.run(&split4(&["-c"]));
        assert_eq!(run.code, 1, "{:?}", run.report);
        assert_has(&run.report[0], &format!("{name} is in the way"));
        assert_eq!(env.text(format!("out/{name}")), "my notes");
        assert_eq!(env.out_files(), [name], "nothing else left behind");
    }
}
