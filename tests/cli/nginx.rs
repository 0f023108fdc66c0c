//! End to end against a real nginx (Debian's package), started by the test on a free loopback
//! port with its own config and temp dirs. Mandatory in CI (`CI` set): there a missing nginx is
//! a failure, not a skip; `.ci/run` installs it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::nginx::Nginx;
use crate::support::{
    RunIt, TestEnv, assert_has, assert_lacks, assert_starts, interrupt, wait_until,
};
use crate::support::{payload, sha256_hex};

#[test]
fn real_nginx_mixed_list_and_resume() {
    let env = TestEnv::nested();
    // nginx's workers run unprivileged: they must be able to read the files.
    std::fs::set_permissions(env.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let www = env.root().join("www");
    std::fs::create_dir_all(www.join("sub")).unwrap();
    let files = [
        ("small.txt", payload(100, 1)),
        ("sub/medium.bin", payload(300_000, 2)),
        ("big.bin", payload(3_000_000, 3)),
        ("empty", Vec::new()),
    ];
    for (name, body) in &files {
        std::fs::write(www.join(name), body).unwrap();
    }
    let Some(nginx) = Nginx::start(env.root(), &www) else {
        return;
    };
    let urls = vec![
        nginx.url("/small.txt"),
        format!(
            "{} out=nested/medium.bin sha256={}",
            nginx.url("/sub/medium.bin"),
            sha256_hex(&files[1].1)
        ),
        format!("{} size=3000000", nginx.url("/big.bin")),
        nginx.url("/empty"),
        nginx.url("/missing.bin"),
        nginx.url("/sub/"),
    ];
    env.list(&urls);
    let out = env.run(&["-j", "4"]);
    assert_eq!(out.code, 1, "{}", &out.stderr);
    let report = out.report.clone();
    assert_starts(&report[4], "failed      404");
    assert!(
        report[5].starts_with("failed      403"),
        "directory listing is off: {}",
        report[5]
    );
    let read = |p: &str| std::fs::read(env.join("out").join(p)).unwrap();
    assert_eq!(read("small.txt"), files[0].1);
    assert_eq!(read("nested/medium.bin"), files[1].1);
    assert_eq!(read("big.bin"), files[2].1);
    assert_eq!(read("empty"), files[3].1);
    assert_eq!(env.out_files().len(), 4);

    // --continue against nginx's own Range and If-Range support: a third of big.bin is already
    // here, of the version nginx serves (its ETag is the file's time and size in hex).
    std::fs::remove_file(env.join("out/big.bin")).unwrap();
    let etag = nginx_etag(&www.join("big.bin"));
    crate::support::plant_part(
        &env.join("out/big.bin.part"),
        &files[2].1[..1_000_000],
        &etag,
        3_000_000,
    );
    env.list_as("again.txt", &[nginx.url("/big.bin")]);
    let out = env.run_list("again.txt", &["--continue", "--json"]);
    assert_eq!(out.code, 0);
    let v: serde_json::Value = serde_json::from_str(&out.report[0]).unwrap();
    assert_eq!(v["http_status"], 206, "nginx honoured the Range request");
    assert_eq!(v["bytes"], 3_000_000);
    assert_eq!(v["sha256"], sha256_hex(&files[2].1));
    assert_eq!(read("big.bin"), files[2].1);
    assert!(!env.join("out/big.bin.part").exists());
}

/// The ETag nginx gives a static file: its modification time and size, in hex.
fn nginx_etag(path: &Path) -> String {
    let meta = std::fs::metadata(path).unwrap();
    let secs = meta
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("\"{secs:x}-{:x}\"", meta.len())
}

#[test]
fn real_nginx_over_tls_http2_cacert_insecure_and_netrc() {
    let env = TestEnv::nested();
    std::fs::set_permissions(env.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let www = env.root().join("www");
    std::fs::create_dir_all(www.join("private")).unwrap();
    let body = payload(2_000_000, 8);
    std::fs::write(www.join("data.bin"), &body).unwrap();
    std::fs::write(www.join("private/report.txt"), b"for ci only").unwrap();
    // A throwaway CA and a certificate for 127.0.0.1 and localhost.
    let ca = crate::support::tls::TestCa::new();
    let r = env.root().display().to_string();
    std::fs::write(env.root().join("leaf.pem"), &ca.leaf_pem).unwrap();
    std::fs::write(env.root().join("leaf.key"), &ca.leaf_key_pem).unwrap();
    std::fs::write(env.root().join("htpasswd"), "ci:{PLAIN}hunter2\n").unwrap();
    let w = www.display().to_string();
    let Some(nginx) = Nginx::start_with(env.root(), |port| {
        format!(
            "server {{\n    listen 127.0.0.1:{port} ssl http2;\n\
             ssl_certificate {r}/leaf.pem;\n    ssl_certificate_key {r}/leaf.key;\n\
             root {w};\n\
             location /private/ {{ auth_basic \"ci\"; auth_basic_user_file {r}/htpasswd; }}\n  }}"
        )
    }) else {
        return;
    };
    std::fs::write(env.join("ca.pem"), &ca.ca_pem).unwrap();
    let list = env.list(&[nginx.https("/data.bin")]);
    let run = |out: &str, args: &[&str]| {
        env.cmd()
            .arg(&list)
            .args(["-o", out, "--retries", "0"])
            .args(args)
            .run()
    };

    // The CA is unknown: a failure that says how to trust it.
    let out = run("unknown", &[]);
    assert_eq!(out.code, 1);
    let report = &out.stdout;
    assert!(
        report.contains("a CA this system does not trust") && report.contains("--cacert"),
        "{report}"
    );

    // --cacert: byte for byte, over HTTP/2 (nginx logs the protocol).
    let out = run("trusted", &["--cacert", "ca.pem"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.file("trusted/data.bin"), body);
    let log = nginx.access_log();
    assert_has(&log, "/data.bin HTTP/2.0 200");

    // --http1.1: the same download over HTTP/1.1.
    let out = run("h1", &["--cacert", "ca.pem", "--http1.1"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.file("h1/data.bin"), body);
    let log = nginx.access_log();
    assert!(
        log.lines()
            .last()
            .unwrap()
            .ends_with("/data.bin HTTP/1.1 200"),
        "{log}"
    );

    // -k: works without the CA, and warns.
    let out = run("insecure", &["-k"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.file("insecure/data.bin"), body);
    assert_has(&out.stderr, "warning: --insecure");

    // Basic auth from a netrc file: without it 401, with it the file.
    let list = env.list_as("private.txt", &[nginx.https("/private/report.txt")]);
    let netrc = env.join("netrc");
    std::fs::write(
        &netrc,
        "machine 127.0.0.1\n  login ci\n  password hunter2\n",
    )
    .unwrap();
    std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let private = |out: &str, args: &[&str]| {
        env.cmd()
            .arg(&list)
            .args(["-o", out, "--cacert", "ca.pem"])
            .args(args)
            .run()
    };
    let out = private("noauth", &[]);
    assert_starts(&out.stdout, "failed      401");
    let out = private("auth", &["--netrc-file", "netrc"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.file("auth/report.txt"), b"for ci only");
    assert_lacks(&out.stderr, "hunter2");
}

/// `(inode, mtime)` of a file: what "left alone" means.
fn identity(path: &Path) -> (u64, std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).unwrap();
    (meta.ino(), meta.modified().unwrap())
}

/// An hour ago, in whole seconds: what an HTTP date can say.
fn hour_ago() -> std::time::SystemTime {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.as_secs() - 3600)
}

/// Runs `fetchpool -c` in `env` on `url` (as `big.bin`) and interrupts it once its `.part`
/// holds `at_least` bytes; how many it held then.
fn interrupted_at(env: &TestEnv, url: &str, at_least: u64) -> u64 {
    let part = env.join("out/big.bin.part");
    env.list(&[format!("{url} out=big.bin")]);
    let child = env.spawn(&["-c"]);
    let held = || std::fs::metadata(&part).map_or(0, |m| m.len());
    wait_until("no progress", || held() >= at_least);
    assert_eq!(interrupt(child).code, 130);
    held()
}

/// `fetchpool -c --json -v` in `env` on `url` (as `big.bin`), which must succeed: its report
/// line and stderr.
fn continue_run(env: &TestEnv, url: &str) -> (serde_json::Value, String) {
    env.list(&[format!("{url} out=big.bin")]);
    let run = env.run(&["-c", "--json", "-v"]);
    assert_eq!(run.code, 0, "{run:?}");
    (run.json(0), run.stderr)
}

/// Sets a file's modification time, as a server's file would have.
fn set_mtime(path: &Path, time: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

#[test]
fn real_nginx_update_fetches_only_what_changed() {
    let env = TestEnv::nested();
    std::fs::set_permissions(env.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let www = env.root().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let names = ["a.bin", "b.bin", "c.bin", "d.bin"];
    let hour_ago = hour_ago();
    for (i, name) in names.iter().enumerate() {
        std::fs::write(www.join(name), payload(10_000 + i, i as u64)).unwrap();
        set_mtime(&www.join(name), hour_ago);
    }
    let Some(nginx) = Nginx::start(env.root(), &www) else {
        return;
    };
    let urls: Vec<String> = names.iter().map(|n| nginx.url(&format!("/{n}"))).collect();
    let list = env.list(&urls);
    let run = |args: &[&str]| {
        let out = env
            .cmd()
            .arg(&list)
            .args(["-o", "out", "-j", "2", "--json"])
            .args(args)
            .run();
        (Some(out.code), out.results())
    };
    let out = |name: &str| env.join("out").join(name);

    // First run: every file, with the server's date as its time.
    let (code, _) = run(&[]);
    assert_eq!(code, Some(0));
    assert_eq!(identity(&out("a.bin")).1, identity(&www.join("a.bin")).1);
    let before: Vec<_> = names.iter().map(|n| identity(&out(n))).collect();

    // Second run with --update: all unchanged, 304s in nginx's log, files left alone.
    let (code, report) = run(&["--update"]);
    assert_eq!(code, Some(0), "{report:?}");
    for result in &report[..4] {
        assert_eq!(
            (result["status"].as_str(), result["http_status"].as_u64()),
            (Some("unchanged"), Some(304))
        );
    }
    assert_eq!(report[4]["unchanged"], 4);
    assert_eq!(report[4]["received"], 0);
    let log = nginx.access_log();
    assert_eq!(
        log.lines().filter(|l| l.ends_with(" 304")).count(),
        4,
        "{log}"
    );
    let after: Vec<_> = names.iter().map(|n| identity(&out(n))).collect();
    assert_eq!(before, after, "same inode, same time");

    // One file changes on the server: only it is fetched, and replaced whole.
    std::fs::write(www.join("b.bin"), b"new content").unwrap();
    // Another changes but keeps its date: its ETag (size and time in nginx's) gives it away.
    std::fs::write(www.join("c.bin"), payload(20_000, 99)).unwrap();
    set_mtime(&www.join("c.bin"), hour_ago);
    let (code, report) = run(&["--update"]);
    assert_eq!(code, Some(0), "{report:?}");
    let statuses: Vec<&str> = report[..4]
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["unchanged", "ok", "ok", "unchanged"]);
    assert_eq!(std::fs::read(out("b.bin")).unwrap(), b"new content");
    assert_eq!(std::fs::read(out("c.bin")).unwrap(), payload(20_000, 99));
    assert_eq!(identity(&out("a.bin")), before[0]);
    assert_ne!(
        identity(&out("b.bin")).0,
        before[1].0,
        "replaced by a new file"
    );
    assert!(env.out_files().iter().all(|f| !f.ends_with(".part")));
}

#[test]
fn real_nginx_update_without_extended_attributes_goes_by_date() {
    // ramfs keeps no user extended attributes. Mounting needs root; CI runs as root.
    if !rustix::process::geteuid().is_root() {
        eprintln!("not root: the ramfs part of the --update test did not run");
        return;
    }
    let env = TestEnv::new();
    std::fs::set_permissions(env.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let www = env.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let hour_ago = hour_ago();
    std::fs::write(www.join("a.bin"), payload(5_000, 1)).unwrap();
    set_mtime(&www.join("a.bin"), hour_ago);
    let Some(nginx) = Nginx::start(env.path(), &www) else {
        return;
    };
    let mnt = env.path().join("ram");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "ramfs", "ramfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount ramfs");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mnt);
    let list = env.list(&[nginx.url("/a.bin")]);
    let run = |args: &[&str]| env.cmd().arg(&list).arg("-o").arg(&mnt).args(args).run();
    assert_eq!(run(&[]).code, 0);
    let out = run(&["--update"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_starts(&out.report[0], "unchanged   304");
    // A newer file on the server is fetched by date alone.
    std::fs::write(www.join("a.bin"), b"newer").unwrap();
    let out = run(&["--update"]);
    assert_starts(&out.report[0], "ok          200");
    assert_eq!(std::fs::read(mnt.join("a.bin")).unwrap(), b"newer");
}

#[test]
fn real_nginx_split_with_a_per_connection_cap() {
    let env = TestEnv::nested();
    std::fs::set_permissions(env.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let www = env.root().join("www");
    std::fs::create_dir(&www).unwrap();
    let body = payload(8 * 1024 * 1024, 21);
    std::fs::write(www.join("big.iso"), &body).unwrap();
    let w = www.display().to_string();
    let Some(nginx) = Nginx::start_with(env.root(), |port| {
        format!("server {{\n    listen 127.0.0.1:{port};\n    root {w};\n    limit_rate 2m;\n  }}")
    }) else {
        return;
    };
    let list = env.list(&[nginx.url("/big.iso")]);
    let out = env
        .cmd()
        .arg(&list)
        .args(["-o", "out"])
        .args(crate::split::split4(&["--json"]))
        .run();
    assert_eq!(out.code, 0, "{}", &out.stderr);
    assert_eq!(env.file("out/big.iso"), body);
    let report = crate::support::json(&out.report[0]);
    assert_eq!(report["sha256"], sha256_hex(&body));
    assert_eq!(env.out_files(), vec!["big.iso"]);
    // The whole file asked for once, and ranges that nginx answered with 206 (it checks
    // If-Range against its ETag). nginx logs a request when it ends, in any order.
    let log = nginx.access_log();
    let statuses: Vec<&str> = log.lines().filter_map(|l| l.split(' ').nth(2)).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "200").count(), 1, "{log}");
    let ranges = statuses.iter().filter(|s| **s == "206").count();
    assert!(ranges >= 3 && ranges == statuses.len() - 1, "{log}");
}

#[test]
fn real_nginx_ctrl_c_during_continue_then_a_new_version_is_fetched_whole() {
    let env = TestEnv::nested();
    std::fs::set_permissions(env.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let www = env.root().join("www");
    std::fs::create_dir(&www).unwrap();
    let old = payload(3_000_000, 31);
    std::fs::write(www.join("big.bin"), &old).unwrap();
    set_mtime(&www.join("big.bin"), hour_ago());
    let w = www.display().to_string();
    // /slow/ is the same file at 500 KiB/s, so a run can be interrupted halfway.
    let Some(nginx) = Nginx::start_with(env.root(), |port| {
        format!(
            "server {{\n    listen 127.0.0.1:{port};\n    root {w};\n    \
             location /slow/ {{ alias {w}/; limit_rate 500k; }}\n  }}"
        )
    }) else {
        return;
    };
    let interrupted_run = || interrupted_at(&env, &nginx.url("/slow/big.bin"), 600_000);
    let continue_run = || continue_run(&env, &nginx.url("/big.bin"));

    // Interrupted, then continued: only the rest comes, tied to nginx's ETag.
    let have = interrupted_run();
    let (report, _) = continue_run();
    assert_eq!(report["http_status"], 206);
    assert_eq!(report["received"], 3_000_000 - have);
    assert!(env.file("out/big.bin") == old);
    assert!(nginx.access_log().lines().last().unwrap().ends_with(" 206"));

    // Interrupted again; meanwhile the file is replaced on the server by one of the same length
    // and a new time. nginx sees If-Range name the old version and sends the new one whole.
    std::fs::remove_file(env.join("out/big.bin")).unwrap();
    let have = interrupted_run();
    let new = payload(3_000_000, 32);
    std::fs::write(www.join("big.bin"), &new).unwrap();
    let (report, stderr) = continue_run();
    assert_eq!(report["http_status"], 200, "{stderr}");
    assert_eq!(report["received"], 3_000_000);
    assert!(
        env.file("out/big.bin") == new,
        "the new version whole, not {have} bytes of the old one and the rest of the new"
    );
    assert_has(&stderr, "another version");
    assert!(nginx.access_log().lines().last().unwrap().ends_with(" 200"));
    assert_eq!(env.out_files(), vec!["big.bin"]);
}

#[test]
fn real_nginx_never_joins_a_file_rewritten_in_the_second_of_its_answer_by_its_date() {
    // With `etag off`, nginx names a file by its date alone. A date is weak unless it is a
    // second before the answer's own: a file rewritten in the second it was answered keeps
    // it, and nginx matches If-Range against it. Here the file's date is an hour ahead of the
    // answers, which makes every one of them weak, deterministically.
    let env = TestEnv::nested();
    std::fs::set_permissions(env.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let www = env.root().join("www");
    std::fs::create_dir(&www).unwrap();
    let ahead = hour_ago() + std::time::Duration::from_secs(2 * 3600);
    let (old, new) = (payload(1_000_000, 33), payload(1_000_000, 34));
    std::fs::write(www.join("big.bin"), &old).unwrap();
    set_mtime(&www.join("big.bin"), ahead);
    let w = www.display().to_string();
    let Some(nginx) = Nginx::start_with(env.root(), |port| {
        format!(
            "server {{\n    listen 127.0.0.1:{port};\n    root {w};\n    etag off;\n    \
             location /slow/ {{ alias {w}/; limit_rate 200k; }}\n  }}"
        )
    }) else {
        return;
    };
    let have = interrupted_at(&env, &nginx.url("/slow/big.bin"), 200_000);
    // Rewritten: the same length, the same date.
    std::fs::write(www.join("big.bin"), &new).unwrap();
    set_mtime(&www.join("big.bin"), ahead);
    let (report, stderr) = continue_run(&env, &nginx.url("/big.bin"));
    assert_eq!(report["http_status"], 200, "{stderr}");
    assert!(
        env.holds("out/big.bin", &new),
        "the new version whole, not {have} bytes of the old one and the rest of the new"
    );
    assert!(nginx.access_log().lines().last().unwrap().ends_with(" 200"));
    assert_eq!(env.out_files(), vec!["big.bin"]);
}
