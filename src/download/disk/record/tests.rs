//! Tests of `record`.

use super::*;

fn record() -> Record {
    let mut pin = Pin::empty();
    assert!(pin.read_line("etag \"5f-61a\""));
    assert!(pin.read_line("modified Sun, 06 Nov 1994 08:49:37 GMT"));
    pin.len = Some(100);
    Record {
        len: 100,
        pin,
        spans: vec![
            Span {
                start: 0,
                end: 60,
                done: 60,
            },
            Span {
                start: 60,
                end: 100,
                done: 7,
            },
        ],
    }
}

#[test]
fn a_record_reads_back_as_written() {
    let r = record();
    assert_eq!(Record::parse(&r.render()), Some(r.clone()));
    assert_eq!(r.done(), 67);
    let bare = Record {
        pin: Pin {
            len: Some(100),
            ..Pin::empty()
        },
        ..r
    };
    assert_eq!(Record::parse(&bare.render()), Some(bare));
}

#[test]
fn a_record_of_the_first_format_still_reads() {
    let v1 = "fetchpool-ranges 1\nlength 100\nversion \"5f-61a\"\nrange 0 100 7\n";
    let r = Record::parse(v1).unwrap();
    assert_eq!(r.pin.if_range().as_deref(), Some("\"5f-61a\""));
    assert_eq!((r.len, r.done()), (100, 7));
    let dated = v1.replace("\"5f-61a\"", "Sun, 06 Nov 1994 08:49:37 GMT");
    let r = Record::parse(&dated).unwrap();
    assert!(r.pin.stamp.modified.is_some() && r.pin.stamp.etag.is_none());
    assert!(!r.pin.vouches(), "format 1 kept dates of any strength");
}

#[test]
fn a_second_format_record_s_date_can_tell_a_change_but_not_vouch() {
    let text = record().render().replace(MAGIC, MAGIC_V2);
    let r = Record::parse(&text).unwrap();
    assert_eq!(r.pin.if_range().as_deref(), Some("\"5f-61a\""));
    let dated = text.replace("etag \"5f-61a\"\n", "");
    let r = Record::parse(&dated).unwrap();
    assert!(r.pin.stamp.modified.is_some() && !r.pin.vouches());
}

#[test]
fn a_record_with_a_gap_or_an_overlap_or_too_much_done_is_refused() {
    let text = record().render();
    for bad in [
        text.replace("range 60 100 7", "range 61 100 7"),
        text.replace("range 60 100 7", "range 59 100 7"),
        text.replace("range 60 100 7", "range 60 100 41"),
        text.replace("length 100", "length 101"),
        text.replace("length 100\n", ""),
        text.replace("fetchpool-ranges 3", "fetchpool-ranges 4"),
        text.replace("range 60 100 7", "range 60 100"),
        text.replace("etag \"5f-61a\"", "colour blue"),
        String::new(),
    ] {
        assert_eq!(Record::parse(&bad), None, "{bad}");
    }
}

fn open_dir(path: &std::path::Path) -> Dir {
    std::sync::Arc::new(
        rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap(),
    )
}

#[test]
fn written_atomically_and_never_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let fd = open_dir(dir.path());
    let part = OsStr::new("a.bin.part");
    assert!(matches!(read(&fd, part), Found::None));
    // A stale temporary file of ours is replaced.
    std::fs::write(
        dir.path().join("a.bin.part.ranges.tmp"),
        "fetchpool-ranges 2\nle",
    )
    .unwrap();
    write(&fd, part, &record()).unwrap();
    assert!(matches!(read(&fd, part), Found::Record(r) if r == record()));
    assert!(!dir.path().join("a.bin.part.ranges.tmp").exists());
    std::fs::write(
        dir.path().join("a.bin.part.ranges"),
        "fetchpool-ranges 2\njunk",
    )
    .unwrap();
    assert!(matches!(read(&fd, part), Found::Unusable));
    remove(&fd, part);
    assert!(matches!(read(&fd, part), Found::None));
}

#[test]
fn a_file_that_is_not_a_record_is_never_removed_or_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let fd = open_dir(dir.path());
    let part = OsStr::new("a.bin.part");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let temp = dir.path().join("a.bin.part.ranges.tmp");
    let record_path = dir.path().join("a.bin.part.ranges");
    // A link at the temporary name is neither followed nor removed.
    std::os::unix::fs::symlink(&victim, &temp).unwrap();
    assert!(write(&fd, part, &record()).is_err());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    assert!(temp.is_symlink());
    std::fs::remove_file(&temp).unwrap();
    // Someone's notes at the record's name: not replaced, not removed.
    std::fs::write(&record_path, "my notes").unwrap();
    let err = write(&fd, part, &record()).unwrap_err();
    assert!(err.to_string().contains("not a record"), "{err}");
    remove(&fd, part);
    assert_eq!(std::fs::read_to_string(&record_path).unwrap(), "my notes");
    assert!(!temp.exists());
    // A hard link to someone else's file is not ours either.
    std::fs::remove_file(&record_path).unwrap();
    std::fs::hard_link(&victim, &record_path).unwrap();
    remove(&fd, part);
    assert!(record_path.exists());
}

proptest::proptest! {
    #[test]
    fn any_text_is_read_or_refused_without_a_panic(
        text in crate::hostile::text(),
        bytes in crate::hostile::bytes(),
    ) {
        let _ = Record::parse(&text);
        let _ = Record::parse(&bytes);
        let _ = Record::parse(&format!("{MAGIC}\nlength 10\n{text}"));
    }
}

#[test]
fn a_megabyte_of_a_record_is_read_in_linear_time() {
    crate::hostile::a_megabyte_within_a_second(&["range 0 1 1\n"], |text| {
        let _ = Record::parse(&format!("{MAGIC}\nlength 1\n{text}"));
    });
}
