//! Shared helpers for the integration tests: the binary with a scrubbed environment, lists,
//! payloads, and the loopback server in `server.rs`.

#![allow(dead_code)]

pub mod env;
pub mod h2;
pub mod nginx;
pub mod proxy;
pub mod pty;
pub mod server;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;

pub use env::{RunIt, TestEnv, assert_has, assert_lacks, assert_starts};

/// The path of the built binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_fetchpool");

fn scrub(cmd: &mut StdCommand) {
    // No proxies, no colours, nothing from the developer's shell.
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", "/usr/bin:/bin");
}

/// `fetchpool` with a clean environment, run in `dir`.
pub fn fetchpool(dir: &Path) -> Command {
    let mut std = StdCommand::new(BIN);
    scrub(&mut std);
    std.current_dir(dir);
    Command::from_std(std)
}

/// The same as a plain `std::process::Command`, for tests that drive stdin or stdout themselves.
pub fn fetchpool_std(dir: &Path) -> StdCommand {
    let mut cmd = StdCommand::new(BIN);
    scrub(&mut cmd);
    cmd.current_dir(dir);
    cmd
}

/// Writes `lines` as a list file `name` in `dir`.
pub fn write_list(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Deterministic bytes that differ from file to file.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes `bytes` at `path` as an interrupted `fetchpool -c` leaves a `.part`: with the version
/// it is of (this ETag, a file of `len` bytes) kept with it. Panics where the file system keeps
/// no user extended attributes (the tests' temporary directories do).
pub fn plant_part(path: &Path, bytes: &[u8], etag: &str, len: usize) {
    std::fs::write(path, bytes).unwrap();
    let pin = format!("fetchpool-pin 1\nlength {len}\netag {etag}\n");
    rustix::fs::setxattr(
        path,
        "user.fetchpool.pin",
        pin.as_bytes(),
        rustix::fs::XattrFlags::empty(),
    )
    .expect("user extended attributes");
}

/// Whether the file at `path` holds exactly `bytes` (without printing either when not).
pub fn holds(path: &Path, bytes: &[u8]) -> bool {
    std::fs::read(path).is_ok_and(|got| got == bytes)
}

/// stdout as text, split into lines.
pub fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every file below `dir`, as sorted relative paths.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// SHA-256 of `bytes` as lowercase hex, by the system's `sha256sum` (an independent check on the
/// binary's own digest).
pub fn sha256_hex(bytes: &[u8]) -> String {
    digest_hex("sha256sum", bytes)
}

/// The digest of `bytes` as lowercase hex, by the system's `TOOL` (`md5sum`, `sha1sum`,
/// `sha512sum`, `b2sum` from coreutils).
pub fn digest_hex(tool: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    std::fs::write(&path, bytes).unwrap();
    let out = StdCommand::new(tool).arg(&path).output().unwrap();
    assert!(out.status.success(), "{tool}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Runs fetchpool in `dir` on a list of `urls` (written as `urls.txt`) into `out/` with `args`;
/// returns the exit code, the report's lines and stderr.
pub fn run(dir: &Path, urls: &[String], args: &[&str]) -> (i32, Vec<String>, String) {
    write_list(dir, "urls.txt", urls);
    run_with_list(dir, "urls.txt", args)
}

/// Runs fetchpool in `dir` on the list file `name` (as written there, so messages name it so)
/// into `out/` with `args`; returns the exit code, the report's lines and stderr.
pub fn run_with_list(dir: &Path, name: &str, args: &[&str]) -> (i32, Vec<String>, String) {
    let out = fetchpool(dir)
        .arg(name)
        .args(["-o", "out"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        lines(&out.stdout),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One NDJSON line.
pub fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap()
}

/// The names in `dir` itself (files, directories, anything), sorted: what a run left there.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every file below `dir/out`, or none when fetchpool never created it.
pub fn out_files(dir: &Path) -> Vec<String> {
    let out = dir.join("out");
    if out.exists() {
        files_below(&out)
    } else {
        Vec::new()
    }
}

/// A server that answers every path with `body of PATH` after `delay_ms`.
pub fn slow_server(delay_ms: u64) -> server::Server {
    server::Server::start(move |req| {
        server::Reply::ok(format!("body of {}", req.path()))
            .delay(std::time::Duration::from_millis(delay_ms))
    })
}

/// A loopback port nobody listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends SIGINT to `child` and waits for it: its output, and how long it took to end.
pub fn interrupt_and_wait(
    child: std::process::Child,
) -> (std::process::Output, std::time::Duration) {
    let sent = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    (out, sent.elapsed())
}

/// `fetchpool urls.txt -o out --min-speed 0 ARGS` in `dir`, with stdout and stderr piped.
pub fn spawn_run(dir: &std::path::Path, args: &[&str]) -> std::process::Child {
    fetchpool_std(dir)
        .args(["urls.txt", "-o", "out", "--min-speed", "0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// `fetchpool - -o out ARGS` in `dir`, the list on a pipe the test writes to; stdout and stderr
/// piped.
pub fn spawn_reading_stdin(dir: &std::path::Path, args: &[&str]) -> std::process::Child {
    fetchpool_std(dir)
        .args(["-", "-o", "out"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (up to 10 s) until `path` exists.
pub fn wait_for(path: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
