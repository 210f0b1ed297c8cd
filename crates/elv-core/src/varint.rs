//! ULEB128 variable-length integers (SPEC.md §2.2).

use crate::{Error, ErrorKind, Result};
use alloc::vec::Vec;

/// Appends `v` as ULEB128: 7 bits per byte, least significant group first, high bit set on
/// every byte but the last.
pub fn write_uleb(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads one ULEB128 at `*pos` and advances `*pos`. The encoding must be minimal (no
/// trailing zero groups) and fit in 64 bits.
pub fn read_uleb(bytes: &[u8], pos: &mut usize) -> Result<u64> {
    let start = *pos;
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let Some(&b) = bytes.get(*pos) else {
            return Err(Error::new(ErrorKind::Truncated, "varint", *pos as u64));
        };
        *pos += 1;
        let group = u64::from(b & 0x7f);
        if shift == 63 && group > 1 {
            return Err(Error::new(
                ErrorKind::Malformed,
                "varint overflows 64 bits",
                start as u64,
            ));
        }
        v |= group << shift;
        if b & 0x80 == 0 {
            if b == 0 && shift > 0 {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    "varint not minimal",
                    start as u64,
                ));
            }
            return Ok(v);
        }
        shift += 7;
        if shift > 63 {
            return Err(Error::new(
                ErrorKind::Malformed,
                "varint overflows 64 bits",
                start as u64,
            ));
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn round_trips_edges() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            write_uleb(v, &mut b);
            let mut p = 0;
            assert_eq!(read_uleb(&b, &mut p).unwrap(), v);
            assert_eq!(p, b.len());
        }
    }

    #[test]
    fn rejects_non_minimal_overlong_and_truncated() {
        let mut p = 0;
        assert_eq!(
            read_uleb(&[0x80, 0x00], &mut p).unwrap_err().kind(),
            ErrorKind::Malformed
        );
        p = 0;
        assert_eq!(
            read_uleb(&[0xff; 11], &mut p).unwrap_err().kind(),
            ErrorKind::Malformed
        );
        p = 0;
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            read_uleb(&too_big, &mut p).unwrap_err().kind(),
            ErrorKind::Malformed
        );
        p = 0;
        assert_eq!(
            read_uleb(&[0x80], &mut p).unwrap_err().kind(),
            ErrorKind::Truncated
        );
    }
}
