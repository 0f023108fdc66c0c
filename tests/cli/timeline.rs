//! `--timeline FILE`: the SVG picture of a run, read back as XML (roxmltree) and rendered by a
//! real SVG renderer (librsvg's `rsvg-convert`, which `.ci/run` installs).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::server::{Body, Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has, assert_starts, interrupt};
use crate::support::{free_port, json, payload, sha256_hex, wait_for};

/// A bar of the picture as a reader sees it.
#[derive(Debug)]
struct Bar {
    /// `ok`, `failed`, `skipped`, `unchanged`, `piece`.
    status: String,
    merged: bool,
    row: usize,
    x: f64,
    width: f64,
    /// How many downloads it stands for (1 unless merged).
    count: u64,
    title: String,
    /// The classes of the marks inside it (`try`, `wait`).
    marks: Vec<String>,
}

/// The picture at `path`: the workers' names in row order, and its bars.
fn picture(path: &Path) -> (Vec<String>, Vec<Bar>) {
    let svg = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let rows = doc
        .descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split(' ').any(|w| w == "row"))
        })
        .map(|n| n.attribute("data-worker").unwrap().to_string())
        .collect();
    let bars = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("bar ")))
        .map(|n| {
            let classes: Vec<&str> = n.attribute("class").unwrap().split(' ').collect();
            let shape = if n.has_tag_name("g") {
                n.children().find(|c| c.has_tag_name("rect")).unwrap()
            } else {
                n
            };
            let number = |name: &str| shape.attribute(name).unwrap().parse::<f64>().unwrap();
            Bar {
                status: classes.last().unwrap().to_string(),
                merged: classes.contains(&"merged"),
                row: n.attribute("data-row").unwrap().parse().unwrap(),
                x: number("x"),
                width: number("width"),
                count: n.attribute("data-count").map_or(1, |c| c.parse().unwrap()),
                title: n
                    .children()
                    .find(|c| c.has_tag_name("title"))
                    .and_then(|t| t.text())
                    .unwrap()
                    .to_string(),
                marks: n
                    .children()
                    .filter_map(|c| c.attribute("class"))
                    .filter_map(|c| c.strip_prefix("mark "))
                    .map(str::to_string)
                    .collect(),
            }
        })
        .collect();
    (rows, bars)
}

/// The legend's keys, by class, in order, and their words.
fn legend(path: &Path) -> Vec<(String, String)> {
    let svg = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    doc.descendants()
        .filter_map(|n| {
            let class = n.attribute("class")?.strip_prefix("key ")?.to_string();
            let words = n.next_sibling_element()?.text()?.to_string();
            Some((class, words))
        })
        .collect()
}

/// The bar whose title names `target` (as the report shows it).
fn bar_of<'a>(bars: &'a [Bar], target: &str) -> &'a Bar {
    let named: Vec<&Bar> = bars
        .iter()
        .filter(|b| b.title.lines().any(|l| l == format!("→ {target}")))
        .collect();
    assert_eq!(named.len(), 1, "one bar for {target}: {bars:#?}");
    named[0]
}

/// Renders `svg` with rsvg-convert and checks the PNG; skipped (with a message) where librsvg is
/// not installed, except in CI, where it must be.
fn renders(svg: &Path) {
    let png = svg.with_extension("png");
    let ran = Command::new("rsvg-convert")
        .arg(svg)
        .arg("-o")
        .arg(&png)
        .output();
    let out = match ran {
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: rsvg-convert is not installed ({e}; Debian: librsvg2-bin)");
            return;
        }
        ran => ran.expect("rsvg-convert (librsvg2-bin) must be installed in CI"),
    };
    assert!(out.status.success(), "rsvg-convert: {out:?}");
    let png = std::fs::read(png).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1200, "drawn at its own size");
}

/// A server for the small runs: `/okN` after 60 ms, `/missing` a 404 (after `missing_ms`), and
/// `/flaky` a 503 the first time it is asked.
fn small_server(missing_ms: u64) -> (Server, Vec<u8>) {
    let flaky = Arc::new(AtomicUsize::new(0));
    let body = payload(4096, 3);
    let served = body.clone();
    let server = Server::start(move |req| match req.path() {
        "/missing" => Reply::status(404).delay(Duration::from_millis(missing_ms)),
        "/flaky" if flaky.fetch_add(1, Ordering::SeqCst) == 0 => Reply::status(503),
        _ => Reply::ok(served.clone()).delay(Duration::from_millis(60)),
    });
    (server, body)
}

/// The list `urls.txt` in `env`: six files (the first with its sha256), a 404 and a 503 once.
fn small_list(env: &TestEnv, server: &Server, body: &[u8]) {
    let mut urls: Vec<String> = (1..=5).map(|i| server.url(&format!("/ok{i}"))).collect();
    urls.insert(
        0,
        format!("{} sha256={}", server.url("/ok0"), sha256_hex(body)),
    );
    urls.push(server.url("/missing"));
    urls.push(server.url("/flaky"));
    env.list(&urls);
}

#[test]
fn a_pool_run_draws_a_row_per_worker_and_a_bar_per_download() {
    let env = TestEnv::new();
    let (server, body) = small_server(0);
    small_list(&env, &server, &body);
    let run = |args: &[&str]| {
        env.cmd()
            .args(["urls.txt", "-o", "out", "-j", "3", "--retries", "2"])
            .args(["--timeline", "run.svg", "--json"])
            .args(args)
            .run()
    };
    let out = run(&[]);
    assert_eq!(out.code, 1, "{out:?}");
    let (rows, bars) = picture(&env.join("run.svg"));
    assert_eq!(rows, ["worker-1", "worker-2", "worker-3"]);
    assert_eq!(bars.len(), 8, "a bar per download: {bars:#?}");
    for i in 0..=5 {
        let bar = bar_of(&bars, &format!("out/ok{i}"));
        assert_eq!(bar.status, "ok", "{bar:?}");
        assert!(!bar.merged && bar.row < 3);
        assert_starts(&bar.title, &server.url(&format!("/ok{i}")));
        assert_has(&bar.title, "ok 200, 4.0 KiB, 1 attempt");
        // 60 ms of a run of under a second (the retry waits up to 0.5 s), on 1,080 px.
        assert!(bar.width > 50.0, "{bar:?}");
    }
    let missing = bar_of(&bars, "out/missing");
    assert_eq!(missing.status, "failed");
    assert_has(&missing.title, "HTTP 404 Not Found");
    // The retry shows inside the bar: the attempt that failed, then the wait.
    let flaky = bar_of(&bars, "out/flaky");
    assert_eq!(flaky.status, "ok");
    assert_eq!(flaky.marks, ["try", "wait"], "{flaky:?}");
    assert_has(&flaky.title, "2 attempts");
    // The legend names what the picture holds, and only that, in plain words.
    let keys: Vec<String> = legend(&env.join("run.svg"))
        .into_iter()
        .map(|(class, _)| class)
        .collect();
    assert_eq!(keys, ["ok", "failed", "try", "wait"]);
    // One download at a time on a row: no bar starts before the one before it ends (but for
    // the width a bar is drawn at least: 3 px for a failed one, which a quick 404 is).
    for row in 0..3 {
        let mut spans: Vec<(f64, f64)> = bars
            .iter()
            .filter(|b| b.row == row)
            .map(|b| (b.x, b.x + b.width))
            .collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        for pair in spans.windows(2) {
            assert!(pair[1].0 >= pair[0].1 - 3.0, "row {row}: {spans:?}");
        }
    }
    renders(&env.join("run.svg"));

    // Again with --update: the file the list's digest vouches for is unchanged, without a
    // request; the one that failed is fetched again.
    let out = run(&["-u"]);
    let (_, bars) = picture(&env.join("run.svg"));
    assert_eq!(bar_of(&bars, "out/ok0").status, "unchanged", "{out:?}");
    assert_eq!(bar_of(&bars, "out/missing").status, "failed");

    // And with --skip-existing: every file there is skipped in a moment, so on the picture of a
    // run the slow 404 makes long, those bars are too narrow to see and are merged; every
    // download is still counted, and nothing else is drawn.
    let (slow_404, _) = small_server(300);
    small_list(&env, &slow_404, &body);
    let out = run(&["--skip-existing"]);
    let summary = json(out.report.last().unwrap());
    assert_eq!(summary["skipped"], 7, "{summary}");
    let (_, bars) = picture(&env.join("run.svg"));
    assert_eq!(bars.iter().map(|b| b.count).sum::<u64>(), 8, "{bars:#?}");
    assert!(bars.iter().any(|b| b.merged), "{bars:#?}");
    for bar in &bars {
        assert!(
            ["skipped", "failed"].contains(&bar.status.as_str()),
            "{bar:?}"
        );
    }
}

#[test]
fn a_serial_run_is_one_row() {
    let env = TestEnv::new();
    let (server, body) = small_server(0);
    small_list(&env, &server, &body);
    let out = env
        .cmd()
        .args([
            "urls.txt",
            "-o",
            "out",
            "--serial",
            "--timeline",
            "serial.svg",
        ])
        .run();
    assert_eq!(out.code, 1, "{out:?}");
    let (rows, bars) = picture(&env.join("serial.svg"));
    assert_eq!(rows, ["serial"]);
    assert_eq!(bars.len(), 8);
    assert!(bars.iter().all(|b| b.row == 0));
    // In list order, one after another.
    let order: Vec<f64> = (0..=5)
        .map(|i| bar_of(&bars, &format!("out/ok{i}")).x)
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    let svg = env.text("serial.svg");
    assert!(
        svg.contains(" failed; ") && svg.contains("; serial"),
        "the summary heads it"
    );
    assert!(
        !svg.contains("speed-up"),
        "one at a time: no speed-up to speak of"
    );

    // --timeline-axis: the same kind of run on a 30 s axis, as a longer run's picture has it.
    let out = env
        .cmd()
        .args([
            "urls.txt",
            "-o",
            "again",
            "--serial",
            "--timeline",
            "serial.svg",
        ])
        .args(["--timeline-axis", "30"])
        .run();
    assert_eq!(out.code, 1, "{out:?}");
    let svg = env.text("serial.svg");
    assert!(svg.contains(">30 s</text>"), "the axis runs to 30 s");
    let (_, bars) = picture(&env.join("serial.svg"));
    let end = bars.iter().map(|b| b.x + b.width).fold(0.0, f64::max);
    // Under 3 s of 30, on 1,080 px from x = 92.
    assert!(end < 92.0 + 108.0, "{end}");
}

/// An 8 MiB file at 2 MiB/s a connection, split in four on four workers: the owner's bar on
/// its row, the pieces the others fetched on theirs.
#[test]
fn the_pieces_of_a_split_download_are_on_the_rows_that_fetched_them() {
    let env = TestEnv::new();
    let body = payload(8 << 20, 5);
    let served = body.clone();
    let server = Server::start(move |req| {
        Reply::versioned(req, &served, "\"v1\"").framing(Body::Paced(2 << 20))
    });
    env.list(&[server.url("/big.iso")]);
    let out = env
        .cmd()
        .args(["urls.txt", "-o", "out"])
        .args(crate::split::split4(&["--timeline", "split.svg"]))
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.file("out/big.iso"), body);
    let (_, bars) = picture(&env.join("split.svg"));
    let owner = bar_of(&bars, "out/big.iso");
    assert_eq!(owner.status, "ok");
    let pieces: Vec<&Bar> = bars.iter().filter(|b| b.status == "piece").collect();
    assert!(!pieces.is_empty(), "{bars:#?}");
    for piece in &pieces {
        assert_ne!(piece.row, owner.row, "{piece:?}");
        assert!(
            piece.title.starts_with("bytes ") && piece.title.contains(" of out/big.iso"),
            "{piece:?}"
        );
        // Within the owner's download.
        assert!(piece.x >= owner.x - 0.5 && piece.x + piece.width <= owner.x + owner.width + 1.5);
    }
    renders(&env.join("split.svg"));
}

/// After a 429, the host's other downloads wait for its turn: drawn as waits, not as attempts.
/// A 404 answered at once after its wait is a failure seen at a glance (edged in red all along).
#[test]
fn waits_for_the_hosts_turn_are_drawn_as_waits() {
    let env = TestEnv::new();
    let asked = Arc::new(AtomicUsize::new(0));
    let server = Server::start(move |req| match req.path() {
        "/busy" if asked.fetch_add(1, Ordering::SeqCst) == 0 => {
            Reply::status(429).header("Retry-After", "1")
        }
        "/missing" => Reply::status(404),
        "/slow" => Reply::ok("slow").delay(Duration::from_millis(200)),
        _ => Reply::ok("ok"),
    });
    let urls = [
        server.url("/busy"),
        server.url("/slow"),
        server.url("/missing"),
    ];
    env.list(&urls);
    let out = env.run(&["-j", "2", "--timeline", "t.svg"]);
    assert_eq!(out.code, 1, "{out:?}");
    let path = env.join("t.svg");
    let (_, bars) = picture(&path);
    // /busy: its 429, then the wait Retry-After asked for (and what was left of the host's
    // pause, if anything).
    let busy = bar_of(&bars, "out/busy");
    assert_eq!(busy.status, "ok");
    assert_eq!(busy.marks[..2], ["try", "wait"], "{busy:?}");
    assert!(busy.marks[2..].iter().all(|m| m == "wait"), "{busy:?}");
    // /missing waited its host's turn (most of a second), then failed at once: the wait is a
    // wait, the red is the answer, and an edge marks the whole bar failed.
    let missing = bar_of(&bars, "out/missing");
    assert_eq!(missing.status, "failed");
    assert_eq!(missing.marks, ["wait"], "{missing:?}");
    let svg = std::fs::read_to_string(&path).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let group = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("g")
                && n.children()
                    .any(|c| c.text().is_some_and(|t| t.contains("→ out/missing")))
        })
        .unwrap();
    let wait = group
        .children()
        .find(|c| c.attribute("class") == Some("mark wait"))
        .unwrap();
    let wait_width: f64 = wait.attribute("width").unwrap().parse().unwrap();
    assert!(
        wait_width > missing.width * 0.5,
        "{wait_width} of {missing:?}"
    );
    assert!(
        group
            .children()
            .any(|c| c.attribute("class") == Some("edge")),
        "{missing:?}"
    );
    let keys: Vec<String> = legend(&path).into_iter().map(|(c, _)| c).collect();
    assert_eq!(keys, ["ok", "failed", "try", "wait"]);
}

#[test]
fn ctrl_c_still_draws_what_happened_until_then() {
    let env = TestEnv::new();
    let server = Server::start(|req| {
        Reply::ok(format!("body {}", req.path())).delay(Duration::from_millis(150))
    });
    let urls: Vec<String> = (0..200).map(|i| server.url(&format!("/f{i}"))).collect();
    env.list(&urls);
    let child = env.spawn(&["-j", "3", "--json", "--timeline", "t.svg"]);
    wait_for(&env.join("out/f3"));
    let out = interrupt(child);
    assert_eq!(out.code, 130);
    let report: Vec<_> = out.report.iter().map(|l| json(l)).collect();
    let ended = report
        .iter()
        .filter(|r| r["status"] == "ok" || r["status"] == "failed")
        .count();
    let (rows, bars) = picture(&env.join("t.svg"));
    assert_eq!(rows.len(), 3);
    // Every download that ran, and none of the ones that never started.
    assert_eq!(bars.iter().map(|b| b.count).sum::<u64>(), ended as u64);
    // What Ctrl-C cut short was interrupted, not failed, and is drawn so.
    let cut = report.iter().filter(|r| r["status"] == "failed").count();
    assert!(cut > 0, "{report:?}");
    let drawn_cut = bars
        .iter()
        .filter(|b| b.status == "interrupted")
        .map(|b| b.count)
        .sum::<u64>();
    assert_eq!(drawn_cut, cut as u64, "{bars:#?}");
    assert!(bars.iter().all(|b| b.status != "failed"), "{bars:#?}");
    let keys = legend(&env.join("t.svg"));
    assert!(
        keys.contains(&("interrupted".to_string(), "cut short by Ctrl-C".to_string())),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|(class, _)| class == "failed"), "{keys:?}");
    assert!((4..100).contains(&ended), "{ended}");
    // The heading is the run's summary, interruption included.
    let not_started = report
        .iter()
        .filter(|r| r["status"] == "not-started")
        .count();
    let svg = env.text("t.svg");
    assert!(svg.contains(&format!("{not_started} not-started")), "{svg}");
    assert!(svg.contains("(interrupted)"), "the heading says so");
    let left: Vec<_> = env
        .names("")
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "no scratch file left: {left:?}");
}

#[test]
fn a_timeline_that_cannot_be_written_stops_the_run_before_any_request() {
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok("x"));
    env.list(&[server.url("/a")]);
    env.mkdir("adir");
    for (path, why) in [
        ("no/such/dir/t.svg", "No such file or directory"),
        ("adir", "names a directory"),
    ] {
        // Not even the checksums file is fetched.
        let out = env
            .cmd()
            .args(["urls.txt", "-o", "out", "--timeline", path])
            .args(["--checksums", &server.url("/SHA256SUMS")])
            .run();
        assert_eq!(out.code, 2, "{path}: {out:?}");
        let stderr = &out.stderr;
        assert!(
            stderr.contains(&format!("--timeline {path}")) && stderr.contains(why),
            "{stderr}"
        );
    }
    assert_eq!(server.request_count(), 0);
    assert!(!env.join("out").exists());
    assert_eq!(env.names(""), ["adir", "urls.txt"], "nothing left behind");
    // --timeline-axis is only for a timeline.
    let out = env.cmd().args(["urls.txt", "--timeline-axis", "10"]).run();
    assert_eq!(out.code, 2);
}

/// The highest resident memory `child` reached, looked at every few milliseconds until it ends.
fn peak_rss_kib(mut child: std::process::Child) -> u64 {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    peak
}

/// 100,000 entries (each refused by a port nobody listens on, so they go by fast): the picture
/// stays a few MiB, and drawing it costs the run no memory that grows with the list: its peak is
/// within a little of the same run's without `--timeline`.
#[test]
fn a_hundred_thousand_entries_keep_memory_flat_and_the_picture_small() {
    const N: u64 = 100_000;
    let env = TestEnv::new();
    let port = free_port();
    let urls: Vec<String> = (0..N)
        .map(|i| format!("http://127.0.0.1:{port}/f{i}"))
        .collect();
    env.list(&urls);
    let peak = |timeline: &[&str]| {
        let child = env
            .std_cmd()
            .args([
                "urls.txt",
                "-o",
                "out",
                "--retries",
                "0",
                "-q",
                "--progress",
                "never",
            ])
            .args(timeline)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        peak_rss_kib(child)
    };
    let without = peak(&[]);
    let with = peak(&["--timeline", "big.svg"]);
    let size = std::fs::metadata(env.join("big.svg")).unwrap().len();
    assert!(size < 4 << 20, "{size} bytes");
    let (_, bars) = picture(&env.join("big.svg"));
    assert_eq!(bars.iter().map(|b| b.count).sum::<u64>(), N);
    assert!(bars.iter().all(|b| b.status == "failed"));
    // Holding each entry's bar (a title of ~100 bytes) would add ~10 MiB.
    assert!(
        with < without + 2 * 1024,
        "peak RSS {with} KiB with --timeline, {without} KiB without"
    );
}

/// A report FILE that is a place to write to, not a file to replace: a named pipe (`--timeline`,
/// read as the run writes it) and a device (`--report`, `--junit`, `--failed-out` to a null
/// device, made as root): each is written into and is still what it was afterwards; renaming
/// over `/dev/null` would have put a regular file in its place. As root, also: another user's
/// pipe and a link planted outside /dev are replaced, not written through.
#[test]
fn reports_go_into_a_pipe_or_a_device_but_replace_one_planted_by_another() {
    use std::os::unix::fs::FileTypeExt;
    let env = TestEnv::new();
    let server = Server::start(|_| Reply::ok("x"));
    env.list(&[server.url("/a")]);
    let fifo = env.join("picture");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // Read on a thread of its own, given up on (not waited for) if nothing comes: a pipe that
    // was replaced by a file would leave it blocked for ever.
    let (tx, read) = std::sync::mpsc::channel();
    {
        let fifo = fifo.clone();
        std::thread::spawn(move || tx.send(std::fs::read_to_string(fifo).unwrap()));
    }
    let mut args = vec!["urls.txt", "-o", "out", "--timeline", "picture"];
    let null = env.join("null");
    let root = Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if root {
        args.extend([
            "--report",
            "null",
            "--junit",
            "null",
            "--failed-out",
            "null",
        ]);
    } else {
        eprintln!("the device half needs root (mknod); only the pipe is checked");
    }
    let out = env.cmd().args(&args).run();
    assert_eq!(out.code, 0, "{out:?}");
    let svg = read
        .recv_timeout(Duration::from_secs(10))
        .expect("the picture came through the pipe");
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let bars = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("bar ok"))
        .count();
    assert_eq!(bars, 1, "{svg}");
    let kind = |p: &Path| std::fs::symlink_metadata(p).unwrap().file_type();
    assert!(kind(&fifo).is_fifo(), "still a pipe");
    if root {
        assert!(kind(&null).is_char_device(), "still a device");
    }
    let mut expected = vec!["out", "picture", "urls.txt"];
    if root {
        expected.insert(0, "null");
    }
    assert_eq!(env.names(""), expected, "no scratch file beside them");
    if !root {
        return;
    }

    // But a pipe someone else made, and a link planted outside /dev and /proc (here to a pipe
    // of this user's), are replaced like any file, never written into: `--failed-out` holds
    // credentials, and must not go where another user reads.
    let theirs = env.join("theirs");
    assert!(
        Command::new("mkfifo")
            .arg(&theirs)
            .status()
            .unwrap()
            .success()
    );
    let chown = Command::new("chown").arg("65534").arg(&theirs).status();
    assert!(chown.unwrap().success());
    let ours = env.join("ours");
    assert!(
        Command::new("mkfifo")
            .arg(&ours)
            .status()
            .unwrap()
            .success()
    );
    std::os::unix::fs::symlink(&ours, env.join("link")).unwrap();
    // Opening a pipe nobody reads would wait for ever: given 10 s, then killed.
    let mut child = env
        .std_cmd()
        .args(["urls.txt", "-o", "out", "--overwrite"])
        .args(["--failed-out", "theirs", "--report", "link"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("fetchpool waited on a pipe it should have replaced");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        kind(&theirs).is_file(),
        "their pipe replaced, not written into"
    );
    assert!(kind(&env.join("link")).is_file(), "the link replaced");
    assert!(kind(&ours).is_fifo(), "the pipe it led to untouched");
}
