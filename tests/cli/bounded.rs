//! Bounded work on any input: a list line that never ends, a netrc or checksums file that is no
//! such thing, a Metalink file of many thousands of files. What is held stays within a cap, and
//! the time grows with the input, not with its square.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::lines;
use crate::support::server::{Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has, assert_starts};

/// The most memory `pid` has held so far (its peak resident set), in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}

#[test]
fn a_list_line_that_goes_on_and_on_is_a_bad_line_in_bounded_memory() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok("fine"));
    let mut child = env
        .std_cmd()
        .args(["-", "-o", "out", "--serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // 256 MiB of one line: every byte has gone through the reader once the pipe takes more.
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..256 {
        stdin.write_all(&chunk).unwrap();
    }
    let peak = peak_mib(child.id());
    writeln!(stdin, "\n{}", server.url("/a")).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(peak < 64, "{peak} MiB held for a line of 256 MiB");
    assert_eq!(out.status.code(), Some(1));
    let report = lines(&out.stdout);
    assert!(
        report[0].starts_with("failed") && report[0].contains("<stdin>:1: the line is longer"),
        "{report:?}"
    );
    assert_starts(&report[1], "ok");
}

/// `fetchpool ARGS` in `dir` with at most 4 GiB of address space: a reader that holds what it
/// reads dies of it rather than taking the machine's memory.
fn run_capped(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .args(["-c", "ulimit -v 4194304; exec \"$@\"", "bash"])
        .arg(crate::support::BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap()
}

#[test]
fn a_netrc_or_checksums_file_that_is_no_such_thing_is_refused_in_bounds() {
    let env = TestEnv::new();
    let out = run_capped(
        env.path(),
        &["--netrc-file", "/dev/zero", "http://127.0.0.1:9/a"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_has(&stderr, "not a netrc file");
    // A line of a checksums file far longer than any is named, not held.
    let long = format!("{}  {}\n", "0".repeat(64), "n".repeat(10 << 20));
    env.write("SUMS", long);
    let out = run_capped(env.path(), &["--checksums", "SUMS", "http://127.0.0.1:9/a"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_has(&stderr, "SUMS:1: longer than 64 KiB");
}

#[test]
fn a_metalink_file_of_a_hundred_thousand_files_is_read_in_linear_time() {
    let env = TestEnv::new();
    let mut text = String::from(
        "<?xml version=\"1.0\"?>\n<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n",
    );
    for i in 0..100_000 {
        text.push_str(&format!(
            "  <file name=\"f{i}.bin\">\n    <size>10</size>\n    \
             <url>http://127.0.0.1:9/f{i}.bin</url>\n  </file>\n"
        ));
    }
    text.push_str("</metalink>\n");
    env.write("big.meta4", text);
    let started = std::time::Instant::now();
    let out = env
        .cmd()
        .args(["big.meta4", "--dry-run", "--json", "-o", "out"])
        .timeout(std::time::Duration::from_secs(60))
        .run();
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{took:?}");
    let plan = out.report.clone();
    assert_eq!(plan.len(), 100_000);
    // Each <file>'s line is counted on from the one before: the last one starts on 399,999.
    let last = crate::support::json(&plan[99_999]);
    assert_eq!(last["line"], 3 + 4 * 99_999, "{last}");
    // Linear, this is a second or two even in a debug build on a busy machine; read in time
    // quadratic in its size (each <file>'s line counted from the start) it was minutes.
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
}
