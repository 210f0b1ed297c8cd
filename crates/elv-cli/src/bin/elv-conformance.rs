//! The reference decoder behind the conformance runner's protocol (SPEC.md §14.3):
//! `elv-conformance [--base BASE] FILE` prints each tensor, member and metadata pair of a
//! valid file, or `error<TAB>KIND` and exits 1. `python3 testdata/conformance.py
//! target/release/elv-conformance` checks it; a third-party decoder implements the same few
//! lines of output.

use elv::{BaseModel, ReadOptions, Reader};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut base = None;
    if args.first().is_some_and(|a| a == "--base") && args.len() == 3 {
        base = Some(args.remove(1));
        args.remove(0);
    }
    let Some(path) = args.first().cloned().filter(|_| args.len() == 1) else {
        eprintln!("usage: elv-conformance [--base BASE] FILE.elv");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: {e}", path.to_string_lossy());
            return ExitCode::from(2);
        }
    };
    match describe(bytes, base.as_deref()) {
        Ok(lines) => {
            let mut out = std::io::stdout().lock();
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let kind = e.kind().map_or("Io", |k| k.name());
            println!("error\t{kind}");
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// A full reader's view of the file (§15): opened, verified (padding, every CRC), every
/// tensor decoded, in the protocol's lines.
fn describe(bytes: Vec<u8>, base: Option<&std::ffi::OsStr>) -> elv::Result<Vec<String>> {
    let mut r = Reader::new(bytes, ReadOptions::default())?;
    if let Some(b) = base {
        r = r.with_base(BaseModel::open(b)?);
    }
    elv::conformance::protocol_lines(&r)
}
