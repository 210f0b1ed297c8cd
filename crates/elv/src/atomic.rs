//! Nothing lost: output goes to a temporary file beside the target, is synced, then renamed
//! into place; an existing file is replaced only when asked.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary files being written right now, so a signal handler can remove them.
static IN_PROGRESS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every temporary file still being written. For a signal handler (the `elv`
/// command calls it on SIGINT/SIGTERM before exiting), so an interrupt leaves nothing behind.
pub fn remove_temporaries() {
    if let Ok(mut v) = IN_PROGRESS.lock() {
        for p in v.drain(..) {
            let _ = fs::remove_file(p);
        }
    }
}

fn track(p: &Path, on: bool) {
    if let Ok(mut v) = IN_PROGRESS.lock() {
        if on {
            v.push(p.to_path_buf());
        } else {
            v.retain(|x| x != p);
        }
    }
}

/// Writes `path` through `fill` atomically. With `overwrite` false an existing `path` is an
/// `AlreadyExists` error and is never touched (checked again at the final step, so a file
/// that appears meanwhile is not clobbered). On any error the temporary file is removed.
pub fn write_atomic<T>(
    path: &Path,
    overwrite: bool,
    fill: impl FnOnce(&mut BufWriter<File>) -> crate::Result<T>,
) -> crate::Result<T> {
    if !overwrite && path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists (use --force to overwrite)", path.display()),
        )
        .into());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let (tmp_path, file) = create_temp(&dir, &name)?;
    track(&tmp_path, true);
    let guard = TempGuard(Some(tmp_path.clone()));
    let mut w = BufWriter::new(file);
    let value = fill(&mut w)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    if overwrite {
        fs::rename(&tmp_path, path)?;
    } else {
        // hard_link fails if `path` exists: no window in which another file is clobbered.
        fs::hard_link(&tmp_path, path)?;
        fs::remove_file(&tmp_path)?;
    }
    track(&tmp_path, false);
    std::mem::forget(guard);
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(value)
}

fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    for attempt in 0..1000u32 {
        let p = dir.join(format!(".{name}.tmp{pid}.{attempt}"));
        match fs::OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "could not create a temporary file",
    ))
}

struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(&p);
            track(&p, false);
        }
    }
}

/// Flushes a writer, for use at the end of a `fill` closure.
pub fn flush(w: &mut impl Write) -> io::Result<()> {
    w.flush()
}
