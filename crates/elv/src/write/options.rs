//! How a [`Writer`](crate::Writer) chooses encodings and lays out a file.

use elv_core::Limits;

/// Default values per chunk: 2^20 (4 MiB of f32), enough for zstd, small enough that a
/// 2-core machine has work for both cores on any sizable tensor and memory stays bounded.
pub const DEFAULT_CHUNK_LEN: u64 = 1 << 20;

/// Default bytes of tensors encoded together: a batch is encoded in parallel and written in
/// order; a larger tensor is streamed in spans of about half this.
pub const DEFAULT_BATCH_BYTES: u64 = 8 << 20;

/// Default bytes of tensors decoded together when converting to safetensors. Smaller than
/// the encoder's: decoding costs less per byte, so a small batch (still two f32 chunks)
/// keeps the cores busy with less memory in flight (see `benches/NOTES.md`).
pub const DEFAULT_DECODE_BATCH_BYTES: u64 = 8 << 20;

/// What a [`Writer`](crate::Writer) may do: how lossy [`Choice::Auto`](crate::Choice) may
/// be, whether identical tensors are stored once, and the layout and entropy stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WriteOptions {
    /// Everything exact: automatic choice never picks ELF (default false).
    pub lossless: bool,
    /// Allow ELF on F16 and BF16 (bounds 2^-11 and 2^-8; default false).
    pub elf_half: bool,
    /// Keep a tensor lossless when more than this fraction of its non-zero values are small
    /// (below 2^-16, where ELF's f32 bound exceeds 0.4% of the value), as in optimizer state
    /// (default 0.1; trained weights seen so far stay under 0.03).
    pub max_small_fraction: f64,
    /// Store a tensor identical to an earlier one (same dtype, shape and bytes) as a
    /// reference to it, with automatic choice (default true).
    pub dedup: bool,
    /// zstd level for sections where zstd is smaller than `ans` (default 3).
    pub level: i32,
    /// Values per chunk (default [`DEFAULT_CHUNK_LEN`]).
    pub chunk_len: u64,
    /// Sections align to 2^`align_log2` bytes (default 3: 8 bytes).
    pub align_log2: u8,
    /// Run the entropy stage (default true); false stores every section with codec `none`.
    pub compress: bool,
    /// Input bytes encoded together (default [`DEFAULT_BATCH_BYTES`]); a larger tensor is
    /// streamed in spans of about half this. Peak memory is a few times this.
    pub batch_bytes: u64,
    /// The reader limits the file must keep within (default: what the reference reader
    /// accepts); a tensor, name or count beyond them is refused before it is written.
    pub limits: Limits,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            lossless: false,
            elf_half: false,
            max_small_fraction: 0.1,
            dedup: true,
            level: 3,
            chunk_len: DEFAULT_CHUNK_LEN,
            align_log2: 3,
            compress: true,
            batch_bytes: DEFAULT_BATCH_BYTES,
            limits: Limits::default(),
        }
    }
}

impl WriteOptions {
    /// Options that keep every value bit-exact.
    pub fn lossless() -> Self {
        WriteOptions {
            lossless: true,
            ..WriteOptions::default()
        }
    }
}
