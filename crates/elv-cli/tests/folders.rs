//! `elv` on model folders and against base models, spawned as a process: a folder round
//! trip is byte for byte, nothing is ever written outside the output folder, and a missing
//! or wrong base is a one-line error that writes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_elv"))
        .args(args)
        .output()
        .unwrap()
}

fn testdata(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn one_line_error(o: &Output) -> String {
    assert!(!o.status.success(), "must fail");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("elv: error: "), "{err:?}");
    err
}

/// Relative path → bytes of every file under `dir` (links followed; folders as `path/`),
/// and whether any entry is a link.
fn tree(dir: &Path) -> (Vec<(String, Vec<u8>)>, bool) {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>, links: &mut bool) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            *links |= std::fs::symlink_metadata(&p)
                .unwrap()
                .file_type()
                .is_symlink();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                walk(root, &p, out, links);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let (mut out, mut links) = (Vec::new(), false);
    walk(dir, dir, &mut out, &mut links);
    out.sort();
    (out, links)
}

/// A model folder: two shards, an index, a config, a nested tokenizer file, and a link to a
/// file elsewhere (as the Hugging Face cache links its blobs).
fn model_folder(root: &Path) -> PathBuf {
    let dir = root.join("model");
    std::fs::create_dir_all(dir.join("tokenizer")).unwrap();
    let sample = testdata("sample/minilm_sample.safetensors");
    std::fs::copy(&sample, dir.join("model-00001-of-00002.safetensors")).unwrap();
    std::fs::copy(
        testdata("sample/finetune_base.safetensors"),
        dir.join("model-00002-of-00002.safetensors"),
    )
    .unwrap();
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        b"{\"weight_map\": {}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("tokenizer/vocab.txt"),
        b"[PAD]\n[UNK]\n".repeat(100),
    )
    .unwrap();
    // An empty file and an empty folder come back too.
    std::fs::write(dir.join("tokenizer/added_tokens.json"), b"").unwrap();
    std::fs::create_dir_all(dir.join("runs/empty")).unwrap();
    let blob = root.join("blob-config");
    std::fs::write(&blob, b"{\"hidden_size\": 384}\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&blob, dir.join("config.json")).unwrap();
    #[cfg(not(unix))]
    std::fs::copy(&blob, dir.join("config.json")).unwrap();
    dir
}

#[test]
fn a_folder_comes_back_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_folder(tmp.path());
    // Files keep their modification times, to the nanosecond, before 1970 too.
    let epoch = std::time::UNIX_EPOCH;
    let times = [
        (
            "tokenizer/vocab.txt",
            epoch + std::time::Duration::new(1_600_000_000, 123_456_789),
        ),
        (
            "model-00001-of-00002.safetensors",
            epoch + std::time::Duration::from_secs(86_400),
        ),
        (
            "tokenizer/added_tokens.json",
            epoch - std::time::Duration::new(5, 250_000_000),
        ),
    ];
    for (path, t) in times {
        let f = std::fs::File::options()
            .write(true)
            .open(dir.join(path))
            .unwrap();
        f.set_modified(t).unwrap();
    }
    let packed = tmp.path().join("model.elv");
    ok(&run(&[
        "compress",
        s(&dir),
        "-o",
        s(&packed),
        "--lossless",
        "-q",
    ]));
    let info = run(&["info", s(&packed)]);
    ok(&info);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("== tokenizer/vocab.txt (file, 1 tensor)"),
        "{text}"
    );
    assert!(text.contains("7 members"), "{text}");
    assert!(text.contains("== runs/empty (folder, 0 tensors)"), "{text}");
    let back = tmp.path().join("back");
    ok(&run(&["-d", s(&packed), "-o", s(&back), "-q"]));
    let (want, _) = tree(&dir);
    let (got, links) = tree(&back);
    assert_eq!(got, want);
    assert!(
        back.join("runs/empty").is_dir(),
        "the empty folder is there"
    );
    assert!(!links, "decompress never makes links");
    for (path, t) in times {
        let got = std::fs::metadata(back.join(path))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(got, t, "{path}");
    }
    // No temporary folder is left next to the output.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("elv-tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The default output is the input without .elv, and it now exists: refused without -f.
    let o = run(&["-d", s(&packed), "-o", s(&back)]);
    assert!(one_line_error(&o).contains("already exists"));
    ok(&run(&["-d", s(&packed), "-o", s(&back), "-f", "-q"]));
    assert_eq!(tree(&back).0, want);
    // --rm does not remove folders.
    let err = one_line_error(&run(&["compress", s(&dir), "-o", s(&packed), "-f", "--rm"]));
    assert!(err.contains("--rm"), "{err}");
    assert!(dir.join("config.json").exists());
    // One member alone.
    let o = run(&["extract", s(&packed), "--member", "tokenizer/vocab.txt"]);
    ok(&o);
    assert_eq!(
        o.stdout,
        std::fs::read(dir.join("tokenizer/vocab.txt")).unwrap()
    );
}

#[test]
fn a_member_path_that_leaves_the_folder_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sub").join("out");
    std::fs::create_dir(tmp.path().join("sub")).unwrap();
    for v in ["member_path_escape.elv", "member_path_absolute.elv"] {
        let o = run(&["-d", s(&testdata(&format!("invalid/{v}"))), "-o", s(&out)]);
        let err = one_line_error(&o);
        assert!(err.contains("member path"), "{err}");
        assert!(!out.exists());
        assert_eq!(
            std::fs::read_dir(tmp.path().join("sub")).unwrap().count(),
            0
        );
        assert!(!tmp.path().join("kenizer").exists());
    }
}

#[test]
fn a_link_inside_an_existing_output_folder_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&elsewhere, out.join("tokenizer")).unwrap();
        let o = run(&[
            "-d",
            s(&testdata("valid/collection.elv")),
            "-o",
            s(&out),
            "-f",
        ]);
        let err = one_line_error(&o);
        assert!(err.contains("link"), "{err}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }
}

#[test]
fn a_delta_needs_its_base_and_a_wrong_one_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let base = testdata("sample/finetune_base.safetensors");
    let ft = testdata("sample/finetune_full.safetensors");
    let packed = tmp.path().join("ft.elv");
    ok(&run(&[
        "compress",
        "--lossless",
        "--base",
        s(&base),
        s(&ft),
        "-o",
        s(&packed),
        "-q",
    ]));
    let out = tmp.path().join("ft.safetensors");
    let err = one_line_error(&run(&["-d", s(&packed), "-o", s(&out)]));
    assert!(
        err.contains("--base") && err.contains("finetune_base.safetensors"),
        "{err}"
    );
    assert!(!out.exists());
    let wrong = testdata("sample/finetune_lora.safetensors");
    let err = one_line_error(&run(&[
        "-d",
        "--base",
        s(&wrong),
        s(&packed),
        "-o",
        s(&out),
    ]));
    assert!(err.contains("hash differs"), "{err}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "no temporary left"
    );
    ok(&run(&[
        "-d",
        "--base",
        s(&base),
        s(&packed),
        "-o",
        s(&out),
        "-q",
    ]));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&ft).unwrap());
    // verify and extract take the base too.
    ok(&run(&[
        "verify",
        "--base",
        s(&base),
        s(&packed),
        "--against",
        s(&ft),
        "-q",
    ]));
    let name = "encoder.layer.0.attention.self.query.weight";
    let o = run(&["extract", "--base", s(&base), s(&packed), name]);
    ok(&o);
    assert_eq!(o.stdout.len(), 32 * 384 * 4);
    let info = String::from_utf8_lossy(&run(&["info", s(&packed)]).stdout).into_owned();
    assert!(
        info.contains("written against base model \"finetune_base.safetensors\""),
        "{info}"
    );
}

/// A link in the input folder that leads outside it is followed (its bytes are packed) and
/// named in a note; one that stays inside is not.
#[cfg(unix)]
#[test]
fn links_out_of_the_input_folder_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(dir.path().join("secret.txt"), b"outside\n").unwrap();
    std::fs::write(model.join("config.json"), b"{}\n").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), model.join("notes.txt")).unwrap();
    std::os::unix::fs::symlink(model.join("config.json"), model.join("same.json")).unwrap();
    let out = dir.path().join("m.elv");
    let o = run(&["compress", s(&model), "-o", s(&out)]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("notes.txt is a link out of the folder"),
        "{err}"
    );
    assert!(!err.contains("same.json"), "{err}");
}
