//! HD (paper §5.3, SPEC.md §9): a tensor identical to an earlier one is stored as a
//! reference to it. Content is identified by dtype, shape and a BLAKE3 hash of the bytes:
//! a cryptographic hash, so a match is trusted without comparing bytes (making two different
//! tensors share a reference would take a BLAKE3 collision), and bytes written long ago need
//! not be kept or read again.

use crate::error::Result;
use elv_core::DType;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};

/// What identifies a tensor's content: dtype, shape and the BLAKE3 hash of its bytes.
pub(crate) type ContentKey = (DType, Vec<u64>, [u8; 32]);

/// The content key of a tensor held in memory.
pub(crate) fn content_key(dtype: DType, shape: &[u64], data: &[u8]) -> ContentKey {
    (dtype, shape.to_vec(), *blake3::hash(data).as_bytes())
}

/// Dtype, shape and [`probe_hash`] of a large tensor.
pub(crate) type ProbeKey = (DType, Vec<u64>, u128);

/// What HD knows of the tensors kept so far.
#[derive(Default)]
pub(crate) struct Seen {
    /// Content key of each tensor kept, with its index in the file.
    full: HashMap<ContentKey, u32>,
    /// Probe of each large tensor kept.
    probes: HashSet<ProbeKey>,
}

impl Seen {
    /// The index of an earlier tensor with this content.
    pub(crate) fn get(&self, key: &ContentKey) -> Option<u32> {
        self.full.get(key).copied()
    }

    /// Records tensor `index` with content `key` (the first one of a content is kept).
    pub(crate) fn insert(&mut self, key: ContentKey, index: u32) {
        self.full.entry(key).or_insert(index);
    }

    /// Whether an earlier large tensor had this probe: only then is a large tensor hashed
    /// whole before it is encoded.
    pub(crate) fn probed(&self, probe: &ProbeKey) -> bool {
        self.probes.contains(probe)
    }

    /// Records the probe of a large tensor kept.
    pub(crate) fn insert_probe(&mut self, probe: ProbeKey) {
        self.probes.insert(probe);
    }
}

/// Bytes hashed at each of the start, middle and end of a large tensor by [`probe_hash`].
const PROBE_BYTES: u64 = 64 << 10;

/// A hash of three slices of a large tensor (start, middle, end): tensors whose probes differ
/// cannot be equal, so a tensor whose probe no earlier one shares is not read whole just to
/// be hashed before encoding (its hash is taken while it is encoded).
pub(crate) fn probe_hash<R: Read + Seek>(input: &mut R, base: u64, len: u64) -> Result<u128> {
    let n = PROBE_BYTES.min(len);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; n as usize];
    for at in [0, (len - n) / 2, len - n] {
        input.seek(SeekFrom::Start(base + at))?;
        input.read_exact(&mut buf)?;
        h.update(&buf);
    }
    Ok(h.digest128())
}
