//! Proxies: `--proxy URL` and `--noproxy LIST`, or the environment's `https_proxy`,
//! `http_proxy`, `all_proxy` and `no_proxy` as curl reads them. What every worker's client is
//! given, and which proxy a URL goes through, for a message that names it (its password hidden).
//! The choosing itself is hyper-util's matcher, the one reqwest decides by.

use anyhow::Context as _;
use hyper_util::client::proxy::matcher::Matcher;
use reqwest::{NoProxy, Proxy, Url};

use crate::config::ProxySettings;
use crate::redact::redact_url;

/// The proxies to give a client: `None` leaves reqwest to read the environment itself (it reads
/// the same variables, the same way).
pub fn for_client(settings: &ProxySettings) -> anyhow::Result<Option<Vec<Proxy>>> {
    let no = || match &settings.noproxy {
        Some(list) => NoProxy::from_string(list),
        None => NoProxy::from_env(),
    };
    if let Some(url) = &settings.url {
        let proxy = Proxy::all(url.as_str())
            .with_context(|| format!("--proxy {}: not a usable proxy", redact_url(url.as_str())))?;
        return Ok(Some(vec![proxy.no_proxy(no())]));
    }
    if settings.noproxy.is_none() {
        return Ok(None);
    }
    // --noproxy with the environment's proxies: each in its place, as reqwest would take them.
    let env = Env::read();
    let mut proxies = Vec::new();
    for (kind, value) in [
        ("http", &env.http),
        ("https", &env.https),
        ("all", &env.all),
    ] {
        let Some(value) = value else { continue };
        let proxy = match kind {
            "http" => Proxy::http(value.as_str()),
            "https" => Proxy::https(value.as_str()),
            _ => Proxy::all(value.as_str()),
        }
        .with_context(|| {
            format!(
                "the proxy {} in the environment is not usable",
                redact_url(value)
            )
        })?;
        proxies.push(proxy.no_proxy(no()));
    }
    Ok(Some(proxies))
}

/// The proxy `url` is fetched through, if any, as `host:port`.
pub fn via(settings: &ProxySettings, url: &Url) -> Option<String> {
    let matcher = match &settings.url {
        Some(proxy) => {
            let builder = Matcher::builder().all(proxy.as_str());
            match &settings.noproxy {
                Some(list) => builder.no(list),
                None => builder.no(Env::read().no.unwrap_or_default()),
            }
            .build()
        }
        None => {
            let env = Env::read();
            let mut builder = Matcher::builder();
            if let Some(all) = env.all {
                builder = builder.all(all);
            }
            if let Some(http) = env.http {
                builder = builder.http(http);
            }
            if let Some(https) = env.https {
                builder = builder.https(https);
            }
            let no = settings.noproxy.clone().or(env.no).unwrap_or_default();
            builder.no(no).build()
        }
    };
    let uri: http::Uri = url.as_str().parse().ok()?;
    let proxy = matcher.intercept(&uri)?;
    let proxy = proxy.uri();
    let host = proxy.host()?;
    let port = proxy.port_u16().unwrap_or(match proxy.scheme_str() {
        Some("https") => 443,
        Some("http") => 80,
        _ => 1080,
    });
    Some(format!("{host}:{port}"))
}

/// The proxy variables, as curl reads them: the lower-case spelling first, and `HTTP_PROXY`
/// in upper case not at all when running as a CGI script (where a request's `Proxy:` header
/// would set it).
struct Env {
    http: Option<String>,
    https: Option<String>,
    all: Option<String>,
    no: Option<String>,
}

impl Env {
    fn read() -> Env {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        let cgi = std::env::var_os("REQUEST_METHOD").is_some();
        Env {
            http: if cgi {
                var(&["http_proxy"])
            } else {
                var(&["http_proxy", "HTTP_PROXY"])
            },
            https: var(&["https_proxy", "HTTPS_PROXY"]),
            all: var(&["all_proxy", "ALL_PROXY"]),
            no: var(&["no_proxy", "NO_PROXY"]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: Option<&str>, noproxy: Option<&str>) -> ProxySettings {
        ProxySettings {
            url: url.map(|u| Url::parse(u).unwrap()),
            noproxy: noproxy.map(str::to_string),
        }
    }

    #[test]
    fn a_url_goes_through_the_proxy_unless_noproxy_names_its_host() {
        let given = settings(
            Some("http://user:s3cret@127.0.0.1:3128"),
            Some("example.net"),
        );
        let via = |u: &str| via(&given, &Url::parse(u).unwrap());
        assert_eq!(
            via("https://example.org/a").as_deref(),
            Some("127.0.0.1:3128")
        );
        assert_eq!(
            via("http://example.org/a").as_deref(),
            Some("127.0.0.1:3128")
        );
        assert_eq!(via("https://www.example.net/a"), None);
        let socks = settings(Some("socks5h://127.0.0.1:1080"), None);
        assert_eq!(
            super::via(&socks, &Url::parse("https://e.org/").unwrap()).as_deref(),
            Some("127.0.0.1:1080")
        );
        let everything = settings(Some("http://127.0.0.1:3128"), Some("*"));
        assert_eq!(
            super::via(&everything, &Url::parse("https://e.org/").unwrap()),
            None
        );
        assert_eq!(for_client(&given).unwrap().map(|p| p.len()), Some(1));
    }
}
