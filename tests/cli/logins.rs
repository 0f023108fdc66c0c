//! Issue 31: a login as NASA Earthdata (and ESA, USGS, many university portals) does it: the
//! data host sends a request without its session cookie to a login host, which takes the netrc
//! credentials for that host and sends it back with a code; the data host sets a session cookie
//! and the file follows. Two loopback servers under two names (`*.localhost` is the loopback
//! address, RFC 6761). Also the cookie jar's files: `--load-cookies`, `--save-cookies`.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::payload;
use crate::support::server::{Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has, assert_lacks};

const PASSWORD: &str = "l0gin-s3cret";
const SESSION: &str = "sess-0123456789abcdef";

/// The two hosts: data.localhost:DATA and login.localhost:LOGIN.
struct Portal {
    data: Server,
    login: Server,
    /// Logins the login host granted.
    granted: Arc<AtomicUsize>,
}

fn portal() -> Portal {
    let granted = Arc::new(AtomicUsize::new(0));
    let login_port = crate::support::free_port();
    let data = Server::start(move |req| {
        let has_session = req
            .header("cookie")
            .is_some_and(|c| c.split("; ").any(|kv| kv == format!("session={SESSION}")));
        let path = req.path().to_string();
        if path == "/callback" {
            // The login host's code: the session begins, and back to the file asked for.
            let target = req.target.split("back=").nth(1).unwrap_or("/").to_string();
            return Reply::status(302)
                .header(
                    "Set-Cookie",
                    &format!("session={SESSION}; Path=/; HttpOnly"),
                )
                .header("Location", &target);
        }
        if !has_session {
            return Reply::status(302).header(
                "Location",
                &format!("http://login.localhost:{login_port}/authorize?back={path}"),
            );
        }
        let n: u64 = path
            .trim_start_matches("/files/f")
            .trim_end_matches(".bin")
            .parse()
            .unwrap_or(0);
        Reply::ok(payload(10_000, n))
    });
    let data_port = data.port();
    let counter = Arc::clone(&granted);
    // The netrc password, as Basic credentials: "alice:l0gin-s3cret".
    let expected = format!("Basic {}", base64(format!("alice:{PASSWORD}").as_bytes()));
    let login = Server::start_on(login_port, move |req| {
        if req.header("authorization") != Some(expected.as_str()) {
            return Reply::status(401).header("WWW-Authenticate", "Basic realm=\"portal\"");
        }
        counter.fetch_add(1, Ordering::SeqCst);
        let back = req.target.split("back=").nth(1).unwrap_or("/");
        Reply::status(302).header(
            "Location",
            &format!("http://data.localhost:{data_port}/callback?code=c0de&back={back}"),
        )
    });
    Portal {
        data,
        login,
        granted,
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn twelve_files_behind_one_login_come_with_the_netrc_credentials_of_the_login_host_alone() {
    let env = TestEnv::new();
    let portal = portal();
    let data_port = portal.data.port();
    let urls: Vec<String> = (0..12)
        .map(|i| format!("http://data.localhost:{data_port}/files/f{i}.bin"))
        .collect();
    env.write("urls.txt", urls.join("\n") + "\n");
    // The data host has credentials of its own too: they must not reach the login host, nor
    // the login host's reach the data host.
    env.write(
        "netrc",
        format!(
            "machine login.localhost login alice password {PASSWORD}\n\
             machine data.localhost login dave password d4ta-s3cret\n"
        ),
    );
    let out = env
        .std_cmd()
        .args([
            "urls.txt",
            "-j",
            "4",
            "-o",
            "out",
            "--netrc-file",
            "netrc",
            "-v",
        ])
        // The recipe's command, the first time: the jar file does not exist yet.
        .args(["--load-cookies", "jar.txt", "--save-cookies", "jar.txt"])
        .run();
    let text = out.said();
    assert_eq!(out.code, 0, "{text}");
    for i in 0..12 {
        let file = env.file(format!("out/f{i}.bin"));
        assert_eq!(file, payload(10_000, i), "f{i}");
    }
    assert_has(&text, "--load-cookies jar.txt: no such file yet");
    // At most one login a worker; -v says how many there were.
    let logins = portal.granted.load(Ordering::SeqCst);
    assert!((1..=4).contains(&logins), "{logins} logins");
    let said = format!("fetchpool: {logins} login");
    assert!(text.contains(&said), "{text}");
    // Each host got its own credentials and nobody else's; no password and no cookie value
    // printed, not even with -v.
    let dave = format!("Basic {}", base64(b"dave:d4ta-s3cret"));
    for req in portal.data.requests() {
        let auth = req.header("authorization");
        assert!(auth.is_none() || auth == Some(dave.as_str()), "{auth:?}");
    }
    for req in portal.login.requests() {
        assert_ne!(req.header("authorization"), Some(dave.as_str()));
        assert!(
            req.header("cookie").is_none(),
            "the data host's cookie went to the login host"
        );
    }
    for secret in [PASSWORD, "d4ta-s3cret", SESSION] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    // The jar, as curl and wget write it: the session cookie, host-only, HttpOnly, mode 0600.
    let jar = env.text("jar.txt");
    assert!(
        jar.contains(&format!(
            "#HttpOnly_data.localhost\tFALSE\t/\tFALSE\t0\tsession\t{SESSION}"
        )),
        "{jar}"
    );
    let mode = std::fs::metadata(env.join("jar.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The jar loaded again: the session goes along, and no login is needed.
    let before = portal.granted.load(Ordering::SeqCst);
    let login_requests = portal.login.request_count();
    let out = env
        .std_cmd()
        .args(["urls.txt", "-o", "again", "--load-cookies", "jar.txt", "-v"])
        .run();
    let stderr = &out.stderr;
    assert_eq!(out.code, 0, "{stderr}");
    assert_eq!(portal.granted.load(Ordering::SeqCst), before);
    assert_eq!(
        portal.login.request_count(),
        login_requests,
        "no login host asked"
    );
    assert_has(stderr, "fetchpool: 0 logins");

    // curl reads the file back and sends the cookie (where curl is installed; CI installs it).
    if let Ok(curl) = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-b",
            "jar.txt",
        ])
        .args([
            "--resolve",
            &format!("data.localhost:{data_port}:127.0.0.1"),
        ])
        .arg(format!("http://data.localhost:{data_port}/files/f1.bin"))
        .current_dir(env.path())
        .output()
    {
        assert_eq!(
            String::from_utf8_lossy(&curl.stdout),
            "200",
            "curl -b jar.txt"
        );
    } else {
        assert!(std::env::var_os("CI").is_none(), "curl is not installed");
    }
}

#[test]
fn a_loaded_cookie_goes_only_where_its_domain_and_path_match_and_a_bad_jar_is_exit_2() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok(b"x".to_vec()));
    let port = server.port();
    let later = 4_000_000_000u64;
    env.write(
        "cookies.txt",
        format!(
            "# Netscape HTTP Cookie File\n\
             .data.localhost\tTRUE\t/files\tFALSE\t{later}\twide\tw1\n\
             data.localhost\tFALSE\t/other\tFALSE\t0\tnarrow\tn1\n\
             other.localhost\tFALSE\t/\tFALSE\t0\tforeign\tf1\n\
             data.localhost\tFALSE\t/\tTRUE\t0\tsecure\ts1\n"
        ),
    );
    let urls = [
        format!("http://data.localhost:{port}/files/a"),
        format!("http://www.data.localhost:{port}/files/b"),
    ];
    let out = env
        .std_cmd()
        .args(&urls)
        .args(["-o", "out", "--load-cookies", "cookies.txt"])
        .run();
    assert_eq!(out.code, 0, "{}", &out.stderr);
    for req in server.requests() {
        // Only the domain cookie whose path matches; not another host's, not another path's,
        // not a Secure one over http.
        assert_eq!(req.header("cookie"), Some("wide=w1"), "{}", req.target);
    }
    // A line that is not a cookie: exit 2 before anything is fetched, naming the place and
    // never the value.
    env.write("bad.txt", "data.localhost\tFALSE\t/\tv4lue-s3cret\n");
    let before = server.request_count();
    let out = env
        .std_cmd()
        .args(&urls)
        .args(["-o", "out2", "--load-cookies", "bad.txt"])
        .run();
    let stderr = &out.stderr;
    assert_eq!(out.code, 2, "{stderr}");
    assert_has(stderr, "bad.txt:1:");
    assert_lacks(stderr, "v4lue-s3cret");
    assert_eq!(server.request_count(), before);
}
