//! Datasets that arrive right: every common digest, checksum files, mirrors and Metalink files,
//! against loopback servers and the system's own checksum tools.

use crate::support::server::Server;
use crate::support::{digest_hex, json, out_files, payload, run, sha256_hex};

/// Whether the file at `path` holds exactly `bytes` (without printing either when not).
fn holds(path: &std::path::Path, bytes: &[u8]) -> bool {
    std::fs::read(path).is_ok_and(|got| got == bytes)
}

#[test]
fn every_digest_on_a_line_is_checked_against_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let body = payload(300_000, 1);
    let server = Server::ranged(&body);
    let sums: Vec<String> = [
        ("md5", "md5sum"),
        ("sha1", "sha1sum"),
        ("sha512", "sha512sum"),
        ("blake2b", "b2sum"),
    ]
    .iter()
    .map(|(key, tool)| format!("{key}={}", digest_hex(tool, &body)))
    .collect();
    let line = format!("{} {}", server.url("/d.bin"), sums.join(" "));
    // Text mode computes what the list asks, and nothing else.
    let (code, report, stderr) = run(dir.path(), std::slice::from_ref(&line), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(report[0].starts_with("ok"), "{report:?}");
    assert!(holds(&dir.path().join("out/d.bin"), &body));
    // --json keeps its sha256 field: the digest of the saved file.
    std::fs::remove_file(dir.path().join("out/d.bin")).unwrap();
    let (_, report, _) = run(dir.path(), &[line], &["--json"]);
    assert_eq!(json(&report[0])["sha256"], sha256_hex(&body));

    // One of several wrong: nothing placed, the reason names the algorithm, and --failed-out
    // keeps every digest on the line.
    for (key, tool) in [
        ("md5", "md5sum"),
        ("sha1", "sha1sum"),
        ("sha512", "sha512sum"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let other = digest_hex(tool, b"another file");
        let line = format!(
            "{} sha256={} {key}={other}",
            server.url("/d.bin"),
            sha256_hex(&body)
        );
        let (code, report, _) = run(dir.path(), &[line], &["--failed-out", "again.txt"]);
        assert_eq!(code, 1);
        assert!(
            report[0].contains(&format!("{key} mismatch: expected {other}")),
            "{report:?}"
        );
        assert!(out_files(dir.path()).is_empty(), "{key}: nothing placed");
        let again = std::fs::read_to_string(dir.path().join("again.txt")).unwrap();
        assert!(again.contains(&format!("{key}={other}")), "{again}");
        assert!(
            again.contains(&format!("sha256={}", sha256_hex(&body))),
            "{again}"
        );
    }
}
