//! A response body on its way to disk: the loop that takes each piece as it arrives under every
//! limit of its attempt (idle, `--max-time`, Ctrl-C, `--limit-rate`, `--min-speed`) and hands it
//! to whoever writes it.

use std::time::Instant;

use anyhow::anyhow;
use reqwest::Response;

use super::kit::Kit;
use super::limits::Limits;
use super::request;
use super::retry::Failure;
use crate::progress::Counter;
use crate::units::human_rate;

/// A body on its way to disk, and what it answers to: the attempt's limits, the run's
/// bandwidth cap and `--min-speed`. Where its bytes go is the caller's [`Drain`].
pub struct Body<'a> {
    pub kit: &'a Kit<'a>,
    pub limits: &'a Limits,
    pub counter: &'a Counter,
}

/// Whether a body's receiver wants more of it.
pub enum Flow {
    More,
    /// Enough: the rest of the body is not wanted (a range that reached bytes someone else is
    /// fetching).
    Stop,
}

/// Takes each piece of a body as it arrives; says how many of its bytes it kept (and so are in
/// the file now) and whether it wants more.
pub trait Drain: FnMut(&[u8]) -> Result<(u64, Flow), Failure> {}
impl<F: FnMut(&[u8]) -> Result<(u64, Flow), Failure>> Drain for F {}

impl Body<'_> {
    /// Hands the body to `drain` piece by piece as hyper hands them over (no copy through a
    /// buffer of our own), enforcing every limit as bytes arrive, until it ends or the drain has
    /// enough.
    pub async fn receive(
        &self,
        response: &mut Response,
        mut drain: impl Drain,
    ) -> Result<(), Failure> {
        let policy = self.kit.policy;
        let _stream = self.counter.stream();
        let mut received: u64 = 0;
        let mut window_start = Instant::now();
        let mut window_bytes: u64 = 0;
        loop {
            let broke_off =
                |f: Failure| f.context(format!("the body broke off after {received} bytes"));
            let chunk = match self
                .limits
                .wait(response.chunk())
                .await
                .map_err(broke_off)?
            {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Ok(()),
                Err(e) => {
                    let brief = request::brief(&e, response.url());
                    let failure = broke_off(Failure::transient(anyhow!(e.without_url())));
                    return Err(match brief {
                        Some(brief) => failure.brief(format!(
                            "the body broke off after {received} bytes: {brief}"
                        )),
                        None => failure,
                    });
                }
            };
            let n = chunk.len() as u64;
            let (kept, flow) = drain(&chunk)?;
            received += n;
            self.counter.advance(kept, n);
            let held = self.kit.throttle.debt(n);
            if !held.is_zero() {
                self.limits.sleep(held).await?;
                // Time spent held back by --limit-rate is not the server's slowness.
                window_start += held;
            }
            if let Flow::Stop = flow {
                return Ok(());
            }
            self.limits.check()?;
            window_bytes += n;
            let window = window_start.elapsed();
            if policy.min_speed > 0 && window >= policy.idle_timeout {
                let rate = window_bytes as f64 / window.as_secs_f64();
                if rate < policy.min_speed as f64 {
                    return Err(Failure::transient(anyhow!(
                        "too slow: {} over {:.0}s, below --min-speed {}",
                        human_rate(rate),
                        window.as_secs_f64(),
                        human_rate(policy.min_speed as f64)
                    )));
                }
                window_start = Instant::now();
                window_bytes = 0;
            }
        }
    }
}
