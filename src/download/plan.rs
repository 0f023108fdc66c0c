//! The dry run's side of a download: what a run would do about each entry, from what is on disk.

use super::disk::{at, place, record, root};
use super::held;
use crate::config::Policy;
use crate::entry::Entry;
use crate::outcome::Intent;

/// Decides each entry's [`Intent`] as a run would, from what is on disk, without creating
/// anything or making a request.
pub struct Planner<'a> {
    policy: &'a Policy,
    root: Option<at::Dir>,
}

impl<'a> Planner<'a> {
    /// Fails as a run would start to when the output directory cannot be used.
    pub fn new(policy: &'a Policy) -> anyhow::Result<Planner<'a>> {
        Ok(Planner {
            policy,
            root: root::open_existing_root(&policy.output_dir)?,
        })
    }

    pub fn intent(&self, entry: &Entry) -> Intent {
        // An output directory still to be created holds nothing in the way.
        let Some(root) = &self.root else {
            return Intent::Download;
        };
        match place::existing(root, self.policy, entry) {
            Ok((place::Existing::Absent, spot)) if self.policy.continues => {
                // A split download's `.part` has holes: only its record says what is there.
                // Other bytes are built on as the run would: when their version is known, or
                // the list's sha256= would catch a mix.
                let from = match spot.ranges() {
                    record::Found::Record(record) if record.pin.vouches() => Some(record.done()),
                    record::Found::Record(_) | record::Found::Unusable => None,
                    record::Found::None => spot.resumable_len().filter(|&len| {
                        held::builds_on(spot.part_pin().as_ref(), len, entry).is_ok()
                    }),
                };
                match from {
                    Some(from) if from > 0 => Intent::Resume { from },
                    _ => Intent::Download,
                }
            }
            Ok((place::Existing::Absent, _)) => Intent::Download,
            Ok((place::Existing::Replace, _)) => Intent::Replace,
            Ok((place::Existing::Skip { bytes }, _)) => Intent::Skip { bytes },
            Ok((place::Existing::Revalidate(_), _)) => Intent::Revalidate,
            Ok((place::Existing::Unchanged { .. }, _)) => Intent::Unchanged,
            Err(error) => Intent::Fail(format!("{error:#}")),
        }
    }
}
