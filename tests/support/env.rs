//! The one harness the integration tests run on, as fd's `TestEnv` is: a temporary directory,
//! the server a test talks to, its list, a run of the real binary with a scrubbed environment,
//! and what the run did, by name.
//!
//!     let env = TestEnv::new().serve(&[("/a.bin", b"bytes")]);
//!     let run = env.fetch(&[env.url("/a.bin")], &["-j", "4"]);
//!     assert_eq!(run.code, 0);
//!     assert_eq!(env.file("out/a.bin"), b"bytes");

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Output, Stdio};

use assert_cmd::Command;
use tempfile::TempDir;

use super::server::{Reply, Request, Server};
use super::{BIN, files_below, json, lines, names_in};

/// A test's directory and, when it has one, its server.
pub struct TestEnv {
    root: TempDir,
    /// Where fetchpool runs: the temporary directory, or `work/` inside it.
    dir: PathBuf,
    server: Option<Server>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// An empty temporary directory, and no server yet.
    pub fn new() -> TestEnv {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().to_path_buf();
        TestEnv {
            root,
            dir,
            server: None,
        }
    }

    /// An empty `work/` to run in, inside a temporary directory of its own (its [`root`]), for
    /// a test that looks at what is beside the run's directory too (a server's files, anything
    /// written outside).
    ///
    /// [`root`]: TestEnv::root
    pub fn nested() -> TestEnv {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("work");
        std::fs::create_dir(&dir).unwrap();
        TestEnv {
            root,
            dir,
            server: None,
        }
    }

    /// The temporary directory the test owns: where it runs, or the one above with
    /// [`TestEnv::nested`].
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Serves these files (path, bytes) with a correct length and nothing else: 404 elsewhere.
    pub fn serve(self, files: &[(&str, &[u8])]) -> TestEnv {
        let files: HashMap<String, Vec<u8>> = files
            .iter()
            .map(|(path, bytes)| (path.to_string(), bytes.to_vec()))
            .collect();
        self.with(Server::files(files))
    }

    /// Answers every request with `handler`.
    pub fn handle(self, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> TestEnv {
        self.with(Server::start(handler))
    }

    /// Talks to this server.
    pub fn with(mut self, server: Server) -> TestEnv {
        self.server = Some(server);
        self
    }

    pub fn server(&self) -> &Server {
        self.server
            .as_ref()
            .expect("TestEnv has no server: call serve, handle or with")
    }

    /// The URL of `path` on the server.
    pub fn url(&self, path: &str) -> String {
        self.server().url(path)
    }

    /// The URLs of `paths` on the server.
    pub fn urls(&self, paths: &[&str]) -> Vec<String> {
        paths.iter().map(|p| self.url(p)).collect()
    }

    /// The URLs of `n` paths on the server, path `i` made by `path(i)`.
    pub fn urls_of(&self, n: usize, path: impl Fn(usize) -> String) -> Vec<String> {
        (0..n).map(|i| self.url(&path(i))).collect()
    }

    /// The test's directory, where fetchpool runs.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `rel` inside the test's directory.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.join(rel)
    }

    /// Writes `lines` as the list `urls.txt`; returns its path.
    pub fn list(&self, lines: &[impl AsRef<str>]) -> PathBuf {
        self.list_as("urls.txt", lines)
    }

    /// Writes `lines` as the list `name`; returns its path.
    pub fn list_as(&self, name: &str, lines: &[impl AsRef<str>]) -> PathBuf {
        let path = self.join(name);
        let text: String = lines
            .iter()
            .map(|l| l.as_ref().to_string() + "\n")
            .collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes `bytes` at `rel`, making the directories above it.
    pub fn write(&self, rel: impl AsRef<Path>, bytes: impl AsRef<[u8]>) {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
    }

    /// Writes `bytes` at `rel` as an interrupted `fetchpool -c` leaves a `.part`: with the
    /// version it is of (this ETag, a file of `len` bytes) kept with it.
    pub fn plant_part(&self, rel: impl AsRef<Path>, bytes: &[u8], etag: &str, len: usize) {
        self.write(&rel, b"");
        super::plant_part(&self.join(rel), bytes, etag, len);
    }

    /// Makes the directory `rel` (and those above it).
    pub fn mkdir(&self, rel: impl AsRef<Path>) {
        std::fs::create_dir_all(self.join(rel)).unwrap();
    }

    /// Makes a named pipe at `rel`.
    pub fn mkfifo(&self, rel: impl AsRef<Path>) {
        let made = StdCommand::new("mkfifo")
            .arg(self.join(rel))
            .status()
            .unwrap();
        assert!(made.success());
    }

    /// Sets the permission bits of `rel`.
    pub fn chmod(&self, rel: impl AsRef<Path>, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.join(rel), std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The bytes of the file at `rel`.
    pub fn file(&self, rel: impl AsRef<Path>) -> Vec<u8> {
        let path = self.join(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The text of the file at `rel`.
    pub fn text(&self, rel: impl AsRef<Path>) -> String {
        String::from_utf8_lossy(&self.file(rel)).into_owned()
    }

    /// Whether `rel` holds exactly `bytes` (without printing either when not).
    pub fn holds(&self, rel: impl AsRef<Path>, bytes: &[u8]) -> bool {
        std::fs::read(self.join(rel)).is_ok_and(|got| got == bytes)
    }

    /// Whether anything (a file, a directory, a dangling link) is at `rel`.
    pub fn exists(&self, rel: impl AsRef<Path>) -> bool {
        std::fs::symlink_metadata(self.join(rel)).is_ok()
    }

    /// Every file below `out/`, sorted, or none when fetchpool never made it.
    pub fn out_files(&self) -> Vec<String> {
        let out = self.join("out");
        if out.exists() {
            files_below(&out)
        } else {
            Vec::new()
        }
    }

    /// The names in the directory `rel` itself, sorted.
    pub fn names(&self, rel: impl AsRef<Path>) -> Vec<String> {
        names_in(&self.join(rel))
    }

    /// `fetchpool` in the test's directory, with a clean environment: no proxies, no colours,
    /// nothing from the developer's shell.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.std_cmd())
    }

    /// [`TestEnv::cmd`] as a plain `std::process::Command`, for a test that drives stdin or
    /// stdout itself.
    pub fn std_cmd(&self) -> StdCommand {
        let mut cmd = StdCommand::new(BIN);
        cmd.env_clear()
            .env("NO_COLOR", "1")
            .env("PATH", "/usr/bin:/bin")
            .current_dir(self.path());
        cmd
    }

    /// `fetchpool urls.txt -o out ARGS`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd().args(["urls.txt", "-o", "out"]).args(args).run()
    }

    /// Writes `urls` as `urls.txt`, then [`TestEnv::run`].
    pub fn fetch(&self, urls: &[impl AsRef<str>], args: &[&str]) -> Run {
        self.list(urls);
        self.run(args)
    }

    /// `fetchpool NAME -o out ARGS`: a list of another name, as written, so messages name it so.
    pub fn run_list(&self, name: &str, args: &[&str]) -> Run {
        self.cmd().arg(name).args(["-o", "out"]).args(args).run()
    }

    /// `fetchpool ARGS`, nothing added.
    pub fn exec(&self, args: &[&str]) -> Run {
        self.cmd().args(args).run()
    }

    /// `fetchpool urls.txt -o out --min-speed 0 ARGS`, running on while the test goes on, with
    /// stdout and stderr piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.std_cmd()
            .args(["urls.txt", "-o", "out", "--min-speed", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `fetchpool - -o out ARGS`, the list on a pipe the test writes to; stdout and stderr piped.
    pub fn spawn_reading_stdin(&self, args: &[&str]) -> Child {
        self.std_cmd()
            .args(["-", "-o", "out"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// Waits for a run started with [`TestEnv::spawn`] to end by itself.
pub fn wait(child: Child) -> Run {
    let started = std::time::Instant::now();
    Run::of(child.wait_with_output().unwrap(), started.elapsed())
}

/// Sends SIGINT to a run started with [`TestEnv::spawn`] and waits for it: `took` is how long
/// it took to end once told.
pub fn interrupt(child: Child) -> Run {
    let sent = std::time::Instant::now();
    let status = StdCommand::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    Run::of(child.wait_with_output().unwrap(), sent.elapsed())
}

/// What a run did: its exit code, its report's lines (stdout), and stderr.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    /// stdout, line by line: the report.
    pub report: Vec<String>,
    pub stdout: String,
    pub stderr: String,
    /// How long the run took, start to exit.
    pub took: std::time::Duration,
}

impl Run {
    /// The report's `i`th line as JSON (a run with `--json`).
    pub fn json(&self, i: usize) -> serde_json::Value {
        json(&self.report[i])
    }

    /// Everything the run printed: stdout, then stderr.
    pub fn said(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Every line of the report as JSON (a run with `--json`).
    pub fn results(&self) -> Vec<serde_json::Value> {
        self.report.iter().map(|l| json(l)).collect()
    }
}

impl Run {
    fn of(out: Output, took: std::time::Duration) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            report: lines(&out.stdout),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took,
        }
    }
}

/// Ends a command built from [`TestEnv::cmd`]: runs it to the end, and names what it did.
pub trait RunIt {
    fn run(&mut self) -> Run;
}

impl RunIt for Command {
    fn run(&mut self) -> Run {
        let started = std::time::Instant::now();
        Run::of(self.output().unwrap(), started.elapsed())
    }
}

impl RunIt for StdCommand {
    fn run(&mut self) -> Run {
        let started = std::time::Instant::now();
        Run::of(self.output().unwrap(), started.elapsed())
    }
}

/// Waits (up to 10 s) until `ready` holds; `what` names what never happened.
#[track_caller]
pub fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Asserts that `text` has `needle` in it, showing the text when not.
#[track_caller]
pub fn assert_has(text: impl AsRef<str>, needle: &str) {
    let text = text.as_ref();
    assert!(text.contains(needle), "{needle:?} is not in:\n{text}");
}

/// Asserts that `text` has no `needle` in it, showing the text when it has.
#[track_caller]
pub fn assert_lacks(text: impl AsRef<str>, needle: &str) {
    let text = text.as_ref();
    assert!(!text.contains(needle), "{needle:?} is in:\n{text}");
}

/// Asserts that `text` starts with `prefix`, showing the text when not.
#[track_caller]
pub fn assert_starts(text: impl AsRef<str>, prefix: &str) {
    let text = text.as_ref();
    assert!(
        text.starts_with(prefix),
        "{prefix:?} does not start:\n{text}"
    );
}
