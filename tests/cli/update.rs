//! `--update` against the loopback server: what the list's size=/sha256= decide without a
//! request, how it goes with --continue, --failed-out and --dry-run, and a server that keeps no
//! validators.

use crate::support::server::{Reply, Server};
use crate::support::{TestEnv, assert_has, assert_starts};
use crate::support::{json, lines, payload, sha256_hex};

#[test]
fn the_lists_checksums_decide_without_a_request() {
    let env = TestEnv::new();
    let body = payload(3_000, 1);
    let served = body.clone();
    let server = Server::start(move |_| Reply::ok(served.clone()));
    env.mkdir("out");
    env.write("out/same.bin", &body);
    env.write("out/stale.bin", b"old bytes");
    let sha = sha256_hex(&body);
    let list = [
        format!("{} sha256={sha}", server.url("/same.bin")),
        format!("{} size=3000", server.url("/stale.bin")),
    ];
    env.list(&list);
    let run = |args: &[&str]| {
        env.cmd()
            .args(["urls.txt", "-o", "out", "--json"])
            .args(args)
            .output()
            .unwrap()
    };
    let plan = run(&["-u", "--dry-run"]);
    let actions: Vec<String> = lines(&plan.stdout)
        .iter()
        .map(|l| json(l)["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["unchanged", "replace"]);
    let out = run(&["-u", "--failed-out", "rest.txt"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Vec<_> = lines(&out.stdout).iter().map(|l| json(l)).collect();
    assert_eq!(report[0]["status"], "unchanged");
    assert!(
        report[0]["http_status"].is_null(),
        "no request: {}",
        report[0]
    );
    assert_eq!(report[1]["status"], "ok");
    assert_eq!(env.file("out/stale.bin"), body);
    // One request, for the file that did not match.
    let asked: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(asked, ["/stale.bin"]);
    // Nothing is left to retry: unchanged is done.
    assert_eq!(env.text("rest.txt"), "");
}

#[test]
fn update_with_continue_revalidates_what_is_there_and_resumes_what_is_not() {
    let env = TestEnv::new();
    let body = payload(50_000, 4);
    let server = Server::versioned(&body, "\"v1\"");
    env.mkdir("out");
    // A target in place (that the server does not vouch for: it answers no condition, so a 200
    // replaces it) and a .part to resume, of the server's version.
    env.write("out/whole.bin", b"old");
    crate::support::plant_part(
        &env.join("out/half.bin.part"),
        &body[..20_000],
        "\"v1\"",
        50_000,
    );
    env.list(&[server.url("/whole.bin"), server.url("/half.bin")]);
    let out = env.run(&["-u", "-c", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Vec<_> = out.report.iter().map(|l| json(l)).collect();
    assert_eq!(report[0]["http_status"], 200);
    assert_eq!(report[1]["http_status"], 206);
    assert_eq!(report[1]["received"], 30_000);
    for name in ["whole.bin", "half.bin"] {
        assert_eq!(std::fs::read(env.join("out").join(name)).unwrap(), body);
    }
    let requests = server.requests();
    let whole = requests.iter().find(|r| r.path() == "/whole.bin").unwrap();
    assert!(whole.header("if-modified-since").is_some(), "revalidated");
    assert_eq!(whole.header("range"), None);
    let half = requests.iter().find(|r| r.path() == "/half.bin").unwrap();
    assert_eq!(half.header("range"), Some("bytes=20000-"));
    assert_eq!(
        half.header("if-modified-since"),
        None,
        "nothing in place to revalidate"
    );
}

#[test]
fn an_unchanged_file_is_left_alone_and_a_304_without_asking_is_a_failure() {
    let env = TestEnv::new();
    let server = Server::start(|req| {
        if req.path() == "/rogue" {
            return Reply::status(304);
        }
        match req.header("if-none-match") {
            Some("\"v1\"") => Reply::status(304),
            _ => Reply::ok("version one")
                .header("ETag", "\"v1\"")
                .header("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        }
    });
    env.list(&[server.url("/f.txt"), server.url("/rogue")]);
    let out = env.run(&[]);
    assert_eq!(out.code, 1);
    let report = out.report.clone();
    assert!(
        report[1].starts_with("failed      304"),
        "a 304 nobody asked for: {report:?}"
    );
    let path = env.join("out/f.txt");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert_eq!(
        modified,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(784111777),
        "the file's time is the server's Last-Modified"
    );
    env.list(&[server.url("/f.txt")]);
    let out = env.run(&["-u"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_starts(&out.report[0], "unchanged   304");
    let stderr = &out.stderr;
    assert_has(stderr, "fetchpool: 0 ok, 0 failed, 1 unchanged;");
    // The ETag went back as If-None-Match (tmpfs and ext4 keep user attributes).
    let last = server.requests().pop().unwrap();
    assert_eq!(last.header("if-none-match"), Some("\"v1\""));
    assert_eq!(
        last.header("if-modified-since"),
        Some("Sun, 06 Nov 1994 08:49:37 GMT")
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
}
