//! Being polite on shared links and to busy servers: the run-wide bandwidth cap
//! (`--limit-rate`, one token bucket for every worker) and per-host pauses after a 429 or a
//! 503 with `Retry-After`, which hold back every worker's next request to that host.
//!
//! This only keeps the books and says how long to wait; the download does the waiting, where it
//! can end early at `--max-time` and on Ctrl-C.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Url;

/// What the workers share to throttle themselves.
#[derive(Default)]
pub struct Throttle {
    rate: Option<RateLimit>,
    pauses: Mutex<HashMap<String, Instant>>,
    /// Whether any host was ever paused: nearly always not, and then no request needs to take
    /// the lock every worker shares.
    any_paused: AtomicBool,
}

impl Throttle {
    pub fn new(limit_rate: Option<u64>) -> Throttle {
        Throttle {
            rate: limit_rate.map(RateLimit::new),
            pauses: Mutex::default(),
            any_paused: AtomicBool::new(false),
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
        let mut pauses = self.pauses.lock().unwrap_or_else(|e| e.into_inner());
        let entry = pauses.entry(host_key(url)).or_insert(until);
        *entry = (*entry).max(until);
        self.any_paused.store(true, Ordering::Release);
    }

    /// How long `url`'s host is still paused, if it is.
    pub fn host_pause(&self, url: &Url) -> Option<Duration> {
        if !self.any_paused.load(Ordering::Acquire) {
            return None;
        }
        let pauses = self.pauses.lock().unwrap_or_else(|e| e.into_inner());
        let until = *pauses.get(&host_key(url))?;
        until.checked_duration_since(Instant::now())
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
        let throttle = Throttle::new(None);
        let a = Url::parse("http://127.0.0.1:1/x").unwrap();
        let b = Url::parse("http://127.0.0.1:2/x").unwrap();
        throttle.pause_host(&a, Duration::from_secs(30));
        throttle.pause_host(&a, Duration::from_secs(1));
        let pauses = throttle.pauses.lock().unwrap();
        let left = pauses[&host_key(&a)] - Instant::now();
        assert!(
            left > Duration::from_secs(25),
            "a shorter pause does not cut a longer one"
        );
        assert!(!pauses.contains_key(&host_key(&b)));
        drop(pauses);
        assert!(throttle.host_pause(&a).is_some());
        assert!(throttle.host_pause(&b).is_none());
    }
}
