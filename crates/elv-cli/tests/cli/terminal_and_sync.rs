//! What reaches the terminal (names escaped, JSON exact, verbose lines, help), device and long-name outputs, --sync, the conformance runner and the README quick start.

use super::*;

/// A safetensors file with one f32 tensor named `name`.
fn one_tensor_file(name: &str) -> Vec<u8> {
    let header =
        serde_json::json!({ name: {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]} })
            .to_string();
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(&[0, 0, 0, 63, 0, 0, 128, 62]);
    f
}

#[test]
fn names_reach_the_terminal_escaped_and_json_exact() {
    let evil = "w\u{1b}[8m\nOK: every tensor within its stated bound\u{202e}";
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("evil.safetensors");
    std::fs::write(&st, one_tensor_file(evil)).unwrap();
    let z = dir.path().join("evil.elv");
    let o = run(&["compress", s(&st), "-o", s(&z), "-v"]);
    assert!(o.status.success());
    let outputs = [
        String::from_utf8_lossy(&o.stderr).into_owned(),
        String::from_utf8_lossy(&run(&["info", s(&z)]).stdout).into_owned(),
        String::from_utf8_lossy(&run(&["verify", s(&z), "--against", s(&st)]).stdout).into_owned(),
        String::from_utf8_lossy(&run(&["-d", s(&z), "-c", "-v"]).stderr).into_owned(),
    ];
    for text in &outputs {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert!(text.contains("w\\u{1b}[8m\\u{a}OK"), "{text:?}");
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("OK: every tensor within its stated bound\\")),
            "{text:?}"
        );
    }
    let json = run(&["info", s(&z), "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["tensors"][0]["name"], evil);
    // The sample's __metadata__ as the user's metadata; every stored pair in raw_metadata.
    let sample_info = run(&["compress", s(&sample()), "-o", s(&z), "-f", "-q"]);
    assert!(sample_info.status.success());
    let json = run(&["info", s(&z), "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(doc["metadata"]["source"]
        .as_str()
        .unwrap()
        .contains("MiniLM"));
    assert!(doc["metadata"].get("safetensors.header").is_none());
    assert!(doc["raw_metadata"]["safetensors.header"].is_string());
}

#[test]
fn decompress_verbose_prints_a_line_per_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("m.elv");
    assert!(run(&["compress", s(&sample()), "-o", s(&z), "-q"])
        .status
        .success());
    let o = run(&["decompress", s(&z), "-c", "-v"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success());
    assert_eq!(err.lines().count(), 7 + 1, "{err}");
    assert!(err.contains("encoder.layer.0.attention.self.query.weight"));
}

#[cfg(target_os = "linux")]
#[test]
fn a_device_output_is_refused_and_dev_null_needs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blk = dir.path().join("blk");
    let made = Command::new("mknod")
        .args([s(&blk), "b", "7", "250"])
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mknod needs root here");
        return;
    }
    let o = run(&["compress", s(&sample()), "-o", s(&blk)]);
    assert_one_line_error(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a regular file"));
    // /dev/null, named, needs no -f, and --sync does not fail on it.
    let input = sample();
    for sync in [&[][..], &["--sync"][..]] {
        let mut args = vec!["compress", s(&input), "-o", "/dev/null", "-q"];
        args.extend_from_slice(sync);
        assert!(run(&args).status.success(), "{args:?}");
    }
}

#[test]
fn output_names_up_to_255_bytes_work() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{}.elv", "m".repeat(251));
    let out = dir.path().join(&name);
    let o = run(&["compress", s(&sample()), "-o", s(&out), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(entries(dir.path()), [name]);
}

#[test]
fn completions_and_examples_in_help() {
    let o = run(&["completions", "bash"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("_elv"));
    let o = run(&["--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Examples:") && out.contains("elv -d model.elv"),
        "{out}"
    );
}

/// The fsync-family calls `elv ARGS` makes, seen by strace (None without strace).
fn syncs_of(args: &[&str], dir: &Path) -> Option<Vec<String>> {
    let trace = dir.join("trace.txt");
    let status = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,syncfs,sync_file_range",
            "-o",
        ])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_elv"))
        .args(args)
        .status()
        .ok()?;
    assert!(status.success());
    let text = std::fs::read_to_string(&trace).ok()?;
    std::fs::remove_file(&trace).ok()?;
    Some(text.lines().map(str::to_owned).collect())
}

/// Like gzip, zstd and xz, no fsync by default; `--sync` (and `--rm`, which must not lose the
/// only copy) syncs the output file and then its folder.
#[test]
fn sync_is_an_option_and_rm_always_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.elv");
    let Some(plain) = syncs_of(&["compress", s(&sample()), "-o", s(&out), "-q"], dir.path()) else {
        eprintln!("skipped: no strace on this machine (.ci/run installs it)");
        return;
    };
    assert!(plain.is_empty(), "synced without --sync: {plain:?}");
    std::fs::remove_file(&out).unwrap();
    let synced = syncs_of(
        &["compress", s(&sample()), "-o", s(&out), "-q", "--sync"],
        dir.path(),
    )
    .unwrap();
    let fsyncs = synced.iter().filter(|l| l.contains("fsync(")).count();
    assert!(fsyncs >= 2, "file and folder: {synced:?}");
    let x = sample_copy(dir.path(), "x.safetensors");
    let removed = syncs_of(&["compress", s(&x), "--rm", "-q"], dir.path()).unwrap();
    assert!(
        removed.iter().filter(|l| l.contains("fsync(")).count() >= 2,
        "{removed:?}"
    );
    assert!(!x.exists());
}

/// The conformance kit end to end: the language-neutral runner over every vector with the
/// reference decoder behind the protocol of SPEC.md §14.3.
#[test]
fn the_conformance_runner_passes_the_reference_decoder() {
    let runner = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/conformance.py");
    let o = Command::new("python3")
        .arg(runner)
        .arg(env!("CARGO_BIN_EXE_elv-conformance"))
        .output()
        .expect("python3 runs the conformance runner");
    let out = String::from_utf8_lossy(&o.stdout);
    let last = out.lines().last().unwrap_or_default();
    assert!(
        o.status.success() && last.ends_with(" passed, 0 failed"),
        "{out}"
    );
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 80, "{last}");
}

/// The README's quick-start commands, run as written (with `elv` for `cargo run ... --` and
/// a temporary folder for target/), from the repository root. CI also runs them verbatim
/// (`.ci/quickstart`).
#[test]
fn the_readme_quick_start_runs() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prefix = "cargo run --release -p elv-cli -- ";
    let commands: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .collect();
    assert!(commands.len() >= 7, "the quick start lost its commands");
    for c in commands {
        let args: Vec<String> = c
            .split_whitespace()
            .map(|a| match a.strip_prefix("target/") {
                Some(rest) => format!("{}/{rest}", dir.path().display()),
                None => a.to_string(),
            })
            .collect();
        let o = elv().args(&args).current_dir(&root).output().unwrap();
        assert!(
            o.status.success(),
            "{c}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// Errors print paths escaped too: an input named with an escape sequence, a C1 control or
/// a right-to-left override reaches the terminal as text.
#[test]
fn paths_in_errors_reach_the_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("x\u{1b}[2J\u{9b}y\u{202e}gpj.safetensors");
    std::fs::write(&name, b"not a model").unwrap();
    let o = run(&["compress", s(&name)]);
    assert_one_line_error(&o);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(!err.contains('\u{1b}') && !err.contains('\u{9b}') && !err.contains('\u{202e}'));
    assert!(err.contains("x\\u{1b}[2J\\u{9b}y\\u{202e}gpj"), "{err}");
}

/// A 5 KB file declaring 64 GiB is refused before anything is written when the disk has
/// less room (checked on /dev/shm, a small memory file system, where there is one).
#[test]
fn an_output_larger_than_the_free_space_fails_before_writing() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("skipped: no /dev/shm");
        return;
    }
    // Never where 64 GiB would fit: the test must not fill memory if the check failed.
    let df = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(shm)
        .output();
    let avail: Option<u64> = df
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.lines().nth(1).and_then(|l| l.trim().parse().ok()));
    if avail.is_none_or(|a| a >= 64 << 30) {
        eprintln!("skipped: /dev/shm free space unknown or 64 GiB or more");
        return;
    }
    let dir = tempfile::tempdir_in(shm).unwrap();
    let huge =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sample/declares_64gb.elv");
    let out = dir.path().join("out.safetensors");
    let o = run(&["decompress", s(&huge), "-o", s(&out)]);
    if o.status.success() {
        panic!("64 GiB written to /dev/shm?");
    }
    assert_one_line_error(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs 68.72 GB"), "{err}");
    assert!(entries(dir.path()).is_empty(), "nothing written");
}
