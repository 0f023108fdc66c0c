//! The command line: every flag, its help text, and the parsers for its values.
//!
//! Nothing here touches the network or the disk; `Config::from_cli` turns the parsed `Cli` into
//! resolved settings.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::list::{MAX_SHARDS, ShardBy};
use crate::units::parse_size;

/// Three real uses, for `--help` and the man page: what it does, and the command.
pub const EXAMPLES: [(&str, &str); 3] = [
    (
        "Download every URL in urls.txt with 8 workers into the current directory:",
        "fetchpool urls.txt",
    ),
    (
        "Read the list from a pipe, 16 workers, into ./downloads, keeping files already there:",
        "grep '\\.iso$' mirrors.txt | fetchpool - -j 16 -o downloads --skip-existing",
    ),
    (
        "Machine-readable results, one JSON object per line, for a CI step:",
        "fetchpool urls.txt --json --progress never > results.ndjson",
    ),
];

/// The environment variables fetchpool reads, for the man page's ENVIRONMENT section.
pub const ENVIRONMENT: [(&str, &str); 9] = [
    (
        "NETRC",
        "The netrc file --netrc reads, instead of ~/.netrc (HOME says where that is).",
    ),
    (
        "SSL_CERT_FILE, SSL_CERT_DIR",
        "A PEM bundle, or a directory of certificates, trusted instead of the system's store \
         (--cacert FILE adds to whichever is used).",
    ),
    (
        "https_proxy, http_proxy, all_proxy, no_proxy (and their upper-case spellings)",
        "Without --proxy: the proxy for https:// URLs, for http:// URLs, for either when the \
         other is not set, and the hosts reached without one (--noproxy replaces no_proxy), \
         as curl reads them. A proxy's password is never printed.",
    ),
    (
        "NO_COLOR",
        "When set and not empty, the progress display uses no colour.",
    ),
    (
        "TERM",
        "dumb: progress is plain lines, not a redrawn frame, even on a terminal.",
    ),
    (
        "CI",
        "Not read: whether progress is drawn depends on whether stderr is a terminal, which a CI \
         runner's is not (--progress always asks for it).",
    ),
    (
        "GITHUB_ACTIONS, GITHUB_STEP_SUMMARY",
        "When GITHUB_ACTIONS is true, each failed entry is also a workflow command on stderr \
         (an annotation on its list line), and a Markdown summary is appended to the file \
         GITHUB_STEP_SUMMARY names.",
    ),
    (
        "JOB_COMPLETION_INDEX; SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_MAX, \
         SLURM_ARRAY_TASK_STEP, SLURM_ARRAY_TASK_COUNT; AWS_BATCH_JOB_ARRAY_INDEX, \
         AWS_BATCH_JOB_ARRAY_SIZE; BATCH_TASK_INDEX, BATCH_TASK_COUNT; CI_NODE_INDEX, \
         CI_NODE_TOTAL",
        "Read by --shard auto only: the shard of a Kubernetes Indexed Job, a Slurm job array, \
         an AWS Batch array job, a Google Cloud Batch job or a GitLab parallel: job.",
    ),
    (
        "TMPDIR",
        "Where --junit and --timeline keep their scratch files when their FILE is a device or \
         a pipe.",
    ),
];

/// What each exit status means, for `--help` and the man page (`exit_code` holds the numbers
/// the program uses; a test there keeps the two in step).
pub const EXIT_STATUS: [(u8, &str); 4] = [
    (
        0,
        "every entry is ok, skipped or unchanged (an empty list too)",
    ),
    (
        1,
        "at least one entry failed or was not started, or a report file could not be written",
    ),
    (
        2,
        "bad usage, or LIST could not be read: nothing was downloaded",
    ),
    (
        130,
        "interrupted (Ctrl-C or SIGTERM); every entry is still reported",
    ),
];

fn after_help() -> String {
    let mut text = String::from("Examples:\n");
    for (what, command) in EXAMPLES {
        text.push_str(&format!("  {what}\n    {command}\n\n"));
    }
    text.push_str(
        "Spellings from curl and wget:\n  Accepted, as fetchpool does this anyway: -L/--location, \
         -f/--fail, -S/--show-error,\n  -Z/--parallel, -#/--progress-bar, --remote-name-all, \
         --create-dirs (curl); -nv, --show-progress (wget).\n  -C - (curl) is -c; -nc and \
         --no-clobber (wget) are --skip-existing. -s/--silent, --compressed\n  and -C OFFSET stop \
         with fetchpool's own spelling.\n\n",
    );
    text.push_str("Exit status:\n");
    for (code, meaning) in EXIT_STATUS {
        text.push_str(&format!("  {code:<4} {meaning}\n"));
    }
    text.trim_end().to_string()
}

/// Download a list of URLs with a fixed pool of worker threads.
///
/// Each SOURCE is a URL (http:// or https://), a list file, or '-' for standard input; several
/// form one list in the order given. A list has one URL per line, optionally followed by
/// `out=PATH`, `size=BYTES`, digests (`sha256=HEX`, ...) and `mirror=URL`; aria2's input files
/// and Metalink 4 files are read too. Blank lines and lines starting with `#` are ignored.
/// Results are reported in list order.
#[derive(Debug, Parser)]
#[command(
    name = "fetchpool",
    version,
    about,
    override_usage = "fetchpool [OPTIONS] <SOURCE>...\n       fetchpool [OPTIONS] -i <FILE>\n       \
                      fetchpool --generate <KIND>",
    after_help = after_help(),
    max_term_width = 100
)]
pub struct Cli {
    /// A URL, a list file, or '-' for standard input; several form one list, in order.
    #[arg(value_name = "SOURCE", required_unless_present = "input_file")]
    pub sources: Vec<String>,

    /// A list file ('-': standard input), repeatable; with the SOURCEs, in the order given.
    ///
    /// As wget -i and aria2c -i spell it.
    #[arg(short = 'i', long, value_name = "FILE")]
    pub input_file: Vec<PathBuf>,

    /// The sources in the order they were given, positional and `-i` alike (see
    /// [`Cli::parse_in_order`]).
    #[arg(skip)]
    pub in_order: Vec<SourceArg>,

    #[command(flatten)]
    pub foreign: Foreign,

    #[command(flatten)]
    pub habits: Habits,

    /// Worker threads in the pool (1..=1024).
    ///
    /// Also spelled --parallel-max (curl) and --max-concurrent-downloads (aria2).
    #[arg(short = 'j', long, value_name = "N", default_value = "8", value_parser = parse_jobs,
          alias = "parallel-max", alias = "max-concurrent-downloads")]
    pub jobs: NonZeroUsize,

    /// HTTP/2: downloads one worker keeps in flight at once on its connection (1: one at a time).
    ///
    /// A worker takes another entry while every download it has runs on a connection that
    /// carries several (HTTP/2, chosen in the TLS handshake), up to N of them and to the
    /// server's own stream limit. Over HTTP/1.1 (plain http:// always) a worker runs one download
    /// at a time, so -j bounds the connections to a host. Also spelled --http2-request-window
    /// (wget2).
    #[arg(long, value_name = "N", default_value = "100", value_parser = parse_count,
          alias = "http2-request-window", conflicts_with = "serial")]
    pub streams: NonZeroUsize,

    /// Download one at a time on the calling thread, in list order (no pool).
    ///
    /// Exists to compare timings honestly with the pool: the same download code runs, only the
    /// threads and the channel are gone.
    #[arg(long, conflicts_with = "jobs")]
    pub serial: bool,

    /// Where files go; created (with parents) if missing.
    ///
    /// Also spelled -P/--directory-prefix (wget) and -d/--dir (aria2). Not curl's -o FILE: a file
    /// is named after its URL, or by `out=NAME` after it in a list.
    #[arg(
        short = 'o',
        long,
        value_name = "DIR",
        default_value = ".",
        short_alias = 'P',
        alias = "directory-prefix",
        short_alias = 'd',
        alias = "dir"
    )]
    pub output_dir: PathBuf,

    /// Report a target that already exists as `skipped` instead of fetching it.
    ///
    /// Where the list gives `size=` or a digest, only a file that matches them is skipped; one
    /// that does not fails (`-u` instead keeps the files that match and fetches the others
    /// again). Also spelled --no-clobber (wget).
    #[arg(long, alias = "no-clobber")]
    pub skip_existing: bool,

    /// Replace existing targets.
    ///
    /// One of --overwrite, --skip-existing and -u says what becomes of a file that is there;
    /// two of them contradict each other and are refused. With -c, a complete target counts as
    /// done and --overwrite replaces only one that does not match the list's size= or digests.
    #[arg(long, conflicts_with_all = ["skip_existing", "update"])]
    pub overwrite: bool,

    /// Fetch an existing target again only if it changed on the server.
    ///
    /// Sends If-None-Match (the ETag kept with the file) and If-Modified-Since (the file's time,
    /// set from Last-Modified when it was downloaded). A 304 is reported `unchanged` and the file
    /// left alone; a 200 replaces it atomically. With size= or sha256= in the list, a file that
    /// matches them is `unchanged` without a request.
    ///
    /// Also spelled -N/--timestamping (wget) and --conditional-get (aria2).
    #[arg(
        short = 'u',
        long,
        conflicts_with = "skip_existing",
        short_alias = 'N',
        alias = "timestamping",
        alias = "conditional-get"
    )]
    pub update: bool,

    /// Continue an earlier run's `NAME.part` with a Range request; a complete target counts as `skipped`.
    ///
    /// The request is tied to the version the `.part` is of (If-Range with its ETag or date):
    /// a file that changed on the server, or a server that ignores ranges, is downloaded from the
    /// start again, never joined to the old bytes. A `.part` whose version is not known is
    /// fetched again whole, unless the entry has a digest (sha256= or any other, on its line or
    /// from --checksums) to check the whole file by. Interrupted and failed downloads
    /// keep their `.part` for the next run.
    #[arg(short = 'c', long = "continue")]
    pub continues: bool,

    /// Extra attempts after connect errors, timeouts, resets, truncated bodies and 408, 425, 429,
    /// 500, 502, 503, 504.
    ///
    /// A download that broke off is resumed where it stopped, if the server still has the same
    /// version of the file. Also spelled --retry (curl); not wget's --tries, which counts the first
    /// attempt too.
    ///
    /// Waits between attempts grow exponentially with full jitter; a `Retry-After` header (seconds
    /// or an HTTP date) is honoured, up to 60 seconds.
    #[arg(long, value_name = "N", default_value_t = 3, alias = "retry")]
    pub retries: u32,

    /// Limit for the TCP and TLS connect, in seconds.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub connect_timeout: Duration,

    /// Idle limit in seconds: an attempt fails when no byte arrives for this long.
    ///
    /// Not a limit on the whole download; see `--max-time` for that.
    ///
    /// Also spelled -T (wget).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds,
          short_alias = 'T')]
    pub timeout: Duration,

    /// An attempt fails when its average rate stays below RATE (bytes/s: 500K, 1.5M, 2MiB) for `--timeout`
    /// seconds.
    ///
    /// A server that drips a byte a second defeats any idle limit; this does not. 0 turns it off.
    #[arg(long, value_name = "RATE", default_value = "1K", value_parser = parse_size)]
    pub min_speed: u64,

    /// Total limit for one attempt, in seconds.
    ///
    /// Also spelled -m (curl).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, short_alias = 'm')]
    pub max_time: Option<Duration>,

    /// Redirects followed per URL, only to http and https.
    ///
    /// Also spelled --max-redirs (curl).
    #[arg(long, value_name = "N", default_value_t = 10, alias = "max-redirs")]
    pub max_redirects: u32,

    /// Extra request header, repeatable: -H 'Name: value'.
    ///
    /// Sent only to the origin (scheme, host, port) of the URL in the list: a redirect to another
    /// origin drops every -H header (a Cookie header given here too), as it drops the listed
    /// host's Authorization; the run's cookie jar sends a cookie only to the host it belongs to.
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,

    /// The User-Agent header.
    ///
    /// Also spelled -U (wget).
    #[arg(short = 'A', long, value_name = "UA", short_alias = 'U')]
    pub user_agent: Option<String>,

    /// Fail a download whose announced or received size passes BYTES (4096, 500K, 1.5M, 2GiB).
    ///
    /// Also spelled --max-filesize (curl).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, alias = "max-filesize")]
    pub max_size: Option<u64>,

    /// At most N downloads from one host (scheme, host and port) at once.
    ///
    /// Workers do not wait for a busy host: they go on with other hosts' entries meanwhile.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub per_host: Option<NonZeroUsize>,

    /// Total bandwidth cap for the whole run, in bytes/s (500K, 1.5M, 2MiB), shared by every worker.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub limit_rate: Option<u64>,

    /// At most N requests a second to one host (0.5 is one every two seconds), from all workers.
    ///
    /// Every request counts: each attempt, each redirect and each --split range. A host that
    /// answers 429 or 503 with Retry-After has its turns paused until the wait is over. Other
    /// hosts are not slowed: a worker sets aside an entry whose host must wait and goes on with
    /// the next.
    #[arg(long, value_name = "N", value_parser = parse_per_second)]
    pub rate_per_host: Option<f64>,

    /// Fetch a large file as up to N ranges at once, on workers that are idle.
    ///
    /// Only for a server that answers with `Accept-Ranges: bytes` and a length of at least two
    /// --split-min pieces. Each range is written at its offset into NAME.part; the file is
    /// verified and placed whole. A worker takes the list's next file before any range, so a
    /// long list still runs one file per worker.
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_count)]
    pub split: NonZeroUsize,

    /// The smallest range --split makes (512K, 2M, 1GiB).
    #[arg(long, value_name = "SIZE", default_value = "2M", value_parser = parse_split_min)]
    pub split_min: u64,

    /// Check files against a checksums file (a path, or an http(s) URL fetched first), repeatable.
    ///
    /// What sha256sum, sha512sum, sha1sum, md5sum and b2sum write (HEX  NAME, HEX *NAME), or BSD
    /// tags (SHA256 (NAME) = HEX), clearsigned or not (the signature is not checked). An entry is
    /// matched by its target path relative to the output directory (a leading ./ ignored); a file
    /// that does not match is never placed, and entries no checksums file names are downloaded
    /// as usual and counted as unverified.
    #[arg(long, value_name = "FILE|URL")]
    pub checksums: Vec<String>,

    /// Handle only shard K of N (0-based): the entries whose index i has i % N == K; `auto`:
    /// the shard the scheduler that started fetchpool gives it.
    ///
    /// Splits one list across machines: shards are disjoint, together they cover the list, and
    /// the report keeps each entry's index and line in the full list. `auto` reads a Kubernetes
    /// Indexed Job (JOB_COMPLETION_INDEX; Kubernetes does not export the count, so give it as
    /// auto/N), a Slurm job array (SLURM_ARRAY_TASK_ID, _MIN, _MAX, _STEP, _COUNT), an AWS Batch
    /// array job (AWS_BATCH_JOB_ARRAY_INDEX, _SIZE), Google Cloud Batch (BATCH_TASK_INDEX,
    /// BATCH_TASK_COUNT) or GitLab's parallel: (CI_NODE_INDEX, 1-based, and CI_NODE_TOTAL), says
    /// on stderr what it read, and is exit 2 when none is set.
    #[arg(long, value_name = "K/N|auto[/N]", value_parser = parse_shard)]
    pub shard: Option<ShardArg>,

    /// What decides an entry's shard: its place in the list (index), or a stable hash of its
    /// target name (name), which editing the list does not change.
    #[arg(
        long,
        value_name = "BY",
        value_enum,
        default_value_t,
        requires = "shard"
    )]
    pub shard_by: ShardBy,

    /// Print a man page or a shell completion script to stdout, then exit.
    #[arg(long, value_name = "KIND", value_enum, exclusive = true)]
    pub generate: Option<Generate>,

    /// After the first failure start nothing new; running downloads finish, the rest are
    /// reported `not-started`.
    #[arg(long)]
    pub fail_fast: bool,

    /// Write every entry that failed or was not started to FILE as a list, so that
    /// `fetchpool FILE` retries just those (`ok`, `skipped` and `unchanged` are not written).
    #[arg(long, value_name = "FILE")]
    pub failed_out: Option<PathBuf>,

    /// Read the list, resolve every target name and print the plan; no network, no files.
    #[arg(long)]
    pub dry_run: bool,

    /// Print results as NDJSON on stdout: one object per entry, then a summary.
    #[arg(long)]
    pub json: bool,

    /// Write the NDJSON results to FILE as well, while stdout keeps the text report.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Write a JUnit XML report to FILE: a testcase per entry, failures with their reason.
    ///
    /// Jenkins, GitLab and the GitHub test-report actions read it. Not-started entries are
    /// skipped testcases; entries skipped because the file exists pass.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Draw the run as an SVG picture in FILE: a row per worker, a bar per download in time.
    ///
    /// Bars are coloured by how each download ended; retries and the waits between them show
    /// inside a bar, and pieces of `--split` downloads on the rows of the workers that fetched
    /// them. Hovering a bar names its URL, file, size, status, attempts and time. Written when
    /// the run ends, after Ctrl-C too.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,

    /// Draw `--timeline`'s time axis to at least SECS, so pictures of two runs (`--serial` and
    /// `-j 8`) share one scale.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, requires = "timeline")]
    pub timeline_axis: Option<Duration>,

    /// Trust the CA certificates in this PEM file as well as the system's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Do not verify TLS certificates (a warning on stderr says so).
    ///
    /// Also spelled --no-check-certificate (wget). aria2's -k is --split-min here.
    #[arg(short = 'k', long, alias = "no-check-certificate")]
    pub insecure: bool,

    /// Send every request through this proxy: http://, https://, socks5:// or socks5h://
    /// (socks5h: the proxy resolves host names), with user:password@ when it asks for them.
    ///
    /// Without it, https_proxy, http_proxy and all_proxy (and their upper-case spellings) are
    /// read as curl reads them, with no_proxy. The proxy's password is never printed. Also
    /// spelled --all-proxy (aria2).
    #[arg(short = 'x', long, value_name = "URL", alias = "all-proxy")]
    pub proxy: Option<String>,

    /// Hosts reached without a proxy, in place of no_proxy: names separated by commas (a name
    /// covers its subdomains), IP addresses, CIDR ranges, or * for every host.
    #[arg(long, value_name = "LIST")]
    pub noproxy: Option<String>,

    /// Read cookies from FILE before the run: the cookies.txt format curl, wget and browsers'
    /// export tools write (#HttpOnly_ lines included).
    ///
    /// Every worker shares one jar for the run, whether or not it was loaded: cookies servers
    /// set are sent back by RFC 6265's rules (domain, path, Secure, expiry), across redirects
    /// only to the hosts they belong to. A cookie's value is never printed.
    #[arg(long, value_name = "FILE")]
    pub load_cookies: Option<PathBuf>,

    /// Write the run's cookies to FILE when it ends, in the same format, mode 0600, session
    /// cookies included (wget's --keep-session-cookies). Also spelled --cookie-jar (curl).
    #[arg(long, value_name = "FILE", alias = "cookie-jar")]
    pub save_cookies: Option<PathBuf>,

    /// Credentials per host from ~/.netrc (or $NETRC), as curl reads them.
    ///
    /// Used for the host a line names, and after a redirect to another host only that host's
    /// own machine entry, there alone (a login host's, as curl -n does); never printed.
    /// Credentials in the URL itself win.
    #[arg(long, conflicts_with = "netrc_file")]
    pub netrc: bool,

    /// Credentials per host from FILE, as --netrc reads ~/.netrc.
    #[arg(long, value_name = "FILE")]
    pub netrc_file: Option<PathBuf>,

    /// Never negotiate HTTP/2 (by default it is used over TLS when the server offers it).
    #[arg(long = "http1.1")]
    pub http1_1: bool,

    /// Progress bars on stderr: `auto` draws them only when stderr is a terminal.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ProgressWhen::Auto)]
    pub progress: ProgressWhen,

    /// Print only failures on stdout; no progress, no summary.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log every request and response on stderr, tagged with the worker's name.
    #[arg(short, long)]
    pub verbose: bool,
}

/// What `--generate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// A man page (roff), for `man -l -` or a man directory.
    Man,
    CompleteBash,
    CompleteZsh,
    CompleteFish,
    CompletePowershell,
}

/// Spellings that curl, wget or aria2 give a meaning fetchpool has under another name (or not at
/// all): accepted only to answer them with what to type instead (see [`Foreign::what_to_type`]).
#[derive(Debug, Default, clap::Args)]
pub struct Foreign {
    /// curl's -O and --remote-name, wget's -O FILE and --output-document.
    #[arg(
        short = 'O',
        long = "remote-name",
        alias = "output-document",
        hide = true
    )]
    remote_name: bool,
    /// wget's -t/--tries, aria2's --max-tries: every attempt, the first one too.
    #[arg(
        short = 't',
        long = "tries",
        alias = "max-tries",
        hide = true,
        value_name = "N"
    )]
    tries: Option<String>,
    /// aria2's --max-connection-per-server (its -x N is answered by --proxy's parser).
    #[arg(long = "max-connection-per-server", hide = true, value_name = "N")]
    connections: Option<String>,
    /// wget's -w/--wait.
    #[arg(short = 'w', long = "wait", hide = true, value_name = "SECS")]
    wait: Option<String>,
    /// curl's -s/--silent.
    #[arg(short = 's', long = "silent", hide = true)]
    silent: bool,
    /// curl's --compressed.
    #[arg(long = "compressed", hide = true)]
    compressed: bool,
    /// curl's -C/--continue-at OFFSET (`-C -` is fetchpool's -c, taken in [`Cli::parse_in_order`]).
    #[arg(short = 'C', long = "continue-at", hide = true, value_name = "OFFSET")]
    pub continue_at: Option<String>,
}

/// What curl and wget users type from habit for what fetchpool does anyway: accepted, and
/// nothing more (the long help says so).
#[derive(Debug, Default, clap::Args)]
pub struct Habits {
    /// curl's -L/--location: redirects are followed.
    #[arg(short = 'L', long = "location", hide = true)]
    location: bool,
    /// curl's -f/--fail: an HTTP error is a failed entry, and its body is never saved.
    #[arg(short = 'f', long = "fail", hide = true)]
    fail: bool,
    /// curl's -S/--show-error: errors are always shown.
    #[arg(short = 'S', long = "show-error", hide = true)]
    show_error: bool,
    /// curl's -Z/--parallel: fetchpool is parallel.
    #[arg(short = 'Z', long = "parallel", hide = true)]
    parallel: bool,
    /// curl's -#/--progress-bar: a terminal shows progress bars.
    #[arg(short = '#', long = "progress-bar", hide = true)]
    progress_bar: bool,
    /// curl's --remote-name-all: files are named after their URLs.
    #[arg(long = "remote-name-all", hide = true)]
    remote_name_all: bool,
    /// curl's --create-dirs: directories are made as needed.
    #[arg(long = "create-dirs", hide = true)]
    create_dirs: bool,
    /// wget's -nv/--no-verbose: one line a file is the default.
    #[arg(long = "no-verbose", hide = true)]
    no_verbose: bool,
    /// wget's --show-progress: a terminal shows progress bars.
    #[arg(long = "show-progress", hide = true)]
    show_progress: bool,
}

impl Foreign {
    /// What fetchpool calls the spelling given, if one of these was.
    pub fn what_to_type(&self) -> Option<String> {
        if self.remote_name {
            return Some(
                "fetchpool always names a file after its URL, as curl -O does: leave -O out \
                 (wget's -O FILE is out=FILE after the URL in a list; -o is the directory files \
                 go to)"
                    .into(),
            );
        }
        if let Some(tries) = &self.tries {
            let retries = tries
                .trim()
                .parse::<u32>()
                .map_or_else(|_| "N-1".to_string(), |n| n.saturating_sub(1).to_string());
            return Some(format!(
                "--tries counts every attempt; fetchpool's --retries counts the ones after the \
                 first: --tries {tries} is --retries {retries}"
            ));
        }
        if self.connections.is_some() {
            return Some(
                "aria2's -x: fetchpool fetches one file over several connections with --split N"
                    .into(),
            );
        }
        if self.silent {
            return Some(
                "curl's -s: fetchpool's -q prints only failures and no progress (--progress never \
                 keeps the report and drops the progress)"
                    .into(),
            );
        }
        if self.compressed {
            return Some(
                "fetchpool saves what the server sends as it is sent and asks for no compression: \
                 leave --compressed out"
                    .into(),
            );
        }
        if let Some(offset) = self.continue_at.as_deref().filter(|o| *o != "-") {
            return Some(format!(
                "curl's -C {offset}: fetchpool continues where a NAME.part left off with -c (curl's \
                 -C -), tied to the version it is of"
            ));
        }
        if self.wait.is_some() {
            return Some(
                "wget's --wait: fetchpool spaces the requests to each host with --rate-per-host N \
                 (requests a second)"
                    .into(),
            );
        }
        None
    }
}

/// A source as the command line gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceArg {
    /// A positional SOURCE: a URL, a list file or '-'.
    Given(String),
    /// `-i FILE`: a list file (or '-').
    InputFile(PathBuf),
}

impl Cli {
    /// Parses the command line (exiting with clap's message on an error, as `parse` does), and
    /// puts the sources in the order they were given: clap keeps each argument's values apart.
    pub fn parse_in_order() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().get_matches_from(wget_spellings(std::env::args_os()));
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        // curl's -C - : continue where the file left off.
        if cli.foreign.continue_at.as_deref() == Some("-") {
            cli.continues = true;
        }
        let mut sources: Vec<(usize, SourceArg)> = Vec::new();
        if let Some(indices) = matches.indices_of("sources") {
            let given = cli.sources.iter().cloned().map(SourceArg::Given);
            sources.extend(indices.zip(given));
        }
        if let Some(indices) = matches.indices_of("input_file") {
            let files = cli.input_file.iter().cloned().map(SourceArg::InputFile);
            sources.extend(indices.zip(files));
        }
        sources.sort_by_key(|&(at, _)| at);
        cli.in_order = sources.into_iter().map(|(_, source)| source).collect();
        cli
    }
}

/// wget's two-letter options after one dash, which clap would read as two letters: `-nc`
/// (--no-clobber: fetchpool's --skip-existing) and `-nv` (--no-verbose). Only before a `--`.
fn wget_spellings(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut options = true;
    args.map(|arg| {
        if arg == "--" {
            options = false;
        }
        match arg.to_str() {
            Some("-nc") if options => "--no-clobber".into(),
            Some("-nv") if options => "--no-verbose".into(),
            _ => arg,
        }
    })
    .collect()
}

/// When progress is drawn on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressWhen {
    /// Bars only when stderr is a terminal (and TERM is not `dumb`); plain lines otherwise.
    Auto,
    /// Bars even when stderr is not a terminal (plain lines with TERM=dumb).
    Always,
    /// No progress at all.
    Never,
}

fn parse_count(s: &str) -> Result<NonZeroUsize, String> {
    s.trim()
        .parse::<NonZeroUsize>()
        .map_err(|_| format!("'{s}' is not a whole number of at least 1"))
}

/// A proxy URL: http, https, socks5 or socks5h, with a host. Never echoes what it was given (it
/// may hold a password), which is why it is read here and not by clap (whose error quotes the
/// value); a bare number is aria2's `-x N`.
pub fn parse_proxy(s: &str) -> Result<reqwest::Url, String> {
    if !s.is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "a number is not a proxy: aria2's -x N is --split N here (curl's -x URL is --proxy)"
                .into(),
        );
    }
    // curl takes host:port alone as an HTTP proxy.
    let with_scheme = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| {
        format!("not a proxy URL ({e}; the text is not shown: it may hold a password)")
    })?;
    match url.scheme() {
        "http" | "https" | "socks5" | "socks5h" => {}
        other => {
            return Err(format!(
                "unsupported proxy scheme '{other}' (http, https, socks5 or socks5h)"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the proxy URL has no host".into());
    }
    Ok(url)
}

fn parse_split_min(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err("a range must hold at least one byte".into()),
        n => Ok(n),
    }
}

fn parse_rate(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err("a rate of 0 would never finish".into()),
        rate => Ok(rate),
    }
}

fn parse_per_second(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        // At least one request a day, at most a million a second: a turn Duration can hold.
        Ok(n) if (1.0 / 86_400.0..=1e6).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' is not a number of requests a second from one a day (0.0000116) to a \
             million (for example 5, or 0.5 for one every two seconds)"
        )),
    }
}

/// `--shard` as given: a shard, or `auto` with the count, if given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    Given { k: usize, n: usize },
    Auto { n: Option<usize> },
}

fn parse_shard(s: &str) -> Result<ShardArg, String> {
    let bad = || {
        format!("'{s}' is not a shard: use K/N with 0 <= K < N (for example 0/4), auto, or auto/N")
    };
    let (k, n) = match s.trim().split_once('/') {
        Some((k, n)) => (k, Some(n)),
        None => (s.trim(), None),
    };
    let n = match n {
        None => None,
        Some(n) => Some(
            n.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(bad)?,
        ),
    };
    if n.is_some_and(|n| n > MAX_SHARDS) {
        return Err(format!(
            "'{s}': more shards than {MAX_SHARDS} (more than any scheduler starts)"
        ));
    }
    if k.trim() == "auto" {
        return Ok(ShardArg::Auto { n });
    }
    let k: usize = k.trim().parse().map_err(|_| bad())?;
    match n {
        Some(n) if k < n => Ok(ShardArg::Given { k, n }),
        _ => Err(bad()),
    }
}

fn parse_jobs(s: &str) -> Result<NonZeroUsize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number"))?;
    match NonZeroUsize::new(n) {
        Some(n) if n.get() <= 1024 => Ok(n),
        _ => Err(format!("{n} is out of range: use 1 to 1024 workers")),
    }
}

/// Seconds, whole or fractional: `30`, `0.5`.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("'{s}' is not a usable number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::Shard;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    #[test]
    fn shards_past_any_scheduler_s_are_refused() {
        assert_eq!(
            parse_shard("0/10000000"),
            Ok(ShardArg::Given {
                k: 0,
                n: 10_000_000
            })
        );
        for absurd in [
            "0/10000001",
            "auto/18446744073709551615",
            "1/99999999999999999999",
        ] {
            assert!(parse_shard(absurd).is_err(), "{absurd}");
        }
    }

    #[test]
    fn shards_rates_counts() {
        assert_eq!(parse_shard("0/4"), Ok(ShardArg::Given { k: 0, n: 4 }));
        assert_eq!(parse_shard(" 3 / 4"), Ok(ShardArg::Given { k: 3, n: 4 }));
        assert_eq!(parse_shard("auto"), Ok(ShardArg::Auto { n: None }));
        assert_eq!(parse_shard("auto/8"), Ok(ShardArg::Auto { n: Some(8) }));
        for bad in [
            "4/4", "0/0", "1", "a/b", "auto/0", "auto/x", "auto/", "0/", "/4", "",
        ] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        let s = Shard {
            k: 1,
            n: 3,
            by: ShardBy::Index,
        };
        assert_eq!(
            (0..9).filter(|&i| s.includes(i, b"")).collect::<Vec<_>>(),
            [1, 4, 7]
        );
        assert_eq!(parse_rate("2M"), Ok(2 << 20));
        assert!(parse_rate("0").is_err());
        assert_eq!(parse_count("2").unwrap().get(), 2);
        assert!(parse_count("0").is_err());
    }

    #[test]
    fn generate_needs_no_list() {
        let cli = Cli::try_parse_from(["fetchpool", "--generate", "man"]).unwrap();
        assert_eq!(cli.generate, Some(Generate::Man));
        assert!(Cli::try_parse_from(["fetchpool"]).is_err());
        assert!(Cli::try_parse_from(["fetchpool", "l", "--generate", "man"]).is_err());
    }

    #[test]
    fn jobs_range() {
        assert_eq!(parse_jobs("8").unwrap().get(), 8);
        assert_eq!(parse_jobs("1024").unwrap().get(), 1024);
        assert!(parse_jobs("0").is_err());
        assert!(parse_jobs("1025").is_err());
        assert!(parse_jobs("x").is_err());
    }

    #[test]
    fn serial_conflicts_with_jobs() {
        let err = Cli::try_parse_from(["fetchpool", "l", "--serial", "-j", "2"]).unwrap_err();

        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(Cli::try_parse_from(["fetchpool", "l", "--serial"]).is_ok());
    }
}
