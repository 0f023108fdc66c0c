//! URLs made safe to print: the password of `user:pass@` and the values of credential query
//! parameters (and of credential parameters in a fragment, as OAuth's `#access_token=`) become
//! `***`, in the report, the logs, the JSON and the dry-run plan.

/// Parameter names that are credentials, compared whole.
const SECRET_NAMES: [&str; 8] = ["key", "sig", "auth", "sid", "pass", "pwd", "code", "jwt"];

/// Parts of a name that make it a credential: `token`, `access_token`, `X-Amz-Security-Token`,
/// `client_secret`, `password`, `X-Goog-Signature`, `session_id`, `X-Amz-Credential`,
/// `api_key`, `access-key`, ...
const SECRET_PARTS: [&str; 10] = [
    "token",
    "secret",
    "passw",
    "signature",
    "session",
    "credential",
    "apikey",
    "accesskey",
    "_key",
    "-key",
];

/// Whether a parameter carries a credential; the name is compared percent-decoded and without
/// regard to case, so `%74oken` and `TOKEN` are `token`. Erring on the side of hiding: a
/// harmless value shown as `***` costs little, a credential shown costs a lot.
fn is_secret_param(name: &str) -> bool {
    let lower = percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    let lower = lower.trim();
    SECRET_NAMES.contains(&lower)
        || SECRET_PARTS.iter().any(|part| lower.contains(part))
        || lower.starts_with("auth_")
        || lower.ends_with("_auth")
}

/// Hides the credentials of a URL that parsed: the password of `user:pass@` (or the user name
/// itself when there is no password, as in `https://TOKEN@host/`, how many CI systems pass a
/// token) and the values of credential query parameters. A parsed URL percent-encodes its
/// userinfo, so that ends at the authority, and an `@` later in the path is only a path.
pub fn redact_url(url: &str) -> String {
    redact(url, Userinfo::InAuthority)
}

/// The same for text that did not parse as a URL, where a password may hold a `/`, `?`, `#` or
/// space: everything between `://` and the text's last `@` is taken for userinfo.
pub fn redact_text(text: &str) -> String {
    redact(text, Userinfo::BeforeLastAt)
}

/// Where userinfo can end.
#[derive(Clone, Copy)]
enum Userinfo {
    InAuthority,
    BeforeLastAt,
}

fn redact(raw: &str, userinfo: Userinfo) -> String {
    let mut out = String::with_capacity(raw.len());
    let Some(scheme_end) = raw.find("://").map(|i| i + 3) else {
        redact_query_and_fragment(raw, &mut out);
        return out;
    };
    out.push_str(&raw[..scheme_end]);
    let rest = &raw[scheme_end..];
    let at = match userinfo {
        Userinfo::InAuthority => {
            let authority = rest.find(['/', '?', '#']).map_or(rest, |end| &rest[..end]);
            authority.rfind('@')
        }
        Userinfo::BeforeLastAt => rest.rfind('@'),
    };
    let rest = match at {
        Some(at) => {
            match rest[..at].split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str("***"),
            }
            &rest[at..]
        }
        None => rest,
    };
    redact_query_and_fragment(rest, &mut out);
    out
}

/// Copies `rest` (host, path, query, fragment) with the values of credential parameters hidden,
/// in the query and in a fragment of `name=value` pairs alike.
fn redact_query_and_fragment(rest: &str, out: &mut String) {
    let (before_fragment, fragment) = rest.split_at(rest.find('#').unwrap_or(rest.len()));
    match before_fragment.split_once('?') {
        Some((base, query)) => {
            out.push_str(base);
            out.push('?');
            redact_pairs(query, out);
        }
        None => out.push_str(before_fragment),
    }
    if let Some(fragment) = fragment.strip_prefix('#') {
        out.push('#');
        redact_pairs(fragment, out);
    }
}

/// Copies `&`-separated `name=value` pairs with the values of credential names hidden.
fn redact_pairs(pairs: &str, out: &mut String) {
    for (i, pair) in pairs.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => {
                out.push_str(name);
                out.push_str("=***");
            }
            _ => out.push_str(pair),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("https://user:pass@h.com/a?x=1"),
            "https://user:***@h.com/a?x=1"
        );
        assert_eq!(redact_url("https://TOKEN@h.com/"), "https://***@h.com/");
        assert_eq!(
            redact_url("https://h.com/a?token=abc&id=7&API_KEY=k&sig=s#frag"),
            "https://h.com/a?token=***&id=7&API_KEY=***&sig=***#frag"
        );
        assert_eq!(
            redact_url(
                "https://b.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=AK%2F1&X-Amz-Signature=f00&X-Amz-Security-Token=t"
            ),
            "https://b.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***"
        );
        assert_eq!(
            redact_url("https://h/o?X-Goog-Signature=s&X-Goog-Date=d"),
            "https://h/o?X-Goog-Signature=***&X-Goog-Date=d"
        );
        assert_eq!(
            redact_url("https://h/?password=p&secret=s&access_token=a&apikey=k&signature=x&key=y"),
            "https://h/?password=***&secret=***&access_token=***&apikey=***&signature=***&key=***"
        );
        assert_eq!(
            redact_url("https://h/?session=s&auth=a&access_key=k&SessionId=i&author=me"),
            "https://h/?session=***&auth=***&access_key=***&SessionId=***&author=me"
        );
        assert_eq!(
            redact_url("https://h/f?X-Amz-Signature=s&client_secret=c&auth_token=t&q=1"),
            "https://h/f?X-Amz-Signature=***&client_secret=***&auth_token=***&q=1"
        );
        // OAuth's implicit flow hands the token in the fragment.
        assert_eq!(
            redact_url("https://h/cb#access_token=t&state=s&id_token=i"),
            "https://h/cb#access_token=***&state=s&id_token=***"
        );
        assert_eq!(redact_url("https://h/a#section-2"), "https://h/a#section-2");
        // The '@' of a path is not userinfo.
        assert_eq!(redact_url("https://h.com/a:b@c"), "https://h.com/a:b@c");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(
            redact_url("https://h/?%74oken=abc&%4B%45Y=k&x=1"),
            "https://h/?%74oken=***&%4B%45Y=***&x=1"
        );
    }

    #[test]
    fn text_that_did_not_parse() {
        for (raw, want) in [
            ("http://user:pa/ss@host/", "http://user:***@host/"),
            ("http://user:pa#ss@host/x", "http://user:***@host/x"),
            (
                "http://user:pa?ss@host/x?token=t",
                "http://user:***@host/x?token=***",
            ),
            (
                "http://user:pa ss@host/ out=x",
                "http://user:***@host/ out=x",
            ),
            ("http://tok/en@host/", "http://***@host/"),
            ("ftp://u:p@h/?sig=1#f", "ftp://u:***@h/?sig=***#f"),
            ("no scheme ?token=1", "no scheme ?token=***"),
        ] {
            assert_eq!(redact_text(raw), want, "{raw}");
        }
    }
}
