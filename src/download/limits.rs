//! The limits of one attempt, applied to every wait in it: the idle limit (`--timeout`), the
//! attempt's deadline (`--max-time`) and Ctrl-C, raced against whatever the attempt waits for.
//! Timers are made inside the worker's runtime, on each wait.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::anyhow;

use super::retry::Failure;
use crate::config::Policy;
use crate::interrupt;

/// One attempt's clock.
pub struct Limits {
    idle: Duration,
    max_time: Option<Duration>,
    deadline: Option<Instant>,
}

impl Limits {
    /// The clock of an attempt that starts now.
    pub fn start(policy: &Policy) -> Limits {
        Limits {
            idle: policy.idle_timeout,
            max_time: policy.max_time,
            deadline: policy.max_time.map(|t| Instant::now() + t),
        }
    }

    /// The clock between attempts: no idle limit and no deadline, only Ctrl-C.
    pub fn between_attempts() -> Limits {
        Limits {
            idle: Duration::ZERO,
            max_time: None,
            deadline: None,
        }
    }

    /// Waits for bytes (or headers) from the server: fails when none come within the idle
    /// limit, at the deadline, and at once on Ctrl-C.
    pub async fn wait<F: Future>(&self, fut: F) -> Result<F::Output, Failure> {
        let idle = self.idle;
        self.race(fut, Some(idle)).await.map_err(|cut| match cut {
            Cut::Idle => Failure::transient(anyhow!(
                "timed out: nothing received for {}s (--timeout)",
                idle.as_secs_f64()
            )),
            cut => self.failure(cut),
        })
    }

    /// A pause of fetchpool's own (`--limit-rate`, a paused host): not the server's silence,
    /// so no idle limit, but it ends at the deadline and on Ctrl-C.
    pub async fn sleep(&self, duration: Duration) -> Result<(), Failure> {
        self.race(tokio::time::sleep(duration), None)
            .await
            .map_err(|cut| self.failure(cut))
    }

    /// Fails once the attempt has run past `--max-time`, or on Ctrl-C: a body whose bytes keep
    /// arriving never waits long enough for the race in [`Limits::wait`] to see either.
    pub fn check(&self) -> Result<(), Failure> {
        if interrupt::requested() {
            return Err(Failure::interrupted());
        }
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(self.failure(Cut::Deadline)),
            _ => Ok(()),
        }
    }

    fn failure(&self, cut: Cut) -> Failure {
        match cut {
            Cut::Interrupted => Failure::interrupted(),
            Cut::Deadline | Cut::Idle => Failure::transient(anyhow!(
                "took longer than --max-time {}s",
                self.max_time.unwrap_or_default().as_secs_f64()
            )),
        }
    }

    async fn race<F: Future>(&self, fut: F, idle: Option<Duration>) -> Result<F::Output, Cut> {
        let mut fut = pin!(fut);
        // Timers register on their first poll, so a wait that is ready at once costs none.
        let mut idle = pin!(idle.map(tokio::time::sleep));
        let mut deadline = pin!(
            self.deadline
                .map(|d| tokio::time::sleep_until(tokio::time::Instant::from_std(d)))
        );
        let mut stop = pin!(interrupt::cancelled());
        std::future::poll_fn(|cx| {
            if let Poll::Ready(value) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(value));
            }
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(Cut::Interrupted));
            }
            if deadline
                .as_mut()
                .as_pin_mut()
                .is_some_and(|d| d.poll(cx).is_ready())
            {
                return Poll::Ready(Err(Cut::Deadline));
            }
            if idle
                .as_mut()
                .as_pin_mut()
                .is_some_and(|d| d.poll(cx).is_ready())
            {
                return Poll::Ready(Err(Cut::Idle));
            }
            Poll::Pending
        })
        .await
    }
}

/// Why a wait ended before what it waited for.
enum Cut {
    Idle,
    Deadline,
    Interrupted,
}
