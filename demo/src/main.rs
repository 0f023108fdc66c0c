//! What the pool buys you, on any machine, with no internet: starts a loopback HTTP server that
//! answers every request after an artificial delay, writes a list, and runs fetchpool over it
//! once with `--serial` and once with `-j 8`, showing fetchpool's own report lines and summary.
//! Each run draws its `--timeline`, both on one time scale. Everything is left in
//! `target/release/demo/` (or `--dir DIR`): the list, both runs' files and pictures, so the
//! commands it prints can be run again while it keeps the server up.
//!
//!     cargo run --release -p fetchpool-demo
//!     cargo run --release -p fetchpool-demo -- --files 16 --delay-ms 500 --jobs 8
//!
//! The server is the one the integration tests use (tests/support/server.rs), bound to
//! 127.0.0.1 on a free port. The demo depends on two small crates only: the one long build is
//! fetchpool's.

#[path = "../../tests/support/server.rs"]
mod server;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use server::{Reply, Server};

struct Args {
    files: usize,
    delay_ms: u64,
    jobs: usize,
    size: usize,
    /// Where the list, the files and the pictures go; `None`: beside the binary, in `demo/`.
    dir: Option<PathBuf>,
}

/// Report lines of each run shown before the rest are counted.
const SHOWN: usize = 4;

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        files: 48,
        delay_ms: 250,
        jobs: 8,
        size: 16 * 1024,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name}: '{v}' is not a number"))
        };
        match flag.as_str() {
            "--files" => args.files = value("--files")?.max(1) as usize,
            "--delay-ms" => args.delay_ms = value("--delay-ms")?,
            "--jobs" => args.jobs = value("--jobs")?.max(1) as usize,
            "--size" => args.size = value("--size")? as usize,
            // --pictures: its name before the demo kept its list and files there too.
            "--dir" | "--pictures" => {
                args.dir = Some(it.next().ok_or("--dir needs a directory")?.into())
            }
            "-h" | "--help" => {
                return Err(
                    "usage: fetchpool-demo [--files N] [--delay-ms MS] [--jobs J] [--size BYTES] [--dir DIR]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument '{other}' (try --help)")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let binary = build_fetchpool()?;
    let delay = Duration::from_millis(args.delay_ms);
    let size = args.size;
    let server = Server::start(move |_| Reply::ok(vec![b'x'; size]).delay(delay));
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => binary.with_file_name("demo"),
    };
    let dir = relative(&dir);
    // The demo's own directory: the files of its last run go, so this one starts afresh.
    for old in ["serial", "pool"] {
        let old = dir.join(old);
        if old.is_dir() {
            std::fs::remove_dir_all(&old)
                .map_err(|e| format!("cannot remove {}: {e}", old.display()))?;
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let urls: Vec<String> = (0..args.files)
        .map(|i| server.url(&format!("/file-{i:03}.bin")))
        .collect();
    let list = dir.join("urls.txt");
    std::fs::write(&list, urls.join("\n") + "\n").map_err(|e| e.to_string())?;

    println!(
        "{} files of {} bytes, each answered after {} ms by a server on 127.0.0.1:{}",
        args.files,
        args.size,
        args.delay_ms,
        server.port()
    );
    let fetchpool = relative(&binary);
    let (serial_svg, pool_svg) = (dir.join("serial.svg"), dir.join("pool.svg"));
    let serial_svg = serial_svg.to_string_lossy();
    let serial = time_run(
        &fetchpool,
        &list,
        &dir.join("serial"),
        &["--serial", "--timeline", &serial_svg],
    )?;
    let jobs = args.jobs.to_string();
    // The pool's picture on the serial run's scale, so its rows' length against the serial
    // row's shows what the pool bought.
    let axis = format!("{:.3}", serial.as_secs_f64());
    let pool_svg = pool_svg.to_string_lossy();
    let pool = time_run(
        &fetchpool,
        &list,
        &dir.join("pool"),
        &[
            "-j",
            &jobs,
            "--timeline",
            &pool_svg,
            "--timeline-axis",
            &axis,
        ],
    )?;
    let waves = args.files.div_ceil(args.jobs);
    let ideal = waves as f64 * delay.as_secs_f64();
    println!();
    println!("  --serial   {:>7.2} s", serial.as_secs_f64());
    println!(
        "  -j {:<7} {:>7.2} s   (ideal {:.2} s: {waves} waves of {} ms; {:.2}x the ideal)",
        args.jobs,
        pool.as_secs_f64(),
        ideal,
        args.delay_ms,
        pool.as_secs_f64() / ideal
    );
    println!();
    println!("  timelines, on one time scale (open them in a browser; hover a bar):");
    println!("    {serial_svg}");
    println!("    {pool_svg}");
    keep_serving(&server);
    Ok(())
}

/// On a terminal, keeps the server up until Enter, so the commands shown can be run again.
fn keep_serving(server: &Server) {
    if !std::io::stdin().is_terminal() {
        return;
    }
    println!();
    println!(
        "The server stays up on 127.0.0.1:{} until you press Enter: run a command above again in",
        server.port()
    );
    println!("another terminal (add --overwrite, or --skip-existing: the files are there now).");
    let _ = std::io::stdin().read_line(&mut String::new());
}

/// Runs fetchpool once, as the printed command says, checks it succeeded, shows its first
/// report lines and its summary, and returns the wall time.
fn time_run(binary: &Path, list: &Path, out: &Path, extra: &[&str]) -> Result<Duration, String> {
    println!(
        "\n$ {} {} -o {} {}",
        binary.display(),
        list.display(),
        out.display(),
        extra.join(" ")
    );
    let started = Instant::now();
    let output = Command::new(binary)
        .arg(list)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "fetchpool failed ({}):\n{stdout}{stderr}",
            output.status
        ));
    }
    let lines: Vec<&str> = stdout.lines().collect();
    for line in lines.iter().take(SHOWN) {
        println!("{line}");
    }
    if lines.len() > SHOWN {
        println!(
            "... ({} more lines like these, in list order)",
            lines.len() - SHOWN
        );
    }
    // The summary line: the last on stderr (progress lines, on no terminal, come before it).
    if let Some(summary) = stderr.lines().rev().find(|l| !l.trim().is_empty()) {
        println!("{summary}");
    }
    Ok(elapsed)
}

/// `path` relative to the working directory when it is below it, as a user would type it.
fn relative(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().ok();
    match cwd.as_deref().and_then(|cwd| path.strip_prefix(cwd).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => path.to_path_buf(),
    }
}

/// A binary of another package does not get built for this one, so ask cargo for fetchpool,
/// with the same profile as this demo, and return its path. cargo compiles fetchpool's
/// dependencies here, once: the demo's own are two small crates.
fn build_fetchpool() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/fetchpool-demo → target/<profile>/fetchpool
    let profile_dir = exe.parent().ok_or("cannot locate the target directory")?;
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "fetchpool", "--bin", "fetchpool"]);
    if release {
        build.arg("--release");
    }
    // Say what the wait is for; cargo's own progress follows on stderr.
    eprintln!(
        "demo: building fetchpool (cargo build{} -p fetchpool); a first build compiles its \
         dependencies and takes about two minutes on two cores",
        if release { " --release" } else { "" }
    );
    let status = build
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building fetchpool failed".into());
    }
    Ok(profile_dir.join("fetchpool"))
}
