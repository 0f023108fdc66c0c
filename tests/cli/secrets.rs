//! No secret printed, in any spelling: a `--checksums` URL's credentials, a header's value cut
//! off on the URL line, `-H` arguments that do not parse, and the query and fragment names that
//! carry credentials. Every output a person or a CI runner reads is searched: stdout as text
//! and JSON, stderr with `-v`, the `::error` lines, the step summary, `--report`, `--junit`.

use std::path::Path;

use crate::support::server::{Reply, Server};
use crate::support::{TestEnv, assert_has};
use crate::support::{payload, sha256_hex};

/// The secrets every test hides: a password, a token, a header value.
const SECRETS: [&str; 3] = ["hunter2", "t0kenS3cret", "k3yValu3"];

/// Everything a run at `dir` printed and wrote, with `args`, as GitHub Actions would run it.
fn everything_said(dir: &Path, args: &[&str]) -> (i32, String) {
    let summary = dir.join("summary.md");
    let out = crate::support::fetchpool(dir)
        .args(["-o", "out", "--retries", "0"])
        .args(["--report", "r.ndjson", "--junit", "r.xml"])
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    for file in ["r.ndjson", "r.xml", "summary.md"] {
        said.push_str(&std::fs::read_to_string(dir.join(file)).unwrap_or_default());
    }
    (out.status.code().unwrap_or(-1), said)
}

fn assert_nothing_secret(said: &str) {
    for secret in SECRETS {
        assert!(!said.contains(secret), "{secret} printed:\n{said}");
    }
}

/// A checksums URL that carries a password and a token.
fn sums_url(server: &Server, path: &str) -> String {
    let url = server.url(&format!("{path}?token=t0kenS3cret"));
    url.replace("http://", "http://alice:hunter2@")
}

#[test]
fn a_checksums_url_s_credentials_are_never_printed() {
    let body = payload(1000, 1);
    let right = sha256_hex(&body);
    let wrong = sha256_hex(b"another file");
    let served = body.clone();
    let server = Server::start(move |req| match req.path() {
        "/f.bin" => Reply::ok(served.clone()),
        "/SUMS" => Reply::ok(format!("{wrong}  f.bin\n")),
        "/GARBAGE" => Reply::ok("this is not a checksum line\n"),
        _ => Reply::status(404),
    });
    // The list and the checksums file disagree: the entry fails, naming SUMS and its line.
    let dir = tempfile::tempdir().unwrap();
    crate::support::write_list(
        dir.path(),
        "urls.txt",
        &[format!("{} sha256={right}", server.url("/f.bin"))],
    );
    let sums = sums_url(&server, "/SUMS");
    let (code, said) = everything_said(dir.path(), &["urls.txt", "-v", "--checksums", &sums]);
    assert_eq!(code, 1, "{said}");
    assert_has(&said, "alice:***@");
    assert_has(&said, "/SUMS?token=***:1");
    assert_has(&said, "::error");
    assert_nothing_secret(&said);
    // A line that is not a checksum, a checksums file that cannot be fetched, a dry run.
    for (path, extra, expected) in [
        ("/GARBAGE", None, 2),
        ("/MISSING", None, 2),
        ("/SUMS", Some("--dry-run"), 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        crate::support::write_list(dir.path(), "urls.txt", &[server.url("/f.bin")]);
        let sums = sums_url(&server, path);
        let mut args = vec!["urls.txt", "--checksums", &sums];
        args.extend(extra);
        let (code, said) = everything_said(dir.path(), &args);
        assert_eq!(code, expected, "{path}: {said}");
        assert!(said.contains("alice:***@"), "{path}: {said}");
        assert_nothing_secret(&said);
    }
}

#[test]
fn a_header_s_value_cut_off_on_the_url_line_is_never_printed() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok("fine"));
    env.list(&[
        format!("{} header=X-Api-Key: k3yValu3", server.url("/a")),
        format!("{} header=Authorization:Bearer k3yValu3", server.url("/b")),
    ]);
    let (code, said) = everything_said(env.path(), &["urls.txt"]);
    assert_eq!(code, 1, "{said}");
    assert_has(&said, "header=X-Api-Key:");
    assert_has(&said, "indented line");
    assert_has(&said, "::error");
    assert_nothing_secret(&said);
    assert_eq!(server.request_count(), 0);
}

#[test]
fn a_header_argument_that_does_not_parse_names_the_header_never_its_value() {
    let env = TestEnv::new();
    for (arg, named) in [
        ("X-Api-Key k3yValu3", "no colon"),
        (
            "X-Api-Key: k3yValu3\u{1b}[31m",
            "X-Api-Key holds a control character",
        ),
        (
            "X-Api-Key: k3yValu3\nX-Other: 1",
            "X-Api-Key holds a newline",
        ),
        ("Bearer k3yValu3: x", "holds a space"),
    ] {
        let out = env
            .cmd()
            .args(["-H", arg, "http://127.0.0.1:9/a"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{arg:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("-H") && stderr.contains(named), "{stderr}");
        assert!(
            !stderr.contains('\u{1b}') && !stderr.contains("X-Other"),
            "{stderr}"
        );
        assert_nothing_secret(&stderr);
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn credentials_in_every_query_and_fragment_spelling_are_hidden() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::status(404));
    let names = [
        "session",
        "auth",
        "access_key",
        "X-Amz-Signature",
        "sig",
        "signature",
        "client_secret",
        "SessionId",
    ];
    let mut query: Vec<String> = names.iter().map(|n| format!("{n}=t0kenS3cret")).collect();
    query.push("id=7".into());
    let url = format!(
        "{}?{}#access_token=t0kenS3cret&state=ok",
        server.url("/f.bin"),
        query.join("&")
    );
    env.list(&[url]);
    let (code, said) = everything_said(env.path(), &["urls.txt", "-v"]);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("X-Amz-Signature=***") && said.contains("id=7"),
        "{said}"
    );
    assert_has(&said, "#access_token=***&state=ok");
    assert_nothing_secret(&said);
}
