//! Resolved settings: what the flags mean once checked against each other and the environment.

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::cli::{Cli, ProgressWhen, ShardArg, SourceArg};
use crate::list::{ListSource, Shard, ShardBy, Sources};
use crate::netrc::Netrc;
use crate::progress::ProgressStyle;
use crate::staged::{reports_replace_no_input, reserved};
use crate::units::parse_size;

mod policy;
mod scheduler;

use policy::policy;
pub use policy::{Policy, ProxySettings, TlsSettings};

/// How entries are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A pool of this many worker threads fed through a bounded channel.
    Pool(NonZeroUsize),
    /// One entry at a time on the calling thread.
    Serial,
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
        let progress = resolve_progress(
            cli.progress,
            cli.quiet || cli.dry_run,
            std::io::stderr().is_terminal(),
            std::env::var_os("TERM").is_some_and(|v| v == "dumb"),
        );
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let warn = |message: String| eprintln!("fetchpool: {message}");
        let shard = shard(cli.shard, cli.shard_by, &warn)?;
        let netrc_path = netrc_path(cli.netrc, cli.netrc_file.clone())?;
        let netrc = netrc_path
            .as_deref()
            .map(|path| Netrc::load(path, warn))
            .transpose()?;
        let mut download = policy(&cli, netrc)?;
        let inputs = inputs(&lists, &cli, netrc_path.as_deref());
        reports_replace_no_input(&run_files(&cli), &inputs)?;
        download.reserved = reserved(&download.output_dir, run_files(&cli));
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

/// The files a run reads (its list files, local checksums files, the netrc file, the
/// `--cacert` file), by what each is to the run: none may be replaced by a file it writes.
fn inputs<'a>(
    lists: &'a [ListSource],
    cli: &'a Cli,
    netrc: Option<&'a Path>,
) -> Vec<(&'static str, &'a Path)> {
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
    inputs.extend(netrc.map(|p| ("the netrc file", p)));
    inputs.extend(cli.cacert.as_deref().map(|p| ("the --cacert file", p)));
    inputs
}

/// The files a run writes besides its downloads (its sinks), by the flag that names each.
fn run_files(cli: &Cli) -> [(&'static str, &Option<PathBuf>); 5] {
    [
        ("--report", &cli.report),
        ("--junit", &cli.junit),
        ("--timeline", &cli.timeline),
        ("--failed-out", &cli.failed_out),
        ("--save-cookies", &cli.save_cookies),
    ]
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
