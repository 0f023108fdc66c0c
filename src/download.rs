//! One entry, start to finish: decide what to do about an existing target, send the request,
//! stream the body through a fixed buffer into an exclusively created `NAME.part`, check length
//! and checksum, and only then put the file in place without clobbering anything.
//!
//! A failure is data ([`Outcome`] with `Status::Failed`), never a panic; no failure leaves a file
//! at the target name, and the `.part` it created is removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use reqwest::blocking::Client;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::list::{BadLine, Entry, to_hex};
use crate::naming::part_path;
use crate::progress::Progress;
use crate::report::{human_bytes, redact_url};

/// Bytes read from the network per call, and the size of the write buffer: the whole per-download
/// memory, whatever the file's size.
const READ_BUF: usize = 64 * 1024;
const WRITE_BUF: usize = 256 * 1024;

/// How an entry ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Failed,
    Skipped,
    NotStarted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::NotStarted => "not-started",
        }
    }
}

/// What happened to one entry: everything the report shows about it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub index: usize,
    pub line: usize,
    /// The URL with secrets redacted: safe to print.
    pub url: String,
    /// Target as shown to the user (output directory joined), `None` for a bad line.
    pub path: Option<PathBuf>,
    pub status: Status,
    pub http_status: Option<u16>,
    pub bytes: u64,
    pub attempts: u32,
    pub elapsed: Duration,
    /// Lowercase hex digest of the saved file.
    pub sha256: Option<String>,
    pub length_unverified: bool,
    /// The reason, with its whole cause chain, for `failed`.
    pub error: Option<String>,
    /// A remark for other statuses (why it was skipped).
    pub note: Option<String>,
}

impl Outcome {
    fn new(entry: &Entry, config: &Config, status: Status) -> Outcome {
        Outcome {
            index: entry.index,
            line: entry.line,
            url: redact_url(entry.url.as_str()),
            path: Some(display_path(config, &entry.target)),
            status,
            http_status: None,
            bytes: 0,
            attempts: 0,
            elapsed: Duration::ZERO,
            sha256: None,
            length_unverified: false,
            error: None,
            note: None,
        }
    }

    /// A line of the list that is not a valid entry.
    pub fn bad_line(bad: &BadLine) -> Outcome {
        Outcome {
            index: bad.index,
            line: bad.line,
            url: redact_url(&bad.text),
            path: None,
            status: Status::Failed,
            http_status: None,
            bytes: 0,
            attempts: 0,
            elapsed: Duration::ZERO,
            sha256: None,
            length_unverified: false,
            error: Some(bad.error.clone()),
            note: None,
        }
    }

    /// An entry the run never got to.
    pub fn not_started(entry: &Entry, config: &Config) -> Outcome {
        Outcome::new(entry, config, Status::NotStarted)
    }
}

/// The path shown in reports: relative to the current directory as the user gave it.
pub fn display_path(config: &Config, target: &Path) -> PathBuf {
    if config.output_dir == Path::new(".") {
        target.to_path_buf()
    } else {
        config.output_dir.join(target)
    }
}

/// The one HTTP client of the run: one connection pool shared by every worker.
pub fn client(config: &Config) -> anyhow::Result<Client> {
    Client::builder()
        .user_agent(&config.user_agent)
        .referer(false)
        .connect_timeout(config.connect_timeout)
        // reqwest's blocking timeout applies to each wait (for headers, for each read), so it is
        // an idle limit, not a limit on the whole download.
        .timeout(config.read_timeout)
        .build()
        .context("cannot set up the HTTP client")
}

/// Everything a download needs besides its entry.
pub struct Context<'a> {
    pub client: &'a Client,
    pub config: &'a Config,
    pub progress: &'a Progress,
}

/// A failed attempt: the reason and, when the server answered, its status.
struct Failure {
    http_status: Option<u16>,
    error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure {
            http_status: None,
            error,
        }
    }
}

/// What a successful attempt produced.
struct Saved {
    http_status: u16,
    bytes: u64,
    sha256: String,
    length_unverified: bool,
}

/// Downloads one entry on the calling thread, `worker` naming it in logs and progress.
pub fn fetch(entry: &Entry, ctx: &Context, worker: &str) -> Outcome {
    let started = Instant::now();
    let config = ctx.config;
    let mut outcome = Outcome::new(entry, config, Status::Failed);
    let target = config.output_dir.join(&entry.target);
    let shown = outcome.path.clone().unwrap_or_default();

    match check_existing(&target, &shown, entry, config) {
        Ok(Existing::Absent | Existing::Replace) => {}
        Ok(Existing::Skip { bytes }) => {
            outcome.status = Status::Skipped;
            outcome.bytes = bytes;
            outcome.note = Some("already exists".into());
            outcome.elapsed = started.elapsed();
            return outcome;
        }
        Err(error) => {
            outcome.error = Some(format!("{error:#}"));
            outcome.elapsed = started.elapsed();
            return outcome;
        }
    }

    let name = entry.target.display().to_string();
    let task = ctx.progress.start(worker, &name);
    if config.verbose {
        ctx.progress
            .println(&format!("[{worker}] GET {}", outcome.url));
    }
    outcome.attempts = 1;
    let result = attempt(entry, ctx, &target, &task);
    drop(task);
    outcome.elapsed = started.elapsed();
    match result {
        Ok(saved) => {
            outcome.status = Status::Ok;
            outcome.http_status = Some(saved.http_status);
            outcome.bytes = saved.bytes;
            outcome.sha256 = Some(saved.sha256);
            outcome.length_unverified = saved.length_unverified;
            if config.verbose {
                ctx.progress.println(&format!(
                    "[{worker}] {} {} -> {} ({}, {:.2}s)",
                    saved.http_status,
                    outcome.url,
                    shown.display(),
                    human_bytes(saved.bytes),
                    outcome.elapsed.as_secs_f64()
                ));
            }
        }
        Err(failure) => {
            outcome.http_status = failure.http_status;
            outcome.error = Some(format!("{:#}", failure.error));
            if config.verbose {
                ctx.progress.println(&format!(
                    "[{worker}] failed {}: {:#}",
                    outcome.url, failure.error
                ));
            }
        }
    }
    outcome
}

/// What to do about the target before any request is made.
enum Existing {
    Absent,
    Replace,
    Skip { bytes: u64 },
}

fn check_existing(
    target: &Path,
    shown: &Path,
    entry: &Entry,
    config: &Config,
) -> anyhow::Result<Existing> {
    // symlink_metadata: a symlink at the target is something that exists, never followed.
    let meta = match fs::symlink_metadata(target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Absent),
        Err(e) => return Err(anyhow!(e).context(format!("cannot inspect {}", shown.display()))),
    };
    if meta.is_dir() {
        bail!("{} exists and is a directory", shown.display());
    }
    let policy = config.existing;
    if policy.skip {
        let wants_check = entry.options.size.is_some() || entry.options.sha256.is_some();
        let mismatch = if !wants_check {
            None
        } else if !meta.is_file() {
            Some("is not a regular file".to_string())
        } else {
            verify_existing(target, meta.len(), entry)?
        };
        match mismatch {
            None => return Ok(Existing::Skip { bytes: meta.len() }),
            Some(why) if !policy.overwrite => bail!(
                "{} exists but {why}; use --overwrite to download it again",
                shown.display()
            ),
            Some(_) => {}
        }
    }
    if policy.overwrite {
        return Ok(Existing::Replace);
    }
    bail!(
        "{} already exists (use --overwrite to replace it, or --skip-existing to keep it)",
        shown.display()
    )
}

/// Checks an existing file against the list's `size=`/`sha256=`; `Some(reason)` on a mismatch.
fn verify_existing(target: &Path, len: u64, entry: &Entry) -> anyhow::Result<Option<String>> {
    if let Some(size) = entry.options.size
        && size != len
    {
        return Ok(Some(format!("has {len} bytes, not size={size}")));
    }
    if let Some(want) = entry.options.sha256 {
        let mut file = File::open(target)
            .with_context(|| format!("cannot read {} to check it", target.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; READ_BUF];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if hasher.finalize().as_slice() != want {
            return Ok(Some("its sha256 does not match".into()));
        }
    }
    Ok(None)
}

/// One request, streamed to disk. Nothing is created before the server has said 2xx.
fn attempt(
    entry: &Entry,
    ctx: &Context,
    target: &Path,
    task: &crate::progress::Task,
) -> Result<Saved, Failure> {
    let mut response = ctx
        .client
        .get(entry.url.clone())
        .send()
        .map_err(|e| anyhow!(e.without_url()).context("request failed"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Failure {
            http_status: Some(status.as_u16()),
            error: anyhow!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
        });
    }
    let fail = |error: anyhow::Error| Failure {
        http_status: Some(status.as_u16()),
        error,
    };
    let declared = response.content_length();
    if let (Some(declared), Some(size)) = (declared, entry.options.size)
        && declared != size
    {
        return Err(fail(anyhow!(
            "the server announces {declared} bytes but the list says size={size}"
        )));
    }
    task.set_length(declared.or(entry.options.size).unwrap_or(0));

    let config = ctx.config;
    create_parents(&config.output_dir, &entry.target).map_err(fail)?;
    let part = PartFile::create(part_path(target)).map_err(fail)?;
    let mut writer = BufWriter::with_capacity(WRITE_BUF, &part.file);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_BUF];
    let mut received: u64 = 0;
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(fail(
                    anyhow!(e).context(format!("the body broke off after {received} bytes")),
                ));
            }
        };
        received += n as u64;
        if let Some(size) = entry.options.size
            && received > size
        {
            return Err(fail(anyhow!(
                "the body is longer than size={size}; stopped"
            )));
        }
        hasher.update(&buf[..n]);
        writer
            .write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", part.path.display()))
            .map_err(fail)?;
        task.advance(n as u64);
    }
    writer
        .flush()
        .with_context(|| format!("cannot write {}", part.path.display()))
        .map_err(fail)?;
    drop(writer);

    if let Some(declared) = declared
        && received != declared
    {
        return Err(fail(anyhow!(
            "truncated: received {received} of {declared} bytes"
        )));
    }
    if let Some(size) = entry.options.size
        && received != size
    {
        return Err(fail(anyhow!(
            "received {received} bytes but the list says size={size}"
        )));
    }
    let digest = hasher.finalize();
    if let Some(want) = entry.options.sha256
        && digest.as_slice() != want
    {
        return Err(fail(anyhow!(
            "sha256 mismatch: expected {}, got {}",
            to_hex(&want),
            to_hex(&digest)
        )));
    }
    part.persist(target, config.existing.overwrite)
        .map_err(fail)?;
    Ok(Saved {
        http_status: status.as_u16(),
        bytes: received,
        sha256: to_hex(&digest),
        length_unverified: declared.is_none(),
    })
}

/// Creates the directories between the output directory and the target, refusing to pass
/// through a symlink, so no `out=` can be steered outside the output directory.
fn create_parents(output_dir: &Path, relative: &Path) -> anyhow::Result<()> {
    let Some(parent) = relative.parent() else {
        return Ok(());
    };
    let mut dir = output_dir.to_path_buf();
    for component in parent.components() {
        dir.push(component);
        loop {
            match fs::symlink_metadata(&dir) {
                Ok(meta) if meta.is_dir() => break,
                Ok(meta) if meta.file_type().is_symlink() => {
                    bail!("{} is a symbolic link; not following it", dir.display())
                }
                Ok(_) => bail!("{} exists and is not a directory", dir.display()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&dir) {
                    // Another worker may have made it meanwhile: look again.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    other => {
                        other.with_context(|| format!("cannot create {}", dir.display()))?;
                        break;
                    }
                },
                Err(e) => {
                    return Err(anyhow!(e).context(format!("cannot inspect {}", dir.display())));
                }
            }
        }
    }
    Ok(())
}

/// A `NAME.part` this run created; removed on drop unless it was put in place.
struct PartFile {
    path: PathBuf,
    file: File,
    done: bool,
}

impl PartFile {
    /// Unlinks a stale `.part` (never opening it: it may be a symlink planted there), then creates
    /// a fresh one exclusively, which never follows a symlink.
    fn create(path: PathBuf) -> anyhow::Result<PartFile> {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow!(e).context(format!("cannot remove stale {}", path.display())));
            }
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(PartFile {
            path,
            file,
            done: false,
        })
    }

    /// Puts the finished file in place. Without `overwrite` the target must not exist: a hard
    /// link fails if it does, atomically, where a check followed by a rename would race.
    fn persist(mut self, target: &Path, overwrite: bool) -> anyhow::Result<()> {
        let shown = target.display();
        if overwrite {
            fs::rename(&self.path, target).with_context(|| format!("cannot rename to {shown}"))?;
        } else {
            match fs::hard_link(&self.path, target) {
                Ok(()) => {
                    // The target is in place; the .part name is only a second link to it.
                    let _ = fs::remove_file(&self.path);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    bail!("{shown} appeared while downloading (use --overwrite to replace it)")
                }
                // File systems without hard links: check, then rename.
                Err(_) => {
                    if fs::symlink_metadata(target).is_ok() {
                        bail!("{shown} appeared while downloading (use --overwrite to replace it)");
                    }
                    fs::rename(&self.path, target)
                        .with_context(|| format!("cannot rename to {shown}"))?;
                }
            }
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
    }
}
