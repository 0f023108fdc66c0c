//! One entry, start to finish: decide what to do about an existing target, send the request
//! (following redirects by hand), stream the body through a fixed buffer into `NAME.part`, check
//! length and checksum, and only then put the file in place without clobbering anything. Failed
//! attempts that may succeed later are retried with backoff.
//!
//! A failure is data ([`Outcome`] with `Status::Failed`), never a panic; no failure leaves a file
//! at the target name, and the `.part` it created is removed (kept for `--continue`).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, anyhow, bail};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_RANGE, LOCATION, RANGE, RETRY_AFTER};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::interrupt;
use crate::list::{BadLine, Entry, to_hex};
use crate::naming::part_path;
use crate::progress::{Progress, Task};
use crate::report::{human_bytes, redact_url};
use crate::throttle::Throttle;

/// Bytes read from the network per call, and the size of the write buffer: the whole per-download
/// memory, whatever the file's size.
const READ_BUF: usize = 64 * 1024;
const WRITE_BUF: usize = 256 * 1024;

/// First backoff ceiling; it doubles with each retry up to `BACKOFF_MAX` (full jitter: the wait
/// is drawn uniformly from zero to the ceiling).
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The longest a `Retry-After` is obeyed.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

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
    /// Position in the report (see `Entry::seq`).
    pub seq: usize,
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
    /// The entry in list format, for `--failed-out`; set on entries that did not succeed.
    pub relist: Option<String>,
}

impl Outcome {
    fn new(entry: &Entry, config: &Config, status: Status) -> Outcome {
        Outcome {
            index: entry.index,
            seq: entry.seq,
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
            relist: None,
        }
    }

    /// A line of the list that is not a valid entry.
    pub fn bad_line(bad: &BadLine) -> Outcome {
        Outcome {
            index: bad.index,
            seq: bad.seq,
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
            // Commented out: re-running it would only fail the same way.
            relist: Some(format!("# {}\n# {}", bad.error, bad.raw)),
        }
    }

    /// An entry the run never got to.
    pub fn not_started(entry: &Entry, config: &Config) -> Outcome {
        let mut outcome = Outcome::new(entry, config, Status::NotStarted);
        outcome.relist = Some(entry.list_line());
        outcome
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
        // Redirects are followed by hand: only to http/https, and without -H headers across
        // origins.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        // reqwest's blocking timeout applies to each wait (for headers, for each read), so it is
        // the idle limit, not a limit on the whole download.
        .timeout(config.idle_timeout)
        .build()
        .context("cannot set up the HTTP client")
}

/// Everything a download needs besides its entry.
pub struct Context<'a> {
    pub client: &'a Client,
    pub config: &'a Config,
    pub progress: &'a Progress,
    pub active: &'a Active,
    pub throttle: &'a Throttle,
}

impl Context<'_> {
    /// A `-v` line on stderr, tagged with the worker's name.
    fn log(&self, worker: &str, message: std::fmt::Arguments) {
        if self.config.verbose {
            self.progress.println(&format!("[{worker}] {message}"));
        }
    }
}

/// The downloads under way, so that an interrupted run can report them and remove their `.part`
/// files even when a worker is stuck in a read that will not return for a while.
#[derive(Default)]
pub struct Active {
    running: Mutex<HashMap<usize, Running>>,
}

struct Running {
    outcome: Outcome,
    part: Option<PathBuf>,
    started: Instant,
}

impl Active {
    fn begin(&self, outcome: &Outcome) {
        self.lock().insert(
            outcome.index,
            Running {
                outcome: outcome.clone(),
                part: None,
                started: Instant::now(),
            },
        );
    }

    fn set_part(&self, index: usize, part: &Path) {
        if let Some(running) = self.lock().get_mut(&index) {
            running.part = Some(part.to_path_buf());
        }
    }

    fn end(&self, index: usize) {
        self.lock().remove(&index);
    }

    /// Gives up on every running download: removes its `.part` (unless `keep_parts`) and returns
    /// its outcome as failed by the interruption.
    pub fn abandon(&self, keep_parts: bool) -> Vec<Outcome> {
        self.lock()
            .drain()
            .map(|(_, running)| {
                if let Some(part) = &running.part
                    && !keep_parts
                {
                    let _ = fs::remove_file(part);
                }
                let mut outcome = running.outcome;
                outcome.status = Status::Failed;
                outcome.elapsed = running.started.elapsed();
                outcome.error = Some("interrupted".into());
                outcome
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A failed attempt: the reason, the server's status if it answered, and whether trying again
/// may help.
struct Failure {
    http_status: Option<u16>,
    error: anyhow::Error,
    retryable: bool,
    /// What the server asked us to wait (Retry-After), if anything.
    retry_after: Option<Duration>,
    /// The URL whose server answered 429 or 503: its host is paused for every worker.
    busy_host: Option<reqwest::Url>,
}

impl Failure {
    /// A failure trying again will not fix (4xx, checksum, disk, policy).
    fn fatal(error: anyhow::Error) -> Failure {
        Failure {
            http_status: None,
            error,
            retryable: false,
            retry_after: None,
            busy_host: None,
        }
    }

    /// A failure of the network or the server that may pass (reset, timeout, truncation).
    fn transient(error: anyhow::Error) -> Failure {
        Failure {
            retryable: true,
            ..Failure::fatal(error)
        }
    }

    fn status(mut self, status: StatusCode) -> Failure {
        self.http_status = Some(status.as_u16());
        self
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
            outcome.relist = Some(entry.list_line());
            return outcome;
        }
    }

    let task = ctx.progress.start(worker, &entry.target);
    ctx.active.begin(&outcome);
    let result = loop {
        if interrupt::requested() {
            break Err(Failure::fatal(anyhow!("interrupted")));
        }
        outcome.attempts += 1;
        match outcome.attempts {
            1 => ctx.log(worker, format_args!("GET {}", outcome.url)),
            n => ctx.log(worker, format_args!("GET {} (attempt {n})", outcome.url)),
        }
        task.restart();
        match attempt(entry, ctx, worker, &target, &task) {
            Ok(saved) => break Ok(saved),
            Err(failure) if failure.retryable && outcome.attempts <= config.retries => {
                let wait = failure
                    .retry_after
                    .map_or_else(|| backoff(outcome.attempts), |d| d.min(RETRY_AFTER_MAX));
                if let Some(host) = &failure.busy_host {
                    ctx.throttle.pause_host(host, wait);
                }
                ctx.log(
                    worker,
                    format_args!(
                        "retry {}/{} in {:.1}s: {} {:#}",
                        outcome.attempts,
                        config.retries,
                        wait.as_secs_f64(),
                        outcome.url,
                        failure.error
                    ),
                );
                if interrupt::sleep(wait) {
                    let error = failure.error.context("interrupted while waiting to retry");
                    break Err(Failure { error, ..failure });
                }
            }
            Err(failure) => break Err(failure),
        }
    };
    ctx.active.end(entry.index);
    drop(task);
    outcome.elapsed = started.elapsed();
    match result {
        Ok(saved) => {
            outcome.status = Status::Ok;
            outcome.http_status = Some(saved.http_status);
            outcome.bytes = saved.bytes;
            outcome.sha256 = Some(saved.sha256);
            outcome.length_unverified = saved.length_unverified;
            ctx.log(
                worker,
                format_args!(
                    "{} {} -> {} ({}, {:.2}s)",
                    saved.http_status,
                    outcome.url,
                    shown.display(),
                    human_bytes(saved.bytes),
                    outcome.elapsed.as_secs_f64()
                ),
            );
        }
        Err(failure) => {
            outcome.http_status = failure.http_status;
            outcome.error = Some(format!("{:#}", failure.error));
            outcome.relist = Some(entry.list_line());
            ctx.log(
                worker,
                format_args!("failed {}: {:#}", outcome.url, failure.error),
            );
        }
    }
    outcome
}

/// The wait before retry number `retry` (1-based): full jitter over an exponential ceiling.
fn backoff(retry: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << retry.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    // RandomState is seeded from the OS per thread: enough randomness to spread retries apart
    // without a crate for it.
    let random = RandomState::new().hash_one(Instant::now());
    Duration::from_nanos(random % (ceiling.as_nanos() as u64 + 1))
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
    // With --continue a complete target is done, exactly as with --skip-existing.
    if policy.skip || config.resume {
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
        hash_reader(&mut file, &mut hasher)
            .with_context(|| format!("cannot read {} to check it", target.display()))?;
        if hasher.finalize().as_slice() != want {
            return Ok(Some("its sha256 does not match".into()));
        }
    }
    Ok(None)
}

fn hash_reader(reader: &mut impl Read, hasher: &mut Sha256) -> io::Result<u64> {
    let mut buf = vec![0u8; READ_BUF];
    let mut total = 0;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One attempt: request (with redirects), then stream to disk. Nothing is created before the
/// server has said 2xx.
fn attempt(
    entry: &Entry,
    ctx: &Context,
    worker: &str,
    target: &Path,
    task: &Task,
) -> Result<Saved, Failure> {
    let config = ctx.config;
    let started = Instant::now();
    let part_at = part_path(target);
    let mut resume_from = if config.resume {
        resumable_len(&part_at)
    } else {
        None
    };
    let mut response = loop {
        let response = send(entry, ctx, worker, resume_from)?;
        let Some(have) = resume_from else {
            break response;
        };
        if response.status() != StatusCode::RANGE_NOT_SATISFIABLE {
            break response;
        }
        // 416: either the .part is already whole, or it is not what the server has now.
        if content_range(&response).and_then(|r| r.total) == Some(have) {
            return finish_complete_part(entry, config, &part_at, target, have)
                .map_err(|f| f.status(response.status()));
        }
        ctx.log(
            worker,
            format_args!(
                "{} refused the range of {}; starting over",
                redact_url(entry.url.as_str()),
                part_at.display()
            ),
        );
        resume_from = None;
    };
    let status = response.status();
    if !status.is_success() {
        let retryable = matches!(status.as_u16(), 408 | 425 | 429 | 500 | 502 | 503 | 504);
        let retry_after = retryable.then(|| retry_after(&response)).flatten();
        // A 429, or a 503 that says for how long: the whole host is busy, not just this entry.
        let host_busy = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some());
        return Err(Failure {
            http_status: Some(status.as_u16()),
            error: anyhow!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
            retryable,
            retry_after,
            busy_host: host_busy.then(|| response.url().clone()),
        });
    }
    let fail = |f: Failure| f.status(status);

    // Appending is only safe when the server sends exactly the bytes after ours.
    let append_from = match resume_from {
        Some(have) if status == StatusCode::PARTIAL_CONTENT => {
            if content_range(&response).map(|r| r.start) != Some(have) {
                let _ = fs::remove_file(&part_at);
                return Err(fail(Failure::transient(anyhow!(
                    "the server answered the resume request with another range; starting over"
                ))));
            }
            Some(have)
        }
        _ => None,
    };
    let declared = response
        .content_length()
        .map(|len| len + append_from.unwrap_or(0));
    if let (Some(declared), Some(size)) = (declared, entry.options.size)
        && declared != size
    {
        return Err(fail(Failure::fatal(anyhow!(
            "the server announces {declared} bytes but the list says size={size}"
        ))));
    }
    if let (Some(declared), Some(max)) = (declared, config.max_size)
        && declared > max
    {
        return Err(fail(Failure::fatal(anyhow!(
            "the server announces {declared} bytes, more than --max-size {max}"
        ))));
    }
    task.set_length(declared.or(entry.options.size).unwrap_or(0));

    create_parents(&config.output_dir, &entry.target).map_err(|e| fail(Failure::fatal(e)))?;
    let mut hasher = Sha256::new();
    let mut part = match append_from {
        Some(have) => {
            let mut part =
                PartFile::reopen(part_at, config.resume).map_err(|e| fail(Failure::fatal(e)))?;
            let hashed = hash_reader(&mut part.file, &mut hasher)
                .with_context(|| format!("cannot read {}", part.path.display()))
                .map_err(|e| fail(Failure::fatal(e)))?;
            if hashed != have {
                part.keep = false;
                return Err(fail(Failure::transient(anyhow!(
                    "{} changed while resuming; starting over",
                    part.path.display()
                ))));
            }
            task.advance(have);
            part
        }
        None => PartFile::create(part_at, config.resume).map_err(|e| fail(Failure::fatal(e)))?,
    };
    ctx.active.set_part(entry.index, &part.path);

    let received = stream_body(
        &mut response,
        &mut part,
        &mut hasher,
        append_from.unwrap_or(0),
        entry,
        config,
        ctx.throttle,
        started,
        task,
    )
    .map_err(fail)?;

    if let Some(declared) = declared
        && received != declared
    {
        return Err(fail(Failure::transient(anyhow!(
            "truncated: received {received} of {declared} bytes"
        ))));
    }
    let digest = hasher.finalize();
    verify_complete(entry, received, &digest).map_err(|e| {
        part.keep = false;
        fail(Failure::fatal(e))
    })?;
    part.persist(target, config.existing.overwrite)
        .map_err(|e| fail(Failure::fatal(e)))?;
    Ok(Saved {
        http_status: status.as_u16(),
        bytes: received,
        sha256: to_hex(&digest),
        length_unverified: declared.is_none(),
    })
}

/// Copies the body into the `.part`, enforcing every limit as bytes arrive. Returns the total
/// length of the file (bytes resumed plus bytes received).
#[allow(clippy::too_many_arguments)]
fn stream_body(
    response: &mut Response,
    part: &mut PartFile,
    hasher: &mut Sha256,
    resumed: u64,
    entry: &Entry,
    config: &Config,
    throttle: &Throttle,
    started: Instant,
    task: &Task,
) -> Result<u64, Failure> {
    let write_error = |e: io::Error, path: &Path| {
        Failure::fatal(anyhow!(e).context(format!("cannot write {}", path.display())))
    };
    let mut writer = BufWriter::with_capacity(WRITE_BUF, &part.file);
    let mut buf = vec![0u8; READ_BUF];
    let mut total = resumed;
    let mut window_start = Instant::now();
    let mut window_bytes: u64 = 0;
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let received = total - resumed;
                return Err(Failure::transient(
                    anyhow!(e).context(format!("the body broke off after {received} bytes")),
                ));
            }
        };
        total += n as u64;
        if interrupt::requested() {
            return Err(Failure::fatal(anyhow!("interrupted")));
        }
        if let Some(size) = entry.options.size
            && total > size
        {
            part.keep = false;
            return Err(Failure::fatal(anyhow!(
                "the body is longer than size={size}; stopped"
            )));
        }
        if let Some(max) = config.max_size
            && total > max
        {
            part.keep = false;
            return Err(Failure::fatal(anyhow!(
                "the body passed --max-size {max}; stopped"
            )));
        }
        hasher.update(&buf[..n]);
        writer
            .write_all(&buf[..n])
            .map_err(|e| write_error(e, &part.path))?;
        task.advance(n as u64);
        // Time spent held back by --limit-rate is not the server's slowness.
        window_start += throttle.received(n as u64);

        if let Some(max_time) = config.max_time
            && started.elapsed() > max_time
        {
            return Err(Failure::transient(anyhow!(
                "took longer than --max-time {}s",
                max_time.as_secs_f64()
            )));
        }
        window_bytes += n as u64;
        let window = window_start.elapsed();
        if config.min_speed > 0 && window >= config.idle_timeout {
            let rate = window_bytes as f64 / window.as_secs_f64();
            if rate < config.min_speed as f64 {
                return Err(Failure::transient(anyhow!(
                    "too slow: {}/s over {:.0}s, below --min-speed {}/s",
                    human_bytes(rate as u64),
                    window.as_secs_f64(),
                    human_bytes(config.min_speed)
                )));
            }
            window_start = Instant::now();
            window_bytes = 0;
        }
    }
    writer.flush().map_err(|e| write_error(e, &part.path))?;
    Ok(total)
}

/// The list's `size=` and `sha256=` against what was received.
fn verify_complete(entry: &Entry, received: u64, digest: &[u8]) -> anyhow::Result<()> {
    if let Some(size) = entry.options.size
        && received != size
    {
        bail!("received {received} bytes but the list says size={size}");
    }
    if let Some(want) = entry.options.sha256
        && digest != want
    {
        bail!(
            "sha256 mismatch: expected {}, got {}",
            to_hex(&want),
            to_hex(digest)
        );
    }
    Ok(())
}

/// `--continue` met a 416 whose Content-Range says the `.part` is already whole: verify it and
/// put it in place.
fn finish_complete_part(
    entry: &Entry,
    config: &Config,
    part_at: &Path,
    target: &Path,
    len: u64,
) -> Result<Saved, Failure> {
    let mut part = PartFile::reopen(part_at.to_path_buf(), true).map_err(Failure::fatal)?;
    let mut hasher = Sha256::new();
    hash_reader(&mut part.file, &mut hasher)
        .with_context(|| format!("cannot read {}", part.path.display()))
        .map_err(Failure::fatal)?;
    let digest = hasher.finalize();
    if let Err(e) = verify_complete(entry, len, &digest) {
        part.keep = false;
        return Err(Failure::fatal(e));
    }
    part.persist(target, config.existing.overwrite)
        .map_err(Failure::fatal)?;
    Ok(Saved {
        http_status: StatusCode::RANGE_NOT_SATISFIABLE.as_u16(),
        bytes: len,
        sha256: to_hex(&digest),
        length_unverified: false,
    })
}

/// Sends the GET, following redirects by hand: at most `--max-redirects`, only to http and
/// https, and with the `-H` headers only while on the listed URL's origin.
fn send(
    entry: &Entry,
    ctx: &Context,
    worker: &str,
    range_from: Option<u64>,
) -> Result<Response, Failure> {
    let config = ctx.config;
    let origin = entry.url.origin();
    let mut url = entry.url.clone();
    let mut redirects = 0;
    loop {
        if ctx.throttle.wait_for_host(&url) {
            return Err(Failure::fatal(anyhow!("interrupted")));
        }
        let same_origin = url.origin() == origin;
        // No per-request timeout: reqwest makes that a deadline for the whole body, which would
        // cut off any download longer than it. The client's timeout is the idle limit, and
        // --max-time is enforced as bytes arrive.
        let mut request = ctx.client.get(url.clone());
        if same_origin {
            for (name, value) in &config.headers {
                request = request.header(name, value);
            }
        }
        if let Some(from) = range_from {
            request = request.header(RANGE, format!("bytes={from}-"));
        }
        let response = request.send().map_err(|e| {
            let retryable = !e.is_builder();
            let error = anyhow!(e.without_url()).context("request failed");
            Failure {
                retryable,
                ..Failure::fatal(error)
            }
        })?;
        let status = response.status();
        let location = response.headers().get(LOCATION);
        let (true, Some(location)) = (status.is_redirection(), location) else {
            return Ok(response);
        };
        let fatal = |error: anyhow::Error| Failure::fatal(error).status(status);
        if redirects >= config.max_redirects {
            return Err(fatal(anyhow!(
                "too many redirects (more than --max-redirects {})",
                config.max_redirects
            )));
        }
        let location = location
            .to_str()
            .map_err(|_| fatal(anyhow!("the redirect's Location is not valid text")))?;
        let mut next = url
            .join(location)
            .map_err(|e| fatal(anyhow!("the redirect's Location is not a URL: {e}")))?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(fatal(anyhow!(
                "refused a redirect to a {}: URL (only http and https are followed)",
                next.scheme()
            )));
        }
        // Credentials from the listed URL stay with its origin.
        if next.origin() == origin && next.username().is_empty() {
            let _ = next.set_username(entry.url.username());
            let _ = next.set_password(entry.url.password());
        }
        ctx.log(
            worker,
            format_args!(
                "{} {} -> {}",
                status.as_u16(),
                redact_url(url.as_str()),
                redact_url(next.as_str())
            ),
        );
        url = next;
        redirects += 1;
    }
}

/// `Retry-After` in either form: delay-seconds or an HTTP date.
fn retry_after(response: &Response) -> Option<Duration> {
    parse_retry_after(
        response.headers().get(RETRY_AFTER)?.to_str().ok()?,
        SystemTime::now(),
    )
}

fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Content-Range: bytes START-END/TOTAL` or `bytes */TOTAL`.
struct ContentRange {
    start: u64,
    total: Option<u64>,
}

fn content_range(response: &Response) -> Option<ContentRange> {
    parse_content_range(response.headers().get(CONTENT_RANGE)?.to_str().ok()?)
}

fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let start = match range.trim() {
        "*" => u64::MAX,
        r => r.split_once('-')?.0.trim().parse().ok()?,
    };
    Some(ContentRange { start, total })
}

/// The length of a `.part` worth resuming: a regular file (not a symlink) with bytes in it.
fn resumable_len(part: &Path) -> Option<u64> {
    let meta = fs::symlink_metadata(part).ok()?;
    (meta.is_file() && meta.len() > 0).then_some(meta.len())
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

/// A `NAME.part` of this run; removed on drop unless it was put in place or is kept for
/// `--continue`.
struct PartFile {
    path: PathBuf,
    file: File,
    /// Keep the bytes for a later resume (they are a prefix of the body the server sent).
    keep: bool,
    done: bool,
}

impl PartFile {
    /// Unlinks a stale `.part` (never opening it: it may be a symlink planted there), then creates
    /// a fresh one exclusively, which never follows a symlink.
    fn create(path: PathBuf, keep: bool) -> anyhow::Result<PartFile> {
        // Look first: an unlink takes the directory's write lock even when there is nothing to
        // remove, and nearly always there is not.
        if fs::symlink_metadata(&path).is_ok() {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(
                        anyhow!(e).context(format!("cannot remove stale {}", path.display()))
                    );
                }
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
            keep,
            done: false,
        })
    }

    /// Opens an existing `.part` to resume it: never through a symlink, only a regular file.
    fn reopen(path: PathBuf, keep: bool) -> anyhow::Result<PartFile> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("cannot reopen {}", path.display()))?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            bail!("{} is not a regular file", path.display());
        }
        Ok(PartFile {
            path,
            file,
            keep,
            done: false,
        })
    }

    /// Puts the finished file in place. Without `overwrite` the target must not exist, and that
    /// is checked atomically by the rename itself (or a hard link), never by a check followed by
    /// a rename, which would race.
    fn persist(mut self, target: &Path, overwrite: bool) -> anyhow::Result<()> {
        let shown = target.display();
        let appeared =
            || anyhow!("{shown} appeared while downloading (use --overwrite to replace it)");
        if overwrite {
            fs::rename(&self.path, target).with_context(|| format!("cannot rename to {shown}"))?;
        } else {
            match rename_noreplace(&self.path, target) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(appeared()),
                // A file system without RENAME_NOREPLACE: a hard link fails just as atomically.
                Err(_) => match fs::hard_link(&self.path, target) {
                    Ok(()) => {
                        let _ = fs::remove_file(&self.path);
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(appeared()),
                    // Nor hard links: check, then rename (the only racy path left).
                    Err(_) => {
                        if fs::symlink_metadata(target).is_ok() {
                            return Err(appeared());
                        }
                        fs::rename(&self.path, target)
                            .with_context(|| format!("cannot rename to {shown}"))?;
                    }
                },
            }
        }
        self.done = true;
        Ok(())
    }
}

/// `rename(2)` that fails with EEXIST instead of replacing the target: one directory operation,
/// where a hard link and an unlink are two (they contend for the directory's lock when many
/// workers finish small files at once).
#[cfg(target_os = "linux")]
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let from = CString::new(from.as_os_str().as_bytes())?;
    let to = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the call, and AT_FDCWD
    // makes them resolve exactly as rename(2) would.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn rename_noreplace(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.done && !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_both_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn content_ranges() {
        let r = parse_content_range("bytes 100-199/200").unwrap();
        assert_eq!((r.start, r.total), (100, Some(200)));
        let r = parse_content_range("bytes */1234").unwrap();
        assert_eq!(r.total, Some(1234));
        let r = parse_content_range("bytes 0-9/*").unwrap();
        assert_eq!((r.start, r.total), (0, None));
        assert!(parse_content_range("items 0-1/2").is_none());
        assert!(parse_content_range("bytes x-1/2").is_none());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for retry in 1..40 {
            let ceiling = BACKOFF_BASE
                .saturating_mul(1 << (retry - 1).min(16))
                .min(BACKOFF_MAX);
            assert!(backoff(retry) <= ceiling);
        }
        // Full jitter: over many draws the waits are spread, not all equal.
        let draws: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(3)).collect();
        assert!(draws.len() > 10);
    }
}
