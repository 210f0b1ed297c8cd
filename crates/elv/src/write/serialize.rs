//! One-shot writing, shaped like `safetensors::serialize`: named tensors in, a whole `.elv`
//! out, as bytes or as a file written atomically.

use crate::atomic;
use crate::element::Element;
use crate::error::Result;
use crate::write::options::WriteOptions;
use crate::write::report::TensorReport;
use crate::write::writer::Writer;
use elv_core::DType;
use std::borrow::Cow;
use std::path::Path;

/// A tensor to write: dtype, shape and its little-endian, row-major bytes (borrowed where it
/// can be).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorData<'a> {
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first.
    pub shape: Vec<u64>,
    /// `dtype.size()` × product of `shape` bytes.
    pub data: Cow<'a, [u8]>,
}

impl<'a> TensorData<'a> {
    /// A tensor of `dtype` and `shape` over raw little-endian bytes.
    pub fn new(dtype: DType, shape: &[u64], data: impl Into<Cow<'a, [u8]>>) -> Self {
        TensorData {
            dtype,
            shape: shape.to_vec(),
            data: data.into(),
        }
    }

    /// A tensor of `shape` over typed values (borrowed on little-endian machines).
    pub fn from_values<T: Element>(shape: &[u64], values: &'a [T]) -> Self {
        let data = if cfg!(target_endian = "little") {
            Cow::Borrowed(bytemuck::cast_slice(values))
        } else {
            let mut v: Vec<u8> = bytemuck::cast_slice(values).to_vec();
            for c in v.chunks_exact_mut(std::mem::size_of::<T>()) {
                c.reverse();
            }
            Cow::Owned(v)
        };
        TensorData {
            dtype: T::DTYPE,
            shape: shape.to_vec(),
            data,
        }
    }

    /// An f32 tensor of `shape` (shorthand for [`from_values`](Self::from_values)).
    pub fn f32(shape: &[u64], values: &'a [f32]) -> Self {
        Self::from_values(shape, values)
    }
}

/// Writes `tensors` (with automatic choice: the options' mode, trials and dedup) and
/// `metadata` as a whole `.elv` file in memory. Tensors are written in the order given;
/// names must be unique. `metadata` is safetensors' `__metadata__`: [`crate::Reader::metadata`]
/// returns it and decompressing to safetensors writes it.
///
/// ```
/// let w = [0.5f32, -0.25, 0.125, 3.0];
/// let ids = [7i64, 8, 9];
/// let file = elv::serialize(
///     [("w", elv::TensorData::f32(&[2, 2], &w)), ("ids", elv::TensorData::from_values(&[3], &ids))],
///     Some(vec![("source".into(), "example".into())]),
///     &elv::WriteOptions::default(),
/// )?;
/// let r = elv::Reader::from_bytes(file)?;
/// assert_eq!(r.get("ids").unwrap().to_vec()?, bytemuck_ids(&ids));
/// assert_eq!(r.metadata(), [("source".to_string(), "example".to_string())]);
/// # fn bytemuck_ids(v: &[i64]) -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() }
/// # Ok::<(), elv::Error>(())
/// ```
pub fn serialize<'a, N: AsRef<str> + Send>(
    tensors: impl IntoIterator<Item = (N, TensorData<'a>)>,
    metadata: Option<Vec<(String, String)>>,
    options: &WriteOptions,
) -> Result<Vec<u8>> {
    let mut w = Writer::new(Vec::new(), *options)?;
    write_all(&mut w, tensors, metadata)?;
    w.finish()
}

/// [`serialize`] into the file at `path`, written atomically: to a temporary file beside it,
/// then renamed over it, so a reader of `path` sees the old file or the new one, never a
/// part, and a failure leaves `path` as it was. An existing file is replaced, as
/// `safetensors::serialize_to_file` and [`std::fs::write`] do.
pub fn serialize_to_file<'a, N: AsRef<str> + Send>(
    tensors: impl IntoIterator<Item = (N, TensorData<'a>)>,
    metadata: Option<Vec<(String, String)>>,
    path: impl AsRef<Path>,
    options: &WriteOptions,
) -> Result<Vec<TensorReport>> {
    let path = path.as_ref();
    atomic::write_atomic(path, true, |out| {
        let mut w = Writer::new(out, *options)?;
        let reports = write_all(&mut w, tensors, metadata)?;
        w.finish()?;
        Ok(reports)
    })
}

/// Adds `tensors` through the pipelined writer ([`Writer::add_all`]), then `metadata`.
fn write_all<'a, N: AsRef<str> + Send, W: std::io::Write>(
    w: &mut Writer<W>,
    tensors: impl IntoIterator<Item = (N, TensorData<'a>)>,
    metadata: Option<Vec<(String, String)>>,
) -> Result<Vec<TensorReport>> {
    let reports = w.add_all(tensors)?;
    if let Some(m) = metadata {
        w.set_metadata(crate::metadata::stored_metadata(m))?;
    }
    Ok(reports)
}
