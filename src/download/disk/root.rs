//! The output directory itself: created when missing, opened once a run (following a link there:
//! the user named it), and checked to take new files before any request is made. Everything
//! below it is reached from this descriptor (`place`).

use std::io;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustix::fs::{Mode, OFlags};

use super::at::Dir;

/// Creates the output directory if it is missing (with its parents) and opens it, once a run
/// (following a link there: the user named it). A directory this process cannot create files
/// in is a fatal error here, before any request is made.
pub fn open_root(output_dir: &Path) -> anyhow::Result<Dir> {
    if let Some(root) = open_existing_root(output_dir)? {
        return Ok(root);
    }
    std::fs::create_dir_all(output_dir).with_context(|| {
        format!(
            "cannot create the output directory {}",
            output_dir.display()
        )
    })?;
    open_existing_root(output_dir)?
        .with_context(|| format!("{} vanished as it was created", output_dir.display()))
}

/// Opens the output directory if it exists (`None` if not), and checks that files can be
/// created in it; creates nothing.
pub fn open_existing_root(output_dir: &Path) -> anyhow::Result<Option<Dir>> {
    let shown = output_dir.display();
    match std::fs::metadata(output_dir) {
        Ok(meta) if !meta.is_dir() => {
            anyhow::bail!(
                "cannot use {shown} as the output directory: it is not a directory (-o names the \
                 directory files go to; curl's -o FILE is out=FILE after the URL in a list)"
            )
        }
        Ok(_) => {}
        // Missing, or a file on the way: creating it says which.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot use the output directory {shown}"));
        }
    }
    let fd = rustix::fs::open(
        output_dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)
    .with_context(|| format!("cannot open the output directory {shown}"))?;
    rustix::fs::accessat(
        &fd,
        ".",
        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
        rustix::fs::AtFlags::EACCESS,
    )
    .map_err(io::Error::from)
    .with_context(|| format!("cannot write to the output directory {shown}"))?;
    Ok(Some(Arc::new(fd)))
}
