//! The settings every download follows ([`Policy`]), and how the flags make them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::cli::Cli;
use crate::cookies::Jar;
use crate::entry::parse_header;
use crate::naming::BESIDE;
use crate::netrc::Netrc;
use crate::staged::Reserved;

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

/// What every worker does with an entry, as the flags say: the download [`Policy`] (its
/// report files' reserved names are added once the inputs are checked).
pub(super) fn policy(cli: &Cli, netrc: Option<Netrc>) -> anyhow::Result<Policy> {
    let headers = cli
        .headers
        .iter()
        .map(|h| parse_header(h).map_err(|why| anyhow::anyhow!("-H: {why}")))
        .collect::<anyhow::Result<_>>()?;
    let proxy = cli
        .proxy
        .as_deref()
        .map(crate::cli::parse_proxy)
        .transpose()
        .map_err(|why| anyhow::anyhow!("--proxy: {why}"))?;
    let user_agent = cli.user_agent.clone();
    Ok(Policy {
        output_dir: cli.output_dir.clone(),
        skip_existing: cli.skip_existing,
        overwrite: cli.overwrite,
        update: cli.update,
        continues: cli.continues,
        retries: cli.retries,
        // The digest is computed only where something shows or checks it (a `sha256=` in the
        // list turns it on for that entry).
        digest: cli.json || cli.report.is_some(),
        verbose: cli.verbose,
        user_agent: user_agent
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
            cacert: cli.cacert.clone(),
            insecure: cli.insecure,
            http1_only: cli.http1_1,
        },
        netrc,
        reserved: Vec::new(),
        proxy: ProxySettings {
            url: proxy,
            noproxy: cli.noproxy.clone(),
        },
        cookies: Arc::new(Jar::for_run(cli.load_cookies.as_deref())?),
        logins: Arc::default(),
    })
}
