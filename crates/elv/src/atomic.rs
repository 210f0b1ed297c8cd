//! Nothing lost: output goes to a temporary file beside the target, is synced, then renamed
//! into place; an existing file is replaced only when asked.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

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
///
/// An existing `path` that is not a regular file or a directory (`/dev/null`, a named pipe, a
/// terminal) is written in place: renaming a file over it would replace the device node
/// itself, and there is no data in it to lose.
pub fn write_atomic<T>(
    path: &Path,
    overwrite: bool,
    fill: impl FnOnce(&mut BufWriter<SyncingFile>) -> crate::Result<T>,
) -> crate::Result<T> {
    if fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let file = fs::OpenOptions::new().write(true).open(path)?;
        let mut w = BufWriter::new(SyncingFile::unsynced(file));
        let value = fill(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.finish()?;
        return Ok(value);
    }
    if !overwrite && path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists", path.display()),
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
    let mut w = BufWriter::new(SyncingFile::new(file));
    let value = fill(&mut w)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.finish()?;
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

/// Bytes written between background flushes of a [`SyncingFile`].
const SYNC_AHEAD_BYTES: u64 = 8 << 20;

/// A file being written whose finished part is flushed to disk by a background thread every
/// few MiB, so the sync before the rename waits only for the tail instead of the whole file.
pub struct SyncingFile {
    file: File,
    /// False for a device or pipe written in place: nothing to sync.
    sync: bool,
    since_flush: u64,
    ahead: Option<(SyncSender<()>, JoinHandle<()>)>,
    /// The first error a background flush saw: it must not be lost, because the kernel reports
    /// a write-back error to only one sync of an open file.
    error: Arc<Mutex<Option<io::Error>>>,
}

impl SyncingFile {
    fn new(file: File) -> Self {
        let error = Arc::new(Mutex::new(None));
        let ahead = file.try_clone().ok().and_then(|clone| {
            let (tx, rx) = sync_channel::<()>(1);
            let seen = Arc::clone(&error);
            std::thread::Builder::new()
                .name("elv-sync".into())
                .spawn(move || {
                    for () in rx {
                        if let Err(e) = clone.sync_data() {
                            if let Ok(mut slot) = seen.lock() {
                                slot.get_or_insert(e);
                            }
                        }
                    }
                })
                .ok()
                .map(|h| (tx, h))
        });
        SyncingFile {
            file,
            sync: true,
            since_flush: 0,
            ahead,
            error,
        }
    }

    /// Writes to `file` without syncing it (a device or a pipe).
    fn unsynced(file: File) -> Self {
        SyncingFile {
            file,
            sync: false,
            since_flush: 0,
            ahead: None,
            error: Arc::new(Mutex::new(None)),
        }
    }

    /// Stops the background thread and syncs the whole file; reports any write-back error.
    fn finish(mut self) -> io::Result<()> {
        if let Some((tx, handle)) = self.ahead.take() {
            drop(tx);
            let _ = handle.join();
        }
        let earlier = self.error.lock().ok().and_then(|mut e| e.take());
        if let Some(e) = earlier {
            return Err(e);
        }
        if !self.sync {
            return Ok(());
        }
        self.file.sync_all()
    }
}

impl Write for SyncingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since_flush += n as u64;
        if self.since_flush >= SYNC_AHEAD_BYTES {
            self.since_flush = 0;
            if let Some((tx, _)) = &self.ahead {
                // A flush already pending covers these bytes too.
                let _ = tx.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
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
