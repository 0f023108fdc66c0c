//! Reading lists: comments, line endings, options, names, shards, bad lines.

use super::*;
use std::io::Cursor;

fn items(text: &str) -> Vec<Item> {
    Entries::new(Cursor::new(text.as_bytes().to_vec()), "urls.txt".into()).collect()
}

const HASH: &str = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";

#[test]
fn comments_blank_lines_and_crlf() {
    let list =
        "# header\r\n\r\nhttps://e.com/a.bin\r\n   \n  # indented comment\nhttps://e.com/b.bin";
    let got = items(list);
    assert_eq!(got.len(), 2);
    let Item::Entry(a) = &got[0] else { panic!() };
    let Item::Entry(b) = &got[1] else { panic!() };
    assert_eq!((a.index, a.line, a.target.to_str()), (0, 3, Some("a.bin")));
    assert_eq!((b.index, b.line, b.target.to_str()), (1, 6, Some("b.bin")));
}

#[test]
fn bad_lines_name_list_and_line() {
    let list = format!(
        "not a url\nftp://e.com/x\nhttps://e.com/x colour=red\nhttps://e.com/x sha256=abc\n\
         https://e.com/x size=-1\nhttps://e.com/x out=../y\nhttps://e.com/x size=1 size=2\n\
         https://e.com/ok sha256={}\n",
        &HASH[..63]
    );
    let got = items(&list);
    let errors: Vec<String> = got
        .iter()
        .map(|i| match i {
            Item::Bad(b) => b.error.clone(),
            Item::Entry(e) => panic!("line {} parsed", e.line),
        })
        .collect();
    assert!(errors[0].starts_with("urls.txt:1: not a valid URL"));
    assert!(errors[1].starts_with("urls.txt:2: unsupported scheme 'ftp'"));
    assert!(errors[2].starts_with("urls.txt:3: unknown option 'colour'"));
    assert!(errors[3].starts_with("urls.txt:4: sha256= must be 64 hex digits"));
    assert!(errors[4].starts_with("urls.txt:5: size=-1 is not a byte count"));
    assert!(errors[5].starts_with("urls.txt:6: out=../y"));
    assert!(errors[6].starts_with("urls.txt:7: option 'size' is given twice"));
    assert!(errors[7].starts_with("urls.txt:8: sha256="));
    let indices: Vec<usize> = got
        .iter()
        .map(|i| match i {
            Item::Entry(e) => e.index,
            Item::Bad(b) => b.index,
        })
        .collect();
    assert_eq!(indices, (0..8).collect::<Vec<_>>());
}

#[test]
fn list_lines_round_trip() {
    let text =
        format!("https://u:p@e.com/a/b.bin?token=x size=10 sha256={HASH}\nhttps://e.com/x/b.bin\n");
    let entries: Vec<Entry> = items(&text)
        .into_iter()
        .map(|i| match i {
            Item::Entry(e) => e,
            Item::Bad(b) => panic!("{}", b.error),
        })
        .collect();
    assert_eq!(
        entries[0].list_line(),
        format!("https://u:p@e.com/a/b.bin?token=x out=b.bin size=10 sha256={HASH}")
    );
    assert_eq!(entries[1].list_line(), "https://e.com/x/b.bin out=b-2.bin");
    // Read back, the lines give the same URLs, targets and options.
    let again = entries
        .iter()
        .map(Entry::list_line)
        .collect::<Vec<_>>()
        .join("\n");
    for (item, entry) in items(&again).into_iter().zip(&entries) {
        let Item::Entry(e) = item else { panic!() };
        assert_eq!(
            (e.url, e.target, e.options.size),
            (entry.url.clone(), entry.target.clone(), entry.options.size)
        );
    }
}

#[test]
fn shards_keep_full_list_numbering_and_names() {
    let list = "https://e.com/a\nbad\nhttps://e.com/a\n# c\nhttps://e.com/b\nhttps://e.com/a\n";
    let mut seen = Vec::new();
    for k in 0..3 {
        let mut entries = Entries::new(Cursor::new(list.as_bytes().to_vec()), "l".into());
        entries.shard = Some(Shard {
            k,
            n: 3,
            by: ShardBy::Index,
        });
        for (seq, item) in entries.enumerate() {
            let (index, item_seq, line, name) = match item {
                Item::Entry(e) => (e.index, e.seq, e.line, e.target.display().to_string()),
                Item::Bad(b) => (b.index, b.seq, b.line, String::new()),
            };
            assert_eq!(index % 3, k);
            assert_eq!(item_seq, seq);
            seen.push((index, line, name));
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            (0, 1, "a".to_string()),
            (1, 2, String::new()),
            (2, 3, "a-2".to_string()),
            (3, 5, "b".to_string()),
            (4, 6, "a-3".to_string()),
        ]
    );
}

#[test]
fn secrets_are_not_echoed_in_errors() {
    let got = items("ftp://user:hunter2@e.com/x?token=abc\n");
    let Item::Bad(b) = &got[0] else { panic!() };
    assert!(!b.error.contains("hunter2") && !b.error.contains("abc"));
}

#[test]
fn collisions_named_in_list_order() {
    let got = items("https://e.com/a/r.pdf\nhttps://e.com/b/r.pdf\nhttps://e.com/x out=r.pdf\n");
    let names: Vec<String> = got
        .iter()
        .map(|i| match i {
            Item::Entry(e) => e.target.display().to_string(),
            Item::Bad(b) => panic!("{}", b.error),
        })
        .collect();
    assert_eq!(names, ["r.pdf", "r-2.pdf", "r-3.pdf"]);
}

#[test]
fn bom_and_invalid_utf8() {
    let mut bytes = "\u{feff}https://e.com/a\n".as_bytes().to_vec();
    bytes.extend_from_slice(b"https://e.com/\xff\n");
    let got: Vec<Item> = Entries::new(Cursor::new(bytes), "l".into()).collect();
    assert!(matches!(&got[0], Item::Entry(e) if e.url.as_str() == "https://e.com/a"));
    assert!(matches!(&got[1], Item::Bad(b) if b.error == "l:2: the line is not valid UTF-8"));
}

#[test]
fn a_line_longer_than_any_list_line_is_a_bad_line_at_its_place() {
    let long = "x".repeat(MAX_LINE + 1);
    let option = format!("  out={}", "y".repeat(MAX_LINE));
    let text = format!("https://e.com/a\n{long}\nhttps://e.com/b\n{option}\nhttps://e.com/c");
    let got = items(&text);
    let shown: Vec<String> = got
        .iter()
        .map(|i| match i {
            Item::Entry(e) => format!("{}: {}", e.line, e.url),
            Item::Bad(b) => b.error.clone(),
        })
        .collect();
    assert_eq!(shown.len(), 5, "{shown:?}");
    assert_eq!(shown[0], "1: https://e.com/a");
    assert!(
        shown[1].starts_with("urls.txt:2: the line is longer than 64 KiB"),
        "{shown:?}"
    );
    assert_eq!(shown[2], "3: https://e.com/b");
    assert!(
        shown[3].starts_with("urls.txt:4: the line is longer"),
        "{shown:?}"
    );
    assert_eq!(shown[4], "5: https://e.com/c");
    // Counted as the reader reads them.
    assert_eq!(lines::count_listings(Cursor::new(text.as_bytes())), Some(5));
}

#[test]
fn an_endless_line_is_read_through_in_bounded_memory() {
    // 64 MiB of one line, handed over in small reads: what is kept never passes the cap.
    struct Zeros(usize);
    impl std::io::Read for Zeros {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0);
            buf[..n].fill(b'0');
            self.0 -= n;
            Ok(n)
        }
    }
    let mut reader = std::io::BufReader::new(Zeros(64 << 20));
    assert!(matches!(
        lines::read_line(&mut reader),
        Ok(Some(lines::Capped::TooLong))
    ));
    assert!(matches!(lines::read_line(&mut reader), Ok(None)));
}

#[test]
fn a_url_without_its_scheme_is_told_apart_from_a_file_name() {
    use super::reader::looks_like_a_host;
    for url in [
        "example.org/file.iso",
        "127.0.0.1:8080/a",
        "localhost:8080",
        "cdn.example.com/x",
    ] {
        assert!(looks_like_a_host(url), "{url}");
    }
    for file in [
        "urls.txt",
        "data/urls.txt",
        "../lists/a.txt",
        "./a.txt",
        "a b.org/x",
        ".hidden/x",
    ] {
        assert!(!looks_like_a_host(file), "{file}");
    }
}
