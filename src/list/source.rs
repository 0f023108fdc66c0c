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

/// The most shards a list is cut into: far more than any scheduler starts (a Slurm array holds
/// at most 4,000,001 tasks, a Kubernetes Indexed Job 100,000); a count past it is a mistake or
/// an attack, refused before anything runs.
pub const MAX_SHARDS: usize = 10_000_000;

/// `--shard K/N`: this process handles an entry when its share number (its index, or with
/// `--shard-by name` a hash of its target) is K modulo N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
    pub by: ShardBy,
}

/// `--shard-by`: what decides an entry's shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ShardBy {
    /// Its place in the list: shards of equal size, but inserting a line moves every entry
    /// after it to another shard.
    #[default]
    Index,
    /// A stable hash of its target name (FNV-1a): an entry keeps its shard for as long as it
    /// keeps its name, whatever is added to the list or taken out.
    Name,
}

impl Shard {
    /// Handles the entry at `index` of the list, whose target is `name` (for a line that is
    /// not an entry, its text).
    pub fn includes(self, index: usize, name: &[u8]) -> bool {
        let share = match self.by {
            ShardBy::Index => index as u64,
            ShardBy::Name => fnv1a(name),
        };
        share % self.n as u64 == self.k as u64
    }
}

/// FNV-1a, 64 bits: a hash that is the same on every machine and in every version, so that
/// every process of a sharded run, and every later run, agrees on each name's shard.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
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
