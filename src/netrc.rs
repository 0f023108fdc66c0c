//! `.netrc` credentials, read as curl reads them (`lib/netrc.c`): `machine HOST login USER
//! password PASS`, a `default` entry for every other host, `account` ignored and `macdef` bodies
//! skipped to the next empty line. Words are separated by whitespace, or quoted with `"` (with
//! `\n`, `\r`, `\t` and `\"` escapes); keywords are matched in any case; the word after
//! `machine`, `login`, `password` or `account` is always a value, whatever it spells; a line whose
//! first non-blank character is `#` is a comment (a `#` later in a line is part of a word); and
//! a word that is none of these is skipped.
//!
//! Nothing here ever prints a word of the file, in an error or a warning: which words are
//! passwords depends on the very reading that went wrong. Messages name lines only, and
//! [`Credentials`] has no `Debug` that shows a password.

use std::fmt;
use std::path::Path;

use anyhow::Context as _;

use crate::list::MAX_LINE;

/// A login and password for one host.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub login: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials {{ login: {:?}, password: *** }}",
            self.login
        )
    }
}

/// The entries of a netrc file, in file order.
#[derive(Debug, Clone, Default)]
pub struct Netrc {
    machines: Vec<(String, Credentials)>,
    default: Option<Credentials>,
}

/// A word of the file and the line it starts on.
struct Word {
    text: String,
    line: usize,
}

impl Netrc {
    /// Reads `path`; `warn` is told if others may read the file (it holds passwords) and of
    /// lines with words that are skipped.
    pub fn load(path: &Path, mut warn: impl FnMut(String)) -> anyhow::Result<Netrc> {
        use std::os::unix::fs::PermissionsExt;
        let shown = path.display();
        let text =
            read_capped(path).with_context(|| format!("cannot read the netrc file {shown}"))?;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            warn(format!(
                "warning: {shown} can be read by other users; it holds passwords (chmod 600 it)"
            ));
        }
        let (netrc, skipped) =
            Netrc::parse(&text).with_context(|| format!("cannot read the netrc file {shown}"))?;
        if !skipped.is_empty() {
            let lines = skipped
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let s = if skipped.len() == 1 { "" } else { "s" };
            warn(format!(
                "warning: {shown}, line{s} {lines}: skipped a word that is not machine, default, \
                 login, password, account or macdef (a password with spaces needs \"quotes\")"
            ));
        }
        Ok(netrc)
    }

    /// The entries of `text`, and the lines where words were skipped. Fails only on a quoted
    /// word that is not closed, naming its line.
    pub fn parse(text: &str) -> anyhow::Result<(Netrc, Vec<usize>)> {
        if let Some(i) = text.split('\n').position(|line| line.len() > MAX_LINE) {
            anyhow::bail!("line {}: longer than {} KiB", i + 1, MAX_LINE / 1024);
        }
        let mut netrc = Netrc::default();
        let mut skipped: Vec<usize> = Vec::new();
        let mut words = Words::new(text);
        // The entry being read: `Some(host)` for a machine, `None` for `default`.
        let mut current: Option<(Option<String>, Credentials)> = None;
        while let Some(word) = words.next()? {
            let keyword = word.text.to_ascii_lowercase();
            match keyword.as_str() {
                "machine" | "default" | "macdef" => {
                    netrc.finish(current.take());
                    match keyword.as_str() {
                        "machine" => {
                            let host = words.next()?.map(|w| w.text.to_ascii_lowercase());
                            current = host.map(|host| (Some(host), empty()));
                        }
                        "default" => current = Some((None, empty())),
                        _ => words.skip_macro(),
                    }
                }
                "login" | "password" | "account" => {
                    let Some(value) = words.next()? else { break };
                    if let Some((_, creds)) = &mut current {
                        match keyword.as_str() {
                            "login" => creds.login = value.text,
                            "password" => creds.password = value.text,
                            _ => {}
                        }
                    }
                }
                _ => {
                    if skipped.last() != Some(&word.line) {
                        skipped.push(word.line);
                    }
                }
            }
        }
        netrc.finish(current.take());
        Ok((netrc, skipped))
    }

    fn finish(&mut self, entry: Option<(Option<String>, Credentials)>) {
        match entry {
            Some((Some(host), creds)) => self.machines.push((host, creds)),
            Some((None, creds)) if self.default.is_none() => self.default = Some(creds),
            _ => {}
        }
    }

    /// The credentials for `host`: the first `machine` entry for it that has any, else
    /// `default`. With a `login` from the URL, only an entry for that login with a password
    /// counts.
    pub fn lookup(&self, host: &str, login: Option<&str>) -> Option<&Credentials> {
        let host = host.to_ascii_lowercase();
        let wanted = |c: &&Credentials| match login {
            Some(login) => c.login == login && !c.password.is_empty(),
            None => !c.login.is_empty() || !c.password.is_empty(),
        };
        self.machines
            .iter()
            .filter(|(h, _)| *h == host)
            .map(|(_, c)| c)
            .find(wanted)
            .or_else(|| self.default.as_ref().filter(wanted))
    }

    /// The first `machine` entry made out to `host` by name that has credentials; never
    /// `default` (for a host a redirect led to: not one the list named).
    pub fn lookup_machine(&self, host: &str) -> Option<&Credentials> {
        let host = host.to_ascii_lowercase();
        self.machines
            .iter()
            .filter(|(h, _)| *h == host)
            .map(|(_, c)| c)
            .find(|c| !c.login.is_empty() || !c.password.is_empty())
    }
}

/// The longest netrc file read: thousands of hosts' worth, and no more (`/dev/zero` is no
/// netrc file).
const MAX_FILE: u64 = 16 * 1024 * 1024;

fn read_capped(path: &Path) -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE {
        anyhow::bail!("longer than {} MiB (not a netrc file)", MAX_FILE >> 20);
    }
    Ok(text)
}

fn empty() -> Credentials {
    Credentials {
        login: String::new(),
        password: String::new(),
    }
}

/// The words of a netrc file. Comment lines are left out as curl leaves them out, when the
/// file is read (so they do not end a `macdef` either); each word knows its line.
struct Words {
    text: String,
    /// Where each kept line starts in `text`, and its number in the file.
    lines: Vec<(usize, usize)>,
    pos: usize,
}

impl Words {
    fn new(file: &str) -> Words {
        let mut text = String::with_capacity(file.len());
        let mut lines = Vec::new();
        for (i, line) in file.split_inclusive('\n').enumerate() {
            if line.trim_start_matches([' ', '\t']).starts_with('#') {
                continue;
            }
            lines.push((text.len(), i + 1));
            text.push_str(line);
        }
        Words {
            text,
            lines,
            pos: 0,
        }
    }

    /// The file's line number of the byte at `pos`.
    fn line_at(&self, pos: usize) -> usize {
        let i = self.lines.partition_point(|&(start, _)| start <= pos);
        self.lines[i.saturating_sub(1)].1
    }

    fn next(&mut self) -> anyhow::Result<Option<Word>> {
        let rest = &self.text[self.pos..];
        let start = self.pos + (rest.len() - rest.trim_start().len());
        let rest = &self.text[start..];
        if rest.is_empty() {
            self.pos = start;
            return Ok(None);
        }
        let line = self.line_at(start);
        let Some(quoted) = rest.strip_prefix('"') else {
            let len = rest.find(char::is_whitespace).unwrap_or(rest.len());
            self.pos = start + len;
            return Ok(Some(Word {
                text: rest[..len].to_string(),
                line,
            }));
        };
        let mut text = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos = start + 1 + i + 1;
                    return Ok(Some(Word { text, line }));
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => text.push('\n'),
                    Some((_, 'r')) => text.push('\r'),
                    Some((_, 't')) => text.push('\t'),
                    Some((_, other)) => text.push(other),
                    None => break,
                },
                other => text.push(other),
            }
        }
        anyhow::bail!("line {line}: a quoted word is not closed");
    }

    /// A `macdef` body runs to the first empty line.
    fn skip_macro(&mut self) {
        let rest = &self.text[self.pos..];
        let mut at = 0;
        let end = loop {
            let Some(newline) = rest[at..].find('\n') else {
                break rest.len();
            };
            at += newline + 1;
            let after = rest[at..].trim_start_matches('\r');
            if after.starts_with('\n') {
                break rest.len() - after.len();
            }
        };
        self.pos += end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Netrc {
        Netrc::parse(text).unwrap().0
    }

    #[test]
    fn machines_default_and_login_matching() {
        let netrc = parse(
            "# artifacts\n\
             machine Repo.example.com login ci password s3cret\n\
             MACHINE repo.example.com Login other PASSWORD two\n\
             machine files.example.com\n  login \"a user\"\n  password \"p \\\"q\\\" \\\\r\"\n\
             macdef init\ncd /pub\nls\n\n\
             default login anonymous password guest@\n",
        );
        let c = netrc.lookup("repo.example.com", None).unwrap();
        assert_eq!((c.login.as_str(), c.password.as_str()), ("ci", "s3cret"));
        let c = netrc.lookup("REPO.example.com", Some("other")).unwrap();
        assert_eq!(c.password, "two");
        let c = netrc.lookup("files.example.com", None).unwrap();
        assert_eq!(
            (c.login.as_str(), c.password.as_str()),
            ("a user", "p \"q\" \\r")
        );
        let c = netrc.lookup("elsewhere", None).unwrap();
        assert_eq!(c.login, "anonymous");
        assert!(netrc.lookup("elsewhere", Some("nobody")).is_none());
        assert!(
            !format!("{c:?}").contains("guest"),
            "Debug never shows a password"
        );
    }

    #[test]
    fn read_as_curl_reads_it() {
        // A `#` inside a line is part of a word; a keyword spelled as a value is a value;
        // unknown words are skipped, and the lines they are on reported.
        let (netrc, skipped) = Netrc::parse(
            "machine a login u password #not-a-comment\n\
             machine b login machine password default\n\
             \t# a comment line, indented\n\
             machine c colour blue login x password y\n",
        )
        .unwrap();
        assert_eq!(netrc.lookup("a", None).unwrap().password, "#not-a-comment");
        let b = netrc.lookup("b", None).unwrap();
        assert_eq!(
            (b.login.as_str(), b.password.as_str()),
            ("machine", "default")
        );
        assert_eq!(netrc.lookup("c", None).unwrap().password, "y");
        assert_eq!(skipped, [4]);
        // Words before any machine, a machine without a name, an empty file: nothing, no error.
        assert!(parse("login x password y").lookup("a", None).is_none());
        assert!(parse("machine").lookup("a", None).is_none());
        assert!(parse("").lookup("a", None).is_none());
        // A macro runs to an empty line, or to the end of the file.
        let after = parse("macdef init\ncd /pub\n\nmachine a login u password p");
        assert_eq!(after.lookup("a", None).unwrap().password, "p");
        let (_, skipped) = Netrc::parse("machine a login u password p\nmacdef x\nls -l").unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        // An entry with neither login nor password is no entry.
        assert!(
            parse("machine a\nmachine a login u password p")
                .lookup("a", None)
                .is_some()
        );
        assert!(parse("machine a").lookup("a", None).is_none());
    }

    #[test]
    fn no_word_of_the_file_is_ever_in_a_message() {
        let secret = "s3cretpart";
        for text in [
            format!("machine a login u password \"my {secret}\n"),
            format!("machine a login u password my {secret}\n"),
            format!("machine a login u password \"{secret}"),
            format!("machine a\nlogin u\npassword {secret} extra{secret}\n"),
        ] {
            let message = match Netrc::parse(&text) {
                Ok((_, skipped)) => format!("{skipped:?}"),
                Err(e) => format!("{e:#}"),
            };
            assert!(!message.contains(secret), "{message}");
            assert!(!message.contains("my"), "{message}");
        }
        let err = Netrc::parse("machine a\n\nlogin u password \"open").unwrap_err();
        assert_eq!(err.to_string(), "line 3: a quoted word is not closed");
        let (_, skipped) = Netrc::parse("machine a login u password my s3cret\n").unwrap();
        assert_eq!(skipped, [1]);
        let long = format!("machine a\nlogin u password {}\n", "s".repeat(MAX_LINE));
        let err = Netrc::parse(&long).unwrap_err();
        assert_eq!(err.to_string(), "line 2: longer than 64 KiB");
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_or_refused_without_a_panic(
            text in crate::hostile::text(),
            bytes in crate::hostile::bytes(),
        ) {
            let _ = Netrc::parse(&text);
            let _ = Netrc::parse(&bytes);
        }
    }

    #[test]
    fn a_megabyte_of_netrc_is_read_in_linear_time() {
        let entry = "machine h login u password \"p\\\" q\"\n";
        crate::hostile::a_megabyte_within_a_second(&[entry, "macdef m\nx\n\n"], |text| {
            let _ = Netrc::parse(text);
        });
    }
}
