//! Where bytes go, on disk: existing targets, symlinks, non-2xx bodies, truncated and unframed bodies.

use std::collections::HashMap;
use std::os::unix::fs::symlink;

use crate::support::payload;
use crate::support::server::{Body, Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has, assert_starts};

#[test]
fn existing_target_fails_and_names_both_flags() {
    let env = TestEnv::new().serve(&[("/f.bin", b"new bytes")]);
    env.write("out/f.bin", "old bytes");
    let run = env.fetch(&[env.url("/f.bin")], &[]);
    assert_eq!(run.code, 1);
    assert!(run.report[0].contains("--overwrite") && run.report[0].contains("--skip-existing"));
    assert_eq!(env.text("out/f.bin"), "old bytes");
    let requests = env.server().request_count();
    assert_eq!(
        requests, 0,
        "no request for a target that cannot be written"
    );
}

#[test]
fn skip_existing_and_overwrite() {
    let env = TestEnv::new().serve(&[("/f.bin", b"new bytes")]);
    env.write("out/f.bin", "old bytes");
    let run = env.fetch(&[env.url("/f.bin")], &["--skip-existing"]);
    assert_eq!(run.code, 0);
    assert_starts(&run.report[0], "skipped ");
    assert_eq!(env.text("out/f.bin"), "old bytes");
    let run = env.run(&["--overwrite"]);
    assert_eq!(run.code, 0);
    assert_starts(&run.report[0], "ok ");
    assert_eq!(env.text("out/f.bin"), "new bytes");
    assert_eq!(env.out_files(), ["f.bin"]);
}

#[test]
fn skip_existing_checks_size_and_sha256() {
    let env = TestEnv::new().serve(&[("/f.bin", b"new bytes")]);
    env.write("out/f.bin", "old");
    // The list says 9 bytes; the file on disk has 3, so it is not the file the list means.
    let run = env.fetch(
        &[format!("{} size=9", env.url("/f.bin"))],
        &["--skip-existing"],
    );
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "has 3 bytes, not size=9");
    assert_has(&run.report[0], "use --update");
    assert_eq!(env.text("out/f.bin"), "old");
    // -u keeps what matches and fetches the mismatched file again.
    assert_eq!(env.run(&["--update"]).code, 0);
    assert_eq!(env.text("out/f.bin"), "new bytes");
    // Now it matches, and is skipped without a request.
    let before = env.server().request_count();
    assert_starts(&env.run(&["--skip-existing"]).report[0], "skipped ");
    assert_eq!(env.server().request_count(), before);
}

#[test]
fn overwrite_contradicts_skip_existing_and_update() {
    let env = TestEnv::new().serve(&[("/f.bin", b"new bytes")]);
    env.list(&[env.url("/f.bin")]);
    for flags in [
        ["--skip-existing", "--overwrite"],
        ["--update", "--overwrite"],
    ] {
        let run = env.run(&flags);
        assert_eq!(run.code, 2, "{flags:?}");
        assert_has(&run.stderr, "cannot be used with");
    }
}

#[test]
fn symlink_at_target_is_never_written_through() {
    let env = TestEnv::new().serve(&[("/f.bin", b"attacker bytes")]);
    env.write("victim.txt", "precious");
    env.mkdir("out");
    symlink(env.join("victim.txt"), env.join("out/f.bin")).unwrap();
    let run = env.fetch(&[env.url("/f.bin")], &[]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "already exists");
    assert_eq!(env.text("victim.txt"), "precious");
    // --overwrite replaces the link itself, never the file it points to.
    assert_eq!(env.run(&["--overwrite"]).code, 0);
    assert_eq!(env.text("victim.txt"), "precious");
    let meta = std::fs::symlink_metadata(env.join("out/f.bin")).unwrap();
    assert!(!meta.file_type().is_symlink());
    assert_eq!(env.text("out/f.bin"), "attacker bytes");
}

#[test]
fn symlink_at_part_path_is_never_written_through() {
    let env = TestEnv::new().serve(&[("/f.bin", b"attacker bytes")]);
    env.write("victim.txt", "precious");
    env.mkdir("out");
    symlink(env.join("victim.txt"), env.join("out/f.bin.part")).unwrap();
    assert_eq!(env.fetch(&[env.url("/f.bin")], &[]).code, 0);
    assert_eq!(env.text("victim.txt"), "precious");
    assert_eq!(env.text("out/f.bin"), "attacker bytes");
    assert_eq!(env.out_files(), ["f.bin"]);
}

#[test]
fn symlinked_directory_in_out_path_is_refused() {
    let env = TestEnv::new().serve(&[("/f.bin", b"attacker bytes")]);
    env.mkdir("elsewhere");
    env.mkdir("out");
    symlink(env.join("elsewhere"), env.join("out/sub")).unwrap();
    let run = env.fetch(&[format!("{} out=sub/f.bin", env.url("/f.bin"))], &[]);
    assert_eq!(run.code, 1);
    assert_has(&run.report[0], "is a symbolic link; not following it");
    assert!(env.names("elsewhere").is_empty());
}

#[test]
fn a_404_among_successes_exits_1_and_saves_no_body() {
    let files: HashMap<String, Vec<u8>> = (0..5)
        .map(|i| (format!("/ok{i}"), payload(30_000, i)))
        .collect();
    let env = TestEnv::new().with(Server::files(files.clone()));
    let urls = env.urls(&["/ok0", "/ok1", "/missing", "/ok2", "/ok3", "/ok4"]);
    let run = env.fetch(&urls, &["-j", "3"]);
    assert_eq!(run.code, 1);
    assert_starts(&run.report[2], "failed      404");
    assert_has(&run.report[2], "HTTP 404 Not Found");
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
    assert_starts(line, "failed      200");
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
        &["--continue", "--overwrite"],
        &["--skip-existing"],
        &["--overwrite"],
        &[],
    ] {
        let env = TestEnv::new().with(Server::ranged(&body));
        // Outside the output directory: a file to keep and a complete .part (a 416 to -c).
        env.write("outside/victim", "precious");
        env.write("outside/victim.part", &body);
        env.mkdir("out");
        symlink(env.join("outside"), env.join("out/up")).unwrap();
        let run = env.fetch(
            &[format!("{} out=up/victim size=8", env.url("/victim"))],
            flags,
        );
        assert_eq!(run.code, 1, "{flags:?}: {:?}", run.report);
        assert_has(
            &run.report[0],
            "out/up is a symbolic link; not following it",
        );
        assert_eq!(
            env.server().request_count(),
            0,
            "{flags:?}: refused before any request"
        );
        assert_eq!(env.names("outside"), ["victim", "victim.part"], "{flags:?}");
        assert_eq!(env.text("outside/victim"), "precious");
        assert_eq!(env.file("outside/victim.part"), body);
    }
}

#[test]
fn an_output_directory_that_cannot_be_written_is_found_before_any_request() {
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new().serve(&[("/f.bin", b"data")]);
    env.list(&[env.url("/f.bin")]);
    env.mkdir("ro");
    env.chmod("ro", 0o555);
    env.chmod("", 0o755);
    let mut cmd = env.std_cmd();
    cmd.args(["urls.txt", "-o", "ro"]);
    // Root writes anywhere: run as nobody, as a user would meet it.
    if rustix::process::geteuid().is_root() {
        cmd.uid(65534).gid(65534);
    }
    let run = cmd.run();
    assert_eq!(run.code, 2, "{run:?}");
    let said = "cannot write to the output directory ro: Permission denied";
    assert_has(&run.stderr, said);
    assert_eq!(env.server().requests().len(), 0, "no request was made");
    assert!(env.names("ro").is_empty());
}

#[test]
fn bad_output_paths_are_named_before_anything_is_created() {
    let env = TestEnv::new().serve(&[("/f.bin", b"data")]);
    env.list(&[env.url("/f.bin")]);
    env.write("afile", "x");
    let run = env.exec(&["urls.txt", "-o", "afile"]);
    assert_eq!(run.code, 2);
    let said = "fetchpool: cannot use afile as the output directory: it is not a directory (-o names \
         the directory files go to; curl's -o FILE is out=FILE after the URL in a list)\n";
    assert_eq!(run.stderr, said);
    // --failed-out that cannot be created: exit 2, and the output directory was not made.
    let run = env.run(&["--failed-out", "afile/rest.txt"]);
    assert_eq!(run.code, 2);
    assert_has(&run.stderr, "cannot create --failed-out afile/rest.txt");
    assert!(!env.exists("out"));
    assert_eq!(env.server().requests().len(), 0);
}
