//! Real proxies from Debian's packages, started by a test on a free loopback port with their own
//! config, and stopped when dropped: tinyproxy (HTTP, and CONNECT for https) and microsocks
//! (SOCKS5). Mandatory in CI (`CI` set): there a missing one is a failure, not a skip; `.ci/run`
//! installs them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// A running proxy process on 127.0.0.1.
pub struct Proxy {
    child: Child,
    pub port: u16,
    /// Where it logs (tinyproxy), for a test to see what it was asked.
    pub log: Option<PathBuf>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary `name`, or `None` (a skip outside CI) where it is not installed.
fn installed(name: &str, package: &str) -> Option<PathBuf> {
    let found = ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is not installed, and CI requires this test (apt-get install {package})"
        );
        eprintln!("{name} is not installed: the test did not run");
    }
    found
}

/// Waits until something listens on `port` (the proxy is up), at most 10 s.
fn wait_listening(port: u16, child: &mut Child, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited at start: {status}");
        }
        assert!(Instant::now() < deadline, "{name} did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Proxy {
    /// tinyproxy in the foreground, logging every request to DIR/tinyproxy.log; with `auth`,
    /// it wants those credentials (Basic) and answers 407 without them.
    pub fn tinyproxy(dir: &Path, auth: Option<(&str, &str)>) -> Option<Proxy> {
        let binary = installed("tinyproxy", "tinyproxy")?;
        let port = free_port();
        let log = dir.join("tinyproxy.log");
        let auth = auth
            .map(|(user, password)| format!("BasicAuth {user} {password}\n"))
            .unwrap_or_default();
        let conf = dir.join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\n\
                 MaxClients 64\nAllow 127.0.0.1\n{auth}",
                log.display()
            ),
        )
        .unwrap();
        let mut child = Command::new(binary)
            .args(["-d", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(port, &mut child, "tinyproxy");
        Some(Proxy {
            child,
            port,
            log: Some(log),
        })
    }

    /// microsocks, a SOCKS5 proxy; with `auth`, it wants that user name and password.
    pub fn microsocks(auth: Option<(&str, &str)>) -> Option<Proxy> {
        let binary = installed("microsocks", "microsocks")?;
        let port = free_port();
        let mut command = Command::new(binary);
        command.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
        if let Some((user, password)) = auth {
            command.args(["-u", user, "-P", password]);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(port, &mut child, "microsocks");
        Some(Proxy {
            child,
            port,
            log: None,
        })
    }

    /// What it logged so far (tinyproxy).
    pub fn logged(&self) -> String {
        self.log
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }
}
