//! Section codecs with std: zstd (SPEC.md §4.3).

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use elv_core::{Codec, ErrorKind, SectionDecompressor, StoredStream};
use std::io::Read;

/// Decodes every section codec of SPEC.md v1: `none` and `zstd`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdCodecs;

impl SectionDecompressor for StdCodecs {
    fn decompress(
        &self,
        codec: Codec,
        stored: &[u8],
        decoded_len: usize,
        out: &mut Vec<u8>,
    ) -> elv_core::Result<()> {
        match codec {
            Codec::Zstd => {
                let bad = |what| elv_core::Error::new(ErrorKind::Malformed, what, 0);
                let dec = zstd::stream::read::Decoder::with_buffer(stored)
                    .map_err(|_| bad("zstd frame"))?;
                // Grow with the output actually produced, never from the declared size alone:
                // a tiny frame cannot make us reserve gigabytes.
                let start =
                    decoded_len.min(stored.len().saturating_mul(16).saturating_add(1 << 16));
                out.reserve(start);
                let mut limited = dec.single_frame().take(decoded_len as u64 + 1);
                limited.read_to_end(out).map_err(|_| bad("zstd frame"))?;
                if out.len() != decoded_len {
                    return Err(bad("zstd decoded length")
                        .got_expected(out.len() as u64, decoded_len as u64));
                }
                Ok(())
            }
            other => Err(elv_core::Error::new(
                ErrorKind::UnsupportedCodec,
                other.name(),
                0,
            )),
        }
    }
}

/// Stores `bytes` with whichever of `ans` and zstd (at `level`) is smaller, or uncompressed
/// if neither shrinks it (SPEC.md §12).
pub fn pack(bytes: Vec<u8>, level: i32) -> StoredStream {
    if bytes.len() < 64 {
        return StoredStream::plain(bytes);
    }
    let decoded_len = bytes.len() as u64;
    let mut best: Option<(Codec, Vec<u8>)> = None;
    let ans = elv_core::ans::encode(&bytes);
    if ans.len() < bytes.len() {
        best = Some((Codec::Ans, ans));
    }
    if let Ok(z) = zstd::bulk::compress(&bytes, level) {
        if z.len() < best.as_ref().map_or(bytes.len(), |b| b.1.len()) {
            best = Some((Codec::Zstd, z));
        }
    }
    match best {
        Some((codec, stored)) => StoredStream {
            codec,
            decoded_len,
            stored,
        },
        None => StoredStream::plain(bytes),
    }
}
