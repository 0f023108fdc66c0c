//! `--generate`: the man page and the shell completion scripts, printed to stdout as ripgrep
//! does, all made from the one command-line definition in `cli`.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use crate::cli::{Cli, ENVIRONMENT, EXAMPLES, EXIT_STATUS, Generate};

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
/// (not reflowed into the prose, as clap_mangen's catch-all EXTRA section would), ENVIRONMENT
/// and EXIT STATUS. The help's `code` spans are set in bold, not shown as backticks.
fn man(out: &mut dyn Write) -> io::Result<()> {
    let mut page = Vec::new();
    render_man(&mut page)?;
    out.write_all(&unquote(&String::from_utf8_lossy(&page)).into_bytes())
}

fn render_man(out: &mut dyn Write) -> io::Result<()> {
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
    roff.control("SH", ["ENVIRONMENT"]);
    for (names, meaning) in ENVIRONMENT {
        roff.control("TP", []);
        roff.text([bold(names)]);
        roff.text([roman(meaning)]);
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

/// Roff with each `span` of the help's text in bold (`\fB...\fR`) and no backtick left: a
/// backtick with no partner on its line is dropped.
fn unquote(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for line in page.split_inclusive('\n') {
        let spans = line.matches('`').count();
        let mut open = false;
        for (i, part) in line.split('`').enumerate() {
            if i > 0 {
                let paired = (i - 1) / 2 < spans / 2;
                if paired {
                    out.push_str(if open { "\\fR" } else { "\\fB" });
                    open = !open;
                }
            }
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unquote;

    #[test]
    fn code_spans_are_bold_and_no_backtick_is_left() {
        assert_eq!(
            unquote("a `out=PATH` and `size=` here\n"),
            "a \\fBout=PATH\\fR and \\fBsize=\\fR here\n"
        );
        assert_eq!(
            unquote("odd ` one\nnext `x`\n"),
            "odd  one\nnext \\fBx\\fR\n"
        );
    }
}
