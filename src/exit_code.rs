//! The four exit statuses, from what the run reported.

use std::process::ExitCode;

use crate::outcome::Tally;

/// Every entry is `ok` or `skipped` (an empty list too).
pub const SUCCESS: u8 = 0;
/// At least one entry failed or was not started, or a report file could not be written.
pub const FAILURE: u8 = 1;
/// Bad usage, or LIST could not be read: nothing was downloaded.
pub const USAGE: u8 = 2;
/// Interrupted by SIGINT or SIGTERM.
pub const INTERRUPTED: u8 = 130;

/// The exit status a finished (or interrupted) run ends with.
pub fn code(tally: &Tally) -> u8 {
    if tally.interrupted {
        INTERRUPTED
    } else if tally.failed > 0 || tally.not_started > 0 || tally.report_lost {
        FAILURE
    } else {
        SUCCESS
    }
}

pub fn from(tally: &Tally) -> ExitCode {
    ExitCode::from(code(tally))
}

/// A dry run fails as the real run would: when the list has invalid lines or entries the run
/// would fail before any request (an existing target without a flag that says what to do).
pub fn from_plan(failing: usize) -> ExitCode {
    ExitCode::from(if failing > 0 { FAILURE } else { SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let mut t = Tally::default();
        assert_eq!(code(&t), 0);
        t.ok = 3;
        t.skipped = 1;
        assert_eq!(code(&t), 0);
        t.not_started = 1;
        assert_eq!(code(&t), 1);
        t.not_started = 0;
        t.failed = 1;
        assert_eq!(code(&t), 1);
        t.failed = 0;
        t.report_lost = true;
        assert_eq!(code(&t), 1, "a report that could not be written");
        t.interrupted = true;
        assert_eq!(code(&t), 130);
    }

    #[test]
    fn help_names_the_codes_the_program_uses() {
        let documented: Vec<u8> = crate::cli::EXIT_STATUS.iter().map(|(c, _)| *c).collect();
        assert_eq!(documented, [SUCCESS, FAILURE, USAGE, INTERRUPTED]);
    }
}
