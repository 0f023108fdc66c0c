//! What the list stage is handed: where the list comes from, which share of it this run
//! handles (`--shard`), and whether to count it up front. The configuration builds these; the
//! list stage knows nothing else of the flags.

use std::path::PathBuf;

/// Where the list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSource {
    Stdin,
    File(PathBuf),
}

impl ListSource {
    /// The list's file name, without its directory (`stdin` for `-`): the JUnit suite's name.
    pub fn file_name(&self) -> String {
        match self {
            ListSource::Stdin => "stdin".to_string(),
            ListSource::File(p) => p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        }
    }

    /// The name used in `LIST:LINE` messages.
    pub fn display_name(&self) -> String {
        match self {
            ListSource::Stdin => "<stdin>".to_string(),
            ListSource::File(p) => p.display().to_string(),
        }
    }
}

/// `--shard K/N`: this process handles index i when i % n == k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    pub fn includes(self, index: usize) -> bool {
        index % self.n == self.k
    }
}

/// Everything the list stage needs to know to read a list.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    pub list: &'a ListSource,
    pub shard: Option<Shard>,
    /// Count a list file's items up front (one quick read), for a progress display that says
    /// `12/2040 files`; not worth a read when nothing shows it.
    pub count: bool,
}
