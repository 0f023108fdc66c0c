//! The data every stage speaks: an [`Entry`] (one downloadable line of the list, its target
//! already named), a [`BadLine`] (a line that is not one, reported at its place), the list's
//! `key=value` [`Options`] (its expected [`Digests`] and its mirrors among them), and the hex
//! digests are written in. The list stage produces these; the pool, the downloads and the
//! report read them.

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::Url;

/// Where entries come from, as the report names it: a list file, standard input, or the
/// command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListName {
    /// As messages name it (`urls.txt:7: ...`): the path as given, `<stdin>`, `command line`.
    pub shown: String,
    /// Without its directory: the JUnit classname.
    pub file_name: String,
    /// A file, whose lines a CI annotation can point at (not stdin, not the command line).
    pub is_file: bool,
}

#[cfg(test)]
impl ListName {
    /// A list file called `name`, for tests.
    pub fn file(name: &str) -> Arc<ListName> {
        Arc::new(ListName {
            shown: name.to_string(),
            file_name: name.to_string(),
            is_file: true,
        })
    }
}

/// One downloadable line of the list.
#[derive(Debug, Clone)]
pub struct Entry {
    /// 0-based position among entries of every source (comments and blank lines do not count).
    pub index: usize,
    /// 0-based position among the items this run handles: the report's order. Equal to
    /// `index` unless `--shard` leaves entries out.
    pub seq: usize,
    /// The source it comes from.
    pub list: Arc<ListName>,
    /// 1-based line in its source (for a URL on the command line, its place among them).
    pub line: usize,
    pub url: Url,
    /// Target path relative to the output directory, unique within the run.
    pub target: PathBuf,
    pub options: Options,
}

/// The `key=value` options of a line, kept so a line can be written back in list format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub out: Option<String>,
    pub size: Option<u64>,
    /// The digests the file must have, each checked before it is placed.
    pub digests: Digests,
    /// Other URLs of the same file, tried in order when the one before fails.
    pub mirrors: Vec<Url>,
    /// Request headers for this entry alone (aria2's `header=`), sent only to its own origin.
    pub headers: Vec<(String, String)>,
    /// `split=N` (aria2's): up to N ranges of this file at once, whatever `--split` says.
    pub split: Option<usize>,
}

/// A digest algorithm a list, a checksums file or a Metalink file can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
    /// BLAKE2b with a 512-bit digest, as `b2sum` writes it.
    Blake2b,
}

impl Algo {
    pub const ALL: [Algo; 5] = [
        Algo::Md5,
        Algo::Sha1,
        Algo::Sha256,
        Algo::Sha512,
        Algo::Blake2b,
    ];

    /// The list option that gives it (`sha256=`), and how reports name it.
    pub fn key(self) -> &'static str {
        match self {
            Algo::Md5 => "md5",
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
            Algo::Blake2b => "blake2b",
        }
    }

    pub fn from_key(key: &str) -> Option<Algo> {
        Algo::ALL.into_iter().find(|a| a.key() == key)
    }

    /// By its name in IANA's hash function registry, as Metalink's `<hash type=...>` and
    /// aria2's `checksum=TYPE=HEX` name it (`sha-256`), in any case; `None` for one not checked.
    pub fn from_iana(name: &str) -> Option<Algo> {
        match name.to_ascii_lowercase().as_str() {
            "md5" => Some(Algo::Md5),
            "sha-1" => Some(Algo::Sha1),
            "sha-256" => Some(Algo::Sha256),
            "sha-512" => Some(Algo::Sha512),
            _ => None,
        }
    }

    /// Bytes in a digest.
    pub fn len(self) -> usize {
        match self {
            Algo::Md5 => 16,
            Algo::Sha1 => 20,
            Algo::Sha256 => 32,
            Algo::Sha512 | Algo::Blake2b => 64,
        }
    }
}

/// The digests a file must have: at most one per algorithm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digests(Vec<(Algo, Box<[u8]>)>);

impl Digests {
    pub fn get(&self, algo: Algo) -> Option<&[u8]> {
        self.0.iter().find(|(a, _)| *a == algo).map(|(_, d)| &**d)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each digest, in the order of [`Algo::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (Algo, &[u8])> {
        self.0.iter().map(|(a, d)| (*a, &**d))
    }

    /// Adds the digest `value` of `algo`; `Err` with the one already given if it differs (the
    /// same one twice is fine).
    pub fn add(&mut self, algo: Algo, value: Box<[u8]>) -> Result<(), Box<[u8]>> {
        match self.get(algo) {
            Some(have) if *have == *value => Ok(()),
            Some(have) => Err(have.into()),
            None => {
                self.0.push((algo, value));
                self.0.sort_by_key(|(a, _)| *a);
                Ok(())
            }
        }
    }
}

impl Entry {
    /// The entry as a line of a list, for `--failed-out`: the full URL (credentials included:
    /// the file is for re-running) and the options, with `out=` set to the target this run chose
    /// so a re-run writes to the same place. A target containing whitespace cannot be written as
    /// `out=`; it is left to the URL, which names it the same way unless it was suffixed.
    pub fn list_line(&self) -> String {
        let mut line = self.url.as_str().to_string();
        let target = self.target.to_string_lossy();
        if !target.contains(char::is_whitespace) {
            line.push_str(" out=");
            line.push_str(&target);
        }
        if let Some(size) = self.options.size {
            line.push_str(&format!(" size={size}"));
        }
        for (algo, digest) in self.options.digests.iter() {
            line.push_str(&format!(" {}={}", algo.key(), to_hex(digest)));
        }
        for mirror in &self.options.mirrors {
            line.push_str(" mirror=");
            line.push_str(mirror.as_str());
        }
        if let Some(split) = self.options.split {
            line.push_str(&format!(" split={split}"));
        }
        // A header holds spaces: it goes on an option line of its own, as aria2 writes them.
        for (name, value) in &self.options.headers {
            line.push_str(&format!("\n  header={name}: {value}"));
        }
        line
    }
}

/// A line that is not a valid entry. It still has an index: it is reported at its place.
#[derive(Debug, Clone)]
pub struct BadLine {
    pub index: usize,
    pub seq: usize,
    pub list: Arc<ListName>,
    pub line: usize,
    /// The line's first field with any credentials hidden: safe to print as the report's `url`.
    pub text: String,
    /// `LIST:LINE: reason`.
    pub error: String,
    /// The line as it was (trimmed), for `--failed-out`.
    pub raw: String,
}

/// What one line of the list yields.
#[derive(Debug, Clone)]
pub enum Item {
    Entry(Entry),
    Bad(BadLine),
}

/// A digest of `algo` written as hex, either case; `None` if it is not one.
pub fn parse_hex(algo: Algo, hex: &str) -> Option<Box<[u8]>> {
    if hex.len() != 2 * algo.len() || !hex.is_ascii() {
        return None;
    }
    (0..algo.len())
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// `Name: value`, as `-H` and `header=` take it. A message about text that is not one never
/// shows the value (a header is often a credential), nor the name unless it is a valid one: it
/// says what is wrong.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(
            "not 'Name: value': it has no colon (its text is not shown: it may hold a \
                    secret)"
                .into(),
        );
    };
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return Err("not 'Name: value': the name before the colon is empty".into());
    }
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        let bad = name
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)))
            .unwrap_or(' ');
        return Err(format!(
            "the name before the colon is not a header name: it holds {}",
            character(bad)
        ));
    }
    if let Some(bad) = value.chars().find(|&c| c.is_control() && c != '\t') {
        return Err(format!(
            "the value of header {name} holds {} (not shown)",
            character(bad)
        ));
    }
    if reqwest::header::HeaderValue::from_str(value).is_err() {
        return Err(format!(
            "the value of header {name} is not a valid header value (not shown)"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// One character of a header as a message names it, without showing anything else.
fn character(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\0' => "a NUL byte".into(),
        c if c.is_control() => format!("a control character (U+{:04X})", c as u32),
        c if !c.is_ascii() => format!("a character outside ASCII (U+{:04X})", c as u32),
        c => format!("'{c}'"),
    }
}

/// Lowercase hex of a digest.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";

    #[test]
    fn hex_both_ways() {
        let sha = |hex: &str| parse_hex(Algo::Sha256, hex);
        assert_eq!(to_hex(&sha(HASH).unwrap()), HASH);
        assert_eq!(sha(&HASH.to_uppercase()), sha(HASH));
        assert!(sha(&format!("{}g", &HASH[..63])).is_none());
        assert!(sha(&"é".repeat(32)).is_none());
        assert!(parse_hex(Algo::Md5, &HASH[..32]).is_some());
        assert!(
            parse_hex(Algo::Md5, HASH).is_none(),
            "the length is the algorithm's"
        );
    }

    #[test]
    fn a_header_that_is_not_one_is_named_never_shown() {
        assert_eq!(
            parse_header("Authorization:  Bearer x "),
            Ok(("Authorization".into(), "Bearer x".into()))
        );
        assert_eq!(
            parse_header("X-Empty:"),
            Ok(("X-Empty".into(), String::new()))
        );
        for (bad, why) in [
            ("X-Api-Key s3cret", "no colon"),
            ("Bearer s3cret: x", "holds a space"),
            (
                "X-Api-Key: s3cret\u{1b}[31m",
                "X-Api-Key holds a control character (U+001B)",
            ),
            ("X-Api-Key: s3cret\nX-Other: 1", "X-Api-Key holds a newline"),
            ("X-Ap\u{1b}i: s3cret", "holds a control character"),
            (": s3cret", "is empty"),
            ("Ke(y: s3cret", "holds '('"),
        ] {
            let err = parse_header(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(!err.contains("s3cret") && !err.contains('\u{1b}'), "{err}");
        }
    }

    #[test]
    fn digests_are_kept_one_per_algorithm_in_a_fixed_order() {
        let mut d = Digests::default();
        let md5 = parse_hex(Algo::Md5, &HASH[..32]).unwrap();
        let sha = parse_hex(Algo::Sha256, HASH).unwrap();
        assert!(d.add(Algo::Sha256, sha.clone()).is_ok());
        assert!(d.add(Algo::Md5, md5.clone()).is_ok());
        assert!(d.add(Algo::Sha256, sha.clone()).is_ok(), "the same twice");
        assert!(d.add(Algo::Md5, vec![0; 16].into()).is_err(), "another one");
        let algos: Vec<Algo> = d.iter().map(|(a, _)| a).collect();
        assert_eq!(algos, [Algo::Md5, Algo::Sha256]);
        assert_eq!(d.get(Algo::Sha256), Some(&*sha));
    }

    proptest::proptest! {
        #[test]
        fn any_header_argument_is_read_or_refused_without_a_panic(
            text in crate::hostile::text(),
            bytes in crate::hostile::bytes(),
        ) {
            for input in [&text, &bytes] {
                if let Err(why) = parse_header(input) {
                    // Never the value: nothing after the first colon is in the message.
                    if let Some((_, value)) = input.split_once(':') {
                        let value = value.trim();
                        proptest::prop_assert!(
                            value.len() < 4 || !why.contains(value),
                            "{why}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_megabyte_of_a_header_is_read_in_linear_time() {
        crate::hostile::a_megabyte_within_a_second(&["X-A: b"], |text| {
            let _ = parse_header(text);
        });
    }
}
