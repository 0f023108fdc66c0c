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
mod tests {
    use super::*;
    use crate::entry::to_hex;

    const HASH: &str = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";

    fn line(text: &str) -> Result<(Url, Options), String> {
        entry(text, &[]).map_err(|(_, reason)| reason)
    }

    /// `parse_entry`'s answer as a pair either way: the URL and options, or the option line
    /// that is wrong and why.
    fn entry(
        text: &str,
        options: &[(usize, String, String)],
    ) -> Result<(Url, Options), (Option<usize>, String)> {
        parse_entry(text, options)
            .map(|p| (p.url, p.options))
            .map_err(|i| (i.line, i.reason))
    }

    #[test]
    fn options() {
        let (url, opts) = line(&format!(
            "https://e.com/get?id=7\tout=sub/b.bin  size=1048576 sha256={HASH}"
        ))
        .unwrap();
        assert_eq!(url.as_str(), "https://e.com/get?id=7");
        assert_eq!(opts.out.as_deref(), Some("sub/b.bin"));
        assert_eq!(opts.size, Some(1_048_576));
        assert_eq!(to_hex(opts.digests.get(Algo::Sha256).unwrap()), HASH);
        assert!(line(&format!("https://e.com/x sha256={}", HASH.to_uppercase())).is_ok());
    }

    #[test]
    fn every_digest_and_mirrors() {
        let md5 = &HASH[..32];
        let sha1 = &HASH[..40];
        let sha512 = HASH.repeat(2);
        let (_, opts) = line(&format!(
            "https://a.example/f.iso md5={md5} sha1={sha1} sha512={sha512} blake2b={sha512} \
             mirror=https://b.example/f.iso mirror=http://c.example:8080/pub/f.iso"
        ))
        .unwrap();
        let algos: Vec<Algo> = opts.digests.iter().map(|(a, _)| a).collect();
        assert_eq!(algos, [Algo::Md5, Algo::Sha1, Algo::Sha512, Algo::Blake2b]);
        assert_eq!(to_hex(opts.digests.get(Algo::Sha1).unwrap()), sha1);
        let mirrors: Vec<&str> = opts.mirrors.iter().map(|m| m.as_str()).collect();
        assert_eq!(
            mirrors,
            ["https://b.example/f.iso", "http://c.example:8080/pub/f.iso"]
        );
        for (bad, why) in [
            (
                format!("https://a/x md5={HASH}"),
                "md5= must be 32 hex digits",
            ),
            (format!("https://a/x md5={md5} md5={md5}"), "given twice"),
            (
                "https://a/x mirror=ftp://b/x".to_string(),
                "mirror=: unsupported scheme",
            ),
            (
                "https://a/x mirror=".to_string(),
                "mirror=: not a valid URL",
            ),
            (
                "https://a/x crc32=00000000".to_string(),
                "unknown option 'crc32'",
            ),
        ] {
            let err = line(&bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn lines_of_aria2s_input_format() {
        assert_eq!(kind("  # note"), Line::Skip);
        assert_eq!(kind("\t"), Line::Skip);
        assert_eq!(
            kind("  header=Authorization: Bearer x"),
            Line::Option {
                key: "header",
                value: "Authorization: Bearer x"
            }
        );
        assert_eq!(kind(" https://e.com/a"), Line::Item("https://e.com/a"));
        assert_eq!(kind("https://e.com/?a=b"), Line::Item("https://e.com/?a=b"));
        // URLs separated by TAB are one file; its option lines follow.
        let options = [
            (2, "dir".to_string(), "iso".to_string()),
            (3, "out".to_string(), "os.iso".to_string()),
            (4, "checksum".to_string(), format!("sha-256={HASH}")),
            (5, "header".to_string(), "X-Token: a b c".to_string()),
        ];
        let (url, opts) =
            entry("https://a.example/x.iso\thttps://b.example/x.iso", &options).unwrap();
        assert_eq!(url.as_str(), "https://a.example/x.iso");
        assert_eq!(opts.mirrors[0].as_str(), "https://b.example/x.iso");
        assert_eq!(opts.out.as_deref(), Some("iso/os.iso"));
        assert!(opts.digests.get(Algo::Sha256).is_some());
        assert_eq!(opts.headers, [("X-Token".to_string(), "a b c".to_string())]);
        // dir= alone goes in front of the URL's name.
        let dir = [(2, "dir".to_string(), "data/".to_string())];
        let (_, opts) = entry("https://a.example/p/x.bin", &dir).unwrap();
        assert_eq!(opts.out.as_deref(), Some("data/x.bin"));
        // An option fetchpool does not have, that changes what is fetched, fails the entry,
        // naming it and its line.
        let unknown = [(7, "http-passwd".to_string(), "x".to_string())];
        let (at, err) = entry("https://a.example/x", &unknown).unwrap_err();
        assert_eq!(at, Some(7));
        assert!(err.starts_with("unknown option 'http-passwd'"), "{err}");
        let bad = [(2, "checksum".to_string(), format!("sha-384={HASH}"))];
        let (at, err) = entry("https://a/x", &bad).unwrap_err();
        assert_eq!(at, Some(2));
        assert!(err.contains("checksum=sha-384"), "{err}");
        let secret = [(2, "header".to_string(), "Bearer s3cret".to_string())];
        let (_, err) = entry("https://a/x", &secret).unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn aria2_options_as_people_write_them() {
        let lines = |pairs: &[(&str, &str)]| -> Vec<(usize, String, String)> {
            (2..)
                .zip(pairs)
                .map(|(n, (k, v))| (n, k.to_string(), v.to_string()))
                .collect()
        };
        let given = lines(&[
            ("split", "4"),
            ("max-connection-per-server", "4"),
            ("min-split-size", "1M"),
            ("referer", "https://e.com/page"),
            ("user-agent", "Mozilla/5.0 (X11)"),
            ("max-connection-per-server", "8"),
        ]);
        let parsed = parse_entry("https://a.example/x.iso", &given).unwrap();
        assert_eq!(parsed.options.split, Some(4));
        assert_eq!(
            parsed.options.headers,
            [
                ("Referer".to_string(), "https://e.com/page".to_string()),
                ("User-Agent".to_string(), "Mozilla/5.0 (X11)".to_string())
            ]
        );
        assert_eq!(
            parsed.ignored,
            [
                "max-connection-per-server",
                "min-split-size",
                "max-connection-per-server"
            ]
        );
        // On the URL line too.
        let (_, opts) = line("https://a/x split=2 timeout=30").unwrap();
        assert_eq!(opts.split, Some(2));
        for (key, value, why) in [
            ("split", "0", "split=0 is not a count from 1 to 64"),
            ("split", "many", "split=many is not a count"),
            ("split", "65", "from 1 to 64"),
            ("referer", "a\u{7}b", "holds"),
            ("user-agent", "x", "given twice"),
            ("all-proxy", "http://p:3128", "unknown option 'all-proxy'"),
            ("select-file", "1", "unknown option 'select-file'"),
        ] {
            let mut given = lines(&[(key, value)]);
            if key == "user-agent" {
                given.push((9, key.to_string(), value.to_string()));
            }
            let (_, err) = entry("https://a/x", &given).unwrap_err();
            assert!(err.contains(why), "{key}={value}: {err}");
        }
    }

    #[test]
    fn a_header_s_value_cut_off_on_the_url_line_is_never_shown() {
        for text in [
            "https://a/x header=X-Api-Key: s3cret",
            "https://a/x header=Authorization: Bearer s3cret",
            "https://a/x header=Authorization:Bearer s3cret",
            "https://a/x header=X-Token: k=s3cret",
            "https://a/x header=X-Token: s3cret:more",
        ] {
            let err = line(text).unwrap_err();
            assert!(
                err.contains("header=X-") || err.contains("header=Auth"),
                "{err}"
            );
            assert!(
                !err.contains("s3cret") && !err.contains("Bearer"),
                "{text}: {err}"
            );
        }
        let err = line("https://a/x Authorization: Bearer").unwrap_err();
        assert!(
            err.starts_with("'Authorization:...' is not an option"),
            "{err}"
        );
        let err = line("https://a/x tok:s3cret").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        // Written whole, it is a header.
        let (_, opts) = line("https://a/x header=X-Api-Key:s3cret").unwrap();
        assert_eq!(
            opts.headers,
            [("X-Api-Key".to_string(), "s3cret".to_string())]
        );
    }
}
