//! The native half of the `elves` Python package: a thin binding of the `elv` crate's public
//! API (no second implementation). The GIL is released while coding; decoded tensors are
//! handed to NumPy without a copy.

use elv::sniff::{self, InputFormat};
use elv::{DType, Source, WriteOptions};
use numpy::PyArray1;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::fs::File;
use std::path::PathBuf;

mod files;
mod limits;
mod pyfile;

use limits::{check_load, read_options};

/// Turns an `elv` error into the Python one: `elves.ElvError` (a `ValueError`) with `kind`
/// (SPEC.md §2.3 name) and `offset`, or an `OSError` for I/O.
fn to_py(py: Python<'_>, e: elv::Error) -> PyErr {
    match e {
        elv::Error::Io(io) => PyErr::from(io),
        other => {
            let (kind, offset) = match &other {
                elv::Error::Format(f) => (Some(f.kind().name().to_string()), f.offset()),
                elv::Error::InvalidInput(_) => (Some("InvalidInput".to_string()), None),
                elv::Error::Safetensors(_) => (Some("Safetensors".to_string()), None),
                elv::Error::Base(b) => (Some(b.kind.name().to_string()), None),
                _ => (None, None),
            };
            let made = py
                .import("elves._error")
                .and_then(|m| m.getattr("ElvError"))
                .and_then(|cls| cls.call1((other.to_string(), kind, offset)));
            match made {
                Ok(inst) => PyErr::from_value(inst),
                Err(_) => PyValueError::new_err(other.to_string()),
            }
        }
    }
}

/// Runs `f` on `threads` worker threads (all cores when `None`), without the GIL.
fn without_gil<T: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    f: impl FnOnce() -> elv::Result<T> + Send,
) -> PyResult<T> {
    let result = py.detach(|| match threads {
        None | Some(0) => Ok(f()),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map(|pool| pool.install(f)),
    });
    match result {
        Ok(r) => r.map_err(|e| to_py(py, e)),
        Err(e) => Err(PyOSError::new_err(format!("thread pool: {e}"))),
    }
}

fn dtype_of(name: &str) -> PyResult<DType> {
    DType::from_name(name).ok_or_else(|| PyValueError::new_err(format!("unknown dtype {name:?}")))
}

/// The write options of Python's `lossy` and `elf_half` arguments: bit-exact unless the
/// caller asked for ELF; `elf_half` alone is a contradiction, refused.
fn options(lossy: bool, elf_half: bool) -> PyResult<WriteOptions> {
    if elf_half && !lossy {
        return Err(PyValueError::new_err(
            "elf_half=True lets f16/bf16 use ELF: it needs lossy=True as well",
        ));
    }
    Ok(WriteOptions {
        lossless: !lossy,
        elf_half,
        ..WriteOptions::default()
    })
}

/// One tensor handed over from Python: name, dtype name, shape, little-endian bytes.
type Incoming<'py> = (String, String, Vec<u64>, Bound<'py, PyBytes>);

/// One tensor to write, its bytes borrowed from Python.
type Outgoing<'a> = (String, elv::TensorData<'a>);

/// One decoded tensor for Python: name, dtype name, shape, flat uint8 array.
type Decoded<'py> = (String, String, Vec<u64>, Bound<'py, PyArray1<u8>>);

fn incoming<'a>(tensors: &'a [Incoming<'_>]) -> PyResult<Vec<Outgoing<'a>>> {
    tensors
        .iter()
        .map(|(n, d, s, b)| {
            Ok((
                n.clone(),
                elv::TensorData::new(dtype_of(d)?, s, b.as_bytes()),
            ))
        })
        .collect()
}

/// `serialize(tensors, metadata, lossy, elf_half, threads) -> bytes`; `metadata` is the
/// safetensors `__metadata__`.
#[pyfunction]
#[pyo3(signature = (tensors, metadata, lossy=false, elf_half=false, threads=None))]
fn serialize<'py>(
    py: Python<'py>,
    tensors: Vec<Incoming<'py>>,
    metadata: Vec<(String, String)>,
    lossy: bool,
    elf_half: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let list = incoming(&tensors)?;
    let opts = options(lossy, elf_half)?;
    let bytes = without_gil(py, threads, || elv::serialize(list, Some(metadata), &opts))?;
    Ok(PyBytes::new(py, &bytes))
}

/// `serialize_to_file(tensors, metadata, path, lossy, elf_half, threads)`: written
/// atomically (the file appears whole or not at all), replacing an existing file as
/// safetensors' `save_file` does.
#[pyfunction]
#[pyo3(signature = (tensors, metadata, path, lossy=false, elf_half=false, threads=None))]
fn serialize_to_file<'py>(
    py: Python<'py>,
    tensors: Vec<Incoming<'py>>,
    metadata: Vec<(String, String)>,
    path: PathBuf,
    lossy: bool,
    elf_half: bool,
    threads: Option<usize>,
) -> PyResult<()> {
    let list = incoming(&tensors)?;
    let opts = options(lossy, elf_half)?;
    without_gil(py, threads, || {
        elv::serialize_to_file(list, Some(metadata), &path, &opts).map(drop)
    })
}

enum Inner {
    File(elv::Reader<File>),
    Bytes(elv::Reader<Vec<u8>>),
    Object(elv::Reader<pyfile::PyFile>),
}

/// An open `.elv` file: the tables are read, tensors decode on request.
#[pyclass(frozen, module = "elves._elves")]
struct Reader {
    inner: Inner,
    /// The most one call may decode into memory; `None`: the memory available at the time.
    max_load_bytes: Option<u64>,
}

/// Whether `t` is one of the model's tensors: any tensor of a single file, or a tensor of a
/// collection's safetensors member (not the bytes of a file member).
fn is_weight<S: Source>(r: &elv::Reader<S>, t: &elv::Tensor<'_, S>) -> bool {
    match t.member().and_then(|m| r.members().get(m)) {
        Some(m) => m.kind == elv::MemberKind::Safetensors,
        None => true,
    }
}

/// What Python needs of one tensor.
fn describe<S: Source>(py: Python<'_>, t: elv::Tensor<'_, S>) -> PyResult<Py<PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", t.name())?;
    d.set_item("dtype", t.dtype().name())?;
    d.set_item("shape", t.shape().to_vec())?;
    d.set_item("encoding", t.encoding().name())?;
    d.set_item(
        "duplicate_of",
        t.duplicate_of().map(|o| o.name().to_string()),
    )?;
    d.set_item("error_bound", t.error_bound())?;
    d.set_item("error_bound_log2", t.error_bound_log2())?;
    d.set_item("decoded_bytes", t.byte_len())?;
    d.set_item("stored_bytes", t.stored_len())?;
    d.set_item("chunk_len", t.chunk_len())?;
    Ok(d.unbind())
}

macro_rules! with_reader {
    ($self:expr, $r:ident => $body:expr) => {
        match &$self.inner {
            Inner::File($r) => $body,
            Inner::Bytes($r) => $body,
            Inner::Object($r) => $body,
        }
    };
}

/// The index of the member at path `member`, if one is given; a path no member has is a
/// `KeyError`.
fn member_index<S: Source>(r: &elv::Reader<S>, member: Option<&str>) -> PyResult<Option<usize>> {
    member
        .map(|p| {
            r.member_index(p)
                .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(format!("member {p:?}")))
        })
        .transpose()
}

/// Tensor `name` (of member `m` if given); a name it lacks is a `KeyError`.
fn tensor_in<'r, S: Source>(
    r: &'r elv::Reader<S>,
    name: &str,
    m: Option<usize>,
) -> PyResult<elv::Tensor<'r, S>> {
    match m {
        Some(m) => r.get_in(m, name),
        None => r.get(name),
    }
    .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(name.to_string()))
}

/// Decodes `names` (all tensors when `None`) in parallel without the GIL; gives
/// (name, dtype, shape, flat uint8 array) per tensor, the arrays owning the decoded buffers.
fn decode_many<'py, S: Source>(
    py: Python<'py>,
    r: &elv::Reader<S>,
    names: Option<Vec<String>>,
    member: Option<String>,
    threads: Option<usize>,
    max_load: Option<u64>,
) -> PyResult<Vec<Decoded<'py>>> {
    let whole_file = names.is_none() && member.is_none();
    let m = member_index(r, member.as_deref())?;
    let chosen: Vec<elv::Tensor<'_, S>> = match names {
        // All of a member's tensors, or the model's: a collection's file members (configs,
        // tokenizers) are files, read with read_member, never U8 "tensors".
        None => r
            .iter()
            .filter(|t| match m {
                Some(m) => t.member() == Some(m),
                None => is_weight(r, t),
            })
            .collect(),
        Some(names) => names
            .iter()
            .map(|n| tensor_in(r, n, m))
            .collect::<PyResult<_>>()?,
    };
    let bytes = chosen
        .iter()
        .map(|t| t.byte_len())
        .fold(0u64, u64::saturating_add);
    check_load(py, bytes, chosen.len(), max_load)?;
    let decoded: Vec<Vec<u8>> = without_gil(py, threads, || {
        // A whole-file read checks the padding too (SPEC.md §4.1).
        if whole_file {
            r.check_padding()?;
        }
        let mut bufs = chosen
            .iter()
            .map(|t| elv::zeroed_buffer(t.byte_len()))
            .collect::<elv::Result<Vec<_>>>()?;
        let which: Vec<usize> = chosen.iter().map(|t| t.index()).collect();
        let mut outs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
        // Each tensor decodes straight into the array it becomes, the next pieces read
        // while these decode (SPEC.md §13).
        r.decode_many_into(&which, &mut outs, elv::DEFAULT_DECODE_BATCH_BYTES)?;
        Ok(bufs)
    })?;
    Ok(chosen
        .iter()
        .zip(decoded)
        .map(|(t, data)| {
            (
                t.name().to_string(),
                t.dtype().name().to_string(),
                t.shape().to_vec(),
                PyArray1::from_vec(py, data),
            )
        })
        .collect())
}

#[pymethods]
impl Reader {
    /// Opens the `.elv` file at `path`; `base` is the base model it was written against
    /// (a safetensors file, an `.elv` or a folder), for a file of deltas.
    #[staticmethod]
    #[pyo3(signature = (path, base=None, limits=None))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        base: Option<PathBuf>,
        limits: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let (options, max_load_bytes) = read_options(limits)?;
        let r = py
            .detach(|| -> elv::Result<_> {
                let file = sniff::open_input(&path, InputFormat::Elv)?;
                let r = elv::Reader::new(file, options)?;
                Ok(match base {
                    Some(b) => r.with_base(elv::BaseModel::open(b)?),
                    None => r,
                })
            })
            .map_err(|e| to_py(py, e))?;
        Ok(Reader {
            inner: Inner::File(r),
            max_load_bytes,
        })
    }

    /// Opens the `.elv` file the Python file-like object `obj` holds (it needs `seek` and
    /// `read`); only the ranges the tables and the tensors asked for are read.
    #[staticmethod]
    #[pyo3(signature = (obj, base=None, limits=None))]
    fn from_file(
        py: Python<'_>,
        obj: &Bound<'_, PyAny>,
        base: Option<PathBuf>,
        limits: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let (options, max_load_bytes) = read_options(limits)?;
        let source = pyfile::PyFile::new(obj)?;
        let r = py
            .detach(|| -> elv::Result<_> {
                let r = elv::Reader::new(source, options)?;
                Ok(match base {
                    Some(b) => r.with_base(elv::BaseModel::open(b)?),
                    None => r,
                })
            })
            .map_err(|e| to_py(py, e))?;
        Ok(Reader {
            inner: Inner::Object(r),
            max_load_bytes,
        })
    }

    /// The members of a collection: (path, kind, names of its tensors), in file order.
    fn members(&self) -> Vec<(String, String, Vec<String>)> {
        with_reader!(self, r => r
            .members()
            .iter()
            .map(|m| {
                let kind = m.kind.name();
                let names = (m.tensors.start..m.tensors.end)
                    .filter_map(|i| r.tensor(i as usize).map(|t| t.name().to_string()))
                    .collect();
                (m.path.clone(), kind.to_string(), names)
            })
            .collect())
    }

    /// Reads a `.elv` file held in `data`.
    #[staticmethod]
    #[pyo3(signature = (data, limits=None))]
    fn from_bytes(
        py: Python<'_>,
        data: &Bound<'_, PyBytes>,
        limits: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let (options, max_load_bytes) = read_options(limits)?;
        let bytes = data.as_bytes().to_vec();
        let r = py
            .detach(|| elv::Reader::new(bytes, options))
            .map_err(|e| to_py(py, e))?;
        Ok(Reader {
            inner: Inner::Bytes(r),
            max_load_bytes,
        })
    }

    /// Tensor names, in file order.
    fn keys(&self) -> Vec<String> {
        with_reader!(self, r => r
            .iter()
            .filter(|t| is_weight(r, t))
            .map(|t| t.name().to_string())
            .collect())
    }

    /// The bytes of member `path` of a collection as its file (a config, a tokenizer, or a
    /// safetensors shard as safetensors bytes).
    fn read_member<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyBytes>> {
        with_reader!(self, r => {
            let m = r
                .member_index(path)
                .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(format!("member {path:?}")))?;
            let bytes = py
                .detach(|| elv::decompress_member(r, m, Vec::new(), None))
                .map_err(|e| to_py(py, e))?;
            Ok(PyBytes::new(py, &bytes))
        })
    }

    /// The safetensors `__metadata__` pairs, in file order (`elv::Reader::metadata`).
    fn metadata(&self) -> Vec<(String, String)> {
        with_reader!(self, r => r.metadata())
    }

    /// Every pair of the METADATA section, the implementation's keys included.
    fn raw_metadata(&self) -> Vec<(String, String)> {
        with_reader!(self, r => r.raw_metadata().to_vec())
    }

    /// dtype, shape, encoding, bound and sizes of tensor `name`.
    fn info(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyDict>> {
        with_reader!(self, r => {
            let t = r.get(name).ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(name.to_string()))?;
            describe(py, t)
        })
    }

    /// Decodes tensors: `names` (all if `None`; in a collection, of `member` if given), in
    /// parallel.
    #[pyo3(signature = (names=None, threads=None, member=None))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        names: Option<Vec<String>>,
        threads: Option<usize>,
        member: Option<String>,
    ) -> PyResult<Bound<'py, PyList>> {
        let max = self.max_load_bytes;
        let rows = with_reader!(self, r => decode_many(py, r, names, member, threads, max))?;
        PyList::new(py, rows)
    }

    /// Rows `start..stop` of the first axis of tensor `name` (in a collection, of `member`
    /// if given), decoding only the chunks that hold them (`Tensor::read_rows`): what
    /// `get_slice` reads.
    #[pyo3(signature = (name, start, stop, member=None))]
    fn read_rows<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        start: u64,
        stop: u64,
        member: Option<String>,
    ) -> PyResult<Bound<'py, PyArray1<u8>>> {
        let max = self.max_load_bytes;
        with_reader!(self, r => {
            let t = tensor_in(r, name, member_index(r, member.as_deref())?)?;
            let rows = t.shape().first().copied().unwrap_or(0);
            let len = match rows {
                0 => 0,
                rows => (t.byte_len() / rows).saturating_mul(stop.saturating_sub(start)),
            };
            check_load(py, len, 1, max)?;
            let bytes = py.detach(|| t.read_rows(start..stop)).map_err(|e| to_py(py, e))?;
            Ok(PyArray1::from_vec(py, bytes))
        })
    }

    /// Checks every CRC and padding, and that every tensor decodes.
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        with_reader!(self, r => py.detach(|| r.verify()).map_err(|e| to_py(py, e)))
    }
}

#[pymodule]
fn _elves(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(serialize, m)?)?;
    m.add_function(wrap_pyfunction!(serialize_to_file, m)?)?;
    m.add_function(wrap_pyfunction!(files::compress_file, m)?)?;
    m.add_function(wrap_pyfunction!(files::compress_folder, m)?)?;
    m.add_function(wrap_pyfunction!(files::decompress_file, m)?)?;
    m.add_class::<Reader>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
