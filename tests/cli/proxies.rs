//! Issue 31: through real proxies (tinyproxy for HTTP and CONNECT, microsocks for SOCKS5),
//! by `--proxy` and by the environment, with `--noproxy`; the proxy's password never printed.

use crate::support::proxy::Proxy;
use crate::support::server::{Reply, Server};
use crate::support::tls::TlsServer;
use crate::support::{Run, RunIt, TestEnv, assert_has, assert_lacks};

const PASSWORD: &str = "pr0xy-s3cret";

/// fetchpool in `env` with `args` and the environment `vars`, `-v` on, the text report on stdout.
fn run_with(env: &TestEnv, args: &[&str], vars: &[(&str, String)]) -> Run {
    let mut command = env.cmd();
    command
        .args(["-v", "--retries", "1", "-o", "out"])
        .args(args);
    for (name, value) in vars {
        command.env(name, value);
    }
    command.run()
}

#[test]
fn plain_and_tls_requests_go_through_tinyproxy_by_flag_and_by_the_environment() {
    let env = TestEnv::new();
    let Some(proxy) = Proxy::tinyproxy(env.path(), Some(("alice", PASSWORD))) else {
        return;
    };
    let plain = Server::start(|_| Reply::ok(b"plain bytes".to_vec()));
    let tls = TlsServer::start(b"tls bytes");
    env.write("ca.pem", &tls.ca_pem);
    let urls = [plain.url("/p.bin"), tls.url("/t.bin")];
    let with_password = format!("http://alice:{PASSWORD}@127.0.0.1:{}", proxy.port);
    let base: Vec<&str> = vec![&urls[0], &urls[1], "--cacert", "ca.pem", "--overwrite"];

    // By flag: the plain GET through the proxy (it adds its Via), the https one by CONNECT.
    let mut args = base.clone();
    args.extend(["--proxy", &with_password]);
    let out = run_with(&env, &args, &[]);
    let text = out.said();
    assert_eq!(out.code, 0, "{text}");
    assert_eq!(env.file("out/p.bin"), b"plain bytes");
    assert_eq!(env.file("out/t.bin"), b"tls bytes");
    let seen = plain.requests();
    assert!(
        seen[0]
            .header("via")
            .is_some_and(|v| v.contains("tinyproxy")),
        "{seen:?}"
    );
    assert!(
        proxy
            .logged()
            .contains(&format!("CONNECT 127.0.0.1:{}", tls.port)),
        "{}",
        proxy.logged()
    );
    assert!(!text.contains(PASSWORD), "{text}");

    // By the environment, as curl reads it: the same.
    let before = plain.request_count();
    let vars = [
        ("http_proxy", with_password.clone()),
        ("HTTPS_PROXY", with_password.clone()),
    ];
    let out = run_with(&env, &base, &vars);
    let text = out.said();
    assert_eq!(out.code, 0, "{text}");
    let seen = plain.requests();
    assert!(seen[before].header("via").is_some(), "through the proxy");
    assert!(!text.contains(PASSWORD), "{text}");

    // --noproxy names the host: straight to it, the environment's proxy unused.
    let before = plain.request_count();
    let mut args = base.clone();
    args.extend(["--noproxy", "127.0.0.1"]);
    let out = run_with(&env, &args, &vars);
    assert_eq!(out.code, 0, "{}", out.said());
    assert!(
        plain.requests()[before].header("via").is_none(),
        "not through the proxy"
    );

    // Without its credentials: a 407 for each, naming the proxy, not retried, exit 1.
    let bare = format!("127.0.0.1:{}", proxy.port);
    let mut args = base.clone();
    args.extend(["--proxy", &bare]);
    let out = run_with(&env, &args, &[]);
    let text = out.said();
    assert_eq!(out.code, 1, "{text}");
    let report = out.report;
    for line in &report[..2] {
        assert!(
            line.contains(&format!(
                "the proxy 127.0.0.1:{} wants credentials",
                proxy.port
            )),
            "{line}"
        );
        assert!(!line.contains("attempts"), "not retried: {line}");
    }
    // With a wrong password: the same, and the password given is not shown either.
    let wrong = format!("http://alice:wr0ng-s3cret@127.0.0.1:{}", proxy.port);
    let mut args = base.clone();
    args.extend(["--proxy", &wrong]);
    let out = run_with(&env, &args, &[]);
    let text = out.said();
    assert_eq!(out.code, 1, "{text}");
    assert_lacks(&text, "wr0ng-s3cret");
}

#[test]
fn a_proxy_that_refuses_the_connection_is_named_and_a_bad_proxy_url_is_exit_2() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok(b"x".to_vec()));
    let port = crate::support::free_port();
    let proxy = format!("http://bob:{PASSWORD}@127.0.0.1:{port}");
    let out = run_with(&env, &[&server.url("/a"), "--proxy", &proxy], &[]);
    let text = out.said();
    assert_eq!(out.code, 1, "{text}");
    let error = out.report[0].clone();
    assert!(
        error.contains(&format!("proxy 127.0.0.1:{port}")),
        "{error}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
    assert_eq!(server.request_count(), 0);
    for (bad, why) in [
        (
            format!("ftp://bob:{PASSWORD}@127.0.0.1:21"),
            "unsupported proxy scheme 'ftp'",
        ),
        ("8".to_string(), "aria2's -x N is --split N"),
    ] {
        let out = run_with(&env, &[&server.url("/a"), "-x", &bad], &[]);
        let text = out.said();
        assert_eq!(out.code, 2, "{text}");
        assert!(text.contains(why), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
    }
}

#[test]
fn socks5_and_socks5h_go_through_microsocks_with_its_credentials() {
    let env = TestEnv::new();
    let Some(socks) = Proxy::microsocks(Some(("carol", PASSWORD))) else {
        return;
    };
    let server = Server::start(|_| Reply::ok(b"socks bytes".to_vec()));
    for scheme in ["socks5", "socks5h"] {
        let proxy = format!("{scheme}://carol:{PASSWORD}@127.0.0.1:{}", socks.port);
        let out = run_with(
            &env,
            &[&server.url("/s.bin"), "--proxy", &proxy, "--overwrite"],
            &[],
        );
        let text = out.said();
        assert_eq!(out.code, 0, "{scheme}: {text}");
        assert_eq!(env.file("out/s.bin"), b"socks bytes");
        assert!(!text.contains(PASSWORD), "{text}");
    }
    // Who resolves the name: with socks5 fetchpool (and a .invalid name never resolves), with
    // socks5h the proxy, which cannot either, and says so its own way. (A 407 in the URL is no
    // proxy's answer: it once read as "the proxy wants credentials".)
    let invalid = format!("http://no-such-host.invalid:{}/407/x", server.port());
    let local = format!("socks5://carol:{PASSWORD}@127.0.0.1:{}", socks.port);
    let out = run_with(&env, &[&invalid, "--proxy", &local], &[]);
    let text = out.said();
    assert_eq!(out.code, 1, "{text}");
    assert_has(&text, "cannot resolve no-such-host.invalid");
    let remote = format!("socks5h://carol:{PASSWORD}@127.0.0.1:{}", socks.port);
    let out = run_with(&env, &[&invalid, "--proxy", &remote], &[]);
    let text = out.said();
    assert_eq!(out.code, 1, "{text}");
    assert_lacks(&text, "cannot resolve no-such-host.invalid");
    assert!(!text.contains(PASSWORD), "{text}");
    // Wrong credentials: a failure, the password not shown.
    let wrong = format!("socks5://carol:wr0ng-s3cret@127.0.0.1:{}", socks.port);
    let out = run_with(&env, &[&server.url("/w.bin"), "--proxy", &wrong], &[]);
    let text = out.said();
    assert_eq!(out.code, 1, "{text}");
    assert_lacks(&text, "wr0ng-s3cret");
}
