//! Tests of `staged`.

use super::*;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_report_is_placed_whole_or_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.txt");
    Staged::check(&path, "--report").unwrap();
    assert!(names(dir.path()).is_empty(), "a check leaves nothing");
    drop(Staged::create(&path, "--report", 0o644, &[]).unwrap());
    assert!(
        names(dir.path()).is_empty(),
        "a report never placed leaves nothing"
    );
    let mut staged = Staged::create(&path, "--report", 0o644, &[]).unwrap();
    staged.write_line("one");
    assert_eq!(names(dir.path()).len(), 1, "written beside FILE");
    assert!(!path.exists());
    assert_eq!(staged.place(), Ok(()));
    drop(staged);
    assert_eq!(names(dir.path()), ["r.txt"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
    // A report of an earlier run is replaced.
    let mut staged = Staged::create(&path, "--report", 0o644, &[]).unwrap();
    staged.write_line("two");
    assert_eq!(staged.place(), Ok(()));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
}

#[test]
fn a_file_put_at_its_name_during_the_run_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    for before in [false, true] {
        let path = dir.path().join(format!("b{before}.bin"));
        if before {
            std::fs::write(&path, "an earlier report").unwrap();
        }
        let mut staged = Staged::create(&path, "--report", 0o644, &[]).unwrap();
        staged.write_line("report");
        // A download lands at the name (renamed over, as a placed file is: a new inode).
        let download = dir.path().join("download.part");
        std::fs::write(&download, "download").unwrap();
        std::fs::rename(&download, &path).unwrap();
        let err = staged.place().unwrap_err();
        assert!(err.contains("was put there while the run went on"), "{err}");
        drop(staged);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "download");
        let kept = dir.path().join(format!("b{before}.bin.fetchpool-{pid}"));
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "report\n");
    }
}

#[test]
fn a_file_an_entry_names_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.bin");
    std::fs::write(&path, "an earlier download").unwrap();
    let reserved = Arc::new(Reserved {
        flag: "--report",
        path: path.clone(),
        target: "b.bin".into(),
        claimed: Default::default(),
    });
    let mut staged =
        Staged::create(&path, "--report", 0o644, std::slice::from_ref(&reserved)).unwrap();
    reserved.claimed.store(true, Ordering::SeqCst);
    assert!(
        staged
            .place()
            .unwrap_err()
            .contains("an entry of this run names it")
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "an earlier download"
    );
}

#[test]
fn what_is_written_into_and_what_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    assert!(!is_stream(&file));
    assert!(!is_stream(&dir.path().join("absent")));
    assert!(
        !is_stream(&link),
        "a link outside /dev is replaced, wherever it leads"
    );
    assert!(is_stream(Path::new("/dev/null")));
    assert!(is_stream(Path::new("/dev/stdout")), "whatever stdout is");
    assert!(!is_stream(Path::new("/dev")));
}
