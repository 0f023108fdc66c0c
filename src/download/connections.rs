//! What one worker knows of the connections its client opens: whether a download may share its
//! worker with others. Over HTTP/2 several downloads run on one connection at once; over
//! HTTP/1.1 a connection carries one download at a time, so a worker keeps to one and `-j` still
//! bounds the connections to a host.
//!
//! A download's [`Stream`] is `Shared` once its connection is known to speak HTTP/2: its origin
//! answered this worker over HTTP/2 before, or the handshake of the connection it waits for
//! chose HTTP/2 (ALPN). The handshake is seen by a layer on the client's connector
//! ([`Handshakes`]) the moment it ends, a round trip before the first answer: a worker starting
//! on an HTTP/2 server takes more entries at once, not one round trip later.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::Connection;
use reqwest::{Url, Version};
use tokio::sync::Notify;

/// What a running download knows of its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Not yet known: its connection is being made, or no answer has come.
    Unknown,
    /// HTTP/2: it shares the connection with other downloads of the worker.
    Shared,
    /// HTTP/1.1 (plain `http://` always is): the connection is its own.
    Own,
}

/// Handshakes a worker's client has finished, by what ALPN chose: counted by the connector's
/// layer, and rung on, so the worker looks again at once.
#[derive(Default)]
pub struct Handshakes {
    h2: AtomicU64,
    other: AtomicU64,
    /// Rung after each handshake.
    pub rung: Notify,
}

impl Handshakes {
    /// (HTTP/2 handshakes, others) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.h2.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed),
        )
    }
}

/// One worker's knowledge of its connections: which origins answered it over HTTP/2, and the
/// handshakes its client made.
#[derive(Default)]
pub struct Connections {
    shared: RefCell<HashSet<String>>,
    pub handshakes: Arc<Handshakes>,
}

impl Connections {
    /// What a download of `url` starting now may count on: `Shared` where its origin answered
    /// over HTTP/2 before, `Own` over plain HTTP (never HTTP/2 here), else `Unknown`.
    pub fn starting(&self, url: &Url) -> Stream {
        if url.scheme() == "http" {
            Stream::Own
        } else if self.shared.borrow().contains(&origin(url)) {
            Stream::Shared
        } else {
            Stream::Unknown
        }
    }

    /// An answer from `url` came over `version`: the download's stream is what that says, and
    /// the origin is remembered for the next.
    pub fn answered(&self, url: &Url, version: Version, stream: &Cell<Stream>) {
        let origin = origin(url);
        if version == Version::HTTP_2 {
            stream.set(Stream::Shared);
            self.shared.borrow_mut().insert(origin);
        } else {
            stream.set(Stream::Own);
            self.shared.borrow_mut().remove(&origin);
        }
    }
}

impl Connections {
    /// The handshake of the connection a download of `url` waited for chose HTTP/2: the origin
    /// is shared from now on, before its first answer says so.
    pub fn handshook(&self, url: &Url) {
        self.shared.borrow_mut().insert(origin(url));
    }
}

/// An origin as a key: scheme, host and port.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The layer on a client's connector that counts its handshakes by what ALPN chose.
#[derive(Clone)]
pub struct CountHandshakes(pub Arc<Handshakes>);

impl<S> tower_layer::Layer<S> for CountHandshakes {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            handshakes: Arc::clone(&self.0),
        }
    }
}

/// A connector whose connections are counted.
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    handshakes: Arc<Handshakes>,
}

type Connecting<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, Req> tower_service::Service<Req> for Counted<S>
where
    S: tower_service::Service<Req>,
    S::Response: Connection + Send + 'static,
    S::Error: Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Connecting<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let connecting = self.inner.call(request);
        let handshakes = Arc::clone(&self.handshakes);
        Box::pin(async move {
            let connection = connecting.await?;
            let count = match connection.connected().is_negotiated_h2() {
                true => &handshakes.h2,
                false => &handshakes.other,
            };
            count.fetch_add(1, Ordering::Relaxed);
            handshakes.rung.notify_waiters();
            Ok(connection)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_shared_once_it_answered_over_http2() {
        let connections = Connections::default();
        let https = Url::parse("https://h.example/a").unwrap();
        let other_port = Url::parse("https://h.example:8443/a").unwrap();
        assert_eq!(connections.starting(&https), Stream::Unknown);
        assert_eq!(
            connections.starting(&Url::parse("http://h.example/a").unwrap()),
            Stream::Own
        );
        let stream = Cell::new(Stream::Unknown);
        connections.answered(&https, Version::HTTP_2, &stream);
        assert_eq!(stream.get(), Stream::Shared);
        assert_eq!(
            connections.starting(&Url::parse("https://h.example/b").unwrap()),
            Stream::Shared
        );
        assert_eq!(connections.starting(&other_port), Stream::Unknown);
        // The server went back to HTTP/1.1: forgotten.
        connections.answered(&https, Version::HTTP_11, &stream);
        assert_eq!(stream.get(), Stream::Own);
        assert_eq!(connections.starting(&https), Stream::Unknown);
    }
}
