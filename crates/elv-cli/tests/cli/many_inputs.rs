//! Several inputs and the input's safety: outputs per input, failures reported, the input never written over, permissions and times kept, --rm, stdout, threads and levels, the list/test/version verbs, wrong inputs named.

use super::*;

#[test]
fn several_inputs_each_get_their_own_output_and_d_decompresses() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample_copy(dir.path(), "a.safetensors");
    let b = sample_copy(dir.path(), "b.safetensors");
    let o = run(&["compress", s(&a), s(&b), "-q", "--lossless"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.path().join("a.elv").exists() && dir.path().join("b.elv").exists());
    // -o names one output: with two inputs, one collection of both (issue #16).
    let x = dir.path().join("x.elv");
    let o = run(&["compress", s(&a), s(&b), "-o", s(&x), "-q", "--lossless"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let back = dir.path().join("x_back");
    let o = run(&["-d", s(&x), "-o", s(&back), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for n in ["a.safetensors", "b.safetensors"] {
        assert_eq!(
            std::fs::read(back.join(n)).unwrap(),
            std::fs::read(sample()).unwrap()
        );
    }
    std::fs::remove_file(&a).unwrap();
    std::fs::remove_file(&b).unwrap();
    let o = run(&[
        "-d",
        s(&dir.path().join("a.elv")),
        s(&dir.path().join("b.elv")),
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for n in ["a.safetensors", "b.safetensors"] {
        assert_eq!(
            std::fs::read(dir.path().join(n)).unwrap(),
            std::fs::read(sample()).unwrap()
        );
    }
}

#[test]
fn a_failing_input_is_reported_and_the_others_still_convert() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.txt");
    std::fs::write(&bad, "not a model\n").unwrap();
    let good = sample_copy(dir.path(), "good.safetensors");
    let o = run(&["compress", s(&bad), s(&good), "-q"]);
    assert_one_line_error(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("notes.txt: a text file"), "{err}");
    assert!(dir.path().join("good.elv").exists());
}

/// A named pipe among the inputs, or as `--base`, is refused at once: opening it to read
/// would block until someone wrote to it.
#[test]
fn a_pipe_among_the_inputs_or_as_base_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.safetensors");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|st| st.success()) {
        eprintln!("no mkfifo here; skipped");
        return;
    }
    let a = sample_copy(dir.path(), "a.safetensors");
    let b = sample_copy(dir.path(), "b.safetensors");
    let o = run(&["compress", "-q", s(&a), s(&fifo), s(&b)]);
    assert_one_line_error(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a regular file"), "{err}");
    assert!(dir.path().join("a.elv").exists() && dir.path().join("b.elv").exists());
    let o = run(&[
        "compress",
        "-q",
        "--base",
        s(&fifo),
        s(&a),
        "-o",
        "/dev/null",
    ]);
    assert_one_line_error(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a regular file"));
}

#[test]
fn the_input_is_never_written_over_even_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let x = sample_copy(dir.path(), "x.safetensors");
    let o = run(&["compress", s(&x), "-o", s(&x), "-f"]);
    assert_one_line_error(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("is the input"));
    // A hard link is the same file under another name.
    let y = dir.path().join("y.elv");
    std::fs::hard_link(&x, &y).unwrap();
    let o = run(&["compress", s(&x), "-o", s(&y), "-f"]);
    assert_one_line_error(&o);
    assert!(std::fs::read(&x).unwrap() == std::fs::read(sample()).unwrap());
    // extract reads the .elv it would write over.
    let z = dir.path().join("z.elv");
    assert!(run(&["compress", s(&x), "-o", s(&z), "-q"])
        .status
        .success());
    let before = std::fs::read(&z).unwrap();
    let o = run(&[
        "extract",
        s(&z),
        "embeddings.position_ids",
        "-o",
        s(&z),
        "-f",
    ]);
    assert_one_line_error(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("is the input"));
    assert!(std::fs::read(&z).unwrap() == before, "the input is intact");
}

#[cfg(unix)]
#[test]
fn outputs_keep_the_inputs_permissions_and_mtime() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let x = sample_copy(dir.path(), "private.safetensors");
    std::fs::set_permissions(&x, std::fs::Permissions::from_mode(0o600)).unwrap();
    let then = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    std::fs::File::options()
        .write(true)
        .open(&x)
        .unwrap()
        .set_modified(then)
        .unwrap();
    let z = dir.path().join("private.elv");
    assert!(run(&["compress", s(&x), "-q"]).status.success());
    let back = dir.path().join("back.safetensors");
    assert!(run(&["decompress", s(&z), "-o", s(&back), "-q"])
        .status
        .success());
    for p in [&z, &back] {
        let m = std::fs::metadata(p).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{}", p.display());
        assert_eq!(m.modified().unwrap(), then, "{}", p.display());
    }
}

/// An input's set-user-ID and set-group-ID bits are not carried over: run as root on
/// another user's 6755 file, they would make a root-owned setuid output.
#[test]
fn setuid_and_setgid_bits_are_not_copied_to_the_output() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let x = sample_copy(dir.path(), "odd.safetensors");
    std::fs::set_permissions(&x, std::fs::Permissions::from_mode(0o6755)).unwrap();
    assert!(run(&["compress", s(&x), "-q"]).status.success());
    let mode = std::fs::metadata(dir.path().join("odd.elv"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
}

#[test]
fn rm_removes_the_input_only_once_the_output_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let x = sample_copy(dir.path(), "m.safetensors");
    // The output exists and -f is not given: the compress fails and the input stays.
    std::fs::write(dir.path().join("m.elv"), b"keep me").unwrap();
    assert_one_line_error(&run(&["compress", s(&x), "--rm", "-q"]));
    assert!(x.exists());
    std::fs::remove_file(dir.path().join("m.elv")).unwrap();
    let o = run(&["compress", s(&x), "--rm", "-q", "--lossless"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!x.exists() && dir.path().join("m.elv").exists());
    let o = run(&["-d", s(&dir.path().join("m.elv")), "--rm", "-q"]);
    assert!(o.status.success());
    assert_eq!(std::fs::read(&x).unwrap(), std::fs::read(sample()).unwrap());
    assert!(!dir.path().join("m.elv").exists());
}

#[test]
fn stdout_threads_and_levels() {
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("m.elv");
    assert!(
        run(&["compress", s(&sample()), "-o", s(&z), "-q", "-T", "0"])
            .status
            .success()
    );
    let o = run(&["compress", s(&sample()), "-c", "-q", "-T", "2"]);
    assert!(o.status.success());
    assert_eq!(
        o.stdout,
        std::fs::read(&z).unwrap(),
        "-c writes the same bytes"
    );
    for level in ["100", "-1000", "23"] {
        let o = run(&["compress", s(&sample()), "-c", "--level", level]);
        assert!(!o.status.success(), "level {level} accepted");
        assert_eq!(o.status.code(), Some(2), "a usage error");
        assert!(o.stdout.is_empty());
    }
    assert!(
        run(&["compress", s(&sample()), "-c", "-q", "--level", "-3"])
            .status
            .success()
    );
    // zstd's spellings: -N for the level, and a file alone means compress.
    let by_flag = run(&["compress", s(&sample()), "-c", "-q", "-19"]);
    let by_name = run(&["compress", s(&sample()), "-c", "-q", "--level", "19"]);
    assert!(by_flag.status.success() && by_name.status.success());
    assert!(by_flag.stdout == by_name.stdout, "-19 is --level 19");
    let implicit = run(&[s(&sample()), "-c", "-q", "-19"]);
    assert!(
        implicit.stdout == by_name.stdout,
        "a file alone is compressed"
    );
    let o = run(&["compress", s(&sample()), "-c", "-23"]);
    assert_eq!(o.status.code(), Some(2), "-23 is no level");
}

/// zstd's `-l` lists and `-t` tests; `--version` names the format versions too; with no file
/// named, stdin is read and stdout written.
#[test]
fn list_test_version_and_implicit_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("m.elv");
    assert!(run(&["-z", s(&sample()), "-o", s(&z), "-q"])
        .status
        .success());
    let list = run(&["-l", s(&z)]);
    assert_eq!(list.stdout, run(&["info", s(&z)]).stdout);
    assert!(String::from_utf8_lossy(&list.stdout).contains("7 tensors:"));
    let test = run(&["-t", s(&z)]);
    assert!(test.status.success());
    assert_eq!(test.stdout, run(&["verify", s(&z)]).stdout);
    let mut bad = std::fs::read(&z).unwrap();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let broken = dir.path().join("broken.elv");
    std::fs::write(&broken, bad).unwrap();
    assert_one_line_error(&run(&["--test", s(&broken)]));
    let v = String::from_utf8_lossy(&run(&["--version"]).stdout).into_owned();
    assert!(
        v.starts_with(&format!("elv {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    assert!(v.contains(".elv format: reads 1.0 to 1.2"), "{v}");
    let packed = piped(&["-q"], &std::fs::read(sample()).unwrap());
    assert!(packed.status.success());
    assert!(
        packed.stdout == std::fs::read(&z).unwrap(),
        "stdin to stdout"
    );
    let back = piped(&["-d", "-q"], &packed.stdout);
    assert!(back.status.success());
    let direct = run(&["-d", s(&z), "-c", "-q"]);
    assert!(
        back.stdout == direct.stdout,
        "stdin decodes as the file does"
    );
}

#[test]
fn wrong_inputs_are_named_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 6] = [
        (
            "pytorch_model.bin",
            b"PK\x03\x04\x14\x00\x00\x00",
            "PyTorch",
        ),
        ("model.pt", b"\x80\x02}q\x00(X", "pickle"),
        ("m.gguf", b"GGUF\x03\x00\x00\x00\x00\x00", "GGUF"),
        ("a.npy", b"\x93NUMPY\x01\x00v\x00", "NumPy"),
        (
            "model.safetensors.index.json",
            b"{\"metadata\": {}}",
            "JSON",
        ),
        ("m.elv", b"\x89ELV\r\n\x1a\n\x01\x00", "already .elv"),
    ];
    for (name, bytes, says) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let o = run(&["compress", s(&p), "-c"]);
        assert_one_line_error(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
    }
    let o = run(&["info", s(&sample())]);
    assert_one_line_error(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("a safetensors file, not .elv"));
    // What the input is comes before where its output would go: decompressing a
    // safetensors file (whose default output is its own name) says what it is.
    let st = sample_copy(dir.path(), "model.safetensors");
    let o = run(&["-d", s(&st)]);
    assert_one_line_error(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("model.safetensors: a safetensors file, not .elv"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A truncated .elv says so, with where it ends.
    let z = dir.path().join("whole.elv");
    assert!(run(&["compress", s(&sample()), "-o", s(&z), "-q"])
        .status
        .success());
    let bytes = std::fs::read(&z).unwrap();
    let cut = dir.path().join("cut.elv");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = run(&["info", s(&cut)]);
    assert_one_line_error(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("truncated") && err.contains(&format!("byte {}", bytes.len() / 2)),
        "{err}"
    );
    // A missing output folder names the path.
    let o = run(&[
        "compress",
        s(&sample()),
        "-o",
        s(&dir.path().join("no/such/dir/m.elv")),
    ]);
    assert_one_line_error(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/dir"));
}
