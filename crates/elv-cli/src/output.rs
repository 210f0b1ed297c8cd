//! Where inputs come from and outputs go: files (spooled stdin included), stdout, and the
//! rules that protect data (never the input, never an existing file without `-f`).

use elv::atomic::{self, OutputOptions};
use std::fs::File;
use std::io::{self, IsTerminal, Seek, Write};
use std::path::Path;

pub type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

pub fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Copies stdin into an unnamed temporary file (removed by the OS when closed, whatever
/// happens), so a piped input is read like a file in bounded memory: both formats need
/// random access (safetensors for trials and large tensors, `.elv` for its trailing index).
fn spool_stdin(check: &mut dyn FnMut(&mut File) -> Fallible<()>) -> Fallible<File> {
    let mut stdin = io::stdin().lock();
    if stdin.is_terminal() {
        return Err("stdin is a terminal; pipe a file in, or name one".into());
    }
    let mut f = tempfile::tempfile().map_err(|e| format!("temporary file for stdin: {e}"))?;
    // The first bytes are checked before the rest is copied: a wrong input is named at
    // once, not after all of it has been spooled to disk.
    let head = io::copy(&mut io::Read::take(&mut stdin, 64), &mut f)
        .map_err(|e| format!("copying stdin: {e}"))?;
    if head == 0 {
        return Err("stdin is empty: pipe a file in, or name one".into());
    }
    f.seek(io::SeekFrom::Start(0))?;
    check(&mut f)?;
    f.seek(io::SeekFrom::End(0))?;
    io::copy(&mut stdin, &mut f).map_err(|e| format!("copying stdin: {e}"))?;
    f.seek(io::SeekFrom::Start(0))?;
    Ok(f)
}

/// Opens an input: a file, or `-` for stdin spooled to a temporary file once `check` has
/// accepted its first bytes.
pub fn open_file(p: &Path, check: &mut dyn FnMut(&mut File) -> Fallible<()>) -> Fallible<File> {
    if is_stdio(p) {
        return spool_stdin(check);
    }
    let f = elv::sniff::open_regular(p, true)?;
    if f.metadata()?.is_dir() {
        return Err(format!("{} is a directory", p.display()).into());
    }
    Ok(f)
}

/// Writes `out` through `fill`: to stdout for `-` (never binary to a terminal unless
/// `force`), otherwise atomically (see [`atomic::write_atomic_with`]). Errors name the path.
pub fn write_output<T>(
    out: &Path,
    options: &OutputOptions,
    force: bool,
    fill: impl FnOnce(&mut (dyn Write + Send)) -> elv::Result<T>,
) -> Fallible<T> {
    if is_stdio(out) {
        let stdout = io::stdout();
        if stdout.is_terminal() && !force {
            return Err("refusing to write binary data to a terminal (use -o FILE, or -f)".into());
        }
        let mut w = io::BufWriter::with_capacity(1 << 20, stdout);
        let v = fill(&mut w)?;
        w.flush()?;
        return Ok(v);
    }
    atomic::write_atomic_with(out, options, |w| fill(w)).map_err(|e| {
        let text = match &e {
            elv::Error::Io(io) if io.kind() == io::ErrorKind::AlreadyExists => {
                format!("{io} (use -f to overwrite)")
            }
            elv::Error::Io(io) => format!("{}: {io}", out.display()),
            other => other.to_string(),
        };
        text.into()
    })
}
