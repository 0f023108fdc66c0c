//! For the tests of every parser of outside input (list lines and their options, aria2 option
//! lines, Metalink, checksums files, netrc, a split's record, Content-Range, Retry-After, header
//! arguments): text made of the tokens those formats are built from, in any order, to find a
//! panic; and a megabyte of each token repeated, to find time that grows faster than the input.

use std::time::Duration;

use proptest::prelude::*;

/// The pieces of every format read here, and the bytes that end or nest them.
const TOKENS: &[&str] = &[
    " ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "=",
    ":",
    "/",
    "(",
    ")",
    "\"",
    "\\",
    "<",
    ">",
    "&",
    "-",
    "*",
    "#",
    "%",
    "%2e",
    ".",
    "..",
    "\u{feff}",
    "\u{202e}",
    "\u{1b}",
    "\0",
    "a",
    "0",
    "9",
    "é",
    "18446744073709551616",
    "header=",
    "out=",
    "  out=x\n",
    "  header=X: v\n",
    "mirror=",
    "\t",
    "http://a/",
    "https://u:p@h:1/p?q=1#f",
    "machine ",
    "login ",
    "password ",
    "default ",
    "macdef m\n",
    "<file name=\"x\">",
    "</file>",
    "<url>",
    "</url>",
    "<size>",
    "<hash type=\"sha-256\">",
    "<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">",
    "</metalink>",
    "<!DOCTYPE x>",
    "<?xml version=\"1.0\"?>",
    "&amp;",
    "&#x0;",
    "bytes ",
    "bytes */",
    "SHA256 (",
    ") = ",
    "d41d8cd98f00b204e9800998ecf8427e",
    "- ",
    "-----BEGIN PGP SIGNED MESSAGE-----\n",
    "-----BEGIN PGP SIGNATURE-----\n",
    "-----END PGP SIGNATURE-----\n",
    "fetchpool-ranges 3\n",
    "range 0 1 1\n",
    "length 1\n",
    "etag \"e\"\n",
    "Sun, 06 Nov 1994 08:49:37 GMT",
];

/// Text built of [`TOKENS`] and arbitrary characters, up to a few hundred pieces.
pub fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(TOKENS).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        1 => "[ -~]{1,12}",
    ];
    proptest::collection::vec(piece, 0..300).prop_map(|pieces| pieces.concat())
}

/// Arbitrary bytes, read as text the way the readers read what is not UTF-8.
pub fn bytes() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), 0..2048)
        .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Runs `parse` on a megabyte of each token repeated, and of `extra` (a format's own worst
/// cases), and fails if any one takes a second of this thread's CPU time (other tests running
/// beside it do not count) in an optimized build, or four in a debug build, which runs this
/// code several times slower: linear time does it well within either (a list of 55,000
/// entries of one name, the slowest, takes a tenth of a second optimized); time quadratic in
/// the input takes minutes.
pub fn a_megabyte_within_a_second(extra: &[&str], parse: impl Fn(&str)) {
    let limit = Duration::from_secs(if cfg!(debug_assertions) { 4 } else { 1 });
    const MB: usize = 1 << 20;
    for token in TOKENS.iter().chain(extra) {
        let input = token.repeat(MB / token.len() + 1);
        let started = cpu_time();
        parse(&input);
        let took = cpu_time() - started;
        assert!(
            took < limit,
            "a megabyte of {:?} took {took:?}",
            token.escape_debug().to_string()
        );
    }
}

/// The CPU time this thread has used.
fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}
