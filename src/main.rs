//! fetchpool: download a list of URLs with a fixed pool of worker threads and report what happened
//! to each, in list order.
//!
//! The pipeline, one module per stage: `cli` → `config` → `list` (+ `naming`) → `pool` (+
//! `download`, `progress`) → `report` → `exit_code`; `outcome` is the data they hand on.

mod cli;
mod config;
mod cookies;
mod download;
mod entry;
mod exit_code;
mod generate;
#[cfg(test)]
mod hostile;
mod interrupt;
mod list;
mod naming;
mod netrc;
mod outcome;
mod pool;
mod printable;
mod progress;
mod redact;
mod report;
mod staged;
mod throttle;
mod timeline;
mod units;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::Cli;
use crate::config::Config;
use crate::progress::Progress;
use crate::report::Reporter;
use crate::timeline::Timeline;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            // The one place a fatal error is printed: once, with its whole cause chain.
            let message = format!("{err:#}");
            let _ = writeln!(
                std::io::stderr(),
                "fetchpool: {}",
                printable::printable(&message)
            );
            ExitCode::from(exit_code::USAGE)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse_in_order();
    if let Some(kind) = cli.generate {
        return match generate::write(kind, &mut std::io::stdout().lock()) {
            // `fetchpool --generate man | head` is not an error.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(anyhow::Error::new(e).context("cannot write to stdout"))
            }
            _ => Ok(ExitCode::SUCCESS),
        };
    }
    let config = Config::from_cli(cli)?;
    // From the first moment of a run, Ctrl-C and SIGTERM stop it as they would later: whatever
    // it is doing (fetching a checksums file, reading the list) ends, every entry is reported
    // (not started), every report file is written, and it exits 130.
    if !config.dry_run {
        interrupt::install(exit_code::INTERRUPTED)?;
    }
    // A dry run draws nothing. Before anything is fetched (a checksums file too), a FILE that
    // cannot be written stops the run; it is made only just before the downloads start, so
    // Ctrl-C while a checksums file is fetched leaves nothing of it behind.
    let timeline = config.timeline.as_deref().filter(|_| !config.dry_run);
    if let Some(path) = timeline {
        Timeline::check(path)?;
    }
    report::refuse_clashes(&config)?;
    let fetch =
        |url: &reqwest::Url| download::fetch_small(&config.download, url, list::sums::MAX_LEN);
    // Read before the list, whose entries they are matched to; a dry run fetches nothing.
    let sums = match list::sums::load(
        &config.checksums,
        (!config.dry_run).then_some(&fetch as list::sums::Fetch),
        |note| eprintln!("fetchpool: {}", printable::printable(&note)),
    ) {
        // Cut short by a signal: nothing will be downloaded, and every entry is reported so.
        Err(_) if interrupt::requested() => list::sums::Sums::default(),
        sums => sums?,
    };
    let entries = list::open(&config.sources())?.with_sums(sums);
    if config.dry_run {
        let planner = download::Planner::new(&config.download)?;
        let failing = report::plan(entries, &config, |entry| planner.intent(entry));
        return Ok(exit_code::from_plan(failing));
    }
    if config.download.tls.insecure {
        eprintln!(
            "fetchpool: warning: --insecure: TLS certificates are not checked; anyone on the way \
             to the servers can read and change what is downloaded"
        );
    }
    let progress = Progress::new(config.progress, config.color);
    let reporter = Reporter::new(&config, &progress)?;
    let timeline = timeline
        .map(|path| Timeline::create(path, config.timeline_axis, &config.download.reserved))
        .transpose()?;
    let summary = pool::run(entries, &config, &progress, reporter, timeline)?;
    let policy = &config.download;
    if policy.verbose {
        let logins = policy.logins.load(std::sync::atomic::Ordering::Relaxed);
        let s = if logins == 1 { "" } else { "s" };
        progress.println(&format!(
            "fetchpool: {logins} login{s} (a host's netrc credentials sent after a redirect led \
             there from another host)"
        ));
    }
    Ok(exit_code::from(&summary.tally))
}
