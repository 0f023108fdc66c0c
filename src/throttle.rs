//! Being polite on shared links and to busy servers: the run-wide bandwidth cap
//! (`--limit-rate`, one token bucket for every worker), each host's turns (`--rate-per-host`:
//! at most N requests a second to one host, whichever worker sends them), and per-host pauses
//! after a 429 or a 503 with `Retry-After`, which hold back every worker's next request to that
//! host. A pause and the turns are one schedule: the turns after a pause start where it ends.
//!
//! This only keeps the books and says how long to wait; the download does the waiting, where it
//! can end early at `--max-time` and on Ctrl-C.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Url;

/// Hosts whose schedule is kept before those that are over are forgotten.
const FORGET_PAST: usize = 1024;

/// What the workers share to throttle themselves.
#[derive(Default)]
pub struct Throttle {
    rate: Option<RateLimit>,
    /// `--rate-per-host`: the time between two requests to one host.
    turn: Option<Duration>,
    /// Per host: the earliest its next request may go (a pause's end, or its next turn).
    hosts: Mutex<HashMap<String, Instant>>,
    /// Whether any host was ever scheduled: nearly always not without `--rate-per-host`, and
    /// then no request needs to take the lock every worker shares.
    any_scheduled: AtomicBool,
}

impl Throttle {
    /// `limit_rate`: bytes a second for the whole run; `per_host`: requests a second to one
    /// host.
    pub fn new(limit_rate: Option<u64>, per_host: Option<f64>) -> Throttle {
        Throttle {
            rate: limit_rate.map(RateLimit::new),
            turn: per_host.map(|n| Duration::from_secs_f64(1.0 / n)),
            hosts: Mutex::default(),
            any_scheduled: AtomicBool::new(per_host.is_some()),
        }
    }

    /// Accounts for `n` bytes just received; returns how long the receiver must now wait for
    /// the run to stay within the bandwidth cap.
    pub fn debt(&self, n: u64) -> Duration {
        match &self.rate {
            Some(rate) => rate.take(n),
            None => Duration::ZERO,
        }
    }

    /// The server at `url`'s origin asked everyone to wait `wait`.
    pub fn pause_host(&self, url: &Url, wait: Duration) {
        let until = Instant::now() + wait;
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let entry = hosts.entry(host_key(url)).or_insert(until);
        *entry = (*entry).max(until);
        self.any_scheduled.store(true, Ordering::Release);
    }

    /// A request to `url` is about to go: how long it must wait first, for a pause of its host
    /// to end, or (with `--rate-per-host`) for its host's next turn, which it takes.
    pub fn host_turn(&self, url: &Url) -> Option<Duration> {
        if !self.any_scheduled.load(Ordering::Acquire) {
            return None;
        }
        let now = Instant::now();
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let Some(turn) = self.turn else {
            let until = *hosts.get(&host_key(url))?;
            return until.checked_duration_since(now);
        };
        // A list of many hosts: forget the schedules that are over.
        if hosts.len() >= FORGET_PAST {
            hosts.retain(|_, at| *at > now);
        }
        let next = hosts.entry(host_key(url)).or_insert(now);
        let at = (*next).max(now);
        *next = at + turn;
        at.checked_duration_since(now)
            .filter(|wait| !wait.is_zero())
    }
}

impl Throttle {
    /// `--rate-per-host`: the time between two requests to one host.
    pub fn turn(&self) -> Option<Duration> {
        self.turn
    }

    /// When a request to `host` (a [`host_key`]) may next go without waiting, if that is
    /// later than now: the end of its pause, or its next turn.
    pub fn waits_until(&self, host: &str) -> Option<Instant> {
        if !self.any_scheduled.load(Ordering::Acquire) {
            return None;
        }
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.get(host).copied().filter(|at| *at > Instant::now())
    }
}

/// A host as `--per-host` and pauses count it: scheme, host and port (`http://e.com:80`).
pub fn host_key(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// A token bucket in bytes. Takers may run it into debt and then sleep the debt off, so that
/// the total rate holds however many workers take from it.
struct RateLimit {
    rate: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn new(rate: u64) -> RateLimit {
        let rate = rate as f64;
        RateLimit {
            rate,
            // A twentieth of a second's worth, at least one read buffer: small enough that the
            // cap holds over short windows, large enough not to sleep on every read.
            burst: (rate / 20.0).max(64.0 * 1024.0),
            bucket: Mutex::new(Bucket {
                tokens: 0.0,
                last: Instant::now(),
            }),
        }
    }

    fn take(&self, n: u64) -> Duration {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(bucket.last).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst) - n as f64;
        bucket.last = now;
        if bucket.tokens < 0.0 {
            Duration::from_secs_f64(-bucket.tokens / self.rate)
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debt_is_owed_at_the_rate() {
        let limit = RateLimit::new(1_000_000);
        // 100 KB on an empty bucket: about 0.1 s of debt.
        let owed = limit.take(100_000);
        assert!(owed >= Duration::from_millis(90) && owed <= Duration::from_millis(110));
        // Unpaid debt adds up: the next taker owes for both.
        let owed = limit.take(100_000);
        assert!(owed >= Duration::from_millis(190) && owed <= Duration::from_millis(210));
    }

    #[test]
    fn pauses_are_per_origin_and_only_grow() {
        let throttle = Throttle::new(None, None);
        let a = Url::parse("http://127.0.0.1:1/x").unwrap();
        let b = Url::parse("http://127.0.0.1:2/x").unwrap();
        assert!(throttle.host_turn(&a).is_none(), "nothing waits unasked");
        throttle.pause_host(&a, Duration::from_secs(30));
        throttle.pause_host(&a, Duration::from_secs(1));
        let left = throttle.host_turn(&a).unwrap();
        assert!(
            left > Duration::from_secs(25),
            "a shorter pause does not cut a longer one"
        );
        assert!(throttle.host_turn(&b).is_none());
        assert!(throttle.waits_until(&host_key(&a)).is_some());
        assert!(throttle.waits_until(&host_key(&b)).is_none());
    }

    #[test]
    fn turns_are_per_host_and_follow_a_pause() {
        let throttle = Throttle::new(None, Some(5.0));
        let a = Url::parse("http://127.0.0.1:1/x").unwrap();
        let b = Url::parse("http://127.0.0.1:2/x").unwrap();
        assert!(
            throttle.host_turn(&a).is_none(),
            "the first request goes at once"
        );
        let second = throttle.host_turn(&a).unwrap();
        let third = throttle.host_turn(&a).unwrap();
        assert!(second > Duration::from_millis(190) && second <= Duration::from_millis(200));
        assert!(third > Duration::from_millis(390) && third <= Duration::from_millis(400));
        assert!(
            throttle.host_turn(&b).is_none(),
            "another host has turns of its own"
        );
        // A pause ends where it ends; the next turn is then, not a turn after the last.
        throttle.pause_host(&b, Duration::from_secs(10));
        let after = throttle.host_turn(&b).unwrap();
        assert!(after > Duration::from_millis(9_900) && after <= Duration::from_secs(10));
        let next = throttle.host_turn(&b).unwrap();
        assert!(next > after + Duration::from_millis(190));
    }
}
