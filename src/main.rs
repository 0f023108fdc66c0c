//! fetchpool: download a list of URLs with a fixed pool of worker threads and report what happened
//! to each, in list order.
//!
//! The pipeline, one module per stage: `cli` → `config` → `list` (+ `naming`) → `pool` (+
//! `download`, `progress`) → `report` → `exit_code`.

mod cli;
mod config;
mod download;
mod exit_code;
mod interrupt;
mod list;
mod naming;
mod pool;
mod progress;
mod report;
mod throttle;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory, Parser};
use clap_complete::Shell;

use crate::cli::{Cli, Generate};
use crate::config::Config;
use crate::list::Item;
use crate::progress::Progress;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            // The one place a fatal error is printed: once, with its whole cause chain.
            let _ = writeln!(std::io::stderr(), "fetchpool: {err:#}");
            ExitCode::from(exit_code::USAGE)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Some(kind) = cli.generate {
        generate(kind)?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = Config::from_cli(cli)?;
    let entries = list::open(&config)?;
    if config.dry_run {
        return Ok(dry_run(entries, &config));
    }
    std::fs::create_dir_all(&config.output_dir).with_context(|| {
        format!(
            "cannot create the output directory {}",
            config.output_dir.display()
        )
    })?;
    interrupt::install()?;
    let progress = Progress::new(&config);
    let summary = pool::run(entries, &config, &progress)?;
    Ok(exit_code::from(&summary.tally))
}

/// `--generate`: a man page or a completion script on stdout, as ripgrep does.
fn generate(kind: Generate) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    let shell = match kind {
        Generate::Man => {
            return clap_mangen::Man::new(cmd)
                .render(&mut out)
                .context("cannot write the man page");
        }
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
        Generate::CompletePowershell => Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut cmd, "fetchpool", &mut out);
    Ok(())
}

/// `--dry-run`: the plan, entry by entry, with no request made and no file touched. Bad lines
/// are shown as they would be reported, and make the exit status 1 as a real run would.
fn dry_run(entries: list::Entries, config: &Config) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let mut bad = 0;
    for item in entries {
        let line = match &item {
            Item::Entry(entry) => {
                let url = report::redact_url(entry.url.as_str());
                let path = download::display_path(config, &entry.target);
                report::plan_line(
                    config.json,
                    entry.index,
                    entry.line,
                    &url,
                    Some(&path),
                    None,
                )
            }
            Item::Bad(b) => {
                bad += 1;
                let url = report::redact_url(&b.text);
                report::plan_line(config.json, b.index, b.line, &url, None, Some(&b.error))
            }
        };
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    ExitCode::from(if bad > 0 {
        exit_code::FAILURE
    } else {
        exit_code::SUCCESS
    })
}
