//! One line of the list: the URL (http and https only) and its `key=value` options, or the
//! reason it is not a valid entry.

use reqwest::Url;

use crate::entry::{Algo, Options, parse_hex};

/// A blank line or a comment: not an entry, and not counted.
pub fn is_blank_or_comment(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#')
}

/// The options a line may have, as errors list them.
const KNOWN: &str = "out=, size=, md5=, sha1=, sha256=, sha512=, blake2b=, mirror=";

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
                "'{field}' is not an option (expected key=value: {KNOWN})"
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
            "mirror" => {
                let mirror = parse_url(value).map_err(|e| format!("mirror=: {e}"))?;
                options.mirrors.push(mirror);
                false
            }
            _ => match Algo::from_key(key) {
                Some(algo) => {
                    let digest = parse_hex(algo, value).ok_or_else(|| {
                        format!(
                            "{key}= must be {} hex digits, got '{value}'",
                            2 * algo.len()
                        )
                    })?;
                    options.digests.get(algo).is_some()
                        || options.digests.add(algo, digest).is_err()
                }
                None => return Err(format!("unknown option '{key}' (known: {KNOWN})")),
            },
        };
        if duplicate {
            return Err(format!("option '{key}' is given twice"));
        }
    }
    Ok(Some((url, options)))
}

/// An http or https URL with a host, or why not (without echoing it: it may hold credentials).
pub fn parse_url(raw: &str) -> Result<Url, String> {
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
        assert_eq!(to_hex(opts.digests.get(Algo::Sha256).unwrap()), HASH);
        let upper = format!("https://e.com/x sha256={}", HASH.to_uppercase());
        assert!(parse_line(&upper).is_ok());
    }

    #[test]
    fn every_digest_and_mirrors() {
        let md5 = &HASH[..32];
        let sha1 = &HASH[..40];
        let sha512 = HASH.repeat(2);
        let line = format!(
            "https://a.example/f.iso md5={md5} sha1={sha1} sha512={sha512} blake2b={sha512} \
             mirror=https://b.example/f.iso mirror=http://c.example:8080/pub/f.iso"
        );
        let (_, opts) = parse_line(&line).unwrap().unwrap();
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
            let err = parse_line(&bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
