//! The piece table on its own: claims, streams running on, failures and the record.

use super::*;
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
    let record = Record {
        len: 40,
        version: Some("\"v\"".into()),
        spans,
    };
    Pieces::new(
        file,
        "f.part".into(),
        &record,
        (1, 2),
        (root, "f.part".into()),
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
    let (kept, flow) = t.write(&mut cur, &mut pos, &[7; 25]).ok().unwrap();
    assert_eq!((kept, cur, pos), (25, 2, 25));
    assert!(matches!(flow, Flow::More));
    // Piece 3 is someone else's: the stream stops at its first byte.
    let (kept, flow) = t.write(&mut cur, &mut pos, &[7; 10]).ok().unwrap();
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
    assert!(t.write(&mut cur, &mut pos, &[7; 4]).is_ok());
    let reset = Failure::transient(anyhow!("reset"));
    let retry = t.release(0, Err(Stop::Failed(reset))).expect("retried");
    assert_eq!((retry.failures, retry.first, retry.last), (1, 0, 9));
    assert_eq!(t.missing(0), (4, 9), "from where it stopped");
    assert!(recorded(&dir).contains("range 0 10 4\n"));
    // Not before its wait; the other pieces meanwhile.
    assert_eq!(t.claim(Pick::First), Some(1));
    std::thread::sleep(retry.wait);
    assert_eq!(t.claim(Pick::First), Some(0));
    // A second failure is one more than --retries 1: the split ends.
    let reset = Failure::transient(anyhow!("reset"));
    assert!(t.release(0, Err(Stop::Failed(reset))).is_none());
    assert!(t.stopping());
    assert_eq!(t.claim(Pick::Last), None);
}
