//! What a writer did with each tensor: the encoding chosen, sizes and error bound.

use elv_core::{DType, Encoding};

/// A long conversion's progress callback, if the caller wants one: called with (bytes done,
/// bytes total).
pub type Progress<'a> = Option<&'a mut dyn FnMut(u64, u64)>;

/// What happened to one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorReport {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Encoding chosen ([`Encoding::Dedup`] for a reference to an identical earlier tensor).
    pub encoding: Encoding,
    /// Original bytes.
    pub original: u64,
    /// Stored stream bytes (0 for a dedup reference).
    pub stored: u64,
    /// k where the error bound is 2^-k (0: exact).
    pub error_bound_log2: u8,
    /// Why a lossy-capable tensor was kept lossless, if it was.
    pub note: Option<&'static str>,
}

impl TensorReport {
    /// The report for a tensor stored with `encoding` in `stored` bytes; `note` (why ELF was
    /// ruled out) is kept only when the tensor did not end up lossy.
    pub(crate) fn of(
        name: &str,
        dtype: DType,
        shape: &[u64],
        encoding: Encoding,
        stored: u64,
        note: Option<&'static str>,
    ) -> Self {
        let original = shape
            .iter()
            .fold(dtype.size() as u64, |a, &d| a.saturating_mul(d));
        TensorReport {
            name: name.to_owned(),
            dtype,
            shape: shape.to_vec(),
            encoding,
            original,
            stored,
            error_bound_log2: encoding.error_bound_log2(dtype),
            note: note.filter(|_| encoding.is_lossless()),
        }
    }
}

/// Summary of a compression run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// One entry per tensor, in file order.
    pub tensors: Vec<TensorReport>,
    /// Size of the input file.
    pub input_bytes: u64,
    /// Size of the `.elv` written.
    pub output_bytes: u64,
}
