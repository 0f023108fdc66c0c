//! A report file never replaces a download: `--report`, `--junit`, `--timeline` or
//! `--failed-out` naming an entry's target is refused before anything is fetched where the
//! list can be read up front; from standard input that entry fails; and a file put at the
//! report's name while the run went on (another run's download) is never replaced.

use std::io::Write;
use std::process::Stdio;

use crate::support::server::{Reply, Server};
use crate::support::{fetchpool, fetchpool_std, holds, names_in, payload, write_list};

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
    let body = payload(1000, 1);
    let server = server(&body);
    for flag in ["--report", "--junit", "--timeline", "--failed-out"] {
        for spelled in ["out/b.bin", "./out/../out/b.bin"] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("out")).unwrap();
            let urls = [server.url("/a.txt"), server.url("/b.bin")];
            write_list(dir.path(), "urls.txt", &urls);
            let out = fetchpool(dir.path())
                .args(["urls.txt", "-o", "out", flag, spelled])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{flag} {spelled}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("urls.txt:2: its target out/b.bin is also the")
                    && stderr.contains(flag),
                "{stderr}"
            );
            assert!(names_in(&dir.path().join("out")).is_empty());
        }
    }
    assert_eq!(server.request_count(), 0, "nothing fetched");
}

#[test]
fn from_standard_input_the_entry_fails_and_an_earlier_download_stays() {
    let body = payload(1000, 2);
    let server = server(&body);
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(out_dir.join("b.bin"), "an earlier download").unwrap();
    let mut child = fetchpool_std(dir.path())
        .args(["-", "-o", "out", "--report", "out/b.bin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let list = format!("{}\n{}\n", server.url("/a.txt"), server.url("/b.bin"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("is also the --report file"), "{stdout}");
    assert!(holds(&out_dir.join("b.bin"), b"an earlier download"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("was not put in place"), "{stderr}");
    let kept: Vec<String> = names_in(&out_dir)
        .into_iter()
        .filter(|n| n.starts_with("b.bin.fetchpool-"))
        .collect();
    assert_eq!(kept.len(), 1, "{:?}", names_in(&out_dir));
    let report = std::fs::read_to_string(out_dir.join(&kept[0])).unwrap();
    assert_eq!(
        report.lines().count(),
        3,
        "two results and the summary: {report}"
    );
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.path() == "/b.bin")
            .count(),
        0
    );
}

#[test]
fn a_download_another_run_puts_at_the_report_s_name_is_kept() {
    let body = payload(1000, 3);
    let server = server(&body);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    // One run fetches something slow and will write its report at out/b.bin; meanwhile
    // another run downloads b.bin into the same directory.
    write_list(dir.path(), "slow.txt", &[server.url("/slow")]);
    let reporting = fetchpool_std(dir.path())
        .args(["slow.txt", "-o", "out", "--report", "out/b.bin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    write_list(dir.path(), "b.txt", &[server.url("/b.bin")]);
    let other = fetchpool(dir.path())
        .args(["b.txt", "-o", "out"])
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(0));
    let out = reporting.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the report is not where it was asked"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a file was put there while the run went on"),
        "{stderr}"
    );
    assert!(
        holds(&dir.path().join("out/b.bin"), &body),
        "the download stays"
    );
    let names = names_in(&dir.path().join("out"));
    assert_eq!(
        names.len(),
        3,
        "slow, b.bin and the report beside: {names:?}"
    );
}

#[test]
fn a_report_never_replaces_what_the_run_reads_nor_another_report() {
    let dir = tempfile::tempdir().unwrap();
    let list = "http://127.0.0.1:9/b.bin\n";
    std::fs::write(dir.path().join("urls.txt"), list).unwrap();
    std::os::unix::fs::symlink("urls.txt", dir.path().join("link.txt")).unwrap();
    std::fs::write(dir.path().join("netrc"), "machine h login u password p\n").unwrap();
    std::fs::write(dir.path().join("SUMS"), "").unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
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
        let out = fetchpool(dir.path())
            .args(["-o", "out"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    assert!(holds(&dir.path().join("urls.txt"), list.as_bytes()));
    assert!(holds(
        &dir.path().join("netrc"),
        b"machine h login u password p\n"
    ));
    assert!(names_in(&dir.path().join("out")).is_empty());
}

#[test]
fn a_list_on_a_named_pipe_is_read_once_with_a_report_in_the_output_directory() {
    let body = payload(1000, 4);
    let server = server(&body);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let fifo = dir.path().join("list.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let list = format!("{}\n{}\n", server.url("/b.bin"), server.url("/a.txt"));
    let writer = std::thread::spawn(move || std::fs::write(fifo, list).unwrap());
    // The report's name clashes with nothing: the list must not be used up by a look ahead.
    let out = fetchpool(dir.path())
        .args(["list.fifo", "-o", "out", "--report", "out/report.ndjson"])
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(holds(&dir.path().join("out/b.bin"), &body));
    let report = std::fs::read_to_string(dir.path().join("out/report.ndjson")).unwrap();
    assert_eq!(report.lines().count(), 3, "{report}");
}
