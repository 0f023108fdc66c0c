//! The list's `size=` and `sha256=` against what was received or is already on disk, and the
//! SHA-256 itself, computed only when something shows or checks it: about 0.6 CPU-seconds per
//! GiB that a text-mode run without `sha256=` has no reader for.

use std::fs::File;
use std::io::{self, Read, Seek as _};

use anyhow::bail;
use sha2::{Digest as _, Sha256};

use crate::entry::{Entry, to_hex};
use crate::interrupt;

/// Bytes read per call when hashing a file already on disk.
const READ_BUF: usize = 256 * 1024;

/// The SHA-256 of a download, or nothing when nobody asked for it.
pub struct Digest(Option<Sha256>);

impl Digest {
    /// A digest for `entry`: on when the report shows it (`report`) or the list checks it.
    pub fn for_entry(entry: &Entry, report: bool) -> Digest {
        Digest::new(report || entry.options.sha256.is_some())
    }

    /// A digest of nothing yet; `on` says whether it is computed at all.
    pub fn new(on: bool) -> Digest {
        Digest(on.then(Sha256::new))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        if let Some(hasher) = &mut self.0 {
            hasher.update(bytes);
        }
    }

    pub fn finish(self) -> Option<[u8; 32]> {
        self.0.map(|hasher| {
            let mut out = [0; 32];
            out.copy_from_slice(&hasher.finalize());
            out
        })
    }

    /// The SHA-256 of all of `file` (a file whole on disk) for `entry`, when the report shows
    /// it (`report`) or the list checks it; `None` when nothing asks for it.
    pub fn of_file(entry: &Entry, report: bool, file: &mut File) -> io::Result<Option<[u8; 32]>> {
        let mut digest = Digest::for_entry(entry, report);
        if digest.is_on() {
            file.rewind()?;
            digest.read_file(file)?;
        }
        Ok(digest.finish())
    }

    /// Feeds the rest of `file` in; returns how many bytes it read. Stops on Ctrl-C.
    pub fn read_file(&mut self, file: &mut File) -> io::Result<u64> {
        let mut buf = vec![0u8; READ_BUF];
        let mut total = 0;
        loop {
            if interrupt::requested() {
                return Err(io::Error::other("interrupted"));
            }
            match file.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    self.update(&buf[..n]);
                    total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The list's `size=` and `sha256=` against a finished download of `len` bytes.
pub fn check(entry: &Entry, len: u64, digest: Option<&[u8; 32]>) -> anyhow::Result<()> {
    if let Some(size) = entry.options.size
        && len != size
    {
        bail!("received {len} bytes but the list says size={size}");
    }
    if let (Some(want), Some(got)) = (entry.options.sha256, digest)
        && *got != want
    {
        bail!(
            "sha256 mismatch: expected {}, got {}",
            to_hex(&want),
            to_hex(got)
        );
    }
    Ok(())
}

/// An existing file of `len` bytes against the list's `size=`/`sha256=`; `Some(reason)` on a
/// mismatch. `open` opens it for reading when the digest must be checked.
pub fn existing_mismatch(
    len: u64,
    entry: &Entry,
    open: impl FnOnce() -> io::Result<File>,
) -> io::Result<Option<String>> {
    if let Some(size) = entry.options.size
        && size != len
    {
        return Ok(Some(format!("has {len} bytes, not size={size}")));
    }
    if entry.options.sha256.is_some()
        && Digest::of_file(entry, true, &mut open()?)? != entry.options.sha256
    {
        return Ok(Some("its sha256 does not match".into()));
    }
    Ok(None)
}
