//! `.netrc` credentials, read as curl reads them: `machine HOST login USER password PASS`, a
//! `default` entry for every other host, `account` ignored and `macdef` bodies skipped; tokens
//! separated by whitespace, or quoted with `"` and backslash escapes. Nothing here prints a
//! password: [`Credentials`] has no `Debug` that shows it.

use std::fmt;
use std::path::Path;

use anyhow::Context as _;

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

impl Netrc {
    /// Reads `path`; `warn` is told if others may read the file (it holds passwords).
    pub fn load(path: &Path, warn: impl FnOnce(String)) -> anyhow::Result<Netrc> {
        use std::os::unix::fs::PermissionsExt;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the netrc file {}", path.display()))?;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            warn(format!(
                "warning: {} can be read by other users; it holds passwords (chmod 600 it)",
                path.display()
            ));
        }
        Netrc::parse(&text).with_context(|| format!("cannot parse {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Netrc> {
        let mut netrc = Netrc::default();
        let mut tokens = Tokens::new(text);
        // The entry being read: `Some(host)` for a machine, `None` for `default`.
        let mut current: Option<(Option<String>, Credentials)> = None;
        let finish = |netrc: &mut Netrc, entry: Option<(Option<String>, Credentials)>| match entry {
            Some((Some(host), creds)) => netrc.machines.push((host, creds)),
            Some((None, creds)) if netrc.default.is_none() => netrc.default = Some(creds),
            _ => {}
        };
        while let Some(token) = tokens.next()? {
            match token.as_str() {
                "machine" => {
                    finish(&mut netrc, current.take());
                    let host = tokens.value("machine")?;
                    current = Some((Some(host.to_ascii_lowercase()), empty()));
                }
                "default" => {
                    finish(&mut netrc, current.take());
                    current = Some((None, empty()));
                }
                "login" | "password" | "account" => {
                    let value = tokens.value(&token)?;
                    let Some((_, creds)) = &mut current else {
                        anyhow::bail!("'{token}' before any 'machine' or 'default'");
                    };
                    match token.as_str() {
                        "login" => creds.login = value,
                        "password" => creds.password = value,
                        _ => {}
                    }
                }
                "macdef" => {
                    tokens.value("macdef")?;
                    tokens.skip_macro();
                }
                other => anyhow::bail!("unknown word '{other}'"),
            }
        }
        finish(&mut netrc, current.take());
        Ok(netrc)
    }

    /// The credentials for `host`: the first `machine` entry for it, else `default`. With a
    /// `login` from the URL, only an entry for that login counts.
    pub fn lookup(&self, host: &str, login: Option<&str>) -> Option<&Credentials> {
        let host = host.to_ascii_lowercase();
        let wanted = |c: &&Credentials| login.is_none_or(|l| c.login == l);
        self.machines
            .iter()
            .filter(|(h, _)| *h == host)
            .map(|(_, c)| c)
            .find(wanted)
            .or_else(|| self.default.as_ref().filter(wanted))
    }
}

fn empty() -> Credentials {
    Credentials {
        login: String::new(),
        password: String::new(),
    }
}

/// Whitespace-separated words, or `"quoted strings"` with `\"`, `\\`, `\n`, `\r`, `\t`.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Tokens<'a> {
        Tokens { rest: text }
    }

    fn next(&mut self) -> anyhow::Result<Option<String>> {
        self.rest = self.rest.trim_start();
        // A comment runs to the end of its line.
        while self.rest.starts_with('#') {
            self.rest = self
                .rest
                .split_once('\n')
                .map_or("", |(_, r)| r)
                .trim_start();
        }
        if self.rest.is_empty() {
            return Ok(None);
        }
        if let Some(quoted) = self.rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        self.rest = &quoted[i + 1..];
                        return Ok(Some(value));
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, other)) => value.push(other),
                        None => break,
                    },
                    other => value.push(other),
                }
            }
            anyhow::bail!("a quoted word is not closed");
        }
        let end = self
            .rest
            .find(char::is_whitespace)
            .unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        Ok(Some(word.to_string()))
    }

    fn value(&mut self, key: &str) -> anyhow::Result<String> {
        self.next()?
            .with_context(|| format!("'{key}' without a value"))
    }

    /// A `macdef` body runs to the first empty line.
    fn skip_macro(&mut self) {
        let mut lines = self.rest.split_inclusive('\n');
        // The rest of the `macdef NAME` line.
        let mut consumed = lines.next().map_or(0, str::len);
        for line in lines {
            consumed += line.len();
            if line.trim().is_empty() {
                break;
            }
        }
        self.rest = &self.rest[consumed..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_default_and_login_matching() {
        let netrc = Netrc::parse(
            "# artifacts\n\
             machine Repo.example.com login ci password s3cret\n\
             machine repo.example.com login other password two\n\
             machine files.example.com\n  login \"a user\"\n  password \"p \\\"q\\\" \\\\r\"\n\
             macdef init\ncd /pub\nls\n\n\
             default login anonymous password guest@\n",
        )
        .unwrap();
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
    fn without_default_other_hosts_get_nothing() {
        let netrc = Netrc::parse("machine a login u password p").unwrap();
        assert!(netrc.lookup("b", None).is_none());
        assert!(Netrc::parse("login x").is_err());
        assert!(Netrc::parse("machine").is_err());
        assert!(Netrc::parse("machine a login \"open").is_err());
        assert!(Netrc::parse("machine a colour blue").is_err());
        assert!(Netrc::parse("").unwrap().lookup("a", None).is_none());
    }
}
