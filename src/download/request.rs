//! The HTTP side of an attempt: the client every worker has (built from the run's TLS
//! configuration, `tls.rs`), and one GET with its redirects followed by hand (only to http and
//! https, and with the `-H` headers and URL credentials only on the listed URL's origin).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use reqwest::header::{HeaderValue, IF_RANGE, LOCATION, RANGE};
use reqwest::{Client, RequestBuilder, Response, StatusCode, Url};

use super::connections::{CountHandshakes, Handshakes};
use super::kit::Kit;
use super::limits::Limits;
use super::proxy;
use super::resolve::Resolver;
use super::retry::Failure;
use super::tls::{tls_hint, tls_trouble};
use super::validators::Validators;
use crate::config::Policy;
use crate::entry::Entry;
use crate::netrc::Credentials;
use crate::redact::redact_url;

/// One worker's client. Its pooled connections belong to the runtime that opens them, so each
/// worker has its own; its handshakes are counted in `handshakes` (`connections.rs`).
pub fn client(
    policy: &Policy,
    tls: &rustls::ClientConfig,
    resolver: &Arc<Resolver>,
    handshakes: &Arc<Handshakes>,
) -> anyhow::Result<Client> {
    let builder = Client::builder()
        .connector_layer(CountHandshakes(Arc::clone(handshakes)))
        .user_agent(&policy.user_agent)
        .referer(false)
        // Redirects are followed by hand: only to http/https, and without -H headers across
        // origins.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(policy.connect_timeout)
        .tls_backend_preconfigured(tls.clone())
        .dns_resolver(Arc::clone(resolver));
    let builder = if policy.tls.http1_only {
        builder.http1_only()
    } else {
        builder
    };
    // One jar for the run: a cookie one worker's answer set goes with every worker's next
    // request to its host.
    let builder = builder.cookie_provider(Arc::clone(&policy.cookies));
    let builder = match proxy::for_client(&policy.proxy)? {
        Some(proxies) => proxies.into_iter().fold(builder, |b, p| b.proxy(p)),
        None => builder,
    };
    builder.build().context("cannot set up the HTTP client")
}

/// What a GET asks for beyond the resource itself.
#[derive(Clone, Copy, Default)]
pub struct Ask<'a> {
    /// `Range`: the bytes from the first offset on, up to and including the second if given.
    pub range: Option<(u64, Option<u64>)>,
    /// `If-Range`: the range only if the file is still this version (else all of it, 200).
    pub if_range: Option<&'a str>,
    /// `--update`: the validators of the file in place (`If-None-Match`, `If-Modified-Since`).
    pub conditions: Option<&'a Validators>,
}

/// A URL as the list gives it, with what may be sent to its origin.
#[derive(Clone, Copy)]
pub struct Listed<'a> {
    /// The entry's URL, or one of its mirrors.
    pub url: &'a Url,
    /// The `-H` headers, and the entry's own (`header=` in the list), go to its origin: they
    /// belong to the origin of the entry's own URL, and a mirror elsewhere never gets them (an
    /// `Authorization` for a private server is not for a public mirror).
    pub headers: bool,
    /// The entry's own headers.
    pub own_headers: &'a [(String, String)],
}

impl<'a> Listed<'a> {
    /// `url`, listed by `entry` (its own URL, or a mirror of it).
    pub fn of(entry: &'a Entry, url: &'a Url) -> Listed<'a> {
        // The entry's own URL, as almost always: no origin to compute (two allocations).
        let own = std::ptr::eq(&entry.url, url);
        Listed {
            url,
            headers: own || url.origin() == entry.url.origin(),
            own_headers: &entry.options.headers,
        }
    }
}

/// Sends the GET for `listed` (an entry's URL, or one of its mirrors) with what `ask` adds and
/// follows redirects to a final response.
/// Every wait is under the attempt's `limits`.
pub async fn send(
    listed: Listed<'_>,
    kit: &Kit<'_>,
    limits: &Limits,
    ask: Ask<'_>,
) -> Result<Response, Failure> {
    let mut url = listed.url.clone();
    let mut redirects = 0;
    let mut refusals = 0;
    loop {
        if let Some(pause) = kit.throttle.host_turn(&url) {
            let started = Instant::now();
            let slept = limits.sleep(pause).await;
            if let Some(lane) = kit.lane {
                lane.waited(started);
            }
            slept?;
        }
        let same_origin = redirects == 0 || url.origin() == listed.url.origin();
        let response = loop {
            let request = build(listed, kit, &url, same_origin, ask);
            match limits.wait(request.send()).await? {
                Ok(response) => break response,
                // Never processed by the server: asked again at once, not a failed attempt.
                Err(e) if refused_unprocessed(&e) && refusals < MAX_REFUSALS => {
                    refusals += 1;
                    kit.log(|| {
                        format!(
                            "{}: the server refused the stream; asked again",
                            redact_url(url.as_str())
                        )
                    });
                }
                Err(e) => return Err(refused(e, &url, kit.policy)),
            }
        };
        if let Some((connections, stream)) = kit.connections {
            connections.answered(&url, response.version(), stream);
        }
        let status = response.status();
        if status == StatusCode::PROXY_AUTHENTICATION_REQUIRED
            && let Some(via) = proxy::via(&kit.policy.proxy, &url)
        {
            return Err(Failure::fatal(anyhow!(proxy_wants_credentials(&via))).status(status));
        }
        let location = response.headers().get(LOCATION);
        let (true, Some(location)) = (status.is_redirection(), location) else {
            return Ok(response);
        };
        let next = redirect(listed.url, kit, &url, location, redirects)
            .map_err(|e| Failure::fatal(e).status(status))?;
        kit.log(|| {
            format!(
                "{} {} -> {}",
                status.as_u16(),
                redact_url(url.as_str()),
                redact_url(next.as_str())
            )
        });
        url = next;
        redirects += 1;
    }
}

/// The GET of `url` (the listed URL, or where a redirect led): credentials from netrc and the
/// `-H` headers only on the listed URL's origin (`same_origin`), the headers only where they
/// belong, and what `ask` adds.
fn build(
    listed: Listed<'_>,
    kit: &Kit<'_>,
    url: &Url,
    same_origin: bool,
    ask: Ask<'_>,
) -> RequestBuilder {
    let policy = kit.policy;
    // The listed URL's own credentials on its origin; after a redirect to another host, that
    // host's own machine entry there alone (a login host's, as curl -n does).
    let netrc = if same_origin {
        netrc_credentials(policy, listed.url)
    } else {
        redirected_credentials(policy, listed.url, url)
    };
    if netrc.is_some() && !same_origin {
        policy.logins.fetch_add(1, Ordering::Relaxed);
        kit.log(|| {
            format!(
                "{}: the netrc credentials of {} (a login)",
                redact_url(url.as_str()),
                url.host_str().unwrap_or_default()
            )
        });
    }
    let mut request = match netrc {
        Some(creds) => {
            // In place of the URL's user name, which would make a second Authorization.
            let mut bare = url.clone();
            let _ = bare.set_username("");
            kit.client
                .get(bare)
                .basic_auth(&creds.login, Some(&creds.password))
        }
        None => kit.client.get(url.clone()),
    };
    if same_origin && listed.headers {
        for (name, value) in policy.headers.iter().chain(listed.own_headers) {
            request = request.header(name, value);
        }
    }
    match ask.range {
        Some((from, Some(to))) => request = request.header(RANGE, format!("bytes={from}-{to}")),
        Some((from, None)) => request = request.header(RANGE, format!("bytes={from}-")),
        None => {}
    }
    if let Some(version) = ask.if_range {
        request = request.header(IF_RANGE, version);
    }
    // About the resource, not the origin: sent on every hop, as the final response's
    // validators are the ones kept.
    for (name, value) in ask.conditions.map(Validators::headers).unwrap_or_default() {
        request = request.header(name, value);
    }
    request
}

/// Streams in a row that a server may refuse (at its concurrent-stream limit) before a refusal
/// is a failed attempt like any other: a server that refuses every stream is not asked forever.
const MAX_REFUSALS: u32 = 16;

/// Whether a request failed without the server having processed it: an HTTP/2 stream it
/// refused (REFUSED_STREAM, which RFC 9113 §8.7 says is safe to retry), or one past the last
/// stream a GOAWAY says it handled.
fn refused_unprocessed(e: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = cause {
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM)
                || (h2.is_go_away() && h2.is_remote());
        }
        cause = error.source();
    }
    false
}

/// A request that got no answer: retried, unless it was a certificate the client refuses (it
/// would refuse it on every attempt), with what to do about that.
fn refused(e: reqwest::Error, url: &Url, policy: &Policy) -> Failure {
    let hint = tls_hint(&e);
    let via = proxy::via(&policy.proxy, url);
    let brief = brief_via(&e, url, via.as_deref());
    // The same credentials would be refused again.
    let wants_credentials = via.is_some() && proxy_asks_credentials(&causes(&e));
    let retryable = !e.is_builder() && hint.is_none() && !wants_credentials;
    let mut error = anyhow!(e.without_url()).context("request failed");
    if let Some(hint) = hint {
        error = error.context(hint);
    }
    let failure = Failure {
        retryable,
        ..Failure::fatal(error)
    };
    match brief {
        Some(brief) => failure.brief(brief),
        None => failure,
    }
}

/// What went wrong with a request to (or a body from) `url`, as a person reads it at a glance:
/// `connection refused (127.0.0.1:8080)`, `cannot resolve example.org`, `TLS with
/// host:443: ...`, `connection reset (host:443)`, `timed out (host:443)`. `None` when the
/// cause is none of these: the whole chain is shown then.
pub fn brief(e: &reqwest::Error, url: &Url) -> Option<String> {
    brief_via(e, url, None)
}

/// [`brief`] of a request that went through the proxy at `via` (`host:port`): a connection
/// that failed, or a name that did not resolve, was the proxy's; a tunnel the proxy would not
/// open says so.
fn brief_via(e: &reqwest::Error, url: &Url, via: Option<&str>) -> Option<String> {
    use std::io::ErrorKind;
    let host = url.host_str().unwrap_or_default();
    let target = format!("{host}:{}", url.port_or_known_default().unwrap_or(0));
    if let Some(hint) = tls_hint(e).map(str::to_string).or_else(|| tls_trouble(e)) {
        return Some(format!("TLS with {target}: {hint}"));
    }
    let causes = causes(e);
    let said = |words: &str| said(&causes, words);
    if let Some(via) = via {
        if proxy_asks_credentials(&causes) {
            return Some(proxy_wants_credentials(via));
        }
        if said("tunnel") || said("unsuccessful") {
            return Some(format!(
                "the proxy {via} would not open a connection to {target}"
            ));
        }
    }
    let at = match via {
        Some(via) => format!("proxy {via}"),
        None => target.clone(),
    };
    // socks5:// resolves the host here, for the proxy: the name is the URL's own.
    if said("error resolving for socks proxy") {
        return Some(format!("cannot resolve {host}"));
    }
    if causes
        .iter()
        .any(|c| c.to_string().starts_with("dns error"))
    {
        let name = via.map_or(host, |v| v.rsplit_once(':').map_or(v, |(h, _)| h));
        return Some(format!("cannot resolve {name}"));
    }
    let kind = causes
        .iter()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind)
        .find(|kind| *kind != ErrorKind::Other)
        .or_else(|| e.is_timeout().then_some(ErrorKind::TimedOut))?;
    // Connected, then cut off before the handshake ended: a server that is not TLS there (or
    // one that refuses this client).
    let tcp = causes.iter().any(|c| c.to_string() == "tcp connect error");
    let cut = matches!(
        kind,
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
    );
    if url.scheme() == "https" && e.is_connect() && cut && !tcp && via.is_none() {
        return Some(format!(
            "TLS with {at}: the server closed the connection during the handshake (is it http://?)"
        ));
    }
    let what = match kind {
        ErrorKind::ConnectionRefused => "connection refused",
        ErrorKind::ConnectionReset => "connection reset",
        ErrorKind::ConnectionAborted => "connection aborted",
        ErrorKind::BrokenPipe => "connection closed",
        ErrorKind::UnexpectedEof => "connection closed early",
        ErrorKind::TimedOut => "timed out",
        ErrorKind::HostUnreachable => "host unreachable",
        ErrorKind::NetworkUnreachable => "network unreachable",
        ErrorKind::AddrNotAvailable => "address not available",
        _ => return None,
    };
    Some(format!("{what} ({at})"))
}

/// Whether some cause in `causes` says `words` in its own words: a URL it quotes (the
/// request's, whose port or path may hold anything, `407` or `tunnel` among them) is not read.
fn said(causes: &[&(dyn std::error::Error + 'static)], words: &str) -> bool {
    causes.iter().any(|c| {
        let text = c.to_string();
        let own: Vec<&str> = text
            .split_whitespace()
            .filter(|w| !w.contains("://"))
            .collect();
        own.join(" ").contains(words)
    })
}

/// Whether a CONNECT through a proxy was answered 407, as the cause chain says (hyper-util's
/// tunnel error; a plain request's 407 is an answer, read by its status).
fn proxy_asks_credentials(causes: &[&(dyn std::error::Error + 'static)]) -> bool {
    said(causes, "proxy authorization required")
}

/// A proxy that answered 407: its credentials were not given, or not the ones it takes.
fn proxy_wants_credentials(via: &str) -> String {
    format!(
        "the proxy {via} wants credentials it was not given or does not take (407 Proxy \
         Authentication Required): give them as --proxy http://USER:PASSWORD@{via}"
    )
}

/// Every cause in `e`'s chain, looking inside `io::Error`s too (whose `source()` skips what
/// they wrap).
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut all = Vec::new();
    let mut link = Some(e);
    while let Some(cause) = link {
        all.push(cause);
        link = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => cause.source(),
        };
    }
    all
}

/// Where the redirect from `url` to `location` leads, if it may be followed: within
/// `--max-redirects`, to http or https only. Credentials of the listed URL go along only to its
/// own origin.
fn redirect(
    listed: &Url,
    kit: &Kit<'_>,
    url: &Url,
    location: &HeaderValue,
    redirects: u32,
) -> anyhow::Result<Url> {
    let max = kit.policy.max_redirects;
    if redirects >= max {
        anyhow::bail!("too many redirects (more than --max-redirects {max})");
    }
    let location = location
        .to_str()
        .map_err(|_| anyhow!("the redirect's Location is not valid text"))?;
    let mut next = url
        .join(location)
        .map_err(|e| anyhow!("the redirect's Location is not a URL: {e}"))?;
    if !matches!(next.scheme(), "http" | "https") {
        anyhow::bail!(
            "refused a redirect to a {}: URL (only http and https are followed)",
            next.scheme()
        );
    }
    if next.origin() == listed.origin() && next.username().is_empty() {
        let _ = next.set_username(listed.username());
        let _ = next.set_password(listed.password());
    }
    Ok(next)
}

/// The netrc entry for the listed URL's host, unless the URL carries a password itself (a user
/// name alone picks the entry with that login, as in curl).
/// After a redirect from the listed URL's host to another, the netrc entry made out to that
/// other host by name (never the `default` entry, which would hand a password to any host a
/// redirect names), and only when the URL carries no credentials of its own.
fn redirected_credentials<'a>(
    policy: &'a Policy,
    listed: &reqwest::Url,
    url: &reqwest::Url,
) -> Option<&'a Credentials> {
    let host = url.host_str()?;
    if listed.host_str() == Some(host) || !url.username().is_empty() {
        return None;
    }
    policy.netrc.as_ref()?.lookup_machine(host)
}

fn netrc_credentials<'a>(policy: &'a Policy, url: &reqwest::Url) -> Option<&'a Credentials> {
    if url.password().is_some() {
        return None;
    }
    let login = Some(url.username()).filter(|u| !u.is_empty());
    policy.netrc.as_ref()?.lookup(url.host_str()?, login)
}

#[cfg(test)]
mod tests;
