//! The dedup table (SPEC.md §9): tensors stored once and referenced.
#![deny(clippy::indexing_slicing)]

use crate::cursor::Cursor;
use crate::encoding::Encoding;
use crate::tensor::TensorInfo;
use crate::{Error, ErrorKind, Result};
use alloc::vec::Vec;

/// Serializes (tensor, canonical) pairs, sorted by tensor index.
pub fn table_to_bytes(pairs: &[(u32, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 8 * pairs.len());
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    for (t, c) in pairs {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&c.to_le_bytes());
    }
    out
}

/// Parses the dedup table and records each reference in `tensors[..].dedup_of`, checking:
/// entries sorted by tensor, each naming a `dedup` tensor and an earlier, non-dedup tensor
/// of the same dtype and shape; and every `dedup` tensor named (SPEC.md §9).
pub fn apply_table(bytes: Option<&[u8]>, tensors: &mut [TensorInfo]) -> Result<()> {
    let mut c = Cursor::new(bytes.unwrap_or_default());
    let count = if bytes.is_some() {
        let n = c.u32("dedup count")?;
        c.reserved(4, "dedup reserved")?;
        n
    } else {
        0
    };
    if count as usize > c.remaining() / 8 {
        return Err(Error::bare(
            ErrorKind::Truncated,
            "dedup table shorter than its count",
        ));
    }
    let mut last: Option<u32> = None;
    for _ in 0..count {
        let at = c.pos() as u64;
        let t = c.u32("dedup tensor")?;
        let canon = c.u32("dedup canonical")?;
        if last.is_some_and(|l| t <= l) {
            return Err(Error::new(
                ErrorKind::Malformed,
                "dedup entries not sorted",
                at,
            ));
        }
        last = Some(t);
        if canon >= t {
            return Err(Error::new(
                ErrorKind::BadDedup,
                "dedup reference not to an earlier tensor",
                at,
            )
            .got_expected(canon.into(), t.into()));
        }
        let (Some(ct), Some(tt)) = (tensors.get(canon as usize), tensors.get(t as usize)) else {
            return Err(Error::new(ErrorKind::OutOfRange, "dedup tensor index", at)
                .got_expected(t.into(), tensors.len() as u64));
        };
        if tt.encoding != Encoding::Dedup || ct.encoding == Encoding::Dedup {
            return Err(Error::new(
                ErrorKind::BadDedup,
                "dedup entry on a non-dedup tensor, or a chain",
                at,
            ));
        }
        if tt.dtype != ct.dtype
            || tt.shape != ct.shape
            || tt.crc32 != ct.crc32
            || tt.error_bound_log2 != ct.error_bound_log2
        {
            return Err(Error::new(
                ErrorKind::BadDedup,
                "dedup tensors differ in dtype, shape, CRC or error bound",
                at,
            ));
        }
        if let Some(slot) = tensors.get_mut(t as usize) {
            slot.dedup_of = Some(canon);
        }
    }
    c.finish("dedup table")?;
    if let Some(i) = tensors
        .iter()
        .position(|t| t.encoding == Encoding::Dedup && t.dedup_of.is_none())
    {
        return Err(Error::bare(
            ErrorKind::BadDedup,
            "dedup tensor missing from the dedup table",
        )
        .got_expected(i as u64, 0));
    }
    Ok(())
}
