//! URLs made safe to print: the password of `user:pass@` and the values of credential query
//! parameters become `***`, in the report, the logs, the JSON and the dry-run plan.

/// Query parameters whose values are credentials.
const SECRET_PARAMS: [&str; 9] = [
    "token",
    "access_token",
    "key",
    "api_key",
    "apikey",
    "sig",
    "signature",
    "password",
    "secret",
];

fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if SECRET_PARAMS.contains(&lower.as_str()) {
        return true;
    }
    // Presigned S3 and GCS URLs: X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, …
    (lower.starts_with("x-amz-") || lower.starts_with("x-goog-"))
        && ["signature", "credential", "token"]
            .iter()
            .any(|w| lower.contains(w))
}

/// Hides the password of `user:pass@` and the values of credential query parameters. Works on
/// raw text, so a line that failed to parse as a URL is redacted too.
pub fn redact_url(raw: &str) -> String {
    let (before_fragment, fragment) = match raw.find('#') {
        Some(i) => raw.split_at(i),
        None => (raw, ""),
    };
    let (base, query) = match before_fragment.find('?') {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(raw.len());
    // userinfo: between "://" and the first '@' of the authority.
    match base.find("://") {
        Some(start) => {
            let auth_start = start + 3;
            let auth_end = base[auth_start..]
                .find('/')
                .map_or(base.len(), |i| auth_start + i);
            let authority = &base[auth_start..auth_end];
            out.push_str(&base[..auth_start]);
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    match userinfo.find(':') {
                        Some(colon) => {
                            out.push_str(&userinfo[..colon]);
                            out.push_str(":***");
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push_str(&authority[at..]);
                }
                None => out.push_str(authority),
            }
            out.push_str(&base[auth_end..]);
        }
        None => out.push_str(base),
    }
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
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
    out.push_str(fragment);
    out
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
        assert_eq!(redact_url("https://user@h.com/"), "https://user@h.com/");
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
        // The '@' of a path is not userinfo.
        assert_eq!(redact_url("https://h.com/a:b@c"), "https://h.com/a:b@c");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
