//! Issue 5: --per-host, --limit-rate, host pauses after 429, --shard, --generate, NO_COLOR and
//! TERM=dumb.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::server::{Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has, assert_lacks};
use crate::support::{payload, slow_server};

#[test]
fn per_host_caps_each_host_while_others_keep_the_pool_busy() {
    let env = TestEnv::new().with(slow_server(200));
    let b = slow_server(200);
    // All of host A first: a pool that waited for A's free slots would reach B only at the end.
    let mut urls = env.urls_of(8, |i| format!("/a{i}"));
    urls.extend((0..8).map(|i| b.url(&format!("/b{i}"))));
    let run = env.fetch(&urls, &["-j", "8", "--per-host", "2", "--json"]);
    assert_eq!(run.code, 0);
    assert_eq!(env.server().max_in_flight(), 2);
    assert_eq!(b.max_in_flight(), 2);
    let first_b = b.requests().iter().map(|r| r.at).min().unwrap();
    let last_a = env.server().requests().iter().map(|r| r.at).max().unwrap();
    assert!(first_b < last_a, "host B waited for host A");
    // Report order is still list order.
    for i in 0..16 {
        assert_eq!(run.json(i)["index"], i);
    }
    assert_eq!(env.out_files().len(), 16);
}

#[test]
fn limit_rate_caps_the_whole_run() {
    let env = TestEnv::new().handle(|_| Reply::ok(payload(512 * 1024, 5)));
    env.list(&env.urls_of(4, |i| format!("/r{i}")));
    // Sizes are read as the output writes them: `1MiB`, `1.0 MiB`, `0.5M` + ... all the same.
    for (jobs, rate) in [("1", "1MiB"), ("4", "1.0 MiB")] {
        let out_dir = format!("out{jobs}");
        let run = env.exec(&["urls.txt", "-o", &out_dir, "-j", jobs, "--limit-rate", rate]);
        assert_eq!(run.code, 0);
        // 2 MiB at 1 MiB/s: about 2 s whatever -j is (unlimited, it takes milliseconds).
        assert!(
            run.took >= Duration::from_millis(1700),
            "-j {jobs}: {:?}",
            run.took
        );
        for i in 0..4 {
            assert_eq!(env.file(format!("{out_dir}/r{i}")), payload(512 * 1024, 5));
        }
    }
}

#[test]
fn a_429_pauses_every_workers_next_request_to_that_host() {
    let env = TestEnv::new();
    let first = Arc::new(AtomicUsize::new(0));
    let server = Server::start(move |req| match req.path() {
        "/limited" if first.fetch_add(1, Ordering::SeqCst) == 0 => {
            Reply::status(429).header("Retry-After", "2")
        }
        "/slow" => Reply::ok("slow").delay(Duration::from_millis(300)),
        _ => Reply::ok("fine"),
    });
    let urls = [
        server.url("/limited"),
        server.url("/slow"),
        server.url("/next"),
    ];
    let list = env.list(&urls);
    env.cmd()
        .arg(&list)
        .args(["-o", "out", "-j", "2"])
        .assert()
        .success();
    let requests = server.requests();
    let at = |path: &str| {
        requests
            .iter()
            .filter(|r| r.path() == path)
            .map(|r| r.at)
            .collect::<Vec<_>>()
    };
    let refused = at("/limited")[0];
    // The worker that fetched /slow was free after 300 ms, but /next waited out the pause.
    let next = at("/next")[0];
    assert!(
        next.duration_since(refused) >= Duration::from_millis(1900),
        "{:?}",
        next.duration_since(refused)
    );
    assert!(at("/limited")[1].duration_since(refused) >= Duration::from_millis(1900));
}

/// When the server saw each request, in order.
fn arrivals(server: &Server) -> Vec<Instant> {
    let mut at: Vec<Instant> = server.requests().iter().map(|r| r.at).collect();
    at.sort();
    at
}

#[test]
fn rate_per_host_spaces_one_host_while_another_runs_free() {
    let env = TestEnv::new();
    let a = Server::start(|req| Reply::ok(format!("a {}", req.path())));
    let b = Server::start(|req| Reply::ok(format!("b {}", req.path())));
    // All of host A first: a pool whose workers slept through A's turns would reach B only
    // when A was nearly done.
    let mut urls: Vec<String> = (0..12).map(|i| a.url(&format!("/a{i}"))).collect();
    urls.extend((0..4).map(|i| b.url(&format!("/b{i}"))));
    env.list(&urls);
    let out = env.run(&["-j", "4", "--rate-per-host", "5", "--json"]);
    assert_eq!(out.code, 0);
    let (a_at, b_at) = (arrivals(&a), arrivals(&b));
    assert_eq!((a_at.len(), b_at.len()), (12, 4));
    // Counted by the server: no six requests to one host within a second (less a little for
    // the network's jitter), and none closer than a turn would allow.
    for at in [&a_at, &b_at] {
        for six in at.windows(6) {
            let span = six[5] - six[0];
            assert!(span >= Duration::from_millis(900), "6 requests in {span:?}");
        }
        for two in at.windows(2) {
            let gap = two[1] - two[0];
            assert!(gap >= Duration::from_millis(150), "{gap:?}");
        }
    }
    // Host B keeps turns of its own beside A's: all of it arrives (in 0.6 s) while A still
    // has most of its 2.2 s to go.
    assert!(b_at[3] < a_at[7], "B waited for A's turns");
    // Report order is still list order, and every file arrived.
    for (i, line) in out.report[..16].iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            (v["index"].as_u64(), v["status"].as_str()),
            (Some(i as u64), Some("ok"))
        );
    }
    assert_eq!(env.out_files().len(), 16);
}

#[test]
fn rate_per_host_turns_resume_after_a_429_pause_and_hold_serially() {
    let env = TestEnv::new();
    let first = Arc::new(AtomicUsize::new(0));
    let server = Server::start(move |req| {
        if req.path() == "/r0" && first.fetch_add(1, Ordering::SeqCst) == 0 {
            return Reply::status(429).header("Retry-After", "1");
        }
        Reply::ok(format!("body of {}", req.path()))
    });
    let urls: Vec<String> = (0..4).map(|i| server.url(&format!("/r{i}"))).collect();
    let list = env.list(&urls);
    env.cmd()
        .arg(&list)
        .args(["-o", "out", "-j", "3", "--rate-per-host", "4"])
        .assert()
        .success();
    let at = arrivals(&server);
    assert_eq!(at.len(), 5, "the refused request, its retry and three more");
    // The pause of a second holds every worker; after it, turns of a quarter second again.
    assert!(
        at[1] - at[0] >= Duration::from_millis(900),
        "{:?}",
        at[1] - at[0]
    );
    for two in at[1..].windows(2) {
        assert!(
            two[1] - two[0] >= Duration::from_millis(200),
            "{:?}",
            two[1] - two[0]
        );
    }
    // --serial spaces its requests the same way (0.5 a second: one every two seconds).
    let serial = Server::start(|req| Reply::ok(format!("body of {}", req.path())));
    let urls: Vec<String> = (0..2).map(|i| serial.url(&format!("/s{i}"))).collect();
    let list = env.list_as("serial.txt", &urls);
    env.cmd()
        .arg(&list)
        .args(["-o", "serial", "--serial", "--rate-per-host", "0.5"])
        .assert()
        .success();
    let at = arrivals(&serial);
    assert!(
        at[1] - at[0] >= Duration::from_millis(1900),
        "{:?}",
        at[1] - at[0]
    );
    for bad in ["0", "-1", "nan", "inf", "5/s", ""] {
        let out = env
            .cmd()
            .args([&format!("--rate-per-host={bad}"), "urls.txt"])
            .run();
        assert_eq!(out.code, 2, "{bad}");
        let err = &out.stderr;
        assert_has(err, "not a number of requests a second");
    }
}

#[test]
fn shards_are_disjoint_cover_the_list_and_keep_indices() {
    let env = TestEnv::new().handle(|req| Reply::ok(format!("body of {}", req.path())));
    let mut urls = env.urls_of(10, |i| format!("/s{i}"));
    urls.insert(3, "# a comment does not count".to_string());
    urls[5] = "not-a-url".to_string();
    env.list(&urls);
    let mut seen = Vec::new();
    for k in 0..3 {
        let run = env.run(&["--json", "--shard", &format!("{k}/3")]);
        for v in run.results().iter().filter(|v| v["type"] == "result") {
            let index = v["index"].as_u64().unwrap();
            assert_eq!(index % 3, k);
            seen.push((index, v["line"].as_u64().unwrap()));
        }
    }
    seen.sort();
    let want: Vec<(u64, u64)> = (0..10)
        .map(|i| (i, if i < 3 { i + 1 } else { i + 2 }))
        .collect();
    assert_eq!(
        seen, want,
        "every entry exactly once, with its line in the full list"
    );
    assert_eq!(env.out_files().len(), 9, "all but the bad line");
}

#[test]
fn generate_man_and_completions() {
    let env = TestEnv::new();
    let out = env.cmd().args(["--generate", "man"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let man = String::from_utf8_lossy(&out.stdout);
    assert!(
        man.starts_with(".ie") || man.contains(".TH fetchpool"),
        "{}",
        &man[..200]
    );
    assert_has(&man, "per\\-host");
    // Issue 20's options, and the other spellings the long help names.
    for option in [
        "input\\-file",
        "rate\\-per\\-host",
        "shard\\-by",
        "auto[/N]",
        "JOB_COMPLETION_INDEX",
        "directory\\-prefix",
        "max\\-redirs",
    ] {
        assert!(man.contains(option), "{option}");
    }
    // Examples as commands on lines of their own, and the exit statuses; no catch-all section.
    assert_has(&man, ".SH EXAMPLES");
    assert_has(&man, ".nf\n\\fBfetchpool urls.txt\\fR\n.fi");
    assert_has(&man, ".SH \"EXIT STATUS\"");
    assert_has(&man, "130");
    assert_lacks(&man, "EXTRA");
    // What it reads from the environment, each variable named; the help's code spans in bold,
    // no backtick left.
    let environment = &man[man.find(".SH ENVIRONMENT").expect("an ENVIRONMENT section")..];
    for var in [
        "NETRC",
        "SSL_CERT_FILE",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "NO_COLOR",
        "CI",
        "GITHUB_ACTIONS",
        "SLURM_ARRAY_TASK_ID",
        "JOB_COMPLETION_INDEX",
        "CI_NODE_INDEX",
    ] {
        assert!(environment.contains(var), "{var}");
    }
    assert!(!man.contains('`'), "a literal backtick in the man page");
    assert!(man.contains("\\fBout=PATH\\fR"), "code spans in bold");
    // The man page and completions may be cut short by a pager or `head` without an error.
    let mut out = env
        .std_cmd()
        .args(["--generate", "man"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(out.stdout.take());
    let out = out.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    for (kind, marker) in [
        ("complete-bash", "complete -F"),
        ("complete-zsh", "#compdef fetchpool"),
        ("complete-fish", "complete -c fetchpool"),
        ("complete-powershell", "Register-ArgumentCompleter"),
    ] {
        let out = env.cmd().args(["--generate", kind]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{kind}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{kind}: {text}");
        for option in ["limit-rate", "input-file", "rate-per-host", "shard-by"] {
            assert!(text.contains(option), "{kind}: {option}");
        }
    }
    let out = env.cmd().args(["--generate", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_color_and_dumb_terminals() {
    let env = TestEnv::new().handle(|_| Reply::ok("x").delay(Duration::from_millis(300)));
    env.list(&[env.url("/p")]);
    // NO_COLOR (set by the test environment): bars, but no colour codes.
    let run = env.exec(&["urls.txt", "-o", "a", "--progress", "always"]);
    assert!(run.stderr.contains('\u{1b}'), "bars were drawn");
    assert_lacks(&run.stderr, "\u{1b}[3");
    assert_lacks(&run.stderr, "\u{1b}[9");
    // TERM=dumb: no escape codes at all, even with --progress always.
    let mut dumb = env.cmd();
    let run = dumb
        .env("TERM", "dumb")
        .args(["urls.txt", "-o", "b", "--progress", "always"])
        .run();
    assert_eq!(run.code, 0);
    assert_lacks(&run.stderr, "\u{1b}");
}

/// A named host is resolved for every worker by a few threads the run shares, not by a thread
/// of each worker's runtime (at -j 1024 against a name that was a thousand more threads): while
/// sixteen workers wait on a slow `localhost`, the process has its sixteen workers, one resolver
/// (they all asked for one name) and no runtime's blocking thread.
#[test]
fn workers_share_a_few_threads_to_resolve_host_names() {
    let env = TestEnv::new();
    let server = slow_server(1500);
    let urls: Vec<String> = (0..32)
        .map(|i| format!("http://localhost:{}/f{i}", server.port()))
        .collect();
    let list = env.list(&urls);
    let child = env
        .std_cmd()
        .arg(&list)
        .args(["-o", "out", "-j", "16", "-q"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while server.request_count() < 16 {
        assert!(started.elapsed() < Duration::from_secs(20), "no requests");
        std::thread::sleep(Duration::from_millis(20));
    }
    let names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", child.id()))
        .unwrap()
        .flatten()
        .map(|task| std::fs::read_to_string(task.path().join("comm")).unwrap_or_default())
        .map(|comm| comm.trim().to_string())
        .collect();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(env.out_files().len(), 32);
    let count = |prefix: &str| names.iter().filter(|n| n.starts_with(prefix)).count();
    assert_eq!(count("worker-"), 16, "{names:?}");
    assert_eq!(count("resolver-"), 1, "{names:?}");
    assert_eq!(count("tokio"), 0, "{names:?}");
}
