//! Hosts that must wait, without the pool idling behind them: `--per-host` (at most N
//! downloads, and ranges of split downloads, per host at once) and `--rate-per-host` (a host's
//! next turn, or the end of its pause after a 429).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::jobs::{Duty, Job, Jobs, Next};
use crate::download::{HostSlot, Split};
use crate::entry::Entry;
use crate::interrupt;
use crate::throttle::{Throttle, host_key};

/// Entries a worker may hold back while their host must wait, at most: past this, idle workers
/// wait instead of reading further into the list.
const MAX_DEFERRED: usize = 4096;

/// Hosts whose last start the gate keeps before it forgets those whose turn is over.
const FORGET_PAST: usize = 1024;

/// The longest a worker waiting on the gate sleeps before it looks again.
const LOOK_AGAIN: Duration = Duration::from_millis(200);

/// A worker that receives an entry for a host that must wait (at its `--per-host` limit, or
/// before its next turn) sets it aside and takes the next one, so the pool keeps working on
/// other hosts; whoever is free when the host may go on takes its oldest set-aside entry.
pub struct HostGate<'t> {
    /// `--per-host`: downloads at once per host.
    limit: Option<usize>,
    /// Each host's turns and pauses, which requests keep (and wait for) themselves.
    throttle: &'t Throttle,
    state: Mutex<GateState>,
    freed: Condvar,
}

#[derive(Default)]
struct GateState {
    busy: HashMap<String, usize>,
    /// Set-aside entries, per host by report position, so the oldest runs first.
    deferred: HashMap<String, BTreeMap<usize, Entry>>,
    deferred_count: usize,
    /// With turns: when the gate last let an entry of each host start. The next starts a turn
    /// later, so that workers idle at a host's turn do not all start its entries at once (and
    /// all but one then wait for turns inside their requests).
    started: HashMap<String, Instant>,
}

/// Whether an entry of a host may start now.
enum Gate {
    Open,
    /// At its `--per-host` limit, until a download of it ends.
    Full,
    /// Not before then: its next turn, or the end of its pause.
    Until(Instant),
}

impl<'t> HostGate<'t> {
    pub fn new(limit: Option<usize>, throttle: &'t Throttle) -> HostGate<'t> {
        HostGate {
            limit,
            throttle,
            state: Mutex::default(),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker's loop: run entries from the channel and from the set-aside ones, and pieces
    /// of split downloads, starting none for a host that must wait.
    pub fn work(&self, jobs: &Jobs, duty: &Duty) {
        let mut channel_open = true;
        loop {
            let (next, soonest) = self.next_set_aside(channel_open, duty);
            let (host, entry) = match next {
                Some(job) => job,
                None if !channel_open => break,
                None => match jobs.next_by(soonest) {
                    Next::Job(Job::Help(split)) => {
                        self.help(&split, duty);
                        continue;
                    }
                    Next::Job(Job::Entry(entry)) => match self.admit(entry, duty) {
                        Some(job) => job,
                        None => continue,
                    },
                    Next::Deadline => continue,
                    Next::ListDone => {
                        channel_open = false;
                        continue;
                    }
                },
            };
            // The slot moves with the entry if it goes on to a mirror's host, and is given back
            // when the download ends.
            duty.run(&entry, Some(&EntrySlot::holding(self, host)));
        }
        while let Some(split) = jobs.after_list() {
            self.help(&split, duty);
        }
    }

    /// The oldest set-aside entry that may start now, started; or, when the worker should go
    /// to the channel instead (or the run is over), `None` and the soonest moment a set-aside
    /// entry may start. Waits here while nothing may start and nothing more may be set aside.
    fn next_set_aside(
        &self,
        channel_open: bool,
        duty: &Duty,
    ) -> (Option<(String, Entry)>, Option<Instant>) {
        let mut state = self.lock();
        loop {
            let (runnable, soonest) = self.runnable(&mut state, duty.stopping());
            if runnable.is_some() {
                return (runnable, None);
            }
            let full = state.deferred_count >= MAX_DEFERRED;
            if (channel_open && !full) || (!channel_open && state.deferred_count == 0) {
                return (None, soonest);
            }
            // Everything set aside waits for a busy host (whose workers will wake us) or for
            // a turn.
            let now = Instant::now();
            let wait = soonest.map_or(LOOK_AGAIN, |at| (at - now.min(at)).min(LOOK_AGAIN));
            state = self
                .freed
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Starts `entry` if its host may go now and has no older entry set aside; else sets it
    /// aside.
    fn admit(&self, entry: Entry, duty: &Duty) -> Option<(String, Entry)> {
        let host = host_key(&entry.url);
        let mut state = self.lock();
        let now = Instant::now();
        let open = !state.deferred.contains_key(&host)
            && matches!(self.gate(&state, &host, now), Gate::Open);
        if open || duty.stopping() {
            self.start(&mut state, &host, now);
            return Some((host, entry));
        }
        state.deferred_count += 1;
        let queue = state.deferred.entry(host).or_default();
        queue.insert(entry.seq, entry);
        None
    }

    /// Fetches pieces of `split` if its host has a slot free; a piece for a host at its limit
    /// is left to the worker that has the entry (this one waits a moment for a slot before it
    /// looks again, rather than pick the same split over and over). Turns are not waited for
    /// here: the requests for the pieces wait for them.
    fn help(&self, split: &Split, duty: &Duty) {
        let host = host_key(split.url());
        if self.try_take(&host) {
            duty.help(split);
            self.give_back(&host);
        } else {
            let state = self.lock();
            let _ = self.freed.wait_timeout(state, Duration::from_millis(50));
        }
    }

    fn gate(&self, state: &GateState, host: &str, now: Instant) -> Gate {
        let busy = state.busy.get(host).copied().unwrap_or(0);
        if self.limit.is_some_and(|limit| busy >= limit) {
            return Gate::Full;
        }
        let last_start = match (self.throttle.turn(), state.started.get(host)) {
            (Some(turn), Some(at)) => Some(*at + turn).filter(|next| *next > now),
            _ => None,
        };
        match (self.throttle.waits_until(host), last_start) {
            (None, None) => Gate::Open,
            (a, b) => Gate::Until(a.max(b).unwrap_or(now)),
        }
    }

    fn start(&self, state: &mut GateState, host: &str, now: Instant) {
        *state.busy.entry(host.to_string()).or_insert(0) += 1;
        if let Some(turn) = self.throttle.turn() {
            // A list of many hosts: forget the starts whose turn is over.
            if state.started.len() >= FORGET_PAST {
                state.started.retain(|_, at| *at + turn > now);
            }
            state.started.insert(host.to_string(), now);
        }
    }

    /// The oldest set-aside entry that may start now, started (after Ctrl-C, any: it is only
    /// reported); else the soonest moment one may start for a turn or a pause.
    fn runnable(
        &self,
        state: &mut GateState,
        stopping: bool,
    ) -> (Option<(String, Entry)>, Option<Instant>) {
        let now = Instant::now();
        let mut oldest: Option<(usize, &String)> = None;
        let mut soonest: Option<Instant> = None;
        for (host, queue) in &state.deferred {
            let Some(seq) = queue.keys().next().copied() else {
                continue;
            };
            match self.gate(state, host, now) {
                _ if stopping => {}
                Gate::Open => {}
                Gate::Full => continue,
                Gate::Until(at) => {
                    soonest = Some(soonest.map_or(at, |s| s.min(at)));
                    continue;
                }
            }
            if oldest.is_none_or(|(first, _)| seq < first) {
                oldest = Some((seq, host));
            }
        }
        let Some((seq, host)) = oldest else {
            return (None, soonest);
        };
        let host = host.clone();
        let queue = state.deferred.get_mut(&host).expect("the host just seen");
        let entry = queue.remove(&seq).expect("the entry just seen");
        if queue.is_empty() {
            state.deferred.remove(&host);
        }
        state.deferred_count -= 1;
        self.start(state, &host, now);
        (Some((host, entry)), None)
    }

    /// Takes a slot of `host` if it has one free.
    fn try_take(&self, host: &str) -> bool {
        let mut state = self.lock();
        let busy = state.busy.entry(host.to_string()).or_insert(0);
        let free = self.limit.is_none_or(|limit| *busy < limit);
        if free {
            *busy += 1;
        }
        free
    }

    fn give_back(&self, host: &str) {
        let mut state = self.lock();
        if let Some(busy) = state.busy.get_mut(host) {
            *busy -= 1;
            if *busy == 0 {
                state.busy.remove(host);
            }
        }
        drop(state);
        self.freed.notify_all();
    }
}

/// The slot one running entry holds, on the host it is downloading from: it moves with the entry
/// to a mirror's host, and goes back when dropped.
pub struct EntrySlot<'g, 't> {
    gate: &'g HostGate<'t>,
    /// The host it holds a slot of; none while it waits for one on a mirror's host.
    host: RefCell<Option<String>>,
}

impl<'g, 't> EntrySlot<'g, 't> {
    /// The slot on `host` that the gate has just given an entry.
    fn holding(gate: &'g HostGate<'t>, host: String) -> EntrySlot<'g, 't> {
        EntrySlot {
            gate,
            host: RefCell::new(Some(host)),
        }
    }
}

impl HostSlot for EntrySlot<'_, '_> {
    fn try_move_to(&self, url: &reqwest::Url) -> bool {
        let to = host_key(url);
        let mut host = self.host.borrow_mut();
        if host.as_deref() == Some(to.as_str()) {
            return true;
        }
        // Given back first: waiting for one host while holding another could deadlock two
        // downloads moving the other way.
        if let Some(from) = host.take() {
            self.gate.give_back(&from);
        }
        if self.gate.try_take(&to) {
            *host = Some(to);
            return true;
        }
        // After Ctrl-C nothing waits for a slot: the download ends at once, holding none.
        interrupt::requested()
    }
}

impl Drop for EntrySlot<'_, '_> {
    fn drop(&mut self) {
        if let Some(host) = self.host.get_mut().take() {
            self.gate.give_back(&host);
        }
    }
}
