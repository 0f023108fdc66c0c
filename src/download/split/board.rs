//! Where split downloads show idle workers that they have pieces to take: the splits running,
//! held weakly (a finished one costs nothing and holds no file open), and a bell that wakes idle
//! workers, bounded by the number of workers (ringing a full bell changes nothing: that many
//! will look anyway). Workers busy with entries of their own never look, and nothing piles
//! up behind a long list.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crossbeam_channel::{Receiver, Sender};

/// What is posted: something an idle worker may be able to help with.
pub trait Wanted: Send + Sync {
    /// Whether an idle worker could take a piece of it now.
    fn wants_help(&self) -> bool;
}

/// The board of one run.
pub struct Board<T> {
    posted: Mutex<Vec<Weak<T>>>,
    ring: Sender<()>,
    bell: Receiver<()>,
}

impl<T: Wanted> Board<T> {
    /// A board for `workers` workers.
    pub fn new(workers: usize) -> Board<T> {
        let (ring, bell) = crossbeam_channel::bounded(workers.max(1));
        Board {
            posted: Mutex::new(Vec::new()),
            ring,
            bell,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Weak<T>>> {
        self.posted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shows `item` to idle workers and wakes up to `wake` of them; it is taken down when the
    /// returned guard is dropped.
    pub fn post(&self, item: &Arc<T>, wake: usize) -> Posted<'_, T> {
        self.lock().push(Arc::downgrade(item));
        for _ in 0..wake {
            if self.ring.try_send(()).is_err() {
                break;
            }
        }
        Posted {
            board: self,
            item: Arc::downgrade(item),
        }
    }

    /// A posted item an idle worker could help with now, the oldest first.
    pub fn pick(&self) -> Option<Arc<T>> {
        let mut posted = self.lock();
        posted.retain(|item| item.strong_count() > 0);
        posted
            .iter()
            .filter_map(Weak::upgrade)
            .find(|item| item.wants_help())
    }

    /// Wakes every idle worker: no split download is left that could show a piece, and they
    /// look, see it and end.
    pub fn ring_all(&self) {
        while self.ring.try_send(()).is_ok() {}
    }

    /// Rings when something is posted: what idle workers wait on.
    pub fn bell(&self) -> &Receiver<()> {
        &self.bell
    }
}

/// An item on the board, until this is dropped.
pub struct Posted<'b, T> {
    board: &'b Board<T>,
    item: Weak<T>,
}

impl<T> Drop for Posted<'_, T> {
    fn drop(&mut self) {
        let mut posted = self.board.posted.lock().unwrap_or_else(|e| e.into_inner());
        posted.retain(|item| !item.ptr_eq(&self.item));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Item(AtomicBool);

    impl Wanted for Item {
        fn wants_help(&self) -> bool {
            self.0.load(Ordering::Relaxed)
        }
    }

    #[test]
    fn idle_workers_find_what_wants_help_until_it_is_taken_down() {
        let board = Board::new(2);
        let busy = Arc::new(Item(AtomicBool::new(false)));
        let open = Arc::new(Item(AtomicBool::new(true)));
        let _busy = board.post(&busy, 8);
        assert_eq!(
            board.bell().len(),
            2,
            "the bell holds no more rings than workers"
        );
        let posted = board.post(&open, 1);
        assert!(Arc::ptr_eq(&board.pick().unwrap(), &open));
        drop(posted);
        assert!(board.pick().is_none());
        busy.0.store(true, Ordering::Relaxed);
        assert!(Arc::ptr_eq(&board.pick().unwrap(), &busy));
        // Gone without being taken down: not held, not picked.
        drop(busy);
        assert!(board.pick().is_none());
    }
}
