//! Reading the entries as a stream: URLs given as arguments, list files (fetchpool's lines,
//! aria2's input format, Metalink files) and standard input, one after another in the order
//! given, one listing at a time, so downloads start before a slow producer on stdin has
//! finished. Each listing becomes an [`Entry`] with its target already named (names are unique
//! across every source), or a [`BadLine`] that names `LIST:LINE` and the reason; a bad line
//! never stops the run.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use reqwest::Url;

use crate::entry::{BadLine, Entry, Item, ListName, Options, to_hex};
use crate::naming::{self, Namer};
use crate::redact::redact_text;

mod lines;
mod metalink;
mod parse;
#[cfg(test)]
mod properties;
mod reader;
mod source;
pub mod sums;

pub use lines::MAX_LINE;
use parse::{Invalid, Parsed, parse_entry};
use reader::{Form, Listing, Reader};
pub use source::{ListSource, MAX_SHARDS, Shard, ShardBy, Sources};
use sums::Sums;

/// The entries of every source, in order, read lazily.
pub struct Entries {
    readers: VecDeque<Reader>,
    index: usize,
    namer: Namer,
    shard: Option<Shard>,
    /// Items handed out so far.
    emitted: usize,
    /// How many items this run will hand out, when known before reading (no standard input).
    total: Option<u64>,
    /// aria2's tuning options that were ignored: where each was first seen, and how often.
    ignored: BTreeMap<&'static str, (String, usize)>,
    /// `--checksums`: digests by target name.
    sums: Option<Sums>,
}

/// Opens every source before any entry is read: one that cannot be opened is fatal, before
/// anything is downloaded.
pub fn open(sources: &Sources) -> anyhow::Result<Entries> {
    let mut readers = VecDeque::new();
    let mut listings = Some(0);
    for list in sources.lists {
        let (reader, count) = Reader::open(list, sources.count)?;
        listings = listings.zip(count).map(|(all, n)| all + n);
        readers.push_back(reader);
    }
    let mut entries = Entries::of(readers);
    entries.shard = sources.shard;
    // A shard by name holds what its names hash to: known only once they are read.
    let by_index = sources.shard.is_none_or(|s| s.by == ShardBy::Index);
    entries.total = listings.filter(|_| sources.count && by_index).map(|n| {
        (0..n)
            .filter(|&i| sources.shard.is_none_or(|s| s.includes(i, b"")))
            .count() as u64
    });
    Ok(entries)
}

impl Entries {
    fn of(readers: VecDeque<Reader>) -> Entries {
        Entries {
            readers,
            index: 0,
            namer: Namer::default(),
            shard: None,
            emitted: 0,
            total: None,
            sums: None,
            ignored: BTreeMap::new(),
        }
    }

    /// A list read directly from `reader`, named `name` in messages.
    #[cfg(test)]
    pub fn new(reader: impl std::io::BufRead + Send + 'static, name: String) -> Entries {
        Entries::of(VecDeque::from([Reader::of(reader, &name)]))
    }

    /// Whether an entry may ask for ranges with `split=`: a list file that holds the word.
    pub fn may_split(&self) -> bool {
        self.readers.iter().any(|r| r.may_split)
    }

    /// How many items this run's share of the entries holds, when it is known up front.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Entries named in the checksums files get the digests they give.
    pub fn with_sums(mut self, sums: Sums) -> Entries {
        self.sums = (!sums.is_empty()).then_some(sums);
        self
    }

    /// The item a listing makes: an entry, or a bad line at its place.
    fn item(&mut self, list: Arc<ListName>, listing: Listing) -> Item {
        let line = listing.line;
        match listing.form {
            Form::Text { text, options } => match parse_entry(&text, &options) {
                Ok(Parsed {
                    url,
                    options,
                    ignored,
                }) => {
                    for key in ignored {
                        let seen = self.ignored.entry(key);
                        seen.or_insert_with(|| (format!("{}:{line}", list.shown), 0))
                            .1 += 1;
                    }
                    self.entry(list, line, &text, url, options)
                }
                Err(Invalid { line: at, reason }) => {
                    // With its option lines, for --failed-out to comment out whole.
                    let raw = options.iter().fold(text, |raw, (_, key, value)| {
                        format!("{raw}\n  {key}={value}")
                    });
                    let item = self.bad(Arc::clone(&list), line, &raw, reason.clone());
                    match (item, at) {
                        // Said at the option line that is wrong.
                        (Item::Bad(mut bad), Some(at)) => {
                            bad.error = format!("{}:{at}: {reason}", list.shown);
                            Item::Bad(bad)
                        }
                        (item, _) => item,
                    }
                }
            },
            Form::Parsed { shown, parsed } => match parsed {
                Ok((url, options)) => self.entry(list, line, &shown, url, options),
                Err(reason) => self.bad(list, line, &shown, reason),
            },
            Form::Bad { text, reason } => self.bad(list, line, &text, reason),
        }
    }

    /// An entry, named in list order, with the digests the checksums files give for that name;
    /// or a bad line, when its name cannot be made or a checksums file contradicts a digest on
    /// it.
    fn entry(
        &mut self,
        list: Arc<ListName>,
        line: usize,
        text: &str,
        url: Url,
        mut options: Options,
    ) -> Item {
        let wanted = match &options.out {
            Some(out) => naming::from_out(out),
            None => Ok(naming::from_url(&url)),
        };
        let target = match wanted {
            Ok(wanted) => self.namer.claim(wanted),
            Err(reason) => return self.bad(list, line, text, reason),
        };
        if let Err(reason) = self.checksums(&target, &mut options) {
            return self.bad(list, line, text, reason);
        }
        let item = Item::Entry(Entry {
            index: self.index,
            seq: 0,
            list,
            line,
            url,
            target,
            options,
        });
        self.index += 1;
        item
    }

    /// Adds to `options` the digests the checksums files give for `target`.
    fn checksums(&self, target: &Path, options: &mut Options) -> Result<(), String> {
        let Some(sums) = &self.sums else {
            return Ok(());
        };
        let Some((digests, at)) = target.to_str().and_then(|t| sums.get(t)) else {
            return Ok(());
        };
        for (algo, digest) in digests.iter() {
            if let Err(listed) = options.digests.add(algo, digest.into()) {
                return Err(format!(
                    "the list says {}={} but {at} says {}",
                    algo.key(),
                    to_hex(&listed),
                    to_hex(digest)
                ));
            }
        }
        Ok(())
    }

    fn bad(&mut self, list: Arc<ListName>, line: usize, raw: &str, reason: String) -> Item {
        let item = Item::Bad(BadLine {
            index: self.index,
            seq: 0,
            line,
            // Redacted as a whole line first: a password may hold a space, and its first half
            // would otherwise be the first field.
            text: first_field(&redact_text(raw)).to_string(),
            error: format!("{}:{line}: {reason}", list.shown),
            raw: raw.trim().to_string(),
            list,
        });
        self.index += 1;
        item
    }

    /// One warning for the whole list, once it is read: the aria2 options that were ignored
    /// because they tune only aria2 itself, each with where it was first seen.
    pub fn ignored_warning(&self) -> Option<String> {
        if self.ignored.is_empty() {
            return None;
        }
        let named: Vec<String> = self
            .ignored
            .iter()
            .map(|(key, (at, count))| match count {
                1 => format!("{key}= ({at})"),
                n => format!("{key}= ({at} and {} more)", n - 1),
            })
            .collect();
        Some(format!(
            "warning: ignored aria2 options that tune only aria2 itself (fetchpool keeps its own \
             connections, retries and timeouts; see --help): {}",
            named.join(", ")
        ))
    }

    /// Hands an item out if this shard handles it, numbering it in report order. Every listing
    /// is still read and named, so names (with their collision suffixes) are those of the full
    /// list, in every shard.
    fn emit(&mut self, mut item: Item) -> Option<Item> {
        let (index, name, seq) = match &mut item {
            Item::Entry(e) => (e.index, e.target.as_os_str().as_encoded_bytes(), &mut e.seq),
            Item::Bad(b) => (b.index, b.raw.as_bytes(), &mut b.seq),
        };
        if self.shard.is_some_and(|s| !s.includes(index, name)) {
            return None;
        }
        *seq = self.emitted;
        self.emitted += 1;
        Some(item)
    }
}

impl Iterator for Entries {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            let reader = self.readers.front_mut()?;
            let Some(listing) = reader.next() else {
                self.readers.pop_front();
                continue;
            };
            let list = Arc::clone(&reader.name);
            let item = self.item(list, listing);
            if let Some(item) = self.emit(item) {
                return Some(item);
            }
        }
    }
}

fn first_field(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

#[cfg(test)]
mod tests;
