//! The HTTP side of an attempt: the TLS configuration every worker's client is built from, the
//! client itself, and one GET with its redirects followed by hand (only to http and https, and
//! with the `-H` headers and URL credentials only on the listed URL's origin).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use reqwest::header::{HeaderValue, IF_RANGE, LOCATION, RANGE};
use reqwest::{Client, RequestBuilder, Response, Url};

use super::limits::Limits;
use super::retry::Failure;
use super::validators::Validators;
use super::worker::Worker;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::config::{Policy, TlsSettings};
use crate::entry::Entry;
use crate::netrc::Credentials;
use crate::redact::redact_url;

/// The TLS configuration of the run: built once, because loading the system's certificate
/// store per client made start-up at `-j 8` four times slower. ALPN offers HTTP/2 and HTTP/1.1
/// (HTTP/1.1 alone with `--http1.1`).
pub fn tls_config(settings: &TlsSettings) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if settings.insecure {
        Arc::new(NoVerification(Arc::clone(&provider)))
    } else {
        let extra = match &settings.cacert {
            Some(path) => read_cacert(path)?,
            None => Vec::new(),
        };
        let verifier =
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, Arc::clone(&provider))
                .context("cannot load the system's TLS certificate store")?;
        Arc::new(verifier)
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("cannot set up TLS")?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = if settings.http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    Ok(tls)
}

/// The certificates of a `--cacert` PEM file; a file without one is an error, not a no-op.
fn read_cacert(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read --cacert {shown}"))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read --cacert {shown}: not PEM"))?;
    if certs.is_empty() {
        anyhow::bail!("--cacert {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
    Ok(certs)
}

/// `-k`: every certificate is accepted. The handshake's signatures are still checked (they
/// prove the server holds the key of the certificate it sent), which is all that is left.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One worker's client. Its pooled connections belong to the runtime that opens them, so each
/// worker has its own.
pub fn client(policy: &Policy, tls: &rustls::ClientConfig) -> anyhow::Result<Client> {
    let builder = Client::builder()
        .user_agent(&policy.user_agent)
        .referer(false)
        // Redirects are followed by hand: only to http/https, and without -H headers across
        // origins.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(policy.connect_timeout)
        .tls_backend_preconfigured(tls.clone());
    let builder = if policy.tls.http1_only {
        builder.http1_only()
    } else {
        builder
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
    worker: &Worker<'_>,
    limits: &Limits,
    ask: Ask<'_>,
) -> Result<Response, Failure> {
    let mut url = listed.url.clone();
    let mut redirects = 0;
    loop {
        if let Some(pause) = worker.throttle.host_turn(&url) {
            limits.sleep(pause).await?;
        }
        let same_origin = redirects == 0 || url.origin() == listed.url.origin();
        let request = build(listed, worker, &url, same_origin, ask);
        let response = limits.wait(request.send()).await?.map_err(refused)?;
        let status = response.status();
        let location = response.headers().get(LOCATION);
        let (true, Some(location)) = (status.is_redirection(), location) else {
            return Ok(response);
        };
        let next = redirect(listed.url, worker, &url, location, redirects)
            .map_err(|e| Failure::fatal(e).status(status))?;
        worker.log(|| {
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
    worker: &Worker<'_>,
    url: &Url,
    same_origin: bool,
    ask: Ask<'_>,
) -> RequestBuilder {
    let policy = worker.policy;
    let netrc = netrc_credentials(policy, listed.url).filter(|_| same_origin);
    let mut request = match netrc {
        Some(creds) => {
            // In place of the URL's user name, which would make a second Authorization.
            let mut bare = url.clone();
            let _ = bare.set_username("");
            worker
                .client
                .get(bare)
                .basic_auth(&creds.login, Some(&creds.password))
        }
        None => worker.client.get(url.clone()),
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

/// A request that got no answer: retried, unless it was a certificate the client refuses (it
/// would refuse it on every attempt), with what to do about that.
fn refused(e: reqwest::Error) -> Failure {
    let hint = tls_hint(&e);
    let retryable = !e.is_builder() && hint.is_none();
    let mut error = anyhow!(e.without_url()).context("request failed");
    if let Some(hint) = hint {
        error = error.context(hint);
    }
    Failure {
        retryable,
        ..Failure::fatal(error)
    }
}

/// Where the redirect from `url` to `location` leads, if it may be followed: within
/// `--max-redirects`, to http or https only. Credentials of the listed URL go along only to its
/// own origin.
fn redirect(
    listed: &Url,
    worker: &Worker<'_>,
    url: &Url,
    location: &HeaderValue,
    redirects: u32,
) -> anyhow::Result<Url> {
    let max = worker.policy.max_redirects;
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
fn netrc_credentials<'a>(policy: &'a Policy, url: &reqwest::Url) -> Option<&'a Credentials> {
    if url.password().is_some() {
        return None;
    }
    let login = Some(url.username()).filter(|u| !u.is_empty());
    policy.netrc.as_ref()?.lookup(url.host_str()?, login)
}

/// What the user can do about a refused certificate, if that is what `error` is.
fn tls_hint(error: &reqwest::Error) -> Option<&'static str> {
    use rustls::CertificateError as Cert;
    let mut link: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = link {
        if let Some(rustls::Error::InvalidCertificate(cert)) = rustls_error(e) {
            return Some(match cert {
                Cert::UnknownIssuer => {
                    "the server's certificate is signed by a CA this system does not trust; if it \
                     is your organisation's CA, pass its PEM file with --cacert FILE (or set \
                     SSL_CERT_FILE to it)"
                }
                Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
                    "the server's certificate is for another host name"
                }
                Cert::Expired | Cert::ExpiredContext { .. } => {
                    "the server's certificate has expired (or this machine's clock is wrong)"
                }
                _ => "the server's certificate was refused",
            });
        }
        link = e.source();
    }
    None
}

/// The rustls error in `e`, looking inside `io::Error`s: the handshake's error arrives wrapped in
/// two of them, and an `io::Error`'s `source()` skips what it wraps.
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    rustls_error(inner)
}
