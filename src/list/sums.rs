//! Checksum files (`--checksums`): what `sha256sum`, `sha512sum`, `sha1sum`, `md5sum` and
//! `b2sum` write (`HEX  NAME`, or `HEX *NAME` in binary mode, with coreutils' `\` escapes for
//! names holding a backslash or a newline), the BSD tag format (`SHA256 (NAME) = HEX`, as
//! `--tag`, `cksum` and `openssl dgst` write it), and either of those inside a PGP clearsigned
//! message. Of a clearsigned file only the signed message is read (the signature is not
//! checked): a line before it or after its signature is no part of what was signed, and is left
//! out with a warning, however it looks. Comment and blank lines are skipped, and a byte-order
//! mark at the start; any other line that is not a checksum (or is longer than a list line may
//! be) is an error that names it.
//!
//! In the first format the algorithm is known by the length of the hex: 32 digits MD5, 40
//! SHA-1, 64 SHA-256, and 128 SHA-512, or BLAKE2b when the file's name says `b2` or `blake2`
//! (`B2SUMS`), since both are 128. Names are paths relative to the output directory, a leading
//! `./` ignored: that is how an entry's target is looked up.

use std::collections::HashMap;

use anyhow::Context as _;
use reqwest::Url;

use super::lines::MAX_LINE;
use crate::entry::{Algo, Digests, parse_hex};
use crate::printable::printable;
use crate::redact::redact_text;

/// The longest checksums file read: far more than a release's, far less than a file that is
/// not one.
pub const MAX_LEN: u64 = 64 * 1024 * 1024;

/// How a checksums file named by a URL is fetched: its bytes, or why not.
pub type Fetch<'a> = &'a dyn Fn(&Url) -> anyhow::Result<Vec<u8>>;

/// Reads every `--checksums` source: a file, or an http(s) URL handed to `fetch` (`None` in a
/// dry run, which makes no request: such a source is left out, with `note` told). Fails, before
/// any download, on a source that cannot be read or holds a line that is not a checksum.
pub fn load(
    sources: &[String],
    fetch: Option<Fetch>,
    note: impl Fn(String),
) -> anyhow::Result<Sums> {
    let mut sums = Sums::default();
    for source in sources {
        let shown = shown(source);
        let is_url = source.starts_with("http://") || source.starts_with("https://");
        let bytes = match (is_url, fetch) {
            (true, None) => {
                note(format!("--checksums {shown}: not fetched in a dry run"));
                continue;
            }
            (true, Some(fetch)) => {
                let url = Url::parse(source)
                    .with_context(|| format!("--checksums {shown} is not a valid URL"))?;
                fetch(&url).with_context(|| format!("cannot fetch --checksums {shown}"))?
            }
            (false, _) => {
                read(source).with_context(|| format!("cannot read --checksums {shown}"))?
            }
        };
        let outside = sums
            .add(source, &String::from_utf8_lossy(&bytes))
            .map_err(anyhow::Error::msg)?;
        if outside > 0 {
            let s = if outside == 1 { "" } else { "s" };
            note(format!(
                "warning: --checksums {shown}: {outside} line{s} outside its signed message \
                 (before it or after its signature) not read"
            ));
        }
    }
    Ok(sums)
}

/// A checksums file's name as every message shows it: a URL's credentials hidden, control bytes
/// escaped.
fn shown(source: &str) -> String {
    printable(&redact_text(source)).into_owned()
}

fn read(path: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        anyhow::bail!("it is a directory");
    }
    let mut bytes = Vec::new();
    file.take(MAX_LEN + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_LEN {
        anyhow::bail!("longer than 64 MiB (not a checksums file)");
    }
    Ok(bytes)
}

/// The digests the checksum files give, by name.
#[derive(Debug, Default)]
pub struct Sums {
    by_name: HashMap<String, (Digests, String)>,
}

impl Sums {
    /// Adds the lines of the checksum file called `source` (a path or a URL, as messages name
    /// it): fails at the first line that is not a checksum, or that gives a name another
    /// digest of the same algorithm. Returns how many lines of a clearsigned file, outside its
    /// signed message, were not read.
    pub fn add(&mut self, source: &str, text: &str) -> Result<usize, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let blake2 = {
            let name = source
                .rsplit('/')
                .next()
                .unwrap_or(source)
                .to_ascii_lowercase();
            name.contains("b2") || name.contains("blake2")
        };
        let at = |n: usize| format!("{}:{n}", shown(source));
        let mut lines = Clearsigned::new(text);
        for (n, line) in lines.by_ref() {
            let line = line.trim_end_matches('\r');
            if line.len() > MAX_LINE {
                return Err(format!(
                    "{}: longer than {} KiB (not a checksum line)",
                    at(n),
                    MAX_LINE / 1024
                ));
            }
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (algo, digest, name) = parse(line, blake2).ok_or_else(|| {
                format!(
                    "{}: not a checksum line (expected HEX  NAME, HEX *NAME or ALGO (NAME) = HEX)",
                    at(n)
                )
            })?;
            let name = name.strip_prefix("./").unwrap_or(&name).to_string();
            let (digests, first) = self
                .by_name
                .entry(name.clone())
                .or_insert_with(|| (Digests::default(), at(n)));
            if digests.add(algo, digest).is_err() {
                return Err(format!(
                    "{}: another {} for {} than {first} gives",
                    at(n),
                    algo.key(),
                    printable(&name)
                ));
            }
        }
        Ok(lines.outside)
    }

    /// The digests given for `name` (a target path relative to the output directory), and
    /// where the first of them is (`FILE:LINE`).
    pub fn get(&self, name: &str) -> Option<(&Digests, &str)> {
        self.by_name.get(name).map(|(d, at)| (d, at.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// One checksum line: `HEX  NAME`, `HEX *NAME`, `\HEX  ESCAPED-NAME`, or `ALGO (NAME) = HEX`.
fn parse(line: &str, blake2: bool) -> Option<(Algo, Box<[u8]>, String)> {
    tagged(line).or_else(|| plain(line, blake2))
}

fn plain(line: &str, blake2: bool) -> Option<(Algo, Box<[u8]>, String)> {
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (hex, rest) = line.split_once(' ')?;
    let name = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'))?;
    let algo = match hex.len() {
        32 => Algo::Md5,
        40 => Algo::Sha1,
        64 => Algo::Sha256,
        128 if blake2 => Algo::Blake2b,
        128 => Algo::Sha512,
        _ => return None,
    };
    let name = if escaped {
        unescape(name)?
    } else {
        name.to_string()
    };
    (!name.is_empty()).then_some(())?;
    Some((algo, parse_hex(algo, hex)?, name))
}

/// `ALGO (NAME) = HEX`, and `ALGO(NAME)= HEX` as openssl writes it.
fn tagged(line: &str) -> Option<(Algo, Box<[u8]>, String)> {
    let (algo, rest) = line.split_once('(')?;
    let (name, hex) = rest.rsplit_once(')')?;
    let hex = hex.trim_start().strip_prefix('=')?.trim();
    let algo = match algo.trim().to_ascii_uppercase().as_str() {
        "MD5" => Algo::Md5,
        "SHA1" | "SHA-1" => Algo::Sha1,
        "SHA256" | "SHA2-256" | "SHA-256" => Algo::Sha256,
        "SHA512" | "SHA2-512" | "SHA-512" => Algo::Sha512,
        "BLAKE2B" | "BLAKE2B-512" | "BLAKE2B512" => Algo::Blake2b,
        _ => return None,
    };
    (!name.is_empty()).then_some(())?;
    Some((algo, parse_hex(algo, hex)?, name.to_string()))
}

/// coreutils' escapes in a name: `\\` and `\n` (and `\r`).
fn unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            _ => return None,
        }
    }
    Some(out)
}

/// The lines of a checksum file with their numbers. In a PGP clearsigned message, only the
/// signed text (without its `- ` dash-escapes): not the armour, not the signature, and not a
/// line before the message or after its signature, which are counted in `outside`.
struct Clearsigned<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    /// The file is a clearsigned message: only what is inside its signed part is read.
    armoured: bool,
    state: Part,
    /// Lines with something on them outside the signed message, not read.
    outside: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Before a message, or after a signature.
    Outside,
    /// The armour header, up to its first blank line.
    Header,
    Signed,
    Signature,
}

const BEGIN_MESSAGE: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

impl<'a> Clearsigned<'a> {
    fn new(text: &'a str) -> Clearsigned<'a> {
        let armoured = text
            .lines()
            .any(|line| line.trim_end_matches('\r') == BEGIN_MESSAGE);
        Clearsigned {
            lines: text.lines().enumerate(),
            armoured,
            state: Part::Outside,
            outside: 0,
        }
    }
}

impl<'a> Iterator for Clearsigned<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        for (i, line) in self.lines.by_ref() {
            if !self.armoured {
                return Some((i + 1, line));
            }
            let bare = line.trim_end_matches('\r');
            self.state = match (self.state, bare) {
                (Part::Outside, BEGIN_MESSAGE) => Part::Header,
                (Part::Header, "") => Part::Signed,
                (Part::Signed, BEGIN_SIGNATURE) => Part::Signature,
                (Part::Signature, END_SIGNATURE) => Part::Outside,
                (Part::Signed, _) => {
                    return Some((i + 1, line.strip_prefix("- ").unwrap_or(line)));
                }
                (Part::Outside, text) => {
                    if !text.trim().is_empty() {
                        self.outside += 1;
                    }
                    Part::Outside
                }
                (state, _) => state,
            };
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::to_hex;

    const MD5: &str = "900150983cd24fb0d6963f7d28e17f72";
    const SHA1: &str = "a9993e364706816aba3e25717850c26c9cd0d89d";
    const SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn digest(sums: &Sums, name: &str, algo: Algo) -> Option<String> {
        sums.get(name)?.0.get(algo).map(to_hex)
    }

    #[test]
    fn every_format_is_read() {
        let sha512 = SHA256.repeat(2);
        let mut sums = Sums::default();
        let text = format!(
            "# release 1.2\n{SHA256}  ./a.iso\n{SHA1} *b.bin\n\n{MD5}  sub/c d.txt\r\n\
             SHA512 (e.tar) = {sha512}\nMD5(f.txt)= {MD5}\n\\{SHA256}  back\\\\slash\\nnl\n"
        );
        sums.add("SHA256SUMS", &text).unwrap();
        assert_eq!(
            digest(&sums, "a.iso", Algo::Sha256).as_deref(),
            Some(SHA256)
        );
        assert_eq!(digest(&sums, "b.bin", Algo::Sha1).as_deref(), Some(SHA1));
        assert_eq!(
            digest(&sums, "sub/c d.txt", Algo::Md5).as_deref(),
            Some(MD5)
        );
        assert_eq!(digest(&sums, "e.tar", Algo::Sha512), Some(sha512.clone()));
        assert_eq!(digest(&sums, "f.txt", Algo::Md5).as_deref(), Some(MD5));
        assert!(sums.get("back\\slash\nnl").is_some());
        assert_eq!(sums.get("a.iso").unwrap().1, "SHA256SUMS:2");
        // 128 hex digits in a file named for BLAKE2b are BLAKE2b.
        let mut b2 = Sums::default();
        b2.add("https://e.com/rel/B2SUMS", &format!("{sha512}  x\n"))
            .unwrap();
        assert!(digest(&b2, "x", Algo::Blake2b).is_some());
        assert!(digest(&b2, "x", Algo::Sha512).is_none());
    }

    #[test]
    fn a_clearsigned_file_is_read_inside_its_armour() {
        let text = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n# Fedora-x.iso: 1 bytes\n\
             SHA256 (Fedora-x.iso) = {SHA256}\n- {MD5}  dashed.txt\n\
             -----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n"
        );
        let mut sums = Sums::default();
        assert_eq!(sums.add("CHECKSUM", &text), Ok(0));
        assert!(digest(&sums, "Fedora-x.iso", Algo::Sha256).is_some());
        assert!(digest(&sums, "dashed.txt", Algo::Md5).is_some());
    }

    #[test]
    fn only_the_signed_part_of_a_clearsigned_file_is_read() {
        let other = SHA256.replace('b', "c");
        let text = format!(
            "{other}  before.iso\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n\
             {SHA256}  signed.iso\n-----BEGIN PGP SIGNATURE-----\n\niQIz\n\
             -----END PGP SIGNATURE-----\n{other}  signed.iso\n{other}  after.iso\n\n"
        );
        let mut sums = Sums::default();
        assert_eq!(
            sums.add("CHECKSUM", &text),
            Ok(3),
            "three lines outside, not read"
        );
        assert_eq!(
            digest(&sums, "signed.iso", Algo::Sha256).as_deref(),
            Some(SHA256)
        );
        assert!(sums.get("before.iso").is_none() && sums.get("after.iso").is_none());
    }

    #[test]
    fn a_byte_order_mark_and_a_line_too_long_to_be_one() {
        let mut sums = Sums::default();
        sums.add("SUMS", &format!("\u{feff}{SHA256}  a\n")).unwrap();
        assert!(digest(&sums, "a", Algo::Sha256).is_some());
        let long = format!("{SHA256}  a\n{SHA256}  {}\n", "x".repeat(MAX_LINE));
        let err = Sums::default().add("SUMS", &long).unwrap_err();
        assert!(err.starts_with("SUMS:2: longer than 64 KiB"), "{err}");
    }

    #[test]
    fn a_line_that_is_not_a_checksum_is_named() {
        for (text, line) in [
            (format!("{SHA256}  a\nnot a checksum\n"), 2),
            (format!("{SHA256} a\n"), 1),
            (format!("{}  a\n", &SHA256[..63]), 1),
            (format!("{SHA256}  \n"), 1),
            (format!("CRC32 (a) = {}\n", &MD5[..8]), 1),
            (format!("\\{SHA256}  bad\\escape\n"), 1),
        ] {
            let err = Sums::default().add("SUMS", &text).unwrap_err();
            assert!(
                err.starts_with(&format!("SUMS:{line}: not a checksum line")),
                "{err}"
            );
        }
        let twice = format!("{SHA256}  a\n{}  a\n", SHA256.replace("b", "c"));
        let err = Sums::default().add("SUMS", &twice).unwrap_err();
        assert_eq!(err, "SUMS:2: another sha256 for a than SUMS:1 gives");
        // The same digest twice, and two algorithms for one name, are fine.
        let mut sums = Sums::default();
        sums.add("SUMS", &format!("{SHA256}  a\n{SHA256}  a\n{MD5}  a\n"))
            .unwrap();
        assert!(digest(&sums, "a", Algo::Md5).is_some());
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_or_refused_without_a_panic(
            text in crate::hostile::text(),
            bytes in crate::hostile::bytes(),
        ) {
            let _ = Sums::default().add("SUMS", &text);
            let _ = Sums::default().add("B2SUMS", &bytes);
        }
    }

    #[test]
    fn a_megabyte_of_checksums_is_read_in_linear_time() {
        let line = format!("{SHA256}  a/b c.iso\n");
        let tag = format!("SHA256 (x) = {SHA256}\n");
        crate::hostile::a_megabyte_within_a_second(&[&line, &tag], |text| {
            let _ = Sums::default().add("SUMS", text);
        });
    }
}
