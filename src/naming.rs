//! Target names: from a URL or an `out=` option to a safe path relative to the output directory,
//! and the `-2`, `-3` suffixes that keep two entries of one run from sharing a target.
//!
//! Everything here is pure; the disk is never consulted, so `--dry-run` prints exactly the names a
//! real run would use.

use std::collections::HashMap;
use std::hash::Hasher;
use std::path::{Component, Path, PathBuf};

use percent_encoding::percent_decode_str;
use reqwest::Url;

/// Longest file name we produce, in bytes: 255 (the usual file-system limit) less room for the
/// `.part` suffix of the temporary file beside it.
pub const MAX_NAME: usize = 250;

/// The suffix of the temporary file a download is streamed into.
pub const PART_SUFFIX: &str = ".part";
/// What a download keeps beside its target: the `.part`, a split download's record of its
/// ranges (`NAME.part.ranges`) and the record's temporary name. Each begins with the one
/// before it.
pub const BESIDE: [&str; 3] = [PART_SUFFIX, RANGES_SUFFIX, RANGES_TEMP_SUFFIX];
/// A split download's record of its ranges, beside its `.part`.
pub const RANGES_SUFFIX: &str = ".part.ranges";
/// Where the record is written before it is renamed over the last one.
pub const RANGES_TEMP_SUFFIX: &str = ".part.ranges.tmp";

/// Name used when the URL has no usable path segment.
const DEFAULT_NAME: &str = "index.html";

/// The name a URL gives: its last non-empty path segment, percent-decoded and made safe, or
/// `index.html`. The query string and fragment never take part.
pub fn from_url(url: &Url) -> PathBuf {
    let segment = url
        .path_segments()
        .and_then(|mut segments| segments.rfind(|s| !s.is_empty()));
    let name = match segment {
        Some(s) => sanitize_component(&percent_decode_str(s).decode_utf8_lossy()),
        None => DEFAULT_NAME.to_string(),
    };
    PathBuf::from(name)
}

/// Makes one untrusted string into one safe path component: separators, backslashes and control
/// characters become `_`, names made only of dots are defused, and the result is at most
/// [`MAX_NAME`] bytes, keeping a short extension.
pub fn sanitize_component(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if name.is_empty() {
        return DEFAULT_NAME.to_string();
    }
    if name.chars().all(|c| c == '.') {
        name = name.replace('.', "_");
    }
    truncate_name(&name, MAX_NAME)
}

/// Checks an `out=` value: a relative path that stays inside the output directory. Unlike a
/// URL-derived name, which is rewritten, a bad `out=` is refused: the user wrote it, and quietly
/// saving somewhere else would surprise them.
pub fn from_out(out: &str) -> Result<PathBuf, String> {
    if out.is_empty() {
        return Err("out= is empty".into());
    }
    if out.contains('\\') {
        return Err(format!("out={out}: backslashes are not allowed"));
    }
    if out.chars().any(char::is_control) {
        return Err("out= contains a control character".into());
    }
    if out.ends_with('/') {
        return Err(format!("out={out}: must name a file, not a directory"));
    }
    let mut path = PathBuf::new();
    for component in Path::new(out).components() {
        match component {
            Component::Normal(part) => {
                if part.len() > MAX_NAME {
                    return Err(format!(
                        "out=: a path component is {} bytes long (at most {MAX_NAME})",
                        part.len()
                    ));
                }
                path.push(part);
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "out={out}: absolute paths are not allowed (it is relative to the output directory)"
                ));
            }
            Component::ParentDir => {
                return Err(format!(
                    "out={out}: '..' is not allowed (it would leave the output directory)"
                ));
            }
        }
    }
    if path.as_os_str().is_empty() {
        return Err(format!("out={out}: must name a file"));
    }
    Ok(path)
}

/// Hands out target paths in list order, suffixing `-2`, `-3`, … to names already taken in this
/// run. A name's `.part` file counts as taken too, so no entry streams into another's target.
///
/// A name handed out is kept as a 64-bit hash of its bytes, not as the name: 16 bytes or so an
/// entry in all, where the names themselves cost over 100 (a list of a million entries held
/// 111 MiB). Two different names whose hashes meet would be taken for one, and the later would
/// get a suffix it does not need: for a list of a million names that happens once in about
/// forty million lists (n²/2⁶⁵), and in every shard and every re-run alike, since the hash is
/// SipHash-2-4 with fixed keys, the same on every machine and in every version.
#[derive(Debug, Default)]
pub struct Namer {
    used: Keys,
    /// The next suffix to try for a wanted name that clashed before, so that a list of many
    /// same-named URLs (`get?id=1`, `get?id=2`, …) is named in linear, not quadratic, time.
    next_suffix: HashMap<u64, usize, Prehashed>,
}

/// The hash of a name: SipHash-2-4 with fixed keys over its bytes.
fn key(bytes: &[u8]) -> u64 {
    // `SipHasher` is deprecated in favour of `DefaultHasher`, whose algorithm may change between
    // Rust versions; a name's key must not, so the names of a list stay the same across builds.
    #[allow(deprecated)]
    let mut hasher =
        std::hash::SipHasher::new_with_keys(0x6665_7463_6870_6f6f, 0x6c2d_6e61_6d65_7321);
    hasher.write(bytes);
    hasher.finish()
}

/// A set of name hashes: open addressing over 8-byte slots, at most 7/8 full, so a million
/// names take 16 MiB (8 MiB more while the table doubles), where a `HashSet<u64>` takes 18 and
/// 27 at that moment.
#[derive(Debug, Default)]
struct Keys {
    /// A key in its slot; 0 marks an empty one (a key of 0 is kept as 1: one more hash value
    /// shared, out of 2⁶⁴).
    slots: Vec<u64>,
    len: usize,
}

impl Keys {
    fn slot(slots: &[u64], key: u64) -> usize {
        let mask = slots.len() - 1;
        let mut i = (key as usize) & mask;
        while slots[i] != 0 && slots[i] != key {
            i = (i + 1) & mask;
        }
        i
    }

    fn contains(&self, key: &u64) -> bool {
        let key = (*key).max(1);
        !self.slots.is_empty() && self.slots[Keys::slot(&self.slots, key)] == key
    }

    fn insert(&mut self, key: u64) {
        let key = key.max(1);
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        let i = Keys::slot(&self.slots, key);
        if self.slots[i] == 0 {
            self.slots[i] = key;
            self.len += 1;
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(1024);
        let mut slots = vec![0u64; size];
        for &key in self.slots.iter().filter(|&&k| k != 0) {
            let i = Keys::slot(&slots, key);
            slots[i] = key;
        }
        self.slots = slots;
    }
}

/// The map's hasher for keys that are hashes already: the key itself.
type Prehashed = std::hash::BuildHasherDefault<KeyIsHash>;

#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; anything else is folded in, never lost.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Namer {
    pub fn claim(&mut self, wanted: PathBuf) -> PathBuf {
        let wanted_key = key(wanted.as_os_str().as_encoded_bytes());
        let mut candidate = wanted.clone();
        let mut n = self.next_suffix.get(&wanted_key).copied().unwrap_or(2);
        while self.clashes(&candidate) {
            let file = wanted
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            candidate = wanted.with_file_name(with_suffix(&file, n));
            n += 1;
        }
        if candidate != wanted {
            self.next_suffix.insert(wanted_key, n);
        }
        self.used
            .insert(key(candidate.as_os_str().as_encoded_bytes()));
        candidate
    }

    /// Whether `path` is taken, or is a name a taken target keeps beside it while it downloads,
    /// or keeps such a name beside itself that is taken.
    fn clashes(&self, path: &Path) -> bool {
        let s = path.as_os_str().as_encoded_bytes();
        if self.used.contains(&key(s)) {
            return true;
        }
        let stem_used = |suffix: &str| {
            s.strip_suffix(suffix.as_bytes())
                .is_some_and(|stem| self.used.contains(&key(stem)))
        };
        // `NAME.part`, `NAME.part.ranges`, `NAME.part.ranges.tmp`, grown in one buffer.
        let mut beside = s.to_vec();
        BESIDE.iter().any(|suffix| {
            beside.extend_from_slice(&suffix.as_bytes()[beside.len() - s.len()..]);
            self.used.contains(&key(&beside)) || stem_used(suffix)
        })
    }
}

/// `report.pdf` → `report-2.pdf`; `data.tar.gz` → `data-2.tar.gz`; `README` → `README-2`.
fn with_suffix(file: &str, n: usize) -> String {
    let (stem, ext) = split_extension(file);
    let suffix = format!("-{n}");
    let room = MAX_NAME.saturating_sub(suffix.len() + ext.len());
    format!("{}{suffix}{ext}", truncate_name(stem, room))
}

/// Splits off the extension (with its dot), treating `.tar.*` as one extension. A leading dot
/// (`.bashrc`) starts a name, not an extension; extensions longer than 16 bytes are not kept.
fn split_extension(file: &str) -> (&str, &str) {
    let Some(dot) = file.rfind('.').filter(|&i| i > 0 && file.len() - i <= 16) else {
        return (file, "");
    };
    let (stem, ext) = file.split_at(dot);
    if let Some(tar) = stem.len().checked_sub(4)
        && tar > 0
        && stem.is_char_boundary(tar)
        && stem[tar..].eq_ignore_ascii_case(".tar")
    {
        return file.split_at(tar);
    }
    (stem, ext)
}

/// Cuts `name` to at most `max` bytes on a character boundary, keeping its extension when the
/// extension is short enough.
fn truncate_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = split_extension(name);
    let (stem, ext) = if ext.len() < max {
        (stem, ext)
    } else {
        (name, "")
    };
    let mut end = max - ext.len();
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &stem[..end])
}

#[cfg(test)]
mod tests;
