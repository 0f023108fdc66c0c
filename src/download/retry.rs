//! Which failures are worth another attempt, and how long to wait first: exponential backoff
//! with full jitter, or the server's `Retry-After` in either of its forms.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant, SystemTime};

use anyhow::anyhow;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};

/// First backoff ceiling; it doubles with each retry up to `BACKOFF_MAX` (full jitter: the wait
/// is drawn uniformly from zero to the ceiling).
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The longest a `Retry-After` is obeyed.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// A failed attempt: the reason, the server's status if it answered, and whether trying again
/// may help.
pub struct Failure {
    pub http_status: Option<u16>,
    pub error: anyhow::Error,
    pub retryable: bool,
    /// What the server asked us to wait (Retry-After), if anything.
    pub retry_after: Option<Duration>,
    /// The URL whose server answered 429 or 503: its host is paused for every worker.
    pub busy_host: Option<Box<Url>>,
    /// Ctrl-C ended it.
    pub interrupted: bool,
    /// Something here went wrong (the disk, the output directory), not the server: another
    /// server of the same file (a mirror) would not fix it.
    pub local: bool,
    /// The reason as a person reads it at a glance (`connection refused (127.0.0.1:8080)`),
    /// where the whole chain of causes says more than that; the chain stays in `error`.
    pub brief: Option<String>,
}

impl Failure {
    /// A failure trying again will not fix (4xx, checksum, disk, policy, Ctrl-C).
    pub fn fatal(error: anyhow::Error) -> Failure {
        Failure {
            http_status: None,
            error,
            retryable: false,
            retry_after: None,
            busy_host: None,
            interrupted: false,
            local: false,
            brief: None,
        }
    }

    /// The same, read at a glance as `brief`.
    pub fn brief(mut self, brief: String) -> Failure {
        self.brief = Some(brief);
        self
    }

    /// A failure of this machine's (a write, the output directory, a placement), not the
    /// server's; not retried, and no mirror is tried for it.
    pub fn local(error: anyhow::Error) -> Failure {
        Failure {
            local: true,
            ..Failure::fatal(error)
        }
    }

    /// Whether another server of the same file could do better: anything that went wrong with
    /// the server or on the way to it, not here and not Ctrl-C.
    pub fn another_server_could_fix(&self) -> bool {
        !self.local && !self.interrupted
    }

    /// A failure of the network or the server that may pass (reset, timeout, truncation).
    pub fn transient(error: anyhow::Error) -> Failure {
        Failure {
            retryable: true,
            ..Failure::fatal(error)
        }
    }

    /// The run was asked to stop.
    pub fn interrupted() -> Failure {
        Failure {
            interrupted: true,
            ..Failure::fatal(anyhow!("interrupted"))
        }
    }

    /// Says what was going on when it failed; an interruption stays plain "interrupted".
    pub fn context(self, context: String) -> Failure {
        if self.interrupted {
            return self;
        }
        Failure {
            error: self.error.context(context),
            ..self
        }
    }

    /// The final response's status, for the report.
    pub fn status(mut self, status: StatusCode) -> Failure {
        self.http_status = Some(status.as_u16());
        self
    }

    /// A final response that is not a success: retried where the status says the server may
    /// answer differently later.
    pub fn from_status(status: StatusCode, headers: &HeaderMap, url: &Url) -> Failure {
        let retryable = matches!(status.as_u16(), 408 | 425 | 429 | 500 | 502 | 503 | 504);
        let retry_after = retryable
            .then(|| headers.get(RETRY_AFTER)?.to_str().ok())
            .flatten()
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        // A 429, or a 503 that says for how long: the whole host is busy, not just this entry.
        let host_busy = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some());
        Failure {
            http_status: Some(status.as_u16()),
            error: anyhow!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
            retryable,
            retry_after,
            busy_host: host_busy.then(|| Box::new(url.clone())),
            interrupted: false,
            local: false,
            brief: None,
        }
    }

    /// How long to wait before retry number `retry` (1-based).
    pub fn wait(&self, retry: u32) -> Duration {
        self.retry_after
            .map_or_else(|| backoff(retry), |d| d.min(RETRY_AFTER_MAX))
    }
}

/// The wait before retry number `retry` (1-based): full jitter over an exponential ceiling.
fn backoff(retry: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << retry.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    // RandomState is seeded from the OS per thread: enough randomness to spread retries apart
    // without a crate for it.
    let random = RandomState::new().hash_one(Instant::now());
    Duration::from_nanos(random % (ceiling.as_nanos() as u64 + 1))
}

/// `Retry-After` in either form: delay-seconds or an HTTP date.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_both_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for retry in 1..40 {
            let ceiling = BACKOFF_BASE
                .saturating_mul(1 << (retry - 1).min(16))
                .min(BACKOFF_MAX);
            assert!(backoff(retry) <= ceiling);
        }
        // Full jitter: over many draws the waits are spread, not all equal.
        let draws: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(3)).collect();
        assert!(draws.len() > 10);
    }

    #[test]
    fn statuses_that_retry_and_pause_the_host() {
        let url = Url::parse("http://127.0.0.1:1/x").unwrap();
        let mut headers = HeaderMap::new();
        let f = Failure::from_status(StatusCode::NOT_FOUND, &headers, &url);
        assert!(!f.retryable && f.busy_host.is_none());
        assert_eq!(f.error.to_string(), "HTTP 404 Not Found");
        let f = Failure::from_status(StatusCode::SERVICE_UNAVAILABLE, &headers, &url);
        assert!(
            f.retryable && f.busy_host.is_none(),
            "a 503 without Retry-After"
        );
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        let f = Failure::from_status(StatusCode::SERVICE_UNAVAILABLE, &headers, &url);
        assert_eq!(f.retry_after, Some(Duration::from_secs(2)));
        assert!(f.busy_host.is_some());
        assert_eq!(f.wait(1), Duration::from_secs(2));
        headers.insert(RETRY_AFTER, "3600".parse().unwrap());
        let f = Failure::from_status(StatusCode::TOO_MANY_REQUESTS, &headers, &url);
        assert_eq!(f.wait(1), RETRY_AFTER_MAX);
    }

    proptest::proptest! {
        #[test]
        fn any_retry_after_is_read_or_refused_without_a_panic(
            text in crate::hostile::text(),
            bytes in crate::hostile::bytes(),
        ) {
            let now = SystemTime::now();
            let _ = parse_retry_after(&text, now);
            let _ = parse_retry_after(&bytes, now);
        }
    }

    #[test]
    fn a_megabyte_of_retry_after_is_read_in_linear_time() {
        crate::hostile::a_megabyte_within_a_second(&[], |text| {
            let _ = parse_retry_after(text, SystemTime::now());
        });
    }
}
