//! An entry's attempts across its URL and its mirrors. Each URL is asked in turn, one attempt
//! at a time: a failure another server could fix (the server's or the network's) moves on to
//! the next URL at once, and only when every URL still in play has failed once is there a wait
//! (the backoff, or the server's `Retry-After`) before the next round. A URL is out once its
//! `--retries` are spent or it failed in a way asking again would not change (a 404); a failure
//! of this machine's, or Ctrl-C, ends the entry at once. With one URL this is the plain retry
//! loop. What one URL left on disk is built on at the next only as far as the pin (or a digest)
//! vouches for it.

use std::time::Instant;

use reqwest::Url;

use super::held::Held;
use super::kit::Kit;
use super::limits::Limits;
use super::retry::Failure;
use super::transfer::{self, Attempt, Ending};
use super::{HostSlot, place};
use crate::interrupt;
use crate::redact::redact_url;

/// How an entry's attempts ended: how many were made in all, how the last ended, and at which
/// URL (0: the entry's own, 1: its first mirror, ...).
pub struct Tried {
    pub attempts: u32,
    pub result: Result<Ending, Failure>,
    pub at: usize,
}

/// Attempts the entry at its URL and mirrors in turn until one attempt succeeds, every URL is
/// out, or a failure no other server could fix (or Ctrl-C) ends it.
pub async fn every_url(
    first: Attempt<'_>,
    slot: Option<&dyn HostSlot>,
    spot: &mut place::Spot,
    held: &mut Held,
) -> Tried {
    let (entry, kit) = (first.entry, first.kit);
    let retries = kit.policy.retries;
    let urls: Vec<&Url> = std::iter::once(&entry.url)
        .chain(&entry.options.mirrors)
        .collect();
    // Attempts made at each URL, and whether it is out (its retries spent, or a failure asking
    // it again would not change).
    let mut made = vec![0u32; urls.len()];
    let mut out = vec![false; urls.len()];
    let mut last: Vec<Option<Failure>> = urls.iter().map(|_| None).collect();
    let (mut at, mut round) = (0, 0u32);
    let tried = |attempts: u32, result, at| Tried {
        attempts,
        result,
        at,
    };
    loop {
        for (i, url) in urls.iter().copied().enumerate() {
            if out[i] {
                continue;
            }
            let attempts = made.iter().sum();
            if interrupt::requested() {
                return tried(attempts, Err(Failure::interrupted()), at);
            }
            if i != at {
                let why = last[at].as_ref().map(|f| format!("{:#}", f.error));
                if let Err(failure) = switch(kit, slot, (i, urls.len()), url, why).await {
                    return tried(attempts, Err(failure), at);
                }
                at = i;
            }
            made[i] += 1;
            match attempt(&Attempt { url, ..first }, spot, held, made[i]).await {
                Ok(done) => return tried(attempts + 1, Ok(done), i),
                Err(failure) if !failure.another_server_could_fix() => {
                    return tried(attempts + 1, Err(failure), i);
                }
                Err(failure) => {
                    out[i] = !failure.retryable || made[i] > retries;
                    if let Some(host) = &failure.busy_host {
                        kit.throttle.pause_host(host, failure.wait(made[i]));
                    }
                    last[i] = Some(failure);
                }
            }
        }
        let attempts = made.iter().sum();
        if out.iter().all(|&out| out) {
            return tried(attempts, Err(all_failed(&urls, last)), at);
        }
        // Every URL still in play has failed once: wait (as the first of them asks), then the
        // next round.
        round += 1;
        let next = out.iter().position(|&out| !out).expect("a URL in play");
        let failure = last[next].take().expect("a URL in play has failed");
        let retry = Retry {
            url: urls[next],
            round,
            made: made[next],
        };
        match back_off(kit, failure, retry).await {
            Ok(failure) => last[next] = Some(failure),
            Err(failure) => return tried(attempts, Err(failure), at),
        }
    }
}

/// Moves on to URL `i` of `n` (the entry's own, or a mirror): says so under `-v`, with why the
/// one before failed, and moves a `--per-host` slot to its host, waiting for one there.
async fn switch(
    kit: &Kit<'_>,
    slot: Option<&dyn HostSlot>,
    (i, n): (usize, usize),
    url: &Url,
    why: Option<String>,
) -> Result<(), Failure> {
    let label = match i {
        0 => "the entry's URL".to_string(),
        i => format!("mirror {i} of {}", n - 1),
    };
    let shown = redact_url(url.as_str());
    kit.log(|| format!("{}; trying {label}: {shown}", why.unwrap_or_default()));
    let Some(slot) = slot else { return Ok(()) };
    let started = Instant::now();
    let moved = move_slot(slot, url).await;
    if let Some(lane) = kit.lane {
        lane.waited(started);
    }
    moved
}

/// One attempt at `attempt.url`, its `n`th there.
async fn attempt(
    attempt: &Attempt<'_>,
    spot: &mut place::Spot,
    held: &mut Held,
    n: u32,
) -> Result<Ending, Failure> {
    let kit = attempt.kit;
    let url = || redact_url(attempt.url.as_str());
    match n {
        1 => kit.log(|| format!("GET {}", url())),
        n => kit.log(|| format!("GET {} (attempt {n})", url())),
    }
    attempt.task.restart();
    let started = kit.lane.map(|_| Instant::now());
    let result = transfer::attempt(attempt, spot, held).await;
    if let (Err(_), Some(lane), Some(started)) = (&result, kit.lane, started) {
        lane.attempt_failed(started);
    }
    result
}

/// The round about to start, and the URL of it whose last failure sets the wait.
struct Retry<'a> {
    url: &'a Url,
    round: u32,
    /// Attempts made at `url` so far.
    made: u32,
}

/// The wait before `retry.round` after `failure` at `retry.url`: the backoff, or the server's
/// `Retry-After`. Gives the failure back; Ctrl-C ends the wait, and the entry with it (the
/// failure then says so).
async fn back_off(kit: &Kit<'_>, failure: Failure, retry: Retry<'_>) -> Result<Failure, Failure> {
    let wait = failure.wait(retry.round);
    kit.log(|| {
        let (secs, error) = (wait.as_secs_f64(), &failure.error);
        let (made, retries) = (retry.made, kit.policy.retries);
        let url = redact_url(retry.url.as_str());
        format!("retry {made}/{retries} in {secs:.1}s: {url} {error:#}")
    });
    let started = kit.lane.map(|_| Instant::now());
    let slept = Limits::between_attempts().sleep(wait).await;
    if let (Some(lane), Some(started)) = (kit.lane, started) {
        lane.waited(started);
    }
    match slept {
        Ok(()) => Ok(failure),
        Err(_) => Err(failure.context("interrupted while waiting to retry".into())),
    }
}

/// The failure of an entry every URL of which failed: the one failure of a single URL, or
/// what each of several did, in full and at a glance.
fn all_failed(urls: &[&Url], last: Vec<Option<Failure>>) -> Failure {
    let failures: Vec<(&Url, Failure)> = urls
        .iter()
        .copied()
        .zip(last)
        .filter_map(|(url, f)| Some((url, f?)))
        .collect();
    if failures.len() == 1 {
        return failures.into_iter().next().expect("one failure").1;
    }
    let n = failures.len();
    let each = |f: &dyn Fn(&Failure) -> String| {
        failures
            .iter()
            .map(|(url, failure)| format!("{}: {}", redact_url(url.as_str()), f(failure)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let error = anyhow::anyhow!(
        "all {n} URLs failed: {}",
        each(&|f| format!("{:#}", f.error))
    );
    let brief = format!(
        "all {n} URLs failed: {}",
        each(&|f| f.brief.clone().unwrap_or_else(|| format!("{:#}", f.error)))
    );
    let last = failures.into_iter().last().expect("several failures").1;
    Failure {
        error,
        brief: Some(brief),
        ..last
    }
}

/// How often a download moving to a mirror's host at its `--per-host` limit looks for a slot.
const SLOT_LOOK: std::time::Duration = std::time::Duration::from_millis(50);

/// Moves `slot` to `url`'s host, waiting on the worker's runtime (other downloads of the worker
/// go on) until a slot there is free; Ctrl-C ends the wait.
async fn move_slot(slot: &dyn HostSlot, url: &Url) -> Result<(), Failure> {
    while !slot.try_move_to(url) {
        Limits::between_attempts().sleep(SLOT_LOOK).await?;
    }
    Ok(())
}
