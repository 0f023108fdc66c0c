//! A loopback HTTP/2 server over TLS (ALPN `h2`, a throwaway CA) built on the h2 crate, so a
//! test controls what plain servers do not let it: refusing streams (REFUSED_STREAM), and how
//! many it had open at once. Each answer is `body of PATH`.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::tls::TestCa;

/// What the server did, counted.
#[derive(Default)]
pub struct Counts {
    pub streams: AtomicUsize,
    pub refused: AtomicUsize,
    pub connections: AtomicUsize,
}

/// A running HTTP/2 server and the PEM of the CA that signed its certificate.
pub struct H2Server {
    pub port: u16,
    pub ca_pem: String,
    pub counts: Arc<Counts>,
}

impl H2Server {
    /// Refuses the streams for which `refuse` (given the stream's number on its connection,
    /// from 0) says so, and answers the others after `delay`.
    pub fn start(
        delay: Duration,
        refuse: impl Fn(usize) -> bool + Send + Sync + 'static,
    ) -> H2Server {
        let ca = TestCa::new();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ca.leaf_key_der()));
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![ca.leaf_der()], key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let counts = Arc::new(Counts::default());
        let seen = Arc::clone(&counts);
        let refuse = Arc::new(refuse);
        thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((socket, _)) = listener.accept().await {
                    let (acceptor, counts, refuse) =
                        (acceptor.clone(), Arc::clone(&seen), Arc::clone(&refuse));
                    counts.connections.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(socket).await else {
                            return;
                        };
                        let Ok(mut connection) = h2::server::handshake(tls).await else {
                            return;
                        };
                        let mut n = 0;
                        while let Some(Ok((request, mut respond))) = connection.accept().await {
                            counts.streams.fetch_add(1, Ordering::SeqCst);
                            n += 1;
                            if refuse(n - 1) {
                                counts.refused.fetch_add(1, Ordering::SeqCst);
                                respond.send_reset(h2::Reason::REFUSED_STREAM);
                                continue;
                            }
                            let body = format!("body of {}", request.uri().path());
                            tokio::spawn(async move {
                                tokio::time::sleep(delay).await;
                                let response = http::Response::builder()
                                    .status(200)
                                    .header("content-length", body.len())
                                    .body(())
                                    .unwrap();
                                let Ok(mut stream) = respond.send_response(response, false) else {
                                    return;
                                };
                                let _ = stream.send_data(bytes::Bytes::from(body), true);
                            });
                        }
                    });
                }
            });
        });
        H2Server {
            port,
            ca_pem: ca.ca_pem,
            counts,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}
