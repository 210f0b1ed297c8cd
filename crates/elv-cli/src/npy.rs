//! The NumPy `.npy` v1.0 header, for `elv extract`.

use elv_core::DType;
use std::io::{self, Write};

/// NumPy's dtype string for `dtype`, if NumPy has one (bf16 and f8 have none).
pub fn descr(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::Bool => "|b1",
        DType::U8 => "|u1",
        DType::I8 => "|i1",
        DType::U16 => "<u2",
        DType::I16 => "<i2",
        DType::U32 => "<u4",
        DType::I32 => "<i4",
        DType::U64 => "<u8",
        DType::I64 => "<i8",
        DType::F16 => "<f2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        _ => return None,
    })
}

/// Writes a `.npy` v1.0 header for a C-order array of `dtype` and `shape`.
pub fn write_header(w: &mut dyn Write, dtype: DType, shape: &[u64]) -> io::Result<()> {
    let d = descr(dtype).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "NumPy has no dtype for {}; extract raw bytes instead",
                dtype.name()
            ),
        )
    })?;
    let dims = match shape {
        [] => "()".to_string(),
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut h = format!("{{'descr': '{d}', 'fortran_order': False, 'shape': {dims}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(h.len() as u16).to_le_bytes())?;
    w.write_all(h.as_bytes())
}
