//! safetensors import and export: the header (JSON), tensor order and `__metadata__`.
//!
//! A safetensors file is an 8-byte little-endian header length `n`, `n` bytes of JSON
//! (`{"NAME": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`), then
//! the tensor data, whose offsets must tile it exactly.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use crate::{Error, Result, SafetensorsErrorKind};
use elv_core::DType;
use serde_json::{Map, Value};
use std::io::{Read, Write};

/// Largest header accepted: 100 MB, as the reference safetensors implementation.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// One tensor entry of a safetensors header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Byte range in the data area.
    pub begin: u64,
    /// End of the byte range (exclusive).
    pub end: u64,
}

impl Entry {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.begin
    }
    /// Whether the tensor has no bytes.
    pub fn is_empty(&self) -> bool {
        self.end == self.begin
    }
}

/// A parsed safetensors header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The JSON text exactly as in the file (padding included).
    pub raw: String,
    /// Tensors in data order (by `begin`).
    pub entries: Vec<Entry>,
    /// `__metadata__` pairs, sorted by key.
    pub metadata: Vec<(String, String)>,
}

impl Header {
    /// Where the data area starts in the file: after the 8-byte length and the header.
    pub fn data_start(&self) -> u64 {
        8 + self.raw.len() as u64
    }
    /// Size of the data area (the end of the last tensor).
    pub fn data_len(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.end)
    }
    /// Size of the whole file.
    pub fn file_len(&self) -> u64 {
        self.data_start() + self.data_len()
    }
}

fn bad(kind: SafetensorsErrorKind, msg: impl Into<String>) -> Error {
    Error::safetensors(kind, msg)
}

/// Reads and checks the header from the start of a safetensors stream. `file_len`, if
/// known, is checked to equal header plus data.
pub fn read_header(r: &mut impl Read, file_len: Option<u64>) -> Result<Header> {
    let mut n = [0u8; 8];
    r.read_exact(&mut n).map_err(|_| {
        bad(
            SafetensorsErrorKind::Truncated,
            "file shorter than the 8-byte header length",
        )
    })?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER_LEN || file_len.is_some_and(|l| n > l.saturating_sub(8)) {
        return Err(bad(
            SafetensorsErrorKind::HeaderTooLarge,
            format!("header length {n} is larger than the file or the 100 MB limit"),
        ));
    }
    let mut raw = Vec::new();
    r.take(n).read_to_end(&mut raw)?;
    if raw.len() as u64 != n {
        return Err(bad(
            SafetensorsErrorKind::Truncated,
            "file ends inside the header",
        ));
    }
    let raw = String::from_utf8(raw)
        .map_err(|_| bad(SafetensorsErrorKind::InvalidHeader, "header is not UTF-8"))?;
    let h = parse_header_json(raw)?;
    if let Some(l) = file_len {
        if h.file_len() != l {
            return Err(bad(
                SafetensorsErrorKind::Truncated,
                format!(
                    "data area is {} bytes but the header describes {}",
                    l - 8 - n,
                    h.data_len()
                ),
            ));
        }
    }
    Ok(h)
}

/// Parses and checks header JSON text: known dtypes, sizes matching shapes, offsets tiling
/// the data area with no holes or overlaps.
pub fn parse_header_json(raw: String) -> Result<Header> {
    let v: Value = serde_json::from_str(raw.trim_end_matches(' ')).map_err(|e| {
        bad(
            SafetensorsErrorKind::InvalidHeader,
            format!("header JSON: {e}"),
        )
    })?;
    let Value::Object(map) = v else {
        return Err(bad(
            SafetensorsErrorKind::InvalidHeader,
            "header is not a JSON object",
        ));
    };
    let mut entries = Vec::with_capacity(map.len());
    let mut metadata = Vec::new();
    for (name, v) in map {
        if name == "__metadata__" {
            let Value::Object(m) = v else {
                return Err(bad(
                    SafetensorsErrorKind::InvalidHeader,
                    "__metadata__ is not an object",
                ));
            };
            for (k, v) in m {
                let Value::String(s) = v else {
                    return Err(bad(
                        SafetensorsErrorKind::InvalidHeader,
                        format!("__metadata__ value of {k:?} is not a string"),
                    ));
                };
                metadata.push((k, s));
            }
            continue;
        }
        entries.push(parse_entry(name, &v)?);
    }
    metadata.sort();
    entries.sort_by_key(|e| (e.begin, e.end));
    let mut pos = 0u64;
    for e in &entries {
        if e.begin != pos {
            return Err(bad(
                SafetensorsErrorKind::BadOffsets,
                format!(
                    "tensor {:?} starts at {} but the previous ends at {pos} (holes or overlaps)",
                    e.name, e.begin
                ),
            ));
        }
        pos = e.end;
    }
    Ok(Header {
        raw,
        entries,
        metadata,
    })
}

fn parse_entry(name: String, v: &Value) -> Result<Entry> {
    let obj = v.as_object().ok_or_else(|| {
        bad(
            SafetensorsErrorKind::InvalidHeader,
            format!("entry {name:?} is not an object"),
        )
    })?;
    let dtype_name = obj.get("dtype").and_then(Value::as_str).ok_or_else(|| {
        bad(
            SafetensorsErrorKind::InvalidHeader,
            format!("{name:?}: no dtype"),
        )
    })?;
    let dtype = DType::from_name(dtype_name).ok_or_else(|| {
        bad(
            SafetensorsErrorKind::UnsupportedDtype,
            format!("{name:?}: dtype {dtype_name} is not supported"),
        )
    })?;
    let nums = |key: &str| -> Result<Vec<u64>> {
        obj.get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| {
                bad(
                    SafetensorsErrorKind::InvalidHeader,
                    format!("{name:?}: no {key}"),
                )
            })?
            .iter()
            .map(|x| {
                x.as_u64().ok_or_else(|| {
                    bad(
                        SafetensorsErrorKind::InvalidHeader,
                        format!("{name:?}: {key} holds a non-integer"),
                    )
                })
            })
            .collect()
    };
    let shape = nums("shape")?;
    let offsets = nums("data_offsets")?;
    let [begin, end] = offsets[..] else {
        return Err(bad(
            SafetensorsErrorKind::BadOffsets,
            format!("{name:?}: data_offsets must have two entries"),
        ));
    };
    let want = elv_core::engine::dtype::tensor_bytes(dtype, &shape);
    if end < begin || want != Some(end - begin) {
        return Err(bad(
            SafetensorsErrorKind::BadOffsets,
            format!(
                "{name:?}: {} bytes for dtype {dtype_name} and shape {shape:?}",
                end.wrapping_sub(begin)
            ),
        ));
    }
    Ok(Entry {
        name,
        dtype,
        shape,
        begin,
        end,
    })
}

/// Builds header JSON for tensors (laid out in the order given) and metadata, padded with
/// spaces to a multiple of 8 bytes as safetensors writers do.
pub fn build_header(
    tensors: &[(String, DType, Vec<u64>)],
    metadata: &[(String, String)],
) -> String {
    let mut map = Map::new();
    if !metadata.is_empty() {
        let m: Map<String, Value> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        map.insert("__metadata__".into(), Value::Object(m));
    }
    let mut pos = 0u64;
    for (name, dtype, shape) in tensors {
        let len = shape.iter().product::<u64>() * dtype.size() as u64;
        let mut e = Map::new();
        e.insert("dtype".into(), Value::String(dtype.name().into()));
        e.insert("shape".into(), Value::from(shape.clone()));
        e.insert("data_offsets".into(), Value::from(vec![pos, pos + len]));
        map.insert(name.clone(), Value::Object(e));
        pos += len;
    }
    let mut s = Value::Object(map).to_string();
    while s.len() % 8 != 0 {
        s.push(' ');
    }
    s
}

/// Writes the 8-byte length and the header text.
pub fn write_header(w: &mut impl Write, raw: &str) -> Result<()> {
    w.write_all(&(raw.len() as u64).to_le_bytes())?;
    w.write_all(raw.as_bytes())?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn built_headers_parse_back() {
        let t = vec![
            ("b".to_string(), DType::F32, vec![2, 3]),
            ("a".to_string(), DType::I64, vec![]),
        ];
        let raw = build_header(&t, &[("format".into(), "pt".into())]);
        assert_eq!(raw.len() % 8, 0);
        let h = parse_header_json(raw).unwrap();
        assert_eq!(
            h.entries
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(h.data_len(), 24 + 8);
        assert_eq!(h.metadata, [("format".to_string(), "pt".to_string())]);
    }

    #[test]
    fn rejects_holes_bad_sizes_and_unknown_dtypes() {
        let hole = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert!(parse_header_json(hole.into()).is_err());
        let size = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#;
        assert!(parse_header_json(size.into()).is_err());
        let dt = r#"{"a":{"dtype":"C128","shape":[1],"data_offsets":[0,16]}}"#;
        assert!(parse_header_json(dt.into()).is_err());
        // Since 1.4: C64 and the sub-byte dtypes, whose values must fill whole bytes.
        let c64 = r#"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#;
        assert!(parse_header_json(c64.into()).is_ok());
        let f4 = r#"{"a":{"dtype":"F4","shape":[2,2],"data_offsets":[0,2]}}"#;
        assert!(parse_header_json(f4.into()).is_ok());
        let f4_odd = r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#;
        assert!(parse_header_json(f4_odd.into()).is_err());
        let f6 = r#"{"a":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[0,3]}}"#;
        assert!(parse_header_json(f6.into()).is_ok());
        let mut short = &b"\x10\x00\x00\x00\x00\x00\x00\x00{}"[..];
        assert!(read_header(&mut short, None).is_err());
    }
}
