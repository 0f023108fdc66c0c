//! A report file never replaces a download: `--report`, `--junit`, `--timeline` or
//! `--failed-out` naming an entry's target is refused before anything is fetched where the
//! list can be read up front; from standard input that entry fails; and a file put at the
//! report's name while the run went on (another run's download) is never replaced.

use std::io::Write;
use std::process::Stdio;

use crate::support::payload;
use crate::support::server::{Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has, wait};

/// A server with `/b.bin` (these bytes) and `/a.txt`; `/slow` answers after a second and a half.
fn server(body: &[u8]) -> Server {
    let body = body.to_vec();
    Server::start(move |req| match req.path() {
        "/b.bin" => Reply::ok(body.clone()),
        "/slow" => Reply::ok("slow").delay(std::time::Duration::from_millis(1500)),
        _ => Reply::ok("a"),
    })
}

#[test]
fn a_report_named_as_a_download_is_refused_before_anything_is_fetched() {
    let server = server(&payload(1000, 1));
    for flag in ["--report", "--junit", "--timeline", "--failed-out"] {
        for spelled in ["out/b.bin", "./out/../out/b.bin"] {
            let env = TestEnv::new();
            env.mkdir("out");
            let run = env.fetch(
                &[server.url("/a.txt"), server.url("/b.bin")],
                &[flag, spelled],
            );
            assert_eq!(run.code, 2, "{flag} {spelled}");
            assert_has(&run.stderr, "urls.txt:2: its target out/b.bin is also the");
            assert_has(&run.stderr, flag);
            assert!(env.names("out").is_empty());
        }
    }
    assert_eq!(server.request_count(), 0, "nothing fetched");
}

#[test]
fn from_standard_input_the_entry_fails_and_an_earlier_download_stays() {
    let env = TestEnv::new().with(server(&payload(1000, 2)));
    env.write("out/b.bin", "an earlier download");
    let mut child = env.spawn_reading_stdin(&["--report", "out/b.bin"]);
    let list = format!("{}\n{}\n", env.url("/a.txt"), env.url("/b.bin"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let run = wait(child);
    assert_eq!(run.code, 1);
    assert_has(&run.stdout, "is also the --report file");
    assert!(env.holds("out/b.bin", b"an earlier download"));
    assert_has(&run.stderr, "was not put in place");
    let kept: Vec<String> = env
        .names("out")
        .into_iter()
        .filter(|n| n.starts_with("b.bin.fetchpool-"))
        .collect();
    assert_eq!(kept.len(), 1, "{:?}", env.names("out"));
    let report = env.text(format!("out/{}", kept[0]));
    assert_eq!(
        report.lines().count(),
        3,
        "two results and the summary: {report}"
    );
    assert!(!env.server().targets().contains(&"/b.bin".to_string()));
}

#[test]
fn a_download_another_run_puts_at_the_report_s_name_is_kept() {
    let body = payload(1000, 3);
    let server = server(&body);
    let env = TestEnv::new();
    env.mkdir("out");
    // One run fetches something slow and will write its report at out/b.bin; meanwhile
    // another run downloads b.bin into the same directory.
    env.list_as("slow.txt", &[server.url("/slow")]);
    let reporting = env
        .std_cmd()
        .args(["slow.txt", "-o", "out", "--report", "out/b.bin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    env.list_as("b.txt", &[server.url("/b.bin")]);
    let other = env.run_list("b.txt", &[]);
    assert_eq!(other.code, 0);
    let out = reporting.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the report is not where it was asked"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_has(&stderr, "a file was put there while the run went on");
    assert!(env.holds("out/b.bin", &body), "the download stays");
    let names = env.names("out");
    assert_eq!(
        names.len(),
        3,
        "slow, b.bin and the report beside: {names:?}"
    );
}

#[test]
fn a_report_never_replaces_what_the_run_reads_nor_another_report() {
    let env = TestEnv::new();
    let list = "http://127.0.0.1:9/b.bin\n";
    env.write("urls.txt", list);
    std::os::unix::fs::symlink("urls.txt", env.join("link.txt")).unwrap();
    env.write("netrc", "machine h login u password p\n");
    env.write("SUMS", "");
    env.mkdir("out");
    for (args, said) in [
        (
            &["urls.txt", "--report", "urls.txt"][..],
            "is also the list urls.txt",
        ),
        (
            &["link.txt", "--failed-out", "./urls.txt"],
            "is also the list link.txt",
        ),
        (
            &["urls.txt", "--junit", "SUMS", "--checksums", "SUMS"],
            "the --checksums file",
        ),
        (
            &["urls.txt", "--netrc-file", "netrc", "--failed-out", "netrc"],
            "the netrc file",
        ),
        (
            &["urls.txt", "--report", "r", "--junit", "./r"],
            "is also the --report file",
        ),
        (
            &["urls.txt", "--timeline", "out/b.bin.part"],
            "kept beside its target",
        ),
    ] {
        let out = env.cmd().args(["-o", "out"]).args(args).run();
        assert_eq!(out.code, 2, "{args:?}");
        let stderr = &out.stderr;
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    assert!(env.holds("urls.txt", list.as_bytes()));
    assert!(env.holds("netrc", b"machine h login u password p\n"));
    assert!(env.names("out").is_empty());
}

#[test]
fn a_list_on_a_named_pipe_is_read_once_with_a_report_in_the_output_directory() {
    let body = payload(1000, 4);
    let env = TestEnv::new().with(server(&body));
    env.mkdir("out");
    env.mkfifo("list.fifo");
    let fifo = env.join("list.fifo");
    let list = format!("{}\n{}\n", env.url("/b.bin"), env.url("/a.txt"));
    let writer = std::thread::spawn(move || std::fs::write(fifo, list).unwrap());
    // The report's name clashes with nothing: the list must not be used up by a look ahead.
    let mut cmd = env.cmd();
    cmd.args(["list.fifo", "-o", "out", "--report", "out/report.ndjson"]);
    let run = cmd.timeout(std::time::Duration::from_secs(20)).run();
    writer.join().unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(env.holds("out/b.bin", &body));
    let report = env.text("out/report.ndjson");
    assert_eq!(report.lines().count(), 3, "{report}");
}
