//! File metadata (SPEC.md §10): ordered UTF-8 key/value pairs.
#![deny(clippy::indexing_slicing)]

use crate::cursor::Cursor;
use crate::limits::{self, Limits};
use crate::{Error, ErrorKind, Result};
use alloc::string::String;
use alloc::vec::Vec;

/// Serializes metadata pairs in the order given.
pub fn to_bytes(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// Parses the metadata section: keys unique, keys and values UTF-8, within `limits`.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Vec<(String, String)>> {
    let mut c = Cursor::new(bytes);
    let count = c.u32("metadata count")?;
    c.reserved(4, "metadata reserved")?;
    limits::check(
        count.into(),
        limits.max_metadata_entries.into(),
        "metadata entries",
        0,
    )?;
    if count as usize > c.remaining() / 8 {
        return Err(Error::bare(
            ErrorKind::Truncated,
            "metadata shorter than its count",
        ));
    }
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let at = c.pos() as u64;
        let klen = c.u32("metadata key length")?;
        limits::check(
            klen.into(),
            limits.max_name_len.into(),
            "metadata key length",
            at,
        )?;
        let key = c.utf8(klen as usize, "metadata key")?;
        let vlen = c.u32("metadata value length")?;
        let value = c.utf8(vlen as usize, "metadata value")?;
        pairs.push((key, value));
    }
    c.finish("metadata")?;
    let mut keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w.first() == w.get(1)) {
        return Err(Error::bare(ErrorKind::DuplicateName, "metadata key"));
    }
    Ok(pairs)
}
