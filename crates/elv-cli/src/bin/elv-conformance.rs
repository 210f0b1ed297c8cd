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
/// tensor decoded.
fn describe(bytes: Vec<u8>) -> elv::Result<Vec<String>> {
    let r = Reader::new(bytes, ReadOptions::default())?;
    r.verify()?;
    let mut lines = Vec::new();
    for t in r.iter() {
        let data = t.to_vec()?;
        let shape = match t.shape() {
            [] => "-".to_string(),
            s => s.iter().map(u64::to_string).collect::<Vec<_>>().join("x"),
        };
        lines.push(format!(
            "tensor\t{}\t{}\t{}\t{}\t{}\t{:016x}",
            escape(t.name()),
            t.dtype().name(),
            shape,
            t.encoding().name(),
            data.len(),
            fnv1a64(&data)
        ));
    }
    for (k, v) in r.metadata() {
        lines.push(format!("metadata\t{}\t{}", escape(k), escape(v)));
    }
    Ok(lines)
}

/// The manifest's escapes (SPEC.md §14.1).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn fnv1a64(d: &[u8]) -> u64 {
    d.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
