//! Section codecs with std: zstd (SPEC.md §4.3).

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use elv_core::engine::writer::StoredStream;
use elv_core::{Codec, ErrorKind, SectionDecompressor};
use std::io::Read;

/// Adds zstd to the core's codecs, so a reader decodes every section codec of SPEC.md v1
/// (`none`, `zstd`, `ans`).
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
                let bad = |what| elv_core::Error::bare(ErrorKind::Malformed, what);
                // SPEC.md §4.3: exactly one Zstandard frame (not a skippable one), nothing
                // after it, no dictionary, a window of at most 2^27 bytes.
                let frame = zstd::zstd_safe::find_frame_compressed_size(stored)
                    .map_err(|_| bad("zstd frame (truncated, or not a frame)"))?;
                if frame != stored.len() {
                    return Err(bad("bytes after the zstd frame")
                        .got_expected(stored.len() as u64, frame as u64));
                }
                let magic = stored
                    .get(..4)
                    .map(|m| m.iter().rev().fold(0u32, |a, &b| a << 8 | u32::from(b)));
                if magic.is_some_and(|m| m & 0xffff_fff0 == 0x184d_2a50) {
                    return Err(bad("skippable zstd frame"));
                }
                if zstd::zstd_safe::get_dict_id_from_frame(stored).is_some() {
                    return Err(bad("zstd frame needing a dictionary"));
                }
                let mut dec = zstd::stream::read::Decoder::with_buffer(stored)
                    .map_err(|_| bad("zstd frame"))?;
                dec.window_log_max(27).map_err(|_| bad("zstd frame"))?;
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
            other => Err(elv_core::Error::bare(
                ErrorKind::UnsupportedCodec,
                other.name(),
            )),
        }
    }

    fn ans_decoder(&self) -> elv_core::engine::ans::BlockDecoder {
        crate::ans_simd::decode::block_decoder()
    }
}

thread_local! {
    /// One zstd compression context per thread and level: creating one per stream showed as
    /// 2.5% of compression time.
    static ZSTD: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { std::cell::RefCell::new(None) };
}

fn zstd_compress(bytes: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    ZSTD.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match slot.as_mut() {
            Some((_, c)) => c.compress(bytes),
            None => zstd::bulk::compress(bytes, level),
        }
    })
}

/// Which codecs [`pack_with`] may try for a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Try {
    /// `ans` and zstd, keeping the smaller.
    Both,
    /// Only `ans` (a trial found it smallest for streams like this one).
    Ans,
    /// Only zstd.
    Zstd,
    /// Neither: store as is.
    Plain,
}

/// Stores `bytes` with whichever of `ans` and zstd (at `level`) is smaller, or uncompressed
/// if neither shrinks it (SPEC.md §12).
pub fn pack(bytes: Vec<u8>, level: i32) -> StoredStream {
    pack_with(bytes, level, Try::Both)
}

/// Stored sizes [`pack`] could reach for a stream, found without coding it with `ans`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// The smaller of the stream as is and [`elv_core::engine::ans::estimated_len`] (within 0.2% of
    /// the coded length).
    pub plain_or_ans: u64,
    /// Whether `plain_or_ans` is the `ans` estimate.
    pub ans: bool,
    /// zstd's stored size, if it was tried.
    pub zstd: Option<u64>,
}

impl Estimate {
    /// The smallest stored size.
    pub fn best(&self) -> u64 {
        self.zstd
            .map_or(self.plain_or_ans, |z| z.min(self.plain_or_ans))
    }

    /// The codec [`pack`] would choose.
    pub fn codec(&self) -> Codec {
        match self.zstd {
            Some(z) if z < self.plain_or_ans => Codec::Zstd,
            _ if self.ans => Codec::Ans,
            _ => Codec::None,
        }
    }
}

/// What [`pack`] would store `bytes` as, with `ans` estimated rather than run (trials use it:
/// coding with `ans` only to learn the size cost them a fifth of their time) and zstd at
/// `level` run only if `try_zstd`.
pub fn estimate(bytes: &[u8], level: i32, try_zstd: bool) -> Estimate {
    let len = bytes.len() as u64;
    let mut e = Estimate {
        plain_or_ans: len,
        ans: false,
        zstd: None,
    };
    if bytes.len() < 64 {
        return e;
    }
    let ans = elv_core::engine::ans::estimated_len(bytes) as u64;
    if ans >= len {
        return e;
    }
    e.plain_or_ans = ans;
    e.ans = true;
    if try_zstd {
        if let Ok(z) = zstd_compress(bytes, level) {
            e.zstd = Some(z.len() as u64);
        }
    }
    e
}

/// [`pack`] restricted to the codecs `which` allows; always falls back to uncompressed.
pub fn pack_with(bytes: Vec<u8>, level: i32, which: Try) -> StoredStream {
    if bytes.len() < 64 || which == Try::Plain {
        return StoredStream::plain(bytes);
    }
    let decoded_len = bytes.len() as u64;
    // Near-random bytes (low mantissa planes): if order-0 coding cannot shrink them, neither
    // coder is tried. Weight planes hold no long matches for zstd to find, and running both
    // coders on such planes took a third of lossless compression time. With `ans` alone the
    // check is left out: `ans` then already won a trial on this stream, and a stream it cannot
    // shrink is still stored as is below.
    if which != Try::Ans && elv_core::engine::ans::estimated_len(&bytes) >= bytes.len() {
        return StoredStream::plain(bytes);
    }
    let mut best: Option<(Codec, Vec<u8>)> = None;
    if which != Try::Zstd {
        let ans = crate::ans_simd::encode(&bytes);
        if ans.len() < bytes.len() {
            best = Some((Codec::Ans, ans));
        }
    }
    if which != Try::Ans {
        if let Ok(z) = zstd_compress(&bytes, level) {
            if z.len() < best.as_ref().map_or(bytes.len(), |b| b.1.len()) {
                best = Some((Codec::Zstd, z));
            }
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
