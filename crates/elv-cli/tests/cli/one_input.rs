//! One input at a time: round trips and modes, outputs never clobbered or left partial, bad and crafted inputs refused in one line.

use super::*;

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
/// Outputs are regular files: a named pipe at the output is refused like any existing file
/// (never opened: with no reader that would block forever), and replaced with -f.
#[test]
fn a_named_pipe_at_the_output_is_refused_or_replaced_never_written_to() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|st| st.success()) {
        eprintln!("no mkfifo here; skipped");
        return;
    }
    let o = run(&["compress", "--lossless", s(&sample()), "-o", s(&fifo)]);
    assert_one_line_error(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a regular file"));
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    let o = run(&[
        "compress",
        "-q",
        "-f",
        "--lossless",
        s(&sample()),
        "-o",
        s(&fifo),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::symlink_metadata(&fifo).unwrap().is_file());
    assert_eq!(entries(dir.path()), ["pipe"], "no temporary file");
    let back = dir.path().join("back.safetensors");
    assert!(run(&["decompress", "-q", s(&fifo), "-o", s(&back)])
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

/// stdin is judged on its first bytes: empty is said so, and a wrong format is refused
/// before the rest is spooled to disk (a 64 MiB stream of zeros to `-d` is not copied).
#[test]
fn stdin_is_checked_before_it_is_spooled() {
    let o = piped(&["compress", "-"], b"");
    assert_one_line_error(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("stdin is empty"));
    let o = piped(&["decompress", "-", "-c"], &vec![0u8; 64 << 20]);
    assert_one_line_error(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("stdin: not an .elv file"));
}
