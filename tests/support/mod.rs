//! The integration tests' one harness, [`TestEnv`] (`env.rs`): a temporary directory, a server,
//! a list, a run of the binary with a scrubbed environment, and its results by name. Beside it:
//! the loopback server every test talks to (`server.rs`), the real servers some start (nginx,
//! tinyproxy, microsocks, an HTTP/2 server of our own, a TLS server with a throwaway CA), a
//! terminal for the display tests (`pty.rs`), and the payloads and digests tests compare with.

#![allow(dead_code)]

pub mod env;
pub mod h2;
pub mod nginx;
pub mod proxy;
pub mod pty;
pub mod server;
pub mod tls;

use std::path::Path;
use std::process::Command as StdCommand;

#[allow(unused_imports)] // each test file uses its own part of the harness
pub use env::{
    Run, RunIt, TestEnv, assert_has, assert_lacks, assert_starts, interrupt, wait, wait_until,
};

/// The path of the built binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_fetchpool");

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

/// Waits (up to 10 s) until `path` exists.
#[track_caller]
pub fn wait_for(path: &std::path::Path) {
    wait_until(&format!("{} never appeared", path.display()), || {
        path.exists()
    });
}
