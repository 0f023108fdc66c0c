//! `--per-host`: at most N downloads (and ranges of split downloads) per host at once, without
//! idling behind a busy host.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::jobs::{Job, Jobs, Work};
use crate::download::{HostSlot, Split};
use crate::entry::Entry;
use crate::interrupt;
use crate::throttle::host_key;

/// Entries a worker may hold back while their host is at its `--per-host` limit, at most: past
/// this, idle workers wait instead of reading further into the list.
const MAX_DEFERRED: usize = 4096;

/// `--per-host`: counts downloads in flight per host. A worker that receives an entry for a
/// busy host sets it aside and takes the next one, so the pool keeps working on other hosts;
/// whoever frees a slot takes the oldest set-aside entry that can now run.
pub struct HostSlots {
    limit: usize,
    state: Mutex<SlotState>,
    freed: Condvar,
}

#[derive(Default)]
struct SlotState {
    busy: HashMap<String, usize>,
    /// Set-aside entries by report position, so the oldest runs first.
    deferred: BTreeMap<usize, (String, Entry)>,
}

impl HostSlots {
    pub fn new(limit: usize) -> HostSlots {
        HostSlots {
            limit,
            state: Mutex::default(),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker's loop: run entries from the channel and from the set-aside ones, and pieces
    /// of split downloads, never more than `limit` downloads or ranges per host at once.
    pub fn work(&self, jobs: &Jobs, work: &Work) {
        let mut channel_open = true;
        loop {
            let next = {
                let mut state = self.lock();
                loop {
                    if let Some(job) = self.take_runnable(&mut state) {
                        break Some(job);
                    }
                    if channel_open && state.deferred.len() < MAX_DEFERRED {
                        break None;
                    }
                    if !channel_open && state.deferred.is_empty() {
                        break None;
                    }
                    // Everything set aside waits for a busy host; its workers will wake us.
                    state = self
                        .freed
                        .wait_timeout(state, Duration::from_millis(200))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            };
            let (host, entry) = match next {
                Some(job) => job,
                None if !channel_open => break,
                None => match jobs.next() {
                    Some(Job::Help(split)) => {
                        self.help(&split, work);
                        continue;
                    }
                    Some(Job::Entry(entry)) => {
                        let host = host_key(&entry.url);
                        let mut state = self.lock();
                        let busy = state.busy.entry(host.clone()).or_insert(0);
                        if *busy >= self.limit {
                            state.deferred.insert(entry.seq, (host, entry));
                            continue;
                        }
                        *busy += 1;
                        (host, entry)
                    }
                    None => {
                        channel_open = false;
                        continue;
                    }
                },
            };
            // The slot moves with the entry if it goes on to a mirror's host.
            let slot = EntrySlot {
                slots: self,
                host: RefCell::new(host),
            };
            work.run(&entry, Some(&slot));
            self.give_back(&slot.host.borrow());
        }
        while let Some(split) = jobs.after_list() {
            self.help(&split, work);
        }
    }

    /// Fetches pieces of `split` if its host has a slot free; a piece for a host at its limit
    /// is left to the worker that has the entry (this one waits a moment for a slot before it
    /// looks again, rather than pick the same split over and over).
    fn help(&self, split: &Split, work: &Work) {
        let host = host_key(split.url());
        if self.try_take(&host) {
            work.help(split);
            self.give_back(&host);
        } else {
            let state = self.lock();
            let _ = self.freed.wait_timeout(state, Duration::from_millis(50));
        }
    }

    /// Takes a slot of `host` if it has one free.
    fn try_take(&self, host: &str) -> bool {
        let mut state = self.lock();
        let busy = state.busy.entry(host.to_string()).or_insert(0);
        let free = *busy < self.limit;
        if free {
            *busy += 1;
        }
        free
    }

    /// Takes a slot of `host`, waiting (holding no other) until one is free; Ctrl-C ends the
    /// wait, and the slot is taken all the same (the download ends at once).
    fn take(&self, host: &str) {
        let mut state = self.lock();
        loop {
            let busy = state.busy.entry(host.to_string()).or_insert(0);
            if *busy < self.limit || interrupt::requested() {
                *busy += 1;
                return;
            }
            state = self
                .freed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn give_back(&self, host: &str) {
        let mut state = self.lock();
        if let Some(busy) = state.busy.get_mut(host) {
            *busy -= 1;
        }
        drop(state);
        self.freed.notify_all();
    }

    /// The oldest set-aside entry whose host has a free slot, with the slot taken.
    fn take_runnable(&self, state: &mut SlotState) -> Option<(String, Entry)> {
        let seq = state
            .deferred
            .iter()
            .find(|(_, (host, _))| state.busy.get(host).copied().unwrap_or(0) < self.limit)
            .map(|(seq, _)| *seq)?;
        let (host, entry) = state.deferred.remove(&seq)?;
        *state.busy.entry(host.clone()).or_insert(0) += 1;
        Some((host, entry))
    }
}

/// The slot one running entry holds, on the host it is downloading from: it moves with the entry
/// to a mirror's host.
struct EntrySlot<'s> {
    slots: &'s HostSlots,
    host: RefCell<String>,
}

impl HostSlot for EntrySlot<'_> {
    fn move_to(&self, url: &reqwest::Url) {
        let to = host_key(url);
        if *self.host.borrow() == to {
            return;
        }
        // Given back first: waiting for one host while holding another could deadlock two
        // workers moving the other way.
        self.slots.give_back(&self.host.borrow());
        self.slots.take(&to);
        *self.host.borrow_mut() = to;
    }
}
