//! Reading LIST as a stream of entries: one line at a time, so downloads start before a slow
//! producer on stdin has finished. Each line becomes an [`Entry`] with its target already named, or
//! a [`BadLine`] that names `LIST:LINE` and the reason; a bad line never stops the run.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use anyhow::Context;
use crossbeam_channel::Receiver;

use std::path::Path;

use reqwest::Url;

use crate::entry::{BadLine, Entry, Item, Options, to_hex};
use crate::interrupt;
use crate::naming::{self, Namer};
use crate::redact::redact_text;
use crate::sums::Sums;

mod metalink;
mod parse;
#[cfg(test)]
mod properties;
mod source;

use parse::{is_blank_or_comment, parse_line};
pub use source::{ListSource, Shard, Sources};

/// The list as an iterator of items, read lazily.
pub struct Entries {
    source: Source,
    name: String,
    line: usize,
    index: usize,
    namer: Namer,
    buf: Vec<u8>,
    done: bool,
    shard: Option<Shard>,
    /// Items handed out so far.
    emitted: usize,
    /// How many items this run will hand out, when known before reading (a file LIST).
    total: Option<u64>,
    /// `--checksums`: digests by target name.
    sums: Option<Sums>,
}

/// Where lines come from.
enum Source {
    /// A regular file, read on the caller's thread: it never keeps a reader waiting for long.
    Direct(Box<dyn BufRead + Send>),
    /// Standard input or a pipe, read by a thread of its own: a producer may stay silent for
    /// any length of time, and Ctrl-C must not wait for it.
    Piped(Receiver<io::Result<Vec<u8>>>),
    /// A Metalink 4 file, read whole: its `<file>`s.
    Metalink(std::vec::IntoIter<metalink::File>),
}

/// Lines a piped list may run ahead of the downloads.
const PIPED_LINES: usize = 1024;

/// Opens LIST (a file or stdin). Failing to open it is fatal: nothing has been downloaded yet.
pub fn open(sources: &Sources) -> anyhow::Result<Entries> {
    let mut total = None;
    let (reader, regular): (Box<dyn Read + Send>, bool) = match sources.list {
        ListSource::Stdin => (Box::new(io::stdin()), false),
        ListSource::File(path) => {
            let file =
                File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            let meta = file.metadata();
            if meta.as_ref().is_ok_and(|m| m.is_dir()) {
                anyhow::bail!("cannot read {}: it is a directory", path.display());
            }
            let regular = meta.is_ok_and(|m| m.is_file());
            if regular && let Some(files) = read_metalink(path)? {
                let mut entries = Entries::from_source(
                    Source::Metalink(files.into_iter()),
                    sources.list.display_name(),
                );
                entries.shard = sources.shard;
                entries.total = Some(entries.count_metalink());
                return Ok(entries);
            }
            if regular && sources.count {
                // One quick read, so progress can say "12/2040 files" from the start.
                total = File::open(path).ok().and_then(|f| {
                    count_items(BufReader::with_capacity(64 * 1024, f), sources.shard)
                });
            }
            (Box::new(file), regular)
        }
    };
    let reader = Box::new(BufReader::with_capacity(64 * 1024, reader));
    let source = if regular {
        Source::Direct(reader)
    } else {
        Source::Piped(spawn_reader(reader)?)
    };
    let mut entries = Entries::from_source(source, sources.list.display_name());
    entries.shard = sources.shard;
    entries.total = total;
    Ok(entries)
}

/// The `<file>`s of `path` if it is a Metalink 4 document (its start says so); a document that
/// says so and cannot be read as one is fatal, as an unreadable list is.
fn read_metalink(path: &std::path::Path) -> anyhow::Result<Option<Vec<metalink::File>>> {
    let shown = path.display();
    let mut head = Vec::with_capacity(1024);
    File::open(path)
        .and_then(|f| f.take(1024).read_to_end(&mut head))
        .with_context(|| format!("cannot read {shown}"))?;
    if !metalink::sniff(&head) {
        return Ok(None);
    }
    let mut text = String::new();
    File::open(path)
        .and_then(|f| f.take(MAX_METALINK + 1).read_to_string(&mut text))
        .with_context(|| format!("cannot read {shown}"))?;
    if text.len() as u64 > MAX_METALINK {
        anyhow::bail!("cannot read {shown}: a Metalink file longer than 64 MiB");
    }
    let files = metalink::read(&text).map_err(|e| anyhow::anyhow!("cannot read {shown}: {e}"))?;
    Ok(Some(files))
}

/// The longest Metalink file read whole.
const MAX_METALINK: u64 = 64 * 1024 * 1024;

/// How many items (entries and bad lines: every line that is not blank or a comment) a list
/// yields for `shard`, or `None` if it cannot be read through.
fn count_items(mut reader: impl BufRead, shard: Option<Shard>) -> Option<u64> {
    let mut line = Vec::new();
    let (mut index, mut count, mut number) = (0, 0, 0);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).ok()? == 0 {
            return Some(count);
        }
        number += 1;
        // A line that is not UTF-8 is an item too: it is reported as a bad line.
        if line_text(&line, number).is_none_or(|text| !is_blank_or_comment(text)) {
            if shard.is_none_or(|s| s.includes(index)) {
                count += 1;
            }
            index += 1;
        }
    }
}

/// Reads lines on a thread of its own, handing them over as they come. The thread ends at the
/// end of the input or when nobody takes lines any more; one blocked in a read when the run
/// ends goes with the process.
fn spawn_reader(
    mut reader: Box<dyn BufRead + Send>,
) -> anyhow::Result<Receiver<io::Result<Vec<u8>>>> {
    let (tx, rx) = crossbeam_channel::bounded(PIPED_LINES);
    std::thread::Builder::new()
        .name("list-reader".into())
        .spawn(move || {
            loop {
                let mut line = Vec::new();
                let read = match reader.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => Ok(line),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let last = read.is_err();
                if tx.send(read).is_err() || last {
                    return;
                }
            }
        })
        .context("cannot start the list reader")?;
    Ok(rx)
}

impl Entries {
    /// A list read directly from `reader`, named `name` in messages.
    #[cfg(test)]
    pub fn new(reader: impl BufRead + Send + 'static, name: String) -> Entries {
        Entries::from_source(Source::Direct(Box::new(reader)), name)
    }

    fn from_source(source: Source, name: String) -> Entries {
        Entries {
            source,
            name,
            line: 0,
            index: 0,
            namer: Namer::default(),
            buf: Vec::new(),
            done: false,
            shard: None,
            emitted: 0,
            total: None,
            sums: None,
        }
    }

    /// How many items this run's share of the list holds, when it is known up front.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// The next `<file>` of a Metalink list, as an entry or a bad line at its place.
    fn next_metalink(&mut self) -> Option<Item> {
        loop {
            let Source::Metalink(files) = &mut self.source else {
                return None;
            };
            let file = files.next()?;
            self.line = file.line;
            let item = match file.parsed {
                Ok((url, options)) => self.entry(&file.shown, url, options),
                Err(reason) => self.bad(&file.shown, reason),
            };
            if let Some(item) = self.emit(item) {
                return Some(item);
            }
        }
    }

    /// How many items a Metalink list yields for this run's shard.
    fn count_metalink(&self) -> u64 {
        let Source::Metalink(files) = &self.source else {
            return 0;
        };
        let shard = self.shard;
        (0..files.len())
            .filter(|&i| shard.is_none_or(|s| s.includes(i)))
            .count() as u64
    }

    /// Entries named in the checksums files get the digests they give.
    pub fn with_sums(mut self, sums: Sums) -> Entries {
        self.sums = (!sums.is_empty()).then_some(sums);
        self
    }

    /// Hands an item out if this shard handles it, numbering it in report order. Every line is
    /// still read and named, so names (with their collision suffixes) are those of the full list.
    fn emit(&mut self, mut item: Item) -> Option<Item> {
        let (index, seq) = match &mut item {
            Item::Entry(e) => (e.index, &mut e.seq),
            Item::Bad(b) => (b.index, &mut b.seq),
        };
        if self.shard.is_some_and(|s| !s.includes(index)) {
            return None;
        }
        *seq = self.emitted;
        self.emitted += 1;
        Some(item)
    }

    /// The next line into `self.buf`: `Ok(false)` at the end of the list. After Ctrl-C a piped
    /// list yields only the lines that have arrived (they are reported, as not-started), and
    /// ends without waiting for its producer.
    fn read_line(&mut self) -> io::Result<bool> {
        self.buf.clear();
        let line = match &mut self.source {
            Source::Direct(reader) => loop {
                match reader.read_until(b'\n', &mut self.buf) {
                    Ok(n) => return Ok(n > 0),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            },
            Source::Piped(lines) if interrupt::requested() => lines.try_recv().ok(),
            Source::Piped(lines) => crossbeam_channel::select! {
                recv(lines) -> line => line.ok(),
                recv(interrupt::signal()) -> _ => lines.try_recv().ok(),
            },
            // Read whole, and handed out by `next_metalink`.
            Source::Metalink(_) => None,
        };
        match line {
            Some(line) => {
                self.buf = line?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The item a parsed line makes: an entry, named in list order, with the digests the
    /// checksums files give for that name; or a bad line, when its name cannot be made or a
    /// checksums file contradicts a digest on it.
    fn entry(&mut self, text: &str, url: Url, mut options: Options) -> Item {
        let wanted = match &options.out {
            Some(out) => naming::from_out(out),
            None => Ok(naming::from_url(&url)),
        };
        let target = match wanted {
            Ok(wanted) => self.namer.claim(wanted),
            Err(reason) => return self.bad(text, reason),
        };
        if let Err(reason) = self.checksums(&target, &mut options) {
            return self.bad(text, reason);
        }
        let item = Item::Entry(Entry {
            index: self.index,
            seq: 0,
            line: self.line,
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

    fn bad(&mut self, raw: &str, reason: impl std::fmt::Display) -> Item {
        let item = Item::Bad(BadLine {
            index: self.index,
            seq: 0,
            line: self.line,
            // Redacted as a whole line first: a password may hold a space, and its first half
            // would otherwise be the first field.
            text: first_field(&redact_text(raw)).to_string(),
            error: format!("{}:{}: {reason}", self.name, self.line),
            raw: raw.trim().to_string(),
        });
        self.index += 1;
        item
    }
}

impl Iterator for Entries {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if let Source::Metalink(_) = self.source {
            return self.next_metalink();
        }
        while !self.done {
            match self.read_line() {
                Ok(more) => self.done = !more,
                Err(e) => {
                    // Entries before this point may be downloading already, so this is reported
                    // at its place rather than aborting the run.
                    self.done = true;
                    self.line += 1;
                    let item = self.bad("", format_args!("cannot read the list: {e}"));
                    return self.emit(item);
                }
            }
            if self.done {
                break;
            }
            self.line += 1;
            let raw = std::mem::take(&mut self.buf);
            let Some(text) = line_text(&raw, self.line) else {
                self.buf = raw;
                let item = self.bad("", "the line is not valid UTF-8");
                match self.emit(item) {
                    Some(item) => return Some(item),
                    None => continue,
                }
            };
            let item = match parse_line(text) {
                Ok(None) => None,
                Ok(Some((url, options))) => Some(self.entry(text, url, options)),
                Err(reason) => Some(self.bad(text, reason)),
            };
            self.buf = raw;
            if let Some(item) = item.and_then(|item| self.emit(item)) {
                return Some(item);
            }
        }
        None
    }
}

/// Line `number` (1-based) as text, without the byte-order mark a first line may start with;
/// `None` if it is not UTF-8. How the reader and the up-front count both see a line.
fn line_text(raw: &[u8], number: usize) -> Option<&str> {
    let text = std::str::from_utf8(raw).ok()?;
    Some(if number == 1 {
        text.trim_start_matches('\u{feff}')
    } else {
        text
    })
}

fn first_field(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

#[cfg(test)]
mod tests;
