//! The list: comments, blank lines, CRLF, options, and bad lines reported at their place.

use std::collections::HashMap;

use crate::support::server::Server;
use crate::support::{fetchpool, files_below, lines, payload, sha256_hex};

#[test]
fn list_format_with_options_and_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let a = payload(5000, 1);
    let b = payload(7000, 2);
    let server = Server::files(HashMap::from([
        ("/a.bin".to_string(), a.clone()),
        ("/get".to_string(), b.clone()),
    ]));
    let list = format!(
        "# the first line is a comment\r\n\
         \r\n\
         {a_url}\r\n\
         not-a-url\r\n\
         ftp://127.0.0.1/x\r\n\
         {a_url} colour=red\r\n\
         {a_url} sha256=1234\r\n\
         {b_url}?id=7   out=sub/dir/b.bin\tsize={b_len}  sha256={b_sha}\r\n\
         \t# indented comment\r\n\
         {a_url} out=../escape.bin\r\n",
        a_url = server.url("/a.bin"),
        b_url = server.url("/get"),
        b_len = b.len(),
        b_sha = sha256_hex(&b),
    );
    std::fs::write(dir.path().join("urls.txt"), list).unwrap();
    let out = fetchpool(dir.path())
        .args(["urls.txt", "-o", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "bad lines make the run fail");
    let report = lines(&out.stdout);
    assert_eq!(report.len(), 7, "{report:#?}");
    assert!(report[0].starts_with("ok ") && report[0].ends_with("out/a.bin"));
    assert!(
        report[1].contains("urls.txt:4: not a valid URL"),
        "{}",
        report[1]
    );
    assert!(
        report[2].contains("urls.txt:5: unsupported scheme 'ftp'"),
        "{}",
        report[2]
    );
    assert!(
        report[3].contains("urls.txt:6: unknown option 'colour'"),
        "{}",
        report[3]
    );
    assert!(
        report[4].contains("urls.txt:7: sha256= must be 64 hex digits"),
        "{}",
        report[4]
    );
    assert!(report[5].starts_with("ok ") && report[5].ends_with("out/sub/dir/b.bin"));
    assert!(report[6].contains("urls.txt:10: out=../escape.bin: '..' is not allowed"));
    assert_eq!(std::fs::read(dir.path().join("out/a.bin")).unwrap(), a);
    assert_eq!(
        std::fs::read(dir.path().join("out/sub/dir/b.bin")).unwrap(),
        b
    );
    assert_eq!(
        files_below(&dir.path().join("out")),
        ["a.bin", "sub/dir/b.bin"]
    );
    assert!(!dir.path().join("escape.bin").exists());
}

#[test]
fn size_and_sha256_mismatches_fail_without_leaving_files() {
    let dir = tempfile::tempdir().unwrap();
    let body = payload(4096, 3);
    let server = Server::files(HashMap::from([("/x".to_string(), body.clone())]));
    let wrong_sha = "0".repeat(64);
    let lines_in = [
        format!("{} out=short size=4000", server.url("/x")),
        format!("{} out=bad-sha sha256={wrong_sha}", server.url("/x")),
        format!(
            "{} out=good size=4096 sha256={}",
            server.url("/x"),
            sha256_hex(&body)
        ),
    ];
    let list = crate::support::write_list(dir.path(), "urls.txt", &lines_in);
    let out = fetchpool(dir.path())
        .arg(&list)
        .args(["-o", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = lines(&out.stdout);
    assert!(report[0].contains("the server announces 4096 bytes but the list says size=4000"));
    assert!(report[1].contains("sha256 mismatch"), "{}", report[1]);
    assert!(report[2].starts_with("ok "));
    assert_eq!(files_below(&dir.path().join("out")), ["good"]);
}
