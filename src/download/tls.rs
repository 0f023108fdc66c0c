//! The run's TLS configuration, which every worker's client is built from, and what to tell the
//! user about a certificate the client refused.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::config::TlsSettings;

/// The TLS configuration of the run: built once, because loading the system's certificate
/// store per client made start-up at `-j 8` four times slower; and the store is loaded only at
/// the first TLS handshake. ALPN offers HTTP/2 and HTTP/1.1 (HTTP/1.1 alone with `--http1.1`).
/// A `--cacert` file is read here: one that cannot be used is an error before any request.
pub fn tls_config(settings: &TlsSettings) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if settings.insecure {
        Arc::new(NoVerification(Arc::clone(&provider)))
    } else {
        let extra = match &settings.cacert {
            Some(path) => read_cacert(path)?,
            None => Vec::new(),
        };
        Arc::new(SystemRoots {
            extra,
            provider: Arc::clone(&provider),
            verifier: OnceLock::new(),
        })
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

/// The system's certificate store (and `--cacert`'s), loaded at the first TLS handshake of the
/// run and shared by every worker from then on. A run of plain `http://` URLs never reads it:
/// 2.3 ms of the 4.8 ms a run took to start (`perf stat -r 40` on an empty list).
#[derive(Debug)]
struct SystemRoots {
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<rustls_platform_verifier::Verifier, String>>,
}

/// The start of the error a handshake fails with when the system's store cannot be loaded.
const NO_STORE: &str = "cannot load the system's TLS certificate store";

impl SystemRoots {
    fn verifier(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        let load = || {
            rustls_platform_verifier::Verifier::new_with_extra_roots(
                self.extra.iter().cloned(),
                Arc::clone(&self.provider),
            )
            .map_err(|e| format!("{NO_STORE}: {e}"))
        };
        self.verifier
            .get_or_init(load)
            .as_ref()
            .map_err(|e| rustls::Error::General(e.clone()))
    }
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls13_signature(message, cert, dss)
    }

    /// Asked for as the handshake starts, before any certificate: what the provider can check,
    /// which is what the platform verifier answers too.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
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

/// What the user can do about a refused certificate (or a certificate store that cannot be
/// read), if that is what `error` is: it would be the same on every attempt.
pub fn tls_hint(error: &reqwest::Error) -> Option<&'static str> {
    use rustls::CertificateError as Cert;
    let mut link: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = link {
        if let Some(rustls::Error::General(why)) = rustls_error(e)
            && why.starts_with(NO_STORE)
        {
            return Some(
                "the system's certificate store cannot be read; pass the PEM file of the CAs to \
                 trust with --cacert FILE (or set SSL_CERT_FILE to it)",
            );
        }
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

/// What went wrong in a TLS handshake, at a glance, when `error` holds a rustls error that is
/// not about the certificate (see [`tls_hint`]): a server that does not speak TLS at all, one
/// that refused the handshake.
pub fn tls_trouble(error: &reqwest::Error) -> Option<String> {
    let mut link: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = link {
        if let Some(tls) = rustls_error(e) {
            return Some(match tls {
                rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                    "the server does not speak TLS there (is it http://?)".to_string()
                }
                rustls::Error::AlertReceived(alert) => {
                    format!("the server refused the handshake ({alert:?})")
                }
                other => other.to_string(),
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
