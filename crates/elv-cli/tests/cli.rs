//! The `elv` command end to end, spawned as a process: round trips on real weights,
//! overwrite refusal, `-` pipes, one-line errors with a non-zero exit, and no partial output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn elv() -> Command {
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

#[test]
fn lossless_round_trip_through_files_is_byte_identical_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (z, back) = (dir.path().join("m.elv"), dir.path().join("m.safetensors"));
    let o = run(&["compress", s(&sample()), "-o", s(&z), "--lossless", "-q"]);
    assert!(o.status.success(), "{o:?}");
    assert!(o.stderr.is_empty(), "-q prints nothing");
    let o = run(&["decompress", s(&z), "-o", s(&back)]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(sample()).unwrap()
    );
    let o = run(&["verify", s(&z), "--against", s(&sample())]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn default_mode_says_it_is_lossy_and_verify_checks_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("m.elv");
    let o = run(&["compress", s(&sample()), "-o", s(&z)]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("lossy: |error| <= 2^-24 (F32)"), "{err}");
    assert!(err.contains(" -> ") && err.contains("ratio 1."), "{err}");
    let o = run(&["verify", s(&z), "--against", s(&sample())]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("2^-24") && out.contains("OK"), "{out}");
    let o = run(&["info", s(&z)]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success()
            && out.contains("encoder.layer.0.attention.self.query.weight")
            && out.contains("elf"),
        "{out}"
    );
}

#[test]
fn existing_output_is_never_replaced_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("m.elv");
    std::fs::write(&z, b"precious").unwrap();
    let o = run(&["compress", s(&sample()), "-o", s(&z)]);
    assert_one_line_error(&o);
    assert_eq!(std::fs::read(&z).unwrap(), b"precious");
    assert_eq!(
        entries(dir.path()),
        ["m.elv"],
        "no temporary file left behind"
    );
    let o = run(&["compress", s(&sample()), "-o", s(&z), "-f", "-q"]);
    assert!(o.status.success());
    assert_ne!(std::fs::read(&z).unwrap(), b"precious");
}

/// `-o /dev/null` or a named pipe is written in place: a temporary file renamed over it
/// replaced the device node itself (found when `-o /dev/null` left a regular file there).
/// Tested on a pipe, so a regression cannot damage the machine's `/dev/null`.
#[cfg(unix)]
#[test]
fn a_named_pipe_as_output_is_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|st| st.success()) {
        eprintln!("no mkfifo here; skipped");
        return;
    }
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let o = run(&["compress", "-q", "--lossless", s(&sample()), "-o", s(&fifo)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = reader.join().unwrap();
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "the pipe is still a pipe"
    );
    assert_eq!(entries(dir.path()), ["pipe"], "no temporary file");
    // What came through the pipe is the whole .elv file.
    let z = dir.path().join("m.elv");
    std::fs::write(&z, &got).unwrap();
    let back = dir.path().join("back.safetensors");
    assert!(run(&["decompress", "-q", s(&z), "-o", s(&back)])
        .status
        .success());
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(sample()).unwrap()
    );
}

#[test]
fn default_output_name_replaces_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("model.safetensors");
    std::fs::copy(sample(), &input).unwrap();
    assert!(run(&["compress", s(&input), "-q", "--lossless"])
        .status
        .success());
    assert!(dir.path().join("model.elv").exists());
    let o = run(&["decompress", s(&dir.path().join("model.elv"))]);
    assert_one_line_error(&o); // model.safetensors exists
    assert_eq!(
        std::fs::read(&input).unwrap(),
        std::fs::read(sample()).unwrap(),
        "input untouched"
    );
}

#[test]
fn dash_pipes_stdin_to_stdout() {
    let st = std::fs::read(sample()).unwrap();
    let z = piped(&["compress", "-", "--lossless", "-q"], &st);
    assert!(z.status.success(), "{}", String::from_utf8_lossy(&z.stderr));
    assert_eq!(&z.stdout[..4], b"\x89ELV");
    let back = piped(&["decompress", "-"], &z.stdout);
    assert!(back.status.success());
    assert_eq!(back.stdout, st);
}

#[test]
fn bad_input_gives_one_line_error_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"\xff\xff\xff\xff\xff\xff\xff\x7fnot a model").unwrap();
    let o = run(&["compress", s(&junk), "-o", s(&dir.path().join("out.elv"))]);
    assert_one_line_error(&o);
    let bad_elv = dir.path().join("bad.elv");
    let mut z = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/valid/elf_f32.elv"
    ))
    .unwrap();
    let mid = z.len() / 2;
    z[mid] ^= 0x40;
    std::fs::write(&bad_elv, &z).unwrap();
    let o = run(&[
        "decompress",
        s(&bad_elv),
        "-o",
        s(&dir.path().join("out.safetensors")),
    ]);
    assert_one_line_error(&o);
    let o = run(&["verify", s(&bad_elv)]);
    assert_one_line_error(&o);
    let o = run(&["compress", s(&dir.path().join("missing.safetensors"))]);
    assert_one_line_error(&o);
    assert_eq!(
        entries(dir.path()),
        ["bad.elv", "junk.safetensors"],
        "nothing partial left behind"
    );
}

#[test]
fn full_disk_on_stdout_is_an_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    let o = elv()
        .args(["compress", s(&sample()), "-o", "-", "-q"])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_one_line_error(&o);
}

#[test]
fn extract_gives_one_tensor_raw_or_npy() {
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("m.elv");
    assert!(
        run(&["compress", s(&sample()), "-o", s(&z), "--lossless", "-q"])
            .status
            .success()
    );
    let raw = run(&[
        "extract",
        s(&z),
        "encoder.layer.0.attention.self.query.bias",
    ]);
    assert!(raw.status.success());
    assert_eq!(raw.stdout.len(), 384 * 4);
    let npy = dir.path().join("b.npy");
    assert!(run(&[
        "extract",
        s(&z),
        "encoder.layer.0.attention.self.query.bias",
        "-o",
        s(&npy)
    ])
    .status
    .success());
    let n = std::fs::read(&npy).unwrap();
    assert_eq!(&n[..6], b"\x93NUMPY");
    assert_eq!((n.len() - raw.stdout.len()) % 64, 0);
    assert_eq!(&n[n.len() - raw.stdout.len()..], &raw.stdout[..]);
    assert!(String::from_utf8_lossy(&n).contains("'shape': (384,)"));
    assert_one_line_error(&run(&["extract", s(&z), "no.such.tensor"]));
}

#[test]
fn an_interrupt_leaves_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.safetensors");
    // 48 MiB of pseudo-random weights: long enough to interrupt mid-write.
    let n: u64 = 12 << 20;
    let header = format!(
        "{{\"w\":{{\"dtype\":\"F32\",\"shape\":[{n}],\"data_offsets\":[0,{}]}}}}",
        n * 4
    );
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    let mut x = 0x1234_5678u32;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f.write_all(&((x as f32 / u32::MAX as f32) - 0.5).to_le_bytes())
            .unwrap();
    }
    drop(f);
    let out = dir.path().join("big.elv");
    // SIGINT runs the handler; SIGKILL runs nothing: the output must have no name until it
    // is complete (O_TMPFILE), so there is nothing to remove.
    for signal in ["-INT", "-KILL"] {
        let mut child = elv()
            .args(["compress", s(&input), "-o", s(&out), "-q", "-T", "1"])
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let writing = loop {
            if writes_unnamed_file_in(child.id(), dir.path()) {
                break true;
            }
            if child.try_wait().unwrap().is_some() || started.elapsed().as_secs() > 60 {
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        };
        assert!(
            writing,
            "the output should be open, unnamed, while compressing"
        );
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert_eq!(
            entries(dir.path()),
            ["big.safetensors"],
            "no partial or temporary output after {signal}"
        );
    }
}

/// Whether process `pid` has open a file of `dir` that has no name (Linux shows an
/// O_TMPFILE as `DIR/#INODE (deleted)`).
fn writes_unnamed_file_in(pid: u32, dir: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|t| t.starts_with(dir) && t.to_string_lossy().ends_with("(deleted)"))
}

#[test]
fn a_failed_write_to_a_file_leaves_nothing_behind() {
    // A full disk, simulated: a file-size limit with SIGXFSZ ignored (inherited across exec)
    // makes writes past 64 KiB fail with EFBIG.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.elv");
    let script = format!(
        "trap '' XFSZ; ulimit -f 64; exec '{}' compress '{}' -o '{}' --lossless -q",
        env!("CARGO_BIN_EXE_elv"),
        s(&sample()),
        s(&out)
    );
    let o = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_one_line_error(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .to_lowercase()
            .contains("large"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        entries(dir.path()),
        Vec::<String>::new(),
        "no partial or temporary output"
    );
}

/// A 300-byte file with valid CRCs declaring one 4 GiB u8 tensor in a 2^31-value chunk.
fn crafted_4_gib_claim() -> Vec<u8> {
    use elv_core::engine::section::kind;
    use elv_core::engine::writer::StoredStream;
    use elv_core::fuzzing::tensor_table_to_bytes as table_to_bytes;
    use elv_core::{Codec, ContainerWriter, DType, Encoding, TensorInfo};
    let claim = StoredStream {
        codec: Codec::Ans,
        stored: vec![0x5a; 16],
        decoded_len: 1 << 31,
    };
    let t = TensorInfo {
        name: "t".into(),
        dtype: DType::U8,
        shape: vec![1 << 32],
        encoding: Encoding::Raw,
        error_bound_log2: 0,
        crc32: 0,
        chunk_len: 1 << 31,
        first_stream: 0,
        dedup_of: None,
    };
    let mut w = ContainerWriter::new(Vec::new(), 3).unwrap();
    w.add_section(kind::STREAM, true, &claim).unwrap();
    w.add_section(kind::STREAM, true, &claim).unwrap();
    w.add_section(
        kind::TENSOR_TABLE,
        true,
        &StoredStream::plain(table_to_bytes(&[t])),
    )
    .unwrap();
    w.finish_sections_only().unwrap()
}

/// Under a 1 GiB address-space limit, every command on a file declaring 4 GiB fails with one
/// line naming the limit and leaves no output (#14: 7.9-9.7 GB before).
#[test]
fn a_file_declaring_gigabytes_fails_cleanly_under_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("claim.elv");
    std::fs::write(&f, crafted_4_gib_claim()).unwrap();
    let out = dir.path().join("out");
    for args in [
        vec!["verify", s(&f)],
        vec!["decompress", s(&f), "-o", s(&out)],
        vec!["extract", s(&f), "t", "-o", s(&out)],
        vec!["info", s(&f)],
    ] {
        let o = Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 1048576; exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_elv"))
            .args(&args)
            .output()
            .unwrap();
        assert_one_line_error(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("LimitExceeded: chunk bytes"),
            "{args:?}: {err}"
        );
        assert!(!out.exists(), "{args:?} left output");
    }
}

/// A copy of the sample model at `dir/name`.
fn sample_copy(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(sample(), &p).unwrap();
    p
}

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
fn a_block_device_output_needs_force() {
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
    assert!(String::from_utf8_lossy(&o.stderr).contains("block device"));
    // /dev/null needs no -f.
    assert!(run(&["compress", s(&sample()), "-o", "/dev/null", "-q"])
        .status
        .success());
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
