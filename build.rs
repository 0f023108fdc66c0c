//! fetchpool is built for Linux only: it reaches every file through directory descriptors with
//! `openat`/`renameat2(RENAME_NOREPLACE)`, locks `.part` files with `flock`, and keeps versions in
//! user extended attributes, as Linux has them. On any other target the build stops here, with
//! this one message, rather than with the type errors the Linux-only calls would bring.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" {
        println!(
            "cargo::error=fetchpool runs on Linux only (it needs openat, renameat2 with \
             RENAME_NOREPLACE, flock and user extended attributes); this build is for '{os}'. \
             Build it on Linux, or for a Linux target (cargo build --target \
             x86_64-unknown-linux-gnu), and run it in a Linux container or VM elsewhere."
        );
    }
}
