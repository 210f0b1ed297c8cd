//! A Python binary file-like object (anything with `seek` and `read`: `io.BytesIO`, an
//! opened file, an fsspec file over HTTP or an object store) as the reader's source: each
//! positioned read is one `seek` and `read` under a lock, holding the GIL only for them, so
//! a remote file is read by the few ranges a tensor needs, never downloaded whole.

use elv::Source;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::io;
use std::sync::Mutex;

/// A file-like object and its length.
pub(crate) struct PyFile {
    obj: Mutex<Py<PyAny>>,
    len: u64,
}

fn py_io(e: PyErr) -> io::Error {
    io::Error::other(format!("reading the file object: {e}"))
}

impl PyFile {
    /// Wraps `obj`, finding its length by seeking to its end.
    pub(crate) fn new(obj: &Bound<'_, PyAny>) -> PyResult<PyFile> {
        let len: u64 = obj.call_method1("seek", (0, 2))?.extract()?;
        Ok(PyFile {
            obj: Mutex::new(obj.clone().unbind()),
            len,
        })
    }
}

impl Source for PyFile {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let obj = self
            .obj
            .lock()
            .map_err(|_| io::Error::other("file object lock poisoned"))?;
        Python::attach(|py| {
            let o = obj.bind(py);
            o.call_method1("seek", (offset,)).map_err(py_io)?;
            let mut filled = 0;
            // A raw file may return fewer bytes than asked: read until full or at the end.
            while filled < buf.len() {
                let got = o
                    .call_method1("read", (buf.len() - filled,))
                    .map_err(py_io)?;
                let bytes = got
                    .cast::<PyBytes>()
                    .map_err(|_| io::Error::other("read() did not return bytes"))?
                    .as_bytes();
                if bytes.is_empty() {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                let end = (filled + bytes.len()).min(buf.len());
                buf[filled..end].copy_from_slice(&bytes[..end - filled]);
                filled = end;
            }
            Ok(())
        })
    }
}
