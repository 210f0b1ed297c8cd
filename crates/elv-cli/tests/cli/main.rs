//! The `elv` command end to end, spawned as a process: round trips on real weights,
//! overwrite refusal, `-` pipes, one-line errors with a non-zero exit, and no partial output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub(crate) fn elv() -> Command {
    Command::new(env!("CARGO_BIN_EXE_elv"))
}

fn sample() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/sample/minilm_sample.safetensors"
    ))
}

fn run(args: &[&str]) -> Output {
    elv().args(args).output().unwrap()
}

fn piped(args: &[&str], input: &[u8]) -> Output {
    let mut child = elv()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn assert_one_line_error(o: &Output) {
    assert!(!o.status.success(), "must fail");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("elv: error: "), "{err:?}");
}

/// A copy of the sample model at `dir/name`.
fn sample_copy(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(sample(), &p).unwrap();
    p
}

mod many_inputs;
mod one_input;
mod terminal_and_sync;
