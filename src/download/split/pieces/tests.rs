//! The piece table on its own: claims, streams running on, failures and the record.

use super::*;
use crate::download::body::Flow;
use rustix::fs::{Mode, OFlags};

/// A table of four pieces of 10 bytes in a fresh `.part`, two fetched at once, one retry.
fn table(dir: &tempfile::TempDir) -> Pieces {
    let fd = rustix::fs::open(
        dir.path(),
        OFlags::RDONLY | OFlags::DIRECTORY,
        Mode::empty(),
    );
    let root: Dir = std::sync::Arc::new(fd.unwrap());
    let file = File::create(dir.path().join("f.part")).unwrap();
    let spans = (0..4)
        .map(|i| Span {
            start: i * 10,
            end: i * 10 + 10,
            done: 0,
        })
        .collect();
    let mut pin = Pin::empty();
    assert!(pin.read_line("etag \"v\""));
    pin.len = Some(40);
    let record = Record {
        len: 40,
        pin,
        spans,
    };
    Pieces::new(
        file,
        "f.part".into(),
        &record,
        (1, 2),
        Some((root, "f.part".into())),
    )
}

fn recorded(dir: &tempfile::TempDir) -> String {
    std::fs::read_to_string(dir.path().join("f.part.ranges")).unwrap()
}

#[test]
fn no_more_pieces_at_once_than_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    assert_eq!(t.claim(Pick::Last), Some(3));
    assert_eq!(t.claim(Pick::Last), Some(2));
    assert_eq!(t.claim(Pick::First), None, "two at once");
    assert!(t.release(3, Ok(())).is_none());
    assert_eq!(t.claim(Pick::First), Some(0));
}

#[test]
fn a_stream_runs_on_into_free_pieces_and_stops_at_a_taken_one() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    assert_eq!(t.claim(Pick::Last), Some(3));
    let (mut cur, mut pos) = (t.claim_at(0), 0);
    let (kept, flow) = t.write(&mut cur, &mut pos, &[7; 25], 40).ok().unwrap();
    assert_eq!((kept, cur, pos), (25, 2, 25));
    assert!(matches!(flow, Flow::More));
    // Piece 3 is someone else's: the stream stops at its first byte.
    let (kept, flow) = t.write(&mut cur, &mut pos, &[7; 10], 40).ok().unwrap();
    assert_eq!((kept, cur, pos), (5, 2, 30));
    assert!(matches!(flow, Flow::Stop));
    assert!(t.stopped_at(cur, pos).is_ok());
    t.release(cur, Ok(()));
    assert!(recorded(&dir).contains("range 0 10 10\nrange 10 20 10\nrange 20 30 10\n"));
    assert!(recorded(&dir).contains("range 30 40 0\n"));
}

#[test]
fn a_failed_piece_keeps_its_bytes_and_waits_before_it_is_asked_for_again() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    let (mut cur, mut pos) = (t.claim_at(0), 0);
    assert!(t.write(&mut cur, &mut pos, &[7; 4], 40).is_ok());
    // A wait the server asked for: the backoff's jitter may draw next to nothing, and then the
    // piece would be free again before the next line looks.
    let reset = Failure {
        retry_after: Some(Duration::from_millis(200)),
        ..Failure::transient(anyhow!("reset"))
    };
    let retry = t.release(0, Err(Ending::Failed(reset))).expect("retried");
    assert_eq!(retry.wait, Duration::from_millis(200));
    assert_eq!((retry.failures, retry.first, retry.last), (1, 0, 9));
    assert_eq!(t.missing(0), (4, 9), "from where it stopped");
    assert!(recorded(&dir).contains("range 0 10 4\n"));
    // Not before its wait; the other pieces meanwhile.
    assert_eq!(t.claim(Pick::First), Some(1));
    std::thread::sleep(retry.wait);
    assert_eq!(t.claim(Pick::First), Some(0));
    // A second failure is one more than --retries 1: the split ends.
    let reset = Failure::transient(anyhow!("reset"));
    assert!(t.release(0, Err(Ending::Failed(reset))).is_none());
    assert!(t.stopping());
    assert_eq!(t.claim(Pick::Last), None);
}

#[test]
fn no_stream_writes_past_the_end_its_answer_names() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    // A range answer for bytes 20..30 that goes on past them: piece 3 is free, and still
    // nothing lands in it.
    let (mut cur, mut pos) = (t.claim_at(20), 20);
    let failed = t.write(&mut cur, &mut pos, &[9; 15], 30);
    let Err(failure) = failed else {
        panic!("more than the range is a failure")
    };
    assert!(failure.retryable, "{:#}", failure.error);
    assert_eq!((cur, pos), (2, 30));
    // Its bytes are all there: the piece is whole, and nothing is asked for again.
    assert!(t.release(cur, Err(Ending::Failed(failure))).is_none());
    assert!(!t.stopping());
    let part = std::fs::read(dir.path().join("f.part")).unwrap();
    assert_eq!(&part[20..30], &[9; 10]);
    assert!(part.len() == 30, "not a byte of piece 3");
    assert!(recorded(&dir).contains("range 20 30 10\nrange 30 40 0\n"));
    assert_eq!(t.claim(Pick::Last), Some(3));
    assert_eq!(t.missing(3), (30, 39));
}

#[test]
fn without_continue_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = table(&dir);
    let record = fresh.snapshot();
    let file = File::create(dir.path().join("g.part")).unwrap();
    let t = Pieces::new(file, "g.part".into(), &record, (1, 2), None);
    t.record().unwrap();
    let (mut cur, mut pos) = (t.claim_at(0), 0);
    assert!(t.write(&mut cur, &mut pos, &[1; 10], 40).is_ok());
    t.release(cur, Ok(()));
    assert!(!dir.path().join("g.part.ranges").exists());
    assert_eq!(
        t.snapshot().done(),
        10,
        "the table still knows, for a retry"
    );
}

#[test]
fn pieces_cover_the_file_in_order() {
    for (len, count) in [(100, 2), (101, 8), (8, 8), (64 << 20, 8), (17, 3)] {
        let spans = spans(len, count);
        assert!(spans.len() as u64 <= count);
        assert_eq!(spans[0].start, 0);
        assert_eq!(spans.last().unwrap().end, len);
        for pair in spans.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        let sizes: Vec<u64> = spans.iter().map(|s| s.end - s.start).collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= count, "{len}/{count}: {sizes:?}");
    }
}

#[test]
fn a_file_is_cut_in_up_to_four_pieces_per_range_none_below_the_minimum() {
    const M: u64 = 1 << 20;
    let count = |len, at_once, min| cut(len, at_once, min).map(|s| s.len());
    assert_eq!(count(64 * M, 8, 2 * M), Some(32));
    assert_eq!(count(8 * M, 4, M), Some(8), "none below 1 MiB");
    assert_eq!(count(1 << 40, 8, 2 * M), Some(32), "four per range");
    assert_eq!(count(3 * M, 8, 2 * M), None, "not two pieces of 2 MiB");
    assert_eq!(count(4 * M, 8, 2 * M), Some(2));
    assert_eq!(count(1 << 40, 1000, 1), Some(1024), "at most 1024");
}

#[test]
fn a_record_is_written_only_after_the_bytes_it_claims_are_synced() {
    // A `.part` whose data cannot be put on disk (a pipe: fdatasync fails): no record.
    let dir = tempfile::tempdir().unwrap();
    let record = table(&dir).snapshot();
    let (_reader, writer) = std::io::pipe().unwrap();
    let unsyncable = File::from(std::os::fd::OwnedFd::from(writer));
    let root: Dir = std::sync::Arc::new(
        rustix::fs::open(
            dir.path(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap(),
    );
    let t = Pieces::new(
        unsyncable,
        "f.part".into(),
        &record,
        (1, 2),
        Some((root, "f.part".into())),
    );
    assert!(t.record().is_err());
    assert!(!dir.path().join("f.part.ranges").exists());
    assert!(!dir.path().join("f.part.ranges.tmp").exists());
}

#[test]
fn a_length_near_the_end_of_u64_is_cut_without_wrapping() {
    let spans = cut(u64::MAX, 4, 2 << 20).unwrap();
    assert_eq!(spans.first().unwrap().start, 0);
    assert_eq!(spans.last().unwrap().end, u64::MAX);
    for pair in spans.windows(2) {
        assert_eq!(pair[0].end, pair[1].start);
        assert!(pair[0].start < pair[0].end);
    }
}
