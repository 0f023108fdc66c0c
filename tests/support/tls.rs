//! A throwaway CA for TLS tests, and a loopback HTTPS server with it: the CA and a leaf certificate for 127.0.0.1 and
//! localhost are made with rcgen, the server speaks rustls over std sockets and answers every
//! request with the same body.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A throwaway CA and a leaf certificate it signed for 127.0.0.1 and localhost, as PEM.
pub struct TestCa {
    pub ca_pem: String,
    pub leaf_pem: String,
    pub leaf_key_pem: String,
    leaf_der: rustls::pki_types::CertificateDer<'static>,
    leaf_key_der: Vec<u8>,
}

impl TestCa {
    /// The leaf certificate, as DER.
    pub fn leaf_der(&self) -> rustls::pki_types::CertificateDer<'static> {
        self.leaf_der.clone()
    }

    /// The leaf's key, as PKCS#8 DER.
    pub fn leaf_key_der(&self) -> Vec<u8> {
        self.leaf_key_der.clone()
    }

    pub fn new() -> TestCa {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fetchpool test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        TestCa {
            ca_pem: ca_cert.pem(),
            leaf_pem: leaf.pem(),
            leaf_key_pem: leaf_key.serialize_pem(),
            leaf_der: leaf.der().clone(),
            leaf_key_der: leaf_key.serialize_der(),
        }
    }
}

/// A running HTTPS server and the PEM of the CA that signed its certificate.
pub struct TlsServer {
    pub port: u16,
    pub ca_pem: String,
}

impl TlsServer {
    /// Serves `body` with status 200 on every path.
    pub fn start(body: &'static [u8]) -> TlsServer {
        let ca = TestCa::new();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ca.leaf_key_der.clone()));
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![ca.leaf_der.clone()], key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let config = Arc::clone(&config);
                thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes());
                    let _ = tls.write_all(body);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        TlsServer {
            port,
            ca_pem: ca.ca_pem,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}
