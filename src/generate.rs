//! `--generate`: the man page and the shell completion scripts, printed to stdout as ripgrep
//! does, all made from the one command-line definition in `cli`.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use crate::cli::{Cli, EXAMPLES, EXIT_STATUS, Generate};

/// Writes what `kind` asks for to `out`.
pub fn write(kind: Generate, out: &mut dyn Write) -> io::Result<()> {
    let shell = match kind {
        Generate::Man => return man(out),
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
        Generate::CompletePowershell => Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut Cli::command(), "fetchpool", out);
    Ok(())
}

/// The man page: clap_mangen's sections, then EXAMPLES with each command on a line of its own
/// (not reflowed into the prose, as clap_mangen's catch-all EXTRA section would) and EXIT STATUS.
fn man(out: &mut dyn Write) -> io::Result<()> {
    let man = Man::new(Cli::command());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    let mut roff = Roff::new();
    roff.control("SH", ["EXAMPLES"]);
    for (what, command) in EXAMPLES {
        roff.control("PP", []);
        roff.text([roman(what)]);
        roff.control("RS", ["4"]);
        roff.control("nf", []);
        roff.text([bold(command)]);
        roff.control("fi", []);
        roff.control("RE", []);
    }
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_STATUS {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(meaning)]);
    }
    roff.to_writer(out)?;
    man.render_version_section(out)
}
