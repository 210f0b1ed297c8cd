//! Rust types that are dtypes of the format (SPEC.md §6.2): what typed writes
//! ([`TensorData::from_values`](crate::TensorData::from_values)) and typed reads
//! ([`Tensor::to_values`](crate::Tensor::to_values)) accept.

use elv_core::DType;

/// A Rust type that is a dtype of the format: its values can be written as they are.
pub trait Element: bytemuck::Pod + sealed::Sealed {
    /// The dtype these values have.
    const DTYPE: DType;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! elements {
    ($($t:ty => $d:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$d;
        }
    )*};
}
elements!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64,
    i64 => I64, f32 => F32, f64 => F64, half::f16 => F16, half::bf16 => BF16);
