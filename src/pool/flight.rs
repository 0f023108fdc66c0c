//! The downloads one worker has in flight on its runtime at once. A worker takes another entry
//! while it has room: fewer than `--streams` in flight, and every one of them on a connection
//! known to carry several (HTTP/2). A download over HTTP/1.1 (or not known yet) has its
//! connection to itself, and the worker takes nothing more until it ends, so `-j` still bounds
//! the connections to a host.
//!
//! The downloads are futures driven together by one `block_on` on the worker's thread
//! ([`Flight::drive`]), which returns when one ends, when room opens (a handshake or an answer
//! said HTTP/2), or when entries arrive for a worker that has room.

use std::cell::Cell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::Instant;

use crate::download::{HostSlot, Stream, Worker};
use crate::entry::Entry;
use crate::outcome::Outcome;
use crate::timeline::Lane;

/// One download in flight.
struct Slot<'w> {
    entry: Rc<Entry>,
    stream: Rc<Cell<Stream>>,
    /// The worker's handshake counts when it started: a handshake since says what its
    /// connection is while it waits for its first answer.
    since: (u64, u64),
    /// Its line in the worker's row of the `--timeline` picture (when one is drawn), and when
    /// it started there.
    sub: usize,
    lane: Option<(Rc<Lane<'w>>, Instant)>,
    download: Pin<Box<dyn Future<Output = Outcome> + 'w>>,
}

/// A download that ended: its entry, how (`None`: it panicked, a bug), and its lane of the
/// picture with when it started there.
pub struct Settled<'w> {
    pub entry: Rc<Entry>,
    pub outcome: Option<Outcome>,
    pub lane: Option<(Rc<Lane<'w>>, Instant)>,
}

/// The downloads one worker has in flight.
pub struct Flight<'w> {
    worker: &'w Worker<'w>,
    /// `--streams`: at most this many at once.
    limit: usize,
    slots: Vec<Slot<'w>>,
}

impl<'w> Flight<'w> {
    pub fn new(worker: &'w Worker<'w>, limit: usize) -> Flight<'w> {
        Flight {
            worker,
            limit,
            slots: Vec::with_capacity(limit),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether the worker may take another entry now: below the limit, and every download in
    /// flight on a connection that carries several.
    pub fn has_room(&self) -> bool {
        self.slots.len() < self.limit && self.slots.iter().all(|s| s.stream.get() == Stream::Shared)
    }

    /// Starts downloading `entry`, holding `slot` (its `--per-host` slot) until it ends.
    pub fn start(&mut self, entry: Entry, slot: Option<Box<dyn HostSlot + 'w>>) {
        let worker = self.worker;
        let entry = Rc::new(entry);
        let stream = Rc::new(Cell::new(worker.stream_of(&entry.url)));
        let sub = (0..)
            .find(|i| self.slots.iter().all(|s| s.sub != *i))
            .unwrap_or(0);
        let lane = worker
            .sub_lane(sub)
            .map(|lane| (Rc::new(lane), Instant::now()));
        let (owned, told) = (Rc::clone(&entry), Rc::clone(&stream));
        let drawn = lane.as_ref().map(|(lane, _)| Rc::clone(lane));
        let download = Box::pin(async move {
            let slot = slot.as_deref();
            worker.download(&owned, slot, &told, drawn.as_deref()).await
        });
        self.slots.push(Slot {
            entry,
            stream,
            since: worker.handshakes().counts(),
            sub,
            lane,
            download,
        });
    }

    /// Drives every download in flight on the worker's runtime until one or more end, room
    /// opens, or `arrival` (given when the worker has room and waits for entries) completes.
    /// Returns the downloads that ended.
    pub fn drive(
        &mut self,
        mut arrival: Option<Pin<&mut (dyn Future<Output = ()> + '_)>>,
    ) -> Vec<Settled<'w>> {
        let worker = self.worker;
        let had_room = self.has_room();
        worker.block_on(async {
            let handshakes = worker.handshakes();
            let mut handshake = pin!(handshakes.rung.notified());
            std::future::poll_fn(|cx| {
                // Registered before the downloads are polled: a handshake they finish rings it.
                if handshake.as_mut().poll(cx).is_ready() {
                    handshake.set(handshakes.rung.notified());
                    let _ = handshake.as_mut().poll(cx);
                }
                let ended = self.poll_downloads(cx);
                self.learn(handshakes.counts());
                let opened = !had_room && self.has_room();
                let arrived = arrival
                    .as_mut()
                    .is_some_and(|arrival| arrival.as_mut().poll(cx).is_ready());
                if !ended.is_empty() || opened || arrived {
                    Poll::Ready(ended)
                } else {
                    Poll::Pending
                }
            })
            .await
        })
    }

    /// Polls each download once; those that ended (or panicked) leave the flight.
    fn poll_downloads(&mut self, cx: &mut std::task::Context<'_>) -> Vec<Settled<'w>> {
        let mut ended = Vec::new();
        let mut i = 0;
        while i < self.slots.len() {
            let download = &mut self.slots[i].download;
            let polled = panic::catch_unwind(AssertUnwindSafe(|| download.as_mut().poll(cx)));
            let outcome = match polled {
                Ok(Poll::Pending) => {
                    i += 1;
                    continue;
                }
                Ok(Poll::Ready(outcome)) => Some(outcome),
                Err(_) => None,
            };
            let slot = self.slots.swap_remove(i);
            ended.push(Settled {
                entry: slot.entry,
                outcome,
                lane: slot.lane,
            });
        }
        ended
    }

    /// A download still waiting for its first answer learns from the handshakes since it
    /// started what its connection is: one that chose HTTP/2 is shared, any other its own.
    /// (Only one download of a worker can be waiting so: the worker takes no more meanwhile.)
    fn learn(&mut self, (h2, other): (u64, u64)) {
        for slot in &mut self.slots {
            if slot.stream.get() != Stream::Unknown {
                continue;
            }
            if other > slot.since.1 {
                slot.stream.set(Stream::Own);
            } else if h2 > slot.since.0 {
                slot.stream.set(Stream::Shared);
                self.worker.handshook(&slot.entry.url);
            }
        }
    }
}
