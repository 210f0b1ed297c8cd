//! Base models for deltas (SPEC.md §9.1): where the twins of a fine-tune's tensors come from
//! when it is written ([`Writer::set_base`](crate::Writer::set_base)) and read
//! ([`Reader::with_base`](crate::Reader::with_base)). A base is any [`Base`];
//! [`BaseModel`](crate::BaseModel) opens one from files.

use crate::error::{Error, Result};
use elv_core::{DType, ErrorKind};

/// A base model: named tensors a file's deltas refer to.
pub trait Base: Send + Sync {
    /// A name for messages (the file or folder name).
    fn name(&self) -> &str;
    /// Dtype and shape of the tensor named `name`, if the base has one.
    fn twin(&self, name: &str) -> Option<(DType, Vec<u64>)>;
    /// The little-endian bytes of the tensor named `name`.
    fn read(&self, name: &str) -> Result<Vec<u8>>;
    /// `len` bytes of the tensor named `name` from byte `offset`, for reading a large twin
    /// a span at a time. The default reads the whole tensor and cuts the range out.
    fn read_range(&self, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let all = self.read(name)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
        all.get(start..end).map(<[u8]>::to_vec).ok_or_else(|| {
            Error::base(
                ErrorKind::BaseMismatch,
                name,
                format!("base {:?}: tensor {name:?} shorter than asked", self.name()),
            )
        })
    }
}

/// `base`, if it holds a twin for a tensor of this name, dtype and shape: the one rule a
/// writer matches twins by (SPEC.md §12, informative).
pub(crate) fn twin_base<'b>(
    base: Option<&'b dyn Base>,
    name: &str,
    dtype: DType,
    shape: &[u64],
) -> Option<&'b dyn Base> {
    base.filter(|b| b.twin(name).is_some_and(|(d, s)| d == dtype && s == shape))
}

/// The BLAKE3-256 hash of a base tensor's bytes, as the base table records it (§9.1).
pub fn twin_hash(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}
