//! One source of entries, as listings: an entry's line with the option lines indented below it
//! (a list file, standard input), a Metalink file's `<file>`, or a URL given on the command line.
//! A line is read one ahead, to know whether option lines follow it; a list file is read on the
//! caller's thread, standard input (or a pipe) on a thread of its own, so a producer may stay
//! silent for any length of time and Ctrl-C never waits for it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use crossbeam_channel::Receiver;
use reqwest::Url;

use super::lines::{Capped, count_listings, line_text, mentions_split, read_line, too_long};
use super::metalink;
use super::parse::{Line, kind, parse_url};
use super::source::ListSource;
use crate::entry::{ListName, Options};
use crate::interrupt;
use crate::redact::redact_text;

/// Lines a piped list may run ahead of the downloads.
const PIPED_LINES: usize = 1024;
/// How long an entry's line read from a pipe waits for option lines below it: a producer writes
/// an entry's lines together, and one that writes a URL and then nothing must not hold it back.
const OPTIONS_GRACE: Duration = Duration::from_millis(100);
/// The longest Metalink file read whole.
const MAX_METALINK: u64 = 64 * 1024 * 1024;

/// One entry as a source gives it, at its line.
pub struct Listing {
    pub line: usize,
    pub form: Form,
}

pub enum Form {
    /// An entry's line, and its option lines (line number, key, value).
    Text {
        text: String,
        options: Vec<(usize, String, String)>,
    },
    /// Read already (a Metalink `<file>`, a URL argument): how to show it, and what it says.
    Parsed {
        shown: String,
        parsed: Result<(Url, Options), String>,
    },
    /// Not an entry, whatever it says: a line that is not text, an option line with no entry
    /// above it, a list that could not be read on.
    Bad { text: String, reason: String },
}

/// One source's listings, in order.
pub struct Reader {
    pub name: Arc<ListName>,
    /// The list may ask for ranges (`split=`): a file that has the word anywhere. A list read
    /// from a pipe cannot be looked through before it is read: its `split=` entries are cut
    /// into ranges only where `--split` made room for them (else each comes as one stream).
    pub may_split: bool,
    lines: Lines,
    /// The number of the last line read.
    line: usize,
    /// A line read ahead of the listing being put together.
    ahead: Option<Read>,
    done: bool,
}

enum Lines {
    Direct(Box<dyn BufRead + Send>),
    Piped(Receiver<io::Result<Capped>>),
    Listings(std::vec::IntoIter<Listing>),
}

/// One line as read.
enum Read {
    Text(usize, String),
    Bad(usize, String),
}

impl Reader {
    /// Opens `source`; with `count`, also says how many listings it holds when that can be told
    /// up front (a file; not standard input). Failing to open it is fatal: nothing has been
    /// downloaded yet.
    pub fn open(source: &ListSource, count: bool) -> anyhow::Result<(Reader, Option<usize>)> {
        let name = Arc::new(source.name());
        let reader = |lines, may_split| Reader {
            name: Arc::clone(&name),
            may_split,
            lines,
            line: 0,
            ahead: None,
            done: false,
        };
        match source {
            ListSource::Stdin => {
                let stdin = Box::new(BufReader::with_capacity(64 * 1024, io::stdin()));
                Ok((reader(Lines::Piped(spawn_reader(stdin)?), false), None))
            }
            ListSource::Url { url, place } => {
                let listing = Listing {
                    line: *place,
                    form: Form::Parsed {
                        shown: redact_text(url),
                        parsed: parse_url(url).map(|url| (url, Options::default())),
                    },
                };
                Ok((
                    reader(Lines::Listings(vec![listing].into_iter()), false),
                    Some(1),
                ))
            }
            ListSource::File(path) => {
                let shown = path.display();
                let file = File::open(path)
                    .map_err(|e| schemeless_hint(path, e))
                    .with_context(|| format!("cannot read {shown}"))?;
                let meta = file.metadata();
                if meta.as_ref().is_ok_and(|m| m.is_dir()) {
                    anyhow::bail!("cannot read {shown}: it is a directory");
                }
                if !meta.is_ok_and(|m| m.is_file()) {
                    // A FIFO or a device: read as a pipe is.
                    let file = Box::new(BufReader::with_capacity(64 * 1024, file));
                    return Ok((reader(Lines::Piped(spawn_reader(file)?), false), None));
                }
                if let Some(listings) = read_metalink(path)? {
                    let n = listings.len();
                    return Ok((
                        reader(Lines::Listings(listings.into_iter()), false),
                        Some(n),
                    ));
                }
                // One quick read, so progress can say "12/2040 files" from the start.
                let counted = count
                    .then(|| {
                        File::open(path)
                            .ok()
                            .and_then(|f| count_listings(BufReader::new(f)))
                    })
                    .flatten();
                let may_split = mentions_split(path);
                let lines = Lines::Direct(Box::new(BufReader::with_capacity(64 * 1024, file)));
                Ok((reader(lines, may_split), counted))
            }
        }
    }

    /// A list read directly from `reader`, named `name`.
    #[cfg(test)]
    pub fn of(reader: impl BufRead + Send + 'static, name: &str) -> Reader {
        Reader {
            name: Arc::new(ListName {
                shown: name.to_string(),
                file_name: name.to_string(),
                is_file: true,
            }),
            may_split: true,
            lines: Lines::Direct(Box::new(reader)),
            line: 0,
            ahead: None,
            done: false,
        }
    }

    /// The next listing: an entry's line with the option lines that follow it.
    pub fn next(&mut self) -> Option<Listing> {
        if let Lines::Listings(listings) = &mut self.lines {
            return listings.next();
        }
        let (line, text) = loop {
            match self.ahead.take().or_else(|| self.read())? {
                Read::Bad(line, reason) => return Some(bad(line, String::new(), reason)),
                Read::Text(line, text) => match kind(&text) {
                    Line::Skip => {}
                    Line::Option { key, .. } => {
                        let reason = format!("an option line ({key}=) with no URL line above it");
                        return Some(bad(line, text.trim().to_string(), reason));
                    }
                    Line::Item(item) => break (line, item.to_string()),
                },
            }
        };
        let mut options = Vec::new();
        while let Some(read) = self.read_soon() {
            if let Read::Text(n, next) = &read {
                match kind(next) {
                    Line::Skip => continue,
                    Line::Option { key, value } => {
                        options.push((*n, key.to_string(), value.trim_end().to_string()));
                        continue;
                    }
                    Line::Item(_) => {}
                }
            }
            self.ahead = Some(read);
            break;
        }
        Some(Listing {
            line,
            form: Form::Text { text, options },
        })
    }

    /// The next line, if it comes soon: from a file, at once; from a pipe, within
    /// [`OPTIONS_GRACE`] (`None` then, and the line is read later).
    fn read_soon(&mut self) -> Option<Read> {
        if let Lines::Piped(lines) = &self.lines
            && !self.done
            && !interrupt::requested()
        {
            let line = crossbeam_channel::select! {
                recv(lines) -> line => line.ok(),
                recv(interrupt::signal()) -> _ => lines.try_recv().ok(),
                default(OPTIONS_GRACE) => return None,
            };
            return self.take(line);
        }
        self.read()
    }

    /// The next line, as text (without a first line's byte-order mark) or why it is not; `None`
    /// at the end. After Ctrl-C a piped list yields only the lines that have arrived (they are
    /// reported, as not-started), and ends without waiting for its producer.
    fn read(&mut self) -> Option<Read> {
        if self.done {
            return None;
        }
        let line = match &mut self.lines {
            Lines::Direct(reader) => read_line(reader).transpose(),
            Lines::Piped(lines) if interrupt::requested() => lines.try_recv().ok(),
            Lines::Piped(lines) => crossbeam_channel::select! {
                recv(lines) -> line => line.ok(),
                recv(interrupt::signal()) -> _ => lines.try_recv().ok(),
            },
            Lines::Listings(_) => None,
        };
        self.take(line)
    }

    /// A line read (or the end, `None`), numbered and checked to be text.
    fn take(&mut self, line: Option<io::Result<Capped>>) -> Option<Read> {
        let Some(line) = line else {
            self.done = true;
            return None;
        };
        self.line += 1;
        match line {
            Ok(Capped::Line(raw)) => Some(match line_text(&raw, self.line) {
                Some(text) => Read::Text(self.line, text.to_string()),
                None => Read::Bad(self.line, "the line is not valid UTF-8".into()),
            }),
            Ok(Capped::TooLong) => Some(Read::Bad(self.line, too_long())),
            // Entries before this point may be downloading already, so this is reported at its
            // place rather than aborting the run.
            Err(e) => {
                self.done = true;
                Some(Read::Bad(self.line, format!("cannot read the list: {e}")))
            }
        }
    }
}

fn bad(line: usize, text: String, reason: String) -> Listing {
    Listing {
        line,
        form: Form::Bad { text, reason },
    }
}

/// A file that is not there, named like a URL without its scheme (`example.org/file.iso`,
/// `127.0.0.1:8080/a`): says to write the scheme.
fn schemeless_hint(path: &Path, e: io::Error) -> anyhow::Error {
    let text = path.to_string_lossy();
    if e.kind() == io::ErrorKind::NotFound && looks_like_a_host(&text) {
        return anyhow::anyhow!(
            "{e}; to download it, write the URL with its scheme: https://{text} (or http://)"
        );
    }
    e.into()
}

/// Whether `text` starts like a host (a name with a dot, or a port) and goes on past it.
pub fn looks_like_a_host(text: &str) -> bool {
    let (host, rest) = text.split_once('/').unwrap_or((text, ""));
    let (name, port) = host.split_once(':').unwrap_or((host, ""));
    let has_port = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    let dotted = name.contains('.') && !name.starts_with('.') && !name.ends_with('.');
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    name_ok && (has_port || (dotted && !rest.is_empty()))
}

/// The `<file>`s of `path` as listings, if it is a Metalink 4 document (its start says so); a
/// document that says so and cannot be read as one is fatal, as an unreadable list is.
fn read_metalink(path: &Path) -> anyhow::Result<Option<Vec<Listing>>> {
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
    Ok(Some(
        files
            .into_iter()
            .map(|file| Listing {
                line: file.line,
                form: Form::Parsed {
                    shown: file.shown,
                    parsed: file.parsed,
                },
            })
            .collect(),
    ))
}

/// Reads lines on a thread of its own, handing them over as they come. The thread ends at the
/// end of the input or when nobody takes lines any more; one blocked in a read when the run
/// ends goes with the process.
fn spawn_reader(
    mut reader: Box<dyn BufRead + Send>,
) -> anyhow::Result<Receiver<io::Result<Capped>>> {
    let (tx, rx) = crossbeam_channel::bounded(PIPED_LINES);
    std::thread::Builder::new()
        .name("list-reader".into())
        .spawn(move || {
            loop {
                let read = match read_line(&mut reader) {
                    Ok(None) => return,
                    Ok(Some(line)) => Ok(line),
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
