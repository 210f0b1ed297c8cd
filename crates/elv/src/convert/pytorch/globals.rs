//! The globals a tensor checkpoint's pickle may name — the names
//! `torch.load(weights_only=True)` allows for plain checkpoints — and what each means here.
//! Every other global is refused by name.

use elv_core::DType;

/// The globals a tensor checkpoint may name; each is interpreted, never called.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Global {
    OrderedDict,
    RebuildTensor,
    /// `_rebuild_tensor_v3`: as v2, with the tensor's dtype after the hooks (float8 types
    /// over an untyped storage).
    RebuildTensorV3,
    RebuildParameter,
    Size,
    Device,
    Encode,
    Set,
    StorageType(DType),
    /// A `torch.<dtype>` object, as `_rebuild_tensor_v3` names the tensor's type.
    DType(DType),
}

/// The global `module.name`, if a tensor checkpoint may use it.
pub(crate) fn allowed(module: &str, name: &str) -> Option<Global> {
    let storage = |d| Some(Global::StorageType(d));
    match (module, name) {
        ("collections", "OrderedDict") => Some(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensor),
        ("torch._utils", "_rebuild_tensor_v3") => Some(Global::RebuildTensorV3),
        ("torch.storage", "UntypedStorage") => storage(DType::U8),
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            Some(Global::RebuildParameter)
        }
        ("torch", "Size") => Some(Global::Size),
        ("torch", "device") => Some(Global::Device),
        ("_codecs", "encode") => Some(Global::Encode),
        ("builtins" | "__builtin__", "set" | "frozenset") => Some(Global::Set),
        ("torch", "FloatStorage") => storage(DType::F32),
        ("torch", "DoubleStorage") => storage(DType::F64),
        ("torch", "HalfStorage") => storage(DType::F16),
        ("torch", "BFloat16Storage") => storage(DType::BF16),
        ("torch", "LongStorage") => storage(DType::I64),
        ("torch", "IntStorage") => storage(DType::I32),
        ("torch", "ShortStorage") => storage(DType::I16),
        ("torch", "CharStorage") => storage(DType::I8),
        ("torch", "ByteStorage") => storage(DType::U8),
        ("torch", "BoolStorage") => storage(DType::Bool),
        ("torch", "Float8_e4m3fnStorage") => storage(DType::F8E4M3),
        ("torch", "Float8_e5m2Storage") => storage(DType::F8E5M2),
        ("torch", "UInt16Storage") => storage(DType::U16),
        ("torch", "UInt32Storage") => storage(DType::U32),
        ("torch", "UInt64Storage") => storage(DType::U64),
        ("torch", "ComplexFloatStorage") => storage(DType::C64),
        ("torch", name) => dtype_named(name).map(Global::DType),
        _ => None,
    }
}

/// Why the global `module.name`, which [`allowed`] does not know, is refused.
pub(crate) fn refusal(module: &str, name: &str) -> String {
    let a_type = name.ends_with("Storage")
        || [
            "complex", "float8", "qint", "quint", "uint1", "int1", "float4", "bits",
        ]
        .iter()
        .any(|p| name.starts_with(p));
    match module {
        "torch" if name.starts_with("float4") => format!(
            "a tensor of type torch.{name}: .elv stores F4 from safetensors files, but \
             checkpoints' packed float4 is not read yet (save it with safetensors)"
        ),
        "torch" if a_type => format!("a tensor of type torch.{name}, which .elv does not store"),
        _ => format!(
            "refused global {module}.{name}: a tensor checkpoint does not need it, and \
             nothing in the file was run (load it with torch only if you trust it)"
        ),
    }
}

/// The dtype `torch.<name>` is, if `.elv` stores it.
fn dtype_named(name: &str) -> Option<DType> {
    Some(match name {
        "float32" | "float" => DType::F32,
        "float64" | "double" => DType::F64,
        "float16" | "half" => DType::F16,
        "bfloat16" => DType::BF16,
        "int64" | "long" => DType::I64,
        "int32" | "int" => DType::I32,
        "int16" | "short" => DType::I16,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        "uint16" => DType::U16,
        "uint32" => DType::U32,
        "uint64" => DType::U64,
        "bool" => DType::Bool,
        "float8_e4m3fn" => DType::F8E4M3,
        "float8_e5m2" => DType::F8E5M2,
        "float8_e4m3fnuz" => DType::F8E4M3Fnuz,
        "float8_e5m2fnuz" => DType::F8E5M2Fnuz,
        "float8_e8m0fnu" => DType::F8E8M0,
        "complex64" | "cfloat" => DType::C64,
        _ => return None,
    })
}
