//! Ctrl-C and SIGTERM (SPEC §7): the first asks the run to stop, the second exits at once.
//!
//! The handler (the `ctrlc` crate's own thread) only sets a flag and wakes sleepers; the pool's
//! watchdog turns the flag into a clean stop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::exit_code;

static SIGNALS: AtomicUsize = AtomicUsize::new(0);
static WAKE: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());

/// Installs the handler for SIGINT and SIGTERM.
pub fn install() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
            std::process::exit(exit_code::INTERRUPTED.into());
        }
        let _guard = WAKE.0.lock().unwrap_or_else(|e| e.into_inner());
        WAKE.1.notify_all();
    })
    .context("cannot install the Ctrl-C handler")
}

/// Whether the run has been asked to stop.
pub fn requested() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// Sleeps for `duration` unless interrupted first; true if interrupted.
pub fn sleep(duration: Duration) -> bool {
    sleep_unless(duration, || false)
}

/// Sleeps for `duration`, or until interrupted (true), or until `done()` holds after a
/// [`wake`] (false).
pub fn sleep_unless(duration: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + duration;
    let mut guard = WAKE.0.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if requested() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline || done() {
            return false;
        }
        guard = WAKE
            .1
            .wait_timeout(guard, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Wakes every sleeper so it can look at its `done` condition again.
pub fn wake() {
    let _guard = WAKE.0.lock().unwrap_or_else(|e| e.into_inner());
    WAKE.1.notify_all();
}
