//! LSB-first bit packing (SPEC.md §2.2), used by the DE bitstream.
#![deny(clippy::indexing_slicing)]

use crate::{Error, ErrorKind, Result};
use alloc::vec::Vec;

/// Packs fields into bytes, least significant bit first: the first bit written is bit 0 of
/// byte 0, and an n-bit field's bit 0 is written first.
#[derive(Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    nbits: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the low `n` bits of `value` (`n` ≤ 32).
    #[inline]
    pub fn write(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 32 && (n == 64 || value >> n == 0));
        self.acc |= value << self.nbits;
        self.nbits += n;
        while self.nbits >= 8 {
            self.bytes.push(self.acc as u8);
            self.acc >>= 8;
            self.nbits -= 8;
        }
    }

    /// Pads the last byte with zero bits and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        if self.nbits > 0 {
            self.bytes.push(self.acc as u8);
        }
        self.bytes
    }
}

/// Reads fields written by [`BitWriter`].
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Next byte to load into `acc`.
    next: usize,
    acc: u64,
    nbits: u32,
}

impl<'a> BitReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader {
            bytes,
            next: 0,
            acc: 0,
            nbits: 0,
        }
    }

    /// Reads an `n`-bit field (`n` ≤ 32), or a `Truncated` error if the bytes run out.
    #[inline]
    pub fn read(&mut self, n: u32) -> Result<u64> {
        while self.nbits < n {
            let Some(&b) = self.bytes.get(self.next) else {
                return Err(Error::new(
                    ErrorKind::Truncated,
                    "bitstream",
                    self.next as u64,
                ));
            };
            self.acc |= u64::from(b) << self.nbits;
            self.next += 1;
            self.nbits += 8;
        }
        let v = self.acc & ((1u64 << n) - 1);
        self.acc >>= n;
        self.nbits -= n;
        Ok(v)
    }

    /// Checks that only zero padding bits of the last byte remain.
    pub fn finish(self) -> Result<()> {
        if self.next != self.bytes.len() {
            return Err(Error::new(
                ErrorKind::Malformed,
                "bytes after end of bitstream",
                self.next as u64,
            ));
        }
        if self.acc != 0 {
            return Err(Error::new(
                ErrorKind::ReservedNonZero,
                "bitstream padding bits",
                self.next as u64,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn lsb_first_layout() {
        let mut w = BitWriter::new();
        w.write(1, 1);
        w.write(0b10110, 5);
        w.write(0b111, 3);
        let b = w.finish();
        // bit0 = 1, bits1..6 = 0b10110, bits 6..9 = 0b111
        assert_eq!(b, [0b1110_1101, 0b0000_0001]);
        let mut r = BitReader::new(&b);
        assert_eq!(r.read(1).unwrap(), 1);
        assert_eq!(r.read(5).unwrap(), 0b10110);
        assert_eq!(r.read(3).unwrap(), 0b111);
        r.finish().unwrap();
    }

    #[test]
    fn rejects_nonzero_padding_and_extra_bytes() {
        let mut r = BitReader::new(&[0b1000_0001]);
        assert_eq!(r.read(1).unwrap(), 1);
        assert_eq!(r.finish().unwrap_err().kind(), ErrorKind::ReservedNonZero);
        let mut r = BitReader::new(&[1, 0]);
        r.read(1).unwrap();
        assert_eq!(r.finish().unwrap_err().kind(), ErrorKind::Malformed);
    }
}
