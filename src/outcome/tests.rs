//! Tests of `outcome`.

use super::*;

fn entry() -> Entry {
    Entry {
        index: 4,
        seq: 2,
        list: ListName::file("l/urls.txt"),
        line: 7,
        url: reqwest::Url::parse("https://u:secret@e.com/a.bin?token=t").unwrap(),
        target: PathBuf::from("a.bin"),
        options: Default::default(),
    }
}

#[test]
fn outcomes_are_built_in_one_place() {
    let o = Outcome::failed(
        &entry(),
        Path::new("out"),
        3,
        Duration::from_secs(1),
        Some(503),
        "HTTP 503".into(),
    );
    assert_eq!((o.index, o.seq, o.line, o.attempts), (4, 2, 7, 3));
    assert_eq!(o.url, "https://u:***@e.com/a.bin?token=***");
    assert_eq!(o.path.as_deref(), Some(Path::new("out/a.bin")));
    assert_eq!(
        (o.status(), o.http_status(), o.bytes()),
        (Status::Failed, Some(503), 0)
    );
    assert!(
        o.relist()
            .unwrap()
            .starts_with("https://u:secret@e.com/a.bin?token=t out=a.bin")
    );
    let n = Outcome::not_started(&entry(), Path::new("."));
    assert_eq!(n.path.as_deref(), Some(Path::new("a.bin")));
    assert_eq!((n.status(), n.http_status()), (Status::NotStarted, None));
    assert!(n.relist().is_some());
}

#[test]
fn tally_counts_and_sums() {
    let mut t = Tally::default();
    let ok = Outcome::of(
        &entry(),
        Path::new("."),
        1,
        Duration::from_secs(2),
        Ending::Ok {
            http_status: 200,
            bytes: 10,
            sha256: None,
            length_unverified: false,
        },
    );
    assert_eq!(ok.relist(), None);
    t.add(&ok.with_received(4));
    t.add(&Outcome::not_started(&entry(), Path::new(".")));
    let failed = Outcome::failed(
        &entry(),
        Path::new("."),
        1,
        Duration::ZERO,
        None,
        "x".into(),
    );
    t.add(&failed.with_received(7));
    assert_eq!((t.ok, t.not_started, t.bytes, t.total()), (1, 1, 10, 3));
    assert_eq!(t.received, 11);
}
