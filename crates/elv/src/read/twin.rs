//! Base twins for a reader (SPEC.md §9.1): found by name in the base model, checked against
//! the base table (dtype, shape, BLAKE3 hash) before any value is decoded from them, then read
//! whole (small twins) or by range (large ones, so memory stays bounded).

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use crate::base::{twin_hash, Base};
use crate::error::{Error, Result};
use elv_core::engine::catalog::Catalog;
use elv_core::{Error as CoreError, ErrorKind};
use std::sync::{Arc, Mutex};

/// Twins up to this size are read whole and kept for the tensor's decode; larger ones are
/// hashed a span at a time first, then read by range as their chunks decode.
const WHOLE_BYTES: u64 = 16 << 20;

/// A checked twin.
#[derive(Clone)]
pub(crate) enum Twin {
    /// Its bytes.
    Whole(Arc<Vec<u8>>),
    /// Read by range from the base when needed, and hashed again as it is read in order, so
    /// that the hash covers the bytes actually used, not only those checked at first.
    Large {
        base: Arc<dyn Base>,
        name: String,
        len: u64,
        expected: [u8; 32],
        running: Arc<Mutex<Running>>,
    },
}

/// The hash of a large twin's bytes read so far, in order from byte 0.
pub(crate) struct Running {
    next: u64,
    hasher: blake3::Hasher,
}

/// Bytes of a twin from byte `offset` on.
pub(crate) struct TwinBytes {
    bytes: Arc<Vec<u8>>,
    offset: u64,
}

impl TwinBytes {
    /// The `len` bytes from twin byte `start` (absolute), if these bytes hold them.
    pub(crate) fn get(&self, start: u64, len: u64) -> Option<&[u8]> {
        let at = usize::try_from(start.checked_sub(self.offset)?).ok()?;
        self.bytes
            .get(at..at.checked_add(usize::try_from(len).ok()?)?)
    }
}

impl Twin {
    /// `len` bytes of the twin from byte `offset`.
    pub(crate) fn range(&self, offset: u64, len: u64) -> Result<TwinBytes> {
        match self {
            Twin::Whole(b) => Ok(TwinBytes {
                bytes: Arc::clone(b),
                offset: 0,
            }),
            Twin::Large {
                base,
                name,
                len: total,
                expected,
                running,
            } => {
                let bytes = base.read_range(name, offset, len)?;
                check_in_order(running, offset, &bytes, *total, expected, name)?;
                Ok(TwinBytes {
                    bytes: Arc::new(bytes),
                    offset,
                })
            }
        }
    }

    /// Hands `f` the `len` twin bytes from byte `offset`; a base that gives fewer is
    /// `BaseMismatch`.
    pub(crate) fn with_range<T>(
        &self,
        offset: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<T> {
        let got = self.range(offset, len)?;
        let bytes = got
            .get(offset, len)
            .ok_or_else(|| CoreError::bare(ErrorKind::BaseMismatch, "base twin length"))?;
        Ok(f(bytes))
    }
}

/// Adds `bytes` (read at `offset`) to the running hash when they continue it (a read from 0
/// starts it over); once the whole twin has gone through, it must be the hash the base table
/// records: a base rewritten after its first check is `BaseMismatch` before the last of the
/// tensor is decoded.
fn check_in_order(
    running: &Mutex<Running>,
    offset: u64,
    bytes: &[u8],
    total: u64,
    expected: &[u8; 32],
    name: &str,
) -> Result<()> {
    let Ok(mut r) = running.lock() else {
        return Ok(());
    };
    if offset == 0 {
        r.next = 0;
        r.hasher = blake3::Hasher::new();
    }
    if offset != r.next {
        return Ok(());
    }
    r.hasher.update(bytes);
    r.next += bytes.len() as u64;
    if r.next == total && r.hasher.finalize().as_bytes() != expected {
        return Err(Error::base(
            ErrorKind::BaseMismatch,
            name,
            format!("base tensor {name:?} changed while it was read (its BLAKE3 hash differs)"),
        ));
    }
    Ok(())
}

/// The base model of a reader and the twin it checked last.
#[derive(Default)]
pub(crate) struct Twins {
    base: Option<Arc<dyn Base>>,
    last: Mutex<Option<(usize, Twin)>>,
}

impl Twins {
    pub(crate) fn new(base: Arc<dyn Base>) -> Twins {
        Twins {
            base: Some(base),
            last: Mutex::new(None),
        }
    }

    /// The twin of the tensor whose streams hold tensor `i` (itself or its dedup original),
    /// if that tensor is stored against the base: checked before it is given.
    pub(crate) fn get(&self, catalog: &Catalog, i: usize) -> Result<Option<Twin>> {
        let t = catalog
            .tensors()
            .get(i)
            .ok_or_else(|| CoreError::bare(ErrorKind::NotFound, "tensor index"))?;
        let s = t.dedup_of.map_or(i, |c| c as usize);
        let info = catalog.storage_of(i)?;
        if !info.encoding.needs_base() {
            return Ok(None);
        }
        if let Ok(last) = self.last.lock() {
            if let Some((_, twin)) = last.as_ref().filter(|(k, _)| *k == s) {
                return Ok(Some(twin.clone()));
            }
        }
        let entry = catalog
            .base()
            .and_then(|b| b.entry(s))
            .ok_or_else(|| CoreError::bare(ErrorKind::BadBase, "tensor without a base entry"))?;
        let name = &info.name;
        let file_base = catalog.base().map_or("", |b| b.name.as_str());
        let Some(base) = &self.base else {
            return Err(Error::base(
                ErrorKind::BaseMissing,
                name,
                format!("tensor {name:?} is stored against base model {file_base:?}: give that base to decode it"),
            ));
        };
        let (dtype, shape) = base.twin(&entry.twin).ok_or_else(|| {
            Error::base(
                ErrorKind::BaseMissing,
                name,
                format!(
                    "base {:?} has no tensor {:?}, which {name:?} is stored against (base of the file: {file_base:?})",
                    base.name(),
                    entry.twin
                ),
            )
        })?;
        if dtype != info.dtype || shape != info.shape {
            return Err(Error::base(
                ErrorKind::BaseMismatch,
                name,
                format!(
                    "base {:?}: tensor {:?} is {} {:?}, but {name:?} was written against {} {:?}",
                    base.name(),
                    entry.twin,
                    dtype.name(),
                    shape,
                    info.dtype.name(),
                    info.shape
                ),
            ));
        }
        let len = info.byte_len();
        let (hash, twin) = if len <= WHOLE_BYTES {
            let bytes = base.read(&entry.twin)?;
            (twin_hash(&bytes), Twin::Whole(Arc::new(bytes)))
        } else {
            let mut h = blake3::Hasher::new();
            let mut off = 0;
            while off < len {
                let n = WHOLE_BYTES.min(len - off);
                h.update(&base.read_range(&entry.twin, off, n)?);
                off += n;
            }
            let twin = Twin::Large {
                base: Arc::clone(base),
                name: entry.twin.clone(),
                len,
                expected: entry.hash,
                running: Arc::new(Mutex::new(Running {
                    next: 0,
                    hasher: blake3::Hasher::new(),
                })),
            };
            (*h.finalize().as_bytes(), twin)
        };
        if hash != entry.hash {
            return Err(Error::base(
                ErrorKind::BaseMismatch,
                name,
                format!(
                    "base {:?}: tensor {:?} is not the one {name:?} was written against (its BLAKE3 hash differs; the file's base is {file_base:?})",
                    base.name(),
                    entry.twin
                ),
            ));
        }
        if let Ok(mut last) = self.last.lock() {
            *last = Some((s, twin.clone()));
        }
        Ok(Some(twin))
    }
}
