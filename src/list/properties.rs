//! Property tests: whatever a list holds, reading it never panics, every target stays inside the
//! output directory as one safe relative path, the targets of one run are distinct, and the
//! count made up front for progress is the number of items the run reports.

use std::collections::HashSet;
use std::io::Cursor;
use std::path::Component;

use proptest::prelude::*;

use super::lines::count_listings;
use super::{Entries, Item};
use super::{Shard, ShardBy};
use crate::naming::{BESIDE, MAX_NAME, PART_SUFFIX};

/// Reads `list` and checks every entry's target.
fn check(list: Vec<u8>) -> Result<(), TestCaseError> {
    let mut seen = HashSet::new();
    for item in Entries::new(Cursor::new(list), "l".into()) {
        let Item::Entry(entry) = item else { continue };
        let target = &entry.target;
        prop_assert!(target.is_relative(), "{target:?}");
        prop_assert!(target.components().count() > 0, "{target:?}");
        for component in target.components() {
            let Component::Normal(name) = component else {
                return Err(TestCaseError::fail(format!("{target:?} has {component:?}")));
            };
            let name = name.to_string_lossy();
            prop_assert!(name.len() + PART_SUFFIX.len() <= 255, "{target:?}");
            prop_assert!(name.len() <= MAX_NAME, "{target:?}");
            prop_assert!(
                !name.chars().any(|c| c.is_control() || c == '\\'),
                "{target:?}"
            );
        }
        prop_assert!(seen.insert(target.clone()), "{target:?} given twice");
    }
    // No target is a name another one keeps beside it while it downloads.
    for target in &seen {
        for suffix in BESIDE {
            let mut beside = target.clone().into_os_string();
            beside.push(suffix);
            prop_assert!(
                !seen.contains(&std::path::PathBuf::from(&beside)),
                "{beside:?}"
            );
        }
    }
    Ok(())
}

/// Lines that look like list entries: a URL with a hostile path, maybe an `out=`.
fn url_line() -> impl Strategy<Value = String> {
    let path = prop_oneof![
        "[ -~]{0,40}",
        Just("..".to_string()),
        Just("%2e%2e/%2e%2e/x".to_string()),
        Just("a/%2F..%2Fb".to_string()),
        Just("x%00y%0a%5c".to_string()),
        "[a-z.]{0,300}",
    ];
    let out = prop_oneof![
        Just(String::new()),
        "[ -~&&[^ ]]{0,30}".prop_map(|o| format!(" out={o}")),
        Just(" out=../x".to_string()),
        Just(" out=/etc/x".to_string()),
        Just(" out=a/./b".to_string()),
        Just(" out=a".to_string()),
        Just(" out=a.part".to_string()),
        Just(" out=a.part.ranges".to_string()),
        Just(" out=a.part.ranges.tmp".to_string()),
        "[a-z]{240,260}".prop_map(|o| format!(" out={o}")),
    ];
    ("https?://[a-z0-9.]{1,12}(:[0-9]{1,5})?/", path, out)
        .prop_map(|(base, path, out)| format!("{base}{path}{out}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_as_a_list(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 0..12)) {
        check(lines.join(&b'\n'))?;
    }

    #[test]
    fn the_count_up_front_is_what_is_read(
        lines in prop::collection::vec(prop_oneof![
            url_line(),
            Just(String::new()),
            Just("  # comment".to_string()),
            Just("\u{feff}https://e.com/bom".to_string()),
            Just(" \t\r".to_string()),
            Just("  out=x.bin".to_string()),
            Just("\tchecksum=md5=00".to_string()),
            Just("  gid=1".to_string()),
            "[ -~]{0,20}",
        ].prop_map(String::into_bytes).boxed().prop_union(
            // A line that is not text: reported on its own, an option line after it too.
            Just(b"https://e.com/\xff".to_vec()).boxed()
        ), 0..30),
        shard in prop::option::of((0usize..3, 1usize..4)),
    ) {
        let list = lines.join(&b'\n');
        let shard = shard.filter(|(k, n)| k < n).map(|(k, n)| Shard {
            k,
            n,
            by: ShardBy::Index,
        });
        let mut entries = Entries::new(Cursor::new(list.clone()), "l".into());
        entries.shard = shard;
        let read = entries.count();
        let listings = count_listings(Cursor::new(list)).unwrap();
        let counted = (0..listings).filter(|&i| shard.is_none_or(|s| s.includes(i, b""))).count();
        prop_assert_eq!(counted, read);
    }

    #[test]
    fn hostile_urls_and_out_values(lines in prop::collection::vec(url_line(), 1..24)) {
        // Repeat the list once, so collisions are sure to be met.
        let text = lines.join("\n");
        check(format!("{text}\n{text}\n").into_bytes())?;
    }
}

/// Reads every item of `text` as a list.
fn read_all(text: &str) {
    let _ = Entries::new(Cursor::new(text.as_bytes().to_vec()), "l".into()).count();
}

proptest! {
    #[test]
    fn any_text_or_bytes_are_read_as_a_list_without_a_panic(
        text in crate::hostile::text(),
        bytes in crate::hostile::bytes(),
    ) {
        read_all(&text);
        read_all(&bytes);
        let _ = count_listings(Cursor::new(text.as_bytes()));
    }
}

#[test]
fn a_megabyte_of_a_list_is_read_in_linear_time() {
    let worst = [
        "https://h/a out=x\n",
        "https://h/a\n  out=x\n  header=X: v\n",
        "https://h/a\thttps://h/b\tmirror=https://h/c\n",
        "https://h/a.bin\n",
        "https://h/x\n  checksum=sha-256=00\n",
    ];
    crate::hostile::a_megabyte_within_a_second(&worst, read_all);
}
