//! What the pool buys you, on any machine, with no internet: starts a loopback HTTP server that
//! answers every request after an artificial delay, writes a list, and runs fetchpool over it
//! once with `--serial` and once with `-j 8`. Each run draws its `--timeline`, both on one time
//! scale: `serial.svg` and `pool.svg` in `target/<profile>/demo/` (or `--pictures DIR`).
//!
//!     cargo run --release --example demo
//!     cargo run --release --example demo -- --files 16 --delay-ms 500 --jobs 8
//!
//! The server is the one the integration tests use (tests/support/server.rs), bound to
//! 127.0.0.1 on a free port.

#[path = "../tests/support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use server::{Reply, Server};

struct Args {
    files: usize,
    delay_ms: u64,
    jobs: usize,
    size: usize,
    /// Where the two timelines go; `None`: beside the binary, in `demo/`.
    pictures: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        files: 48,
        delay_ms: 250,
        jobs: 8,
        size: 16 * 1024,
        pictures: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name}: '{v}' is not a number"))
        };
        match flag.as_str() {
            "--files" => args.files = value("--files")? as usize,
            "--delay-ms" => args.delay_ms = value("--delay-ms")?,
            "--jobs" => args.jobs = value("--jobs")? as usize,
            "--size" => args.size = value("--size")? as usize,
            "--pictures" => {
                args.pictures = Some(it.next().ok_or("--pictures needs a directory")?.into())
            }
            "-h" | "--help" => {
                return Err(
                    "usage: demo [--files N] [--delay-ms MS] [--jobs J] [--size BYTES] [--pictures DIR]"
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
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let urls: Vec<String> = (0..args.files)
        .map(|i| server.url(&format!("/file-{i:03}.bin")))
        .collect();
    let list = dir.path().join("urls.txt");
    std::fs::write(&list, urls.join("\n") + "\n").map_err(|e| e.to_string())?;

    println!(
        "{} files of {} bytes, each answered after {} ms by a server on 127.0.0.1:{}",
        args.files,
        args.size,
        args.delay_ms,
        server.port()
    );
    let pictures = match &args.pictures {
        Some(dir) => dir.clone(),
        None => binary.with_file_name("demo"),
    };
    std::fs::create_dir_all(&pictures)
        .map_err(|e| format!("cannot create {}: {e}", pictures.display()))?;
    let (serial_svg, pool_svg) = (pictures.join("serial.svg"), pictures.join("pool.svg"));
    let serial_out = dir.path().join("serial");
    let timeline = serial_svg.to_string_lossy();
    let serial = time_run(
        &binary,
        &list,
        &serial_out,
        &["--serial", "--timeline", &timeline],
    )?;
    let jobs = args.jobs.to_string();
    // The pool's picture on the serial run's scale, so its rows' length against the serial
    // row's is the speed-up.
    let axis = format!("{:.3}", serial.as_secs_f64());
    let timeline = pool_svg.to_string_lossy();
    let pool = time_run(
        &binary,
        &list,
        &dir.path().join("pool"),
        &[
            "-j",
            &jobs,
            "--timeline",
            &timeline,
            "--timeline-axis",
            &axis,
        ],
    )?;
    let ideal = args.files.div_ceil(args.jobs) as f64 * delay.as_secs_f64();
    println!();
    println!("  --serial   {:>7.2} s", serial.as_secs_f64());
    println!(
        "  -j {:<7} {:>7.2} s   (ideal {:.2} s: {} waves of {} ms; {:.2}x the ideal)",
        args.jobs,
        pool.as_secs_f64(),
        ideal,
        args.files.div_ceil(args.jobs),
        args.delay_ms,
        pool.as_secs_f64() / ideal
    );
    println!(
        "  speed-up   {:>7.2}x",
        serial.as_secs_f64() / pool.as_secs_f64()
    );
    println!();
    println!("  timelines, on one time scale (open them in a browser; hover a bar):");
    println!("    {}", serial_svg.display());
    println!("    {}", pool_svg.display());
    Ok(())
}

/// Runs fetchpool once, checks it succeeded, and returns the wall time.
fn time_run(binary: &Path, list: &Path, out: &Path, extra: &[&str]) -> Result<Duration, String> {
    println!(
        "\n$ fetchpool urls.txt {} -o {}",
        extra.join(" "),
        out.display()
    );
    let started = Instant::now();
    let output = Command::new(binary)
        .arg(list)
        .arg("-o")
        .arg(out)
        .args(["-q", "--progress", "never"])
        .args(extra)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        return Err(format!(
            "fetchpool failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let files = std::fs::read_dir(out).map_err(|e| e.to_string())?.count();
    println!("  {files} files on disk in {:.2} s", elapsed.as_secs_f64());
    Ok(elapsed)
}

/// Examples do not get the package's binary built for them, so build it with the same profile
/// as this example and return its path.
fn build_fetchpool() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/examples/demo → target/<profile>/fetchpool
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot locate the target directory")?;
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--bin", "fetchpool"]);
    if release {
        build.arg("--release");
    }
    // Say what the wait is for; cargo's own progress follows on stderr.
    eprintln!(
        "demo: building the fetchpool binary (cargo build{} --bin fetchpool); a first release \
         build takes a minute or two",
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
