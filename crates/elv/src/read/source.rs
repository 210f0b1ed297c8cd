//! Where a [`Reader`](crate::Reader) reads from: anything that serves positioned reads from
//! shared references, so one open file can be decoded from several threads at once.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use elv_core::{Error as CoreError, ErrorKind};

/// Bytes a [`Reader`](crate::Reader) can read at any offset through `&self`.
///
/// Implemented for [`File`] (positioned reads: `pread` on Unix, `seek_read` on Windows, no
/// shared cursor), for bytes in memory (`Vec<u8>`, `Arc<[u8]>`, `&[u8]`), and through
/// [`SeekSource`] for any `Read + Seek` (one read at a time, behind a lock).
pub trait Source: Send + Sync {
    /// Total length in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Fills `buf` from `offset`; fails with `UnexpectedEof` if the source ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

    /// `len` bytes at `offset`, after checking they lie within [`size`](Self::size): the
    /// buffer is never larger than the bytes present. Past the end is `OutOfRange`; a source
    /// that ends early is `Truncated`.
    fn read_vec(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        read_exact_at(self, offset, len, self.size()?)
    }
}

impl Source for File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    #[cfg(unix)]
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }

    #[cfg(windows)]
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            match self.seek_read(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn read_from_slice(bytes: &[u8], buf: &mut [u8], offset: u64) -> io::Result<()> {
    let src = usize::try_from(offset)
        .ok()
        .and_then(|start| bytes.get(start..start.checked_add(buf.len())?))
        .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
    buf.copy_from_slice(src);
    Ok(())
}

impl Source for [u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(<[u8]>::len(self) as u64)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        read_from_slice(self, buf, offset)
    }
}

impl<S: Source + ?Sized> Source for &S {
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
}

impl<S: Source + ?Sized> Source for Arc<S> {
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
}

impl Source for Vec<u8> {
    fn size(&self) -> io::Result<u64> {
        Ok(self.as_slice().len() as u64)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        read_from_slice(self, buf, offset)
    }
}

/// A [`Source`] over any `Read + Seek` (a pipe read into a cursor, a custom stream): reads
/// take a lock, so threads sharing it read one at a time.
#[derive(Debug)]
pub struct SeekSource<R>(Mutex<R>);

impl<R: Read + Seek + Send> SeekSource<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        SeekSource(Mutex::new(inner))
    }

    /// Gives back the wrapped reader.
    pub fn into_inner(self) -> R {
        self.0.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, R> {
        // A panic while holding the lock leaves only a cursor position behind: every read
        // seeks first, so the reader is still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<R: Read + Seek + Send> Source for SeekSource<R> {
    fn size(&self) -> io::Result<u64> {
        self.lock().seek(SeekFrom::End(0))
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut r = self.lock();
        r.seek(SeekFrom::Start(offset))?;
        r.read_exact(buf)
    }
}

/// Reads `len` bytes at `offset` of a source of `file_len` bytes, after checking they lie
/// inside it, so the buffer is never larger than bytes that are present. A source that ends
/// early is `Truncated`.
pub(crate) fn read_exact_at<S: Source + ?Sized>(
    source: &S,
    offset: u64,
    len: u64,
    file_len: u64,
) -> Result<Vec<u8>> {
    read_exact_at_reusing(source, offset, len, file_len, None)
}

/// As [`read_exact_at`], into `reuse` when its capacity holds `len` bytes (only what it
/// lacks in length is zeroed first), else into fresh memory.
pub(crate) fn read_exact_at_reusing<S: Source + ?Sized>(
    source: &S,
    offset: u64,
    len: u64,
    file_len: u64,
    reuse: Option<Vec<u8>>,
) -> Result<Vec<u8>> {
    if offset.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(
            CoreError::new(ErrorKind::OutOfRange, "read beyond end of file", offset).into(),
        );
    }
    let mut buf = match reuse {
        Some(mut b) if b.capacity() as u64 >= len => {
            // Within capacity: no allocation, and bytes already there are not rewritten.
            b.resize(len as usize, 0);
            b
        }
        _ => crate::buffer::zeroed_buffer(len)?,
    };
    source.read_exact_at(&mut buf, offset).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            CoreError::new(ErrorKind::Truncated, "file shorter than it claims", offset).into()
        } else {
            Error::Io(e)
        }
    })?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::read_exact_at_reusing;

    #[test]
    fn a_reused_buffer_holds_exactly_the_bytes_read() {
        let file: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let len = file.len() as u64;
        // Longer than the read, shorter than it within its capacity, too small, none.
        let mut short = Vec::with_capacity(5000);
        short.extend_from_slice(&[0xAA; 100]);
        for reuse in [
            Some(vec![0xAA; 9000]),
            Some(short),
            Some(vec![0xAA; 10]),
            None,
        ] {
            let got = read_exact_at_reusing(&file, 300, 4000, len, reuse).unwrap();
            assert_eq!(got, &file[300..4300]);
        }
        let past_end = read_exact_at_reusing(&file, 9000, 4000, len, Some(vec![0; 8000]));
        assert!(past_end.is_err());
    }
}
