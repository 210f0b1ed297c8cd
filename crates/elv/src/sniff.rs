//! Saying what a wrong input is, in one line: a PyTorch checkpoint, GGUF, ONNX, NumPy, JSON,
//! text, a safetensors file where `.elv` was expected, or the other way round.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// What the file starting with `head` (and named `name`) is, if it is not what the command
/// wants (`want_elv`: an `.elv`, else safetensors). `None` when it looks like the right thing.
pub fn wrong_format(head: &[u8], name: &str, want_elv: bool) -> Option<String> {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    let is_elv = head.starts_with(b"\x89ELV\r\n\x1a\n");
    let is_safetensors = head.len() >= 9
        && u64::from_le_bytes(head[..8].try_into().unwrap_or([0; 8])) < 100_000_000
        && head[8] == b'{';
    if want_elv && is_elv || !want_elv && is_safetensors {
        return None;
    }
    let what = if is_elv {
        "already .elv (elv decompress turns it back into safetensors)".to_string()
    } else if is_safetensors {
        "a safetensors file, not .elv (elv compress turns it into .elv)".to_string()
    } else if head.starts_with(b"PK\x03\x04") {
        "a zip archive, as PyTorch checkpoints (.bin, .pt, .pth) are: not safetensors (convert it \
         in Python: safetensors.torch.save_file(torch.load(PATH), OUT))"
            .to_string()
    } else if head.first() == Some(&0x80) && head.get(1).is_some_and(|&p| (2..=5).contains(&p)) {
        "a Python pickle, as legacy PyTorch checkpoints are: not safetensors (convert it in \
         Python: safetensors.torch.save_file(torch.load(PATH), OUT))"
            .to_string()
    } else if head.starts_with(b"GGUF") {
        "a GGUF model (llama.cpp), not safetensors".to_string()
    } else if head.starts_with(b"\x93NUMPY") {
        "a NumPy .npy array, not safetensors".to_string()
    } else if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        "an HDF5 file (Keras .h5), not safetensors".to_string()
    } else if ext == "onnx" {
        "an ONNX model, not safetensors".to_string()
    } else if head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        "JSON text (a model.safetensors.index.json lists a model's shards: give the shards)"
            .to_string()
    } else if !head.is_empty()
        && head
            .iter()
            .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "a text file".to_string()
    } else if want_elv && head.len() < 8 {
        format!("not .elv: only {} bytes", head.len())
    } else if want_elv {
        "not an .elv file (its first bytes are not the .elv signature)".to_string()
    } else {
        "not a safetensors file (it does not start with a header length and a JSON header)"
            .to_string()
    };
    Some(what)
}

/// The first bytes of `file` (it is rewound after).
pub fn head(file: &mut File) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(64);
    file.by_ref().take(64).read_to_end(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_named() {
        let st = [&16u64.to_le_bytes()[..], b"{\"a\":1}"].concat();
        assert!(wrong_format(&st, "m.safetensors", false).is_none());
        assert!(wrong_format(b"\x89ELV\r\n\x1a\n....", "m.elv", true).is_none());
        let cases: [(&[u8], &str, bool, &str); 9] = [
            (b"PK\x03\x04abcd", "pytorch_model.bin", false, "PyTorch"),
            (b"\x80\x02}q\x00", "model.pt", false, "pickle"),
            (b"GGUF\x03\x00\x00\x00", "m.gguf", false, "GGUF"),
            (b"\x93NUMPY\x01\x00", "a.npy", false, "NumPy"),
            (b"\x08\x07\x12\x07pytorch", "m.onnx", false, "ONNX"),
            (
                b"{\n  \"weight_map\": {",
                "model.safetensors.index.json",
                false,
                "JSON",
            ),
            (b"hello world\n", "notes.txt", false, "text"),
            (b"\x89ELV\r\n\x1a\n....", "m.elv", false, "already .elv"),
            (&st, "m.safetensors", true, "not .elv"),
        ];
        for (head, name, want_elv, says) in cases {
            let got = wrong_format(head, name, want_elv).unwrap_or_default();
            assert!(got.contains(says), "{name}: {got}");
        }
    }
}
