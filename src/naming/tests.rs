//! Tests of `naming`.

use super::*;

/// The namer as it was, keeping every name whole: what the hashed [`Namer`] must agree with.
#[derive(Debug, Default)]
pub struct Reference {
    used: std::collections::HashSet<PathBuf>,
    /// The next suffix to try for a wanted name that clashed before, so that a list of many
    /// same-named URLs (`get?id=1`, `get?id=2`, …) is named in linear, not quadratic, time.
    next_suffix: HashMap<PathBuf, usize>,
}

impl Reference {
    pub fn claim(&mut self, wanted: PathBuf) -> PathBuf {
        let mut candidate = wanted.clone();
        let mut n = self.next_suffix.get(&wanted).copied().unwrap_or(2);
        while self.clashes(&candidate) {
            let file = wanted
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            candidate = wanted.with_file_name(with_suffix(&file, n));
            n += 1;
        }
        if candidate != wanted {
            self.next_suffix.insert(wanted, n);
        }
        self.used.insert(candidate.clone());
        candidate
    }

    /// Whether `path` is taken, or is a name a taken target keeps beside it while it downloads,
    /// or keeps such a name beside itself that is taken.
    fn clashes(&self, path: &Path) -> bool {
        if self.used.contains(path) {
            return true;
        }
        let s = path.as_os_str();
        let stem_used = |suffix: &str| {
            s.as_encoded_bytes()
                .strip_suffix(suffix.as_bytes())
                .is_some_and(|stem| {
                    self.used
                        .contains(Path::new(&*String::from_utf8_lossy(stem)))
                })
        };
        // `NAME.part`, `NAME.part.ranges`, `NAME.part.ranges.tmp`, grown in one buffer.
        let mut beside = s.to_owned();
        BESIDE.iter().any(|suffix| {
            beside.push(&suffix[beside.len() - s.len()..]);
            self.used.contains(Path::new(&beside)) || stem_used(suffix)
        })
    }
}

fn url_name(u: &str) -> String {
    from_url(&Url::parse(u).unwrap())
        .to_string_lossy()
        .into_owned()
}

#[test]
fn names_from_urls() {
    assert_eq!(url_name("https://e.com/data/a.tar.gz"), "a.tar.gz");
    assert_eq!(url_name("https://e.com/get?id=7&name=x.bin"), "get");
    assert_eq!(url_name("https://e.com/dir/"), "dir");
    assert_eq!(url_name("https://e.com/"), "index.html");
    assert_eq!(url_name("https://e.com"), "index.html");
    assert_eq!(url_name("https://e.com/a%20b.txt#frag"), "a b.txt");
    assert_eq!(url_name("https://e.com/caf%C3%A9"), "café");
}

#[test]
fn hostile_url_names_stay_one_component() {
    assert_eq!(
        url_name("https://e.com/x/..%2F..%2Fetc%2Fpasswd"),
        ".._.._etc_passwd"
    );
    // The URL parser already resolves %2E%2E as a dot segment; the sanitizer is the backstop.
    assert_eq!(url_name("https://e.com/a/%2E%2E"), "index.html");
    assert_eq!(url_name("https://e.com/a/%2E%2E/b"), "b");
    assert_eq!(sanitize_component(".."), "__");
    assert_eq!(sanitize_component("."), "_");
    assert_eq!(sanitize_component(""), "index.html");
    assert_eq!(url_name("https://e.com/a%5Cb"), "a_b");
    assert_eq!(url_name("https://e.com/a%00b%0A%1b"), "a_b__");
    assert_eq!(url_name("https://e.com/%2Fetc%2Fpasswd"), "_etc_passwd");
    assert_eq!(url_name("https://e.com/%FF%FE"), "\u{FFFD}\u{FFFD}");
    let long = format!("https://e.com/{}.bin", "a".repeat(300));
    let name = url_name(&long);
    assert_eq!(name.len(), MAX_NAME);
    assert!(name.ends_with("aaa.bin"));
    let multibyte = format!("https://e.com/{}", "é".repeat(200));
    let name = url_name(&multibyte);
    assert!(name.len() <= MAX_NAME && name.chars().all(|c| c == 'é'));
}

#[test]
fn out_values() {
    assert_eq!(from_out("b.bin").unwrap(), PathBuf::from("b.bin"));
    assert_eq!(
        from_out("./sub/dir/b.bin").unwrap(),
        PathBuf::from("sub/dir/b.bin")
    );
    assert_eq!(from_out("sub//b.bin").unwrap(), PathBuf::from("sub/b.bin"));
    assert!(from_out("../x").unwrap_err().contains("'..'"));
    assert!(from_out("a/../../x").unwrap_err().contains("'..'"));
    assert!(from_out("/etc/passwd").unwrap_err().contains("absolute"));
    assert!(from_out("a\\b").unwrap_err().contains("backslash"));
    assert!(from_out("a\u{1}b").unwrap_err().contains("control"));
    assert!(from_out("dir/").unwrap_err().contains("must name a file"));
    assert!(from_out(".").is_err());
    assert!(from_out("").is_err());
    assert!(
        from_out(&"x".repeat(251))
            .unwrap_err()
            .contains("251 bytes")
    );
}

#[test]
fn suffixes() {
    assert_eq!(with_suffix("report.pdf", 2), "report-2.pdf");
    assert_eq!(with_suffix("data.tar.gz", 3), "data-3.tar.gz");
    assert_eq!(with_suffix("README", 2), "README-2");
    assert_eq!(with_suffix(".bashrc", 2), ".bashrc-2");
    assert_eq!(with_suffix(".tar.gz", 2), ".tar-2.gz");
    assert_eq!(with_suffix(&"a".repeat(MAX_NAME), 2).len(), MAX_NAME);
}

#[test]
fn namer_suffixes_in_list_order() {
    let mut namer = Namer::default();
    let claim = |n: &mut Namer, p: &str| n.claim(PathBuf::from(p)).display().to_string();
    assert_eq!(claim(&mut namer, "report.pdf"), "report.pdf");
    assert_eq!(claim(&mut namer, "report.pdf"), "report-2.pdf");
    assert_eq!(claim(&mut namer, "report-2.pdf"), "report-2-2.pdf");
    assert_eq!(claim(&mut namer, "report.pdf"), "report-3.pdf");
    assert_eq!(claim(&mut namer, "sub/report.pdf"), "sub/report.pdf");
    assert_eq!(claim(&mut namer, "sub/report.pdf"), "sub/report-2.pdf");
    // A target and another entry's temporary file never coincide.
    assert_eq!(claim(&mut namer, "x"), "x");
    assert_eq!(claim(&mut namer, "x.part"), "x-2.part");
    assert_eq!(claim(&mut namer, "x.part.ranges"), "x.part-2.ranges");
    assert_eq!(claim(&mut namer, "z.part.ranges"), "z.part.ranges");
    assert_eq!(claim(&mut namer, "z"), "z-2");
    assert_eq!(claim(&mut namer, "y.part"), "y.part");
    assert_eq!(claim(&mut namer, "y"), "y-2");
    // The record's temporary name is kept too, either way round.
    assert_eq!(
        claim(&mut namer, "x.part.ranges.tmp"),
        "x.part.ranges-2.tmp"
    );
    assert_eq!(claim(&mut namer, "w.part.ranges.tmp"), "w.part.ranges.tmp");
    assert_eq!(claim(&mut namer, "w"), "w-2");
}

#[test]
fn many_same_names_are_named_quickly() {
    // Each claim resumes where the last suffix search stopped (quadratic naming took
    // minutes for this many).
    let mut namer = Namer::default();
    for _ in 0..20_000 {
        namer.claim(PathBuf::from("get"));
    }
    assert_eq!(
        namer.claim(PathBuf::from("get")),
        PathBuf::from("get-20001")
    );
    assert_eq!(namer.next_suffix[&key(b"get")], 20_002);
}

/// A wanted name from a small pool, so that lists are full of collisions: the same name,
/// case variants, names that are another's `-2` or `.part`, the same `out=` in two
/// directories, and names that differ only past 255 bytes (cut to one name).
fn wanted() -> impl proptest::strategy::Strategy<Value = PathBuf> {
    use proptest::prelude::*;
    let long = "x".repeat(300);
    prop_oneof![
        prop::sample::select(vec![
            "a",
            "A",
            "a.bin",
            "A.BIN",
            "a-2.bin",
            "a-3.bin",
            "a.bin.part",
            "a.part",
            "a.part.ranges",
            "a.part.ranges.tmp",
            "a-2.part",
            "dir/a.bin",
            "dir/a-2.bin",
            "index.html",
            "index-2.html",
            "data.tar.gz",
            "data-2.tar.gz",
            "data.tar-2.gz",
        ])
        .prop_map(PathBuf::from),
        (0..4u8).prop_map(move |i| {
            from_url(&Url::parse(&format!("http://h/{long}{i}.bin")).unwrap())
        }),
        (0..4u8).prop_map(|i| from_url(&Url::parse(&format!("http://h/get?id={i}")).unwrap())),
    ]
}

proptest::proptest! {
    #[test]
    fn hashed_names_are_the_names_every_name_kept_whole_gives(
        list in proptest::collection::vec(wanted(), 0..300)
    ) {
        let (mut namer, mut reference) = (Namer::default(), Reference::default());
        for wanted in list {
            let named = namer.claim(wanted.clone());
            proptest::prop_assert_eq!(named, reference.claim(wanted));
        }
    }
}

#[test]
fn two_hundred_thousand_names_are_the_names_of_the_reference() {
    let (mut namer, mut reference) = (Namer::default(), Reference::default());
    for i in 0..200_000u32 {
        // Every tenth a duplicate of an earlier name, and many `-2`-looking names.
        let wanted = match i % 10 {
            0 => PathBuf::from(format!("f{}.bin", i / 20)),
            1 => PathBuf::from(format!("f{}-2.bin", i / 30)),
            _ => PathBuf::from(format!("d{}/f{i}.bin", i % 7)),
        };
        assert_eq!(
            namer.claim(wanted.clone()),
            reference.claim(wanted),
            "entry {i}"
        );
    }
}
