//! A small body fetched before the run starts (a `--checksums` file given as a URL), with the
//! run's TLS settings, headers, credentials, redirects and retries, and a cap on its length.

use std::sync::Arc;

use reqwest::Url;

use super::kit::Kit;
use super::limits::Limits;
use super::request;
use super::retry::Failure;
use super::{runtime, tls};
use crate::config::Policy;
use crate::progress::Progress;
use crate::throttle::Throttle;
use crate::units::human_bytes;

/// The body of `url`, fetched before the run starts (a `--checksums` file): with the run's TLS
/// settings, `-H` headers, netrc credentials, redirects and `--retries`, on a runtime of its
/// own; at most `max` bytes.
pub fn fetch_small(policy: &Policy, url: &Url, max: u64) -> anyhow::Result<Vec<u8>> {
    let tls = tls::tls_config(&policy.tls)?;
    let (runtime, client) =
        runtime::runtime_and_client(policy, &tls, &Arc::default(), &Arc::default())?;
    let (progress, throttle) = (Progress::hidden(), Throttle::new(None, None));
    let kit = Kit {
        policy,
        progress: &progress,
        throttle: &throttle,
        client: &client,
        name: "checksums",
        lane: None,
        connections: None,
    };
    let listed = request::Listed {
        url,
        headers: true,
        own_headers: &[],
    };
    let mut attempts = 0;
    runtime.block_on(async {
        loop {
            attempts += 1;
            let failure = match small_body(listed, &kit, max).await {
                Ok(body) => return Ok(body),
                Err(f) if f.retryable && attempts <= policy.retries => f,
                Err(f) => return Err(f.error),
            };
            if Limits::between_attempts()
                .sleep(failure.wait(attempts))
                .await
                .is_err()
            {
                anyhow::bail!("interrupted");
            }
        }
    })
}

async fn small_body(
    listed: request::Listed<'_>,
    kit: &Kit<'_>,
    max: u64,
) -> Result<Vec<u8>, Failure> {
    let limits = Limits::start(kit.policy);
    let mut response = request::send(listed, kit, &limits, Default::default()).await?;
    let status = response.status();
    if !status.is_success() {
        return Err(Failure::from_status(
            status,
            response.headers(),
            response.url(),
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = limits.wait(response.chunk()).await?.map_err(|e| {
        Failure::transient(anyhow::anyhow!(e.without_url()).context("the body broke off"))
    })? {
        if body.len() as u64 + chunk.len() as u64 > max {
            return Err(Failure::fatal(anyhow::anyhow!(
                "longer than {} (not a checksums file)",
                human_bytes(max)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
