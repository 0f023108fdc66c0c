//! The list's `size=` and digests (`md5=`, `sha1=`, `sha256=`, `sha512=`, `blake2b=`) against
//! what was received or is already on disk, and the digests themselves, each computed only when
//! something shows or checks it: SHA-256 costs about 0.6 CPU-seconds per GiB that a text-mode
//! run without digests in its list has no reader for.

use std::fs::File;
use std::io::{self, Read, Seek as _};

use anyhow::bail;
use sha2::digest::DynDigest;

use crate::entry::{Algo, Entry, to_hex};
use crate::interrupt;

/// Bytes read per call when hashing a file already on disk.
const READ_BUF: usize = 256 * 1024;

/// Which digests a download of `entry` computes: the ones its list line (or a checksums file)
/// asks for, and SHA-256 also when the report shows it (`report`). Empty, as it almost always is
/// in text mode, nothing is computed.
pub fn algos(entry: &Entry, report: bool) -> Vec<Algo> {
    let mut algos: Vec<Algo> = entry.options.digests.iter().map(|(a, _)| a).collect();
    if report && !algos.contains(&Algo::Sha256) {
        algos.push(Algo::Sha256);
    }
    algos
}

/// The digests of one download, as its bytes go by.
pub struct Digest(Vec<(Algo, Box<dyn DynDigest + Send>)>);

/// What a download's digests came to, by algorithm.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Computed(Vec<(Algo, Box<[u8]>)>);

impl Computed {
    pub fn get(&self, algo: Algo) -> Option<&[u8]> {
        self.0.iter().find(|(a, _)| *a == algo).map(|(_, d)| &**d)
    }

    /// The SHA-256 as the report shows it.
    pub fn sha256_hex(&self) -> Option<String> {
        self.get(Algo::Sha256).map(to_hex)
    }
}

fn hasher(algo: Algo) -> Box<dyn DynDigest + Send> {
    match algo {
        Algo::Md5 => Box::new(md5::Md5::default()),
        Algo::Sha1 => Box::new(sha1::Sha1::default()),
        Algo::Sha256 => Box::new(sha2::Sha256::default()),
        Algo::Sha512 => Box::new(sha2::Sha512::default()),
        Algo::Blake2b => Box::new(blake2::Blake2b512::default()),
    }
}

impl Digest {
    /// The digests of `algos`, of nothing yet.
    pub fn new(algos: &[Algo]) -> Digest {
        Digest(algos.iter().map(|&a| (a, hasher(a))).collect())
    }

    /// The digests a download of `entry` computes (see [`algos`]).
    pub fn for_entry(entry: &Entry, report: bool) -> Digest {
        Digest::new(&algos(entry, report))
    }

    pub fn is_on(&self) -> bool {
        !self.0.is_empty()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        for (_, hasher) in &mut self.0 {
            hasher.update(bytes);
        }
    }

    pub fn finish(self) -> Computed {
        Computed(self.0.into_iter().map(|(a, h)| (a, h.finalize())).collect())
    }

    /// The digests of all of `file` (a file whole on disk) for `entry` (see [`algos`]).
    pub fn of_file(entry: &Entry, report: bool, file: &mut File) -> io::Result<Computed> {
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

/// The list's `size=` and digests against a finished download of `len` bytes.
pub fn check(entry: &Entry, len: u64, computed: &Computed) -> anyhow::Result<()> {
    if let Some(size) = entry.options.size
        && len != size
    {
        bail!("received {len} bytes but the list says size={size}");
    }
    for (algo, want) in entry.options.digests.iter() {
        match computed.get(algo) {
            Some(got) if got == want => {}
            Some(got) => bail!(
                "{} mismatch: expected {}, got {}",
                algo.key(),
                to_hex(want),
                to_hex(got)
            ),
            None => bail!("{} was not computed (a bug in fetchpool)", algo.key()),
        }
    }
    Ok(())
}

/// An existing file of `len` bytes against the list's `size=` and digests; `Some(reason)` on a
/// mismatch. `open` opens it for reading when a digest must be checked.
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
    if entry.options.digests.is_empty() {
        return Ok(None);
    }
    let computed = Digest::of_file(entry, false, &mut open()?)?;
    Ok(entry
        .options
        .digests
        .iter()
        .find(|&(algo, want)| computed.get(algo) != Some(want))
        .map(|(algo, _)| format!("its {} does not match", algo.key())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::parse_hex;

    /// The digests of "abc", as the standards' test vectors give them.
    const ABC: [(Algo, &str); 5] = [
        (Algo::Md5, "900150983cd24fb0d6963f7d28e17f72"),
        (Algo::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            Algo::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            Algo::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        (
            Algo::Blake2b,
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
        ),
    ];

    #[test]
    fn every_algorithm_computes_its_test_vector() {
        let mut digest = Digest::new(&Algo::ALL);
        digest.update(b"a");
        digest.update(b"bc");
        let computed = digest.finish();
        for (algo, hex) in ABC {
            assert_eq!(
                computed.get(algo).map(to_hex).as_deref(),
                Some(hex),
                "{algo:?}"
            );
        }
        assert!(!Digest::new(&[]).is_on(), "nothing asked, nothing computed");
    }

    #[test]
    fn every_digest_given_is_checked() {
        let mut entry = crate::entry::Entry {
            index: 0,
            seq: 0,
            list: crate::entry::ListName::file("urls.txt"),
            line: 1,
            url: reqwest::Url::parse("https://e.com/abc").unwrap(),
            target: "abc".into(),
            options: Default::default(),
        };
        for (algo, hex) in ABC {
            entry
                .options
                .digests
                .add(algo, parse_hex(algo, hex).unwrap())
                .unwrap();
        }
        let computed = |body: &[u8]| {
            let mut d = Digest::for_entry(&entry, false);
            d.update(body);
            d.finish()
        };
        assert!(check(&entry, 3, &computed(b"abc")).is_ok());
        let err = check(&entry, 3, &computed(b"abd")).unwrap_err();
        assert!(
            err.to_string().starts_with("md5 mismatch: expected 9001"),
            "{err}"
        );
        assert_eq!(
            algos(&entry, true).len(),
            5,
            "SHA-256 is not computed twice"
        );
    }
}
