//! Extracting a collection where others can write (SPEC.md §10.1): a local user who swaps the
//! output's folders for links while it is written (as one may in a shared folder without the
//! sticky bit) gets nothing written outside the output; a pipe at a member's path is replaced,
//! never written to. The swaps happen from the progress callback, so each race is exact.
#![cfg(unix)]

use elv::{compress_collection, FolderOptions, MemberInput, Reader, WriteOptions};
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;

fn member(path: &str, bytes: &[u8]) -> MemberInput {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(bytes).unwrap();
    MemberInput {
        path: path.to_string(),
        file: Some(file),
        modified: None,
    }
}

/// A collection whose last member lies in a subfolder written after the first ones.
fn collection() -> Reader<Vec<u8>> {
    let files = [
        ("config.json", b"{\"a\": 1}\n".repeat(2000)),
        ("weights.bin", vec![7u8; 300_000]),
        ("tokenizer/vocab.txt", b"hello\n".repeat(500)),
    ];
    let inputs = files.iter().map(|(p, b)| member(p, b)).collect();
    let (file, _) =
        compress_collection(inputs, Vec::new(), &WriteOptions::lossless(), None, None).unwrap();
    Reader::from_bytes(file).unwrap()
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

/// Linux only: elsewhere folders are written by path (checked, with a window between).
#[cfg(target_os = "linux")]
#[test]
fn a_new_folder_swapped_for_a_link_while_written_sends_nothing_through_it() {
    let reader = collection();
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let out = dir.path().join("out");
    let mut swapped = false;
    let mut swap = |_: u64, _: u64| {
        if swapped {
            return;
        }
        swapped = true;
        let temp = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".elv-tmp.")
            })
            .expect("the hidden folder being written");
        std::fs::rename(&temp, dir.path().join("moved")).unwrap();
        symlink(&victim, &temp).unwrap();
    };
    let e = elv::decompress_to_folder(&reader, &out, &FolderOptions::default(), Some(&mut swap))
        .unwrap_err();
    assert!(swapped);
    assert!(e.to_string().contains("moved or replaced"), "{e}");
    assert!(is_empty(&victim), "a file was written through the link");
    assert!(!out.exists());
    // The link left in the hidden folder's place is removed, not followed.
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".elv-tmp.")));
}

#[test]
fn a_subfolder_swapped_for_a_link_in_an_existing_output_is_refused() {
    let reader = collection();
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("tokenizer")).unwrap();
    let mut swapped = false;
    let mut swap = |_: u64, _: u64| {
        if !swapped {
            swapped = true;
            std::fs::rename(out.join("tokenizer"), out.join("old")).unwrap();
            symlink(&victim, out.join("tokenizer")).unwrap();
        }
    };
    let options = FolderOptions {
        overwrite: true,
        ..FolderOptions::default()
    };
    let e = elv::decompress_to_folder(&reader, &out, &options, Some(&mut swap)).unwrap_err();
    assert!(swapped);
    assert!(
        e.to_string().contains("refusing to write through it"),
        "{e}"
    );
    assert!(is_empty(&victim), "a file was written through the link");
}

#[test]
fn a_pipe_at_a_members_path_is_replaced_never_written_to() {
    let reader = collection();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let fifo = out.join("config.json");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no mkfifo here");
        return;
    }
    let options = FolderOptions {
        overwrite: true,
        ..FolderOptions::default()
    };
    // Writing into the pipe would block here forever (no reader).
    elv::decompress_to_folder(&reader, &out, &options, None).unwrap();
    let meta = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(meta.is_file(), "the pipe is replaced by a regular file");
    assert_eq!(std::fs::read(&fifo).unwrap(), b"{\"a\": 1}\n".repeat(2000));
}

/// An output folder that appears while the new one is written is not replaced or merged
/// into: the extraction fails, and its hidden temporary folder is removed.
#[test]
fn an_output_that_appears_meanwhile_is_left_alone_and_the_temporary_removed() {
    let reader = collection();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut made = false;
    let mut race = |_: u64, _: u64| {
        if !made {
            made = true;
            std::fs::create_dir(&out).unwrap();
            std::fs::write(out.join("theirs.txt"), b"keep").unwrap();
        }
    };
    let e = elv::decompress_to_folder(&reader, &out, &FolderOptions::default(), Some(&mut race))
        .unwrap_err();
    assert!(
        matches!(&e, elv::Error::Io(io) if io.kind() == std::io::ErrorKind::AlreadyExists),
        "{e}"
    );
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["theirs.txt"]);
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".elv-tmp.")));
}
