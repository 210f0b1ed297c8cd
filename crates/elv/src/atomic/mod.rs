//! Nothing lost: output goes to a file with no name (or a hidden temporary one) and gets its
//! name only when complete; an existing file is replaced only when asked; syncing to disk is
//! an option, as with gzip's `--synchronous`.

#[cfg(target_os = "linux")]
mod folder;
#[cfg(not(target_os = "linux"))]
#[path = "folder_by_path.rs"]
mod folder;
pub use folder::OutputFolder;

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
            if p.is_dir() {
                let _ = fs::remove_dir_all(p);
            } else {
                let _ = fs::remove_file(p);
            }
        }
    }
}

/// Registers (`on`) or forgets a temporary file or folder of the caller's (a folder output
/// being filled under a hidden name) for [`remove_temporaries`].
pub fn track_temporary(p: &Path, on: bool) {
    track(p, on)
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

/// How [`write_atomic_with`] places its output.
#[derive(Clone, Debug, Default)]
pub struct OutputOptions {
    /// Replace an existing regular file, or write to an existing block device (default
    /// false: such an output is an `AlreadyExists` error and is never touched).
    pub overwrite: bool,
    /// Make the output durable before returning: fsync the file and then its directory
    /// (default false: like gzip, zstd and xz, the kernel writes it back in its own time;
    /// the output still appears whole or not at all, as a process crash leaves nothing).
    pub sync: bool,
    /// Give the output the permission bits and modification time of this file (as gzip
    /// keeps its input's), instead of the defaults of a new file.
    pub like: Option<fs::Metadata>,
    /// Give the output this modification time (over `like`'s): a folder member's own,
    /// recorded when it was compressed.
    pub modified: Option<std::time::SystemTime>,
    /// The files being read: an output that is one of them (same device and inode, so a
    /// hard link or another name counts too) is refused, even with `overwrite`. Nothing
    /// ever writes over its own input.
    pub inputs: Vec<fs::Metadata>,
}

/// Whether `a` and `b` are one file (device and inode), whatever their names.
#[cfg(unix)]
pub fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Whether `a` and `b` are one file: never known here, so never claimed.
#[cfg(not(unix))]
pub fn same_file(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    false
}

/// Refuses `path` when it is one of `inputs` ([`OutputOptions::inputs`]).
fn refuse_input(
    path: &Path,
    existing: Option<&fs::Metadata>,
    inputs: &[fs::Metadata],
) -> crate::error::Result<()> {
    match existing {
        Some(out) if inputs.iter().any(|i| same_file(i, out)) => Err(input_refused(path)),
        _ => Ok(()),
    }
}

/// The refusal to write over one of the inputs at `path`.
fn input_refused(path: &Path) -> crate::error::Error {
    crate::error::Error::input(
        None,
        format!(
            "{}: is the input; an input is never written over, even when overwriting",
            path.display()
        ),
    )
}

/// An output path that will not be written: what is there, and why.
fn refused(path: &Path, why: &str) -> crate::error::Error {
    crate::error::Error::Io(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{}: {why}", path.display()),
    ))
}

/// Writes `path` through `fill` atomically: [`write_atomic_with`] without syncing and
/// without copying another file's permissions.
pub fn write_atomic<T>(
    path: &Path,
    overwrite: bool,
    fill: impl FnOnce(&mut BufWriter<SyncingFile>) -> crate::error::Result<T>,
) -> crate::error::Result<T> {
    let options = OutputOptions {
        overwrite,
        ..OutputOptions::default()
    };
    write_atomic_with(path, &options, fill)
}

/// Writes `path` through `fill` atomically. The output is written to a file with no name
/// (Linux `O_TMPFILE`: a crash, even `kill -9`, leaves nothing behind), or elsewhere to a
/// hidden temporary file beside `path` that is removed on any error; it is given its name
/// only once complete. Without `overwrite` an existing `path` is an `AlreadyExists` error
/// and is never touched (checked again at the final step, so a file that appears meanwhile
/// is not clobbered).
///
/// Outputs are regular files: an existing named pipe, socket or device at `path` is
/// refused like any existing file, or replaced (never opened) with `overwrite`. Only
/// `/dev/null`, named explicitly, is written in place (and not synced: there is nothing to
/// sync).
pub fn write_atomic_with<T>(
    path: &Path,
    options: &OutputOptions,
    fill: impl FnOnce(&mut BufWriter<SyncingFile>) -> crate::error::Result<T>,
) -> crate::error::Result<T> {
    let existing = fs::metadata(path).ok();
    refuse_input(path, existing.as_ref(), &options.inputs)?;
    if existing
        .as_ref()
        .is_some_and(|m| !m.is_file() && !m.is_dir())
    {
        if path == Path::new("/dev/null") {
            let file = fs::OpenOptions::new().write(true).open(path)?;
            let mut w = BufWriter::new(SyncingFile::new(file, false));
            let value = fill(&mut w)?;
            w.into_inner().map_err(|e| e.into_error())?.finish()?;
            return Ok(value);
        }
        if !options.overwrite {
            let what = "exists and is not a regular file (a pipe, socket or device); it is never written to, only replaced when overwriting";
            return Err(exists(path, what).into());
        }
    }
    if !options.overwrite && existing.is_some() {
        return Err(exists(path, "exists").into());
    }
    let dir = folder_of(path);
    let unnamed = unnamed::create(&dir);
    let (file, guard) = match unnamed {
        Some(file) => (file, TempGuard(None)),
        None => {
            let (tmp_path, file) = create_temp(&dir)?;
            track(&tmp_path, true);
            (file, TempGuard(Some(tmp_path)))
        }
    };
    let mut w = BufWriter::new(SyncingFile::new(file, options.sync));
    let value = fill(&mut w)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    if let Some(like) = &options.like {
        // The permission bits, never set-user-ID, set-group-ID or sticky: the output is ours
        // (root's, when root runs it), not the input owner's.
        file.file.set_permissions(plain_permissions(like))?;
        if let Ok(mtime) = like.modified() {
            file.file.set_modified(mtime)?;
        }
    }
    if let Some(mtime) = options.modified {
        file.file.set_modified(mtime)?;
    }
    let handle = file.finish()?;
    match &guard.0 {
        None => unnamed::link(&handle, &dir, path, options.overwrite)?,
        Some(tmp_path) if options.overwrite => fs::rename(tmp_path, path)?,
        Some(tmp_path) => {
            // hard_link fails if `path` exists: no window in which another file is clobbered.
            fs::hard_link(tmp_path, path).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => exists(path, "exists"),
                _ => e,
            })?;
            fs::remove_file(tmp_path)?;
        }
    }
    if let Some(p) = &guard.0 {
        track(p, false);
    }
    std::mem::forget(guard);
    if options.sync {
        File::open(&dir)?.sync_all()?;
    }
    Ok(value)
}

/// Fails early when the file system holding `dir` has less room than `need` bytes (what a
/// file declares it decodes to), instead of filling the disk before failing: a 2 MB file may
/// declare terabytes. Where the free space cannot be known, nothing is checked.
pub fn check_free_space(dir: &Path, need: u64) -> crate::error::Result<()> {
    let Some(free) = free_space(dir) else {
        return Ok(());
    };
    if need <= free {
        return Ok(());
    }
    let gb = |b: u64| b as f64 / 1e9;
    Err(crate::error::Error::Io(io::Error::new(
        io::ErrorKind::StorageFull,
        format!(
            "{}: the output needs {:.2} GB and the disk has {:.2} GB free",
            dir.display(),
            gb(need),
            gb(free)
        ),
    )))
}

#[cfg(target_os = "linux")]
fn free_space(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    st.f_bavail.checked_mul(st.f_frsize)
}

#[cfg(not(target_os = "linux"))]
fn free_space(_: &Path) -> Option<u64> {
    None
}

/// `like`'s permissions without the set-user-ID, set-group-ID and sticky bits.
#[cfg(unix)]
fn plain_permissions(like: &fs::Metadata) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(like.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn plain_permissions(like: &fs::Metadata) -> fs::Permissions {
    like.permissions()
}

fn exists(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{} {what}", path.display()),
    )
}

/// Files with no name until they are complete (Linux `O_TMPFILE`), linked into place.
#[cfg(target_os = "linux")]
mod unnamed {
    use rustix::fs::{linkat, openat, AtFlags, Mode, OFlags, CWD};
    use std::fs::File;
    use std::io;
    use std::path::Path;

    /// An unnamed file in `dir`, or `None` where the filesystem or kernel has no
    /// `O_TMPFILE` (or `/proc` is missing, so it could not be linked later).
    pub(super) fn create(dir: &Path) -> Option<File> {
        if !Path::new("/proc/self/fd").is_dir() {
            return None;
        }
        let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
        let fd = openat(CWD, dir, flags, Mode::from_raw_mode(0o644)).ok()?;
        Some(File::from(fd))
    }

    /// Gives the unnamed `file` the name `path` (in `dir`): directly when it must not
    /// replace anything (`linkat` fails if `path` exists), or through a short-lived hidden
    /// name renamed over `path`.
    pub(super) fn link(file: &File, dir: &Path, path: &Path, overwrite: bool) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let link_to = |to: &Path| linkat(CWD, proc_path.as_str(), CWD, to, AtFlags::SYMLINK_FOLLOW);
        if !overwrite {
            return link_to(path).map_err(|e| {
                if e == rustix::io::Errno::EXIST {
                    super::exists(path, "exists")
                } else {
                    io::Error::from(e)
                }
            });
        }
        let (tmp, ()) = super::at_free_temp_name(dir, |p| link_to(p).map_err(io::Error::from))?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod unnamed {
    use std::fs::File;
    use std::io;
    use std::path::Path;

    pub(super) fn create(_: &Path) -> Option<File> {
        None
    }

    pub(super) fn link(_: &File, _: &Path, _: &Path, _: bool) -> io::Result<()> {
        Err(io::Error::other("no unnamed files on this platform"))
    }
}

/// Bytes written between background flushes of a [`SyncingFile`].
const SYNC_AHEAD_BYTES: u64 = 8 << 20;

/// A file being written whose finished part is flushed to disk by a background thread every
/// few MiB, so the sync before the rename waits only for the tail instead of the whole file.
pub struct SyncingFile {
    file: File,
    /// Whether the output is to be made durable.
    sync: bool,
    since_flush: u64,
    ahead: Option<(SyncSender<()>, JoinHandle<()>)>,
    /// The first error a background flush saw: it must not be lost, because the kernel reports
    /// a write-back error to only one sync of an open file.
    error: Arc<Mutex<Option<io::Error>>>,
}

impl SyncingFile {
    /// Writes to `file`; with `sync`, the finished part is flushed to disk in the background
    /// and the whole file synced by [`finish`](Self::finish).
    fn new(file: File, sync: bool) -> Self {
        let error = Arc::new(Mutex::new(None));
        let ahead = file.try_clone().ok().filter(|_| sync).and_then(|clone| {
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
            sync,
            since_flush: 0,
            ahead,
            error,
        }
    }

    /// Stops the background thread and, when syncing, syncs the whole file; reports any
    /// write-back error. Gives back the file.
    fn finish(mut self) -> io::Result<File> {
        if let Some((tx, handle)) = self.ahead.take() {
            drop(tx);
            let _ = handle.join();
        }
        let earlier = self.error.lock().ok().and_then(|mut e| e.take());
        if let Some(e) = earlier {
            return Err(e);
        }
        if self.sync {
            self.file.sync_all()?;
        }
        Ok(self.file)
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

/// A hidden temporary name, short enough beside any legal file name.
fn temp_name(attempt: u32) -> String {
    format!(".elv-tmp.{}.{attempt}", std::process::id())
}

/// Runs `make` on hidden temporary names in `dir` until one is free (`make` fails with
/// `AlreadyExists` on a taken one); gives the name used and what `make` made.
fn at_free_temp_name<T>(
    dir: &Path,
    mut make: impl FnMut(&Path) -> io::Result<T>,
) -> io::Result<(PathBuf, T)> {
    for attempt in 0..1000u32 {
        let p = dir.join(temp_name(attempt));
        match make(&p) {
            Ok(v) => return Ok((p, v)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary name",
    ))
}

/// The folder `path` is in (`.` for a bare name).
pub fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A new, empty folder with a hidden temporary name in the folder of `path`: for output that
/// is a folder, filled and then renamed to `path` (register it with [`track_temporary`]).
pub fn create_temp_folder(path: &Path) -> io::Result<PathBuf> {
    at_free_temp_name(&folder_of(path), |p| fs::create_dir(p)).map(|(p, ())| p)
}

fn create_temp(dir: &Path) -> io::Result<(PathBuf, File)> {
    at_free_temp_name(dir, |p| {
        fs::OpenOptions::new().write(true).create_new(true).open(p)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The one rule that keeps every output off its input: by device and inode, so another
    /// name or a hard link counts, and even when overwriting.
    #[test]
    fn an_input_is_never_written_over() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("model.elv");
        fs::write(&input, b"the input").unwrap();
        let link = dir.path().join("other-name.elv");
        fs::hard_link(&input, &link).unwrap();
        let options = OutputOptions {
            overwrite: true,
            inputs: vec![fs::metadata(&input).unwrap()],
            ..OutputOptions::default()
        };
        for out in [&input, &link] {
            let e = write_atomic_with(out, &options, |w| Ok(w.write_all(b"output")?)).unwrap_err();
            assert!(e.to_string().contains("is the input"), "{e}");
        }
        assert_eq!(fs::read(&input).unwrap(), b"the input");
        let elsewhere = dir.path().join("out.elv");
        write_atomic_with(&elsewhere, &options, |w| Ok(w.write_all(b"output")?)).unwrap();
        assert_eq!(fs::read(&elsewhere).unwrap(), b"output");
    }
}
