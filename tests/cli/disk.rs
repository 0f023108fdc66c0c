//! Where bytes go, on disk: existing targets, symlinks, non-2xx bodies, truncated and unframed bodies.

use std::collections::HashMap;
use std::os::unix::fs::symlink;

use crate::support::server::{Body, Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has, assert_starts};
use crate::support::{payload, run};

fn one_file_server(body: &[u8]) -> Server {
    Server::files(HashMap::from([("/f.bin".to_string(), body.to_vec())]))
}

#[test]
fn existing_target_fails_and_names_both_flags() {
    let env = TestEnv::new();
    let server = one_file_server(b"new bytes");
    env.mkdir("out");
    env.write("out/f.bin", "old bytes");
    let run = env.fetch(&[server.url("/f.bin")], &[]);
    assert_eq!(run.code, 1);
    assert!(run.report[0].contains("--overwrite") && run.report[0].contains("--skip-existing"));
    assert_eq!(env.text("out/f.bin"), "old bytes");
    assert_eq!(
        server.request_count(),
        0,
        "no request for a target that cannot be written"
    );
}

#[test]
fn skip_existing_and_overwrite() {
    let env = TestEnv::new();
    let server = one_file_server(b"new bytes");
    env.mkdir("out");
    env.write("out/f.bin", "old bytes");

    let run = env.fetch(&[server.url("/f.bin")], &["--skip-existing"]);
    assert_eq!(run.code, 0);
    assert_starts(&run.report[0], "skipped ");
    assert_eq!(env.text("out/f.bin"), "old bytes");

    let run = env.fetch(&[server.url("/f.bin")], &["--overwrite"]);
    assert_eq!(run.code, 0);
    assert_starts(&run.report[0], "ok ");
    assert_eq!(env.text("out/f.bin"), "new bytes");
    assert_eq!(env.out_files(), ["f.bin"]);
}

#[test]
fn skip_existing_checks_size_and_sha256() {
    let env = TestEnv::new();
    let server = one_file_server(b"new bytes");
    env.mkdir("out");
    env.write("out/f.bin", "old");
    // The list says 9 bytes; the file on disk has 3, so it is not the file the list means.
    let list = env.list(&[format!("{} size=9", server.url("/f.bin"))]);
    let (code, report, _) = run(
        env.path(),
        &[format!("{} size=9", server.url("/f.bin"))],
        &["--skip-existing"],
    );
    assert_eq!(code, 1);
    let line = &report[0];
    assert!(
        line.contains("has 3 bytes, not size=9") && line.contains("use --update"),
        "{line}"
    );
    assert_eq!(env.text("out/f.bin"), "old");

    // --overwrite does not go with --skip-existing (nor with -u): they contradict each other.
    for flags in [
        ["--skip-existing", "--overwrite"],
        ["--update", "--overwrite"],
    ] {
        let out = env.cmd().arg(&list).args(["-o", "out"]).args(flags).run();
        assert_eq!(out.code, 2, "{flags:?}");
        let stderr = &out.stderr;
        assert_has(stderr, "cannot be used with");
    }
    // -u keeps what matches and fetches the mismatched file again.
    env.cmd()
        .arg(&list)
        .args(["-o", "out", "--update"])
        .assert()
        .success();
    assert_eq!(env.text("out/f.bin"), "new bytes");

    // Now it matches, and is skipped without a request.
    let before = server.request_count();
    let (_, report, _) = run(
        env.path(),
        &[format!("{} size=9", server.url("/f.bin"))],
        &["--skip-existing"],
    );
    assert_starts(&report[0], "skipped ");
    assert_eq!(server.request_count(), before);
}

#[test]
fn symlink_at_target_is_never_written_through() {
    let env = TestEnv::new();
    let server = one_file_server(b"attacker bytes");
    let victim = env.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    env.mkdir("out");
    symlink(&victim, env.join("out/f.bin")).unwrap();
    let list = env.list(&[server.url("/f.bin")]);

    let run = env.fetch(&[server.url("/f.bin")], &[]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "already exists");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    // --overwrite replaces the link itself, never the file it points to.
    env.cmd()
        .arg(&list)
        .args(["-o", "out", "--overwrite"])
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let target = env.join("out/f.bin");
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
    let env = TestEnv::new();
    let server = one_file_server(b"attacker bytes");
    let victim = env.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    env.mkdir("out");
    symlink(&victim, env.join("out/f.bin.part")).unwrap();
    let list = env.list(&[server.url("/f.bin")]);
    env.cmd().arg(&list).args(["-o", "out"]).assert().success();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(env.text("out/f.bin"), "attacker bytes");
    assert_eq!(env.out_files(), ["f.bin"]);
}

#[test]
fn symlinked_directory_in_out_path_is_refused() {
    let env = TestEnv::new();
    let server = one_file_server(b"attacker bytes");
    let elsewhere = env.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    env.mkdir("out");
    symlink(&elsewhere, env.join("out/sub")).unwrap();
    let (code, report, _) = run(
        env.path(),
        &[format!("{} out=sub/f.bin", server.url("/f.bin"))],
        &[],
    );
    assert_eq!(code, 1);
    assert_has(&report[0], "is a symbolic link; not following it");
    assert!(crate::support::files_below(&elsewhere).is_empty());
}

#[test]
fn a_404_among_successes_exits_1_and_saves_no_body() {
    let env = TestEnv::new();
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
    let run = env.fetch(&urls, &["-j", "3"]);
    assert_eq!(run.code, 1);
    assert!(
        run.report[2].starts_with("failed      404")
            && run.report[2].contains("HTTP 404 Not Found")
    );
    for i in 0..5 {
        assert_eq!(env.file(format!("out/ok{i}")), files[&format!("/ok{i}")]);
    }
    assert_eq!(env.out_files().len(), 5, "nothing for the 404");
    assert_has(&run.stderr, "5 ok, 1 failed");
}

#[test]
fn error_statuses_never_save_their_body() {
    let env = TestEnv::new();
    let server = Server::start(|req| match req.path() {
        "/500" => Reply::status(500),
        "/403" => Reply::status(403),
        _ => Reply::status(301), // a redirect with no Location is not a success either
    });
    let urls = [server.url("/500"), server.url("/403"), server.url("/301")];
    let run = env.fetch(&urls, &[]);
    assert_eq!(run.code, 1);
    assert_starts(&run.report[0], "failed      500");
    assert_starts(&run.report[1], "failed      403");
    assert_starts(&run.report[2], "failed      301");
    assert!(env.out_files().is_empty());
}

#[test]
fn truncated_body_fails_and_leaves_nothing() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok(payload(100_000, 9)).framing(Body::Truncated(40_000)));
    let run = env.fetch(&[server.url("/cut.bin")], &[]);
    assert_eq!(run.code, 1);
    let line = &run.report[0];
    assert!(line.starts_with("failed      200"), "{line}");
    assert!(env.out_files().is_empty(), "no target, no .part");
}

#[test]
fn body_without_length_is_saved_and_marked() {
    let env = TestEnv::new();
    let body = payload(50_000, 4);
    let expected = body.clone();
    let server = Server::start(move |_| Reply::ok(body.clone()).framing(Body::Unframed));
    let run = env.fetch(&[server.url("/stream")], &[]);
    assert_eq!(run.code, 0);
    assert_has(&run.report[0], "length unverified");
    assert_eq!(env.file("out/stream"), expected);
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
        let env = TestEnv::new();
        let server = Server::ranged(&body);
        // Outside the output directory: a file to keep and a complete .part (a 416 to -c).
        let outside = env.join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("victim"), "precious").unwrap();
        std::fs::write(outside.join("victim.part"), &body).unwrap();
        env.mkdir("out");
        symlink(&outside, env.join("out/up")).unwrap();
        let line = format!("{} out=up/victim size=8", server.url("/victim"));
        let run = env.fetch(&[line], flags);
        assert_eq!(run.code, 1, "{flags:?}: {:?}", run.report);
        assert!(
            run.report[0].contains("out/up is a symbolic link; not following it"),
            "{flags:?}: {}",
            run.report[0]
        );
        assert_eq!(
            server.request_count(),
            0,
            "{flags:?}: refused before any request"
        );
        assert_eq!(
            crate::support::files_below(&outside),
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
    let env = TestEnv::new();
    let server = one_file_server(b"data");
    env.list(&[server.url("/f.bin")]);
    let ro = env.join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(env.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = env.std_cmd();
    cmd.args(["urls.txt", "-o", "ro"]);
    // Root writes anywhere: run as nobody, as a user would meet it.
    if rustix::process::geteuid().is_root() {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_has(
        &stderr,
        "cannot write to the output directory ro: Permission denied",
    );
    assert_eq!(server.requests().len(), 0, "no request was made");
    assert!(std::fs::read_dir(&ro).unwrap().next().is_none());
}

#[test]
fn bad_output_paths_are_named_before_anything_is_created() {
    let env = TestEnv::new();
    let server = one_file_server(b"data");
    env.list(&[server.url("/f.bin")]);
    env.write("afile", "x");
    let out = env.cmd().args(["urls.txt", "-o", "afile"]).run();
    assert_eq!(out.code, 2);
    assert_eq!(
        &out.stderr,
        "fetchpool: cannot use afile as the output directory: it is not a directory (-o names the \
         directory files go to; curl's -o FILE is out=FILE after the URL in a list)\n"
    );
    // --failed-out that cannot be created: exit 2, and the output directory was not made.
    let out = env
        .cmd()
        .args(["urls.txt", "-o", "out", "--failed-out", "afile/rest.txt"])
        .run();
    assert_eq!(out.code, 2);
    assert!(
        &out.stderr
            .contains("cannot create --failed-out afile/rest.txt"),
        "{out:?}"
    );
    assert!(!env.join("out").exists());
    assert_eq!(server.requests().len(), 0);
}
