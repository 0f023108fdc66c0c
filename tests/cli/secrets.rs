//! No secret printed, in any spelling: a `--checksums` URL's credentials, a header's value cut
//! off on the URL line, `-H` arguments that do not parse, and the query and fragment names that
//! carry credentials. Every output a person or a CI runner reads is searched: stdout as text
//! and JSON, stderr with `-v`, the `::error` lines, the step summary, `--report`, `--junit`.

use crate::support::server::{Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has, assert_lacks};
use crate::support::{payload, sha256_hex};

/// The secrets every test hides: a password, a token, a header value.
const SECRETS: [&str; 3] = ["hunter2", "t0kenS3cret", "k3yValu3"];

/// Everything a run in `env` printed and wrote, with `args`, as GitHub Actions would run it.
fn everything_said(env: &TestEnv, args: &[&str]) -> (i32, String) {
    let run = env
        .cmd()
        .args(["-o", "out", "--retries", "0"])
        .args(["--report", "r.ndjson", "--junit", "r.xml"])
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", env.join("summary.md"))
        .run();
    let mut said = run.said();
    for file in ["r.ndjson", "r.xml", "summary.md"] {
        said.push_str(&std::fs::read_to_string(env.join(file)).unwrap_or_default());
    }
    (run.code, said)
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
    let env = TestEnv::new();
    env.list(&[format!("{} sha256={right}", server.url("/f.bin"))]);
    let sums = sums_url(&server, "/SUMS");
    let (code, said) = everything_said(&env, &["urls.txt", "-v", "--checksums", &sums]);
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
        let env = TestEnv::new();
        env.list(&[server.url("/f.bin")]);
        let sums = sums_url(&server, path);
        let mut args = vec!["urls.txt", "--checksums", &sums];
        args.extend(extra);
        let (code, said) = everything_said(&env, &args);
        assert_eq!(code, expected, "{path}: {said}");
        assert_has(&said, "alice:***@");
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
    let (code, said) = everything_said(&env, &["urls.txt"]);
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
    let control = (
        "X-Api-Key: k3yValu3\u{1b}[31m",
        "X-Api-Key holds a control character",
    );
    let newline = (
        "X-Api-Key: k3yValu3\nX-Other: 1",
        "X-Api-Key holds a newline",
    );
    let no_colon = ("X-Api-Key k3yValu3", "no colon");
    for (arg, named) in [
        no_colon,
        control,
        newline,
        ("Bearer k3yValu3: x", "holds a space"),
    ] {
        let run = env.exec(&["-H", arg, "http://127.0.0.1:9/a"]);
        assert_eq!(run.code, 2, "{arg:?}");
        assert_has(&run.stderr, "-H");
        assert_has(&run.stderr, named);
        assert_lacks(&run.stderr, "\u{1b}");
        assert_lacks(&run.stderr, "X-Other");
        assert_nothing_secret(&run.stderr);
        assert!(run.stdout.is_empty());
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
    let (code, said) = everything_said(&env, &["urls.txt", "-v"]);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("X-Amz-Signature=***") && said.contains("id=7"),
        "{said}"
    );
    assert_has(&said, "#access_token=***&state=ok");
    assert_nothing_secret(&said);
}
