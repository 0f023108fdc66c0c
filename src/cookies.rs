//! The run's cookie jar: what servers set, kept for the run and shared by every worker's client,
//! sent back by RFC 6265's rules (domain and host-only, path, Secure, expiry), which
//! `cookie_store` keeps, as reqwest's own jar does. `--load-cookies` fills it from a cookies.txt
//! file (the Netscape format curl, wget and browsers' export tools write, `#HttpOnly_` lines
//! included) and `--save-cookies` writes it back in that format at the end, session cookies
//! included (wget's `--keep-session-cookies`).
//!
//! A cookie's value is a secret: nothing here ever shows one, in an error or in `Debug`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use cookie_store::{CookieDomain, CookieExpiration, CookieStore, RawCookie};
use reqwest::Url;
use reqwest::header::HeaderValue;

use crate::outcome::Summary;
use crate::staged::{Reserved, Sink, Staged};

/// The cookies of the run.
#[derive(Default)]
pub struct Jar {
    /// Read by every request of every worker, written only when an answer sets a cookie.
    store: RwLock<CookieStore>,
    /// Whether a cookie was ever kept: until then a request asks nothing of the store (a list
    /// of small files from servers that set none costs nothing more).
    any: AtomicBool,
}

impl fmt::Debug for Jar {
    /// How many cookies, never what they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.read().iter_unexpired().count();
        write!(f, "Jar({count} cookies)")
    }
}

impl reqwest::cookie::CookieStore for Jar {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        let cookies = headers.filter_map(|value| {
            let text = std::str::from_utf8(value.as_bytes()).ok()?;
            RawCookie::parse(text).ok().map(RawCookie::into_owned)
        });
        let cookies: Vec<_> = cookies.collect();
        if !cookies.is_empty() {
            self.write()
                .store_response_cookies(cookies.into_iter(), url);
        }
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let store = self.read();
        let mut header = String::new();
        for (name, value) in store.get_request_values(url) {
            if !header.is_empty() {
                header.push_str("; ");
            }
            header.push_str(name);
            header.push('=');
            header.push_str(value);
        }
        drop(store);
        (!header.is_empty())
            .then(|| HeaderValue::from_str(&header).ok())
            .flatten()
    }
}

impl Jar {
    fn read(&self) -> RwLockReadGuard<'_, CookieStore> {
        // A panic elsewhere while holding it leaves the cookies as they were: still usable.
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The store, to change: from then on requests look in it.
    fn write(&self) -> RwLockWriteGuard<'_, CookieStore> {
        self.any.store(true, Ordering::Release);
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The run's jar: empty, or filled from `--load-cookies FILE`. A FILE that does not exist
    /// yet (the first run of `--load-cookies F --save-cookies F`) is a note on stderr, and the
    /// run starts with no cookies.
    pub fn for_run(load: Option<&Path>) -> anyhow::Result<Jar> {
        match load {
            Some(path) if std::fs::symlink_metadata(path).is_err() => {
                eprintln!(
                    "fetchpool: --load-cookies {}: no such file yet; the run starts with no \
                     cookies",
                    path.display()
                );
                Ok(Jar::default())
            }
            Some(path) => Jar::load(path),
            None => Ok(Jar::default()),
        }
    }

    /// A jar filled from a cookies.txt file. A line that is not a cookie, or one that cannot be
    /// read, stops the run before anything is fetched: the message names the file and the line,
    /// never a value.
    pub fn load(path: &Path) -> anyhow::Result<Jar> {
        let shown = path.display();
        let text =
            std::fs::read(path).with_context(|| format!("cannot read --load-cookies {shown}"))?;
        let text = String::from_utf8_lossy(&text);
        let jar = Jar::default();
        let now = SystemTime::now();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            match parse_line(line, now) {
                Ok(None) => {}
                Ok(Some((cookie, url))) => {
                    let stored = jar.write().insert_raw(&cookie, &url);
                    if stored.is_err() {
                        bail!(
                            "--load-cookies {shown}:{}: the cookie for {} cannot be kept (its \
                             domain or path does not fit its host)",
                            n + 1,
                            url.host_str().unwrap_or_default()
                        );
                    }
                }
                Err(why) => bail!("--load-cookies {shown}:{}: {why}", n + 1),
            }
        }
        Ok(jar)
    }

    /// The jar as a cookies.txt file: every cookie not expired, session cookies too (with an
    /// expiry of 0, as curl writes them).
    pub fn to_netscape(&self) -> String {
        let mut out = String::from(
            "# Netscape HTTP Cookie File\n# Written by fetchpool: the cookies of one run. It \
             holds secrets: keep it private.\n\n",
        );
        let store = self.read();
        let mut lines: Vec<String> = store
            .iter_unexpired()
            .filter_map(|cookie| {
                let (domain, subdomains) = match &cookie.domain {
                    CookieDomain::HostOnly(host) => (host.clone(), "FALSE"),
                    CookieDomain::Suffix(domain) => (format!(".{domain}"), "TRUE"),
                    CookieDomain::NotPresent | CookieDomain::Empty => return None,
                };
                let expires = match &cookie.expires {
                    CookieExpiration::AtUtc(at) => at.unix_timestamp().max(1),
                    CookieExpiration::SessionEnd => 0,
                };
                let http_only = if cookie.http_only().unwrap_or(false) {
                    "#HttpOnly_"
                } else {
                    ""
                };
                let secure = if cookie.secure().unwrap_or(false) {
                    "TRUE"
                } else {
                    "FALSE"
                };
                Some(format!(
                    "{http_only}{domain}\t{subdomains}\t{}\t{secure}\t{expires}\t{}\t{}",
                    cookie.path.as_ref(),
                    cookie.name(),
                    cookie.value()
                ))
            })
            .collect();
        lines.sort();
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// `--save-cookies FILE`: the jar, written when the run ends, mode 0600, placed as the report
/// files are.
pub struct JarFile {
    out: Staged,
    jar: Arc<Jar>,
}

impl JarFile {
    /// Starts FILE (a fatal error, before anything runs, where it could never be written).
    pub fn create(
        path: &Path,
        jar: Arc<Jar>,
        reserved: &[Arc<Reserved>],
    ) -> anyhow::Result<JarFile> {
        let out = Staged::create(path, "--save-cookies", 0o600, reserved)?;
        Ok(JarFile { out, jar })
    }
}

impl Sink for JarFile {
    fn finish(mut self: Box<Self>, _summary: &Summary) -> Result<(), String> {
        for line in self.jar.to_netscape().lines() {
            self.out.write_line(line);
        }
        self.out.place()
    }
}

/// One line of a cookies.txt file: `None` for a comment or a blank line (or a cookie already
/// expired); else the cookie with the URL it is as if set from. Why not, without the line's
/// text: it may hold a value.
fn parse_line(line: &str, now: SystemTime) -> Result<Option<(RawCookie<'static>, Url)>, String> {
    let (http_only, line) = match line.strip_prefix("#HttpOnly_") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    if line.trim().is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let fields: Vec<&str> = line.split('\t').collect();
    let [domain, subdomains, path, secure, expires, name, value] = fields[..] else {
        return Err(format!(
            "not a cookie line: {} fields separated by TAB, where a cookie has 7 (domain, \
             subdomains, path, secure, expiry, name, value)",
            fields.len()
        ));
    };
    let flag = |field: &str, what: &str| match field.to_ascii_uppercase().as_str() {
        "TRUE" => Ok(true),
        "FALSE" => Ok(false),
        _ => Err(format!("its {what} field is not TRUE or FALSE")),
    };
    let subdomains = flag(subdomains, "subdomains")?;
    let secure = flag(secure, "secure")?;
    let expires: u64 = expires
        .trim()
        .parse()
        .map_err(|_| "its expiry is not a number of seconds".to_string())?;
    let host = domain.trim_start_matches('.');
    if host.is_empty() || name.is_empty() {
        return Err("it has no domain or no name".into());
    }
    let at = UNIX_EPOCH + Duration::from_secs(expires);
    if expires != 0 && at <= now {
        return Ok(None);
    }
    let url = Url::parse(&format!("https://{host}/"))
        .map_err(|_| "its domain is not a host name".to_string())?;
    let mut cookie = RawCookie::new(name.to_string(), value.to_string());
    if subdomains {
        cookie.set_domain(host.to_string());
    }
    cookie.set_path(if path.is_empty() { "/" } else { path }.to_string());
    cookie.set_secure(secure);
    cookie.set_http_only(http_only);
    if expires != 0 {
        // Through its HTTP date, as a server would have sent it.
        let date = httpdate::fmt_http_date(at);
        let with_date = RawCookie::parse(format!("x=y; Expires={date}"))
            .map_err(|_| "its expiry is out of range".to_string())?;
        if let Some(expires) = with_date.expires() {
            cookie.set_expires(expires);
        }
    }
    Ok(Some((cookie, url)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::cookie::CookieStore as _;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn sent(jar: &Jar, to: &str) -> String {
        jar.cookies(&url(to))
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_cookies_txt_file_is_read_by_domain_path_secure_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cookies.txt");
        let later = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        std::fs::write(
            &path,
            format!(
                "# Netscape HTTP Cookie File\n\
                 .example.org\tTRUE\t/\tFALSE\t{later}\twide\tw1\n\
                 data.example.org\tFALSE\t/files\tFALSE\t0\tnarrow\tn1\n\
                 #HttpOnly_data.example.org\tFALSE\t/\tTRUE\t{later}\tsession\ts3cret\n\
                 old.example.org\tFALSE\t/\tFALSE\t1\tgone\tg1\n"
            ),
        )
        .unwrap();
        let jar = Jar::load(&path).unwrap();
        assert_eq!(sent(&jar, "http://www.example.org/a"), "wide=w1");
        let files = sent(&jar, "https://data.example.org/files/x");
        for pair in ["wide=w1", "narrow=n1", "session=s3cret"] {
            assert!(files.contains(pair), "{files}");
        }
        // Secure only over https; host-only not for a subdomain; the path must match.
        assert!(!sent(&jar, "http://data.example.org/files/x").contains("session"));
        assert!(!sent(&jar, "https://x.data.example.org/files/x").contains("narrow"));
        assert!(!sent(&jar, "https://data.example.org/other").contains("narrow"));
        assert!(
            !sent(&jar, "http://old.example.org/").contains("gone"),
            "expired"
        );
        assert_eq!(sent(&jar, "http://example.net/"), "");
        // Written back in the same format, read back the same.
        let saved = jar.to_netscape();
        assert!(
            saved.contains("#HttpOnly_data.example.org\tFALSE\t/\tTRUE\t"),
            "{saved}"
        );
        assert!(saved.contains("data.example.org\tFALSE\t/files\tFALSE\t0\tnarrow\tn1"));
        assert!(saved.contains(".example.org\tTRUE\t/\tFALSE\t"));
        std::fs::write(&path, &saved).unwrap();
        let again = Jar::load(&path).unwrap();
        assert_eq!(again.to_netscape(), saved);
        assert_eq!(format!("{jar:?}"), "Jar(3 cookies)");
    }

    #[test]
    fn a_bad_line_names_its_place_and_never_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.txt");
        for (text, why) in [
            ("example.org\tFALSE\t/\tFALSE\t0\ts3cret\n", "7"),
            ("example.org\tmaybe\t/\tFALSE\t0\tn\ts3cret\n", "subdomains"),
            ("example.org\tFALSE\t/\tFALSE\tsoon\tn\ts3cret\n", "expiry"),
        ] {
            std::fs::write(&path, format!("# ok\n{text}")).unwrap();
            let err = format!("{:#}", Jar::load(&path).unwrap_err());
            assert!(err.contains("c.txt:2:") && err.contains(why), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn cookies_a_server_sets_go_back_only_where_they_belong() {
        let jar = Jar::default();
        let set = [
            HeaderValue::from_static("sid=abc; Path=/; HttpOnly"),
            HeaderValue::from_static("pref=1; Domain=example.org; Path=/data"),
        ];
        jar.set_cookies(&mut set.iter(), &url("https://login.example.org/auth"));
        assert_eq!(sent(&jar, "https://login.example.org/x"), "sid=abc");
        assert_eq!(sent(&jar, "https://files.example.org/data/f"), "pref=1");
        assert_eq!(sent(&jar, "https://files.example.org/other"), "");
        assert_eq!(sent(&jar, "https://evil.example.net/data/f"), "");
        assert!(
            jar.to_netscape()
                .contains("login.example.org\tFALSE\t/\tFALSE\t0\tsid\tabc")
        );
    }
}
