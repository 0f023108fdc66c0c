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
    dir: TempDir,
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
        TestEnv {
            dir: tempfile::tempdir().unwrap(),
            server: None,
        }
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

    /// The test's directory, where fetchpool runs.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` inside the test's directory.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `lines` as the list `urls.txt`; returns its path.
    pub fn list(&self, lines: &[String]) -> PathBuf {
        self.list_as("urls.txt", lines)
    }

    /// Writes `lines` as the list `name`; returns its path.
    pub fn list_as(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
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

    /// Makes the directory `rel` (and those above it).
    pub fn mkdir(&self, rel: impl AsRef<Path>) {
        std::fs::create_dir_all(self.join(rel)).unwrap();
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
    pub fn fetch(&self, urls: &[String], args: &[&str]) -> Run {
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

/// What a run did: its exit code, its report's lines (stdout), and stderr.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    /// stdout, line by line: the report.
    pub report: Vec<String>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The report's `i`th line as JSON (a run with `--json`).
    pub fn json(&self, i: usize) -> serde_json::Value {
        json(&self.report[i])
    }

    /// Every line of the report as JSON (a run with `--json`).
    pub fn results(&self) -> Vec<serde_json::Value> {
        self.report.iter().map(|l| json(l)).collect()
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            report: lines(&out.stdout),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Ends a command built from [`TestEnv::cmd`]: runs it to the end, and names what it did.
pub trait RunIt {
    fn run(&mut self) -> Run;
}

impl RunIt for Command {
    fn run(&mut self) -> Run {
        self.output().unwrap().into()
    }
}

impl RunIt for StdCommand {
    fn run(&mut self) -> Run {
        self.output().unwrap().into()
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
