//! A piece table's writers: a stream's bytes put at their offset in the `.part`, moving on into
//! the next piece while it is free, and where a stream that stopped leaves its piece.

use std::os::unix::fs::FileExt as _;

use anyhow::anyhow;

use super::{Claim, Ending, Pieces};
use crate::download::body::Flow;
use crate::download::retry::Failure;

impl Pieces {
    /// Puts a piece of body at `pos`, moving `cur` on to the next piece at a piece's end when
    /// that one is free and empty; stops at a piece someone else has. Nothing goes at or past
    /// `end`, the end of the bytes the answer said it holds: more is a failure of that answer.
    pub fn write(
        &self,
        cur: &mut usize,
        pos: &mut u64,
        chunk: &[u8],
        end: u64,
    ) -> Result<(u64, Flow), Failure> {
        if self.stopping() {
            return Ok((0, Flow::Stop));
        }
        let room = end.saturating_sub(*pos).min(chunk.len() as u64) as usize;
        let (mut rest, over) = chunk.split_at(room);
        let mut kept = 0;
        while !rest.is_empty() {
            let end = self.bounds[*cur].1;
            if *pos == end {
                match self.step(*cur) {
                    Some(next) => {
                        *cur = next;
                        continue;
                    }
                    None => return Ok((kept, Flow::Stop)),
                }
            }
            let take = (end - *pos).min(rest.len() as u64);
            let (now, later) = rest.split_at(take as usize);
            self.file.write_all_at(now, *pos).map_err(|e| {
                Failure::local(anyhow!(e).context(format!("cannot write {}", self.shown.display())))
            })?;
            // Counted only once on disk: the record never claims a byte that is not.
            self.lock().pieces[*cur].done += take;
            *pos += take;
            kept += take;
            rest = later;
        }
        if !over.is_empty() {
            return Err(Failure::transient(anyhow!(
                "the server sent more than the range it announced (bytes past {})",
                end.saturating_sub(1)
            )));
        }
        Ok((kept, Flow::More))
    }

    /// Piece `cur` is whole; takes the next one if it is free and empty.
    fn step(&self, cur: usize) -> Option<usize> {
        let mut state = self.lock();
        state.pieces[cur].claim = Claim::Whole;
        let next = cur + 1;
        let free = state.end.is_none()
            && state
                .pieces
                .get(next)
                .is_some_and(|p| p.claim == Claim::Free && p.done == 0);
        if free {
            state.pieces[next].claim = Claim::Taken;
        }
        drop(state);
        self.changed.notify_waiters();
        let _ = self.record();
        free.then_some(next)
    }

    /// Where a stream into piece `cur` that stopped at `pos` leaves it.
    pub fn stopped_at(&self, cur: usize, pos: u64) -> Result<(), Ending> {
        let end = self.bounds[cur].1;
        if pos == end {
            Ok(())
        } else if self.stopping() {
            Err(Ending::Abandoned)
        } else {
            Err(Ending::Failed(Failure::transient(anyhow!(
                "truncated: the range ended at byte {pos}, before {end}"
            ))))
        }
    }
}
