//! What an entry holds on disk between its attempts: its `.part` (open, and locked against other
//! runs), the version its bytes are of (the [`Pin`]), and which bytes are there: a prefix of the
//! file, or a split download's pieces. Every attempt builds on it and leaves it telling the truth
//! about the bytes, so a retry asks only for the rest; with `--continue`, what an earlier run
//! left is read back first. Dropped at the entry's end, it removes the `.part` unless
//! `--continue` keeps it.

use std::io::Seek as _;

use anyhow::{Context as _, anyhow};

use super::answer::Holding;
use super::disk::part::PartFile;
use super::disk::place::Spot;
use super::disk::record::{Found, Record};
use super::kit::Kit;
use super::pin::Pin;
use super::retry::Failure;
use super::verify::{self, Computed, Digest};
use crate::entry::{Algo, Entry};

/// One entry's bytes on disk, across its attempts.
pub struct Held {
    /// The `.part`, once a 2xx answer has made one (or `--continue` found one to build on).
    pub part: Option<PartFile>,
    /// The version of the bytes, fixed by the first 2xx answer.
    pub pin: Option<Pin>,
    pub bytes: Bytes,
    /// Bytes of more than one answer are in the file: a digest that does not match may be a mix
    /// of versions that a fresh start would not have.
    pub joined: bool,
    /// The digests computed of the bytes (the report shows one, or the list checks them).
    algos: Vec<Algo>,
    /// `--continue` has looked at what an earlier run left (once per entry).
    loaded: bool,
}

/// Which bytes of the file are in the `.part`.
pub enum Bytes {
    /// The first `len` bytes; `digest` covers them when `hashed` (bytes an earlier run left are
    /// read back for it only when they are built on).
    Prefix {
        len: u64,
        digest: Digest,
        hashed: bool,
    },
    /// A split download's pieces, with holes where pieces are still missing.
    Pieces(Record),
}

impl Held {
    /// Nothing on disk yet.
    pub fn new(entry: &Entry, report_digest: bool) -> Held {
        let algos = verify::algos(entry, report_digest);
        Held {
            part: None,
            pin: None,
            bytes: Bytes::empty(&algos),
            joined: false,
            algos,
            loaded: false,
        }
    }

    /// Drops what is held: the `.part` (and a split's record) is removed, and the next request
    /// asks for the whole file.
    pub fn start_over(&mut self) {
        if let Some(mut part) = self.part.take() {
            part.keep = false;
        }
        self.pin = None;
        self.bytes = Bytes::empty(&self.algos);
        self.joined = false;
    }

    /// Where the rest of a held prefix starts, if bytes are held that may be built on: the pin
    /// can tell whether an answer is of their version, or a digest the list gives will catch a
    /// mix before the file is placed. `None`: the whole file is to be asked for.
    pub fn rest_from(&self, entry: &Entry) -> Option<u64> {
        let Bytes::Prefix { len, .. } = self.bytes else {
            return None;
        };
        let vouched =
            self.pin.as_ref().is_some_and(Pin::vouches) || !entry.options.digests.is_empty();
        (len > 0 && vouched && self.part.is_some()).then_some(len)
    }

    /// What an answer's bytes would join, as `answer.rs` reads it: the version held, and
    /// whether a digest the list gives will check the whole file before it is placed.
    pub fn holding(&self, entry: &Entry) -> Holding<'_> {
        Holding {
            pin: self.pin.as_ref(),
            digest: !entry.options.digests.is_empty(),
        }
    }

    /// The length of a held prefix (0 for pieces).
    pub fn prefix_len(&self) -> u64 {
        match self.bytes {
            Bytes::Prefix { len, .. } => len,
            Bytes::Pieces(_) => 0,
        }
    }

    /// `--continue`: takes what an earlier run left, if it can be built on: a split's `.part`
    /// with its record, or a `.part` whose pin (kept with it) or the list's `sha256=` vouches for
    /// its bytes. Anything else is left to be replaced by a fresh `.part`. Done once per entry.
    pub fn load(&mut self, spot: &Spot, entry: &Entry, kit: &Kit<'_>) -> Result<(), Failure> {
        if self.loaded || !kit.policy.continues {
            return Ok(());
        }
        self.loaded = true;
        let starting_over = |why: &str| {
            kit.log(|| format!("{}: {why}; starting over", spot.part_shown.display()));
        };
        match spot.ranges() {
            Found::Record(record) if !spot.one_stream => {
                if !record.pin.vouches() {
                    starting_over("no version of the file was recorded with its ranges");
                } else if spot.part_len().is_none_or(|len| len > record.len) {
                    starting_over("it does not match the ranges recorded beside it");
                } else {
                    self.part = Some(spot.reopen_part(true).map_err(Failure::local)?);
                    self.pin = Some(record.pin.clone());
                    self.bytes = Bytes::Pieces(record);
                    self.joined = true;
                    return Ok(());
                }
                spot.remove_stale_part().map_err(Failure::local)
            }
            // Unreadable, or this entry now goes as one stream: the .part beside it may have
            // holes, and is started over.
            Found::Record(_) | Found::Unusable => spot.remove_stale_part().map_err(Failure::local),
            Found::None => {
                if spot.resumable_len().is_none() {
                    return Ok(());
                }
                // Locked from here: another run writing it makes this entry fail, untouched.
                let part = spot.reopen_part(true).map_err(Failure::local)?;
                // The length of what was opened and locked, not of what the name stood for.
                let len = part
                    .file
                    .metadata()
                    .with_context(|| format!("cannot inspect {}", part.path.display()))
                    .map_err(Failure::local)?
                    .len();
                let pin = Pin::load(&part.file);
                if let Err(why) = builds_on(pin.as_ref(), len, entry) {
                    // Left where it is (kept): the fresh .part a 2xx answer brings replaces it.
                    starting_over(why);
                } else {
                    self.part = Some(part);
                    self.pin = pin;
                    self.bytes = Bytes::Prefix {
                        len,
                        digest: Digest::new(&self.algos),
                        hashed: false,
                    };
                    self.joined = true;
                }
                Ok(())
            }
        }
    }

    /// Makes the digest of a held prefix cover the bytes on disk: bytes an earlier run left are
    /// read back (once, and only when they are built on).
    pub fn hash_prefix(&mut self) -> Result<(), Failure> {
        let (
            Some(part),
            Bytes::Prefix {
                len,
                digest,
                hashed,
            },
        ) = (&mut self.part, &mut self.bytes)
        else {
            return Ok(());
        };
        if *hashed || !digest.is_on() {
            *hashed = true;
            return Ok(());
        }
        let read = part
            .file
            .rewind()
            .and_then(|()| digest.read_file(&mut part.file))
            .with_context(|| format!("cannot read {}", part.path.display()))
            .map_err(Failure::local)?;
        if read != *len {
            self.start_over();
            return Err(Failure::transient(anyhow!(
                "the .part changed while it was resumed; starting over"
            )));
        }
        *hashed = true;
        Ok(())
    }

    /// The digests of the held prefix, now that it is the whole file.
    pub fn finish_digest(&mut self) -> Computed {
        match std::mem::replace(&mut self.bytes, Bytes::empty(&[])) {
            Bytes::Prefix { digest, .. } => digest.finish(),
            Bytes::Pieces(_) => Computed::default(),
        }
    }
}

/// Whether `--continue` builds on a one-stream `.part` of `len` bytes kept with `pin`: its
/// version must be known (or a digest the list gives will check the whole file), and the file it
/// was of no shorter than it. Why not, when not.
pub fn builds_on(pin: Option<&Pin>, len: u64, entry: &Entry) -> Result<(), &'static str> {
    let vouched = pin.is_some_and(Pin::vouches) || !entry.options.digests.is_empty();
    if !vouched {
        return Err(
            "which version of the file its bytes are of is not known (no ETag or date \
             was kept with it, and the list gives no digest)",
        );
    }
    if pin.and_then(|p| p.len).is_some_and(|total| len > total) {
        return Err("it is longer than the file it was of");
    }
    Ok(())
}

impl Bytes {
    fn empty(algos: &[Algo]) -> Bytes {
        Bytes::Prefix {
            len: 0,
            digest: Digest::new(algos),
            hashed: true,
        }
    }
}
