//! One entry of a list as text: its line (the URL, then `key=value` options, and more URLs of
//! the same file separated by TAB as aria2 writes them) and the option lines indented below it
//! (aria2's input format: one `key=value` a line, the value running to the line's end). Gives
//! the URL and options, or the reason it is not a valid entry.

use reqwest::Url;

use crate::entry::{Algo, Options, parse_header, parse_hex};
use crate::naming;

/// The options a line may have, as errors list them.
const KNOWN: &str = "out=, dir=, size=, md5=, sha1=, sha256=, sha512=, blake2b=, checksum=, \
                     mirror=, header=, split=, referer=, user-agent=";

/// The most ranges of one file `split=` may ask for: a list is input anyone may have written.
const MOST_SPLIT: usize = 64;

/// aria2's options that tune only how aria2 itself fetches (its connections, timeouts, retries,
/// disk allocation, its session file), not what is fetched or where it goes: read and ignored,
/// and named in one warning at the end of the list. An option of aria2's not here and not in
/// [`KNOWN`] (a login, a proxy, a torrent's file choice, a name rule) still fails its entry.
const ARIA2_TUNING: &[&str] = &[
    "always-resume",
    "async-dns",
    "auto-save-interval",
    "check-integrity",
    "conditional-get",
    "connect-timeout",
    "continue",
    "disk-cache",
    "enable-http-keep-alive",
    "enable-http-pipelining",
    "file-allocation",
    "force-save",
    "gid",
    "http-accept-gzip",
    "http-no-cache",
    "lowest-speed-limit",
    "max-connection-per-server",
    "max-download-limit",
    "max-file-not-found",
    "max-resume-failure-tries",
    "max-tries",
    "min-split-size",
    "no-file-allocation-limit",
    "pause",
    "piece-length",
    "realtime-chunk-checksum",
    "remote-time",
    "retry-wait",
    "stream-piece-selector",
    "timeout",
    "uri-selector",
];

/// An entry as its line and option lines give it, with the aria2 options that were ignored.
#[derive(Debug)]
pub struct Parsed {
    pub url: Url,
    pub options: Options,
    /// The keys of [`ARIA2_TUNING`] options it had.
    pub ignored: Vec<&'static str>,
}

/// Why an entry is not valid, and the line that says so when it is one of its option lines.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub line: Option<usize>,
    pub reason: String,
}

impl From<String> for Invalid {
    fn from(reason: String) -> Invalid {
        Invalid { line: None, reason }
    }
}

/// What one line of a list is.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// Blank, or a comment: nothing.
    Skip,
    /// An indented `key=value`: an option of the entry above it.
    Option { key: &'a str, value: &'a str },
    /// An entry's line.
    Item(&'a str),
}

/// What kind of line `line` is.
pub fn kind(line: &str) -> Line<'_> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Line::Skip;
    }
    let indented = line.starts_with([' ', '\t']);
    if let (true, Some((key, value))) = (indented, trimmed.split_once('=')) {
        let is_key = key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if is_key {
            return Line::Option { key, value };
        }
    }
    Line::Item(trimmed)
}

/// An entry: its line's text, and its option lines (their line numbers, keys and values).
pub fn parse_entry(
    text: &str,
    option_lines: &[(usize, String, String)],
) -> Result<Parsed, Invalid> {
    let mut fields = text.split_whitespace();
    let url = parse_url(fields.next().unwrap_or_default())?;
    let mut options = Given::default();
    // The name of a header= field seen on the line: what follows it may be its value, cut off
    // at a space, and is never shown.
    let mut header: Option<&str> = None;
    for field in fields {
        // Another URL of the same file (aria2 separates them by TAB).
        if field.contains("://") && !field.split("://").next().unwrap_or("").contains('=') {
            options.set("mirror", field)?;
            continue;
        }
        let set = match field.split_once('=') {
            Some((key, value)) => options.set(key, value),
            None => Err(not_an_option(field)),
        };
        if let (Err(_), Some(name)) = (&set, header) {
            return Err(format!(
                "the text after header={name}: on the URL line is not an option (not shown: it \
                 may be the header's value; the URL line splits at spaces, so write \
                 'header={name}: VALUE' on an indented line of its own below it)"
            )
            .into());
        }
        set?;
        if let Some(("header", value)) = field.split_once('=') {
            header = value.split_once(':').map(|(name, _)| name.trim());
        }
    }
    for (line, key, value) in option_lines {
        options.set(key, value).map_err(|reason| Invalid {
            line: Some(*line),
            reason,
        })?;
    }
    Ok(options.finish(url)?)
}

/// Why `field` (with no `=`) is not an option; showing it only up to a colon, after which a
/// header's value would be.
fn not_an_option(field: &str) -> String {
    let shown = match field.split_once(':') {
        Some((before, _)) => format!("{before}:..."),
        None => field.to_string(),
    };
    format!("'{shown}' is not an option (expected key=value: {KNOWN})")
}

/// Options as they are given, before `dir=` is folded into the target.
#[derive(Default)]
struct Given {
    options: Options,
    dir: Option<String>,
    ignored: Vec<&'static str>,
    /// `referer=` and `user-agent=`, given: each at most once.
    named: Vec<&'static str>,
}

impl Given {
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let options = &mut self.options;
        let twice = match key {
            "out" => options.out.replace(value.to_string()).is_some(),
            "dir" => self.dir.replace(value.to_string()).is_some(),
            "size" => {
                let size = value
                    .parse::<u64>()
                    .map_err(|_| format!("size={value} is not a byte count"))?;
                options.size.replace(size).is_some()
            }
            "mirror" => {
                options
                    .mirrors
                    .push(parse_url(value).map_err(|e| format!("mirror=: {e}"))?);
                false
            }
            "header" => {
                let header = parse_header(value).map_err(|why| format!("header=: {why}"))?;
                options.headers.push(header);
                false
            }
            // aria2's: that many ranges of this file at once, as --split gives every file.
            "split" => {
                let n = value
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| (1..=MOST_SPLIT).contains(&n))
                    .ok_or_else(|| {
                        format!("split={value} is not a count from 1 to {MOST_SPLIT}")
                    })?;
                options.split.replace(n).is_some()
            }
            "referer" | "user-agent" => {
                let name = if key == "referer" {
                    "Referer"
                } else {
                    "User-Agent"
                };
                let header = parse_header(&format!("{name}: {value}"))
                    .map_err(|why| format!("{key}=: {why}"))?;
                options.headers.push(header);
                let twice = self.named.contains(&name);
                self.named.push(name);
                twice
            }
            // aria2's `checksum=sha-256=HEX`.
            "checksum" => {
                let (kind, hex) = value
                    .split_once('=')
                    .ok_or("checksum= must be TYPE=HEX (for example sha-256=...)")?;
                let algo = Algo::from_iana(kind).ok_or_else(|| {
                    format!(
                        "checksum={kind}: not a digest fetchpool checks (md5, sha-1, sha-256, \
                         sha-512)"
                    )
                })?;
                self.digest(algo, kind, hex)?
            }
            _ => match Algo::from_key(key) {
                Some(algo) => self.digest(algo, key, value)?,
                None if let Some(&tuning) = ARIA2_TUNING.iter().find(|&&k| k == key) => {
                    self.ignored.push(tuning);
                    false
                }
                None => {
                    return Err(format!(
                        "unknown option '{key}' (fetchpool reads {KNOWN}; an aria2 option \
                         that changes what is fetched or where it goes, and that fetchpool does \
                         not have, fails its entry)"
                    ));
                }
            },
        };
        if twice {
            return Err(format!("option '{key}' is given twice"));
        }
        Ok(())
    }

    /// Adds a digest; true if one of `algo` was given already.
    fn digest(&mut self, algo: Algo, key: &str, hex: &str) -> Result<bool, String> {
        let digest = parse_hex(algo, hex)
            .ok_or_else(|| format!("{key}= must be {} hex digits, got '{hex}'", 2 * algo.len()))?;
        let digests = &mut self.options.digests;
        Ok(digests.get(algo).is_some() || digests.add(algo, digest).is_err())
    }

    /// The options, with `dir=` put in front of the target (`out=`, or the URL's name).
    fn finish(mut self, url: Url) -> Result<Parsed, String> {
        if let Some(dir) = self.dir {
            let name = match self.options.out.take() {
                Some(out) => out,
                None => naming::from_url(&url).to_string_lossy().into_owned(),
            };
            let dir = dir.trim_end_matches('/');
            if dir.is_empty() {
                return Err("dir= is empty".into());
            }
            self.options.out = Some(format!("{dir}/{name}"));
        }
        Ok(Parsed {
            url,
            options: self.options,
            ignored: self.ignored,
        })
    }
}

/// An http or https URL with a host, or why not (without echoing it: it may hold credentials).
pub fn parse_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(format!(
                "unsupported scheme '{other}' (only http and https)"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests;
