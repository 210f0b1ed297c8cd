//! The conformance kit's protocol (SPEC.md §14.1, §14.3): how `testdata/manifest.txt` writes
//! names and hashes, and the lines a decoder prints for a file it accepts. The vector
//! generator, the conformance tests and the `elv-conformance` decoder all use these.

use crate::{Result, Source};

/// A name, key or value as the manifest writes it: backslash, TAB, LF and CR as `\\`,
/// `\t`, `\n`, `\r`; any other control character as `\u{HEX}`; everything else as is.
pub fn manifest_field(s: &str) -> String {
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

/// The 64-bit FNV-1a hash of `bytes` (offset basis `0xcbf29ce484222325`, prime
/// `0x100000001b3`): the manifest's hash of a decoded tensor.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A shape as the manifest writes it: dims joined by `x`, `-` for a scalar.
pub fn manifest_shape(shape: &[u64]) -> String {
    if shape.is_empty() {
        return "-".into();
    }
    shape
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("x")
}

/// What a full reader (§15) prints for a file it accepts (§14.3): after checking padding and
/// every CRC and decoding every tensor, a `tensor` line per tensor, a `member` line per
/// member of a collection and a `metadata` line per pair, in file order.
pub fn protocol_lines<S: Source>(r: &crate::Reader<S>) -> Result<Vec<String>> {
    r.verify()?;
    let mut lines = Vec::with_capacity(r.len() + r.raw_metadata().len());
    for t in r.iter() {
        let data = t.to_vec()?;
        lines.push(format!(
            "tensor\t{}\t{}\t{}\t{}\t{}\t{:016x}",
            manifest_field(t.name()),
            t.dtype().name(),
            manifest_shape(t.shape()),
            t.encoding().name(),
            data.len(),
            fnv1a64(&data)
        ));
    }
    for m in r.members() {
        lines.push(format!(
            "member\t{}\t{}\t{}",
            manifest_field(&m.path),
            m.kind.name(),
            m.tensors.len()
        ));
    }
    for (k, v) in r.raw_metadata() {
        lines.push(format!(
            "metadata\t{}\t{}",
            manifest_field(k),
            manifest_field(v)
        ));
    }
    Ok(lines)
}
