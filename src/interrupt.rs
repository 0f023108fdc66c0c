//! Ctrl-C and SIGTERM: the first asks the run to stop, the second exits at once.
//!
//! The handler (the `ctrlc` crate's own thread) sets a flag and wakes whoever waits: every
//! download races [`cancelled`] against each of its waits, so running transfers end at once, and
//! threads blocked on a channel select on [`signal`].

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use anyhow::Context as _;
use crossbeam_channel::{Receiver, Sender};
use tokio::sync::Notify;

static SIGNALS: AtomicUsize = AtomicUsize::new(0);
/// Wakes every download waiting on any worker's runtime.
static NOTIFY: Notify = Notify::const_new();
/// Dropping the sender disconnects the receiver: every `select!` on it wakes, now and later.
static CHANNEL: LazyLock<Channel> = LazyLock::new(|| {
    let (tx, rx) = crossbeam_channel::bounded(0);
    Channel {
        sender: Mutex::new(Some(tx)),
        receiver: rx,
    }
});

struct Channel {
    /// Taken and dropped by the first signal.
    sender: Mutex<Option<Sender<()>>>,
    receiver: Receiver<()>,
}

/// Installs the handler for SIGINT and SIGTERM; a second signal exits with `second_exits`.
pub fn install(second_exits: u8) -> anyhow::Result<()> {
    LazyLock::force(&CHANNEL);
    ctrlc::set_handler(move || {
        if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
            std::process::exit(second_exits.into());
        }
        NOTIFY.notify_waiters();
        CHANNEL
            .sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    })
    .context("cannot install the Ctrl-C handler")
}

/// Whether the run has been asked to stop.
pub fn requested() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// A receiver that is disconnected once the run is asked to stop: `select!` on it beside a
/// blocking receive.
pub fn signal() -> &'static Receiver<()> {
    &CHANNEL.receiver
}

/// Completes once the run is asked to stop.
pub async fn cancelled() {
    let mut notified = pin!(NOTIFY.notified());
    // Registered before the flag is looked at, so a signal in between is not missed.
    notified.as_mut().enable();
    if requested() {
        return;
    }
    notified.await;
}
