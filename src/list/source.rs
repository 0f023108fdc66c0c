//! What the list stage is handed: where entries come from (in order: URLs given as arguments,
//! list files, standard input), which share of them this run handles (`--shard`), and whether
//! to count them up front. The configuration builds these; the list stage knows nothing else of
//! the flags.

use std::path::PathBuf;

use crate::entry::ListName;

/// One source of entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSource {
    /// `-`: standard input, read as it arrives.
    Stdin,
    /// A list file (or a Metalink file).
    File(PathBuf),
    /// A URL given on the command line: one entry; `place` is its 1-based place among the
    /// command line's URLs (its "line").
    Url { url: String, place: usize },
}

impl ListSource {
    /// How reports name it.
    pub fn name(&self) -> ListName {
        match self {
            ListSource::Stdin => ListName {
                shown: "<stdin>".into(),
                file_name: "stdin".into(),
                is_file: false,
            },
            ListSource::File(p) => ListName {
                shown: p.display().to_string(),
                file_name: p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                is_file: true,
            },
            ListSource::Url { .. } => ListName {
                shown: "command line".into(),
                file_name: "command line".into(),
                is_file: false,
            },
        }
    }
}

/// `--shard K/N`: this process handles an entry when its share number (its index, or with
/// `--shard-by name` a hash of its target) is K modulo N.
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

/// Everything the list stage needs to know to read the entries.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    pub lists: &'a [ListSource],
    pub shard: Option<Shard>,
    /// Count the entries up front (one quick read of the files), for a progress display that
    /// says `12/2040 files`; not worth a read when nothing shows it.
    pub count: bool,
}
