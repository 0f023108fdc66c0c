//! One line of the list: the URL (http and https only) and its `key=value` options, or the
//! reason it is not a valid entry.

use reqwest::Url;

use crate::entry::{Options, parse_sha256};

/// A blank line or a comment: not an entry, and not counted.
pub fn is_blank_or_comment(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#')
}

/// Parses one line: `Ok(None)` for blank lines and comments.
pub fn parse_line(line: &str) -> Result<Option<(Url, Options)>, String> {
    if is_blank_or_comment(line) {
        return Ok(None);
    }
    let line = line.trim();
    let mut fields = line.split_whitespace();
    let raw_url = fields.next().unwrap_or_default();
    let url = parse_url(raw_url)?;
    let mut options = Options::default();
    for field in fields {
        let Some((key, value)) = field.split_once('=') else {
            return Err(format!(
                "'{field}' is not an option (expected key=value: out=, size=, sha256=)"
            ));
        };
        let duplicate = match key {
            "out" => options.out.replace(value.to_string()).is_some(),
            "size" => {
                let size = value
                    .parse::<u64>()
                    .map_err(|_| format!("size={value} is not a byte count"))?;
                options.size.replace(size).is_some()
            }
            "sha256" => options.sha256.replace(parse_sha256(value)?).is_some(),
            _ => {
                return Err(format!(
                    "unknown option '{key}' (known: out=, size=, sha256=)"
                ));
            }
        };
        if duplicate {
            return Err(format!("option '{key}' is given twice"));
        }
    }
    Ok(Some((url, options)))
}

fn parse_url(raw: &str) -> Result<Url, String> {
    // The URL text itself is not echoed: it may carry credentials.
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

    #[test]
    fn options() {
        let line = format!("https://e.com/get?id=7\tout=sub/b.bin  size=1048576 sha256={HASH}");
        let (url, opts) = parse_line(&line).unwrap().unwrap();
        assert_eq!(url.as_str(), "https://e.com/get?id=7");
        assert_eq!(opts.out.as_deref(), Some("sub/b.bin"));
        assert_eq!(opts.size, Some(1_048_576));
        assert_eq!(to_hex(&opts.sha256.unwrap()), HASH);
        let upper = format!("https://e.com/x sha256={}", HASH.to_uppercase());
        assert!(parse_line(&upper).is_ok());
    }
}
