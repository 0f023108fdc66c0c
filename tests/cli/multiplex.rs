//! Several downloads in flight per worker over HTTP/2, against a real nginx over TLS whose
//! answers each take 100 ms (the echo module): what nginx's log says of the connections and of
//! the streams in flight on each.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;

use crate::support::nginx::{Nginx, Served, most_at_once};
use crate::support::tls::TestCa;
use crate::support::{Run, TestEnv, payload};

/// Two overlapping requests overlap by more than this (the log counts milliseconds, and each
/// answer takes 100).
const SLACK: f64 = 0.02;

/// nginx over TLS with HTTP/2, serving from `env`'s root, allowing `streams` at once on a
/// connection, answering `/slow/fNN` after 100 ms; `env` gets the CA and a list of `files` URLs.
fn slow_h2(env: &TestEnv, streams: usize, files: usize) -> Option<Nginx> {
    let root = env.root();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let www = root.join("www/slow");
    std::fs::create_dir_all(&www).unwrap();
    for i in 0..files {
        std::fs::write(www.join(format!("f{i:02}")), payload(2000, i as u64)).unwrap();
    }
    let ca = TestCa::new();
    std::fs::write(root.join("leaf.pem"), &ca.leaf_pem).unwrap();
    std::fs::write(root.join("leaf.key"), &ca.leaf_key_pem).unwrap();
    let r = root.display();
    let nginx = Nginx::start_with_echo(root, |port| {
        format!(
            "server {{\n    listen 127.0.0.1:{port} ssl http2;\n    \
             http2_max_concurrent_streams {streams};\n    \
             ssl_certificate {r}/leaf.pem;\n    ssl_certificate_key {r}/leaf.key;\n    \
             root {r}/www;\n    location /slow/ {{ echo_sleep 0.1; echo_exec @file; }}\n    \
             location @file {{ }}\n  }}"
        )
    })?;
    env.write("ca.pem", &ca.ca_pem);
    let urls: Vec<String> = (0..files)
        .map(|i| nginx.https(&format!("/slow/f{i:02}")))
        .collect();
    env.list(&urls);
    Some(nginx)
}

/// Runs fetchpool on the list with `-v` and `args`; it must succeed.
fn run_h2(env: &TestEnv, args: &[&str]) -> Run {
    let run = env.run(&[&["--cacert", "ca.pem", "-v"], args].concat());
    assert_eq!(run.code, 0, "{run:?}");
    run
}

/// The requests of each connection.
fn by_connection(served: &[Served]) -> BTreeMap<u64, Vec<&Served>> {
    let mut connections: BTreeMap<u64, Vec<&Served>> = BTreeMap::new();
    for s in served {
        connections.entry(s.connection).or_default().push(s);
    }
    connections
}

#[test]
fn a_worker_s_downloads_share_its_http2_connection_several_at_once() {
    let env = TestEnv::nested();
    let Some(nginx) = slow_h2(&env, 128, 40) else {
        return;
    };
    let Run {
        report,
        stderr,
        took,
        ..
    } = run_h2(&env, &["-j", "2", "--streams", "10"]);
    assert_eq!(report.iter().filter(|l| l.starts_with("ok")).count(), 40);
    let served = nginx.requests();
    assert_eq!(served.len(), 40);
    let connections = by_connection(&served);
    assert_eq!(
        connections.len(),
        2,
        "one connection a worker: {connections:?}"
    );
    for requests in connections.values() {
        let at_once = most_at_once(requests, SLACK);
        assert!(
            at_once >= 5,
            "streams in flight at once on a connection: {at_once}"
        );
        assert!(at_once <= 10, "--streams 10: {at_once}");
    }
    // Each worker's downloads (as -v names them) all went over one connection.
    let connection_of: BTreeMap<&str, u64> = served
        .iter()
        .map(|s| (s.uri.as_str(), s.connection))
        .collect();
    for worker in ["worker-1", "worker-2"] {
        let used: BTreeSet<u64> = stderr
            .lines()
            .filter(|l| l.starts_with(&format!("[{worker}] GET ")))
            .map(|l| {
                let uri = &l[l.find("/slow/").unwrap()..];
                connection_of[uri]
            })
            .collect();
        assert_eq!(used.len(), 1, "{worker}: {used:?}");
    }
    // 40 answers of 100 ms, 20 at a time: two rounds, not twenty.
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
}

#[test]
fn serial_never_has_two_in_flight() {
    let env = TestEnv::nested();
    let Some(nginx) = slow_h2(&env, 128, 8) else {
        return;
    };
    run_h2(&env, &["--serial"]);
    let served = nginx.requests();
    assert_eq!(served.len(), 8);
    let all: Vec<&Served> = served.iter().collect();
    // Answers of 100 ms one after another: two that truly overlapped would share most of them.
    // nginx's clock is the one it caches per event-loop turn, which on a loaded machine (two
    // test suites at once) lagged past SLACK: half an answer's time tells the two apart.
    assert_eq!(most_at_once(&all, 0.05), 1, "{served:?}");
}

#[test]
fn a_server_that_allows_two_streams_gets_at_most_two_in_flight() {
    let env = TestEnv::nested();
    let Some(nginx) = slow_h2(&env, 2, 12) else {
        return;
    };
    let report = run_h2(&env, &["-j", "1", "--streams", "30"]).report;
    assert_eq!(report.iter().filter(|l| l.starts_with("ok")).count(), 12);
    let served = nginx.requests();
    let connections = by_connection(&served);
    assert_eq!(connections.len(), 1, "{connections:?}");
    for requests in connections.values() {
        assert_eq!(most_at_once(requests, SLACK), 2, "{served:?}");
    }
}

#[test]
fn over_http1_a_worker_runs_one_download_on_its_connection() {
    let env = TestEnv::nested();
    let Some(nginx) = slow_h2(&env, 128, 12) else {
        return;
    };
    run_h2(&env, &["-j", "2", "--http1.1"]);
    let served = nginx.requests();
    let connections = by_connection(&served);
    assert_eq!(
        connections.len(),
        2,
        "-j bounds the connections: {connections:?}"
    );
    for requests in connections.values() {
        assert_eq!(most_at_once(requests, SLACK), 1, "{served:?}");
    }
}
