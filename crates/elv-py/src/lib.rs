//! The native half of the `elves` Python package: a thin binding of the `elv` crate's public
//! API (no second implementation). The GIL is released while coding; decoded tensors are
//! handed to NumPy without a copy.

use elv::atomic::OutputOptions;
use elv::sniff::{self, InputFormat};
use elv::{DType, ReadOptions, Source, WriteOptions};
use numpy::PyArray1;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use rayon::prelude::*;
use std::fs::File;
use std::path::PathBuf;

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
}

/// An open `.elv` file: the tables are read, tensors decode on request.
#[pyclass(frozen, module = "elves._elves")]
struct Reader {
    inner: Inner,
    /// The most one call may decode into memory; `None`: the memory available at the time.
    max_load_bytes: Option<u64>,
}

/// The reader's limits from a Python dict: any field of `elv::Limits` by name,
/// `verify_checksums`, and `max_load_bytes` (the binding's own: the most one load may decode
/// into memory). An unknown key is an error naming the known ones.
fn read_options(limits: Option<&Bound<'_, PyDict>>) -> PyResult<(ReadOptions, Option<u64>)> {
    let mut o = ReadOptions::default();
    let mut max_load = None;
    let Some(d) = limits else {
        return Ok((o, max_load));
    };
    for (k, v) in d.iter() {
        let key: String = k.extract()?;
        let l = &mut o.limits;
        match key.as_str() {
            "max_sections" => l.max_sections = v.extract()?,
            "max_tensors" => l.max_tensors = v.extract()?,
            "max_rank" => l.max_rank = v.extract()?,
            "max_name_len" => l.max_name_len = v.extract()?,
            "max_metadata_entries" => l.max_metadata_entries = v.extract()?,
            "max_section_bytes" => l.max_section_bytes = v.extract()?,
            "max_tensor_bytes" => l.max_tensor_bytes = v.extract()?,
            "max_chunk_bytes" => l.max_chunk_bytes = v.extract()?,
            "max_table_bytes" => l.max_table_bytes = v.extract()?,
            "max_decoded_bytes" => l.max_decoded_bytes = v.extract()?,
            "verify_checksums" => o.verify_checksums = v.extract()?,
            "max_load_bytes" => max_load = Some(v.extract()?),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown limit {other:?}; known: max_sections, max_tensors, max_rank, \
                     max_name_len, max_metadata_entries, max_section_bytes, max_tensor_bytes, \
                     max_chunk_bytes, max_table_bytes, max_decoded_bytes, verify_checksums, \
                     max_load_bytes"
                )))
            }
        }
    }
    Ok((o, max_load))
}

/// Bytes of memory this process may still use: the smaller of the system's available
/// memory and what its cgroup (v2) leaves; `None` where neither is known.
fn available_memory() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let meminfo = read("/proc/meminfo").and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    });
    let cgroup = read("/sys/fs/cgroup/memory.max").and_then(|max| {
        let max: u64 = max.trim().parse().ok()?; // "max": no limit
        let used: u64 = read("/sys/fs/cgroup/memory.current")?.trim().parse().ok()?;
        Some(max.saturating_sub(used))
    });
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// An `elves.ElvError` of `kind` saying `message`.
fn elv_error(py: Python<'_>, message: String, kind: &str) -> PyErr {
    let made = py
        .import("elves._error")
        .and_then(|m| m.getattr("ElvError"))
        .and_then(|cls| cls.call1((message.clone(), kind, Option::<u64>::None)));
    match made {
        Ok(inst) => PyErr::from_value(inst),
        Err(_) => PyValueError::new_err(message),
    }
}

/// Refuses to decode `bytes` into memory when that is more than `max` (or, by default, than
/// the memory available): an `ElvError(LimitExceeded)` naming both, instead of the
/// interpreter killed by the out-of-memory killer.
fn check_load(py: Python<'_>, bytes: u64, count: usize, max: Option<u64>) -> PyResult<()> {
    let (limit, what) = match max {
        Some(m) => (m, "max_load_bytes"),
        None => match available_memory() {
            Some(m) => (m, "the memory available"),
            None => return Ok(()),
        },
    };
    if bytes <= limit {
        return Ok(());
    }
    let gb = |b: u64| b as f64 / 1e9;
    Err(elv_error(
        py,
        format!(
            "loading {count} tensor(s) decodes {:.2} GB, more than {what} ({:.2} GB); read \
             fewer tensors at a time (safe_open(...).get_tensor), or raise \
             limits={{\"max_load_bytes\": ...}}",
            gb(bytes),
            gb(limit)
        ),
        "LimitExceeded",
    ))
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
    Ok(d.unbind())
}

macro_rules! with_reader {
    ($self:expr, $r:ident => $body:expr) => {
        match &$self.inner {
            Inner::File($r) => $body,
            Inner::Bytes($r) => $body,
        }
    };
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
    let m = match &member {
        Some(p) => Some(
            r.member_index(p)
                .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(format!("member {p:?}")))?,
        ),
        None => None,
    };
    let chosen: Vec<elv::Tensor<'_, S>> = match names {
        None => r.iter().collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                match m {
                    Some(m) => r.get_in(m, n),
                    None => r.get(n),
                }
                .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(n.clone()))
            })
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
        chosen.par_iter().map(|t| t.to_vec()).collect()
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
        with_reader!(self, r => r.iter().map(|t| t.name().to_string()).collect())
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

    /// `len` bytes of tensor `name` from byte `offset` (in a collection, of `member` if
    /// given), decoding only the chunks that hold them: what `get_slice` reads.
    #[pyo3(signature = (name, offset, len, member=None))]
    fn read_range<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        offset: u64,
        len: u64,
        member: Option<String>,
    ) -> PyResult<Bound<'py, PyArray1<u8>>> {
        let max = self.max_load_bytes;
        with_reader!(self, r => {
            let t = match &member {
                Some(p) => {
                    let m = r.member_index(p).ok_or_else(|| {
                        pyo3::exceptions::PyKeyError::new_err(format!("member {p:?}"))
                    })?;
                    r.get_in(m, name)
                }
                None => r.get(name),
            }
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(name.to_string()))?;
            check_load(py, len, 1, max)?;
            let bytes = py.detach(|| t.read_range(offset, len)).map_err(|e| to_py(py, e))?;
            Ok(PyArray1::from_vec(py, bytes))
        })
    }

    /// Checks every CRC and padding, and that every tensor decodes.
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        with_reader!(self, r => py.detach(|| r.verify()).map_err(|e| to_py(py, e)))
    }
}

/// The CLI's guarantees for a file conversion: never over the input (the library's rule),
/// an existing output only with `force`, written atomically, with the input's permissions
/// and mtime.
fn output_for(src: &std::path::Path, force: bool) -> OutputOptions {
    let input = std::fs::metadata(src).ok();
    OutputOptions {
        overwrite: force,
        sync: false,
        like: input.clone(),
        modified: None,
        inputs: input.into_iter().collect(),
    }
}

/// The base model at `path`, if one is given.
fn open_base(path: Option<PathBuf>) -> elv::Result<Option<std::sync::Arc<dyn elv::Base>>> {
    Ok(match path {
        Some(p) => Some(std::sync::Arc::new(elv::BaseModel::open(p)?)),
        None => None,
    })
}

/// `compress_file(src, dst, lossy, elf_half, threads, force, base) -> dict`: safetensors to
/// `.elv`, against the base model `base` if given; says what it did: input and output
/// bytes, and the largest error bound of any tensor (0.0: every value bit-exact).
#[pyfunction]
#[pyo3(signature = (src, dst, lossy=false, elf_half=false, threads=None, force=false, base=None))]
#[allow(clippy::too_many_arguments)]
fn compress_file(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    lossy: bool,
    elf_half: bool,
    threads: Option<usize>,
    force: bool,
    base: Option<PathBuf>,
) -> PyResult<Py<PyDict>> {
    let opts = options(lossy, elf_half)?;
    let input = sniff::open_input(&src, InputFormat::Safetensors).map_err(|e| to_py(py, e))?;
    let out = output_for(&src, force);
    let report = without_gil(py, threads, || {
        let base = open_base(base)?;
        let input = std::io::BufReader::new(input);
        elv::atomic::write_atomic_with(&dst, &out, |w| {
            elv::compress_safetensors_with(input, w, &opts, base, None).map(|(_, r)| r)
        })
    })?;
    report_dict(py, &report)
}

/// What a compression did, for Python: sizes, tensor count, the largest error bound of any
/// tensor (0.0: every value bit-exact) and whether the output is lossless.
fn report_dict(py: Python<'_>, report: &elv::Report) -> PyResult<Py<PyDict>> {
    let bound = report
        .tensors
        .iter()
        .map(|t| t.error_bound_log2)
        .filter(|&k| k > 0)
        .min()
        .map_or(0.0, |k| 2f64.powi(-i32::from(k)));
    let d = PyDict::new(py);
    d.set_item("input_bytes", report.input_bytes)?;
    d.set_item("output_bytes", report.output_bytes)?;
    d.set_item("tensors", report.tensors.len())?;
    d.set_item("error_bound", bound)?;
    d.set_item("lossless", bound == 0.0)?;
    Ok(d.unbind())
}

/// `compress_folder(src, dst, lossy, elf_half, threads, force, base) -> dict`: a model folder
/// (shards, index, configs, tokenizer) into one collection `.elv`, as `elv compress DIR`;
/// never over one of its files, an existing `dst` only with `force`.
#[pyfunction]
#[pyo3(signature = (src, dst, lossy=false, elf_half=false, threads=None, force=false, base=None))]
#[allow(clippy::too_many_arguments)]
fn compress_folder(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    lossy: bool,
    elf_half: bool,
    threads: Option<usize>,
    force: bool,
    base: Option<PathBuf>,
) -> PyResult<Py<PyDict>> {
    let opts = options(lossy, elf_half)?;
    let members = elv::gather_members(std::slice::from_ref(&src)).map_err(|e| to_py(py, e))?;
    let out = OutputOptions {
        overwrite: force,
        inputs: members
            .iter()
            .filter_map(|m| m.file.as_ref()?.metadata().ok())
            .collect(),
        ..OutputOptions::default()
    };
    let report = without_gil(py, threads, || {
        let base = open_base(base)?;
        elv::atomic::write_atomic_with(&dst, &out, |w| {
            elv::compress_collection(members, w, &opts, base, None).map(|(_, r)| r)
        })
    })?;
    report_dict(py, &report)
}

/// `decompress_file(src, dst, threads, force, base)`: `.elv` to safetensors, or a
/// collection to the folder `dst`.
#[pyfunction]
#[pyo3(signature = (src, dst, threads=None, force=false, base=None, limits=None))]
fn decompress_file(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    threads: Option<usize>,
    force: bool,
    base: Option<PathBuf>,
    limits: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    // Decompressing streams (memory stays bounded): only the reader's limits apply.
    let (options, _) = read_options(limits)?;
    let input = sniff::open_input(&src, InputFormat::Elv).map_err(|e| to_py(py, e))?;
    let out = output_for(&src, force);
    without_gil(py, threads, || {
        let mut reader = elv::Reader::new(input, options)?;
        if let Some(b) = open_base(base)? {
            reader = reader.with_shared_base(b);
        }
        if !reader.members().is_empty() {
            // A collection is a model folder: written back as one, never flattened.
            let folder = elv::FolderOptions {
                overwrite: force,
                sync: false,
                inputs: out.inputs.clone(),
            };
            return elv::decompress_to_folder(&reader, &dst, &folder, None);
        }
        if std::fs::metadata(&dst).map_or(true, |m| m.is_file()) {
            let need = reader
                .iter()
                .map(|t| t.byte_len())
                .fold(0u64, u64::saturating_add);
            elv::atomic::check_free_space(&elv::atomic::folder_of(&dst), need)?;
        }
        elv::atomic::write_atomic_with(&dst, &out, |w| {
            elv::decompress_to_safetensors(&reader, w).map(drop)
        })
    })
}

#[pymodule]
fn _elves(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(serialize, m)?)?;
    m.add_function(wrap_pyfunction!(serialize_to_file, m)?)?;
    m.add_function(wrap_pyfunction!(compress_file, m)?)?;
    m.add_function(wrap_pyfunction!(compress_folder, m)?)?;
    m.add_function(wrap_pyfunction!(decompress_file, m)?)?;
    m.add_class::<Reader>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
