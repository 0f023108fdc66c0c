//! Resolved settings: what the flags mean once checked against each other and the environment.

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::bail;

use crate::cli::{Cli, ProgressWhen, ShardArg, SourceArg};
use crate::cookies::Jar;
use crate::entry::parse_header;
use crate::list::{ListSource, Shard, ShardBy, Sources};
use crate::naming::BESIDE;
use crate::netrc::Netrc;
use crate::progress::ProgressStyle;
use crate::staged::{Reserved, reports_replace_no_input, reserved};
use crate::units::parse_size;

mod scheduler;

/// How entries are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A pool of this many worker threads fed through a bounded channel.
    Pool(NonZeroUsize),
    /// One entry at a time on the calling thread.
    Serial,
}

/// The settings every download follows: what a download reads, and all it reads, of the
/// configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    pub output_dir: PathBuf,
    /// `--skip-existing`: a matching existing target is reported `skipped`.
    pub skip_existing: bool,
    /// `--overwrite`: an existing target (that is not skipped) is replaced.
    pub overwrite: bool,
    /// `--update`: an existing target is revalidated, and replaced only if it changed.
    pub update: bool,
    /// `-c, --continue`: continue the `.part` files of earlier runs, and keep them on failure
    /// for later ones (resume is what a retry does within a run).
    pub continues: bool,
    pub retries: u32,
    /// Compute the SHA-256 of every download (the report shows it); an entry with `sha256=`
    /// computes it regardless.
    pub digest: bool,
    /// `-v`: a log line per request and response.
    pub verbose: bool,
    pub user_agent: String,
    /// `-H` headers, sent only to the origin of the listed URL.
    pub headers: Vec<(String, String)>,
    pub connect_timeout: Duration,
    /// Idle limit: no byte for this long fails the attempt.
    pub idle_timeout: Duration,
    /// Bytes/s an attempt must average over each `idle_timeout` window; 0 = off.
    pub min_speed: u64,
    pub max_time: Option<Duration>,
    pub max_redirects: u32,
    pub max_size: Option<u64>,
    /// `--split`: at most this many ranges of one file at once (1: never split).
    pub split: usize,
    /// `--split-min`: the smallest range a split makes.
    pub split_min: u64,
    /// How TLS and HTTP versions are set up for every client of the run.
    pub tls: TlsSettings,
    /// `--netrc`/`--netrc-file`: credentials per host, for the listed URL's origin only.
    pub netrc: Option<Netrc>,
    /// The report files that lie inside the output directory: no entry may take their names.
    pub reserved: Vec<Arc<Reserved>>,
    /// `--proxy` and `--noproxy`: where requests go, when not where the environment says.
    pub proxy: ProxySettings,
    /// The run's cookies, shared by every worker's client (`--load-cookies` fills it).
    pub cookies: Arc<Jar>,
    /// Logins: requests that carried a host's netrc credentials after a redirect led there
    /// from another host (said with `-v` at the end).
    pub logins: Arc<AtomicU64>,
}

/// `--proxy` and `--noproxy`, as given.
#[derive(Clone, Default)]
pub struct ProxySettings {
    pub url: Option<reqwest::Url>,
    pub noproxy: Option<String>,
}

impl std::fmt::Debug for ProxySettings {
    /// The proxy with its password hidden, as everywhere.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self
            .url
            .as_ref()
            .map(|u| crate::redact::redact_url(u.as_str()));
        f.debug_struct("ProxySettings")
            .field("url", &url)
            .field("noproxy", &self.noproxy)
            .finish()
    }
}

impl Policy {
    /// The report file that `target` (a path relative to the output directory), or a name it
    /// keeps beside it while it downloads (`NAME.part`, ...), would be, if any.
    pub fn reserved_by(&self, target: &Path) -> Option<&Arc<Reserved>> {
        self.reserved.iter().find(|r| {
            r.target == target
                || BESIDE.iter().any(|suffix| {
                    let mut beside = target.as_os_str().to_owned();
                    beside.push(suffix);
                    r.target == Path::new(&beside)
                })
        })
    }
}

/// `--cacert`, `-k`, `--http1.1`.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// A PEM file of CA certificates trusted as well as the system's.
    pub cacert: Option<PathBuf>,
    /// Certificates are not verified at all.
    pub insecure: bool,
    /// HTTP/2 is never negotiated.
    pub http1_only: bool,
}

/// Every setting a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where entries come from, in order.
    pub lists: Vec<ListSource>,
    pub mode: Mode,
    pub dry_run: bool,
    pub json: bool,
    pub quiet: bool,
    pub progress: ProgressStyle,
    /// Colour in the bars; off when `NO_COLOR` is set and non-empty.
    pub color: bool,
    pub fail_fast: bool,
    /// `--streams`: downloads a worker keeps in flight at once over HTTP/2.
    pub streams: usize,
    pub failed_out: Option<PathBuf>,
    /// `--save-cookies FILE`: the jar, written when the run ends.
    pub save_cookies: Option<PathBuf>,
    /// `--report FILE`: NDJSON results written there too.
    pub report: Option<PathBuf>,
    /// `--junit FILE`.
    pub junit: Option<PathBuf>,
    /// `--timeline FILE`, and the least its time axis shows (`--timeline-axis`).
    pub timeline: Option<PathBuf>,
    pub timeline_axis: Option<std::time::Duration>,
    /// `--per-host`: downloads in flight per origin.
    pub per_host: Option<NonZeroUsize>,
    /// `--limit-rate`: bytes/s for the whole run.
    pub limit_rate: Option<u64>,
    /// `--rate-per-host`: requests a second to one host.
    pub rate_per_host: Option<f64>,
    pub shard: Option<Shard>,
    /// `--checksums`: files (or http(s) URLs) of digests the entries are checked against.
    pub checksums: Vec<String>,
    /// What each download works with: the output directory, limits, retries, headers.
    pub download: Policy,
}

impl Config {
    pub fn from_cli(cli: Cli) -> anyhow::Result<Config> {
        let lists = lists(&cli.in_order)?;
        foreign_spellings(&cli, &lists)?;
        let mode = if cli.serial {
            Mode::Serial
        } else {
            Mode::Pool(cli.jobs)
        };
        if cli.timeout.is_zero() || cli.connect_timeout.is_zero() {
            bail!("--timeout and --connect-timeout must be more than 0 seconds");
        }
        if cli.max_time.is_some_and(|t| t.is_zero()) {
            bail!("--max-time must be more than 0 seconds");
        }
        let stderr_is_terminal = std::io::stderr().is_terminal();
        let progress = resolve_progress(
            cli.progress,
            cli.quiet || cli.dry_run,
            stderr_is_terminal,
            std::env::var_os("TERM").is_some_and(|v| v == "dumb"),
        );
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let warn = |message: String| eprintln!("fetchpool: {message}");
        let shard = shard(cli.shard, cli.shard_by, &warn)?;
        let netrc_path = netrc_path(cli.netrc, cli.netrc_file)?;
        let netrc = netrc_path
            .as_deref()
            .map(|path| Netrc::load(path, warn))
            .transpose()?;
        let headers = cli
            .headers
            .iter()
            .map(|h| parse_header(h).map_err(|why| anyhow::anyhow!("-H: {why}")))
            .collect::<anyhow::Result<_>>()?;
        let mut download = Policy {
            output_dir: cli.output_dir,
            skip_existing: cli.skip_existing,
            overwrite: cli.overwrite,
            update: cli.update,
            continues: cli.continues,
            retries: cli.retries,
            // The digest is computed only where something shows or checks it (a
            // `sha256=` in the list turns it on for that entry).
            digest: cli.json || cli.report.is_some(),
            verbose: cli.verbose,
            user_agent: cli
                .user_agent
                .unwrap_or_else(|| concat!("fetchpool/", env!("CARGO_PKG_VERSION")).to_string()),
            headers,
            connect_timeout: cli.connect_timeout,
            idle_timeout: cli.timeout,
            min_speed: cli.min_speed,
            max_time: cli.max_time,
            max_redirects: cli.max_redirects,
            max_size: cli.max_size,
            split: cli.split.get(),
            split_min: cli.split_min,
            tls: TlsSettings {
                cacert: cli.cacert,
                insecure: cli.insecure,
                http1_only: cli.http1_1,
            },
            netrc,
            reserved: Vec::new(),
            proxy: ProxySettings {
                url: cli
                    .proxy
                    .as_deref()
                    .map(crate::cli::parse_proxy)
                    .transpose()
                    .map_err(|why| anyhow::anyhow!("--proxy: {why}"))?,
                noproxy: cli.noproxy,
            },
            cookies: Arc::new(Jar::for_run(cli.load_cookies.as_deref())?),
            logins: Arc::default(),
        };
        let mut inputs: Vec<(&str, &Path)> = lists
            .iter()
            .filter_map(|l| match l {
                ListSource::File(path) => Some(("the list", path.as_path())),
                _ => None,
            })
            .collect();
        inputs.extend(
            cli.checksums
                .iter()
                .filter(|c| !c.starts_with("http://") && !c.starts_with("https://"))
                .map(|c| ("the --checksums file", Path::new(c))),
        );
        inputs.extend(netrc_path.as_deref().map(|p| ("the netrc file", p)));
        inputs.extend(
            download
                .tls
                .cacert
                .as_deref()
                .map(|p| ("the --cacert file", p)),
        );
        reports_replace_no_input(
            &[
                ("--report", &cli.report),
                ("--junit", &cli.junit),
                ("--timeline", &cli.timeline),
                ("--failed-out", &cli.failed_out),
                ("--save-cookies", &cli.save_cookies),
            ],
            &inputs,
        )?;
        download.reserved = reserved(
            &download.output_dir,
            [
                ("--report", &cli.report),
                ("--junit", &cli.junit),
                ("--timeline", &cli.timeline),
                ("--failed-out", &cli.failed_out),
                ("--save-cookies", &cli.save_cookies),
            ],
        );
        Ok(Config {
            lists,
            mode,
            dry_run: cli.dry_run,
            json: cli.json,
            quiet: cli.quiet,
            progress,
            color,
            fail_fast: cli.fail_fast,
            streams: cli.streams.get(),
            failed_out: cli.failed_out,
            save_cookies: cli.save_cookies,
            report: cli.report,
            junit: cli.junit,
            timeline: cli.timeline,
            timeline_axis: cli.timeline_axis,
            per_host: cli.per_host,
            limit_rate: cli.limit_rate,
            rate_per_host: cli.rate_per_host,
            shard,
            checksums: cli.checksums,
            download,
        })
    }

    /// What the list stage reads, and how.
    pub fn sources(&self) -> Sources<'_> {
        Sources {
            lists: &self.lists,
            shard: self.shard,
            count: self.progress != ProgressStyle::Hidden,
        }
    }

    /// Worker count for the summary and the JSON report (1 in serial mode).
    pub fn workers(&self) -> usize {
        match self.mode {
            Mode::Pool(n) => n.get(),
            Mode::Serial => 1,
        }
    }
}

/// Spellings of curl, wget or aria2 that mean something else here: stopped with what to type.
fn foreign_spellings(cli: &Cli, lists: &[ListSource]) -> anyhow::Result<()> {
    if let Some(what) = cli.foreign.what_to_type() {
        bail!("{what}");
    }
    // aria2's `-k 1M`: -k takes no value here, so the size became a list file that is not there.
    if cli.insecure
        && let Some(size) = lists.iter().find_map(|l| match l {
            ListSource::File(p) if !p.exists() => p.to_str().filter(|s| parse_size(s).is_ok()),
            _ => None,
        })
    {
        bail!(
            "cannot read {size}: -k is --insecure here; aria2's -k {size} (the smallest \
             piece) is --split-min {size}"
        );
    }
    Ok(())
}

/// `--netrc` / `--netrc-file FILE`, read; warnings go to `warn`.
fn netrc_path(default: bool, file: Option<PathBuf>) -> anyhow::Result<Option<PathBuf>> {
    Ok(match (default, file) {
        (_, Some(path)) => Some(path),
        (true, None) => Some(default_netrc()?),
        (false, None) => None,
    })
}

/// The shard this process handles: as given, or (`--shard auto`) from the scheduler's
/// variables, saying which it read.
fn shard(
    given: Option<ShardArg>,
    by: ShardBy,
    say: &dyn Fn(String),
) -> anyhow::Result<Option<Shard>> {
    let (k, n) = match given {
        None => return Ok(None),
        Some(ShardArg::Given { k, n }) => (k, n),
        Some(ShardArg::Auto { n }) => {
            let var = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
            let found = scheduler::from_env(n, &var).map_err(anyhow::Error::msg)?;
            say(found.said);
            (found.k, found.n)
        }
    };
    Ok(Some(Shard { k, n, by }))
}

/// The sources, in order: a URL given as an argument is an entry, `-` standard input (once),
/// anything else a list file.
fn lists(given: &[SourceArg]) -> anyhow::Result<Vec<ListSource>> {
    let mut lists = Vec::with_capacity(given.len());
    let mut urls = 0;
    for source in given {
        let list = match source {
            SourceArg::Given(arg) if arg == "-" => ListSource::Stdin,
            SourceArg::Given(arg) if is_url(arg) => {
                urls += 1;
                ListSource::Url {
                    url: arg.clone(),
                    place: urls,
                }
            }
            SourceArg::Given(arg) => ListSource::File(PathBuf::from(arg)),
            SourceArg::InputFile(path) if path.as_os_str() == "-" => ListSource::Stdin,
            SourceArg::InputFile(path) => ListSource::File(path.clone()),
        };
        if list == ListSource::Stdin && lists.contains(&ListSource::Stdin) {
            bail!("standard input ('-') can be a source only once");
        }
        lists.push(list);
    }
    if lists.is_empty() {
        bail!("nothing to download: give URLs, a list file, '-' for standard input, or -i FILE");
    }
    Ok(lists)
}

/// An argument that is a URL to download, not a list file.
fn is_url(arg: &str) -> bool {
    let lower = arg.get(..8).unwrap_or(arg).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// `--netrc` reads `$NETRC` if set, else `~/.netrc`, as curl does.
fn default_netrc() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("NETRC").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow::anyhow!("--netrc: HOME is not set (use --netrc-file FILE)"))?;
    Ok(PathBuf::from(home).join(".netrc"))
}

/// Bars need a terminal that can take escape codes; `always` insists even without one, but
/// `TERM=dumb` still turns bars into plain lines (bars are all cursor movement).
fn resolve_progress(when: ProgressWhen, silent: bool, terminal: bool, dumb: bool) -> ProgressStyle {
    if silent {
        return ProgressStyle::Hidden;
    }
    match when {
        ProgressWhen::Never => ProgressStyle::Hidden,
        _ if dumb => ProgressStyle::Plain,
        ProgressWhen::Always => ProgressStyle::Bars,
        ProgressWhen::Auto if terminal => ProgressStyle::Bars,
        ProgressWhen::Auto => ProgressStyle::Plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_resolution() {
        use ProgressStyle::*;
        use ProgressWhen::*;
        assert_eq!(resolve_progress(Auto, false, true, false), Bars);
        assert_eq!(resolve_progress(Auto, false, false, false), Plain);
        assert_eq!(resolve_progress(Auto, false, true, true), Plain);
        assert_eq!(resolve_progress(Always, false, false, false), Bars);
        assert_eq!(resolve_progress(Always, false, false, true), Plain);
        assert_eq!(resolve_progress(Never, false, true, false), Hidden);
        assert_eq!(resolve_progress(Auto, true, true, false), Hidden);
    }
}
