//! The reference decoder behind the conformance runner's protocol (SPEC.md §14.3):
//! `elv-conformance FILE` prints each tensor and metadata pair of a valid file, or
//! `error<TAB>KIND` and exits 1. `python3 testdata/conformance.py target/release/elv-conformance`
//! checks it; a third-party decoder implements the same few lines of output.

use elv::{ReadOptions, Reader};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: elv-conformance FILE.elv");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: {e}", path.to_string_lossy());
            return ExitCode::from(2);
        }
    };
    match describe(bytes) {
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
fn describe(bytes: Vec<u8>) -> elv::Result<Vec<String>> {
    let r = Reader::new(bytes, ReadOptions::default())?;
    elv::conformance::protocol_lines(&r)
}
