//! Checking a `.elv` against the safetensors file it came from: per tensor, the largest
//! absolute error and how many values are bit-exact, against the bound the file states.
//! Both sides are read 8 MiB at a time, so memory does not grow with the tensor size.

use crate::convert::safetensors;
use crate::Reader;
use crate::Result;
use crate::Source;
use elv_core::engine::dtype::compare_floats;
use elv_core::DType;
use std::io::{Read, Seek, SeekFrom};

/// Bytes of each side compared at a time.
const READ_BYTES: usize = 8 << 20;

/// How one tensor of the original compares with its decoded `.elv` counterpart.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorCheck {
    /// Tensor name.
    pub name: String,
    /// Element type in the original.
    pub dtype: DType,
    /// `k` of the `.elv` tensor's stated bound 2^-k (0: exact); `None` if it is missing.
    pub error_bound_log2: Option<u8>,
    /// Largest absolute difference (infinite where dtype or shape differ, or an integer
    /// value differs).
    pub max_abs_error: f64,
    /// Values that are bit-identical.
    pub exact: u64,
    /// Values in the tensor.
    pub values: u64,
    /// Whether the tensor keeps its stated bound (bit-exact where the bound is 0).
    pub ok: bool,
}

/// The comparison of a whole file with its original.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    /// One row per tensor of the original, in its order.
    pub tensors: Vec<TensorCheck>,
    /// Tensor count of the original and of the `.elv`.
    pub counts: (usize, usize),
}

impl Comparison {
    /// Whether every tensor is present and keeps its bound, and the counts agree.
    pub fn ok(&self) -> bool {
        self.counts.0 == self.counts.1 && self.tensors.iter().all(|t| t.ok)
    }
}

/// Compares every tensor of the safetensors stream `original` with `reader`'s (looked up by
/// name). `f` sees each row as it is made.
pub fn verify_against<S: Source, R: Read + Seek>(
    reader: &Reader<S>,
    mut original: R,
    f: &mut dyn FnMut(&TensorCheck),
) -> Result<Comparison> {
    let len = original.seek(SeekFrom::End(0))?;
    original.seek(SeekFrom::Start(0))?;
    let header = safetensors::read_header(&mut original, Some(len))?;
    let data_start = header.data_start();
    let mut out = Comparison {
        counts: (header.entries.len(), reader.len()),
        ..Comparison::default()
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for e in &header.entries {
        let size = e.dtype.size();
        let values = e.len() / size.max(1) as u64;
        let mut row = TensorCheck {
            name: e.name.clone(),
            dtype: e.dtype,
            error_bound_log2: None,
            max_abs_error: f64::INFINITY,
            exact: 0,
            values,
            ok: false,
        };
        if let Some(t) = reader.get(&e.name) {
            row.error_bound_log2 = Some(t.error_bound_log2());
            if t.dtype() == e.dtype && t.shape() == e.shape {
                original.seek(SeekFrom::Start(data_start + e.begin))?;
                let mut decoded = t.stream();
                let (mut max, mut exact) = (0f64, 0u64);
                let mut left = e.len() as usize;
                while left > 0 {
                    let n = left.min(READ_BYTES / size * size);
                    a.resize(n, 0);
                    b.resize(n, 0);
                    original.read_exact(&mut a)?;
                    decoded.read_exact(&mut b)?;
                    let (m, x) = compare(e.dtype, &a, &b);
                    max = if m > max || m.is_nan() { m } else { max };
                    exact += x;
                    left -= n;
                }
                // Reading past the end checks the tensor CRC.
                decoded.read_to_end(&mut b)?;
                row.max_abs_error = max;
                row.exact = exact;
                row.ok = match t.error_bound_log2() {
                    0 => exact == values,
                    _ => max <= t.error_bound(),
                };
            }
        }
        f(&row);
        out.tensors.push(row);
    }
    Ok(out)
}

/// Largest absolute difference and bit-exact count of two runs of `dtype` values.
fn compare(dtype: DType, a: &[u8], b: &[u8]) -> (f64, u64) {
    if dtype.float_format().is_some() {
        return compare_floats(dtype, a, b).unwrap_or((f64::INFINITY, 0));
    }
    let size = dtype.size();
    let exact = a
        .chunks(size)
        .zip(b.chunks(size))
        .filter(|(x, y)| x == y)
        .count() as u64;
    let all = (a.len() / size.max(1)) as u64;
    (if exact == all { 0.0 } else { f64::INFINITY }, exact)
}
