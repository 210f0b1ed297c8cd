//! The base table (SPEC.md §9.1): which base model a file was written against, and for each
//! tensor stored against it (`base`, `delta`, `elf_delta`), its twin's name and the BLAKE3
//! hash of the twin's bytes, so a decoder can check the base it is given before using it.
#![deny(clippy::indexing_slicing)]

use crate::cursor::Cursor;
use crate::limits::{self, Limits};
use crate::tensor::TensorInfo;
use crate::{Error, ErrorKind, Result};
use alloc::string::String;
use alloc::vec::Vec;

/// Bytes of an entry besides its twin's name.
const ENTRY_FIXED: usize = 4 + 32 + 2;

/// One tensor stored against the base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseEntry {
    /// Index of the tensor in this file's tensor table.
    pub tensor: u32,
    /// BLAKE3-256 of the twin's decoded bytes.
    pub hash: [u8; 32],
    /// Name of the twin in the base model.
    pub twin: String,
}

/// The parsed base table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaseTable {
    /// A name for the base model, for messages (its file name, say); not checked.
    pub name: String,
    /// Entries sorted by tensor index.
    pub entries: Vec<BaseEntry>,
}

impl BaseTable {
    /// Serializes the table.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0u8; 4]);
        out.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        out.extend_from_slice(self.name.as_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.tensor.to_le_bytes());
            out.extend_from_slice(&e.hash);
            out.extend_from_slice(&(e.twin.len() as u16).to_le_bytes());
            out.extend_from_slice(e.twin.as_bytes());
        }
        out
    }

    /// Parses the table and checks it against the tensor table, in this order: count within
    /// the tensor limit and `38·b` bytes present (`LimitExceeded`, `Truncated`); the name
    /// (`LimitExceeded`, `InvalidUtf8`); per entry, tensor indices strictly increasing
    /// (`Malformed`) and within the table (`OutOfRange`), the tensor's encoding needs a base
    /// (`BadBase`), the twin's name (`LimitExceeded`, `InvalidUtf8`); the table ends there
    /// (`Malformed`); every tensor whose encoding needs a base has an entry (`BadBase`).
    pub fn parse(bytes: &[u8], tensors: &[TensorInfo], limits: &Limits) -> Result<BaseTable> {
        let mut c = Cursor::new(bytes);
        let count = c.u32("base entry count")?;
        c.reserved(4, "base table reserved")?;
        limits::check(count.into(), limits.max_tensors.into(), "base entries", 0)?;
        if count as usize > c.remaining() / ENTRY_FIXED {
            return Err(Error::new(
                ErrorKind::Truncated,
                "base table shorter than its count",
                8,
            ));
        }
        let name = read_name(&mut c, limits, "base name")?;
        let mut entries = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let at = c.pos() as u64;
            let tensor = c.u32("base entry tensor")?;
            if entries
                .last()
                .is_some_and(|l: &BaseEntry| tensor <= l.tensor)
            {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    "base entries not sorted by tensor",
                    at,
                ));
            }
            let t = tensors.get(tensor as usize).ok_or_else(|| {
                Error::new(ErrorKind::OutOfRange, "base entry tensor index", at)
                    .got_expected(tensor.into(), tensors.len() as u64)
            })?;
            if !t.encoding.needs_base() {
                return Err(Error::new(
                    ErrorKind::BadBase,
                    "base entry for a tensor not stored against the base",
                    at,
                ));
            }
            let mut hash = [0u8; 32];
            hash.copy_from_slice(c.take(32, "base entry hash")?);
            let twin = read_name(&mut c, limits, "base twin name")?;
            entries.push(BaseEntry { tensor, hash, twin });
        }
        c.finish("base table")?;
        let mut next = entries.iter().map(|e| e.tensor as usize).peekable();
        for (i, t) in tensors.iter().enumerate() {
            if next.peek() == Some(&i) {
                next.next();
            } else if t.encoding.needs_base() {
                return Err(Error::bare(
                    ErrorKind::BadBase,
                    "tensor stored against the base without a base entry",
                )
                .got_expected(i as u64, 0));
            }
        }
        Ok(BaseTable { name, entries })
    }

    /// The entry of tensor `i`, if it is stored against the base.
    pub fn entry(&self, i: usize) -> Option<&BaseEntry> {
        self.entries
            .binary_search_by_key(&i, |e| e.tensor as usize)
            .ok()
            .and_then(|k| self.entries.get(k))
    }
}

fn read_name(c: &mut Cursor<'_>, limits: &Limits, what: &'static str) -> Result<String> {
    let at = c.pos() as u64;
    let len = c.u16(what)?;
    limits::check(len.into(), limits.max_name_len.into(), what, at)?;
    c.utf8(len.into(), what)
}

/// Checks that no tensor needs a base when the file has no base table (SPEC.md §9.1).
pub fn check_none_needed(tensors: &[TensorInfo]) -> Result<()> {
    match tensors.iter().position(|t| t.encoding.needs_base()) {
        Some(i) => Err(Error::bare(
            ErrorKind::BadBase,
            "tensor stored against a base in a file without a base table",
        )
        .got_expected(i as u64, 0)),
        None => Ok(()),
    }
}
