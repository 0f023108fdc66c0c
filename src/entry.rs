//! The data every stage speaks: an [`Entry`] (one downloadable line of the list, its target
//! already named), a [`BadLine`] (a line that is not one, reported at its place), the list's
//! `key=value` [`Options`], and the hex the digests are written in. The list stage produces
//! these; the pool, the downloads and the report read them.

use std::path::PathBuf;

use reqwest::Url;

/// One downloadable line of the list.
#[derive(Debug, Clone)]
pub struct Entry {
    /// 0-based position among entries (comments and blank lines do not count).
    pub index: usize,
    /// 0-based position among the items this run handles: the report's order. Equal to
    /// `index` unless `--shard` leaves entries out.
    pub seq: usize,
    /// 1-based line in LIST.
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
    pub sha256: Option<[u8; 32]>,
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
        if let Some(sha) = &self.options.sha256 {
            line.push_str(" sha256=");
            line.push_str(&to_hex(sha));
        }
        line
    }
}

/// A line that is not a valid entry. It still has an index: it is reported at its place.
#[derive(Debug, Clone)]
pub struct BadLine {
    pub index: usize,
    pub seq: usize,
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

/// 64 hex digits, either case.
pub fn parse_sha256(hex: &str) -> Result<[u8; 32], String> {
    let bad = || format!("sha256= must be 64 hex digits, got '{hex}'");
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
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
        assert_eq!(to_hex(&parse_sha256(HASH).unwrap()), HASH);
        assert_eq!(
            parse_sha256(&HASH.to_uppercase()).unwrap(),
            parse_sha256(HASH).unwrap()
        );
        let bad = format!("{}g", &HASH[..63]);
        assert!(parse_sha256(&bad).is_err());
        assert!(parse_sha256(&"é".repeat(32)).is_err());
    }
}
