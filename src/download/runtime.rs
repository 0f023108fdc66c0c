//! The runtime a worker's connections live on, and its client built inside it (a connection
//! belongs to the runtime that opened it).

use std::sync::Arc;

use anyhow::Context as _;

use super::connections::Handshakes;
use super::request;
use super::resolve::Resolver;
use crate::config::Policy;

/// How many ready sockets a worker's runtime takes from one `epoll_wait`; more wait for the next.
const IO_EVENTS: usize = 32;

/// A current-thread runtime and a client whose connections live on it (a connection belongs to
/// the runtime that opened it).
pub fn runtime_and_client(
    policy: &Policy,
    tls: &rustls::ClientConfig,
    resolver: &Arc<Resolver>,
    handshakes: &Arc<Handshakes>,
) -> anyhow::Result<(tokio::runtime::Runtime, reqwest::Client)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        // A worker waits on one connection (a few while a split starts): room for 1,024 events
        // (tokio's default) is 12 KiB a worker, 12 MiB at -j 1024.
        .max_io_events_per_tick(IO_EVENTS)
        .build()
        .context("cannot start a runtime")?;
    let client = {
        let _inside = runtime.enter();
        request::client(policy, tls, resolver, handshakes)?
    };
    Ok((runtime, client))
}
