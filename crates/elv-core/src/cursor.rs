//! A bounds-checked little-endian reader over a byte slice, for the table parsers.
#![deny(clippy::indexing_slicing)]

use crate::{Error, ErrorKind, Result};
use alloc::string::String;
use byteorder::{ByteOrder, LittleEndian as LE};

pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n);
        let s = end
            .and_then(|e| self.bytes.get(self.pos..e))
            .ok_or_else(|| {
                Error::new(ErrorKind::Truncated, what, self.pos as u64)
                    .got_expected(self.remaining() as u64, n as u64)
            })?;
        self.pos += n;
        Ok(s)
    }
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?.first().copied().unwrap_or(0))
    }
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(LE::read_u16(self.take(2, what)?))
    }
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(LE::read_u32(self.take(4, what)?))
    }
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(LE::read_u64(self.take(8, what)?))
    }
    pub(crate) fn reserved(&mut self, n: usize, what: &'static str) -> Result<()> {
        let at = self.pos as u64;
        if self.take(n, what)?.iter().any(|&b| b != 0) {
            return Err(Error::new(ErrorKind::ReservedNonZero, what, at));
        }
        Ok(())
    }
    pub(crate) fn utf8(&mut self, n: usize, what: &'static str) -> Result<String> {
        let at = self.pos as u64;
        let b = self.take(n, what)?;
        core::str::from_utf8(b)
            .map(String::from)
            .map_err(|_| Error::new(ErrorKind::InvalidUtf8, what, at))
    }
    pub(crate) fn finish(&self, what: &'static str) -> Result<()> {
        if self.remaining() != 0 {
            return Err(Error::new(ErrorKind::Malformed, what, self.pos as u64)
                .got_expected(self.remaining() as u64, 0));
        }
        Ok(())
    }
}
