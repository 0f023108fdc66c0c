//! A real nginx (Debian's package), started by a test on a free loopback port with its own
//! config and temp dirs, and stopped when dropped. Mandatory in CI (`CI` set): there a missing
//! nginx (or echo module, where a test needs one) is a failure, not a skip; `.ci/run` installs
//! them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// nginx's echo module, which delays answers (`echo_sleep`).
const ECHO_MODULE: &str = "/usr/share/nginx/modules/ngx_http_echo_module.so";

pub struct Nginx {
    conf: PathBuf,
    error_log: PathBuf,
    pub port: u16,
}

impl Nginx {
    pub fn start(root: &Path, www: &Path) -> Option<Nginx> {
        let www = www.display().to_string();
        Nginx::start_with(root, |port| {
            format!("server {{\n    listen 127.0.0.1:{port};\n    root {www};\n  }}")
        })
    }

    /// nginx with `server` (given the port) as its one server block, and access logs of
    /// `URI PROTOCOL STATUS` lines in ROOT/access.log and of `CONNECTION END-TIME SECONDS URI`
    /// lines in ROOT/timing.log.
    pub fn start_with(root: &Path, server: impl Fn(u16) -> String) -> Option<Nginx> {
        Nginx::start_full(root, "", server)
    }

    /// [`Nginx::start_with`], with the echo module loaded, or `None` (a skip outside CI) where
    /// it is not installed.
    pub fn start_with_echo(root: &Path, server: impl Fn(u16) -> String) -> Option<Nginx> {
        if !Path::new(ECHO_MODULE).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "nginx's echo module is not installed, and CI requires this test \
                 (apt-get install libnginx-mod-http-echo)"
            );
            eprintln!("nginx's echo module is not installed: the test did not run");
            return None;
        }
        Nginx::start_full(root, &format!("load_module {ECHO_MODULE};\n"), server)
    }

    fn start_full(root: &Path, top: &str, server: impl Fn(u16) -> String) -> Option<Nginx> {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(binary) = binary else {
            assert!(
                std::env::var_os("CI").is_none(),
                "nginx is not installed, and CI requires this test (apt-get install nginx-light)"
            );
            eprintln!("nginx is not installed: the nginx end-to-end test did not run");
            return None;
        };
        let port = crate::support::free_port();
        let conf = root.join("nginx.conf");
        let error_log = root.join("error.log");
        let r = root.display();
        std::fs::write(
            &conf,
            format!(
                "{top}worker_processes 1;\npid {r}/nginx.pid;\nerror_log {r}/error.log;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n  log_format proto '$request_uri $server_protocol $status';\n\
                 log_format timing '$connection $msec $request_time $request_uri';\n\
                 access_log {r}/access.log proto;\n  access_log {r}/timing.log timing;\n\
                 sendfile on;\n  keepalive_timeout 30;\n\
                 default_type application/octet-stream;\n\
                 client_body_temp_path {r}/body;\n  proxy_temp_path {r}/proxy;\n\
                 fastcgi_temp_path {r}/fastcgi;\n  uwsgi_temp_path {r}/uwsgi;\n  scgi_temp_path {r}/scgi;\n\
                 {}\n}}\n",
                server(port)
            ),
        )
        .unwrap();
        let status = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(&error_log)
            .status()
            .expect("run nginx");
        assert!(
            status.success(),
            "nginx did not start: {}",
            std::fs::read_to_string(&error_log).unwrap_or_default()
        );
        let nginx = Nginx {
            conf,
            error_log,
            port,
        };
        // Wait for the port.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(nginx);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("nginx did not listen on {port}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn https(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// The access log so far: `URI PROTOCOL STATUS` per request.
    pub fn access_log(&self) -> String {
        let root = self.conf.parent().unwrap();
        std::fs::read_to_string(root.join("access.log")).unwrap_or_default()
    }

    /// Each request so far: the connection it came on, and when it began and ended (seconds,
    /// to the millisecond), and its URI.
    pub fn requests(&self) -> Vec<Served> {
        let root = self.conf.parent().unwrap();
        let log = std::fs::read_to_string(root.join("timing.log")).unwrap_or_default();
        log.lines()
            .map(|line| {
                let f: Vec<&str> = line.split(' ').collect();
                let end: f64 = f[1].parse().unwrap();
                let took: f64 = f[2].parse().unwrap();
                Served {
                    connection: f[0].parse().unwrap(),
                    start: end - took,
                    end,
                    uri: f[3].to_string(),
                }
            })
            .collect()
    }
}

/// One request as nginx logged it.
#[derive(Debug, Clone)]
pub struct Served {
    pub connection: u64,
    pub start: f64,
    pub end: f64,
    pub uri: String,
}

/// The most of `served` that were being answered at one moment (two overlap when one began
/// more than `slack` seconds before the other ended: the log counts milliseconds).
pub fn most_at_once(served: &[&Served], slack: f64) -> usize {
    served
        .iter()
        .map(|a| {
            served
                .iter()
                .filter(|b| b.start < a.start + slack && a.start < b.end - slack)
                .count()
        })
        .max()
        .unwrap_or(0)
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let binary = if Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let _ = Command::new(binary)
            .arg("-c")
            .arg(&self.conf)
            .arg("-e")
            .arg(&self.error_log)
            .args(["-s", "stop"])
            .status();
    }
}
