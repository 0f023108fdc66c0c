//! Where bytes go, on disk: existing targets, symlinks, non-2xx bodies, truncated and unframed bodies.

use std::collections::HashMap;
use std::os::unix::fs::symlink;

use crate::support::server::{Body, Reply, Server};
use crate::support::{fetchpool, files_below, payload, run, write_list};

fn one_file_server(body: &[u8]) -> Server {
    Server::files(HashMap::from([("/f.bin".to_string(), body.to_vec())]))
}

#[test]
fn existing_target_fails_and_names_both_flags() {
    let dir = tempfile::tempdir().unwrap();
    let server = one_file_server(b"new bytes");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/f.bin"), "old bytes").unwrap();
    let (code, report, _) = run(dir.path(), &[server.url("/f.bin")], &[]);
    assert_eq!(code, 1);
    assert!(report[0].contains("--overwrite") && report[0].contains("--skip-existing"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/f.bin")).unwrap(),
        "old bytes"
    );
    assert_eq!(
        server.request_count(),
        0,
        "no request for a target that cannot be written"
    );
}

#[test]
fn skip_existing_and_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let server = one_file_server(b"new bytes");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/f.bin"), "old bytes").unwrap();

    let (code, report, _) = run(dir.path(), &[server.url("/f.bin")], &["--skip-existing"]);
    assert_eq!(code, 0);
    assert!(report[0].starts_with("skipped "));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/f.bin")).unwrap(),
        "old bytes"
    );

    let (code, report, _) = run(dir.path(), &[server.url("/f.bin")], &["--overwrite"]);
    assert_eq!(code, 0);
    assert!(report[0].starts_with("ok "));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/f.bin")).unwrap(),
        "new bytes"
    );
    assert_eq!(files_below(&dir.path().join("out")), ["f.bin"]);
}

#[test]
fn skip_existing_checks_size_and_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let server = one_file_server(b"new bytes");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/f.bin"), "old").unwrap();
    // The list says 9 bytes; the file on disk has 3, so it is not the file the list means.
    let list = write_list(
        dir.path(),
        "urls.txt",
        &[format!("{} size=9", server.url("/f.bin"))],
    );
    let (code, report, _) = run(
        dir.path(),
        &[format!("{} size=9", server.url("/f.bin"))],
        &["--skip-existing"],
    );
    assert_eq!(code, 1);
    let line = &report[0];
    assert!(
        line.contains("has 3 bytes, not size=9") && line.contains("use --update"),
        "{line}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/f.bin")).unwrap(),
        "old"
    );

    // --overwrite does not go with --skip-existing (nor with -u): they contradict each other.
    for flags in [
        ["--skip-existing", "--overwrite"],
        ["--update", "--overwrite"],
    ] {
        let out = fetchpool(dir.path())
            .arg(&list)
            .args(["-o", "out"])
            .args(flags)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot be used with"), "{stderr}");
    }
    // -u keeps what matches and fetches the mismatched file again.
    fetchpool(dir.path())
        .arg(&list)
        .args(["-o", "out", "--update"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/f.bin")).unwrap(),
        "new bytes"
    );

    // Now it matches, and is skipped without a request.
    let before = server.request_count();
    let (_, report, _) = run(
        dir.path(),
        &[format!("{} size=9", server.url("/f.bin"))],
        &["--skip-existing"],
    );
    assert!(report[0].starts_with("skipped "));
    assert_eq!(server.request_count(), before);
}

#[test]
fn symlink_at_target_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let server = one_file_server(b"attacker bytes");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    symlink(&victim, dir.path().join("out/f.bin")).unwrap();
    let list = write_list(dir.path(), "urls.txt", &[server.url("/f.bin")]);

    let (code, report, _) = run(dir.path(), &[server.url("/f.bin")], &[]);
    assert_eq!(code, 1);
    assert!(report[0].contains("already exists"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    // --overwrite replaces the link itself, never the file it points to.
    fetchpool(dir.path())
        .arg(&list)
        .args(["-o", "out", "--overwrite"])
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let target = dir.path().join("out/f.bin");
    assert!(
        !std::fs::symlink_metadata(&target)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "attacker bytes");
}

#[test]
fn symlink_at_part_path_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let server = one_file_server(b"attacker bytes");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    symlink(&victim, dir.path().join("out/f.bin.part")).unwrap();
    let list = write_list(dir.path(), "urls.txt", &[server.url("/f.bin")]);
    fetchpool(dir.path())
        .arg(&list)
        .args(["-o", "out"])
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/f.bin")).unwrap(),
        "attacker bytes"
    );
    assert_eq!(files_below(&dir.path().join("out")), ["f.bin"]);
}

#[test]
fn symlinked_directory_in_out_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = one_file_server(b"attacker bytes");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    symlink(&elsewhere, dir.path().join("out/sub")).unwrap();
    let (code, report, _) = run(
        dir.path(),
        &[format!("{} out=sub/f.bin", server.url("/f.bin"))],
        &[],
    );
    assert_eq!(code, 1);
    assert!(report[0].contains("is a symbolic link; not following it"));
    assert!(files_below(&elsewhere).is_empty());
}

#[test]
fn a_404_among_successes_exits_1_and_saves_no_body() {
    let dir = tempfile::tempdir().unwrap();
    let files: HashMap<String, Vec<u8>> = (0..5)
        .map(|i| (format!("/ok{i}"), payload(30_000, i)))
        .collect();
    let server = Server::files(files.clone());
    let urls = [
        server.url("/ok0"),
        server.url("/ok1"),
        server.url("/missing"),
        server.url("/ok2"),
        server.url("/ok3"),
        server.url("/ok4"),
    ];
    let (code, report, stderr) = run(dir.path(), &urls, &["-j", "3"]);
    assert_eq!(code, 1);
    assert!(report[2].starts_with("failed      404") && report[2].contains("HTTP 404 Not Found"));
    for i in 0..5 {
        assert_eq!(
            std::fs::read(dir.path().join(format!("out/ok{i}"))).unwrap(),
            files[&format!("/ok{i}")]
        );
    }
    assert_eq!(
        files_below(&dir.path().join("out")).len(),
        5,
        "nothing for the 404"
    );
    assert!(stderr.contains("5 ok, 1 failed"), "{stderr}");
}

#[test]
fn error_statuses_never_save_their_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(|req| match req.path() {
        "/500" => Reply::status(500),
        "/403" => Reply::status(403),
        _ => Reply::status(301), // a redirect with no Location is not a success either
    });
    let urls = [server.url("/500"), server.url("/403"), server.url("/301")];
    let (code, report, _) = run(dir.path(), &urls, &[]);
    assert_eq!(code, 1);
    assert!(report[0].starts_with("failed      500"));
    assert!(report[1].starts_with("failed      403"));
    assert!(report[2].starts_with("failed      301"));
    assert!(files_below(&dir.path().join("out")).is_empty());
}

#[test]
fn truncated_body_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(|_| Reply::ok(payload(100_000, 9)).framing(Body::Truncated(40_000)));
    let (code, report, _) = run(dir.path(), &[server.url("/cut.bin")], &[]);
    assert_eq!(code, 1);
    let line = &report[0];
    assert!(line.starts_with("failed      200"), "{line}");
    assert!(
        files_below(&dir.path().join("out")).is_empty(),
        "no target, no .part"
    );
}

#[test]
fn body_without_length_is_saved_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let body = payload(50_000, 4);
    let expected = body.clone();
    let server = Server::start(move |_| Reply::ok(body.clone()).framing(Body::Unframed));
    let (code, report, _) = run(dir.path(), &[server.url("/stream")], &[]);
    assert_eq!(code, 0);
    assert!(report[0].contains("length unverified"));
    assert_eq!(
        std::fs::read(dir.path().join("out/stream")).unwrap(),
        expected
    );
}

#[test]
fn no_flag_reaches_through_a_symlinked_directory() {
    let body = payload(30_000, 31);
    for flags in [
        &["--continue"][..],
        &["--continue", "--overwrite"][..],
        &["--skip-existing"][..],
        &["--overwrite"][..],
        &[][..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::ranged(&body);
        // Outside the output directory: a file to keep and a complete .part (a 416 to -c).
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("victim"), "precious").unwrap();
        std::fs::write(outside.join("victim.part"), &body).unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        symlink(&outside, dir.path().join("out/up")).unwrap();
        let line = format!("{} out=up/victim size=8", server.url("/victim"));
        let (code, report, _) = run(dir.path(), &[line], flags);
        assert_eq!(code, 1, "{flags:?}: {report:?}");
        assert!(
            report[0].contains("out/up is a symbolic link; not following it"),
            "{flags:?}: {}",
            report[0]
        );
        assert_eq!(
            server.request_count(),
            0,
            "{flags:?}: refused before any request"
        );
        assert_eq!(
            files_below(&outside),
            ["victim", "victim.part"],
            "{flags:?}"
        );
        assert_eq!(
            std::fs::read_to_string(outside.join("victim")).unwrap(),
            "precious"
        );
        assert_eq!(std::fs::read(outside.join("victim.part")).unwrap(), body);
    }
}

#[test]
fn an_output_directory_that_cannot_be_written_is_found_before_any_request() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let server = one_file_server(b"data");
    write_list(dir.path(), "urls.txt", &[server.url("/f.bin")]);
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = crate::support::fetchpool_std(dir.path());
    cmd.args(["urls.txt", "-o", "ro"]);
    // Root writes anywhere: run as nobody, as a user would meet it.
    if rustix::process::geteuid().is_root() {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot write to the output directory ro: Permission denied"),
        "{stderr}"
    );
    assert_eq!(server.requests().len(), 0, "no request was made");
    assert!(std::fs::read_dir(&ro).unwrap().next().is_none());
}

#[test]
fn bad_output_paths_are_named_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let server = one_file_server(b"data");
    write_list(dir.path(), "urls.txt", &[server.url("/f.bin")]);
    std::fs::write(dir.path().join("afile"), "x").unwrap();
    let out = fetchpool(dir.path())
        .args(["urls.txt", "-o", "afile"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "fetchpool: cannot use afile as the output directory: it is not a directory (-o names the \
         directory files go to; curl's -o FILE is out=FILE after the URL in a list)\n"
    );
    // --failed-out that cannot be created: exit 2, and the output directory was not made.
    let out = fetchpool(dir.path())
        .args(["urls.txt", "-o", "out", "--failed-out", "afile/rest.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot create --failed-out afile/rest.txt"),
        "{out:?}"
    );
    assert!(!dir.path().join("out").exists());
    assert_eq!(server.requests().len(), 0);
}
